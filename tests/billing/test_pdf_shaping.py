"""Names, addresses and meter locations in the scripts of India render on the invoice PDF.

xhtml2pdf does no shaping, so Indic text is shaped with HarfBuzz and drawn as outlines
(billing.pdf_shaping). These tests check the glyphs HarfBuzz chose (conjuncts formed,
vowel signs reordered, nothing missing from the fonts) and that the drawing reaches the
page.
"""

import base64
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import uharfbuzz as hb
from django.template.loader import render_to_string

from billing.pdf import INLINE_SVG, TEMPLATE, invoice_pdf_context, render_invoice_pdf, static_file_path
from billing.pdf_shaping import LATIN_FONT, SCRIPT_FONTS, draw, font_runs, needs_shaping, pdf_text_html, shape

DEVANAGARI = "fonts/NotoSansDevanagari-Regular.ttf"

# A word in each script, with the font it must be drawn in.
WORDS = {
    "क्षत्रिय": DEVANAGARI,
    "বাংলা": "fonts/NotoSansBengali-Regular.ttf",
    "ਪੰਜਾਬੀ": "fonts/NotoSansGurmukhi-Regular.ttf",
    "ગુજરાતી": "fonts/NotoSansGujarati-Regular.ttf",
    "ଓଡ଼ିଆ": "fonts/NotoSansOriya-Regular.ttf",
    "தமிழ்": "fonts/NotoSansTamil-Regular.ttf",
    "తెలుగు": "fonts/NotoSansTelugu-Regular.ttf",
    "ಕನ್ನಡ": "fonts/NotoSansKannada-Regular.ttf",
    "മലയാളം": "fonts/NotoSansMalayalam-Regular.ttf",
}


def test_every_script_font_and_its_licence_ship_with_the_product():
    for _, _, font in SCRIPT_FONTS:
        assert Path(static_file_path(font)).stat().st_size > 10_000, font
    licence = Path(static_file_path("fonts/LICENSE-Noto.txt")).read_text()
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence


@pytest.mark.parametrize(("word", "font"), WORDS.items())
def test_each_script_is_shaped_in_its_own_font_with_no_missing_glyph(word, font):
    assert needs_shaping(word)
    assert font_runs(word) == [(font, word)]
    glyphs = shape(word, static_file_path(font))
    assert glyphs, word
    assert all(glyph.glyph_id != 0 for glyph in glyphs), f"{word}: a character is missing from {font}"
    assert all(glyph.advance >= 0 for glyph in glyphs)


def test_devanagari_forms_conjuncts_and_puts_the_i_sign_before_its_consonant():
    path = static_file_path(DEVANAGARI)
    font = hb.Font(hb.Face(hb.Blob.from_file_path(path)))
    # क्ष is one conjunct glyph, not क + virama + ष.
    assert len(shape("क्ष", path)) == 1
    # कि is written क + ि but drawn ि first (a form of it sized to its consonant).
    glyphs = shape("कि", path)
    consonant = font.get_nominal_glyph(0x0915)
    assert len(glyphs) == 2
    assert glyphs[0].glyph_id != consonant
    assert glyphs[1].glyph_id == consonant


def test_latin_text_is_left_as_escaped_text():
    assert not needs_shaping("Zoë Ñúñez Асха Ράο ₹")
    html = pdf_text_html('Zoë <script>alert("x")</script> & Co.', size_pt=Decimal("9.5"))
    assert html == "Zoë &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co."


def test_mixed_text_keeps_latin_in_the_invoice_font_and_spaces_inside_a_phrase():
    assert font_runs("Priya शर्मा जी (Sharma)") == [
        (LATIN_FONT, "Priya "),
        (DEVANAGARI, "शर्मा जी "),
        (LATIN_FONT, "(Sharma)"),
    ]


def test_indic_lines_become_pictures_sized_to_the_text_and_other_lines_stay_text():
    html = pdf_text_html("शर्मा <निवास>\nFlat 4B & Co.", size_pt=Decimal("10"), max_width_pt=Decimal("240"))
    picture, text = html.split("<br>")
    assert text == "Flat 4B &amp; Co."
    width, height = (float(value) for value in re.search(r"width: ([\d.]+)pt; height: ([\d.]+)pt", picture).groups())
    assert 20 < width < 240
    assert 10 < height < 25  # one line of 10 pt text, with room for signs above and below
    assert 'alt="शर्मा &lt;निवास&gt;"' in picture
    svg = base64.b64decode(picture.split(INLINE_SVG)[1].split('"')[0]).decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "<निवास>" not in svg  # outlines only: no text reaches the SVG


def test_a_line_wider_than_its_box_is_scaled_down():
    line = "क्षत्रिय " * 30
    drawing = draw(line)
    html = pdf_text_html(line, size_pt=Decimal("9.5"), max_width_pt=Decimal("240"))
    width, height = (float(value) for value in re.search(r"width: ([\d.]+)pt; height: ([\d.]+)pt", html).groups())
    assert width == 240.0
    assert height == pytest.approx(240 * drawing.height_em / drawing.width_em, abs=0.1)


def _ink(pdf: bytes, tmp_path) -> int:
    """Dark pixels on page 1, rasterised by poppler."""
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: `make test` installs poppler-utils (apt-get install poppler-utils)")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(pdf)
    raster = subprocess.run(
        ["pdftoppm", "-gray", "-r", "100", "-f", "1", "-l", "1", str(path)], capture_output=True, check=True
    ).stdout
    header_end = raster.index(b"255\n") + 4  # PGM: "P5 <w> <h> 255\n" then one byte a pixel
    return sum(1 for value in raster[header_end:] if value < 128)


@pytest.mark.django_db
def test_an_indic_customer_name_is_drawn_on_the_invoice(invoice_factory, tmp_path):
    invoice = invoice_factory()
    invoice.customer_name = " "  # shown as nothing
    blank = render_invoice_pdf(invoice)
    invoice.customer_name = "श्रीमती प्रिया क्षत्रिय"
    html = render_to_string(TEMPLATE, invoice_pdf_context(invoice))
    assert INLINE_SVG in html
    named = render_invoice_pdf(invoice)
    # The name adds its ink to the page (a missing picture or empty outlines would not).
    assert _ink(named, tmp_path) > _ink(blank, tmp_path) + 150
