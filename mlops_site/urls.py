from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from access.views import LoginView
from alerts import views as alerts_views
from inference import views as inference_views
from mlops_site.api import api, unknown_endpoint
from mlops_site.metrics import metrics_view
from performance import views as performance_views
from registry import views as registry_views
from training import views as training_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/", unknown_endpoint),  # before the API, whose root answers Django's HTML 404
    path("v1/", api.urls),
    re_path(r"^v1/(?P<rest>.*)$", unknown_endpoint),
    path("metrics", metrics_view, name="metrics"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", performance_views.dashboard, name="dashboard"),
    path("partials/dashboard/", performance_views.dashboard_table, name="dashboard-table"),
    path("fields/<str:field>/", performance_views.field_page, name="field"),
    path("fields/<str:field>/evaluate/", performance_views.field_evaluate, name="field-evaluate"),
    path("fields/<str:field>/monitor/", performance_views.field_monitor, name="field-monitor"),
    path("fields/<str:field>/set-best/<uuid:model_id>/", performance_views.field_set_best, name="field-set-best"),
    path("fields/<str:field>/replay/", performance_views.field_replay, name="field-replay"),
    path("partials/models/<uuid:model_id>/cells/", performance_views.model_cells, name="model-cells"),
    path("models/", registry_views.model_list, name="models"),
    path("models/new/", registry_views.model_new, name="model-new"),
    path("models/<uuid:model_id>/", training_views.model_detail, name="model"),
    path("models/<uuid:model_id>/train/", training_views.model_train, name="model-train"),
    path("jobs/", training_views.job_list, name="jobs"),
    path("partials/jobs/", training_views.job_table, name="jobs-table"),
    path("jobs/<uuid:job_id>/cancel/", training_views.job_cancel, name="job-cancel"),
    path("forecast/", inference_views.forecast, name="forecast"),
    path("network/", inference_views.network, name="network"),
    path("forecast/cells/", inference_views.forecast_cells, name="forecast-cells"),
    path("alerts/", alerts_views.alerts_page, name="alerts"),
    path("alerts/webhooks/new/", alerts_views.webhook_new, name="alerts-webhook-new"),
    path("alerts/webhooks/<uuid:webhook_id>/", alerts_views.webhook_page, name="alerts-webhook"),
    path("alerts/webhooks/<uuid:webhook_id>/edit/", alerts_views.webhook_edit, name="alerts-webhook-edit"),
    path("alerts/webhooks/<uuid:webhook_id>/test/", alerts_views.webhook_test, name="alerts-webhook-test"),
    path("alerts/webhooks/<uuid:webhook_id>/delete/", alerts_views.webhook_delete, name="alerts-webhook-delete"),
    path("alerts/deliveries/<int:delivery_id>/retry/", alerts_views.delivery_retry, name="alerts-delivery-retry"),
]
