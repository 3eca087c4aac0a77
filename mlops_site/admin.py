"""The admin cockpit: site-wide registrations, and the registry's screens composed with the
actions of the apps above it (so the registry never imports upwards)."""

from django.contrib import admin

from mlops_site.models import ApiToken
from performance.admin import evaluate_outputs, set_best
from registry.admin import ModelConfigAdmin, ModelVersionAdmin
from registry.models import ModelConfig, ModelVersion
from training.admin import train_models

admin.site.site_header = "cellwise administration"
admin.site.site_title = "cellwise"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `manage.py create_token`; here they can be seen and revoked."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at")
    readonly_fields = ("user", "name", "prefix", "key_hash", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False


@admin.register(ModelConfig)
class ModelConfigCockpit(ModelConfigAdmin):
    actions = [train_models, evaluate_outputs]


@admin.register(ModelVersion)
class ModelVersionCockpit(ModelVersionAdmin):
    actions = [set_best]
