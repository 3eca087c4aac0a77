"""The Network page on both stores: every cell's latest stored forecast, paged, searched by cell
id, sorted worst first; its HTMX partial; a field never forecast; a newer forecast replaces an
older one and an older one never replaces a newer."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pytest

from inference.batch import BatchResult, CellForecast
from inference.forecast_store import get_store
from tests.test_pages import logged_in

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture(params=["database", "clickhouse"], autouse=True)
def store(request, settings):
    settings.FORECAST_STORE = request.param
    if request.param == "clickhouse":
        settings.CLICKHOUSE_DSN = request.getfixturevalue("clickhouse_dsn")
        settings.FORECAST_CLICKHOUSE_TABLE = f"cellwise_test.network_{uuid.uuid4().hex[:12]}"
    return request.param


class _Entry:  # what a BatchResult needs of a cache entry
    model_id, model_name, version = uuid.uuid4(), "net-model", 3


def stored(cells: int = 130) -> dict[int, float]:
    """`cells` cells forecast at one origin, written through the store; each cell's worst value."""
    rng = np.random.default_rng(7)
    forecasts = [CellForecast(cell_id=100_000 + i, origin=1_750_000_000, input_start=1_749_999_000,
                              values=rng.normal(10, 5, size=3)) for i in range(cells)]
    get_store().write(BatchResult(entry=_Entry, output_field=FIELD, window_seconds=60, steps=3,
                                      source="test", forecasts=forecasts))
    return {f.cell_id: float(f.values.min()) for f in forecasts}


def cells_on(html: str) -> list[int]:
    return [int(c) for c in re.findall(r'data-label="Cell"><a class="name" href="[^"]*">(\d+)</a>', html)]


def test_lists_cells_worst_first_in_pages(user):
    worst = stored()
    browser = logged_in(user)
    first = browser.get("/network/", {"field": FIELD})
    assert first.status_code == 200
    html = first.content.decode()
    assert "130 cells" in html and "page 1 of 3" in html and "net-model v3" in html
    ordered = sorted(worst, key=lambda c: (worst[c], c))
    assert cells_on(html) == ordered[:50]
    third = browser.get("/network/", {"field": FIELD, "page": 3}).content.decode()
    assert cells_on(third) == ordered[100:]
    best = browser.get("/network/", {"field": FIELD, "sort": "best"}).content.decode()
    assert cells_on(best) == sorted(worst, key=lambda c: (-worst[c], c))[:50]
    by_cell = browser.get("/network/", {"field": FIELD, "sort": "cell"}).content.decode()
    assert cells_on(by_cell) == sorted(worst)[:50]


def test_search_by_cell_id_and_the_partial(user):
    stored()
    browser = logged_in(user)
    found = browser.get("/network/", {"field": FIELD, "q": "10001"}, headers={"HX-Request": "true"})
    html = found.content.decode()
    assert "<html" not in html  # the table only
    assert sorted(cells_on(html)) == [c for c in range(100_000, 100_130) if str(c).startswith("10001")]
    nothing = browser.get("/network/", {"field": FIELD, "q": "abc"}).content.decode()
    assert "is not a cell id" in nothing and cells_on(nothing) == []


def test_a_field_without_forecasts_says_how_to_get_them(user):
    html = logged_in(user).get("/network/", {"field": "rsrp_mean"}).content.decode()
    assert "No stored forecast" in html and "manage.py forecast_all rsrp_mean" in html


def test_needs_a_login(client):
    assert client.get("/network/").status_code == 302


def test_the_latest_forecast_of_a_cell_wins(user):
    stored(3)
    newer = CellForecast(cell_id=100_001, origin=1_750_000_060, input_start=1_749_999_060, values=np.array([-99.0] * 3))
    older = CellForecast(cell_id=100_002, origin=1_749_999_940, input_start=1_749_998_940, values=np.array([-98.0] * 3))
    get_store().write(BatchResult(entry=_Entry, output_field=FIELD, window_seconds=60, steps=3, source="test",
                                  forecasts=[newer, older]))
    html = logged_in(user).get("/network/", {"field": FIELD}).content.decode()
    assert "3 cells" in html and cells_on(html)[0] == 100_001 and "-99" in html
    assert "-98" not in html  # the late write of an older origin did not replace the newer forecast
