"""The staff overview inside the admin: meters per status, readings, rejected telemetry, this month's invoices.

It reads through dashboard.selectors.staff_overview. A meter's readings page is
registered by the readings app (readings.admin). See docs/dashboard.md#staff-back-office-admin.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from dashboard.selectors import staff_overview


def _admin_url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:  # that part's admin is not registered
        return None


@staff_member_required
def overview(request):
    context = {
        **admin.site.each_context(request),
        "title": "Utility overview",
        "overview": staff_overview(),
        "dead_letter_url": _admin_url("admin:readings_deadletter_changelist"),
        "invoice_url": _admin_url("admin:billing_invoice_changelist"),
        "review_url": _admin_url("admin:billing_heldinvoice_changelist"),
        "ageing_url": _admin_url("billing-ageing"),
        "disconnections_url": _admin_url("billing-disconnections"),
    }
    return TemplateResponse(request, "admin/overview.html", context)
