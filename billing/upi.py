"""UPI payment links and their QR codes, as printed on invoices (docs/billing.md#paying-by-upi). Pure.

The link follows NPCI's UPI deep-link format, ``upi://pay?pa=…&pn=…&am=…&cu=INR&tn=…&tr=…``: any
UPI app that scans the code opens a payment to ``pa`` for exactly ``am`` rupees, with the invoice
number as its note and reference so the payment can be matched to the bill.
"""

from __future__ import annotations

import base64
import io
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import quote

import segno

# A virtual payment address: a handle, "@", and the bank's or app's name (e.g. "smartmeter@upi").
VPA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,255}@[A-Za-z][A-Za-z0-9]{1,63}$")
PNG_DATA_URI = "data:image/png;base64,"


def is_vpa(text: str) -> bool:
    return bool(VPA_RE.match(text or ""))


def _encoded(value: str, *, safe: str = "") -> str:
    # Spaces as %20, never "+": several UPI apps show a "+" literally.
    return quote(value, safe=safe)


def upi_amount(amount: Decimal) -> str:
    """Rupees with exactly two decimals, rounded half up: ``Decimal("1268.5")`` -> ``"1268.50"``."""
    try:
        value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"A UPI amount must be a number of rupees, not {amount!r}.") from None
    if value <= 0:
        raise ValueError(f"A UPI payment needs an amount above zero, not {value}.")
    return f"{value:.2f}"


def upi_payment_uri(*, vpa: str, payee: str, amount: Decimal, note: str, reference: str = "") -> str:
    """The ``upi://pay`` link paying ``amount`` to ``vpa`` (shown as ``payee``), with ``note`` as the
    payment's note and ``reference`` (default: the note) as its transaction reference."""
    if not is_vpa(vpa):
        raise ValueError(f"{vpa!r} is not a UPI virtual payment address (name@bank).")
    if not payee.strip():
        raise ValueError("A UPI payment needs the payee's name.")
    params = [
        ("pa", _encoded(vpa, safe="@")),
        ("pn", _encoded(payee.strip())),
        ("am", upi_amount(amount)),
        ("cu", "INR"),
        ("tn", _encoded(note)),
        ("tr", _encoded(reference or note)),
    ]
    return "upi://pay?" + "&".join(f"{name}={value}" for name, value in params)


def upi_qr_png(uri: str, *, scale: int = 4, border: int = 4) -> bytes:
    """The link as a QR code PNG (error correction M; a 4-module quiet zone, as scanners expect)."""
    output = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(output, kind="png", scale=scale, border=border)
    return output.getvalue()


def upi_qr_data_uri(uri: str) -> str:
    """The QR code as a ``data:image/png;base64,`` URI, for an ``<img>`` in a PDF template."""
    return PNG_DATA_URI + base64.b64encode(upi_qr_png(uri)).decode("ascii")


def upi_qr_svg(uri: str, *, scale: int = 4) -> str:
    """The link as a QR code in SVG, for web pages (shapes and presentation attributes only: no style, no
    script, so it passes the pages' content security policy)."""
    output = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        output, kind="svg", scale=scale, border=4, light="#fff", xmldecl=False, svgns=True, title="UPI payment QR code"
    )
    return output.getvalue().decode()
