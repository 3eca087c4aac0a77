"""In-process cache of loaded versions, keyed by version id.

A bundle is read from storage once per version per process; requests never touch MLflow.
Keys are version ids, so electing another version simply asks for another key (correct in
every process without messaging); old versions age out of the LRU.
Model names, architectures and version numbers never change, so they are cached alongside.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from core.errors import Conflict
from inference.predict import LoadedModel
from registry import services as registry_services
from registry.bundle_store import BundleUnusable
from registry.models import ModelVersion
from training.bundle import load_bundle


@dataclass(frozen=True)
class Entry:
    loaded: LoadedModel
    version_id: int
    version: int
    model_id: uuid.UUID
    model_name: str
    architecture: str


_entries: OrderedDict[int, Entry] = OrderedDict()
_lock = threading.Lock()


class VersionUnusable(Conflict):
    """The version's bundle is missing or unreadable (409): train the model again."""


def get(version_id: int) -> Entry:
    """The loaded version. VersionUnusable when its bundle is gone (the first to find out marks
    the version, with an event); DependencyDown when the models storage cannot be reached."""
    with _lock:
        if version_id in _entries:
            _entries.move_to_end(version_id)
            return _entries[version_id]
    version = ModelVersion.objects.select_related("model").get(id=version_id)
    if version.unusable_reason:
        raise _unusable(version, version.unusable_reason)
    try:
        bundle = load_bundle(version.bundle_path)  # I/O outside the lock
    except BundleUnusable as error:
        registry_services.model_version_mark_unusable(version_id=version.id, reason=error.message)
        raise _unusable(version, error.message) from error
    entry = Entry(LoadedModel.from_bundle(bundle), version.id, version.version,
                  version.model_id, version.model.name, version.model.architecture)
    with _lock:
        _entries[version_id] = entry
        while len(_entries) > settings.INFERENCE_CACHE_SIZE:
            _entries.popitem(last=False)
    return entry


def _unusable(version: ModelVersion, reason: str) -> VersionUnusable:
    return VersionUnusable(f"version {version.version} of {version.model.name} cannot be used: {reason}; "
                           "train the model again", model_id=str(version.model_id), version=version.version)


def clear() -> None:
    with _lock:
        _entries.clear()


def size() -> int:
    return len(_entries)
