"""Input and output shapes of the billing API: tariffs, the month query, invoice lists and the bill preview."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.calculation import DEFAULT_LATE_FEE_RATE, DEFAULT_TAX_LABEL, PER_CONNECTION, TELESCOPIC
from billing.models import Invoice, Tariff
from billing.months import MonthInvalid, parse_month


class AmountField(serializers.Field):
    """Passes a number or numeric string through untouched: the tariff validator names what is wrong with it."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            raise serializers.ValidationError("Must be a number.")
        return data

    def to_representation(self, value):
        return str(value)


class TariffInputSerializer(serializers.Serializer):
    slabs = serializers.ListField(
        child=serializers.DictField(), allow_empty=True, help_text="[{range_start, range_end (null: open), rate}]"
    )
    fixed_charge = AmountField(help_text="₹ per meter per month, at most 2 decimals.")
    tax_rate = AmountField(help_text="Between 0 and 1 (0.18 for 18%).")
    # Unknown values are named by the tariff validator, with the other problems.
    slab_style = serializers.CharField(
        required=False,
        default=TELESCOPIC,
        help_text='"telescopic" (each slab\'s rate on the units inside it; the default) or "non_telescopic" '
        "(the rate of the slab the month's total falls in, on every unit).",
    )
    fixed_charge_basis = serializers.CharField(
        required=False,
        default=PER_CONNECTION,
        help_text='"per_connection" (the default) or "per_kw": the fixed charge times the meter\'s sanctioned load.',
    )
    minimum_charge = AmountField(
        required=False,
        allow_null=True,
        default=None,
        help_text="₹ a month: energy and fixed charges below it are topped up to it before tax; null for none.",
    )
    effective_from = serializers.DateField(help_text="First day the version applies (YYYY-MM-DD).")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    estimate_default_kwh = AmountField(
        required=False,
        default="100",
        help_text="kWh a month billed as the estimate of a meter with no history (default 100).",
    )
    review_ceiling = AmountField(
        required=False,
        allow_null=True,
        default=None,
        help_text="₹: a bill whose total exceeds this is held for review; null for no ceiling.",
    )
    # Blank and over-long labels are named by the tariff validator, with the other problems.
    tax_label = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        default=DEFAULT_TAX_LABEL,
        help_text='The tax line\'s name on the bill, after its rate: "GST" prints "18% GST" (1-40 characters).',
    )
    late_fee_rate = AmountField(
        required=False,
        default=str(DEFAULT_LATE_FEE_RATE),
        help_text="Late-payment surcharge per month on the overdue amount, 0 to 0.10 (0.015 for 1.5%).",
    )


class TariffSlabOutputSerializer(serializers.Serializer):
    range_start = serializers.IntegerField()
    range_end = serializers.IntegerField(allow_null=True)
    rate = serializers.DecimalField(max_digits=10, decimal_places=2)


class TariffOutputSerializer(serializers.ModelSerializer):
    slabs = TariffSlabOutputSerializer(many=True)

    class Meta:
        model = Tariff
        fields = [
            "id",
            "effective_from",
            "slabs",
            "slab_style",
            "fixed_charge",
            "fixed_charge_basis",
            "minimum_charge",
            "tax_rate",
            "tax_label",
            "late_fee_rate",
            "description",
            "estimate_default_kwh",
            "review_ceiling",
            "created_at",
        ]
        read_only_fields = fields


class MonthQuerySerializer(serializers.Serializer):
    month = serializers.CharField(required=False, help_text="YYYY-MM; default: the current month.")

    def validate_month(self, value):
        try:
            return parse_month(value)
        except MonthInvalid as exc:
            raise serializers.ValidationError(str(exc)) from None


# The shapes of the JSON lists an invoice holds, for the OpenAPI schema (amounts are decimal strings).
_DECIMAL = {"type": "string", "format": "decimal"}
SLAB_ROW_SCHEMA = {
    "type": "object",
    "properties": {
        "slab": {"type": "string", "example": "0-100"},
        "range_start": {"type": "integer"},
        "range_end": {"type": "integer", "nullable": True},
        "units": _DECIMAL,
        "rate": _DECIMAL,
        "charge": _DECIMAL,
    },
}
ADJUSTMENT_ROW_SCHEMA = {
    "type": "object",
    "description": "One earlier estimated month corrected on this bill.",
    "properties": {
        "month": {"type": "string", "example": "2025-03"},
        "estimated_kwh": _DECIMAL,
        "actual_kwh": _DECIMAL,
        "kwh": {**_DECIMAL, "description": "Actual minus estimated."},
        "amount": {**_DECIMAL, "description": "Signed, tax included."},
    },
}
PART_SCHEMA = {
    "type": "object",
    "description": "One part of a month split by a tariff change or part-month service.",
    "properties": {
        "from": {"type": "string", "format": "date-time"},
        "until": {"type": "string", "format": "date-time", "description": "Exclusive."},
        "days": {"type": "integer"},
        "share": {**_DECIMAL, "description": "Share of the month."},
        "tariff_id": {"type": "integer", "nullable": True},
        "effective_from": {"type": "string", "format": "date"},
        "energy_kwh": _DECIMAL,
        "slabs": {"type": "array", "items": SLAB_ROW_SCHEMA},
        "subtotal": _DECIMAL,
        "fixed_charge": {**_DECIMAL, "description": "Prorated to the part's days."},
    },
}
EXCLUDED_READING_SCHEMA = {
    "type": "object",
    "properties": {
        "timestamp": {"type": "string", "format": "date-time"},
        "register": _DECIMAL,
        "kind": {"type": "string", "enum": ["glitch", "implausible"]},
        "reason": {"type": "string"},
    },
}


@extend_schema_field({"type": "array", "items": ADJUSTMENT_ROW_SCHEMA})
class AdjustmentDetailField(serializers.JSONField):
    pass


@extend_schema_field({"type": "array", "items": PART_SCHEMA})
class PartsField(serializers.JSONField):
    pass


def _is_staff(serializer) -> bool:
    request = serializer.context.get("request")
    return bool(request and request.user and request.user.is_staff)


class BillDetailFields(serializers.Serializer):
    """What an invoice (and a bill preview) says of an estimate, an adjustment, credit and a split month."""

    estimated = serializers.BooleanField(
        read_only=True, help_text="The energy is estimated: no closing reading arrived in time."
    )
    estimate_basis = serializers.CharField(
        read_only=True,
        help_text="What an estimated bill was computed from: trailing_90_days, same_month_last_year or "
        "tariff_default; empty for a bill from actual readings.",
    )
    adjustment_kwh = serializers.DecimalField(
        max_digits=12,
        decimal_places=3,
        read_only=True,
        help_text="Actual minus estimated energy of earlier estimated months corrected on this bill.",
    )
    adjustment_amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        help_text="That correction priced, tax included; negative when it is taken off.",
    )
    adjustment_detail = AdjustmentDetailField(read_only=True, help_text="One entry per corrected month.")
    credit_applied = serializers.DecimalField(
        max_digits=12, decimal_places=2, read_only=True, help_text="Credit from earlier bills taken off this one."
    )
    credit_carried = serializers.DecimalField(
        max_digits=12, decimal_places=2, read_only=True, help_text="Credit left over, taken off the next bill."
    )
    parts = PartsField(read_only=True, help_text="The parts of a split month; empty for a plain whole month.")
    service_days = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Days in service when the fixed charge is prorated; null for a whole month.",
    )
    closing_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Instant of the closing register reading."
    )
    excluded_readings_count = serializers.SerializerMethodField(
        help_text="Readings left out of the energy (glitches, implausible jumps)."
    )
    excluded_readings = serializers.SerializerMethodField(
        help_text="Staff only (null for customers): the readings left out, and why."
    )

    def get_excluded_readings_count(self, bill) -> int:
        return len(bill.excluded_readings or [])

    @extend_schema_field({"type": "array", "items": EXCLUDED_READING_SCHEMA, "nullable": True})
    def get_excluded_readings(self, bill):
        return list(bill.excluded_readings or []) if _is_staff(self) else None


BILL_DETAIL_FIELDS = list(BillDetailFields._declared_fields)


class InvoiceListOutputSerializer(BillDetailFields, serializers.ModelSerializer):
    invoice_id = serializers.CharField(source="number")
    month = serializers.CharField(source="month_label")
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "invoice_id",
            "month",
            "energy_kwh",
            "total",
            "status",
            "due_date",
            "paid_date",
            "pdf_url",
            "created_at",
            *BILL_DETAIL_FIELDS,
        ]
        read_only_fields = fields

    def get_pdf_url(self, invoice) -> str:
        path = f"/api/invoices/{invoice.number}/pdf"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class PreviewSlabSerializer(serializers.Serializer):
    slab = serializers.CharField(help_text="0-100, or 301+ for the open last slab.")
    range_start = serializers.IntegerField()
    range_end = serializers.IntegerField(allow_null=True)
    units = serializers.DecimalField(max_digits=12, decimal_places=3)
    rate = serializers.DecimalField(max_digits=10, decimal_places=2)
    charge = serializers.DecimalField(max_digits=12, decimal_places=2)


class PreviewReadingsSerializer(serializers.Serializer):
    start_register = serializers.DecimalField(max_digits=14, decimal_places=3, allow_null=True)
    end_register = serializers.DecimalField(max_digits=14, decimal_places=3, allow_null=True)
    count = serializers.IntegerField()
    register_resets = serializers.IntegerField()


class PreviewPeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive.")


class BillPreviewOutputSerializer(BillDetailFields):
    """The bill preview's shape, for the schema (the API builds it in billing.apis.bill_preview_payload).

    Besides these, one ``units_slab_<start>_<end>`` object per slab (``_plus`` for the open last one).
    """

    device_id = serializers.CharField()
    month = serializers.CharField(help_text="YYYY-MM")
    energy_kwh = serializers.DecimalField(max_digits=12, decimal_places=3)
    slabs = PreviewSlabSerializer(many=True)
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    fixed_charge = serializers.DecimalField(max_digits=10, decimal_places=2)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=4)
    tax = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    no_readings = serializers.BooleanField()
    readings = PreviewReadingsSerializer()
    period = PreviewPeriodSerializer()
    month_complete = serializers.BooleanField()
    tariff_effective_from = serializers.DateField()
    invoice_id = serializers.CharField(allow_null=True, help_text="Set once the month is invoiced.")
