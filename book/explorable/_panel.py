"""One panel of an explorable figure: axes with fixed ranges, and the layers drawn in them.

A layer's data is either fixed (a pair of arrays, a string) or a function of the slider values
that returns such data; :class:`explorable.Explorable` calls it once per frame. The panel maps
data to pixels (linear or logarithmic axes), clips to its box and packs each frame
(:mod:`explorable._pack`); it also draws its frame, ticks, labels and legend as SVG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any, Callable

import numpy as np

from . import _pack

# Matplotlib's default colours, so that explorables sit well beside the book's static figures.
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
MARGIN = 16  # px a clipped line may run past the panel's box; the SVG clip path hides it
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass
class Layer:
    kind: str  # "line", "dots", "bars", "area" or "text"
    data: Any  # fixed data, or a function of the slider values returning it
    style: dict[str, str]
    label: str | None = None
    at: tuple[float, float] = (0.0, 0.0)  # text: the anchor point, in data coordinates

    @property
    def moves(self) -> bool:
        return callable(self.data)


@dataclass
class Panel:
    """Axes at ``(left, top)`` in the figure, ``width`` by ``height`` pixels of plotting area."""

    x: tuple[float, float]
    y: tuple[float, float]
    xlabel: str = ""
    ylabel: str = ""
    title: str = ""
    xlog: bool = False
    ylog: bool = False
    legend: str = "upper right"  # or "upper left", "lower left", "lower right"
    left: float = 0.0
    top: float = 0.0
    width: float = 0.0
    height: float = 0.0
    layers: list[Layer] = field(default_factory=list)

    def __post_init__(self):
        for name, log in (("x", self.xlog), ("y", self.ylog)):
            low, high = getattr(self, name)
            if not low < high or (log and low <= 0):
                raise ValueError(
                    f"{name}={(low, high)}: give a range (low, high) with low < high"
                    + (" and low > 0 on a logarithmic axis" if log else "")
                )

    # ----------------------------------------------------------------------------------------
    # Layers: each method takes fixed data or a function of the slider values

    def line(self, data, *, color=None, width=1.5, dash=None, label=None, opacity=1.0):
        """A polyline through ``(x, y)``; NaN or infinite points break it."""
        style = {"stroke": self._colour(color), "stroke-width": f"{width:g}", "fill": "none",
                 "stroke-linejoin": "round", "stroke-opacity": f"{opacity:g}"}
        if dash:
            style["stroke-dasharray"] = dash
        return self._add("line", data, style, label)

    def dots(self, data, *, color=None, size=5.0, label=None, opacity=1.0):
        """Round markers of diameter ``size`` px at ``(x, y)``; points outside are not drawn."""
        style = {"stroke": self._colour(color), "stroke-width": f"{size:g}",
                 "stroke-linecap": "round", "fill": "none", "stroke-opacity": f"{opacity:g}"}
        return self._add("dots", data, style, label)

    def bars(self, data, *, color=None, width=4.0, label=None, opacity=1.0):
        """Vertical bars from the bottom of the panel up to ``y`` at each ``x``."""
        style = {"stroke": self._colour(color), "stroke-width": f"{width:g}", "fill": "none",
                 "stroke-opacity": f"{opacity:g}"}
        return self._add("bars", data, style, label)

    def area(self, x, y, *, color=None, opacity=0.15, label=None):
        """A fixed filled polygon (a region: the stability region, a confidence band)."""
        style = {"fill": self._colour(color), "fill-opacity": f"{opacity:g}", "stroke": "none"}
        return self._add("area", (x, y), style, label)

    def text(self, data, *, at, color="#222", size=12, anchor="start"):
        """Text (fixed, or a function of the slider values) at ``at = (x, y)``, data units."""
        style = {"fill": color, "font-size": f"{size:g}", "text-anchor": anchor}
        layer = Layer("text", data, style, None, tuple(at))
        self.layers.append(layer)
        return layer

    def _colour(self, color):
        used = sum(layer.kind != "text" and layer.style.get("stroke") != "none"
                   for layer in self.layers)
        return color or COLOURS[used % len(COLOURS)]

    def _add(self, kind, data, style, label):
        if not callable(data):
            self._check_xy(data, kind)
        layer = Layer(kind, data, style, label)
        self.layers.append(layer)
        return layer

    @staticmethod
    def _check_xy(data, kind):
        try:
            x, y = data
        except (TypeError, ValueError):
            raise TypeError(
                f"{kind} data must be a pair (x, y) of equal-length arrays, or a function of the "
                "slider values that returns one"
            ) from None
        if np.shape(x) != np.shape(y):
            raise ValueError(f"{kind} data: x has shape {np.shape(x)} but y has {np.shape(y)}")

    # ----------------------------------------------------------------------------------------
    # Data to pixels

    def _scale(self, values, low, high, log, start, length, flip):
        values = np.asarray(values, dtype=float)
        if log:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(values > 0, np.log10(values), np.nan)
            low, high = math.log10(low), math.log10(high)
        fraction = (values - low) / (high - low)
        return start + length * (1 - fraction if flip else fraction)

    def pixels(self, x, y) -> np.ndarray:
        """Data coordinates -> (n, 2) pixel coordinates in the figure."""
        px = self._scale(x, *self.x, self.xlog, self.left, self.width, False)
        py = self._scale(y, *self.y, self.ylog, self.top, self.height, True)
        return np.stack([np.ravel(px), np.ravel(py)], axis=1)

    def box(self, margin: float = MARGIN):
        return (self.left - margin, self.top - margin,
                self.left + self.width + margin, self.top + self.height + margin)

    def pack(self, layer: Layer, data) -> str:
        """One frame of a layer as the string the browser unpacks (text: the text itself)."""
        if layer.kind == "text":
            return str(data)
        self._check_xy(data, layer.kind)
        points = self.pixels(*data)
        if layer.kind == "line":
            return _pack.pack(*_pack.drop_repeats(*_pack.clip_polyline(points, self.box())))
        if layer.kind == "bars":  # every bar whose x is in the box, its height clipped to it
            with np.errstate(invalid="ignore"):
                keep = (np.isfinite(points).all(axis=1) & (points[:, 0] >= self.left)
                        & (points[:, 0] <= self.left + self.width))
            points = points[keep]
            points[:, 1] = np.clip(points[:, 1], self.top, self.baseline())
            return _pack.pack(points)
        return _pack.pack(points[_pack.inside(points, self.box(0))])  # dots

    def baseline(self) -> float:
        return self.top + self.height

    # ----------------------------------------------------------------------------------------
    # SVG

    def ticks(self, axis: str) -> list[tuple[float, str]]:
        """Tick positions and labels: decades on a log axis, 1-2-5 steps on a linear one."""
        low, high = getattr(self, axis)
        if getattr(self, axis + "log"):
            first, last = math.ceil(math.log10(low) - 1e-9), math.floor(math.log10(high) + 1e-9)
            every = max(1, math.ceil((last - first + 1) / 6))
            return [(10.0**k, "10" + str(k).translate(SUPERSCRIPT) if k not in (0, 1)
                     else str(10**k)) for k in range(first, last + 1, every)]
        span = (high - low) / 5
        magnitude = 10 ** math.floor(math.log10(span))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= span)
        first = math.ceil(low / step - 1e-9)
        values = [k * step for k in range(first, int(math.floor(high / step + 1e-9)) + 1)]
        return [(v, f"{v:.10g}".replace("-", "−")) for v in values]

    def svg(self, clip_id: str, layer_ids: dict[int, int], first_frame: dict[int, str]) -> str:
        """The panel's SVG; a moving layer gets ``data-layer`` and its default frame."""
        left, top, w, h = self.left, self.top, self.width, self.height
        parts = [f'<rect x="{left:g}" y="{top:g}" width="{w:g}" height="{h:g}" fill="#fff" '
                 'stroke="#999"/>']
        for value, label in self.ticks("x"):
            px = float(self.pixels([value], [self.y[0]])[0, 0])
            parts.append(f'<path d="M{px:.1f} {top + h:g}v4" stroke="#999"/>'
                         f'<text x="{px:.1f}" y="{top + h + 16:g}" text-anchor="middle">'
                         f"{escape(label)}</text>")
        for value, label in self.ticks("y"):
            py = float(self.pixels([self.x[0]], [value])[0, 1])
            parts.append(f'<path d="M{left:g} {py:.1f}h-4" stroke="#999"/>'
                         f'<text x="{left - 6:g}" y="{py + 4:.1f}" text-anchor="end">'
                         f"{escape(label)}</text>")
        if self.xlabel:
            parts.append(f'<text x="{left + w / 2:g}" y="{top + h + 32:g}" '
                         f'text-anchor="middle">{escape(self.xlabel)}</text>')
        if self.ylabel:
            parts.append(f'<text transform="translate({left - 44:g} {top + h / 2:g}) rotate(-90)"'
                         f' text-anchor="middle">{escape(self.ylabel)}</text>')
        if self.title:
            parts.append(f'<text x="{left:g}" y="{top - 8:g}" font-weight="bold">'
                         f"{escape(self.title)}</text>")
        parts.append(f'<g clip-path="url(#{clip_id})">')
        for n, layer in enumerate(self.layers):
            parts.append(self._layer_svg(layer, layer_ids.get(n), first_frame.get(n)))
        parts.append("</g>")
        parts.append(self._legend_svg())
        return "".join(parts)

    def _layer_svg(self, layer: Layer, layer_id: int | None, frame: str | None) -> str:
        style = " ".join(f'{key}="{escape(value)}"' for key, value in layer.style.items())
        tag = "" if layer_id is None else f' data-layer="{layer_id}"'
        if layer.kind == "text":
            x, y = self.pixels([layer.at[0]], [layer.at[1]])[0]
            text = frame if layer.moves else str(layer.data)
            return f'<text x="{x:.1f}" y="{y:.1f}" {style}{tag}>{escape(text)}</text>'
        if layer.kind == "area":
            points = self.pixels(*layer.data)
            points = points[np.isfinite(points).all(axis=1)]
            d = "M" + "L".join(f"{px:.1f} {py:.1f}" for px, py in points) + "Z"
            return f'<path d="{d}" {style}/>'
        code = frame if layer.moves else self.pack(layer, layer.data)
        d = _pack.path_data(layer.kind, code, self.baseline())
        return f'<path d="{d}" {style}{tag}/>'

    def _legend_svg(self) -> str:
        entries = [layer for layer in self.layers if layer.label]
        if not entries:
            return ""
        right = "right" in self.legend
        lower = "lower" in self.legend
        x = self.left + self.width - 8 if right else self.left + 8
        y0 = (self.top + self.height - 8 - 16 * (len(entries) - 1)) if lower else self.top + 16
        # A white box behind the entries, about as wide as the longest label (7 px a letter).
        box_width = 7 * max(len(layer.label) for layer in entries) + 38
        box_left = x - box_width + 4 if right else x - 4
        parts = [f'<rect x="{box_left:g}" y="{y0 - 13:g}" width="{box_width:g}" '
                 f'height="{16 * len(entries) + 4:g}" fill="#fff" fill-opacity="0.85"/>']
        for k, layer in enumerate(entries):
            y = y0 + 16 * k
            colour = layer.style.get("stroke", layer.style.get("fill"))
            sample = x - 22 if right else x
            if layer.kind == "dots":
                mark = f'<path d="M{sample + 9:g} {y - 4:g}h0" stroke="{colour}" ' \
                       f'stroke-width="7" stroke-linecap="round"/>'
            elif layer.kind == "area":
                mark = f'<rect x="{sample:g}" y="{y - 9:g}" width="18" height="10" ' \
                       f'fill="{colour}" fill-opacity="{layer.style["fill-opacity"]}"/>'
            else:
                dash = layer.style.get("stroke-dasharray")
                mark = f'<path d="M{sample:g} {y - 4:g}h18" stroke="{colour}" stroke-width="2"' \
                       + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
            text_x, anchor = (x - 26, "end") if right else (x + 24, "start")
            parts.append(mark + f'<text x="{text_x:g}" y="{y:g}" text-anchor="{anchor}">'
                         f"{escape(layer.label)}</text>")
        return "".join(parts)
