from django.contrib import admin

from access.models import ApiToken


class ReadOnlyAdmin(admin.ModelAdmin):
    """Machine-made rows: visible, never edited by hand (every app's admin uses it)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `manage.py create_token`; here they can be seen and revoked."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at")
    readonly_fields = ("user", "name", "prefix", "key_hash", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False
