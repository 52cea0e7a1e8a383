"""Collections in the back office: the ageing report (/admin/billing/ageing/), the accounts due a
disconnection notice (/admin/billing/disconnections/) and the notices issued, with their letters.
See docs/billing.md#collections."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header

from billing.collections import AGEING_SORTS, ageing_report, ageing_rows_sorted, disconnection_candidates
from billing.collections_csv import ageing_csv, disconnections_csv
from billing.models import DisconnectionNotice
from billing.receivables import AGEING_BUCKETS
from billing.services.disconnections import (
    disconnection_letter_bytes,
    disconnection_notices_issue,
    letter_filename,
    notice_pay_by,
)

SORT_LABELS = {
    "oldest": "Oldest due first",
    "amount": "Largest total first",
    "overdue": "Largest overdue first",
    "consumer": "Consumer number",
}


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


def ageing_view(request):
    """Every account with something open, by days past due; ?sort=oldest|amount|overdue|consumer, ?format=csv."""
    report = ageing_report()
    sort = request.GET.get("sort", "oldest")
    sort = sort if sort in AGEING_SORTS else "oldest"
    rows = ageing_rows_sorted(report, sort=sort)
    if request.GET.get("format") == "csv":
        return _csv_response(ageing_csv(report, rows), f"ageing-{report.as_of:%Y-%m-%d}.csv")
    context = {
        **admin.site.each_context(request),
        "title": "Receivables ageing",
        "report": report,
        "rows": rows,
        "buckets": AGEING_BUCKETS,
        "sort": sort,
        "sorts": SORT_LABELS.items(),
    }
    return TemplateResponse(request, "admin/billing/ageing.html", context)


def disconnections_view(request):
    """Accounts in arrears past DISCONNECTION_NOTICE_DAYS; staff tick accounts and issue notices (POST)."""
    if request.method == "POST":
        if not request.user.has_perm("billing.add_disconnectionnotice"):
            messages.error(request, "You may not issue disconnection notices.")
            return HttpResponseRedirect(reverse("billing-disconnections"))
        account_ids = [int(value) for value in request.POST.getlist("account") if value.isdigit()]
        if not account_ids:
            messages.warning(request, "Select the accounts to send a notice to.")
            return HttpResponseRedirect(reverse("billing-disconnections"))
        outcome = disconnection_notices_issue(account_ids=account_ids, actor=request.user)
        if outcome.issued:
            messages.success(request, f"{len(outcome.issued)} disconnection notice(s) issued.")
        if outcome.skipped:
            messages.warning(request, "Not issued: " + "; ".join(outcome.skipped))
        return HttpResponseRedirect(reverse("billing-disconnections"))
    candidates = disconnection_candidates()
    if request.GET.get("format") == "csv":
        return _csv_response(disconnections_csv(candidates), "disconnection-candidates.csv")
    context = {
        **admin.site.each_context(request),
        "title": "Disconnection notices due",
        "candidates": candidates,
        "threshold_days": settings.DISCONNECTION_NOTICE_DAYS,
        "period_days": settings.DISCONNECTION_NOTICE_PERIOD_DAYS,
        "notices_url": reverse("admin:billing_disconnectionnotice_changelist"),
    }
    return TemplateResponse(request, "admin/billing/disconnections.html", context)


collections_urls = [
    path("admin/billing/ageing/", admin.site.admin_view(ageing_view), name="billing-ageing"),
    path("admin/billing/disconnections/", admin.site.admin_view(disconnections_view), name="billing-disconnections"),
]


@admin.register(DisconnectionNotice)
class DisconnectionNoticeAdmin(admin.ModelAdmin):
    """Notices issued (read-only records), each with its letter; new ones come from the disconnections list."""

    list_display = ["account", "amount_overdue", "oldest_due_date", "issued_at", "pay_by", "issued_by", "letter_link"]
    list_select_related = ["account", "account__customer", "issued_by"]
    search_fields = ["account__consumer_number", "account__customer__email", "account__customer__name"]
    date_hierarchy = "issued_at"
    fields = ["account", "amount_overdue", "oldest_due_date", "issued_at", "pay_by", "issued_by", "letter_link"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # issued from the disconnections list

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Pay by")
    def pay_by(self, notice):
        return notice_pay_by(notice)

    @admin.display(description="Letter")
    def letter_link(self, notice):
        url = reverse("admin:billing_disconnectionnotice_letter", args=[notice.pk])
        return format_html('<a href="{}">Download</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/letter/",
                self.admin_site.admin_view(self.letter_view),
                name="billing_disconnectionnotice_letter",
            ),
            *super().get_urls(),
        ]

    def letter_view(self, request, pk):
        notice = get_object_or_404(DisconnectionNotice.objects.select_related("account__customer"), pk=pk)
        response = HttpResponse(disconnection_letter_bytes(notice=notice), content_type="application/pdf")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=letter_filename(notice)
        )
        return response

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "candidates_url": reverse("billing-disconnections")}
        return super().changelist_view(request, extra_context)
