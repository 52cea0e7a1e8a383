"""Input and output shapes of the payments API (POST/GET /api/payments, reverse, receipt)."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import Allocation, Payment
from billing.numbering import is_consumer_number
from billing.receivables import payment_allocations, payment_unapplied
from billing.selectors import billing_today

MONEY = serializers.DecimalField(max_digits=12, decimal_places=2)  # how computed amounts are documented
METHODS = ", ".join(Payment.Method.values)


class PaymentInputSerializer(serializers.Serializer):
    consumer_number = serializers.CharField(max_length=10, help_text="The account's ten-digit consumer number.")
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text='Rupees as a string, at most two decimals ("1268.50").',
        error_messages={
            "invalid": 'The amount must be a number of rupees, as a string such as "1268.50".',
            "min_value": "The amount must be more than zero.",
            "max_decimal_places": "The amount must have at most two decimal places (paise).",
            "max_digits": "The amount must fit 10 digits of rupees.",
            "max_whole_digits": "The amount must fit 10 digits of rupees.",
        },
    )
    method = serializers.ChoiceField(
        choices=Payment.Method.choices,
        error_messages={"invalid_choice": f'Unknown payment method "{{input}}"; use one of {METHODS}.'},
    )
    reference = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default="", help_text="Cheque number, UPI or bank reference."
    )
    received_on = serializers.DateField(
        required=False, help_text="The day the money was received (YYYY-MM-DD); default: today. Not in the future."
    )

    def validate_consumer_number(self, value: str) -> str:
        if not is_consumer_number(value):
            raise serializers.ValidationError(f"{value} is not a consumer number (ten digits, the last a check digit).")
        return value

    def validate_received_on(self, value):
        today = billing_today()
        if value > today:
            raise serializers.ValidationError(
                f"{value.isoformat()} is in the future; a payment is recorded once it is received "
                f"(today is {today.isoformat()})."
            )
        return value


class PaymentReverseInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=200,
        help_text="Why (a bounced cheque, a charge-back); kept on the payment and its receipt.",
        error_messages={
            "blank": "Say why the payment is reversed.",
            "required": "Say why the payment is reversed.",
        },
    )


class PaymentListQuerySerializer(serializers.Serializer):
    consumer_number = serializers.CharField(max_length=10, required=False, help_text="Only this account's payments.")

    def validate_consumer_number(self, value: str) -> str:
        if not is_consumer_number(value):
            raise serializers.ValidationError(f"{value} is not a consumer number (ten digits, the last a check digit).")
        return value


class AllocationOutputSerializer(serializers.ModelSerializer):
    document_number = serializers.CharField(source="charge.document_number", help_text="The invoice or debit note.")
    kind = serializers.CharField(source="charge.kind")
    released = serializers.SerializerMethodField(help_text="True once the payment was reversed.")

    class Meta:
        model = Allocation
        fields = ["document_number", "kind", "amount", "released", "released_at"]
        read_only_fields = fields

    def get_released(self, allocation) -> bool:
        return allocation.released_at is not None


class PaymentOutputSerializer(serializers.ModelSerializer):
    receipt_number = serializers.CharField(source="number")
    consumer_number = serializers.CharField(source="account.consumer_number")
    reversed = serializers.BooleanField(source="is_reversed")
    allocations = serializers.SerializerMethodField()
    unapplied = serializers.SerializerMethodField(help_text="What settles nothing yet: credit for the next bill.")
    receipt_url = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = [
            "receipt_number",
            "consumer_number",
            "amount",
            "method",
            "reference",
            "received_on",
            "recorded_at",
            "allocations",
            "unapplied",
            "reversed",
            "reversed_at",
            "reversal_reason",
            "receipt_url",
        ]
        read_only_fields = fields

    @extend_schema_field(AllocationOutputSerializer(many=True))
    def get_allocations(self, payment) -> list[dict]:
        return AllocationOutputSerializer(payment_allocations(payment=payment), many=True).data

    @extend_schema_field(MONEY)
    def get_unapplied(self, payment) -> str:
        return MONEY.to_representation(payment_unapplied(payment=payment))

    def get_receipt_url(self, payment) -> str:
        path = f"/api/payments/{payment.number}/receipt"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class PaymentWithBalanceOutputSerializer(PaymentOutputSerializer):
    balance = serializers.SerializerMethodField(help_text="What the account owes now (negative: credit).")

    class Meta(PaymentOutputSerializer.Meta):
        fields = [*PaymentOutputSerializer.Meta.fields, "balance"]
        read_only_fields = fields

    @extend_schema_field(MONEY)
    def get_balance(self, payment) -> str:
        return MONEY.to_representation(self.context["balance"])
