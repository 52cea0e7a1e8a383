"""Indic text on invoices: shaped with HarfBuzz and drawn as outlines, since xhtml2pdf does no shaping.

Text in the scripts of India is shaped in the Noto Sans font for its script and placed as
an inline SVG of glyph outlines; Latin words beside it come from DejaVu Sans. Which scripts,
and the cost (drawn text cannot be selected or searched): docs/billing.md#the-pdf.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import uharfbuzz as hb
from django.utils.html import escape

from billing.pdf import INLINE_SVG, static_file_path

LATIN_FONT = "fonts/DejaVuSans.ttf"

# Unicode blocks of the scripts written in India that need shaping, and the font for each.
SCRIPT_FONTS: tuple[tuple[int, int, str], ...] = (
    (0x0900, 0x097F, "fonts/NotoSansDevanagari-Regular.ttf"),
    (0x0980, 0x09FF, "fonts/NotoSansBengali-Regular.ttf"),
    (0x0A00, 0x0A7F, "fonts/NotoSansGurmukhi-Regular.ttf"),
    (0x0A80, 0x0AFF, "fonts/NotoSansGujarati-Regular.ttf"),
    (0x0B00, 0x0B7F, "fonts/NotoSansOriya-Regular.ttf"),
    (0x0B80, 0x0BFF, "fonts/NotoSansTamil-Regular.ttf"),
    (0x0C00, 0x0C7F, "fonts/NotoSansTelugu-Regular.ttf"),
    (0x0C80, 0x0CFF, "fonts/NotoSansKannada-Regular.ttf"),
    (0x0D00, 0x0D7F, "fonts/NotoSansMalayalam-Regular.ttf"),
    (0xA8E0, 0xA8FF, "fonts/NotoSansDevanagari-Regular.ttf"),  # Devanagari Extended
)
# Belong to the run they are in: joiners, and the dandas every Indic script uses.
_JOINING = {"\u200c", "\u200d", "\u0964", "\u0965"}
UNITS_PER_EM = 1000  # every outline is scaled to this, whatever the font's own units
TEXT_COLOUR = "#1f2933"  # the invoice's body text


def _script_font(char: str) -> str | None:
    code = ord(char)
    for first, last, font in SCRIPT_FONTS:
        if first <= code <= last:
            return font
    return None


def needs_shaping(text: str) -> bool:
    return any(_script_font(char) for char in text)


def font_runs(text: str) -> list[tuple[str, str]]:
    """``text`` cut into (font, text) runs: each Indic script in its font, everything else in DejaVu Sans.

    Spaces, joiners and dandas stay in the run they follow, so a phrase in one script is
    shaped as one run.
    """
    runs: list[tuple[str, str]] = []
    for char in text:
        font = _script_font(char)
        if runs and (char.isspace() or char in _JOINING) and runs[-1][0] != LATIN_FONT:
            font = runs[-1][0]
        font = font or LATIN_FONT
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return runs


@dataclass(frozen=True)
class _Font:
    font: hb.Font
    scale: float  # font units -> UNITS_PER_EM
    ascender: float
    descender: float


@cache
def _font(path: str) -> _Font:
    face = hb.Face(hb.Blob.from_file_path(path))
    font = hb.Font(face)
    scale = UNITS_PER_EM / face.upem
    extents = font.get_font_extents("ltr")
    return _Font(font=font, scale=scale, ascender=extents.ascender * scale, descender=extents.descender * scale)


@dataclass(frozen=True)
class ShapedGlyph:
    glyph_id: int
    cluster: int  # index in the run's text of the character(s) it draws
    x: float  # from the start of the run, offsets included; UNITS_PER_EM per em
    y: float
    advance: float


def shape(text: str, font_path: str) -> list[ShapedGlyph]:
    """HarfBuzz's glyphs for ``text`` in one font: conjuncts formed, vowel signs placed."""
    font = _font(font_path)
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(font.font, buffer, {})
    glyphs, pen_x = [], 0.0
    for info, position in zip(buffer.glyph_infos, buffer.glyph_positions, strict=True):
        glyphs.append(
            ShapedGlyph(
                glyph_id=info.codepoint,
                cluster=info.cluster,
                x=pen_x + position.x_offset * font.scale,
                y=position.y_offset * font.scale,
                advance=position.x_advance * font.scale,
            )
        )
        pen_x += position.x_advance * font.scale
    return glyphs


class _SvgPathPen:
    """Receives a glyph's outline from HarfBuzz and writes it as SVG path commands (y pointing down)."""

    def __init__(self, *, scale: float, x: float, baseline: float):
        self.commands: list[str] = []
        self._scale, self._x, self._baseline = scale, x, baseline

    def _point(self, x: float, y: float) -> str:
        return f"{self._x + x * self._scale:.1f} {self._baseline - y * self._scale:.1f}"

    def moveTo(self, point):  # noqa: N802 - the pen protocol's names
        self.commands.append("M" + self._point(*point))

    def lineTo(self, point):  # noqa: N802
        self.commands.append("L" + self._point(*point))

    def qCurveTo(self, *points):  # noqa: N802
        self.commands.append("Q" + " ".join(self._point(*point) for point in points))

    def curveTo(self, *points):  # noqa: N802
        self.commands.append("C" + " ".join(self._point(*point) for point in points))

    def closePath(self):  # noqa: N802
        self.commands.append("Z")

    def endPath(self):  # noqa: N802
        pass


@dataclass(frozen=True)
class Drawing:
    svg: str
    width_em: float
    height_em: float


def draw(text: str, *, colour: str = TEXT_COLOUR) -> Drawing:
    """One line of text as an SVG of its shaped outlines, one em = UNITS_PER_EM units."""
    runs = [(path, shape(run, path)) for path, run in ((static_file_path(font), run) for font, run in font_runs(text))]
    fonts = [_font(path) for path, _ in runs] or [_font(static_file_path(LATIN_FONT))]
    ascender = max(font.ascender for font in fonts)
    descender = min(font.descender for font in fonts)
    commands: list[str] = []
    run_x = 0.0  # where the current run starts
    for path, glyphs in runs:
        font = _font(path)
        for glyph in glyphs:
            pen = _SvgPathPen(scale=font.scale, x=run_x + glyph.x, baseline=ascender - glyph.y)
            font.font.draw_glyph_with_pen(glyph.glyph_id, pen)
            commands.extend(pen.commands)
        run_x += sum(glyph.advance for glyph in glyphs)
    width, height = max(run_x, 1.0), ascender - descender
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.1f} {height:.1f}" '
        f'width="{width:.1f}" height="{height:.1f}">'
        f'<path fill="{escape(colour)}" d="{" ".join(commands)}"/></svg>'
    )
    return Drawing(svg=svg, width_em=width / UNITS_PER_EM, height_em=height / UNITS_PER_EM)


def pdf_text_html(text: str, *, size_pt: Decimal, max_width_pt: Decimal | None = None) -> str:
    """HTML for the invoice template: escaped text, or for Indic text a picture of it, line by line."""
    lines = []
    for line in str(text).splitlines() or [""]:
        if not needs_shaping(line):
            lines.append(escape(line))
            continue
        drawing = draw(line)
        width = Decimal(str(drawing.width_em)) * size_pt
        height = Decimal(str(drawing.height_em)) * size_pt
        if max_width_pt is not None and width > max_width_pt:
            width, height = max_width_pt, height * max_width_pt / width
        source = INLINE_SVG + base64.b64encode(drawing.svg.encode()).decode("ascii")
        lines.append(f'<img src="{source}" style="width: {width:.1f}pt; height: {height:.1f}pt" alt="{escape(line)}">')
    return "<br>".join(lines)
