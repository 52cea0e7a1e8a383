"""The customer's money pages: account statement (with PDF and CSV), receipts, and how to pay (with the
UPI QR code as an image of its own, so the page keeps its Content-Security-Policy).

Each page shows the signed-in person's own account only; another account's receipt number is a 404,
like one that does not exist (docs/dashboard.md#account-pages).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from billing.customer_account import account_of, account_payment, account_payments, account_position, account_upi_uri
from billing.pdf import render_statement_pdf
from billing.receivables import account_statement
from billing.selectors import billing_today
from billing.services.receipts import receipt_pdf_bytes
from billing.statement_csv import statement_csv
from billing.statement_period import statement_filename
from billing.upi import upi_qr_svg
from dashboard.forms import StatementPeriodForm
from ops.ratelimits import rate_limit

NAV = {"nav_section": "payments"}
# Drawing a PDF is expensive: RATELIMIT_PDF per person, as for the invoice PDF API.
pdf_rate_limit = rate_limit(scope="pdf")


def _attachment(body, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


def _period_form(request) -> StatementPeriodForm:
    asked = "from" in request.GET or "to" in request.GET
    return StatementPeriodForm(request.GET if asked else None, today=billing_today())


def _period(form: StatementPeriodForm):
    """The period to show: the one asked for when it is valid, the default when nothing was asked."""
    if not form.is_bound:
        return form.initial["from"], form.initial["to"]
    return form.period() if form.is_valid() else None


@login_required
@require_GET
def statement(request):
    account = account_of(customer=request.user)
    form = _period_form(request)
    period = _period(form)
    context = {**NAV, "account": account, "form": form, "statement": None}
    if account is not None and period is not None:
        start, end = period
        context["statement"] = account_statement(account=account, start=start, end=end)
        context["download_query"] = urlencode({"from": start.isoformat(), "to": end.isoformat()})
    status = 400 if period is None else 200
    return render(request, "dashboard/statement.html", context, status=status)


def _statement_download(request, *, extension: str):
    account = account_of(customer=request.user)
    if account is None:
        raise Http404("No account yet.")
    form = _period_form(request)
    period = _period(form)
    if period is None:  # the page shows why
        return redirect(f"{reverse('dashboard:statement')}?{request.GET.urlencode()}")
    start, end = period
    found = account_statement(account=account, start=start, end=end)
    filename = statement_filename(consumer_number=account.consumer_number, start=start, end=end, extension=extension)
    if extension == "pdf":
        body = render_statement_pdf(found, today=billing_today())
        return _attachment(body, content_type="application/pdf", filename=filename)
    return _attachment(statement_csv(found), content_type="text/csv; charset=utf-8", filename=filename)


@login_required
@require_GET
@pdf_rate_limit
def statement_pdf(request):
    return _statement_download(request, extension="pdf")


@login_required
@require_GET
def statement_csv_download(request):
    return _statement_download(request, extension="csv")


@login_required
@require_GET
def receipts(request):
    account = account_of(customer=request.user)
    payments = list(account_payments(account=account)) if account is not None else []
    return render(request, "dashboard/receipts.html", {**NAV, "account": account, "payments": payments})


@login_required
@require_GET
@pdf_rate_limit
def receipt_pdf(request, number: str):
    account = account_of(customer=request.user)
    payment = account_payment(account=account, number=number) if account is not None else None
    if payment is None:
        raise Http404("No such receipt.")
    return _attachment(
        receipt_pdf_bytes(payment=payment), content_type="application/pdf", filename=payment.receipt_filename
    )


def _position_and_upi(request):
    account = account_of(customer=request.user)
    if account is None:
        return None, None
    position = account_position(account=account, today=billing_today())
    return position, account_upi_uri(position=position)


@login_required
@require_GET
def pay(request):
    position, upi_uri = _position_and_upi(request)
    context = {
        **NAV,
        "position": position,
        "upi_uri": upi_uri,
        "upi_vpa": settings.UTILITY_UPI_VPA,
        "bank_account": settings.UTILITY_BANK_ACCOUNT,
        "bank_ifsc": settings.UTILITY_BANK_IFSC,
        "utility_name": settings.UTILITY_NAME,
        "utility_address": settings.UTILITY_ADDRESS,
    }
    return render(request, "dashboard/pay.html", context)


@login_required
@require_GET
def pay_qr(request):
    """The UPI QR code for what is due now; 404 when there is nothing to pay or no UPI address."""
    _, upi_uri = _position_and_upi(request)
    if upi_uri is None:
        raise Http404("Nothing to pay by UPI.")
    response = HttpResponse(upi_qr_svg(upi_uri), content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-store"  # the amount changes with every payment
    return response
