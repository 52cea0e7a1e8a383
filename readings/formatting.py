"""How numbers read on every page: Indian digit grouping (1,06,259.00) and power in W or kW (pure).

The one home of these formats. It sits in readings, the lowest app that shows a
formatted number (the admin's latest-reading column), so billing's and the
dashboard's template filters import it without any app importing upwards.
See docs/dashboard.md#staff-back-office-admin.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


def group_indian(digits: str) -> str:
    """'12345678' -> '1,23,45,678': the last three digits, then pairs (thousands, lakhs, crores)."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    if head:
        pairs.insert(0, head)
    return ",".join([*pairs, tail])


def format_grouped(value, places: int) -> str:
    """``value`` rounded half up to ``places`` decimals with Indian grouping; '' when it is not a finite number."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    if not number.is_finite():
        return ""
    number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "-" if number < 0 else ""
    whole, _, fraction = f"{abs(number):f}".partition(".")
    return sign + group_indian(whole) + (f".{fraction}" if places else "")


def format_power(watts) -> str:
    """Watts as people read them: '950 W' below a kilowatt, '1.23 kW' above; '–' when unknown."""
    if watts is None or watts == "":
        return "–"
    try:
        number = float(watts)
    except (TypeError, ValueError):
        return "–"
    if abs(number) >= 1000:
        return f"{format_grouped(number / 1000, 2)} kW"
    return f"{format_grouped(number, 0)} W"
