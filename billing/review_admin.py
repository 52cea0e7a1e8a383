"""The "Bills to review" admin: the queue of bills held for review, and each one's review page
(the month's register chart, why it is held, approve and send, correct the closing read).
See docs/operations.md#reviewing-held-bills."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from billing.models import HeldInvoice, Invoice
from billing.selectors import invoice_excluded_rows, invoice_review_chart, invoices_trailing_average_kwh
from billing.services import InvoiceReviewRefused, invoice_approve, invoice_correct_closing


class CorrectClosingForm(forms.Form):
    closing_register = forms.DecimalField(label="Closing register (kWh)", min_value=0, max_digits=14, decimal_places=3)
    reason = forms.CharField(label="Reason", max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class HeldChangeList(ChangeList):
    """Adds each listed bill's trailing average (one query for the page)."""

    def get_results(self, request):
        super().get_results(request)
        averages = invoices_trailing_average_kwh(list(self.result_list))
        for invoice in self.result_list:
            invoice.trailing_average_kwh = averages.get(invoice.pk)


@admin.register(HeldInvoice)
class HeldInvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "meter",
        "customer_email",
        "month_label",
        "energy_kwh",
        "trailing_average",
        "total",
        "reasons",
    ]
    list_select_related = ["device"]
    search_fields = ["number", "device__device_id", "customer_email", "customer_name"]
    ordering = ["month", "number"]
    actions = None

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=Invoice.Status.HELD)

    def get_changelist(self, request, **kwargs):
        return HeldChangeList

    def has_add_permission(self, request):
        return False  # bills come from billing runs only

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Meter", ordering="device__device_id")
    def meter(self, invoice):
        return invoice.device.device_id

    @admin.display(description="Month", ordering="month")
    def month_label(self, invoice):
        return invoice.month_label

    @admin.display(description="Previous 3 months' average (kWh)")
    def trailing_average(self, invoice):
        value = getattr(invoice, "trailing_average_kwh", None)
        return "-" if value is None else value

    @admin.display(description="Why held")
    def reasons(self, invoice):
        return format_html_join("", "<div>{}</div>", ((reason,) for reason in invoice.held_reasons))

    # --- The review page -----------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", view(require_POST(self.approve_view)), name="billing_heldinvoice_approve"),
            path("<int:pk>/correct/", view(require_POST(self.correct_view)), name="billing_heldinvoice_correct"),
            *super().get_urls(),
        ]

    def _held(self, request, pk) -> Invoice:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request).select_related("device", "tariff"), pk=pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        invoice = Invoice.objects.select_related("device", "tariff", "reviewed_by").filter(pk=object_id).first()
        if invoice is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not invoice.is_held:
            messages.info(request, f"{invoice.number} is no longer held ({invoice.get_status_display().lower()}).")
            return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[invoice.pk]))
        return self._review_page(request, invoice, CorrectClosingForm())

    def _review_page(self, request, invoice, form, status=200):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Review {invoice.number}",
            "invoice": invoice,
            "review": invoice_review_chart(invoice=invoice),
            "excluded_rows": invoice_excluded_rows(invoice=invoice),
            "trailing_average": invoices_trailing_average_kwh([invoice]).get(invoice.pk),
            "form": form,
            "due_days": settings.INVOICE_DUE_DAYS,
            "can_change": self.has_change_permission(request),
            "approve_url": reverse("admin:billing_heldinvoice_approve", args=[invoice.pk]),
            "correct_url": reverse("admin:billing_heldinvoice_correct", args=[invoice.pk]),
            "invoice_url": reverse("admin:billing_invoice_change", args=[invoice.pk]),
            "pdf_url": reverse("admin:billing_invoice_pdf", args=[invoice.pk]),
        }
        return TemplateResponse(request, "admin/billing/heldinvoice/review.html", context, status=status)

    def approve_view(self, request, pk):
        invoice = self._held(request, pk)
        try:
            invoice = invoice_approve(invoice=invoice, actor=request.user)
        except InvoiceReviewRefused as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:billing_heldinvoice_changelist"))
        messages.success(
            request,
            f"{invoice.number} issued, due {invoice.due_date:%d %b %Y}; it is emailed to {invoice.customer_email}.",
        )
        return HttpResponseRedirect(reverse("admin:billing_heldinvoice_changelist"))

    def correct_view(self, request, pk):
        invoice = self._held(request, pk)
        form = CorrectClosingForm(request.POST)
        if form.is_valid():
            try:
                invoice = invoice_correct_closing(
                    invoice=invoice,
                    closing_register=form.cleaned_data["closing_register"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except InvoiceReviewRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    format_html(
                        "{}: closing register {} kWh, energy {} kWh, total ₹{}. Still held: approve it to send it.",
                        invoice.number,
                        invoice.end_register,
                        invoice.energy_kwh,
                        invoice.total,
                    ),
                )
                return HttpResponseRedirect(reverse("admin:billing_heldinvoice_change", args=[invoice.pk]))
        return self._review_page(request, invoice, form, status=400)
