"""The Prometheus alerting rules shipped with the compose stack: valid (`promtool check`), firing
when they should on series shaped like /metrics (`promtool test rules`), and only about metrics
cellwise exports. promtool comes from Debian's prometheus package, which scripts/services.sh
installs when it is missing: without it these tests fail, they never skip."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_site.metrics import render

FOLDER = Path(__file__).resolve().parent.parent / "scripts" / "compose" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: run the tests with scripts/test (scripts/services.sh installs it)")
    return path


def run(*args: str, cwd: Path = FOLDER) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=60)


def test_the_rules_and_the_config_are_valid(promtool):
    checked = run(promtool, "check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout
    config = run(promtool, "check", "config", "--syntax-only", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_each_alert_fires_when_it_should_and_not_before(promtool):
    tested = run(promtool, "test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {rule["alert"] for group in yaml.safe_load((FOLDER / "alerts.yml").read_text())["groups"]
              for rule in group["rules"]}
    cases = (FOLDER / "alerts.test.yml").read_text()
    assert {name for name in alerts if f"alertname: {name}" not in cases} == set()  # every alert has a case


def test_the_unit_tests_catch_a_wrong_duration(promtool, tmp_path):
    """The cases check timing, not just syntax: a stuck-in-retraining alert after 1 minute fails them."""
    for name in ("alerts.yml", "alerts.test.yml"):
        shutil.copy(FOLDER / name, tmp_path / name)
    rules = (tmp_path / "alerts.yml").read_text()
    (tmp_path / "alerts.yml").write_text(rules.replace("for: 2h", "for: 1m"))
    tested = run(promtool, "test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert tested.returncode != 0 and "CellwiseFieldStuckInRetraining" in tested.stdout + tested.stderr


@pytest.mark.django_db
def test_every_metric_the_rules_use_is_exported(settings):
    exported = set(re.findall(r"^# TYPE (\w+) ", render().decode(), flags=re.MULTILINE))
    rules = (FOLDER / "alerts.yml").read_text()
    used = set(re.findall(r"\b(cellwise_\w+)", rules))
    assert used and used <= exported, used - exported
