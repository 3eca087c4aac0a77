"""The admin cockpit: site-wide registrations, and the registry's screens composed with the
actions of the apps above it (so the registry never imports upwards)."""

from django.contrib import admin

from performance.admin import evaluate_outputs, set_best
from registry.admin import ModelConfigAdmin, ModelVersionAdmin
from registry.models import ModelConfig, ModelVersion
from training.admin import train_models

admin.site.site_header = "cellwise administration"
admin.site.site_title = "cellwise"


@admin.register(ModelConfig)
class ModelConfigCockpit(ModelConfigAdmin):
    actions = [train_models, evaluate_outputs]


@admin.register(ModelVersion)
class ModelVersionCockpit(ModelVersionAdmin):
    actions = [set_best]
