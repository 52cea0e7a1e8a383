"""Back office for readings: the dead-letter record, and the meter admin's readings parts.

Readings extends the meter admin of devices (the app below it) instead of devices
importing upwards: DeviceReadingsAdmin adds the latest-reading column, the
readings page, the "Connect this meter" panel (readings.onboarding) on the meter's
page and after provisioning and, with broker administration configured, the
"Rotate MQTT password" action; it registers itself in DeviceAdmin's place.
See docs/dashboard.md#staff-back-office-admin.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from devices.admin import DeviceAdmin
from devices.models import Device
from readings.admin_views import device_excluded_readings_view, device_readings_view
from readings.formatting import format_power
from readings.meter_credentials import (
    SECRET_KIND_MQTT_PASSWORD,
    MeterCredentialsError,
    broker_administration_configured,
    meter_credentials_rotate,
    meter_username,
)
from readings.models import DeadLetter
from readings.onboarding import meter_heard, meter_onboarding
from readings.selectors import readings_latest_many


def _before(names: list[str], name: str, *, before: str) -> list[str]:
    """``names`` with ``name`` inserted just ahead of ``before``."""
    at = names.index(before)
    return [*names[:at], name, *names[at:]]


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """Telemetry that could not be stored, with the reason; a record, so nothing here is editable.

    Staff may delete rows once a fault is understood; the consumer also trims the table
    to DEAD_LETTER_MAX_ROWS, oldest first.
    """

    list_display = ["received_at", "reason", "device_id", "topic", "detail", "payload_size"]
    list_filter = ["reason", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["device_id", "topic", "detail", "payload_excerpt"]
    date_hierarchy = "received_at"
    ordering = ["-received_at", "-id"]
    list_per_page = 100
    show_full_result_count = False  # counting a large table on every page view is slow
    fields = ["received_at", "reason", "device_id", "topic", "detail", "payload_size", "payload"]
    readonly_fields = fields

    @admin.display(description="Payload (excerpt)")
    def payload(self, obj: DeadLetter):
        return format_html('<pre style="white-space: pre-wrap; max-width: 60em">{}</pre>', obj.payload_excerpt)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DeviceReadingsAdmin(DeviceAdmin):
    """The meter admin with its readings: a latest-reading column and a ``<pk>/readings/`` page.

    Readings are not always in the Django database (the Mongo store keeps them in
    MongoDB), so both go through readings.selectors, never a model.
    """

    list_display = _before(DeviceAdmin.list_display, "latest_reading", before="links")
    readonly_fields = _before(DeviceAdmin.readonly_fields, "latest_reading", before="links")
    fieldsets = [
        (title, {**options, "fields": _before(options["fields"], "latest_reading", before="links")})
        if "links" in options["fields"]
        else (title, options)
        for title, options in DeviceAdmin.fieldsets
    ]

    actions = [*DeviceAdmin.actions, "rotate_mqtt_password"]

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        if not broker_administration_configured():
            actions.pop("rotate_mqtt_password", None)  # the open embedded broker has no accounts
        return actions

    @admin.action(description="Rotate MQTT password (shows the new one once)", permissions=["change"])
    def rotate_mqtt_password(self, request, queryset):
        """New broker passwords, rendered in this response only: never stored, never put in a message."""
        secrets, failures, rotated = [], [], []
        for device in queryset.order_by("device_id"):
            try:
                secret = meter_credentials_rotate(device=device, actor=request.user)
            except MeterCredentialsError as exc:
                failures.append((device.device_id, str(exc)))
            else:
                secrets.append((device.device_id, meter_username(device.device_id), secret.value))
                rotated.append((device, secret.value))
        context = {
            **self.admin_site.each_context(request),
            "title": "New MQTT passwords",
            "opts": self.model._meta,
            "secrets": secrets,
            "failures": failures,
        }
        if len(rotated) == 1:  # one meter: how to enter its new password, on the same page
            [(device, password)] = rotated
            context["onboarding"] = meter_onboarding(device, password=password)
        response = TemplateResponse(request, "admin/devices/device/mqtt_passwords.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One read for the whole page, not one per row; the page's objects carry their reading.
        page = list(changelist.result_list)
        found = readings_latest_many(device_ids=[device.device_id for device in page])
        for device in page:
            device.latest_reading_cached = found.get(device.device_id)
        return changelist

    @admin.display(description="Latest reading")
    def latest_reading(self, obj):
        if obj.pk is None:
            return "–"
        if hasattr(obj, "latest_reading_cached"):
            reading = obj.latest_reading_cached
        else:
            reading = readings_latest_many(device_ids=[obj.device_id]).get(obj.device_id)
        if reading is None:
            return "no readings yet"
        when = timezone.localtime(reading.timestamp).strftime("%d %b %Y %H:%M:%S")
        return format_html(
            "{} · {}<br><small><time datetime='{}'>{}</time></small>",
            format_power(reading.power_w),
            "–" if reading.voltage is None else f"{reading.voltage:.1f} V",
            reading.timestamp.isoformat(),
            when,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The meter's page, with how to connect it and whether it has been heard from."""
        device = self.get_object(request, object_id)
        if device is not None:
            extra_context = {**(extra_context or {}), **self._onboarding_context(request, device)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _onboarding_context(self, request, device: Device) -> dict:
        context = {
            "onboarding": meter_onboarding(device),
            "heard": meter_heard(device),
            "dead_letters_url": reverse("admin:readings_deadletter_changelist") + f"?device_id={device.device_id}",
        }
        if (
            broker_administration_configured()
            and not device.is_decommissioned
            and self.has_change_permission(request, device)
        ):
            context["rotate_url"] = reverse("admin:devices_device_changelist")
            context["rotate_pk"] = device.pk
        return context

    def provisioned_extra_context(self, request, provisioned) -> dict:
        password = next(
            (secret.value for secret in provisioned.secrets if secret.kind == SECRET_KIND_MQTT_PASSWORD), None
        )
        return {
            **super().provisioned_extra_context(request, provisioned),
            "onboarding": meter_onboarding(provisioned.device, password=password),
        }

    def related_links(self, obj) -> list[tuple[str, str]]:
        return [
            (reverse("admin:devices_device_readings", args=[obj.pk]), "Readings"),
            (reverse("admin:devices_device_excluded_readings", args=[obj.pk]), "Excluded readings"),
            *super().related_links(obj),
        ]

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/readings/",
                self.admin_site.admin_view(self.readings_view),
                name="devices_device_readings",
            ),
            path(
                "<path:object_id>/excluded-readings/",
                self.admin_site.admin_view(self.excluded_readings_view),
                name="devices_device_excluded_readings",
            ),
        ]
        return urls + super().get_urls()

    def readings_view(self, request, object_id):
        device = self.get_object(request, object_id)
        if device is None:
            raise Http404("No such meter.")
        if not self.has_view_permission(request, device):
            raise PermissionDenied
        return device_readings_view(request, device=device, model_admin=self)

    def excluded_readings_view(self, request, object_id):
        device = self.get_object(request, object_id)
        if device is None:
            raise Http404("No such meter.")
        if not self.has_view_permission(request, device):
            raise PermissionDenied
        return device_excluded_readings_view(request, device=device, model_admin=self)


admin.site.unregister(Device)
admin.site.register(Device, DeviceReadingsAdmin)
