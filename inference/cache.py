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

from inference.predict import LoadedModel
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


def get(version_id: int) -> Entry:
    with _lock:
        if version_id in _entries:
            _entries.move_to_end(version_id)
            return _entries[version_id]
    version = ModelVersion.objects.select_related("model").get(id=version_id)
    entry = Entry(LoadedModel.from_bundle(load_bundle(version.bundle_path)), version.id, version.version,
                  version.model_id, version.model.name, version.model.architecture)  # I/O outside the lock
    with _lock:
        _entries[version_id] = entry
        while len(_entries) > settings.INFERENCE_CACHE_SIZE:
            _entries.popitem(last=False)
    return entry


def clear() -> None:
    with _lock:
        _entries.clear()


def size() -> int:
    return len(_entries)
