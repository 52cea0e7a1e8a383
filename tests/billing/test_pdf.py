"""The invoice PDF as a customer reads it: text extracted with pdftotext (poppler-utils)."""

import shutil
import subprocess
from datetime import date

import pytest
from reportlab.pdfbase.ttfonts import TTFont

from billing.pdf import FONT_FILES, render_invoice_pdf, static_file_path
from billing.services import invoice_pdf_bytes

pytestmark = pytest.mark.django_db


def pdf_text(pdf: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: `make test` installs poppler-utils (apt-get install poppler-utils)")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_the_shipped_font_has_the_rupee_sign():
    for relative in FONT_FILES.values():
        font = TTFont("check", static_file_path(relative))
        assert 0x20B9 in font.face.charToGlyph, relative


def test_invoice_pdf_shows_the_amounts_the_rupee_sign_and_the_due_date(invoice_factory, tmp_path, settings):
    settings.UTILITY_NAME = "Bengaluru Power Co."
    invoice = invoice_factory(month=date(2025, 1, 1), energy_kwh="250")
    text = pdf_text(invoice_pdf_bytes(invoice=invoice), tmp_path)
    for expected in (
        "Bengaluru Power Co.",
        invoice.number,
        "meter-001",
        "1 Jan 2025 – 31 Jan 2025",
        "1000 kWh",  # register at period start
        "1250 kWh",  # register at period end
        "250 kWh",
        "₹3.50",
        "₹350.00",
        "₹4.50",
        "₹675.00",
        "₹1,025.00",
        "₹50.00",
        "₹193.50",
        "₹1,268.50",
        invoice.due_date.strftime("%-d %b %Y"),
    ):
        assert expected in text, expected
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "0-100 100 ₹3.50 ₹350.00" in lines
    assert "101-300 150 ₹4.50 ₹675.00" in lines
    assert "301+ 0 ₹6.00 ₹0.00" in lines
    assert any(line.startswith("Total for this bill ₹1,268.50") for line in lines)


def test_customer_names_in_other_scripts_render(invoice_factory, customer, tmp_path):
    customer.name = "Zoë Ñúñez-Łukasz Асха Ράο"
    customer.address = "Flat 4B, 100 Feet Road\nIndiranagar, Bengaluru"
    customer.save()
    invoice = invoice_factory()
    text = pdf_text(render_invoice_pdf(invoice), tmp_path)
    assert "Zoë Ñúñez-Łukasz Асха Ράο" in text
    assert "Indiranagar, Bengaluru" in text


def test_a_no_readings_invoice_says_so(invoice_factory, tmp_path):
    invoice = invoice_factory(energy_kwh="0", reading_count=0)
    text = " ".join(pdf_text(render_invoice_pdf(invoice), tmp_path).split())
    assert "No readings were received from this meter" in text
    assert "Total for this bill ₹59.00" in text


def test_rendering_is_repeatable_from_the_snapshot(invoice_factory, customer, tmp_path):
    invoice = invoice_factory()
    before = pdf_text(render_invoice_pdf(invoice), tmp_path)
    customer.name = "Someone Else"
    customer.save()
    invoice.refresh_from_db()
    assert pdf_text(render_invoice_pdf(invoice), tmp_path) == before
