"""Back office for bank statements: upload a statement, see what it recorded, and match or ignore the
lines waiting for staff. See docs/billing.md#bank-statement-import."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing.models import Account, BankStatementLine
from billing.numbering import is_consumer_number
from billing.services.bank_import import (
    BankImportRefused,
    BankLineRefused,
    bank_line_ignore,
    bank_line_match,
    bank_statement_import,
)

RECORD_PERMISSION = "billing.add_payment"
IGNORE_PERMISSION = "billing.change_bankstatementline"


class BankStatementUploadForm(forms.Form):
    file = forms.FileField(
        label="Statement (CSV)",
        help_text="UTF-8 CSV with a header row: a date (Date, Value Date, Txn Date), a credit amount (Amount, "
        "Credit, Deposit) and a narration (Narration, Description, Reference, Remarks, Particulars).",
    )


class MatchLineForm(forms.Form):
    consumer_number = forms.CharField(label="Consumer number", max_length=10, min_length=10)

    def clean_consumer_number(self) -> Account:
        number = self.cleaned_data["consumer_number"].strip()
        if not is_consumer_number(number):
            raise forms.ValidationError("Not a consumer number: ten digits starting with 1, the last a check digit.")
        account = Account.objects.select_related("customer").filter(consumer_number=number).first()
        if account is None:
            raise forms.ValidationError(f"No account has consumer number {number}.")
        return account


class IgnoreLineForm(forms.Form):
    reason = forms.CharField(label="Why it is not a customer's payment", max_length=180)


@admin.register(BankStatementLine)
class BankStatementLineAdmin(admin.ModelAdmin):
    list_display = ["received_on", "amount", "narration", "status", "problem", "receipt", "handle"]
    list_filter = ["status", "received_on"]
    search_fields = ["narration"]
    list_select_related = ["payment__account"]
    date_hierarchy = "received_on"
    ordering = ["-imported_at", "line_number"]
    actions = None
    change_list_template = "admin/billing/bankstatementline/change_list.html"
    fields = [
        "received_on",
        "amount",
        "narration",
        "status",
        "problem",
        "receipt",
        "import_batch",
        "line_number",
        "imported_at",
        "imported_by",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # lines come from uploaded statements only

    def has_change_permission(self, request, obj=None):
        return False  # matched or ignored through their own pages

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        """Narration words, or an amount (``1,234.50`` finds 1234.50 exactly)."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        try:
            amount = Decimal(search_term.strip().replace(",", "").lstrip("₹"))
        except InvalidOperation:
            return results, duplicates
        if amount.is_finite():
            results |= queryset.filter(amount=amount)
        return results, duplicates

    @admin.display(description="Receipt", ordering="payment__number")
    def receipt(self, line):
        if line.payment_id is None:
            return "–"
        return f"{line.payment.number} ({line.payment.account.consumer_number})"

    @admin.display(description="")
    def handle(self, line):
        if line.status != BankStatementLine.Status.UNMATCHED:
            return ""
        return format_html(
            '<a href="{}">Match to account</a> · <a href="{}">Ignore</a>',
            reverse("admin:billing_bankstatementline_match", args=[line.pk]),
            reverse("admin:billing_bankstatementline_ignore", args=[line.pk]),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": request.user.has_perm(RECORD_PERMISSION)}
        return super().changelist_view(request, extra_context)

    # --- pages ----------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="billing_bankstatementline_import"),
            path("<int:pk>/match/", view(self.match_view), name="billing_bankstatementline_match"),
            path("<int:pk>/ignore/", view(self.ignore_view), name="billing_bankstatementline_ignore"),
            *super().get_urls(),
        ]

    def _page(self, request, template: str, title: str, status: int = 200, **context):
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context}
        return TemplateResponse(request, f"admin/billing/bankstatementline/{template}", context, status=status)

    def import_view(self, request):
        if not request.user.has_perm(RECORD_PERMISSION):
            raise PermissionDenied
        form = BankStatementUploadForm(request.POST or None, request.FILES or None)
        outcome, refused = None, ""
        if request.method == "POST" and form.is_valid():
            try:
                outcome = bank_statement_import(file=form.cleaned_data["file"], actor=request.user)
            except BankImportRefused as exc:
                refused = str(exc)
        status = 400 if request.method == "POST" and outcome is None else 200
        return self._page(
            request,
            "import.html",
            "Import bank statement",
            status=status,
            form=form,
            outcome=outcome,
            refused=refused,
            max_rows=settings.BANK_IMPORT_MAX_ROWS,
            max_megabytes=settings.BANK_IMPORT_MAX_BYTES / 1_000_000,
            waiting_url=reverse("admin:billing_bankstatementline_changelist") + "?status__exact=unmatched",
        )

    def _waiting_line(self, request, pk: int, permission: str) -> BankStatementLine:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return get_object_or_404(BankStatementLine, pk=pk)

    def _back(self, request, line: BankStatementLine, error: str):
        messages.error(request, error)
        return HttpResponseRedirect(reverse("admin:billing_bankstatementline_changelist"))

    def match_view(self, request, pk):
        line = self._waiting_line(request, pk, RECORD_PERMISSION)
        if line.status != BankStatementLine.Status.UNMATCHED:
            return self._back(request, line, f"That line is already {line.get_status_display().lower()}.")
        form = MatchLineForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            account = form.cleaned_data["consumer_number"]
            try:
                payment = bank_line_match(line=line, account=account, actor=request.user)
            except BankLineRefused as exc:
                return self._back(request, line, str(exc))
            messages.success(
                request, f"Recorded ₹{payment.amount} for {account.consumer_number} as receipt {payment.number}."
            )
            return HttpResponseRedirect(reverse("admin:billing_bankstatementline_changelist"))
        status = 400 if request.method == "POST" else 200
        return self._page(request, "match.html", "Match a statement line to an account", status, line=line, form=form)

    def ignore_view(self, request, pk):
        line = self._waiting_line(request, pk, IGNORE_PERMISSION)
        if line.status != BankStatementLine.Status.UNMATCHED:
            return self._back(request, line, f"That line is already {line.get_status_display().lower()}.")
        form = IgnoreLineForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                bank_line_ignore(line=line, reason=form.cleaned_data["reason"], actor=request.user)
            except BankLineRefused as exc:
                return self._back(request, line, str(exc))
            messages.success(request, f"Line {line.line_number} ({line.amount} on {line.received_on}) ignored.")
            return HttpResponseRedirect(reverse("admin:billing_bankstatementline_changelist"))
        status = 400 if request.method == "POST" else 200
        return self._page(request, "ignore.html", "Ignore a statement line", status, line=line, form=form)
