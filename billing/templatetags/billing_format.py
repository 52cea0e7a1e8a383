"""Money and energy formatting for invoices and emails (Indian digit grouping: ₹1,23,456.78)."""

from decimal import Decimal, InvalidOperation

from django import template

from billing.calculation import round_money

register = template.Library()


def group_indian(digits: str) -> str:
    """'1234567' -> '12,34,567': the last three digits, then pairs."""
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


def format_inr(value) -> str:
    try:
        amount = round_money(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ""
    whole, _, paise = f"{abs(amount):.2f}".partition(".")
    return f"{sign}₹{group_indian(whole)}.{paise}"


@register.filter
def inr(value) -> str:
    """``1268.5`` -> ``₹1,268.50``."""
    return format_inr(value)


@register.filter
def kwh(value) -> str:
    """Energy with up to three decimals and no trailing zeros: ``250.000`` -> ``250``, ``100.500`` -> ``100.5``."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{number:.3f}".rstrip("0").rstrip(".")
    return text or "0"
