"""Back office for credit and debit notes: the Note admin (read-only, with each note's PDF), and on an
invoice's page its notes, "Re-rate this month" (previewed before it is issued) and "Issue credit/debit
note". The invoice itself never changes. See docs/billing.md#credit-and-debit-notes."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header

from billing.models import Invoice, Note
from billing.pdf import rerate_rows
from billing.services.notes import NoteRefused, note_issue, note_pdf_bytes
from billing.services.rerate import RerateRefused, invoice_rerate, invoice_rerate_preview, tariff_in_force
from billing.templatetags.billing_format import format_inr


class RerateForm(forms.Form):
    closing_register = forms.DecimalField(
        label="Corrected closing register (kWh)",
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=3,
        help_text="Leave empty to keep the closing read as it stands.",
    )
    reprice = forms.BooleanField(label="Re-price with the tariff version now in force for the month", required=False)
    reason = forms.CharField(label="Reason (printed on the note)", max_length=500, widget=forms.Textarea({"rows": 2}))


class NoteForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=Note.Kind.choices)
    amount = forms.DecimalField(label="Amount (₹, tax included)", min_value=0.01, max_digits=12, decimal_places=2)
    description = forms.CharField(
        label="Description (printed on the note)", max_length=500, widget=forms.Textarea({"rows": 2})
    )


class InvoiceNotesAdminMixin:
    """The invoice page's notes and note actions (mixed into the Invoice admin)."""

    change_form_template = "admin/billing/invoice/change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/rerate/", view(self.rerate_view), name="billing_invoice_rerate"),
            path("<int:pk>/note/", view(self.note_view), name="billing_invoice_note"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        notes = Note.objects.filter(invoice_id=object_id) if str(object_id).isdigit() else Note.objects.none()
        extra_context = {
            **(extra_context or {}),
            "invoice_notes": notes.order_by("issued_at", "pk"),
            "can_issue_notes": self.has_change_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _issued_invoice(self, request, pk) -> Invoice:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(Invoice.objects.select_related("device", "tariff", "account"), pk=pk)

    def _page(self, request, invoice, *, title, form, action, submit, preview=None, status=200):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{title}: {invoice.number}",
            "heading": title,
            "invoice": invoice,
            "form": form,
            "action": action,
            "submit": submit,
            "preview": preview,
            "invoice_url": reverse("admin:billing_invoice_change", args=[invoice.pk]),
        }
        return TemplateResponse(request, "admin/billing/invoice/note_action.html", context, status=status)

    def _done(self, request, invoice, note) -> HttpResponseRedirect:
        messages.success(
            request,
            f"{note.get_kind_display()} {note.number} issued for {format_inr(note.amount)} on {invoice.number}; "
            "it is emailed to the customer.",
        )
        return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[invoice.pk]))

    def rerate_view(self, request, pk):
        """A form, then a preview of the difference, then (confirmed) the note."""
        invoice = self._issued_invoice(request, pk)
        page = {"title": "Re-rate this month", "action": reverse("admin:billing_invoice_rerate", args=[pk])}
        if request.method != "POST":
            return self._page(request, invoice, form=RerateForm(), submit="Preview the difference", **page)
        form = RerateForm(request.POST)
        if not form.is_valid():
            return self._page(request, invoice, form=form, submit="Preview the difference", status=400, **page)
        data = form.cleaned_data
        try:
            tariff = tariff_in_force(invoice=invoice) if data["reprice"] else None
            if "confirm" in request.POST:
                note = invoice_rerate(
                    invoice=invoice,
                    actor=request.user,
                    reason=data["reason"],
                    closing_register=data["closing_register"],
                    tariff=tariff,
                )
                return self._done(request, invoice, note)
            rerate = invoice_rerate_preview(invoice=invoice, closing_register=data["closing_register"], tariff=tariff)
        except RerateRefused as exc:
            form.add_error(None, str(exc))
            return self._page(request, invoice, form=form, submit="Preview the difference", status=400, **page)
        if rerate.kind is None:
            form.add_error(None, "Billed again, the month comes to what it stands at now: there is nothing to issue.")
            return self._page(request, invoice, form=form, submit="Preview the difference", status=400, **page)
        preview = {
            "rows": rerate_rows(rerate.detail(data["reason"]), invoice),
            "kind": Note.Kind(rerate.kind).label,
            "amount": rerate.amount,
            "description": rerate.description(data["reason"]),
        }
        submit = f"Issue {Note.Kind(rerate.kind).label.lower()} for {format_inr(rerate.amount)}"
        return self._page(request, invoice, form=form, submit=submit, preview=preview, **page)

    def note_view(self, request, pk):
        invoice = self._issued_invoice(request, pk)
        page = {"title": "Issue credit/debit note", "action": reverse("admin:billing_invoice_note", args=[pk])}
        if request.method != "POST":
            return self._page(request, invoice, form=NoteForm(), submit="Issue note", **page)
        form = NoteForm(request.POST)
        if form.is_valid():
            try:
                note = note_issue(
                    reason=Note.Reason.ADJUSTMENT, invoice=invoice, actor=request.user, **form.cleaned_data
                )
            except NoteRefused as exc:
                form.add_error(None, str(exc))
            else:
                return self._done(request, invoice, note)
        return self._page(request, invoice, form=form, submit="Issue note", status=400, **page)


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["number", "kind", "reason", "consumer_number", "invoice_link", "amount", "issued_at"]
    list_filter = ["kind", "reason"]
    search_fields = ["number", "account__consumer_number", "invoice__number", "description"]
    list_select_related = ["account", "invoice"]
    fields = [
        "number",
        "kind",
        "reason",
        "consumer_number",
        "invoice_link",
        "amount",
        "description",
        "detail",
        "issued_at",
        "issued_by",
        "emailed_at",
        "pdf_link",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # notes are issued from an invoice's page, the API or billing rules

    def has_change_permission(self, request, obj=None):
        return False  # an issued note never changes

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Consumer number", ordering="account__consumer_number")
    def consumer_number(self, note):
        return note.account.consumer_number

    @admin.display(description="Invoice", ordering="invoice__number")
    def invoice_link(self, note):
        if note.invoice is None:
            return "-"
        url = reverse("admin:billing_invoice_change", args=[note.invoice_id])
        return format_html('<a href="{}">{}</a>', url, note.invoice.number)

    @admin.display(description="PDF")
    def pdf_link(self, note):
        url = reverse("admin:billing_note_pdf", args=[note.pk])
        return format_html('<a href="{}">Download {}</a>', url, note.pdf_filename)

    def get_urls(self):
        return [
            path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_note_pdf"),
            *super().get_urls(),
        ]

    def pdf_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        note = get_object_or_404(Note.objects.select_related("account__customer", "invoice__device"), pk=pk)
        response = HttpResponse(note_pdf_bytes(note=note), content_type="application/pdf")
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=note.pdf_filename)
        return response
