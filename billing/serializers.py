"""Input and output shapes of the billing API: tariffs, the month query and invoice lists."""

from rest_framework import serializers

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
    effective_from = serializers.DateField(help_text="First day the version applies (YYYY-MM-DD).")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class TariffSlabOutputSerializer(serializers.Serializer):
    range_start = serializers.IntegerField()
    range_end = serializers.IntegerField(allow_null=True)
    rate = serializers.DecimalField(max_digits=10, decimal_places=2)


class TariffOutputSerializer(serializers.ModelSerializer):
    slabs = TariffSlabOutputSerializer(many=True)

    class Meta:
        model = Tariff
        fields = ["id", "effective_from", "slabs", "fixed_charge", "tax_rate", "description", "created_at"]
        read_only_fields = fields


class MonthQuerySerializer(serializers.Serializer):
    month = serializers.CharField(required=False, help_text="YYYY-MM; default: the current month.")

    def validate_month(self, value):
        try:
            return parse_month(value)
        except MonthInvalid as exc:
            raise serializers.ValidationError(str(exc)) from None


class InvoiceListOutputSerializer(serializers.ModelSerializer):
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
        ]
        read_only_fields = fields

    def get_pdf_url(self, invoice) -> str:
        path = f"/api/invoices/{invoice.number}/pdf"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path
