"""The meter admin's "Record meter exchange" page and the table of a meter's exchanges.

Staff swap a meter on site and record it here: the old meter (the page's), its final
register, the new meter's id, serial and initial register, and the instant. The new
meter's one-time broker credentials are shown on the result page only, as provisioning
shows them. Wired into DeviceAdmin by devices.admin. docs/operations.md#meter-exchange.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from devices.identity import DEVICE_ID_PATTERN, DEVICE_ID_RULE
from devices.models import Device
from devices.selectors import device_exchanges
from devices.services import ExchangeRefused, device_exchange

REGISTER_FIELD = {"max_digits": 14, "decimal_places": 3, "min_value": Decimal("0")}


class MeterExchangeForm(forms.Form):
    new_device_id = forms.RegexField(
        DEVICE_ID_PATTERN,
        max_length=64,
        label="New meter id",
        error_messages={"invalid": f"Use {DEVICE_ID_RULE} (the id becomes an MQTT topic level)."},
        help_text="A new id is provisioned now (its broker password is shown once on the next page); "
        "the id of a provisioned meter nobody has claimed uses that meter.",
    )
    new_serial = forms.CharField(max_length=64, required=False, label="New meter's serial")
    old_final_register = forms.DecimalField(
        **REGISTER_FIELD, label="Old meter's final register (kWh)", help_text="Read off the old meter as it came off."
    )
    new_initial_register = forms.DecimalField(
        **REGISTER_FIELD, label="New meter's initial register (kWh)", help_text="Read off the new meter as it went on."
    )
    exchanged_at = forms.DateTimeField(
        label="Exchanged at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"),
        help_text="When the old meter came off (local time). Its telemetry from this instant on is refused.",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Notes")


def device_exchange_view(request, *, device: Device, model_admin):
    """The form (GET), then the exchange and the new meter's one-time credentials (POST)."""
    initial = {"exchanged_at": timezone.localtime().replace(microsecond=0)}
    form = MeterExchangeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            exchange = device_exchange(
                old_device=device,
                new_device_id=data["new_device_id"],
                new_serial=data["new_serial"],
                old_final_register=data["old_final_register"],
                new_initial_register=data["new_initial_register"],
                exchanged_at=data["exchanged_at"],
                notes=data["notes"],
                actor=request.user,
            )
        except ExchangeRefused as exc:
            form.add_error(exc.field, exc.message)
        else:
            return _exchanged_page(request, exchange=exchange, model_admin=model_admin)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Record meter exchange: {device.device_id}",
        "opts": model_admin.model._meta,
        "device": device,
        "form": form,
    }
    return TemplateResponse(request, "admin/devices/device/exchange.html", context)


def _exchanged_page(request, *, exchange, model_admin):
    """The result, with the new meter's secrets in this response only."""
    old, new = exchange.old_device, exchange.new_device
    model_admin.log_change(request, old, f"Exchanged for {new.device_id} at {exchange.exchanged_at.isoformat()}.")
    if exchange.provisioned is not None:
        model_admin.log_addition(request, new, [{"added": {}}])
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Meter {old.device_id} exchanged for {new.device_id}",
        "opts": model_admin.model._meta,
        "exchange": exchange,
        "secrets": exchange.provisioned.secrets if exchange.provisioned is not None else [],
        "provisioned": exchange.provisioned is not None,
    }
    response = TemplateResponse(request, "admin/devices/device/exchanged.html", context)
    response["Cache-Control"] = "no-store"
    return response


def exchanges_table(device: Device):
    """The meter's exchanges, in or out, as a small read-only table."""
    rows = [
        (
            timezone.localtime(exchange.exchanged_at).strftime("%d %b %Y %H:%M:%S"),
            *_meter_link(exchange.old_device),
            exchange.old_final_register,
            *_meter_link(exchange.new_device),
            exchange.new_initial_register,
            exchange.recorded_by.email if exchange.recorded_by else "–",
            exchange.notes or "–",
        )
        for exchange in device_exchanges(device=device)
    ]
    if not rows:
        return "none"
    body = format_html_join(
        "",
        '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td><a href="{}">{}</a></td><td>{}</td>'
        "<td>{}</td><td>{}</td></tr>",
        rows,
    )
    return format_html(
        '<table class="sm-table meter-exchanges"><thead><tr><th scope="col">Exchanged at</th>'
        '<th scope="col">Old meter</th><th scope="col">Final register (kWh)</th><th scope="col">New meter</th>'
        '<th scope="col">Initial register (kWh)</th><th scope="col">Recorded by</th><th scope="col">Notes</th>'
        "</tr></thead><tbody>{}</tbody></table>",
        body,
    )


def _meter_link(device: Device) -> tuple[str, str]:
    return reverse("admin:devices_device_change", args=[device.pk]), device.device_id
