from django.contrib import admin

from devices.models import Device


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["device_id", "name", "owner", "location", "status", "last_seen", "firmware_version", "created_at"]
    list_filter = ["status", "firmware_version"]
    search_fields = ["device_id", "name", "location", "owner__email", "owner__name"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_at", "last_seen", "decommissioned_at"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
