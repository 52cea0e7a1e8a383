"""Number formats for the customer pages: rupees with Indian digit grouping, kWh, power.

The formats themselves live in readings.formatting (one home for every page); these are the filters.
"""

from django import template

from readings.formatting import format_grouped, format_power

register = template.Library()


@register.filter
def rupees(value) -> str:
    """Decimal('126850.5') -> '₹1,26,850.50'."""
    if value is None or value == "":
        return "–"
    text = format_grouped(value, 2)
    if not text:
        return "–"
    return f"-₹{text[1:]}" if text.startswith("-") else f"₹{text}"


@register.filter
def kwh(value, places: int = 2) -> str:
    if value is None or value == "":
        return "–"
    return format_grouped(value, int(places)) or "–"


@register.filter
def power(watts) -> str:
    """Watts as people read them: '950 W' below a kilowatt, '1.23 kW' above."""
    return format_power(watts)
