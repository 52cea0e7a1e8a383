"""Tariff versions: create and replace, never changing the tariff of a month that has invoices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from django.db import IntegrityError, transaction

from accounts.models import User
from billing.calculation import (
    DEFAULT_ESTIMATE_KWH,
    DEFAULT_LATE_FEE_RATE,
    DEFAULT_TAX_LABEL,
    PER_CONNECTION,
    TELESCOPIC,
    EstimateAndReview,
    TariffInvalid,
    TariffTerms,
    TaxLabelAndLateFee,
    validate_estimate_and_review,
    validate_tariff,
    validate_tax_label_and_late_fee,
)
from billing.models import Invoice, Tariff, TariffSlab
from billing.months import month_label
from ops.audit import audit_log


class TariffConflict(Exception):
    """The change is well-formed but would rewrite history (an invoiced month) or collide with a version."""


class TariffDateTaken(TariffConflict):
    """Another version already takes effect on ``effective_from``."""

    def __init__(self, message: str, *, effective_from: date):
        super().__init__(message)
        self.effective_from = effective_from


class TariffMonthInvoiced(TariffConflict):
    """A version from ``effective_from`` would change the tariff of ``month``, which has issued invoices;
    ``last_invoiced_month`` is the latest month with invoices (a version from the month after it is free)."""

    def __init__(self, message: str, *, effective_from: date, month: date, last_invoiced_month: date):
        super().__init__(message)
        self.effective_from = effective_from
        self.month = month
        self.last_invoiced_month = last_invoiced_month


def _months_governed(effective_from: date, *, ignoring: Tariff | None = None) -> tuple[date, date | None]:
    """First-of-month range [from, until) whose bills a version starting on ``effective_from`` would decide
    (a version taking effect mid-month decides part of that month's bill: it splits the month)."""
    later = Tariff.objects.filter(effective_from__gt=effective_from)
    if ignoring is not None:
        later = later.exclude(pk=ignoring.pk)
    following = later.order_by("effective_from").values_list("effective_from", flat=True).first()
    return effective_from.replace(day=1), following


def _ensure_no_invoiced_month(effective_from: date, *, ignoring: Tariff | None = None) -> None:
    """Issued invoices never change: refuse a version that would bill an already invoiced month differently."""
    start, until = _months_governed(effective_from, ignoring=ignoring)
    invoiced = Invoice.objects.filter(month__gte=start)
    if until is not None:
        invoiced = invoiced.filter(month__lt=until)
    first = invoiced.order_by("month").values_list("month", flat=True).first()
    if first is not None:
        raise TariffMonthInvoiced(
            f"Invoices for {month_label(first)} were issued under the tariff in force then; a version from"
            f" {effective_from.isoformat()} would change that month's tariff. Choose a date after the last"
            " invoiced month.",
            effective_from=effective_from,
            month=first,
            last_invoiced_month=Invoice.objects.order_by("-month").values_list("month", flat=True).first(),
        )


def _save_version(
    *,
    terms: TariffTerms,
    review: EstimateAndReview,
    charges: TaxLabelAndLateFee,
    effective_from: date,
    actor: User | None,
    description: str,
) -> Tariff:
    tariff = Tariff.objects.create(
        effective_from=effective_from,
        fixed_charge=terms.fixed_charge,
        tax_rate=terms.tax_rate,
        slab_style=terms.slab_style,
        fixed_charge_basis=terms.fixed_charge_basis,
        minimum_charge=terms.minimum_charge,
        tax_label=charges.tax_label,
        late_fee_rate=charges.late_fee_rate,
        estimate_default_kwh=review.estimate_default_kwh,
        review_ceiling=review.review_ceiling,
        description=description,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    TariffSlab.objects.bulk_create(
        TariffSlab(tariff=tariff, range_start=slab.range_start, range_end=slab.range_end, rate=slab.rate)
        for slab in terms.slabs
    )
    return tariff


def _audit_fields(tariff: Tariff, terms: TariffTerms) -> dict:
    return {
        "tariff_id": tariff.pk,
        "effective_from": tariff.effective_from.isoformat(),
        "slabs": [f"{slab.label}@{slab.rate}" for slab in terms.slabs],
        "slab_style": terms.slab_style,
        "fixed_charge": str(terms.fixed_charge),
        "fixed_charge_basis": terms.fixed_charge_basis,
        "minimum_charge": None if terms.minimum_charge is None else str(terms.minimum_charge),
        "tax_rate": str(terms.tax_rate),
        "tax_label": tariff.tax_label,
        "late_fee_rate": str(tariff.late_fee_rate),
        "estimate_default_kwh": str(tariff.estimate_default_kwh),
        "review_ceiling": None if tariff.review_ceiling is None else str(tariff.review_ceiling),
    }


def _validated(**values) -> tuple[TariffTerms, EstimateAndReview, TaxLabelAndLateFee]:
    """Every check, every problem named at once."""
    problems: dict[str, list[str]] = {}
    terms = review = charges = None
    try:
        terms = validate_tariff(
            slabs=values["slabs"],
            fixed_charge=values["fixed_charge"],
            tax_rate=values["tax_rate"],
            slab_style=values["slab_style"],
            fixed_charge_basis=values["fixed_charge_basis"],
            minimum_charge=values["minimum_charge"],
        )
    except TariffInvalid as exc:
        problems.update(exc.problems)
    try:
        review = validate_estimate_and_review(
            estimate_default_kwh=values["estimate_default_kwh"], review_ceiling=values["review_ceiling"]
        )
    except TariffInvalid as exc:
        problems.update(exc.problems)
    try:
        charges = validate_tax_label_and_late_fee(tax_label=values["tax_label"], late_fee_rate=values["late_fee_rate"])
    except TariffInvalid as exc:
        problems.update(exc.problems)
    if problems:
        raise TariffInvalid(problems)
    return terms, review, charges


def tariff_check_effective_from(*, effective_from: date) -> None:
    """Raise TariffConflict when a new version cannot take effect on that date (checked again when saving)."""
    if Tariff.objects.filter(effective_from=effective_from).exists():
        raise TariffDateTaken(
            f"A tariff version already takes effect on {effective_from.isoformat()}; "
            "PUT /api/tariffs replaces it, or choose another date.",
            effective_from=effective_from,
        )
    _ensure_no_invoiced_month(effective_from)


@transaction.atomic
def tariff_create(
    *,
    slabs: Sequence[Mapping[str, object]],
    fixed_charge: object,
    tax_rate: object,
    effective_from: date,
    actor: User | None = None,
    description: str = "",
    estimate_default_kwh: object = DEFAULT_ESTIMATE_KWH,
    review_ceiling: object = None,
    tax_label: object = DEFAULT_TAX_LABEL,
    late_fee_rate: object = DEFAULT_LATE_FEE_RATE,
    slab_style: object = TELESCOPIC,
    fixed_charge_basis: object = PER_CONNECTION,
    minimum_charge: object = None,
) -> Tariff:
    """Add a new version taking effect on ``effective_from`` (validated; raises TariffInvalid or TariffConflict)."""
    terms, review, charges = _validated(
        slabs=slabs,
        fixed_charge=fixed_charge,
        tax_rate=tax_rate,
        estimate_default_kwh=estimate_default_kwh,
        review_ceiling=review_ceiling,
        tax_label=tax_label,
        late_fee_rate=late_fee_rate,
        slab_style=slab_style,
        fixed_charge_basis=fixed_charge_basis,
        minimum_charge=minimum_charge,
    )
    tariff_check_effective_from(effective_from=effective_from)
    try:
        with transaction.atomic():
            tariff = _save_version(
                terms=terms,
                review=review,
                charges=charges,
                effective_from=effective_from,
                actor=actor,
                description=description,
            )
    except IntegrityError:  # a concurrent request created that date's version first
        raise TariffDateTaken(
            f"A tariff version already takes effect on {effective_from.isoformat()}.", effective_from=effective_from
        ) from None
    audit_log(actor=actor, action="tariff.create", **_audit_fields(tariff, terms))
    return tariff


@transaction.atomic
def tariff_replace(
    *,
    slabs: Sequence[Mapping[str, object]],
    fixed_charge: object,
    tax_rate: object,
    effective_from: date,
    today: date,
    actor: User | None = None,
    description: str = "",
    estimate_default_kwh: object = DEFAULT_ESTIMATE_KWH,
    review_ceiling: object = None,
    tax_label: object = DEFAULT_TAX_LABEL,
    late_fee_rate: object = DEFAULT_LATE_FEE_RATE,
    slab_style: object = TELESCOPIC,
    fixed_charge_basis: object = PER_CONNECTION,
    minimum_charge: object = None,
) -> Tariff:
    """Replace the version in force ``today`` from ``effective_from`` on.

    On the current version's own date this replaces it outright (allowed only while
    no invoiced month uses it); on a later date the current version stays for the
    months before and the new terms apply from that date.
    """
    terms, review, charges = _validated(
        slabs=slabs,
        fixed_charge=fixed_charge,
        tax_rate=tax_rate,
        estimate_default_kwh=estimate_default_kwh,
        review_ceiling=review_ceiling,
        tax_label=tax_label,
        late_fee_rate=late_fee_rate,
        slab_style=slab_style,
        fixed_charge_basis=fixed_charge_basis,
        minimum_charge=minimum_charge,
    )
    current = Tariff.objects.select_for_update().filter(effective_from__lte=today).order_by("-effective_from").first()
    if current is not None and effective_from < current.effective_from:
        raise TariffInvalid(
            {
                "effective_from": [
                    f"The current tariff took effect on {current.effective_from.isoformat()}; a replacement must take"
                    " effect on or after that date (POST adds a version at an earlier date)."
                ]
            }
        )
    same_day = Tariff.objects.select_for_update().filter(effective_from=effective_from).first()
    _ensure_no_invoiced_month(effective_from, ignoring=same_day)
    if same_day is not None:
        if same_day.invoices.exists():
            raise TariffConflict(f"The version from {effective_from.isoformat()} has invoices; it cannot be replaced.")
        replaced_id = same_day.pk
        same_day.delete()
    else:
        replaced_id = current.pk if current is not None else None
    tariff = _save_version(
        terms=terms, review=review, charges=charges, effective_from=effective_from, actor=actor, description=description
    )
    audit_log(actor=actor, action="tariff.replace", replaced_tariff_id=replaced_id, **_audit_fields(tariff, terms))
    return tariff
