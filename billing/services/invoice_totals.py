"""The money an invoice stores, worked out again from its energy: one place, so every path that changes
a stored bill (a corrected closing read, and any later rule) prices it the same way."""

from __future__ import annotations

from decimal import Decimal

from billing.calculation import TariffTerms, calculate_bill, round_money
from billing.models import Invoice
from billing.selectors import bill_slab_rows

ZERO_MONEY = Decimal("0.00")

# The fields invoice_totals_recompute writes (for save(update_fields=...)).
TOTALS_FIELDS = (
    "energy_kwh",
    "slabs",
    "subtotal",
    "fixed_charge",
    "tax_rate",
    "tax",
    "total",
    "credit_carried",
)


def invoice_total_with_credit(invoice: Invoice) -> tuple[Decimal, Decimal]:
    """(total, credit_carried): subtotal + fixed + tax + adjustment - credit applied, never below 0;
    what is left below 0 is carried to the next bill as credit."""
    raw = round_money(
        invoice.subtotal + invoice.fixed_charge + invoice.tax + invoice.adjustment_amount - invoice.credit_applied
    )
    if raw < 0:
        return ZERO_MONEY, -raw
    return raw, ZERO_MONEY


def invoice_totals_recompute(*, invoice: Invoice, terms: TariffTerms | None = None) -> Invoice:
    """Price ``invoice.energy_kwh`` again under its tariff (or ``terms``) and set the stored money fields
    (TOTALS_FIELDS) on the unsaved instance. Adjustment and credit applied are kept as they are; so is a
    fixed charge prorated for part-month service (``service_days``), with the tax worked out on it.

    A month split into parts (``invoice.parts``) is not priced here yet: refused.
    """
    if invoice.parts:
        raise ValueError(f"Invoice {invoice.number} is split into parts; its totals cannot be recomputed here.")
    bill = calculate_bill(invoice.energy_kwh, terms or invoice.tariff.terms())
    fixed = invoice.fixed_charge if invoice.service_days is not None else bill.fixed_charge
    invoice.energy_kwh = bill.energy_kwh
    invoice.slabs = bill_slab_rows(bill)
    invoice.subtotal = bill.subtotal
    invoice.fixed_charge = fixed
    invoice.tax_rate = bill.tax_rate
    invoice.tax = round_money((bill.subtotal + fixed) * bill.tax_rate)
    invoice.total, invoice.credit_carried = invoice_total_with_credit(invoice)
    return invoice
