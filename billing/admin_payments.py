"""Back office for receivables: record and reverse payments, download receipts, see accounts and the ledger.

Payments are recorded and reversed only through billing.services.payments, never by saving a
form; a payment, an account and a ledger entry are never edited or deleted here.
See docs/billing.md#payments.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db.models import Count, DecimalField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header, urlencode

from billing.models import Account, Invoice, LedgerEntry, Payment
from billing.numbering import is_consumer_number
from billing.pdf import render_statement_pdf
from billing.receivables import (
    account_balance,
    account_by_consumer_number,
    account_statement,
    payment_allocations,
    payment_unapplied,
    payments_with_allocations,
)
from billing.selectors import billing_today
from billing.services.payments import PaymentRefused, payment_record, payment_reverse
from billing.services.receipts import receipt_pdf_bytes
from billing.statement_csv import statement_csv
from billing.templatetags.billing_format import format_inr
from billing.zone import billing_zone

ZERO = Decimal("0.00")


def _local(moment: datetime) -> datetime:
    return moment.astimezone(billing_zone())


class RecordPaymentForm(forms.Form):
    consumer_number = forms.CharField(
        label="Consumer number",
        max_length=10,
        required=False,
        help_text="Ten digits, as printed on the bill. Or pick the account below.",
    )
    account = forms.ModelChoiceField(
        queryset=Account.objects.select_related("customer"),
        required=False,
        label="Or the account",
        widget=AutocompleteSelect(Payment._meta.get_field("account"), admin.site),
    )
    amount = forms.DecimalField(
        label="Amount (₹)",
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        error_messages={"min_value": "The amount must be more than zero."},
    )
    method = forms.ChoiceField(choices=Payment.Method.choices, initial=Payment.Method.CASH)
    reference = forms.CharField(
        max_length=120, required=False, help_text="Cheque number, UPI or bank reference (printed on the receipt)."
    )
    received_on = forms.DateField(
        label="Received on", initial=billing_today, help_text="The day the money was received (not in the future)."
    )

    def clean_consumer_number(self) -> str:
        number = self.cleaned_data["consumer_number"].strip()
        if number and not is_consumer_number(number):
            raise forms.ValidationError(f"{number} is not a consumer number (ten digits, the last a check digit).")
        return number

    def clean_received_on(self):
        received_on = self.cleaned_data["received_on"]
        today = billing_today()
        if received_on > today:
            raise forms.ValidationError(
                f"{received_on:%d %b %Y} is in the future; a payment is recorded once it is received "
                f"(today is {today:%d %b %Y})."
            )
        return received_on

    def clean(self):
        cleaned = super().clean()
        number, picked = cleaned.get("consumer_number"), cleaned.get("account")
        if "consumer_number" in self.errors:
            return cleaned
        if number:
            account = account_by_consumer_number(consumer_number=number)
            if account is None:
                self.add_error("consumer_number", f"No account has consumer number {number}.")
            elif picked is not None and picked.pk != account.pk:
                self.add_error("account", f"This account is not {number}: give one or the other.")
            else:
                cleaned["account"] = account
        elif picked is None and "account" not in self.errors:
            self.add_error("consumer_number", "Give the consumer number or pick the account.")
        return cleaned


class ReversePaymentForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Printed on the receipt and kept in the ledger, e.g. “Cheque returned unpaid”.",
    )


def settlement_summary(payment: Payment) -> str:
    """What a payment settled, in a sentence: each document and amount, then any credit left."""
    parts = [
        f"{allocation.charge.document_number} {format_inr(allocation.amount)}"
        for allocation in payment_allocations(payment=payment)
        if allocation.released_at is None
    ]
    unapplied = payment_unapplied(payment=payment)
    text = "settled " + ", ".join(parts) if parts else "settled nothing yet"
    if unapplied > ZERO:
        text += f"; {format_inr(unapplied)} is held as credit for the next bill"
    return text


class ReversedFilter(admin.SimpleListFilter):
    title = "reversed"
    parameter_name = "reversed"

    def lookups(self, request, model_admin):
        return [("yes", "Reversed"), ("no", "Not reversed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(reversed_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(reversed_at__isnull=True)
        return queryset


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    """Payments received. Added through "Record a payment"; read-only once recorded; reversed with a reason."""

    list_display = ["number", "consumer_number", "customer", "amount", "method", "received_on", "is_reversed"]
    list_filter = ["method", ReversedFilter, "received_on"]
    search_fields = ["number", "account__consumer_number", "reference", "account__customer__email"]
    list_select_related = ["account__customer"]
    date_hierarchy = "received_on"
    actions = None
    fields = [
        "number",
        "account_link",
        "customer",
        "amount",
        "method",
        "reference",
        "received_on",
        "recorded_at",
        "recorded_by",
        "settled",
        "unapplied",
        "reversal",
        "receipt_link",
        "receipt_emailed_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return payments_with_allocations().select_related("recorded_by", "reversed_by")

    def has_change_permission(self, request, obj=None):
        return False  # a recorded payment never changes; it can only be reversed

    def has_delete_permission(self, request, obj=None):
        return False

    def _may_reverse(self, request) -> bool:
        return request.user.has_perm("billing.change_payment")

    # --- columns and fields ----------------------------------------------------------------------

    @admin.display(description="Consumer number", ordering="account__consumer_number")
    def consumer_number(self, payment):
        return payment.account.consumer_number

    @admin.display(description="Customer", ordering="account__customer__email")
    def customer(self, payment):
        customer = payment.account.customer
        return f"{customer.display_name} <{customer.email}>"

    @admin.display(description="Reversed", boolean=True, ordering="reversed_at")
    def is_reversed(self, payment):
        return payment.is_reversed

    @admin.display(description="Account")
    def account_link(self, payment):
        url = reverse("admin:billing_account_change", args=[payment.account_id])
        return format_html('<a href="{}">{}</a>', url, payment.account.consumer_number)

    @admin.display(description="Settled")
    def settled(self, payment):
        rows = [
            (
                allocation.charge.get_kind_display(),
                allocation.charge.document_number,
                format_inr(allocation.amount),
                f"released {_local(allocation.released_at):%d %b %Y}" if allocation.released_at else "",
            )
            for allocation in payment_allocations(payment=payment)
        ]
        if not rows:
            return "Nothing (all of it is credit)"
        body = format_html_join("", "<tr><td>{} {}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html('<table class="sm-allocations"><tbody>{}</tbody></table>', body)

    @admin.display(description="Held as credit")
    def unapplied(self, payment):
        return format_inr(payment_unapplied(payment=payment))

    @admin.display(description="Reversed")
    def reversal(self, payment):
        if not payment.is_reversed:
            return "No"
        by = payment.reversed_by.email if payment.reversed_by else "system"
        return f"{_local(payment.reversed_at):%d %b %Y %H:%M} by {by}: {payment.reversal_reason}"

    @admin.display(description="Receipt")
    def receipt_link(self, payment):
        url = reverse("admin:billing_payment_receipt", args=[payment.pk])
        return format_html('<a href="{}">Download {}</a>', url, payment.receipt_filename)

    # --- pages -------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/receipt/", view(self.receipt_view), name="billing_payment_receipt"),
            path("<int:pk>/reverse/", view(self.reverse_view), name="billing_payment_reverse"),
            *super().get_urls(),
        ]

    def _page(self, request, template, context, status=200):
        context = {**self.admin_site.each_context(request), "opts": self.opts, **context}
        return TemplateResponse(request, f"admin/billing/payment/{template}", context, status=status)

    def add_view(self, request, form_url="", extra_context=None):
        """Record a payment: the service numbers it, posts it and allocates it to the oldest open bills."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = RecordPaymentForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    payment = payment_record(
                        account=data["account"],
                        amount=data["amount"],
                        method=data["method"],
                        received_on=data["received_on"],
                        reference=data["reference"],
                        actor=request.user,
                    )
                except PaymentRefused as exc:
                    form.add_error(None, str(exc))
                else:
                    payment = payments_with_allocations().get(pk=payment.pk)
                    messages.success(
                        request,
                        f"Receipt {payment.number}: {format_inr(payment.amount)} from "
                        f"{payment.account.consumer_number} {settlement_summary(payment)}.",
                    )
                    return HttpResponseRedirect(reverse("admin:billing_payment_change", args=[payment.pk]))
            status = 400
        else:
            form = RecordPaymentForm(initial=self._prefill(request))
            status = 200
        return self._page(
            request,
            "record.html",
            {"title": "Record a payment", "form": form, "media": self.media + form.media},
            status=status,
        )

    def _prefill(self, request) -> dict:
        """?consumer_number=&amount= from an invoice's "Record a payment" link."""
        initial = {}
        for name in ("consumer_number", "amount"):
            value = request.GET.get(name, "").strip()
            if value:
                initial[name] = value[:20]
        return initial

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "may_reverse": self._may_reverse(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def receipt_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("account__customer"), pk=pk)
        response = HttpResponse(receipt_pdf_bytes(payment=payment), content_type="application/pdf")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=payment.receipt_filename
        )
        return response

    def reverse_view(self, request, pk):
        """Reverse a payment (a bounced cheque): asks for the reason, then reopens what it settled."""
        if not self._may_reverse(request):
            raise PermissionDenied
        payment = get_object_or_404(payments_with_allocations(), pk=pk)
        change_url = reverse("admin:billing_payment_change", args=[payment.pk])
        if payment.is_reversed:
            reversed_on = _local(payment.reversed_at)
            messages.error(request, f"Payment {payment.number} was already reversed on {reversed_on:%d %b %Y}.")
            return HttpResponseRedirect(change_url)
        form = ReversePaymentForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                payment = payment_reverse(payment=payment, reason=form.cleaned_data["reason"], actor=request.user)
            except PaymentRefused as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(change_url)
            messages.success(
                request,
                f"Payment {payment.number} reversed; what it settled is open again. "
                f"The account's balance is {format_inr(account_balance(account=payment.account))}.",
            )
            return HttpResponseRedirect(change_url)
        return self._page(
            request,
            "reverse.html",
            {"title": f"Reverse payment {payment.number}", "payment": payment, "form": form, "change_url": change_url},
            status=400 if form.is_bound else 200,
        )


def record_payment_url(*, consumer_number: str = "", amount: Decimal | None = None) -> str:
    """The "Record a payment" page, prefilled."""
    query = {"consumer_number": consumer_number} if consumer_number else {}
    if amount is not None:
        query["amount"] = str(amount)
    url = reverse("admin:billing_payment_add")
    return f"{url}?{urlencode(query)}" if query else url


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """Customer accounts: what each owes, its open bills, its statement. Accounts open with the first bill."""

    list_display = ["consumer_number", "customer", "balance", "open_invoices", "opened_at"]
    search_fields = ["consumer_number", "customer__email", "customer__name"]
    list_select_related = ["customer"]
    actions = None
    fields = ["consumer_number", "customer", "opened_at", "balance", "open_invoices", "statement", "record_payment"]
    readonly_fields = fields

    def get_queryset(self, request):
        balance = (
            LedgerEntry.objects.filter(account=OuterRef("pk"))
            .values("account")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        open_invoices = (
            Invoice.objects.filter(account=OuterRef("pk"), status__in=[Invoice.Status.ISSUED, Invoice.Status.OVERDUE])
            .values("account")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                ledger_balance=Coalesce(Subquery(balance), ZERO, output_field=DecimalField()),
                open_invoice_count=Coalesce(Subquery(open_invoices), 0),
            )
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Balance (owed)", ordering="ledger_balance")
    def balance(self, account):
        return format_inr(account.ledger_balance)

    @admin.display(description="Open invoices", ordering="open_invoice_count")
    def open_invoices(self, account):
        url = reverse("admin:billing_invoice_changelist")
        query = urlencode({"account__id__exact": account.pk, "status__in": "issued,overdue"})
        return format_html('<a href="{}?{}">{}</a>', url, query, account.open_invoice_count)

    @admin.display(description="Statement")
    def statement(self, account):
        pdf = reverse("admin:billing_account_statement", args=[account.pk, "pdf"])
        csv = reverse("admin:billing_account_statement", args=[account.pk, "csv"])
        return format_html('<a href="{}">PDF</a> · <a href="{}">CSV</a>', pdf, csv)

    @admin.display(description="Payment")
    def record_payment(self, account):
        url = record_payment_url(consumer_number=account.consumer_number)
        return format_html('<a href="{}">Record a payment</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/statement.<str:kind>",
                self.admin_site.admin_view(self.statement_view),
                name="billing_account_statement",
            ),
            *super().get_urls(),
        ]

    def statement_view(self, request, pk, kind):
        """The account's whole statement, as PDF or CSV."""
        if not self.has_view_permission(request) or kind not in ("pdf", "csv"):
            raise PermissionDenied
        account = get_object_or_404(Account.objects.select_related("customer"), pk=pk)
        statement = account_statement(account=account)
        filename = f"statement-{account.consumer_number}.{kind}"
        if kind == "pdf":
            response = HttpResponse(
                render_statement_pdf(statement, today=billing_today()), content_type="application/pdf"
            )
        else:
            response = HttpResponse(statement_csv(statement), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
        return response


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """The ledger as it was posted: entries are only ever added, by the services."""

    list_display = ["posted_on", "consumer_number", "kind", "document_number", "amount", "description"]
    list_filter = ["kind", "posted_on"]
    search_fields = ["document_number", "account__consumer_number", "account__customer__email"]
    list_select_related = ["account"]
    date_hierarchy = "posted_on"
    ordering = ["-posted_on", "-pk"]
    actions = None

    @admin.display(description="Consumer number", ordering="account__consumer_number")
    def consumer_number(self, entry):
        return entry.account.consumer_number

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
