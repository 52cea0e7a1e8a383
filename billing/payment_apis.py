"""Payments API: staff record, list and reverse payments; staff and the paying customer download receipts.
Rules: docs/billing.md#payments."""

from functools import partial

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.apis import Conflict, PdfApi, StaffOnly, pdf_response
from billing.models import Payment
from billing.payment_serializers import (
    PaymentInputSerializer,
    PaymentListQuerySerializer,
    PaymentOutputSerializer,
    PaymentReverseInputSerializer,
    PaymentWithBalanceOutputSerializer,
)
from billing.receivables import (
    account_balance,
    account_by_consumer_number,
    payment_get_visible,
    payment_list,
    payments_with_allocations,
)
from billing.selectors import billing_today
from billing.services.payments import PaymentRefused, payment_record, payment_reverse
from billing.services.receipts import receipt_pdf_bytes
from billing.zone import billing_zone
from smartmeter.pagination import paginate


def _with_balance(payment: Payment, request) -> dict:
    payment = payments_with_allocations().get(pk=payment.pk)
    context = {"request": request, "balance": account_balance(account=payment.account)}
    return PaymentWithBalanceOutputSerializer(payment, context=context).data


class PaymentListApi(APIView):
    permission_classes = [IsAuthenticated, StaffOnly]

    @extend_schema(
        parameters=[PaymentListQuerySerializer],
        responses={200: PaymentOutputSerializer(many=True)},
    )
    def get(self, request):
        """Payments, newest first (received date, then receipt number); `consumer_number` keeps one account's."""
        query = PaymentListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return paginate(
            request=request,
            view=self,
            queryset=payment_list(consumer_number=query.validated_data.get("consumer_number")),
            serializer_class=partial(PaymentOutputSerializer, context={"request": request}),
        )

    @extend_schema(request=PaymentInputSerializer, responses={201: PaymentWithBalanceOutputSerializer})
    def post(self, request):
        """Record money received: a receipt number, allocation to the oldest open bills, the receipt emailed."""
        serializer = PaymentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = account_by_consumer_number(consumer_number=data["consumer_number"])
        if account is None:
            raise ValidationError({"consumer_number": [f"No account has consumer number {data['consumer_number']}."]})
        try:
            payment = payment_record(
                account=account,
                amount=data["amount"],
                method=data["method"],
                received_on=data.get("received_on") or billing_today(),
                reference=data["reference"],
                actor=request.user,
            )
        except PaymentRefused as exc:
            raise ValidationError({"detail": str(exc)}) from None
        response = Response(_with_balance(payment, request), status=status.HTTP_201_CREATED)
        response["Location"] = f"/api/payments/{payment.number}/receipt"
        return response


class PaymentReverseApi(APIView):
    permission_classes = [IsAuthenticated, StaffOnly]

    @extend_schema(request=PaymentReverseInputSerializer, responses={200: PaymentWithBalanceOutputSerializer})
    def post(self, request, receipt_number):
        """Reverse a payment (a bounced cheque): what it settled is open again. 409 when already reversed."""
        payment = payment_get_visible(user=request.user, number=receipt_number)
        if payment is None:
            raise NotFound(f"No payment '{receipt_number}'.")
        serializer = PaymentReverseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if payment.is_reversed:
            reversed_on = payment.reversed_at.astimezone(billing_zone())
            raise Conflict(f"Payment {payment.number} was already reversed on {reversed_on:%Y-%m-%d}.")
        try:
            payment = payment_reverse(payment=payment, reason=serializer.validated_data["reason"], actor=request.user)
        except PaymentRefused as exc:
            # Reversed meanwhile by someone else (the service re-reads under a lock): a conflict; else bad input.
            if Payment.objects.filter(pk=payment.pk, reversed_at__isnull=False).exists():
                raise Conflict(str(exc)) from None
            raise ValidationError({"detail": str(exc)}) from None
        return Response(_with_balance(payment, request))


class PaymentReceiptApi(PdfApi):
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, receipt_number):
        """The receipt PDF, for staff or the customer who paid (anyone else gets 404, as for a missing one)."""
        payment = payment_get_visible(user=request.user, number=receipt_number)
        if payment is None:
            raise NotFound(f"No receipt '{receipt_number}'.")
        return pdf_response(receipt_pdf_bytes(payment=payment), filename=payment.receipt_filename)
