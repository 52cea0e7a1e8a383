"""Credit and debit note API: staff issue a note on an invoice or bill its month again; the note's PDF for
staff and the note's customer (docs/billing.md#credit-and-debit-notes)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.apis import Conflict, PdfApi, StaffOnly, pdf_response
from billing.models import Invoice, Note
from billing.note_serializers import NoteInputSerializer, NoteOutputSerializer, RerateInputSerializer
from billing.selectors import note_get_visible
from billing.services.notes import NoteRefused, note_issue, note_pdf_bytes
from billing.services.rerate import RerateInvalid, invoice_rerate, tariff_in_force


def _invoice(number: str) -> Invoice:
    invoice = Invoice.objects.select_related("device", "tariff", "account").filter(number=number).first()
    if invoice is None:
        raise NotFound(f"No invoice '{number}'.")
    return invoice


def _created(request, note: Note) -> Response:
    note = Note.objects.select_related("account", "invoice").get(pk=note.pk)
    return Response(NoteOutputSerializer(note, context={"request": request}).data, status=status.HTTP_201_CREATED)


class InvoiceNoteApi(APIView):
    permission_classes = [IsAuthenticated, StaffOnly]

    @extend_schema(request=NoteInputSerializer, responses={201: NoteOutputSerializer})
    def post(self, request, invoice_id):
        """Issue a credit or debit note of `amount` (tax included) on the invoice, for a plain adjustment."""
        invoice = _invoice(invoice_id)
        serializer = NoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            note = note_issue(
                reason=Note.Reason.ADJUSTMENT, invoice=invoice, actor=request.user, **serializer.validated_data
            )
        except NoteRefused as exc:
            raise Conflict(str(exc)) from None
        return _created(request, note)


class InvoiceRerateApi(APIView):
    permission_classes = [IsAuthenticated, StaffOnly]

    @extend_schema(request=RerateInputSerializer, responses={201: NoteOutputSerializer})
    def post(self, request, invoice_id):
        """Bill the invoice's month again (a corrected closing register and/or the tariff now in force) and
        issue the difference as a credit or debit note. 409 when nothing changes or the bill is held."""
        invoice = _invoice(invoice_id)
        serializer = RerateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            note = invoice_rerate(
                invoice=invoice,
                actor=request.user,
                reason=data["reason"],
                closing_register=data["closing_register"],
                tariff=tariff_in_force(invoice=invoice) if data["reprice"] else None,
            )
        except RerateInvalid as exc:
            raise ValidationError(str(exc)) from None
        except NoteRefused as exc:
            raise Conflict(str(exc)) from None
        return _created(request, note)


class NotePdfApi(PdfApi):
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, number):
        note = note_get_visible(user=request.user, number=number)
        if note is None:
            raise NotFound(f"No note '{number}'.")
        return pdf_response(note_pdf_bytes(note=note), filename=note.pdf_filename)
