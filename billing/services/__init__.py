"""Every billing write use case (keyword-only, named <entity>_<action>)."""

from billing.services.invoice_totals import invoice_totals_recompute
from billing.services.invoices import (
    InvoiceAlreadyPaid,
    invoice_email_issued,
    invoice_email_resend,
    invoice_issue,
    invoice_mark_paid,
    invoice_pdf_bytes,
    invoice_regenerate_pdf,
    invoices_mark_overdue,
)
from billing.services.review import (
    InvoiceNotHeld,
    InvoiceReviewRefused,
    invoice_approve,
    invoice_correct_closing,
)
from billing.services.run_record import RunProgress
from billing.services.run_requests import (
    billing_run_carry_out_requested,
    billing_run_check_month,
    billing_run_request,
    billing_run_running,
)
from billing.services.runs import BillingRunRefused, RunOutcome, billing_run
from billing.services.tariffs import (
    TariffConflict,
    TariffDateTaken,
    TariffMonthInvoiced,
    tariff_check_effective_from,
    tariff_create,
    tariff_replace,
)

__all__ = [
    "BillingRunRefused",
    "InvoiceAlreadyPaid",
    "InvoiceNotHeld",
    "InvoiceReviewRefused",
    "RunOutcome",
    "RunProgress",
    "TariffConflict",
    "TariffDateTaken",
    "TariffMonthInvoiced",
    "billing_run",
    "billing_run_carry_out_requested",
    "billing_run_check_month",
    "billing_run_request",
    "billing_run_running",
    "invoice_approve",
    "invoice_correct_closing",
    "invoice_email_issued",
    "invoice_email_resend",
    "invoice_issue",
    "invoice_mark_paid",
    "invoice_pdf_bytes",
    "invoice_regenerate_pdf",
    "invoice_totals_recompute",
    "invoices_mark_overdue",
    "tariff_check_effective_from",
    "tariff_create",
    "tariff_replace",
]
