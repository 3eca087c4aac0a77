"""The "models" storage (S3/MinIO, or local files) where weight bundles live, and the one place
its failures become domain errors.

Versions (`ModelVersion.bundle_path`) own the keys; this module only moves bytes. A storage that
cannot be reached, or does not answer within `MODEL_STORAGE_*_TIMEOUT_SECONDS`, is
`DependencyDown("models storage")` (503); a key that is not there is `BundleMissing`, which the
cache turns into a verdict on the version (`ModelVersion.unusable_reason`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.files.base import ContentFile
from django.core.files.storage import storages

from core.errors import DependencyDown, DomainError

DEPENDENCY = "models storage"
ROOT = "models"  # every bundle key starts with models/<model id>/


class BundleUnusable(DomainError):
    """The bundle of a version cannot serve: missing, or not a bundle. The message completes
    "version N of <model> cannot be used: …"."""

    status_code = 409


class BundleMissing(BundleUnusable):
    """The key names no object in the models storage."""

    def __init__(self, key: str) -> None:
        super().__init__(f"its weight bundle {key} is missing from the models storage", bundle_path=key)


def _not_found(error: BaseException) -> bool:
    if isinstance(error, FileNotFoundError):
        return True
    response = getattr(error, "response", None)  # botocore's ClientError
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status == 404 or response.get("Error", {}).get("Code") in ("404", "NoSuchKey")
    return False


@contextmanager
def _translated(key: str) -> Iterator[None]:
    try:
        yield
    except DomainError:
        raise
    except Exception as error:  # boto/botocore/s3transfer errors, or the disk's OSError
        if _not_found(error):
            raise BundleMissing(key) from error
        raise DependencyDown(DEPENDENCY, f"{type(error).__name__}: {str(error)[:300]}", bundle_path=key) from error


def read(key: str) -> bytes:
    with _translated(key), storages["models"].open(key, "rb") as handle:
        return handle.read()


def write(key: str, content: bytes) -> str:
    """Store `content` under `key` (or a free variant of it); returns the key used."""
    with _translated(key):
        return storages["models"].save(key, ContentFile(content))


def delete(key: str) -> None:
    """Remove the object; one that is already gone counts as removed."""
    try:
        with _translated(key):
            storages["models"].delete(key)
    except BundleMissing:
        pass


def keys(prefix: str = ROOT) -> list[str]:
    """Every key under `prefix` (folders walked: each is one listing request)."""
    storage, found, folders = storages["models"], [], [prefix]
    while folders:
        folder = folders.pop()
        try:
            with _translated(folder):
                subfolders, files = storage.listdir(folder)
        except BundleMissing:  # local storage: the folder does not exist (yet)
            continue
        found += [posixpath.join(folder, name) for name in files]
        folders += [posixpath.join(folder, name) for name in subfolders]
    return sorted(found)


def model_prefix(model_id) -> str:
    return f"{ROOT}/{model_id}"
