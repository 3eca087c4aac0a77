"""The design's layering, enforced: mlops_site → performance → inference → training → registry →
telemetry → alerts → access → core. A package may import those to its right, never those to its left
(tests and migrations aside): mlops_site (settings, URLs, the API's wiring) is imported by no
app, and core imports none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["mlops_site", "performance", "inference", "training", "registry", "telemetry", "alerts", "access", "core"]


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):  # function-level imports count too
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


@pytest.mark.parametrize("app", LAYERS)
def test_no_app_imports_a_layer_above_it(app):
    above = set(LAYERS[: LAYERS.index(app)])
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_apps(path) & above)
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and imported_apps(path) & above
    }
    assert offenders == {}


def test_every_package_has_a_layer():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench", "scripts"}
    assert packages == set(LAYERS)
