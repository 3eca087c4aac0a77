"""The admin creates and deletes models through the same services as the API."""

from __future__ import annotations

import pytest

from registry.models import MlflowOutbox, ModelConfig, ModelEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="pw")
    client.force_login(admin)
    return client


def form(**overrides):
    data = {"name": "admin-made", "architecture": "ann", "input_fields": ["rsrp_mean", "sinr_mean"],
            "output_fields": ["rsrp_mean"], "window_duration_seconds": 60, "lookback_steps": 8,
            "forecast_steps": 2, "hidden_size": 32, "target_mode": "residual"}
    data.update(overrides)
    return data


def test_add_form_offers_discovered_fields_and_creates_through_the_service(admin_browser):
    page = admin_browser.get("/admin/registry/modelconfig/add/")
    assert page.status_code == 200 and b'value="sinr_mean"' in page.content
    response = admin_browser.post("/admin/registry/modelconfig/add/", form())
    assert response.status_code == 302, response.content[:2000]
    model = ModelConfig.objects.get(name="admin-made")
    assert model.input_fields == ["rsrp_mean", "sinr_mean"] and model.output_fields == ["rsrp_mean"]
    assert ModelEvent.objects.get(model_id=model.id).actor == "root"
    assert MlflowOutbox.objects.filter(model_id=model.id, operation="create_model").exists()
    detail = admin_browser.get(f"/admin/registry/modelconfig/{model.id}/change/")
    assert detail.status_code == 200 and b"admin-made" in detail.content


def test_add_form_shows_service_errors_inline(admin_browser):
    admin_browser.post("/admin/registry/modelconfig/add/", form())
    response = admin_browser.post("/admin/registry/modelconfig/add/", form(lookback_steps=0))
    assert response.status_code == 200 and ModelConfig.objects.count() == 1
    response = admin_browser.post("/admin/registry/modelconfig/add/", form())
    assert b"already exists" in response.content


def test_delete_goes_through_the_service_and_refuses_a_training_model(admin_browser):
    admin_browser.post("/admin/registry/modelconfig/add/", form())
    model = ModelConfig.objects.get()
    ModelConfig.objects.filter(id=model.id).update(is_training=True)
    admin_browser.post(f"/admin/registry/modelconfig/{model.id}/delete/", {"post": "yes"})
    assert ModelConfig.objects.filter(id=model.id).exists()
    ModelConfig.objects.filter(id=model.id).update(is_training=False)
    admin_browser.post(f"/admin/registry/modelconfig/{model.id}/delete/", {"post": "yes"})
    assert not ModelConfig.objects.exists()
    assert list(ModelEvent.objects.values_list("kind", flat=True)) == ["created", "deleted"]
