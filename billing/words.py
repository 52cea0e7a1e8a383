"""Amounts in words as Indian bills print them ("Rupees one lakh, … and fifty paise only"). Pure."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from num2words import num2words


def amount_in_words(amount: Decimal) -> str:
    """Rupees and paise in Indian English (lakh, crore); a negative amount is written as a credit."""
    value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    prefix = "Credit of rupees" if value < 0 else "Rupees"
    value = abs(value)
    rupees = int(value)
    paise = int((value - rupees) * 100)
    words = f"{prefix} {num2words(rupees, lang='en_IN')}"
    if paise:
        words += f" and {num2words(paise, lang='en_IN')} paise"
    return words + " only"
