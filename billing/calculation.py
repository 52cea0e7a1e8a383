"""Tariff validation and bill arithmetic: pure functions over Decimal.

No ORM, settings or I/O here, so every rule can be tested exactly and cheaply. Slab
semantics and validation: docs/billing.md#tariffs; rounding and the worked example:
docs/billing.md#the-bill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MONEY = Decimal("0.01")
ENERGY = Decimal("0.001")
ZERO = Decimal("0")
MAX_SLABS = 20
TAX_RATE_PLACES = 4

# How slab rates apply (docs/billing.md#slab-styles).
TELESCOPIC = "telescopic"  # each slab's rate on the units inside it
NON_TELESCOPIC = "non_telescopic"  # the rate of the slab the month's total falls in, on every unit
SLAB_STYLES = (TELESCOPIC, NON_TELESCOPIC)
# What the fixed charge is counted per (docs/billing.md#fixed-charge-basis).
PER_CONNECTION = "per_connection"
PER_KW = "per_kw"  # per kW of the meter's sanctioned load
FIXED_CHARGE_BASES = (PER_CONNECTION, PER_KW)


def round_money(value: Decimal) -> Decimal:
    return value.quantize(MONEY, rounding=ROUND_HALF_UP)


def round_energy(value: Decimal) -> Decimal:
    return value.quantize(ENERGY, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Slab:
    range_start: int
    range_end: int | None  # None: open-ended, only the last slab
    rate: Decimal  # per kWh

    @property
    def label(self) -> str:
        return f"{self.range_start}+" if self.range_end is None else f"{self.range_start}-{self.range_end}"

    @property
    def key(self) -> str:
        """The bill preview's field name for this slab, e.g. ``units_slab_101_300`` or ``units_slab_301_plus``."""
        end = "plus" if self.range_end is None else str(self.range_end)
        return f"units_slab_{self.range_start}_{end}"

    @property
    def lower_kwh(self) -> Decimal:
        """Consumption above which this slab starts to apply."""
        return Decimal(max(self.range_start - 1, 0))


@dataclass(frozen=True, slots=True)
class TariffTerms:
    slabs: tuple[Slab, ...]
    fixed_charge: Decimal  # per connection, or per kW of sanctioned load (fixed_charge_basis)
    tax_rate: Decimal  # 0.18 for 18 %
    slab_style: str = TELESCOPIC
    fixed_charge_basis: str = PER_CONNECTION
    minimum_charge: Decimal | None = None  # a month's energy and fixed charge, before tax; None: no minimum


@dataclass(frozen=True, slots=True)
class SlabLine:
    slab: Slab
    units: Decimal
    charge: Decimal

    @property
    def rate(self) -> Decimal:
        return self.slab.rate


@dataclass(frozen=True, slots=True)
class Bill:
    energy_kwh: Decimal
    lines: tuple[SlabLine, ...]
    subtotal: Decimal
    fixed_charge: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    minimum_top_up: Decimal = ZERO  # raises energy + fixed charge to the minimum charge; taxed like them
    minimum_charge: Decimal | None = None  # the minimum applied (prorated like the fixed charge)
    slab_style: str = TELESCOPIC
    fixed_charge_kw: Decimal | None = None  # the sanctioned load a per-kW fixed charge was counted on
    fixed_charge_rate: Decimal | None = None  # ₹ per kW, with fixed_charge_kw


class TariffInvalid(ValueError):
    """A tariff that cannot be used; ``problems`` maps a field to its messages."""

    def __init__(self, problems: Mapping[str, list[str]]):
        self.problems = {field: list(messages) for field, messages in problems.items() if messages}
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in self.problems.items()))


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = repr(value)  # 4.55 -> "4.55", never the binary expansion
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _money(value: object, name: str, problems: list[str]) -> Decimal | None:
    number = _decimal(value)
    if number is None:
        problems.append(f"{name} must be a number.")
        return None
    if number < 0:
        problems.append(f"{name} must not be negative.")
    if _places(number) > 2:
        problems.append(f"{name} must have at most 2 decimal places.")
    return number


def _whole_kwh(value: object, name: str, problems: list[str]) -> int | None:
    number = _decimal(value)
    if number is None or number != number.to_integral_value():
        problems.append(f"{name} must be a whole number of kWh.")
        return None
    if number < 0:
        problems.append(f"{name} must not be negative.")
        return None
    return int(number)


def validate_tariff(
    *,
    slabs: Sequence[Mapping[str, object]],
    fixed_charge: object,
    tax_rate: object,
    slab_style: object = TELESCOPIC,
    fixed_charge_basis: object = PER_CONNECTION,
    minimum_charge: object = None,
) -> TariffTerms:
    """Check a tariff as entered (``[{range_start, range_end, rate}]``, fixed charge, tax rate, slab style,
    fixed-charge basis, minimum charge).

    Returns the normalised terms or raises TariffInvalid naming every problem:
    slabs must run contiguously from 0 with no gap or overlap, only the last may
    be open-ended (and it must be), rates, the fixed charge and the minimum charge
    (empty for none) are non-negative amounts with at most 2 decimal places, the tax
    rate lies within 0-1, the style and basis are among SLAB_STYLES and FIXED_CHARGE_BASES.
    """
    problems: dict[str, list[str]] = {
        "slabs": [],
        "fixed_charge": [],
        "tax_rate": [],
        "slab_style": [],
        "fixed_charge_basis": [],
        "minimum_charge": [],
    }

    if slab_style not in SLAB_STYLES:
        problems["slab_style"].append(f"The slab style must be one of {', '.join(SLAB_STYLES)}.")
    if fixed_charge_basis not in FIXED_CHARGE_BASES:
        problems["fixed_charge_basis"].append(f"The fixed-charge basis must be one of {', '.join(FIXED_CHARGE_BASES)}.")
    minimum = None
    if minimum_charge is not None and minimum_charge != "":
        minimum = _money(minimum_charge, "The minimum charge", problems["minimum_charge"])
    fixed = _money(fixed_charge, "The fixed charge", problems["fixed_charge"])
    tax = _decimal(tax_rate)
    if tax is None:
        problems["tax_rate"].append("The tax rate must be a number between 0 and 1 (0.18 for 18%).")
    elif not ZERO <= tax <= 1:
        problems["tax_rate"].append("The tax rate must be between 0 and 1 (0.18 for 18%).")
    elif _places(tax) > TAX_RATE_PLACES:
        problems["tax_rate"].append(f"The tax rate must have at most {TAX_RATE_PLACES} decimal places.")

    slab_problems = problems["slabs"]
    parsed: list[Slab] = []
    if not isinstance(slabs, Sequence) or isinstance(slabs, str | bytes) or not slabs:
        slab_problems.append("At least one slab is required.")
    elif len(slabs) > MAX_SLABS:
        slab_problems.append(f"At most {MAX_SLABS} slabs are allowed.")
    else:
        previous_end: int | None = None
        for position, raw in enumerate(slabs, start=1):
            name = f"Slab {position}"
            if not isinstance(raw, Mapping):
                slab_problems.append(f"{name} must be an object with range_start, range_end and rate.")
                continue
            missing = [key for key in ("range_start", "rate") if raw.get(key) is None]
            if missing:
                slab_problems.append(f"{name} is missing {' and '.join(missing)}.")
                continue
            start = _whole_kwh(raw["range_start"], f"{name}'s range_start", slab_problems)
            raw_end = raw.get("range_end")
            open_ended = raw_end is None or raw_end == ""
            end = None if open_ended else _whole_kwh(raw_end, f"{name}'s range_end", slab_problems)
            rate = _money(raw["rate"], f"{name}'s rate", slab_problems)
            if start is None or rate is None or (not open_ended and end is None):
                continue
            expected_start = 0 if position == 1 else (previous_end + 1 if previous_end is not None else None)
            if position == 1 and start != 0:
                slab_problems.append(f"Slab 1 must start at 0 (it starts at {start}).")
            elif expected_start is not None and start > expected_start:
                slab_problems.append(
                    f"{name} starts at {start}: a gap after slab {position - 1}, which ends at {previous_end};"
                    f" it must start at {expected_start}."
                )
            elif expected_start is not None and start < expected_start:
                slab_problems.append(
                    f"{name} starts at {start}: it overlaps slab {position - 1}, which ends at {previous_end};"
                    f" it must start at {expected_start}."
                )
            if end is None and position != len(slabs):
                slab_problems.append(f"{name} is open-ended, but only the last slab may be.")
            if end is not None and position == len(slabs):
                slab_problems.append(
                    f"The last slab must be open-ended (range_end null); slab {position} ends at {end}."
                )
            if end is not None and (end < start or (position == 1 and end < 1)):
                slab_problems.append(f"{name} ends at {end}, before it starts ({start}).")
            previous_end = end
            parsed.append(Slab(range_start=start, range_end=end, rate=rate))

    if any(problems.values()):
        raise TariffInvalid(problems)
    assert fixed is not None
    assert tax is not None
    return TariffTerms(
        slabs=tuple(parsed),
        fixed_charge=fixed,
        tax_rate=tax,
        slab_style=str(slab_style),
        fixed_charge_basis=str(fixed_charge_basis),
        minimum_charge=minimum,
    )


DEFAULT_ESTIMATE_KWH = Decimal("100.000")


@dataclass(frozen=True, slots=True)
class EstimateAndReview:
    """A tariff version's estimate for meters without history and its review ceiling."""

    estimate_default_kwh: Decimal
    review_ceiling: Decimal | None  # None: no ceiling


def validate_estimate_and_review(*, estimate_default_kwh: object, review_ceiling: object) -> EstimateAndReview:
    """Check a version's default estimate (kWh a month, >= 0, at most 3 decimals) and review ceiling
    (₹ > 0 with at most 2 decimals, or empty for none); raises TariffInvalid naming each problem."""
    problems: dict[str, list[str]] = {"estimate_default_kwh": [], "review_ceiling": []}
    estimate = _decimal(estimate_default_kwh)
    if estimate is None:
        problems["estimate_default_kwh"].append("The default estimate must be a number of kWh.")
    elif estimate < 0:
        problems["estimate_default_kwh"].append("The default estimate must not be negative.")
    elif _places(estimate) > 3:
        problems["estimate_default_kwh"].append("The default estimate must have at most 3 decimal places.")
    ceiling = None
    if review_ceiling is not None and review_ceiling != "":
        ceiling = _money(review_ceiling, "The review ceiling", problems["review_ceiling"])
        if ceiling is not None and ceiling == 0:
            problems["review_ceiling"].append("The review ceiling must be above 0 (leave it empty for none).")
    if any(problems.values()):
        raise TariffInvalid(problems)
    assert estimate is not None
    return EstimateAndReview(estimate_default_kwh=estimate, review_ceiling=ceiling)


DEFAULT_TAX_LABEL = "GST"
DEFAULT_LATE_FEE_RATE = Decimal("0.0150")
TAX_LABEL_MAX_LENGTH = 40
LATE_FEE_RATE_MAX = Decimal("0.10")


@dataclass(frozen=True, slots=True)
class TaxLabelAndLateFee:
    """How a version's tax line is named on the bill, and its late-payment surcharge per month."""

    tax_label: str
    late_fee_rate: Decimal  # 0.015 for 1.5 % a month


def validate_tax_label_and_late_fee(*, tax_label: object, late_fee_rate: object) -> TaxLabelAndLateFee:
    """Check the tax line's name (1 to 40 characters, not blank; surrounding spaces dropped) and the
    late-payment rate (0 to 0.10 a month, at most 4 decimals); raises TariffInvalid naming each problem."""
    problems: dict[str, list[str]] = {"tax_label": [], "late_fee_rate": []}
    label = tax_label.strip() if isinstance(tax_label, str) else ""
    if not isinstance(tax_label, str) or not label:
        problems["tax_label"].append('The tax label must be a name such as "GST" or "Electricity duty".')
    elif len(label) > TAX_LABEL_MAX_LENGTH:
        problems["tax_label"].append(f"The tax label must be at most {TAX_LABEL_MAX_LENGTH} characters.")
    rate = _decimal(late_fee_rate)
    if rate is None:
        problems["late_fee_rate"].append("The late-payment rate must be a number (0.015 for 1.5% a month).")
    elif rate < 0 or rate > LATE_FEE_RATE_MAX:
        problems["late_fee_rate"].append(
            f"The late-payment rate must be between 0 and {LATE_FEE_RATE_MAX} a month (0.015 for 1.5%)."
        )
    elif _places(rate) > TAX_RATE_PLACES:
        problems["late_fee_rate"].append(f"The late-payment rate must have at most {TAX_RATE_PLACES} decimal places.")
    if any(problems.values()):
        raise TariffInvalid(problems)
    assert rate is not None
    return TaxLabelAndLateFee(tax_label=label, late_fee_rate=rate)


def slab_units(energy_kwh: Decimal, slabs: Iterable[Slab], *, share: Decimal = Decimal(1)) -> list[Decimal]:
    """Split a consumption over the slabs; the parts always add up to ``energy_kwh``.

    ``share`` scales every slab limit: the part of a month split by a tariff change gets its
    share of the month's days of each slab (docs/billing.md#a-tariff-change-mid-month).
    """
    if energy_kwh < 0:
        raise ValueError("Consumption cannot be negative.")
    units = []
    for slab in slabs:
        upper = energy_kwh if slab.range_end is None else min(energy_kwh, Decimal(slab.range_end) * share)
        units.append(max(ZERO, upper - slab.lower_kwh * share))
    return units


def slab_lines(energy_kwh: Decimal, terms: TariffTerms, *, share: Decimal = Decimal(1)) -> tuple[SlabLine, ...]:
    """The energy charge, one line per slab, by the terms' slab style (docs/billing.md#slab-styles).

    Telescopic: each slab's rate on the units inside it. Non-telescopic: every unit at the rate of
    the slab the total falls in (a total exactly on a slab's upper limit falls in that slab), the
    other slabs' lines at 0 units. ``share`` scales the slab limits for part of a month.
    """
    if terms.slab_style == NON_TELESCOPIC:
        if energy_kwh < 0:
            raise ValueError("Consumption cannot be negative.")
        applies = next(
            (slab for slab in terms.slabs if slab.range_end is None or energy_kwh <= Decimal(slab.range_end) * share),
            terms.slabs[-1],
        )
        return tuple(
            SlabLine(
                slab=slab,
                units=energy_kwh if slab is applies else ZERO,
                charge=round_money(energy_kwh * slab.rate) if slab is applies else ZERO.quantize(MONEY),
            )
            for slab in terms.slabs
        )
    return tuple(
        SlabLine(slab=slab, units=units, charge=round_money(units * slab.rate))
        for slab, units in zip(terms.slabs, slab_units(energy_kwh, terms.slabs, share=share), strict=True)
    )


def fixed_charge_amount(
    terms: TariffTerms, *, sanctioned_load_kw: Decimal | None = None, share: Decimal = Decimal(1)
) -> Decimal:
    """The month's fixed charge: per connection, or per kW of the meter's sanctioned load; ``share``
    prorates it for part of a month. Rounded once, after multiplying."""
    if terms.fixed_charge_basis == PER_KW:
        if sanctioned_load_kw is None:
            raise ValueError("A fixed charge per kW needs the meter's sanctioned load.")
        if sanctioned_load_kw < 0:
            raise ValueError("A sanctioned load cannot be negative.")
        return round_money(terms.fixed_charge * Decimal(sanctioned_load_kw) * share)
    return round_money(terms.fixed_charge * share)


def minimum_top_up(charges: Decimal, minimum_charge: Decimal | None) -> Decimal:
    """What raises a month's energy and fixed charges (before tax) to the minimum charge; 0.00 when they
    reach it or there is no minimum."""
    if minimum_charge is None or charges >= minimum_charge:
        return ZERO.quantize(MONEY)
    return round_money(minimum_charge - charges)


def calculate_bill(
    energy_kwh: Decimal,
    terms: TariffTerms,
    *,
    slab_share: Decimal = Decimal(1),
    fixed_share: Decimal = Decimal(1),
    sanctioned_load_kw: Decimal | None = None,
) -> Bill:
    """The month's bill for ``energy_kwh`` under ``terms``.

    In order (docs/billing.md#order-of-operations): the energy charge by slab style, the fixed
    charge by its basis, the top-up to the minimum charge, then tax on all three.
    ``slab_share`` scales the slab limits and ``fixed_share`` the fixed and minimum charges, for
    part of a month (both 1 for a whole month in service). ``sanctioned_load_kw`` is the meter's
    load, needed only by a fixed charge per kW.

    >>> terms = TariffTerms(
    ...     slabs=(Slab(0, 100, Decimal("3.50")), Slab(101, 300, Decimal("4.50")), Slab(301, None, Decimal("6.00"))),
    ...     fixed_charge=Decimal("50.00"), tax_rate=Decimal("0.18"))
    >>> calculate_bill(Decimal("250"), terms).total
    Decimal('1268.50')
    """
    energy = round_energy(Decimal(energy_kwh))
    lines = slab_lines(energy, terms, share=slab_share)
    subtotal = round_money(sum((line.charge for line in lines), ZERO))
    fixed = fixed_charge_amount(terms, sanctioned_load_kw=sanctioned_load_kw, share=fixed_share)
    minimum = None if terms.minimum_charge is None else round_money(terms.minimum_charge * fixed_share)
    top_up = minimum_top_up(subtotal + fixed, minimum)
    tax = round_money((subtotal + fixed + top_up) * terms.tax_rate)
    total = round_money(subtotal + fixed + top_up + tax)
    per_kw = terms.fixed_charge_basis == PER_KW
    return Bill(
        energy_kwh=energy,
        lines=lines,
        subtotal=subtotal,
        fixed_charge=fixed,
        tax_rate=terms.tax_rate,
        tax=tax,
        total=total,
        minimum_top_up=top_up,
        minimum_charge=minimum,
        slab_style=terms.slab_style,
        fixed_charge_kw=Decimal(sanctioned_load_kw) if per_kw else None,
        fixed_charge_rate=terms.fixed_charge if per_kw else None,
    )


def day_share(days: int, month_days: int) -> Decimal:
    """A part of a month as an exact-enough fraction of its days (10 places; money is rounded after)."""
    if not 0 <= days <= month_days:
        raise ValueError(f"{days} days is not part of a {month_days}-day month.")
    if days == month_days:
        return Decimal(1)
    return (Decimal(days) / Decimal(month_days)).quantize(Decimal("1E-10"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class BillPart:
    """One side of a month split by a tariff change: its energy, terms and share of the month's days."""

    energy_kwh: Decimal
    terms: TariffTerms
    slab_share: Decimal
    fixed_share: Decimal
    sanctioned_load_kw: Decimal | None = None


def calculate_split_bill(parts: Sequence[BillPart]) -> tuple[Bill, tuple[Bill, ...]]:
    """The bill of a month in parts: each part billed on its own terms and shares, then summed.

    Returns (the whole, the parts). The whole's lines are every part's lines in order; its tax
    rate is the first part's (each part's tax is computed at its own rate).
    """
    if not parts:
        raise ValueError("A bill needs at least one part.")
    bills = tuple(
        calculate_bill(
            part.energy_kwh,
            part.terms,
            slab_share=part.slab_share,
            fixed_share=part.fixed_share,
            sanctioned_load_kw=part.sanctioned_load_kw,
        )
        for part in parts
    )
    if len(bills) == 1:
        return bills[0], bills
    whole = Bill(
        energy_kwh=sum((bill.energy_kwh for bill in bills), ZERO),
        lines=tuple(line for bill in bills for line in bill.lines),
        subtotal=sum((bill.subtotal for bill in bills), ZERO),
        fixed_charge=sum((bill.fixed_charge for bill in bills), ZERO),
        tax_rate=bills[0].tax_rate,
        tax=sum((bill.tax for bill in bills), ZERO),
        total=sum((bill.total for bill in bills), ZERO),
        minimum_top_up=sum((bill.minimum_top_up for bill in bills), ZERO),
        minimum_charge=None
        if all(bill.minimum_charge is None for bill in bills)
        else sum((bill.minimum_charge or ZERO for bill in bills), ZERO),
        slab_style=bills[0].slab_style,
        fixed_charge_kw=bills[0].fixed_charge_kw,
        fixed_charge_rate=bills[0].fixed_charge_rate,
    )
    return whole, bills


def adjustment_amount(*, actual_kwh: Decimal, billed_subtotal: Decimal, terms: TariffTerms) -> Decimal:
    """What correcting an estimated month costs (negative: what it gives back), tax included.

    The actual energy is priced at that month's slab rates (and slab style); what the estimate
    charged for energy (``billed_subtotal``) comes off. The fixed charge and any minimum top-up
    of the estimated month stand.
    """
    lines = slab_lines(round_energy(Decimal(actual_kwh)), terms)
    difference = round_money(sum((line.charge for line in lines), ZERO)) - billed_subtotal
    return round_money(difference * (1 + terms.tax_rate))


@dataclass(frozen=True, slots=True)
class Settlement:
    total: Decimal
    credit_applied: Decimal
    credit_carried: Decimal


def settle(charges: Decimal, *, adjustment: Decimal, credit: Decimal) -> Settlement:
    """The amount due from a bill's charges, an adjustment (either sign) and credit held.

    Never negative: what a negative adjustment leaves over is carried forward as credit.
    """
    if credit < 0:
        raise ValueError("Credit cannot be negative.")
    due = charges + adjustment
    if due <= 0:
        return Settlement(total=ZERO.quantize(MONEY), credit_applied=ZERO.quantize(MONEY), credit_carried=credit - due)
    applied = min(credit, due)
    return Settlement(total=due - applied, credit_applied=applied, credit_carried=credit - applied)


def scale_energy(energy_kwh: Decimal, *, elapsed_seconds: float, period_seconds: float) -> Decimal:
    """Extrapolate a part-month consumption to the whole period (for estimates, never for invoices)."""
    if elapsed_seconds <= 0:
        return ZERO
    factor = Decimal(str(period_seconds)) / Decimal(str(elapsed_seconds))
    return round_energy(energy_kwh * max(factor, Decimal(1)))
