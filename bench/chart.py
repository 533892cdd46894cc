"""The bench's bar chart as a PNG, drawn with matplotlib (a dev dependency; the Agg backend, no display needed).

    png = bar_chart(title, groups, footnote)   # bytes of a PNG file

Each group is one measure in its own unit and scale, a panel of its own: a title, the x axis's label (the unit),
horizontal bars (label, median, interquartile range as a whisker, colour, the text written after the bar) and an
optional budget line. The same arguments give the same bytes: a fixed size and resolution, matplotlib's default
style whatever the local matplotlibrc says, its bundled font, and no version or date in the PNG's metadata.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import matplotlib.style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Color = str
BLUE: Color = "#2d69af"
PALE_BLUE: Color = "#8cb4e1"
GREY: Color = "#969696"
RED: Color = "#c82828"
TEXT: Color = "#1e1e1e"

WIDTH_INCHES, DPI = 10.0, 100  # 1000 pixels wide; the height follows the number of bars


@dataclass
class Bar:
    label: str
    value: float  # the bar's length, e.g. the median
    low: float | None = None  # spread drawn as a whisker, e.g. the quartiles
    high: float | None = None
    color: Color = BLUE
    note: str = ""  # written after the bar (or its whisker)


@dataclass
class Group:
    label: str  # the panel's title
    bars: list[Bar]
    unit: str = ""  # the x axis's label
    budget: float | None = None  # a dashed vertical line, e.g. 1.5 x the floor
    budget_label: str = ""


def bar_chart(title: str, groups: list[Group], footnote: str = "") -> bytes:
    # Inches: per bar, and per panel for its title, its axis and the gap to the next.
    height = 1.0 + sum(0.42 * len(group.bars) + 1.05 for group in groups) + 0.2 * len(textwrap.wrap(footnote, 165))
    # Agg itself (no pyplot, so no backend is chosen or started), on matplotlib's defaults with its own font.
    with matplotlib.style.context(["default", {"font.family": "DejaVu Sans", "font.size": 10}]):
        figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(len(groups), 1, squeeze=False, height_ratios=[len(g.bars) + 1.2 for g in groups])
        for ax, group in zip(axes[:, 0], groups, strict=True):
            _panel(ax, group)
        figure.suptitle(title, x=0.01, ha="left", fontsize=15, fontweight="bold", color=TEXT)
        if footnote:
            figure.supxlabel("\n".join(textwrap.wrap(footnote, 165)), x=0.01, ha="left", fontsize=8, color="#555555")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _panel(ax, group: Group) -> None:
    positions = list(range(len(group.bars)))
    values = [bar.value for bar in group.bars]
    ax.barh(positions, values, height=0.7, color=[bar.color for bar in group.bars], zorder=2)
    ends = []
    for position, bar in zip(positions, group.bars, strict=True):
        end = bar.value
        if bar.low is not None and bar.high is not None:
            # Interquartile whisker: asymmetric error bar around the median.
            error = [[max(0.0, bar.value - bar.low)], [max(0.0, bar.high - bar.value)]]
            ax.errorbar(bar.value, position, xerr=error, fmt="none", ecolor=TEXT, elinewidth=1.3, capsize=5, zorder=3)
            end = max(end, bar.high)
        ends.append(end)
        if bar.note:
            ax.annotate(
                bar.note,
                (end, position),
                xytext=(8, 0),
                textcoords="offset points",
                va="center",
                ha="left",
                fontsize=10,
                color=TEXT,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5},  # over the budget line, if it crosses
                zorder=5,
            )
    # Room to the right for the notes (about a quarter of the width) and the budget's label.
    right = max([*ends, group.budget or 0.0]) * 1.4 or 1.0
    ax.set_xlim(0, right)
    ax.set_ylim(len(group.bars) - 0.4, -0.6)  # the first bar on top
    ax.set_yticks(positions, [bar.label for bar in group.bars])
    ax.tick_params(axis="y", length=0)
    ax.set_title(group.label, loc="left", fontsize=11, fontweight="bold", color=TEXT)
    if group.unit:
        ax.set_xlabel(group.unit, fontsize=9, color="#555555")
    ax.grid(axis="x", color="#e8e8e8", zorder=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if group.budget is not None:
        ax.axvline(group.budget, color=RED, linestyle=(0, (4, 3)), linewidth=1.4, zorder=4)
        if group.budget_label:
            ax.annotate(
                group.budget_label,
                (group.budget, 0),
                xycoords=("data", "axes fraction"),
                xytext=(4, 3),
                textcoords="offset points",
                ha="left",
                va="bottom",
                fontsize=8,
                color=RED,
            )
