"""The back office's readings page of one meter: any range, every reading or per period, chart and table.

It reads through readings.selectors, so staff see the same readings whichever
store holds them (MongoDB or SQL). Registered on the meter admin by readings.admin.
See docs/dashboard.md#staff-back-office-admin.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.template.response import TemplateResponse
from django.utils import timezone

from readings.selectors import device_consumption, readings_table

AGGREGATIONS = [
    ("raw", "Every reading"),
    ("minute", "Per minute"),
    ("hour", "Per hour"),
    ("day", "Per day"),
    ("month", "Per month"),
]
# A table of every reading stays readable (and the page fast) over a couple of days.
RAW_MAX_SPAN = timedelta(days=2)
MAX_SPAN = timedelta(days=800)


class ReadingsRangeForm(forms.Form):
    start = forms.DateTimeField(
        label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    end = forms.DateTimeField(
        label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    agg = forms.ChoiceField(label="Show", choices=AGGREGATIONS)

    def clean(self):
        cleaned = super().clean()
        start, end, agg = cleaned.get("start"), cleaned.get("end"), cleaned.get("agg")
        if start and end:
            if start >= end:
                raise forms.ValidationError("'From' must be before 'To'.")
            if agg == "raw" and end - start > RAW_MAX_SPAN:
                raise forms.ValidationError(
                    "Every reading is shown for at most 2 days at a time: shorten the range or choose per minute/hour."
                )
            if end - start > MAX_SPAN:
                raise forms.ValidationError("Choose a range of at most 800 days.")
        return cleaned


def _display_tz() -> ZoneInfo:
    return timezone.get_default_timezone()


def device_readings_view(request, *, device, model_admin):
    now = timezone.now()
    initial = {
        "start": timezone.localtime(now - timedelta(hours=24)).replace(second=0, microsecond=0, tzinfo=None),
        "end": timezone.localtime(now).replace(second=0, microsecond=0, tzinfo=None),
        "agg": "hour",
    }
    form = ReadingsRangeForm(request.GET or None, initial=initial)
    if request.GET:
        valid = form.is_valid()
        start, end, agg = (form.cleaned_data.get(key) for key in ("start", "end", "agg")) if valid else (None,) * 3
    else:
        valid = True
        tz = _display_tz()
        start = initial["start"].replace(tzinfo=tz)
        end = initial["end"].replace(tzinfo=tz)
        agg = initial["agg"]
    rows = readings_table(device_id=device.device_id, start=start, end=end, agg=agg) if valid else []
    chart = {
        "labels": [_label(row["at"], agg) for row in rows],
        "power": [row["power_w"] for row in rows],
        "energy": [row.get("energy_kwh") for row in rows],
        "agg": agg,
    }
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Readings of {device}",
        "opts": model_admin.model._meta,
        "original": device,
        "device": device,
        "form": form,
        "rows": rows,
        "chart": chart,
        "agg": agg,
        "start": start,
        "end": end,
        "raw": agg == "raw",
    }
    return TemplateResponse(request, "admin/devices/device/readings.html", context)


LABEL_FORMATS = {
    "raw": "%d %b %H:%M:%S",
    "minute": "%d %b %H:%M",
    "hour": "%d %b %H:%M",
    "day": "%d %b %Y",
    "month": "%b %Y",
}


def _label(moment: datetime, agg: str) -> str:
    return moment.astimezone(_display_tz()).strftime(LABEL_FORMATS[agg])


def _month_bounds(month: str | None) -> tuple[datetime, datetime, str]:
    """[start, end) of a "YYYY-MM" month in the billing time zone (default: last month)."""
    tz = ZoneInfo(str(settings.BILLING_TIME_ZONE))
    today = timezone.now().astimezone(tz).date()
    try:
        year, number = (int(part) for part in (month or "").split("-"))
        first = date(year, number, 1)
    except ValueError:
        first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, time.min, tzinfo=tz)
    return start, datetime.combine(following, time.min, tzinfo=tz), first.strftime("%Y-%m")


def device_excluded_readings_view(request, *, device, model_admin):
    """The readings of a month left out of the meter's energy, and why (docs/readings.md#reading-quality)."""
    start, end, month = _month_bounds(request.GET.get("month"))
    consumption = device_consumption(device_id=device.device_id, start=start, end=end)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Excluded readings of {device}",
        "opts": model_admin.model._meta,
        "original": device,
        "device": device,
        "month": month,
        "consumption": consumption,
        "excluded": consumption.excluded,
    }
    return TemplateResponse(request, "admin/devices/device/excluded_readings.html", context)
