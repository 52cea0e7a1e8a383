"""Billing tables: tariffs, billing runs, invoices, and the receivables ledger (docs/billing.md)."""

from billing.models.invoices import HeldInvoice, Invoice, invoice_pdf_path
from billing.models.receivables import (
    Account,
    Allocation,
    BankStatementLine,
    DisconnectionNotice,
    DocumentSequence,
    LedgerEntry,
    Note,
    Payment,
    Reminder,
)
from billing.models.runs import BillingRun
from billing.models.tariffs import Tariff, TariffQuerySet, TariffSlab

__all__ = [
    "Account",
    "Allocation",
    "BankStatementLine",
    "BillingRun",
    "DisconnectionNotice",
    "DocumentSequence",
    "HeldInvoice",
    "Invoice",
    "LedgerEntry",
    "Note",
    "Payment",
    "Reminder",
    "Tariff",
    "TariffQuerySet",
    "TariffSlab",
    "invoice_pdf_path",
]
