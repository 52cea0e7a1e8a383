"""Customer account API: where the account stands, its statement (JSON, CSV or PDF) and its payments.

A customer sees their own account; staff name one with ``?consumer_number=``. Another customer's
consumer number is the same 404 as one that does not exist. Rules: docs/billing.md#account-api.
"""

from __future__ import annotations

from functools import partial

from django.urls import reverse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.apis import PdfApi, pdf_response
from billing.customer_account import (
    account_of,
    account_payments,
    account_position,
    account_upi_uri,
)
from billing.models import Account
from billing.numbering import is_consumer_number
from billing.pdf import render_statement_pdf
from billing.receivables import account_by_consumer_number, account_statement, payment_get_visible
from billing.selectors import billing_today
from billing.services.receipts import receipt_pdf_bytes
from billing.statement_csv import statement_csv
from billing.statement_period import statement_filename, statement_period_default, statement_period_problems
from smartmeter.pagination import paginate

CONSUMER_NUMBER_PARAMETER = OpenApiParameter(
    "consumer_number", str, description="Staff only: the account to read (default: the caller's own)."
)
MONEY = partial(serializers.DecimalField, max_digits=12, decimal_places=2)


def account_requested(request) -> Account:
    """The caller's account, or for staff the one ``?consumer_number=`` names."""
    number = request.query_params.get("consumer_number")
    if number is None:
        account = account_of(customer=request.user)
        if account is None:
            raise NotFound("No account yet: it opens with the first bill.")
        return account
    if not is_consumer_number(number):
        raise ValidationError({"consumer_number": ["A consumer number is ten digits, the last a check digit."]})
    account = account_by_consumer_number(consumer_number=number)
    if account is None or not (request.user.is_staff or account.customer_id == request.user.pk):
        raise NotFound(f"No account '{number}'.")
    return account


class OpenChargeSerializer(serializers.Serializer):
    kind = serializers.CharField()
    document_number = serializers.CharField()
    posted_on = serializers.DateField()
    amount = MONEY()
    open_amount = MONEY()
    due_date = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    def get_due_date(self, charge) -> str | None:
        return charge.invoice.due_date.isoformat() if charge.invoice_id else None

    def get_pdf_url(self, charge) -> str | None:
        if not charge.invoice_id:
            return None
        path = reverse("invoice-pdf", kwargs={"invoice_id": charge.invoice.number})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class AccountOutputSerializer(serializers.Serializer):
    consumer_number = serializers.CharField(source="account.consumer_number")
    balance = MONEY(help_text="What is owed; negative: credit in the customer's favour.")
    credit = MONEY()
    amount_due = MONEY(help_text="The open charges' total: what to pay now.")
    due_date = serializers.DateField(allow_null=True, help_text="The earliest due date among the open invoices.")
    overdue = serializers.BooleanField()
    upi_uri = serializers.CharField(allow_null=True, help_text="upi://pay link for the amount due, if offered.")
    open_charges = OpenChargeSerializer(many=True, help_text="Open invoices and debit notes, oldest first.")


class AccountApi(APIView):
    @extend_schema(parameters=[CONSUMER_NUMBER_PARAMETER], responses={200: AccountOutputSerializer})
    def get(self, request):
        """The account: consumer number, balance, what is due now and by when, and the open invoices."""
        position = account_position(account=account_requested(request), today=billing_today())
        position_data = {
            "account": position.account,
            "balance": position.balance,
            "credit": position.credit,
            "amount_due": position.amount_due,
            "due_date": position.due_date,
            "overdue": position.overdue,
            "upi_uri": account_upi_uri(position=position),
            "open_charges": position.open_charges,
        }
        return Response(AccountOutputSerializer(position_data, context={"request": request}).data)


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class PdfRenderer(BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class StatementQuerySerializer(serializers.Serializer):
    to = serializers.DateField(required=False)

    def __init__(self, *args, today, **kwargs):
        self.today = today
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField(required=False)  # a keyword: no class attribute

    def validate(self, attrs):
        default_start, default_end = statement_period_default(today=self.today)
        attrs.setdefault("from", default_start)
        attrs.setdefault("to", default_end)
        problems = statement_period_problems(start=attrs["from"], end=attrs["to"], today=self.today)
        if problems:
            raise ValidationError({name: [message] for name, message in problems.items()})
        return attrs


class StatementLineSerializer(serializers.Serializer):
    date = serializers.DateField(source="entry.posted_on")
    kind = serializers.CharField(source="entry.kind")
    document_number = serializers.CharField(source="entry.document_number")
    description = serializers.CharField(source="entry.description")
    charge = MONEY(source="debit", allow_null=True)
    credit = MONEY(allow_null=True)
    balance = MONEY()


class StatementOutputSerializer(serializers.Serializer):
    consumer_number = serializers.CharField(source="account.consumer_number")
    start = serializers.DateField()
    end = serializers.DateField()
    opening_balance = MONEY()
    total_charges = MONEY(source="total_debits")
    total_credits = MONEY()
    closing_balance = MONEY()
    lines = StatementLineSerializer(many=True)


class StatementApi(APIView):
    renderer_classes = [JSONRenderer, CsvRenderer, PdfRenderer]

    @property
    def ratelimit_scope(self) -> str | None:
        """Only the PDF is expensive to draw: RATELIMIT_PDF per user, as for invoice PDFs."""
        renderer = getattr(self.request, "accepted_renderer", None)
        return "pdf" if renderer is not None and renderer.format == "pdf" else None

    def handle_exception(self, exc):
        # Errors answer JSON whatever format was asked for.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: a year before `to`)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (default: today); at most five years."),
            OpenApiParameter("format", str, enum=["json", "csv", "pdf"], description="Or ask with Accept."),
            CONSUMER_NUMBER_PARAMETER,
        ],
        responses={
            (200, "application/json"): StatementOutputSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/pdf"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request):
        """The account's entries for a period with the balance brought forward and a running balance."""
        account = account_requested(request)
        today = billing_today()
        query = StatementQuerySerializer(data=request.query_params, today=today)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["from"], query.validated_data["to"]
        statement = account_statement(account=account, start=start, end=end)
        kind = request.accepted_renderer.format
        if kind == "json":
            return Response(StatementOutputSerializer(statement).data)
        filename = statement_filename(consumer_number=account.consumer_number, start=start, end=end, extension=kind)
        body = statement_csv(statement) if kind == "csv" else render_statement_pdf(statement, today=today)
        headers = {
            "Content-Disposition": content_disposition_header(as_attachment=True, filename=filename),
            "Cache-Control": "private, no-store",
        }
        return Response(body, headers=headers)


class ReceiptOutputSerializer(serializers.Serializer):
    number = serializers.CharField()
    received_on = serializers.DateField()
    method = serializers.CharField()
    reference = serializers.CharField()
    amount = MONEY()
    reversed = serializers.BooleanField(source="is_reversed")
    reversal_reason = serializers.CharField()
    pdf_url = serializers.SerializerMethodField()

    def get_pdf_url(self, payment) -> str:
        path = reverse("account-receipt-pdf", kwargs={"receipt_number": payment.number})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ReceiptListApi(APIView):
    @extend_schema(parameters=[CONSUMER_NUMBER_PARAMETER], responses={200: ReceiptOutputSerializer(many=True)})
    def get(self, request):
        """The account's payments, newest first; reversed ones are marked."""
        return paginate(
            request=request,
            view=self,
            queryset=account_payments(account=account_requested(request)),
            serializer_class=partial(ReceiptOutputSerializer, context={"request": request}),
        )


class ReceiptPdfApi(PdfApi):
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, receipt_number):
        """A payment's receipt as PDF (the caller's own; staff: any)."""
        payment = payment_get_visible(user=request.user, number=receipt_number)
        if payment is None:
            raise NotFound(f"No receipt '{receipt_number}'.")
        return pdf_response(receipt_pdf_bytes(payment=payment), filename=payment.receipt_filename)
