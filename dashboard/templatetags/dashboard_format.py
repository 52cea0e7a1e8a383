"""Number formats for the customer pages: rupees with Indian digit grouping, kWh, power."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()


def indian_grouping(whole: str) -> str:
    """12345678 -> 1,23,45,678 (thousands, then lakhs and crores)."""
    if len(whole) <= 3:
        return whole
    head, tail = whole[:-3], whole[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join(groups) + "," + tail


def _grouped(value, places: int) -> str:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    if not number.is_finite():
        return ""
    quantum = Decimal(1).scaleb(-places)
    number = number.quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if number < 0 else ""
    whole, _, fraction = f"{abs(number):f}".partition(".")
    return sign + indian_grouping(whole) + (f".{fraction}" if places else "")


@register.filter
def rupees(value) -> str:
    """Decimal('126850.5') -> '₹1,26,850.50'."""
    if value is None or value == "":
        return "–"
    text = _grouped(value, 2)
    if not text:
        return "–"
    return f"-₹{text[1:]}" if text.startswith("-") else f"₹{text}"


@register.filter
def kwh(value, places: int = 2) -> str:
    if value is None or value == "":
        return "–"
    return _grouped(value, int(places)) or "–"


@register.filter
def power(watts) -> str:
    """Watts as people read them: '950 W' below a kilowatt, '1.23 kW' above."""
    if watts is None or watts == "":
        return "–"
    try:
        number = float(watts)
    except (TypeError, ValueError):
        return "–"
    if abs(number) >= 1000:
        return f"{_grouped(number / 1000, 2)} kW"
    return f"{_grouped(number, 0)} W"
