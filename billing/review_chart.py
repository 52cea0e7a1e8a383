"""The register chart of a bill under review, as SVG geometry: pure (no Django), drawn by
templates/admin/billing/heldinvoice/review.html with presentation attributes and classes only
(the admin's Content-Security-Policy allows no inline style or script)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

WIDTH = 720
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 12, 28  # margins for the axis labels
MARK = 8


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str

    @property
    def box_x(self) -> float:  # a square marker's corner, MARK px across
        return round(self.x - MARK / 2, 1)

    @property
    def box_y(self) -> float:
        return round(self.y - MARK / 2, 1)


@dataclass(frozen=True)
class RegisterChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    line: str  # SVG polyline points, "x,y x,y ..."
    excluded: list[Marker]
    opening: Marker | None
    closing: Marker | None
    y_min_label: str
    y_max_label: str
    x_start_label: str
    x_end_label: str
    readings: int


def _number(value: Decimal | float | str) -> float:
    return float(value)


def _thin(points: list[tuple[float, float]], columns: int) -> list[tuple[float, float]]:
    """Per pixel column keep the first, lowest, highest and last point: a spike or a drop stays visible."""
    if len(points) <= columns * 4:
        return points
    kept: list[tuple[float, float]] = []
    column: list[tuple[float, float]] = []
    current = None
    for point in points:
        key = int(point[0])
        if key != current and column:
            kept.extend(_column_extremes(column))
            column = []
        current = key
        column.append(point)
    if column:
        kept.extend(_column_extremes(column))
    return kept


def _column_extremes(column: list[tuple[float, float]]) -> list[tuple[float, float]]:
    low = min(column, key=lambda p: p[1])
    high = max(column, key=lambda p: p[1])
    chosen = {id(p): p for p in (column[0], low, high, column[-1])}
    return sorted(chosen.values(), key=lambda p: p[0])


def register_chart(
    *,
    start: datetime,
    end: datetime,
    readings: Sequence[tuple[datetime, object]],
    excluded: Sequence[tuple[datetime, object, str]] = (),
    opening: tuple[datetime, object] | None = None,
    closing: tuple[datetime, object] | None = None,
    tz=None,
) -> RegisterChart:
    """Registers over [start, end] in time order; ``excluded`` are (timestamp, register, kind) the bill
    left out; ``opening``/``closing`` the bill's registers at their instants. Times label in ``tz``."""
    values = [_number(v) for _, v in readings]
    values += [_number(v) for _, v, _ in excluded]
    for mark in (opening, closing):
        if mark is not None and mark[1] is not None:
            values.append(_number(mark[1]))
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:
        low, high = low - 1, high + 1
    span = max((end - start).total_seconds(), 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(at: datetime) -> float:
        return round(LEFT + plot_w * min(max((at - start).total_seconds() / span, 0.0), 1.0), 1)

    def y_of(value) -> float:
        return round(TOP + plot_h * (1 - (_number(value) - low) / (high - low)), 1)

    points = _thin([(x_of(at), y_of(v)) for at, v in readings], plot_w)

    def marker(mark, label_prefix: str) -> Marker | None:
        if mark is None or mark[0] is None or mark[1] is None:
            return None
        return Marker(x_of(mark[0]), y_of(mark[1]), f"{label_prefix} {mark[1]} kWh")

    def when(at: datetime) -> str:
        return (at.astimezone(tz) if tz else at).strftime("%d %b %H:%M")

    return RegisterChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        line=" ".join(f"{x},{y}" for x, y in points),
        excluded=[Marker(x_of(at), y_of(v), f"{kind} {v} kWh at {when(at)}") for at, v, kind in excluded],
        opening=marker(opening, "Opening"),
        closing=marker(closing, "Closing"),
        y_min_label=f"{low:,.1f}",
        y_max_label=f"{high:,.1f}",
        x_start_label=when(start),
        x_end_label=when(end),
        readings=len(readings),
    )
