"""Document numbers and consumer numbers: the one home of their formats (docs/billing.md#document-numbers).

A document number is ``<series>-<yyyy>-<seq:07d>``: the series (INV, CRN, DBN, RCT), the
financial year as its two two-digit years (2627 for April 2026 to March 2027) and a sequence
that starts at 1 each year, 16 characters in all, safe in a URL and a file name. Pure: no ORM.
"""

from __future__ import annotations

import re
from datetime import date

DOCUMENT_NUMBER_LENGTH = 16
SEQUENCE_DIGITS = 7
DOCUMENT_NUMBER_RE = re.compile(r"\b(INV|CRN|DBN|RCT)-(\d{4})-(\d{7})\b")
# The same shape without groups or word boundaries, for URL converters and schema patterns.
DOCUMENT_NUMBER_CHARS = r"(?:INV|CRN|DBN|RCT)-\d{4}-\d{7}"
CONSUMER_NUMBER_RE = re.compile(r"(?<!\d)(1\d{9})(?!\d)")


def financial_year(day: date) -> int:
    """The calendar year the financial year containing ``day`` starts in (April to March)."""
    return day.year if day.month >= 4 else day.year - 1


def document_number(series: str, year: int, sequence: int) -> str:
    if not 0 < sequence < 10**SEQUENCE_DIGITS:
        raise ValueError(f"Sequence {sequence} does not fit {SEQUENCE_DIGITS} digits.")
    number = f"{series}-{year % 100:02d}{(year + 1) % 100:02d}-{sequence:0{SEQUENCE_DIGITS}d}"
    if len(number) != DOCUMENT_NUMBER_LENGTH:
        raise ValueError(f"Series {series!r} does not make a {DOCUMENT_NUMBER_LENGTH}-character number.")
    return number


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for ``digits`` (catches any single wrong digit and most swaps)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def consumer_number(account_key: int) -> str:
    """Ten digits: 1, the account key in eight digits, and a Luhn check digit."""
    if not 0 < account_key < 10**8:
        raise ValueError(f"Account key {account_key} does not fit eight digits.")
    body = f"1{account_key:08d}"
    return body + luhn_digit(body)


def is_consumer_number(text: str) -> bool:
    return bool(re.fullmatch(r"1\d{9}", text)) and luhn_digit(text[:-1]) == text[-1]
