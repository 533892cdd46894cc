"""A small bar chart as a PNG, with no dependency: bars drawn into a pixel buffer, text in a 5x7 bitmap font.

    png = bar_chart(title, groups, footnote)   # bytes of a PNG file

Each group is one measure in its own unit and scale: a label, bars (label, median, low, high, colour), an
optional budget line and the text written after each bar.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (30, 30, 30)
GREY: Color = (150, 150, 150)
LIGHT: Color = (232, 232, 232)
BLUE: Color = (45, 105, 175)
PALE_BLUE: Color = (140, 180, 225)
RED: Color = (200, 40, 40)

# 5x7 glyphs, rows top to bottom; lowercase is drawn as uppercase.
_FONT = {
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    " ": "..... ..... ..... ..... ..... ..... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "-": "..... ..... ..... ##### ..... ..... .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    "=": "..... ..... ##### ..... ##### ..... .....",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "/": "..... ....# ...#. ..#.. .#... #.... .....",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "_": "..... ..... ..... ..... ..... ..... #####",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
}
_GLYPHS = {char: [row for row in rows.split()] for char, rows in _FONT.items()}


class Canvas:
    def __init__(self, width: int, height: int, background: Color = WHITE):
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(self.width, x + w), min(self.height, y + h)
        if x0 >= x1 or y0 >= y1:
            return
        line = bytes(color) * (x1 - x0)
        for row in range(y0, y1):
            start = (row * self.width + x0) * 3
            self.pixels[start : start + len(line)] = line

    def text(self, x: int, y: int, text: str, scale: int = 2, color: Color = BLACK) -> int:
        """Draw text with its top left at (x, y); returns the x just after it."""
        for char in text.upper():
            for row, bits in enumerate(_GLYPHS.get(char, _GLYPHS["?"])):
                for column, bit in enumerate(bits):
                    if bit == "#":
                        self.rect(x + column * scale, y + row * scale, scale, scale, color)
            x += 6 * scale
        return x

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[row * stride : (row + 1) * stride]) for row in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
        )


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * 6 * scale


@dataclass
class Bar:
    label: str
    value: float
    low: float | None = None  # spread drawn as a whisker, e.g. the quartiles
    high: float | None = None
    color: Color = BLUE
    note: str = ""  # written after the bar


@dataclass
class Group:
    label: str
    bars: list[Bar]
    budget: float | None = None  # a vertical line, e.g. 1.5 x the floor
    budget_label: str = ""
    notes: list[str] = field(default_factory=list)


def bar_chart(title: str, groups: list[Group], footnote: str = "", width: int = 1000) -> bytes:
    scale, bar_height, gap = 2, 22, 6
    label_width = max(text_width(bar.label) for group in groups for bar in group.bars) + 20
    note_width = max(text_width(bar.note) for group in groups for bar in group.bars) + 20
    plot_left, plot_width = 20 + label_width, width - 40 - label_width - note_width
    height = 70 + sum(40 + len(g.bars) * (bar_height + gap) + 16 * len(g.notes) + 24 for g in groups) + 30
    canvas = Canvas(width, height)
    canvas.text(20, 20, title, scale=3)
    y = 70
    for group in groups:
        canvas.text(20, y, group.label, scale=scale)
        y += 28
        # Scaled to the bars and the budget; a whisker longer than that is cut at the edge.
        top = max([bar.value * 1.25 for bar in group.bars] + [(group.budget or 0) * 1.1]) or 1.0
        span = len(group.bars) * (bar_height + gap)
        canvas.rect(plot_left, y - 4, 1, span + 4, GREY)
        for bar in group.bars:
            canvas.text(20, y + 4, bar.label, scale=scale)
            length = int(plot_width * bar.value / top)
            canvas.rect(plot_left, y, max(1, length), bar_height, bar.color)
            if bar.low is not None and bar.high is not None:
                x0 = plot_left + int(plot_width * min(bar.low, top) / top)
                x1 = plot_left + int(plot_width * min(bar.high, top) / top)
                middle = y + bar_height // 2
                canvas.rect(x0, middle - 1, max(1, x1 - x0), 2, BLACK)
                canvas.rect(x0, middle - 6, 2, 12, BLACK)
                if bar.high <= top:
                    canvas.rect(x1 - 1, middle - 6, 2, 12, BLACK)
                else:  # an arrow head: the whisker goes on
                    for step in range(6):
                        canvas.rect(x1 - 8 + step, middle - 6 + step, 2, 12 - 2 * step, BLACK)
            canvas.text(plot_left + plot_width + 12, y + 4, bar.note, scale=scale)
            y += bar_height + gap
        if group.budget is not None:
            x = plot_left + int(plot_width * group.budget / top)
            for dash in range(y - span - 4, y, 8):
                canvas.rect(x, dash, 2, 5, RED)
            canvas.text(
                min(x + 4, plot_left + plot_width - text_width(group.budget_label, 1)),
                y + 2,
                group.budget_label,
                scale=1,
                color=RED,
            )
        y += 14
        for note in group.notes:
            canvas.text(plot_left, y, note, scale=1, color=BLACK)
            y += 16
        y += 24
    if footnote:
        canvas.text(20, height - 24, footnote, scale=1, color=GREY)
    return canvas.png()
