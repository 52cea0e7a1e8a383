"""The money an invoice stores, worked out again from its energy: one place, so every path that changes
a stored bill (a corrected closing read, and any later rule) prices it the same way."""

from __future__ import annotations

from decimal import Decimal

from billing.calculation import ZERO, TariffTerms, calculate_bill, minimum_top_up, round_money, settle
from billing.models import Invoice, Tariff
from billing.selectors import bill_slab_rows

# The fields invoice_totals_recompute writes (for save(update_fields=...)).
TOTALS_FIELDS = (
    "energy_kwh",
    "slabs",
    "parts",
    "subtotal",
    "fixed_charge",
    "minimum_top_up",
    "tax_rate",
    "tax",
    "total",
    "credit_applied",
    "credit_carried",
)


def credit_available(invoice: Invoice) -> Decimal:
    """The credit the bill could draw on when it was settled (what it applied plus what it carried on,
    less what its own negative adjustment added to the carried amount)."""
    due = invoice.subtotal + invoice.fixed_charge + invoice.minimum_top_up + invoice.tax + invoice.adjustment_amount
    return invoice.credit_applied + invoice.credit_carried - max(ZERO, -due)


def invoice_totals_recompute(*, invoice: Invoice, energy_kwh: Decimal, terms: TariffTerms | None = None) -> Invoice:
    """Price the bill again for ``energy_kwh`` and set the stored money fields (TOTALS_FIELDS) on the
    unsaved instance: same tariff (or ``terms``), same prorated fixed charge and minimum charge, same
    sanctioned load, same adjustment, and the credit it could draw on settled again (calculation.settle).

    A month split into parts takes the change in its last part (the closing read lies there), priced
    under that part's tariff version and share of the month's slabs.
    """
    credit = credit_available(invoice)
    if invoice.parts:
        _reprice_last_part(invoice, energy_kwh)
    else:
        bill = calculate_bill(energy_kwh, terms or invoice.tariff.terms(), sanctioned_load_kw=_load(invoice))
        prorated = invoice.service_days is not None
        fixed = invoice.fixed_charge if prorated else bill.fixed_charge
        minimum = invoice.minimum_charge if prorated else bill.minimum_charge
        top_up = minimum_top_up(bill.subtotal + fixed, minimum)
        invoice.energy_kwh = bill.energy_kwh
        invoice.slabs = bill_slab_rows(bill)
        invoice.subtotal = bill.subtotal
        invoice.fixed_charge = fixed
        invoice.minimum_top_up = top_up
        invoice.tax_rate = bill.tax_rate
        invoice.tax = round_money((bill.subtotal + fixed + top_up) * bill.tax_rate)
    charges = invoice.subtotal + invoice.fixed_charge + invoice.minimum_top_up + invoice.tax
    settlement = settle(charges, adjustment=invoice.adjustment_amount, credit=credit)
    invoice.total = settlement.total
    invoice.credit_applied = settlement.credit_applied
    invoice.credit_carried = settlement.credit_carried
    return invoice


def _reprice_last_part(invoice: Invoice, energy_kwh: Decimal) -> None:
    parts = [dict(part) for part in invoice.parts]
    last = parts[-1]
    last_energy = Decimal(last["energy_kwh"]) + (energy_kwh - invoice.energy_kwh)
    if last_energy < 0:
        raise ValueError(f"The correction would leave the month's last part at {last_energy} kWh.")
    terms = Tariff.objects.prefetch_related("slabs").get(pk=last["tariff_id"]).terms()
    bill = calculate_bill(last_energy, terms, slab_share=Decimal(last["share"]), sanctioned_load_kw=_load(invoice))
    fixed = Decimal(last["fixed_charge"])
    minimum = None if last.get("minimum_charge") is None else Decimal(last["minimum_charge"])
    top_up = minimum_top_up(bill.subtotal + fixed, minimum)
    tax = round_money((bill.subtotal + fixed + top_up) * bill.tax_rate)
    last.update(
        energy_kwh=str(bill.energy_kwh),
        slabs=bill_slab_rows(bill),
        subtotal=str(bill.subtotal),
        minimum_top_up=str(top_up),
        tax=str(tax),
    )
    invoice.parts = parts
    invoice.energy_kwh = sum((Decimal(part["energy_kwh"]) for part in parts), ZERO)
    invoice.slabs = [row for part in parts for row in part["slabs"]]
    invoice.subtotal = sum((Decimal(part["subtotal"]) for part in parts), ZERO)
    invoice.minimum_top_up = sum((Decimal(part.get("minimum_top_up", "0.00")) for part in parts), ZERO)
    invoice.tax = sum((Decimal(part["tax"]) for part in parts), ZERO)


def _load(invoice: Invoice) -> Decimal:
    """The sanctioned load a per-kW fixed charge counts: the one the bill counted, else the meter's now."""
    return invoice.fixed_charge_kw if invoice.fixed_charge_kw is not None else invoice.device.sanctioned_load_kw
