"""Explorable figures for Deriving Adam: readers move sliders over frames the notebook computed.

The notebook computes every frame with adamlib, over a grid of slider values; this package
draws the figure at the default values as inline SVG (what a viewer without JavaScript shows)
and emits one ``text/html`` output holding that SVG, the sliders, every frame's pixel data packed
into JSON, and a small script (``player.js``, ~3 kB, no library) that redraws the SVG from the
frames when a slider moves. The same output works on the book's static site (myst-nb passes
``text/html`` through) and in JupyterLab (which runs the scripts of a trusted notebook's
output), offline. It is deterministic: ids derive from the explorable's name, numbers are
rounded to half a pixel, nothing random or dated is written, so nbval can compare it.

The book's figures, not the optimizers', live here: adamlib does not depend on this package.

Example
-------
>>> import numpy as np
>>> betas = np.round(np.linspace(0.5, 0.95, 10), 2)
>>> fig = Explorable("ema-demo", [Slider("β", betas, default=0.9, format="{:.2f}")],
...                  alt="EMA weights of the last 20 inputs for the chosen β")
>>> ages = np.arange(1, 21)
>>> weights = fig.panel(x=(0, 21), y=(0, 0.5), xlabel="age", ylabel="weight")
>>> _ = weights.bars(lambda beta: (ages, (1 - beta) * beta ** (ages - 1.0)))
>>> html = fig.html()
>>> html.count('type="range"'), len(fig.frames()[0]["frames"])
(1, 10)
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Callable, Sequence

import numpy as np

from ._panel import Panel

__all__ = ["Explorable", "Slider", "Panel", "BUDGET_BYTES", "player_script"]

# The most bytes one explorable may add to a page (its whole HTML output, uncompressed):
# tests/test_explorables.py checks it on the built site, and Explorable.html() refuses more.
BUDGET_BYTES = 400_000
NAME = re.compile(r"[a-z][a-z0-9-]*\Z")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def player_script() -> str:
    """The browser half (``player.js``), shipped inside this package."""
    return resources.files(__package__).joinpath("player.js").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Slider:
    """A control: ``label`` (e.g. "β₂"), the grid of ``values`` it steps through, the
    ``default`` value (one of them; drawn in the static figure) and how a value is shown
    (a format string or a function)."""

    label: str
    values: Sequence[float]
    default: float
    format: str | Callable[[float], str] = "{:g}"

    def __post_init__(self):
        values = np.asarray(self.values, dtype=float)
        if values.ndim != 1 or len(values) < 2:
            raise ValueError(f"slider {self.label!r}: give at least two values, in a 1-D sequence")
        object.__setattr__(self, "values", tuple(float(v) for v in values))
        if self.index_of(self.default) is None:
            raise ValueError(
                f"slider {self.label!r}: default {self.default!r} is not one of its values"
            )

    def index_of(self, value: float) -> int | None:
        close = np.flatnonzero(np.isclose(self.values, value, rtol=1e-9, atol=0))
        return int(close[0]) if len(close) else None

    def text(self, value: float) -> str:
        return self.format(value) if callable(self.format) else self.format.format(value)


class Explorable:
    """A figure of one or more panels whose moving layers follow the sliders.

    Parameters
    ----------
    name : str
        Lower-case letters, digits and hyphens; unique on its page (the HTML ids derive from it).
    sliders : list of Slider
        The controls. Frames are computed for every combination of their values (row-major:
        the last slider varies fastest), so two sliders of 30 values make 900 frames.
    alt : str
        What the figure shows, for screen readers (the SVG's ``aria-label``).
    columns : int, default 1
        How many panels share the figure's width, side by side; each panel is its own SVG,
        so on a narrow screen they stack instead of shrinking.
    height : float, default 220
        Height of each panel's plotting area, in pixels of the figure (its width is 680 px, the
        width of the book's text column, so the figure is drawn at the size it is shown).
    """

    WIDTH = 680
    LEFT, RIGHT, TOP, BOTTOM = 58, 14, 28, 42  # room around each plotting area

    def __init__(self, name: str, sliders: Sequence[Slider], *, alt: str, columns: int = 1,
                 height: float = 220):
        if not NAME.match(name):
            raise ValueError(f"name {name!r}: use lower-case letters, digits and hyphens")
        if not sliders:
            raise ValueError("an explorable needs at least one Slider")
        self.name, self.sliders, self.alt = name, list(sliders), alt
        self.columns, self.height = columns, height
        self.panels: list[Panel] = []
        self._frames: list[dict] | None = None

    @property
    def id(self) -> str:
        return f"explorable-{self.name}"

    def panel(self, *, x, y, aspect: str | None = None, **options) -> Panel:
        """A new panel (see :class:`explorable.Panel` for the options); ``aspect="equal"``
        widens the y range about its middle so that a unit is as long on both axes."""
        width = self.WIDTH / self.columns - self.LEFT - self.RIGHT
        if aspect == "equal":
            middle, half = (y[0] + y[1]) / 2, (x[1] - x[0]) / 2 * self.height / width
            y = (middle - half, middle + half)
        panel = Panel(x=tuple(x), y=tuple(y), left=self.LEFT, top=self.TOP, width=width,
                      height=self.height, **options)
        self.panels.append(panel)
        self._frames = None
        return panel

    # ----------------------------------------------------------------------------------------

    def grid(self) -> list[tuple[float, ...]]:
        """The slider values of every frame, in frame order."""
        return list(itertools.product(*(s.values for s in self.sliders)))

    def default_frame(self) -> int:
        index = 0
        for slider in self.sliders:
            index = index * len(slider.values) + slider.index_of(slider.default)
        return index

    def _moving(self):
        return [(panel, n, layer) for panel in self.panels
                for n, layer in enumerate(panel.layers) if layer.moves]

    def frames(self) -> list[dict]:
        """Each moving layer's packed frames (computed once: every layer function is called
        once per combination of slider values)."""
        if self._frames is None:
            grid = self.grid()
            self._frames = []
            for panel, _, layer in self._moving():
                frames = [panel.pack(layer, layer.data(*values)) for values in grid]
                entry = {"kind": layer.kind, "frames": frames}
                # A layer that follows only some sliders repeats its frames: store each distinct
                # frame once, and the frame order as indices into them.
                distinct = list(dict.fromkeys(frames))
                if len(distinct) < len(frames) // 2:
                    position = {frame: k for k, frame in enumerate(distinct)}
                    entry = {"kind": layer.kind, "frames": distinct,
                             "index": [position[frame] for frame in frames]}
                if layer.kind == "bars":
                    entry["base"] = panel.baseline()
                self._frames.append(entry)
        return self._frames

    def frame(self, number: int, layer: int) -> str:
        """The packed data of moving layer ``layer`` in frame ``number`` (see frames())."""
        entry = self.frames()[layer]
        return entry["frames"][entry["index"][number] if "index" in entry else number]

    def svg(self) -> str:
        """The figure at the default slider values: the static fallback, and the live figure.

        One SVG per panel, drawn at the size it is shown: side by side where the page is as
        wide as the figure, one under the other on a phone (their text stays readable).
        """
        default = self.default_frame()
        ids: dict[tuple[int, int], int] = {}
        for number, (panel, n, _) in enumerate(self._moving()):
            ids[id(panel), n] = number
        cell_width = self.WIDTH / self.columns
        cell_height = self.height + self.TOP + self.BOTTOM
        parts = [f'<div role="img" aria-label="{escape(self.alt)}" '
                 'style="display:flex;flex-wrap:wrap;justify-content:center">']
        for k, panel in enumerate(self.panels):
            layer_ids = {n: ids[id(panel), n] for n in range(len(panel.layers))
                         if (id(panel), n) in ids}
            first = {n: self.frame(default, number) for n, number in layer_ids.items()}
            clip = f"{self.id}-clip{k}"
            parts.append(
                f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {cell_width:g} '
                f'{cell_height:g}" width="100%" aria-hidden="true" font-family="{FONT}" '
                f'font-size="12" style="flex:1 1 {0.85 * cell_width:g}px;'
                f'max-width:{cell_width:g}px;height:auto">'
                f'<defs><clipPath id="{clip}"><rect x="{panel.left:g}" y="{panel.top:g}" '
                f'width="{panel.width:g}" height="{panel.height:g}"/></clipPath></defs>'
                + panel.svg(clip, layer_ids, first) + "</svg>"
            )
        parts.append("</div>")
        return "".join(parts)

    def html(self) -> str:
        """The whole output: figure, sliders, frames and player, within BUDGET_BYTES."""
        spec = {"sizes": [len(s.values) for s in self.sliders],
                "labels": [[s.text(v) for v in s.values] for s in self.sliders],
                "layers": self.frames()}
        data = json.dumps(spec, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
        controls = []
        for slider in self.sliders:
            at = slider.index_of(slider.default)
            controls.append(
                '<label style="display:inline-flex;align-items:center;gap:8px;margin-right:24px">'
                f"<span>{escape(slider.label)}</span>"
                f'<input type="range" min="0" max="{len(slider.values) - 1}" step="1" '
                f'value="{at}" disabled aria-label="{escape(slider.label)}" style="width:12em">'
                f'<output style="min-width:4em">{escape(slider.text(slider.default))}</output>'
                "</label>"
            )
        html = (
            f'<div class="explorable tex2jax_ignore" id="{self.id}" '
            f'style="max-width:{self.WIDTH}px;margin:0 auto">'
            + self.svg()
            + '<div class="explorable-controls" style="font-size:15px;padding:4px 0 0 8px">'
            + "".join(controls) + "</div>"
            + f'<script type="application/json">{data}</script>'
            + f'<script>{player_script()}explorableShow("{self.id}", document.currentScript);'
            + "</script></div>"
        )
        size = len(html.encode("utf-8"))
        if size > BUDGET_BYTES:
            raise ValueError(
                f"explorable {self.name!r} is {size:,} bytes, over the {BUDGET_BYTES:,}-byte budget"
                " per explorable: use fewer slider values or fewer points per frame"
            )
        return html

    def _repr_mimebundle_(self, include=None, exclude=None):
        html = self.html()
        grid = ", ".join(f"{s.label}: {len(s.values)} values" for s in self.sliders)
        plain = (f"Explorable figure {self.name!r} ({grid}; {len(self.grid())} frames, "
                 f"{len(html.encode('utf-8')) / 1000:.0f} kB): its sliders move in the book's "
                 "web pages and in JupyterLab.")
        return {"text/html": html, "text/plain": plain}
