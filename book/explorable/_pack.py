"""Pixel coordinates packed into short strings, and the SVG path data they stand for.

A frame of a moving layer travels to the browser as a string: every coordinate is rounded to
half a pixel (what the eye can see on the figure as displayed), offset to be non-negative and
written as two base-64 digits, so a point costs four characters. ``"~"`` before a point starts a
new piece of a line. ``player.js`` unpacks the same strings; :func:`path_data` here does it in
Python for the figure drawn at the default slider values, so that the static figure and the
first frame the script draws are the same path data, character for character.
"""

from __future__ import annotations

import numpy as np

DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
OFFSET = 1024  # half pixels: a packed coordinate covers [-512, 1536) px
BREAK = "~"
LOWEST, HIGHEST = -OFFSET / 2, (64 * 64 - OFFSET) / 2
_VALUE = {digit: n for n, digit in enumerate(DIGITS)}
_TWO_DIGITS = np.array([a + b for a in DIGITS for b in DIGITS])


def pack(points: np.ndarray, breaks: np.ndarray | None = None) -> str:
    """Points (n, 2) in pixels -> packed string; ``breaks[i]`` starts a new piece at point i."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    half = np.rint(points * 2).astype(np.int64) + OFFSET
    if half.size and (half.min() < 0 or half.max() >= 64 * 64):
        raise ValueError(
            f"pixel coordinates outside [{LOWEST:g}, {HIGHEST:g}): clip them to the figure first"
        )
    codes = _TWO_DIGITS[half].reshape(-1, 2)
    pieces = np.char.add(codes[:, 0], codes[:, 1]).astype(object)
    if breaks is not None and len(pieces):
        pieces[1:][np.asarray(breaks)[1:]] = BREAK + pieces[1:][np.asarray(breaks)[1:]]
    return "".join(pieces)


def _number(half_pixels: int) -> str:
    """A half-pixel count as JavaScript prints the number it stands for (12, 12.5, -0.5)."""
    return str(half_pixels // 2) if half_pixels % 2 == 0 else str(half_pixels / 2)


def path_data(kind: str, code: str, base: float | None = None) -> str:
    """The SVG path data that ``player.js`` writes for a packed layer (see its pathData)."""
    out, move, i = [], True, 0
    base_text = _number(round(base * 2)) if base is not None else ""
    while i < len(code):
        if code[i] == BREAK:
            move, i = True, i + 1
            continue
        x, y = (_number(_VALUE[code[j]] * 64 + _VALUE[code[j + 1]] - OFFSET) for j in (i, i + 2))
        i += 4
        if kind == "dots":
            out.append(f"M{x} {y}h0")
        elif kind == "bars":
            out.append(f"M{x} {base_text}V{y}")
        else:
            out.append(f"{'M' if move else 'L'}{x} {y}")
        move = False
    return "".join(out)


def clip_polyline(points: np.ndarray, box: tuple[float, float, float, float]):
    """Clip a polyline to ``box = (left, top, right, bottom)`` (Liang-Barsky, every segment).

    Non-finite points break the line. Returns the points to draw and, for each, whether it
    starts a new piece. Segments are clipped exactly, so a line that leaves the box (an
    iteration that diverges) is drawn up to the box's edge and no further.
    """
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(p) < 2:
        return np.empty((0, 2)), np.empty(0, dtype=bool)
    a, b = p[:-1], p[1:]
    d = b - a
    visible = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    t0, t1 = np.zeros(len(d)), np.ones(len(d))
    left, top, right, bottom = box
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis, low, high in ((0, left, right), (1, top, bottom)):
            for step, room in ((-d[:, axis], a[:, axis] - low), (d[:, axis], high - a[:, axis])):
                ratio = room / step
                visible &= ~((step == 0) & (room < 0))
                t0 = np.where(step < 0, np.maximum(t0, ratio), t0)
                t1 = np.where(step > 0, np.minimum(t1, ratio), t1)
    visible &= t0 <= t1
    start, end = a + t0[:, None] * d, a + t1[:, None] * d
    # A visible segment continues the previous one when both are whole at their shared point.
    continues = np.zeros(len(d), dtype=bool)
    continues[1:] = visible[:-1] & (t1[:-1] == 1) & (t0[1:] == 0)
    starts = visible & ~continues
    both = np.stack([start, end], axis=1)[visible].reshape(-1, 2)
    breaks = np.stack([starts, np.zeros_like(starts)], axis=1)[visible].reshape(-1)
    keep = np.stack([starts, np.ones_like(starts)], axis=1)[visible].reshape(-1)
    return both[keep], breaks[keep]


def drop_repeats(points: np.ndarray, breaks: np.ndarray):
    """Leave out each point of a line that rounds to the same half pixel as the one before
    (a converged iteration adds nothing to see, and costs four characters a step)."""
    half = np.rint(np.asarray(points, dtype=float) * 2)
    repeat = np.zeros(len(half), dtype=bool)
    repeat[1:] = (half[1:] == half[:-1]).all(axis=1) & ~np.asarray(breaks, dtype=bool)[1:]
    return points[~repeat], breaks[~repeat]


def inside(points: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Which points (finite ones) lie in the box (left, top, right, bottom)."""
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    left, top, right, bottom = box
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(p).all(axis=1)
            & (p[:, 0] >= left) & (p[:, 0] <= right)
            & (p[:, 1] >= top) & (p[:, 1] <= bottom)
        )
