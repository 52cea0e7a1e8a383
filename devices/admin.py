"""Back office for meters: provision (one, or a CSV import), claim codes, who owns them,
whether they report; assign, decommission, reassign and exchange (devices.admin_exchange).

The apps above add their own parts by subclassing DeviceAdmin and registering it
again (readings: the latest-reading column and the readings page; billing: the
invoices link), so this module imports none of them. Extra pages come from
``get_urls``, each subclass putting its own ahead of ``super().get_urls()``.
See docs/dashboard.md#staff-back-office-admin and docs/deployment.md#provisioning-meters.
"""

import base64
import csv
import io
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.models import User
from devices.admin_exchange import device_exchange_view, exchanges_table
from devices.identity import DEVICE_ID_PATTERN, DEVICE_ID_RULE, NATIVE, PAYLOAD_FORMAT_LABELS, PAYLOAD_FORMATS
from devices.lifecycle import HookFailed
from devices.models import DEFAULT_SANCTIONED_LOAD_KW, Device
from devices.services import (
    DeviceAlreadyRegistered,
    DeviceUnavailable,
    ProvisionedMeter,
    device_assign,
    device_claim_code_reset,
    device_decommission,
    device_payload_format_change,
    device_provision,
)

IMPORT_COLUMNS = ["device_id", "serial", "sanctioned_load_kw", "location", "name"]
IMPORT_OPTIONAL_COLUMNS = ["payload_format"]  # empty or absent: native
PAYLOAD_FORMAT_HELP = (
    "What the meter sends: the product's own JSON, or an off-the-shelf monitor's format. It decides the "
    "meter's MQTT topics and what the broker lets it publish; the meter's page then shows how to set it up."
)
IMPORT_MAX_BYTES = 2 * 1024 * 1024
IMPORT_MAX_ROWS = 5000


class DeviceProvisionForm(forms.Form):
    """One meter to provision: the add form, and each row of a CSV import."""

    device_id = forms.RegexField(
        DEVICE_ID_PATTERN,
        max_length=64,
        label="Meter id",
        error_messages={"invalid": f"Use {DEVICE_ID_RULE} (the id becomes an MQTT topic level)."},
        help_text="The id the meter publishes under: the topic level after the prefix "
        "(smartmeter/<id>/telemetry, tele/<id>/SENSOR, ...), and its MQTT username.",
    )
    payload_format = forms.ChoiceField(
        choices=list(PAYLOAD_FORMAT_LABELS.items()),
        required=False,
        initial=NATIVE,
        label="Payload format",
        help_text=PAYLOAD_FORMAT_HELP,
        error_messages={"invalid_choice": f"Use one of {', '.join(PAYLOAD_FORMATS)} (empty: {NATIVE})."},
    )
    serial = forms.CharField(max_length=64, required=False, label="Manufacturer serial")
    sanctioned_load_kw = forms.DecimalField(
        max_digits=7,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        initial=DEFAULT_SANCTIONED_LOAD_KW,
        label="Sanctioned load (kW)",
        help_text=f"Empty: {DEFAULT_SANCTIONED_LOAD_KW} kW.",
    )
    location = forms.CharField(max_length=255, required=False)
    name = forms.CharField(max_length=120, required=False)

    def provision_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        if data["sanctioned_load_kw"] is None:
            data["sanctioned_load_kw"] = DEFAULT_SANCTIONED_LOAD_KW
        data["payload_format"] = data["payload_format"] or NATIVE
        return data


class DeviceImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8, a header row with the columns {', '.join(IMPORT_COLUMNS)}; "
        f"sanctioned_load_kw may be empty ({DEFAULT_SANCTIONED_LOAD_KW} kW); an optional payload_format "
        f"column ({', '.join(PAYLOAD_FORMATS)}; empty: {NATIVE}).",
    )


class ImportRejected(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_import(upload) -> list[dict]:
    """The CSV's rows as provisioning arguments, or ImportRejected naming every bad row and field.

    Rows are numbered as a spreadsheet shows them: the header is row 1.
    """
    if upload.size > IMPORT_MAX_BYTES:
        raise ImportRejected([f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB."])
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected(["The file is not UTF-8 text; save it as CSV UTF-8."]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [column.strip() for column in reader.fieldnames or []]
    missing = [column for column in IMPORT_COLUMNS if column not in header]
    if missing:
        raise ImportRejected(
            [f"Row 1 (header): missing column(s) {', '.join(missing)}; expected {', '.join(IMPORT_COLUMNS)}."]
        )
    reader.fieldnames = header
    rows, problems = [], []
    seen_ids: dict[str, int] = {}
    seen_serials: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        if number - 1 > IMPORT_MAX_ROWS:
            raise ImportRejected([f"More than {IMPORT_MAX_ROWS} rows: split the file."])
        values = {column: (raw.get(column) or "").strip() for column in IMPORT_COLUMNS + IMPORT_OPTIONAL_COLUMNS}
        if not any(values.values()):
            continue  # a blank line
        if None in raw:
            problems.append(f"Row {number}: more values than the {len(header)} columns of the header.")
            continue
        form = DeviceProvisionForm(data=values)
        if not form.is_valid():
            for field, errors in form.errors.items():
                problems.append(f"Row {number}, {field}: {' '.join(errors)}")
            continue
        data = form.provision_kwargs()
        device_id, serial = data["device_id"], data["serial"]
        if device_id in seen_ids:
            problems.append(f"Row {number}, device_id: '{device_id}' is also on row {seen_ids[device_id]}.")
        elif Device.objects.filter(device_id=device_id).exists():
            problems.append(f"Row {number}, device_id: meter '{device_id}' is already registered.")
        if serial and serial in seen_serials:
            problems.append(f"Row {number}, serial: '{serial}' is also on row {seen_serials[serial]}.")
        elif serial and Device.objects.filter(serial=serial).exists():
            problems.append(f"Row {number}, serial: a meter with serial '{serial}' is already provisioned.")
        seen_ids.setdefault(device_id, number)
        if serial:
            seen_serials.setdefault(serial, number)
        rows.append(data)
    if problems:
        raise ImportRejected(problems)
    if not rows:
        raise ImportRejected(["The file has no meters below its header."])
    return rows


def _csv_cell(value: str) -> str:
    # A spreadsheet runs a cell starting like a formula; the quote keeps it text.
    return f"'{value}" if value[:1] in ("=", "+", "@", "\t", "\r") else value


def claim_codes_csv(provisioned: list[ProvisionedMeter]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["device_id", "serial", "claim_code", "secrets"])
    for meter in provisioned:
        secrets = "; ".join(f"{secret.label}: {secret.value}" for secret in meter.secrets)
        writer.writerow([_csv_cell(meter.device.device_id), _csv_cell(meter.device.serial), meter.claim_code, secrets])
    return out.getvalue()


class ClaimedFilter(admin.SimpleListFilter):
    title = "claimed"
    parameter_name = "claimed"

    def lookups(self, request, model_admin):
        return [("yes", "Claimed (has an owner)"), ("no", "Not claimed yet")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.claimed()
        if self.value() == "no":
            return queryset.unclaimed()
        return queryset


class ReassignOwnerForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("email"),
        label="New owner",
        help_text="The customer the selected meters are registered to from now on (no claim code needed; "
        "an open one stops working). Invoices already issued stay with the customer they were issued to.",
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
    list_filter = [ClaimedFilter, "status", "firmware_version"]
    search_fields = ["device_id", "serial", "name", "location", "owner__email", "owner__name"]
    # The owner changes only through the services (claim, or the assign action), never the form.
    readonly_fields = [
        "owner",
        "claimed_at",
        "claim_state",
        "created_at",
        "last_seen",
        "decommissioned_at",
        "links",
        "exchanges",
    ]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    actions = ["decommission_selected", "reassign_owner", "reset_claim_codes"]
    fieldsets = [
        (None, {"fields": ["device_id", "name", "location", "owner", "claimed_at", "claim_state"]}),
        ("Connection", {"fields": ["payload_format", "serial", "sanctioned_load_kw", "register_digits"]}),
        ("State", {"fields": ["status", "last_seen", "links", "decommissioned_at"]}),
        ("Hardware", {"fields": ["wifi_ssid", "firmware_version", "created_at"]}),
        ("Meter exchanges", {"fields": ["exchanges"]}),
    ]

    # --- list columns -----------------------------------------------------------

    @admin.display(description="Owner", ordering="owner__email")
    def owner_link(self, obj):
        if obj.owner_id is None:
            return format_html('<span class="sm-muted">{}</span>', "not claimed yet")
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

    @admin.display(description="Claim code")
    def claim_state(self, obj):
        if obj.owner_id is not None:
            return "used (the meter has its owner)"
        if obj.is_decommissioned:
            return "none (decommissioned)"
        if obj.claim_code_hash:
            return "issued, not used yet (stored only as a hash: use the “Reset claim code” action to issue a new one)"
        return "none"

    @admin.display(description="Exchanges")
    def exchanges(self, obj):
        return exchanges_table(obj) if obj.pk is not None else "–"

    def related_links(self, obj) -> list[tuple[str, str]]:
        """(url, label) pairs for the "Open" column; apps above extend this in their subclass."""
        return []

    # --- the change form ---------------------------------------------------------

    def save_model(self, request, obj, form, change):
        """A new payload format goes through its service, so the broker's permissions follow it."""
        if not (change and "payload_format" in form.changed_data):
            return super().save_model(request, obj, form, change)
        new_format, obj.payload_format = obj.payload_format, form.initial["payload_format"]
        super().save_model(request, obj, form, change)
        obj.payload_format = device_payload_format_change(
            device=obj, payload_format=new_format, actor=request.user
        ).payload_format
        return None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except HookFailed as exc:  # the whole save was rolled back: say why, show the page again
            self.message_user(request, f"Nothing was saved: {exc}", messages.ERROR)
            return redirect(request.get_full_path())

    # --- provisioning pages ------------------------------------------------------

    def get_urls(self):
        """The meter admin's own pages, ahead of the defaults (whose ``<path:object_id>/`` would swallow them).

        Subclasses add theirs the same way: ``[*their_urls, *super().get_urls()]``.
        """
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="devices_device_import"),
            path(
                "<path:object_id>/exchange/",
                self.admin_site.admin_view(self.exchange_view),
                name="devices_device_exchange",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """Adding a meter is provisioning it: the service makes the claim code, shown once on the result page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DeviceProvisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                provisioned = device_provision(**form.provision_kwargs(), actor=request.user)
            except DeviceAlreadyRegistered as exc:
                form.add_error(exc.field, exc.message)
            except HookFailed as exc:  # the broker account, say: nothing was added
                form.add_error(None, f"Not provisioned: {exc}")
            else:
                self.log_addition(request, provisioned.device, [{"added": {}}])
                return self._provisioned_page(
                    request,
                    [provisioned],
                    title="Meter provisioned",
                    extra_context=self.provisioned_extra_context(request, provisioned),
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Provision a meter",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/devices/device/provision.html", context)

    def exchange_view(self, request, object_id):
        """Record that this meter was replaced by another (devices.admin_exchange)."""
        device = self.get_object(request, object_id)
        if device is None:
            raise Http404("No such meter.")
        if not (self.has_change_permission(request, device) and self.has_add_permission(request)):
            raise PermissionDenied
        return device_exchange_view(request, device=device, model_admin=self)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DeviceImportForm(request.POST or None, request.FILES or None)
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                rows = parse_import(form.cleaned_data["file"])
                with transaction.atomic():  # all or nothing
                    provisioned = [device_provision(**row, actor=request.user) for row in rows]
            except ImportRejected as exc:
                problems = exc.problems
            except DeviceAlreadyRegistered as exc:  # added meanwhile by someone else
                problems = [f"{exc.message} Nothing was imported."]
            except HookFailed as exc:
                problems = [f"{exc} Nothing was imported."]
            else:
                for meter in provisioned:
                    self.log_addition(request, meter.device, [{"added": {}}])
                return self._provisioned_page(
                    request,
                    provisioned,
                    title=f"Imported {len(provisioned)} meter{'s' if len(provisioned) != 1 else ''}",
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Import meters from CSV",
            "opts": self.model._meta,
            "form": form,
            "problems": problems,
            "columns": IMPORT_COLUMNS,
            "optional_columns": IMPORT_OPTIONAL_COLUMNS,
        }
        return TemplateResponse(request, "admin/devices/device/import.html", context)

    def provisioned_extra_context(self, request, provisioned: ProvisionedMeter) -> dict:
        """More for the page shown after one meter is provisioned; apps above add theirs (readings: how to
        connect it, with its broker password)."""
        return {}

    def _provisioned_page(
        self, request, provisioned: list[ProvisionedMeter], *, title: str, skipped=(), extra_context=None
    ):
        """Claim codes and hook secrets, in this response only: nothing keeps them in clear afterwards."""
        codes_csv = claim_codes_csv(provisioned)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "provisioned": provisioned,
            "skipped": skipped,
            "csv_href": "data:text/csv;charset=utf-8;base64," + base64.b64encode(codes_csv.encode()).decode(),
            "csv_filename": f"claim-codes-{timezone.now():%Y%m%d-%H%M%S}.csv",
            **(extra_context or {}),
        }
        response = TemplateResponse(request, "admin/devices/device/provisioned.html", context)
        response["Cache-Control"] = "no-store"
        return response

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

    @admin.action(description="Reset claim code of selected unclaimed meters (shows the new codes once)")
    def reset_claim_codes(self, request, queryset):
        provisioned, skipped = [], []
        for device in queryset.order_by("device_id"):
            try:
                code = device_claim_code_reset(device=device, actor=request.user)
            except DeviceUnavailable as exc:
                skipped.append(str(exc))
            else:
                provisioned.append(ProvisionedMeter(device=device, claim_code=code, secrets=[]))
        if not provisioned:
            self.message_user(request, "No claim code issued: " + " ".join(skipped), messages.WARNING)
            return None
        return self._provisioned_page(request, provisioned, title="New claim codes", skipped=skipped)

    @admin.action(description="Assign or reassign selected meters to a customer…")
    def reassign_owner(self, request, queryset):
        if "apply" in request.POST:
            form = ReassignOwnerForm(request.POST)
            if form.is_valid():
                owner = form.cleaned_data["owner"]
                done, refused = 0, []
                for device in queryset.select_related("owner"):
                    try:  # an unclaimed meter is assigned (its claim code stops working)
                        device_assign(device=device, owner=owner, actor=request.user)
                        done += 1
                    except DeviceUnavailable as exc:
                        refused.append(str(exc))
                self.message_user(
                    request, f"Assigned {done} meter{'s' if done != 1 else ''} to {owner.email}.", messages.SUCCESS
                )
                if refused:
                    self.message_user(request, " ".join(refused), messages.WARNING)
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
