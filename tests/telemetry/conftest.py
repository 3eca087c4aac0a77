from __future__ import annotations

import pytest
from django.core.management import call_command

from telemetry.embedded import EmbeddedSource
from tests.telemetry.test_embedded import RAW


@pytest.fixture
def imported_source(tmp_path, settings):
    """The embedded source over four cells of the raw G-NetTrack excerpt, imported as an operator would."""
    settings.VAR_DIR = tmp_path
    call_command("import_measurements", str(RAW))
    return EmbeddedSource([tmp_path / "measurements"])
