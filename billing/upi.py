"""UPI payment requests: the ``upi://pay`` link a phone's UPI app opens, and its QR code.

Pure (no Django, no settings): callers pass the utility's VPA and name. The link follows NPCI's
UPI linking specification (pa, pn, am, cu, tn). Rules: docs/billing.md#how-customers-pay.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from urllib.parse import quote

import segno

# A virtual payment address: handle@provider (NPCI allows letters, digits, dot, hyphen, underscore).
VPA_RE = re.compile(r"^[A-Za-z0-9._-]{2,256}@[A-Za-z][A-Za-z0-9.-]{1,63}$")
NOTE_MAX = 50  # UPI apps cut the note ("tn") at about this length
PAYEE_MAX = 99


def upi_payment_uri(*, vpa: str, payee: str, amount: Decimal, note: str) -> str:
    """``upi://pay?pa=..&pn=..&am=..&cu=INR&tn=..``: the amount in rupees with two decimals."""
    if not VPA_RE.match(vpa):
        raise ValueError(f"{vpa!r} is not a UPI address (handle@provider).")
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValueError("A UPI payment request needs an amount of more than zero rupees.")
    fields = [
        ("pa", vpa),
        ("pn", payee.strip()[:PAYEE_MAX]),
        ("am", f"{amount.quantize(Decimal('0.01'))}"),
        ("cu", "INR"),
        ("tn", note.strip()[:NOTE_MAX]),
    ]
    query = "&".join(f"{key}={quote(value, safe='@.-_')}" for key, value in fields if value)
    return f"upi://pay?{query}"


def upi_qr_svg(uri: str, *, scale: int = 4) -> str:
    """The link as a QR code in SVG (shapes and presentation attributes only: no style, no script)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        buffer,
        kind="svg",
        scale=scale,
        border=4,
        light="#fff",
        xmldecl=False,
        svgns=True,
        title="UPI payment QR code",
    )
    return buffer.getvalue().decode()


def upi_qr_png(uri: str, *, scale: int = 6) -> bytes:
    """The same QR code as a PNG (for PDFs and mail clients that do not draw SVG)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4, light="#fff")
    return buffer.getvalue()
