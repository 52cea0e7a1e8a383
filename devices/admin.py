"""Back office for meters: who owns them, whether they report; decommission and reassign.

The apps above add their own parts by subclassing DeviceAdmin and registering it
again (readings: the latest-reading column and the readings page; billing: the
invoices link), so this module imports none of them.
See docs/dashboard.md#staff-back-office-admin.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.models import User
from devices.models import Device
from devices.services import device_decommission, device_reassign


class ReassignOwnerForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("email"),
        label="New owner",
        help_text="The customer the selected meters are registered to from now on. "
        "Invoices already issued stay with the customer they were issued to.",
    )


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = [
        "device_id",
        "name",
        "owner_link",
        "status_badge",
        "last_seen_short",
        "links",
    ]
    list_filter = ["status", "firmware_version"]
    search_fields = ["device_id", "name", "location", "owner__email", "owner__name"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_at", "last_seen", "decommissioned_at", "links"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    actions = ["decommission_selected", "reassign_owner"]
    fieldsets = [
        (None, {"fields": ["device_id", "name", "location", "owner"]}),
        ("State", {"fields": ["status", "last_seen", "links", "decommissioned_at"]}),
        ("Hardware", {"fields": ["wifi_ssid", "firmware_version", "created_at"]}),
    ]

    # --- list columns -----------------------------------------------------------

    @admin.display(description="Owner", ordering="owner__email")
    def owner_link(self, obj):
        url = reverse("admin:accounts_user_change", args=[obj.owner_id])
        return format_html('<a href="{}">{}</a>', url, obj.owner.email)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="sm-badge sm-status-{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description="Last seen", ordering="last_seen")
    def last_seen_short(self, obj):
        if obj.last_seen is None:
            return "never"
        return format_html(
            "<time datetime='{}'>{}</time>",
            obj.last_seen.isoformat(),
            timezone.localtime(obj.last_seen).strftime("%d %b %Y %H:%M"),
        )

    @admin.display(description="Open")
    def links(self, obj):
        items = self.related_links(obj) if obj.pk is not None else []
        if not items:
            return "–"
        return format_html_join(" · ", '<a href="{}">{}</a>', items)

    def related_links(self, obj) -> list[tuple[str, str]]:
        """(url, label) pairs for the "Open" column; apps above extend this in their subclass."""
        return []

    # --- actions ----------------------------------------------------------------

    @admin.action(description="Decommission selected meters (keeps readings and invoices; stops billing)")
    def decommission_selected(self, request, queryset):
        done = 0
        for device in queryset.exclude(status=Device.Status.DECOMMISSIONED):
            device_decommission(device=device, actor=request.user)
            done += 1
        skipped = queryset.count() - done
        message = f"Decommissioned {done} meter{'s' if done != 1 else ''}."
        if skipped:
            message += f" {skipped} already decommissioned."
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Reassign selected meters to another owner…")
    def reassign_owner(self, request, queryset):
        if "apply" in request.POST:
            form = ReassignOwnerForm(request.POST)
            if form.is_valid():
                owner = form.cleaned_data["owner"]
                for device in queryset.select_related("owner"):
                    device_reassign(device=device, owner=owner, actor=request.user)
                count = queryset.count()
                self.message_user(
                    request, f"Reassigned {count} meter{'s' if count != 1 else ''} to {owner.email}.", messages.SUCCESS
                )
                return redirect(request.get_full_path())
        else:
            form = ReassignOwnerForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Reassign meters",
            "opts": self.model._meta,
            "form": form,
            "devices": queryset.select_related("owner"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/devices/device/reassign.html", context)
