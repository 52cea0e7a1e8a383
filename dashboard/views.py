"""Customer pages: My meters (with where the account stands), adding a meter with its claim code, a meter's
live power and charts, invoices.

Another customer's meter is a 404, exactly like a meter that does not exist; a failed claim
reads the same whatever the reason (docs/dashboard.md#add-a-meter).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from rest_framework.exceptions import NotFound, ValidationError

from billing.customer_account import account_of, account_position
from billing.selectors import billing_today
from dashboard.comparisons import account_comparison, meter_comparison
from dashboard.forms import AddMeterForm, ReadingsDownloadForm
from dashboard.live import live_message
from dashboard.selectors import (
    ROLLING_WINDOW,
    chart_ranges,
    customer_invoices,
    customer_meters,
    latest_invoice,
    meter_summaries,
    meter_summary,
)
from devices.selectors import device_get_visible
from devices.services import CLAIM_REFUSED_MESSAGE, DeviceNotClaimable, device_claim
from ops.ratelimits import claim_rate_limit
from readings.apis import readings_csv_download

GAUGE_DEFAULT_MAX_W = 5000


@login_required
def meters(request):
    summaries = meter_summaries(devices=list(customer_meters(user=request.user)))
    month_label = summaries[0].month_label if summaries else ""
    account = account_of(customer=request.user)
    position = account_position(account=account, today=billing_today()) if account is not None else None
    comparison = account_comparison(device_ids=[each.device.device_id for each in summaries])
    context = {"summaries": summaries, "month_label": month_label, "position": position, "comparison": comparison}
    return render(request, "dashboard/meters.html", context)


@login_required
@claim_rate_limit
def add_meter(request):
    form = AddMeterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = device_claim(**form.cleaned_data, user=request.user)
        except DeviceNotClaimable:
            form.add_error(None, CLAIM_REFUSED_MESSAGE)
        else:
            messages.success(request, f"Meter {device.device_id} is now on your account.")
            return redirect("dashboard:meter", device_id=device.device_id)
    return render(request, "dashboard/add_meter.html", {"form": form, "nav_section": "meters"})


@login_required
def meter(request, device_id: str):
    device = device_get_visible(user=request.user, device_id=device_id)
    if device is None:
        raise Http404("No such meter.")
    now = timezone.now()
    summary = meter_summary(device=device, now=now)
    latest = live_message(summary.latest)["reading"] if summary.latest else None
    config = {
        "device_id": device.device_id,
        "ws_path": f"/ws/devices/{device.device_id}/live",
        "readings_url": reverse("readings-series", kwargs={"device_id": device.device_id}),
        "time_zone": settings.TIME_ZONE,
        "locale": "en-IN",
        "ranges": chart_ranges(now=now, tz=timezone.get_default_timezone()),
        "rolling_window_seconds": int(ROLLING_WINDOW.total_seconds()),
        "gauge_max_w": GAUGE_DEFAULT_MAX_W,
        "latest": latest,
    }
    context = {
        "device": device,
        "summary": summary,
        "latest_invoice": latest_invoice(user=request.user, device=device),
        "comparison": meter_comparison(device_id=device.device_id, now=now),
        "download_form": ReadingsDownloadForm(today=timezone.localdate(now)),
        "download_tz": settings.TIME_ZONE,
        "meter_config": config,
        "gauge_max_w": GAUGE_DEFAULT_MAX_W,
        "rolling_window_minutes": int(ROLLING_WINDOW.total_seconds() // 60),
        "nav_section": "meters",
    }
    return render(request, "dashboard/meter.html", context)


@login_required
def meter_csv(request, device_id: str):
    """The meter page's "Download data": the same streamed CSV as /api/readings/<device_id>/csv."""
    if device_get_visible(user=request.user, device_id=device_id) is None:
        raise Http404("No such meter.")
    form = ReadingsDownloadForm(request.GET, today=timezone.localdate())
    try:
        if not form.is_valid():
            raise ValidationError(form.errors)
        return readings_csv_download(request, device_id, form.query())
    except NotFound:
        raise Http404("No such meter.") from None
    except ValidationError as error:
        messages.error(request, f"The download could not be made: {_first_message(error.detail)}")
        return redirect(reverse("dashboard:meter", kwargs={"device_id": device_id}) + "#download")


def _first_message(detail) -> str:
    while isinstance(detail, dict | list):
        detail = next(iter(detail.values())) if isinstance(detail, dict) else detail[0]
    return str(detail)


@login_required
def invoices(request):
    own_meters = list(customer_meters(user=request.user))
    selected = None
    if meter_id := request.GET.get("meter"):
        selected = next((each for each in own_meters if each.device_id == meter_id), None)
        if selected is None:
            raise Http404("No such meter.")
    context = {
        "invoices": customer_invoices(user=request.user, device=selected),
        "meters": own_meters,
        "meter": selected,
    }
    return render(request, "dashboard/invoices.html", context)
