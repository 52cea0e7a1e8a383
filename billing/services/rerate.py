"""Billing an issued month again: the month priced as it should have been (a corrected closing read, or the
tariff version now in force for it) and the difference issued as a credit or debit note referring to the
invoice, which itself never changes. Rules: docs/billing.md#billing-a-month-again."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum

from accounts.models import User
from billing.calculation import ENERGY, ZERO, day_share, fixed_charge_amount, round_money
from billing.models import Invoice, Note, Tariff
from billing.months import month_label, next_month
from billing.selectors import tariff_for_month
from billing.services.invoice_totals import invoice_totals_recompute
from billing.services.notes import NoteRefused, note_issue
from billing.services.review import InvoiceReviewRefused, closing_energy
from billing.templatetags.billing_format import format_inr, kwh


class RerateRefused(NoteRefused):
    """The month cannot be billed again as asked, or billing it again changes nothing; nothing was issued."""


class RerateInvalid(RerateRefused):
    """What was asked is itself wrong (no reason, no correction, an impossible read); nothing was issued."""


@dataclass(frozen=True)
class MonthPricing:
    """A month's own charges (energy, fixed, minimum top-up, tax) and what they were worked out from."""

    energy_kwh: Decimal
    subtotal: Decimal
    fixed_charge: Decimal
    tax: Decimal
    tariff: Tariff
    closing_register: Decimal | None
    minimum_top_up: Decimal = ZERO

    @property
    def charges(self) -> Decimal:
        return self.subtotal + self.fixed_charge + self.minimum_top_up + self.tax


@dataclass(frozen=True)
class Rerate:
    """The month as it stands (as billed, corrected by earlier re-rating notes) and as billed again."""

    invoice: Invoice
    before: MonthPricing
    after: MonthPricing
    charges_before: Decimal  # the invoice's charges plus every re-rating note issued on it so far

    @property
    def difference(self) -> Decimal:
        """Positive: the customer was billed too little (a debit note); negative: too much (a credit note)."""
        return self.after.charges - self.charges_before

    @property
    def kind(self) -> str | None:
        if self.difference > 0:
            return Note.Kind.DEBIT
        if self.difference < 0:
            return Note.Kind.CREDIT
        return None

    @property
    def amount(self) -> Decimal:
        return abs(self.difference)

    def total_before(self) -> Decimal:
        """The bill before credit as it stands (its adjustment stays as billed)."""
        return self.charges_before + self.invoice.adjustment_amount

    def total_after(self) -> Decimal:
        return self.after.charges + self.invoice.adjustment_amount

    def detail(self, reason: str) -> dict:
        def text(value):
            return None if value is None else str(value)

        return {
            "energy_kwh_before": str(self.before.energy_kwh),
            "energy_kwh_after": str(self.after.energy_kwh),
            "subtotal_before": str(self.before.subtotal),
            "subtotal_after": str(self.after.subtotal),
            "fixed_charge_before": str(self.before.fixed_charge),
            "fixed_charge_after": str(self.after.fixed_charge),
            "minimum_top_up_before": str(self.before.minimum_top_up),
            "minimum_top_up_after": str(self.after.minimum_top_up),
            "tax_before": str(self.before.tax),
            "tax_after": str(self.after.tax),
            "total_before": str(self.total_before()),
            "total_after": str(self.total_after()),
            "tariff_id_before": self.before.tariff.pk,
            "tariff_id_after": self.after.tariff.pk,
            "closing_register_before": text(self.before.closing_register),
            "closing_register_after": text(self.after.closing_register),
            "reason": reason,
        }

    def description(self, reason: str) -> str:
        """What changed, in plain words, as printed on the note."""
        invoice, before, after = self.invoice, self.before, self.after
        changes = []
        if before.closing_register != after.closing_register and after.closing_register is not None:
            was = "none" if before.closing_register is None else f"{kwh(before.closing_register)} kWh"
            changes.append(f"closing register corrected from {was} to {kwh(after.closing_register)} kWh")
        if before.energy_kwh != after.energy_kwh:
            changes.append(f"energy {kwh(after.energy_kwh)} kWh instead of {kwh(before.energy_kwh)} kWh")
        if before.tariff.pk != after.tariff.pk:
            changes.append(
                f"priced under the tariff from {after.tariff.effective_from:%-d %b %Y} instead of the one from "
                f"{before.tariff.effective_from:%-d %b %Y}"
            )
        what = "; ".join(changes) or "priced again"
        settled = "credited" if self.kind == Note.Kind.CREDIT else "charged"
        return (
            f"{month_label_words(invoice)} (invoice {invoice.number}, meter {invoice.device.device_id}) billed again: "
            f"{what}. Billed {format_inr(self.total_before())} before credit; it should have been "
            f"{format_inr(self.total_after())}, so {format_inr(self.amount)} is {settled}. Reason: {reason}"
        )


def month_label_words(invoice: Invoice) -> str:
    return f"{invoice.month:%B %Y}"


def _rerate_notes(invoice: Invoice):
    return invoice.notes.filter(reason=Note.Reason.RERATE)


def _signed_rerate_total(invoice: Invoice) -> Decimal:
    """What the re-rating notes on the invoice have added (debit) or taken off (credit) so far."""
    sums = _rerate_notes(invoice).values("kind").annotate(total=Sum("amount"))
    signed = {row["kind"]: row["total"] for row in sums}
    return signed.get(Note.Kind.DEBIT, ZERO) - signed.get(Note.Kind.CREDIT, ZERO)


def _as_it_stands(invoice: Invoice) -> MonthPricing:
    """The month as billed, or as the latest re-rating note on it priced it."""
    last = _rerate_notes(invoice).order_by("-issued_at", "-pk").first()
    if last is None or "energy_kwh_after" not in last.detail:
        return MonthPricing(
            energy_kwh=invoice.energy_kwh,
            subtotal=invoice.subtotal,
            fixed_charge=invoice.fixed_charge,
            minimum_top_up=invoice.minimum_top_up,
            tax=invoice.tax,
            tariff=invoice.tariff,
            closing_register=invoice.end_register,
        )
    detail = last.detail
    closing = detail.get("closing_register_after")
    return MonthPricing(
        energy_kwh=Decimal(detail["energy_kwh_after"]),
        subtotal=Decimal(detail["subtotal_after"]),
        fixed_charge=Decimal(detail["fixed_charge_after"]),
        minimum_top_up=Decimal(detail.get("minimum_top_up_after", "0.00")),
        tax=Decimal(detail["tax_after"]),
        tariff=Tariff.objects.prefetch_related("slabs").get(pk=detail["tariff_id_after"]),
        closing_register=None if closing is None else Decimal(closing),
    )


def _price(invoice: Invoice, *, energy_kwh: Decimal, tariff: Tariff, closing_register: Decimal | None) -> MonthPricing:
    """The month's charges for ``energy_kwh`` under ``tariff``, worked out by the same rules that priced the
    bill (billing.services.invoice_totals), on a copy: the issued row is never written."""
    month = Invoice.objects.select_related("tariff").get(pk=invoice.pk)
    try:
        if tariff.pk == month.tariff_id:
            invoice_totals_recompute(invoice=month, energy_kwh=energy_kwh)
        else:
            if month.parts:
                raise RerateRefused(
                    f"Invoice {invoice.number} splits {month_label(invoice.month)} between tariff versions; it "
                    "cannot be priced again under one version. Issue a credit or debit note for the difference."
                )
            terms = tariff.terms()
            if month.service_days is not None:  # a part month: the new version's fixed charge, prorated alike
                month_days = (next_month(month.month) - month.month).days
                share = day_share(month.service_days, month_days)
                load = month.fixed_charge_kw if month.fixed_charge_kw is not None else month.device.sanctioned_load_kw
                month.fixed_charge = fixed_charge_amount(terms, sanctioned_load_kw=load, share=share)
                month.minimum_charge = (
                    None if terms.minimum_charge is None else round_money(terms.minimum_charge * share)
                )
            invoice_totals_recompute(invoice=month, energy_kwh=energy_kwh, terms=terms)
    except ValueError as exc:
        raise RerateInvalid(str(exc)) from None
    return MonthPricing(
        energy_kwh=month.energy_kwh,
        subtotal=month.subtotal,
        fixed_charge=month.fixed_charge,
        minimum_top_up=month.minimum_top_up,
        tax=month.tax,
        tariff=tariff,
        closing_register=closing_register,
    )


def tariff_in_force(*, invoice: Invoice) -> Tariff:
    """The tariff version now in force for the invoice's month (to re-price a month billed under another)."""
    tariff = tariff_for_month(month=invoice.month)
    if tariff is None:
        raise RerateRefused(f"No tariff version is in force for {month_label(invoice.month)}.")
    return tariff


def _energy(value: object) -> Decimal:
    try:
        energy = Decimal(str(value)).quantize(ENERGY)
    except (InvalidOperation, ValueError):
        raise RerateInvalid(f"The energy must be a number of kWh, not {value!r}.") from None
    if not energy.is_finite() or energy < 0:
        raise RerateInvalid(f"The energy must be 0 kWh or more, not {value}.")
    return energy


def invoice_rerate_preview(
    *,
    invoice: Invoice,
    energy_kwh: object = None,
    closing_register: object = None,
    tariff: Tariff | None = None,
) -> Rerate:
    """The month billed again with a corrected closing register (or energy) and/or ``tariff``, compared with
    the month as it stands. Writes nothing; raises RerateRefused when the month cannot be billed again so."""
    if invoice.status == Invoice.Status.HELD:
        raise RerateRefused(
            f"Invoice {invoice.number} is held for review: correct its closing read in the review queue instead."
        )
    if energy_kwh is None and closing_register is None and tariff is None:
        raise RerateInvalid("Give a corrected closing register, or re-price the month with the tariff in force.")
    if energy_kwh is not None and closing_register is not None:
        raise RerateInvalid("Give a corrected closing register or a corrected energy, not both.")
    before = _as_it_stands(invoice)
    energy, closing = before.energy_kwh, before.closing_register
    if closing_register is not None:
        try:
            closing, energy = closing_energy(invoice=invoice, closing_register=closing_register)
        except InvoiceReviewRefused as exc:
            raise RerateInvalid(str(exc)) from None
    elif energy_kwh is not None:
        energy = _energy(energy_kwh)
        if invoice.end_register is not None:
            closing = invoice.end_register - invoice.energy_kwh + energy
    after = _price(invoice, energy_kwh=energy, tariff=tariff or before.tariff, closing_register=closing)
    return Rerate(
        invoice=invoice,
        before=before,
        after=after,
        charges_before=invoice.subtotal
        + invoice.fixed_charge
        + invoice.minimum_top_up
        + invoice.tax
        + _signed_rerate_total(invoice),
    )


def invoice_rerate(
    *,
    invoice: Invoice,
    actor: User | None,
    reason: str,
    energy_kwh: object = None,
    closing_register: object = None,
    tariff: Tariff | None = None,
) -> Note:
    """Bill an issued month again and issue the difference as a note referring to the invoice: a credit
    note when the month was billed too much, a debit note when too little. A month billed again to the
    same result issues nothing (RerateRefused), so repeating a re-rate is harmless."""
    reason = (reason or "").strip()
    if not reason:
        raise RerateInvalid("Say why the month is billed again: the reason is printed on the note.")
    with transaction.atomic():
        # One re-rate of an invoice at a time: the next one compares with the notes this one issues.
        invoice = Invoice.objects.select_for_update().select_related("device", "tariff").get(pk=invoice.pk)
        rerate = invoice_rerate_preview(
            invoice=invoice, energy_kwh=energy_kwh, closing_register=closing_register, tariff=tariff
        )
        if rerate.kind is None:
            raise RerateRefused(
                f"Billed again, {month_label_words(invoice)} comes to {format_inr(rerate.total_after())} before "
                f"credit, as it stands (invoice {invoice.number} and its notes): there is no difference, and no "
                "note was issued."
            )
        return note_issue(
            kind=rerate.kind,
            reason=Note.Reason.RERATE,
            amount=rerate.amount,
            description=rerate.description(reason),
            invoice=invoice,
            detail=rerate.detail(reason),
            actor=actor,
        )
