"""Billing API: tariffs (read, and staff writes), a meter's bill preview, its invoices and an invoice's PDF."""

from functools import partial

from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.calculation import TariffInvalid
from billing.previews import BillPreview, NoTariff, bill_preview
from billing.selectors import (
    billing_today,
    invoice_get_visible,
    invoice_list,
    month_containing,
    month_is_future,
    tariff_current,
)
from billing.serializers import (
    BillDetailFields,
    BillPreviewOutputSerializer,
    InvoiceListOutputSerializer,
    MonthQuerySerializer,
    TariffInputSerializer,
    TariffOutputSerializer,
)
from billing.services import TariffConflict, invoice_pdf_bytes, tariff_create, tariff_replace
from billing.zone import billing_zone
from devices.selectors import device_get_visible
from smartmeter.pagination import paginate


class StaffWrites(BasePermission):
    message = "Only utility staff may change tariffs."

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class TariffApi(APIView):
    permission_classes = [IsAuthenticated, StaffWrites]

    @extend_schema(responses={200: TariffOutputSerializer})
    def get(self, request):
        tariff = tariff_current()
        if tariff is None:
            raise NotFound("No tariff is in force yet.")
        return Response(TariffOutputSerializer(tariff).data)

    def _write(self, request, service, **extra):
        serializer = TariffInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            return service(actor=request.user, **serializer.validated_data, **extra)
        except TariffInvalid as exc:
            raise ValidationError(exc.problems) from None
        except TariffConflict as exc:
            raise Conflict(str(exc)) from None

    @extend_schema(request=TariffInputSerializer, responses={201: TariffOutputSerializer})
    def post(self, request):
        """Add a tariff version taking effect on `effective_from`."""
        tariff = self._write(request, tariff_create)
        return Response(TariffOutputSerializer(tariff).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TariffInputSerializer, responses={200: TariffOutputSerializer})
    def put(self, request):
        """Replace the tariff in force from `effective_from` on (its own date replaces it outright)."""
        tariff = self._write(request, tariff_replace, today=billing_today())
        return Response(TariffOutputSerializer(tariff).data)


def bill_preview_payload(preview: BillPreview, *, request=None) -> dict:
    """The seed's bill shape: one ``units_slab_<start>_<end>`` object per slab plus the ``slabs`` list,
    then what the invoice says of an estimate, adjustment, credit and split month (BillDetailFields)."""
    payload = {
        "device_id": preview.device_id,
        "month": f"{preview.month:%Y-%m}",
        "energy_kwh": str(preview.energy_kwh),
    }
    for row in preview.slabs:
        payload[row["key"]] = {"units": row["units"], "rate": row["rate"], "charge": row["charge"]}
    payload.update(
        {
            "slabs": [
                {key: row[key] for key in ("slab", "range_start", "range_end", "units", "rate", "charge")}
                for row in preview.slabs
            ],
            "subtotal": str(preview.subtotal),
            "fixed_charge": str(preview.fixed_charge),
            "tax_rate": str(preview.tax_rate.normalize()),
            "tax": str(preview.tax),
            "total": str(preview.total),
            "no_readings": preview.no_readings,
            "readings": {
                "start_register": None if preview.start_register is None else str(preview.start_register),
                "end_register": None if preview.end_register is None else str(preview.end_register),
                "count": preview.reading_count,
                "register_resets": preview.register_resets,
            },
            "period": {"start": preview.period_start.isoformat(), "end": preview.period_end.isoformat()},
            "month_complete": preview.month_complete,
            "tariff_effective_from": preview.tariff_effective_from.isoformat(),
            "invoice_id": preview.invoice.number if preview.invoice else None,
        }
    )
    payload.update(BillDetailFields(preview, context={"request": request}).data)
    return payload


class BillPreviewApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("month", str, description="YYYY-MM; default: the current month.")],
        responses={200: BillPreviewOutputSerializer},
    )
    def get(self, request, device_id):
        """The meter's bill for a month: the issued invoice's figures, or computed from its readings so far."""
        query = MonthQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        device = device_get_visible(user=request.user, device_id=device_id)
        if device is None:
            raise NotFound(f"No meter '{device_id}'.")
        month = query.validated_data.get("month") or month_containing(timezone.now(), billing_zone())
        if month_is_future(month):
            raise ValidationError({"month": [f"{month:%Y-%m} is in the future; there is nothing to bill yet."]})
        try:
            preview = bill_preview(device=device, month=month, user=request.user)
        except NoTariff as exc:
            raise Conflict(f"{exc} Staff must add a tariff version first.") from None
        return Response(bill_preview_payload(preview, request=request))


class InvoiceListApi(APIView):
    @extend_schema(responses={200: InvoiceListOutputSerializer(many=True)})
    def get(self, request, device_id):
        device = device_get_visible(user=request.user, device_id=device_id)
        if device is None:
            raise NotFound(f"No meter '{device_id}'.")
        return paginate(
            request=request,
            view=self,
            queryset=invoice_list(device=device, user=request.user),
            serializer_class=partial(InvoiceListOutputSerializer, context={"request": request}),
        )


class StaffOnly(BasePermission):
    message = "Only utility staff may do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_staff)


class PdfApi(APIView):
    """Base of the endpoints that answer a document as PDF: rate limited as PDF work, the body a PDF
    whatever the client accepts (errors still answer JSON)."""

    ratelimit_scope = "pdf"  # PDF rendering is expensive: RATELIMIT_PDF per user

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)


def pdf_response(content: bytes, *, filename: str) -> HttpResponse:
    """A PDF download, never cached by a shared cache."""
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


class InvoicePdfApi(PdfApi):
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, invoice_id):
        invoice = invoice_get_visible(user=request.user, number=invoice_id)
        if invoice is None:
            raise NotFound(f"No invoice '{invoice_id}'.")
        return pdf_response(invoice_pdf_bytes(invoice=invoice), filename=invoice.pdf_filename)
