"""The invoice's twelve-month usage chart as bar heights: pure (no Django).

templates/billing/invoice_pdf.html draws each bar as a coloured table cell of the given height,
which is what xhtml2pdf renders reliably (it has no SVG or canvas charts of its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

MONTHS = 12  # columns of the chart; a meter with less history leaves the first ones empty
BAR_AREA_PT = Decimal(48)  # the tallest bar
LABEL_PT = Decimal(10)  # room above every bar for its kWh label
MIN_BAR_PT = Decimal("0.8")  # a month with some use always shows a sliver


@dataclass(frozen=True)
class UsageMonth:
    """One month of a meter's billed use; ``energy_kwh`` is None for a month with no invoice."""

    month: date
    energy_kwh: Decimal | None
    estimated: bool = False
    current: bool = False  # the month this invoice bills


@dataclass(frozen=True)
class UsageBar:
    month: date
    energy_kwh: Decimal | None
    estimated: bool
    current: bool
    bar_pt: Decimal  # height of the bar
    space_pt: Decimal  # the height above it (label included): every column is the same height

    @property
    def kind(self) -> str:
        """The bar's colour class: this month, an estimated month, or another billed month."""
        if self.current:
            return "current"
        return "estimated" if self.estimated else "actual"


def usage_bars(history: Sequence[UsageMonth], *, area_pt: Decimal = BAR_AREA_PT) -> list[UsageBar]:
    """Bars scaled to the largest month (which is ``area_pt`` tall); no use or no invoice: no bar."""
    largest = max((month.energy_kwh for month in history if month.energy_kwh), default=Decimal(0))
    bars = []
    for month in history:
        height = Decimal(0)
        if month.energy_kwh and largest > 0:
            height = max(MIN_BAR_PT, area_pt * month.energy_kwh / largest)
        height = height.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        bars.append(
            UsageBar(
                month=month.month,
                energy_kwh=month.energy_kwh,
                estimated=month.estimated,
                current=month.current,
                bar_pt=height,
                space_pt=area_pt - height + LABEL_PT,
            )
        )
    return bars
