"""Money and energy formatting for invoices and emails (Indian digit grouping: ₹1,23,456.78).

The grouping itself is readings.formatting.group_indian, the one home of number formats.
"""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.safestring import mark_safe

from billing.calculation import round_money
from readings.formatting import group_indian

register = template.Library()


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


@register.filter
def pdf_text(value, size_pt="9.5") -> str:
    """Text for the invoice PDF at ``size_pt``: escaped, or drawn shaped when it is in an Indic script.

    ``size_pt`` may carry a maximum width: ``"9.5 240"`` shrinks a drawn line wider than 240 pt.
    """
    from billing.pdf_shaping import pdf_text_html  # loads HarfBuzz and the fonts only where PDFs are made

    size, _, max_width = str(size_pt).partition(" ")
    return mark_safe(  # noqa: S308 - pdf_text_html escapes the text; the rest is our own markup
        pdf_text_html(
            "" if value is None else str(value),
            size_pt=Decimal(size),
            max_width_pt=Decimal(max_width) if max_width else None,
        )
    )


@register.filter
def negated(value):
    """``100.00`` -> ``-100.00``: an amount taken off the bill."""
    try:
        return -Decimal(str(value))
    except (InvalidOperation, ValueError):
        return value


@register.filter
def adjustment_sentence(line, billed_month) -> str:
    """An adjustment line (billing.explain.AdjustmentLine) in plain words, as seen from the bill of ``billed_month``."""
    return line.sentence(billed_month=billed_month)
