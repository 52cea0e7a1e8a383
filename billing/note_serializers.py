"""Input and output shapes of the credit and debit note API."""

from decimal import Decimal

from rest_framework import serializers

from billing.models import Note


class NoteInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Note.Kind.choices, help_text="credit (lowers the balance) or debit.")
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), help_text="₹, tax included, more than zero."
    )
    description = serializers.CharField(max_length=500, help_text="Why the note is issued; printed on it.")


class RerateInputSerializer(serializers.Serializer):
    closing_register = serializers.DecimalField(
        max_digits=14,
        decimal_places=3,
        min_value=Decimal("0"),
        required=False,
        allow_null=True,
        default=None,
        help_text="The corrected closing register (kWh); the month's energy moves by its change.",
    )
    reprice = serializers.BooleanField(
        required=False, default=False, help_text="Price the month under the tariff version now in force for it."
    )
    reason = serializers.CharField(max_length=500, help_text="Why the month is billed again; printed on the note.")


class NoteOutputSerializer(serializers.ModelSerializer):
    invoice_id = serializers.CharField(source="invoice.number", default=None)
    consumer_number = serializers.CharField(source="account.consumer_number")
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Note
        fields = [
            "number",
            "kind",
            "reason",
            "invoice_id",
            "consumer_number",
            "amount",
            "description",
            "detail",
            "issued_at",
            "pdf_url",
        ]
        read_only_fields = fields

    def get_pdf_url(self, note) -> str:
        path = f"/api/notes/{note.number}/pdf"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path
