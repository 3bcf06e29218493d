"""Interleaved timing: every contender once per round, medians and quartiles, ratios per round.

On a shared machine the speed of everything drifts with the load. Timing the contenders in
rounds — one call of each, in a new order, then the next round — exposes all of them to the
same drift, and a ratio taken *within* a round (contender time / reference time) cancels most
of it. So every cell reports the median and the interquartile range of its times, and every
ratio is the median (and quartiles) of the per-round ratios, not a ratio of medians.
"""

from __future__ import annotations

import time

import numpy as np


def interleaved_times(contenders: dict, rounds: int, warmup: int = 2, budget: float = 40.0,
                      before: dict | None = None) -> dict:
    """``{name: [seconds of each round]}``, every contender called once per round.

    Each round calls them in a new order (shuffled, :data:`_ORDERS`), so that no contender
    always follows the same neighbour: it would always meet the caches, of data and of code,
    as that neighbour left them, and a step that shares code with its neighbour would find it
    warm every time. A round never starts with the contender that ended the previous one (or
    the warm-up). ``before[name]``, where given, runs untimed just before each call of
    contender ``name`` (a training loop's forward and backward pass before its step). Stops
    early (after at least 3 rounds) once ``budget`` seconds have passed.
    """
    before = before or {}
    for _ in range(warmup):
        for name, fn in contenders.items():
            before.get(name, _nothing)()
            fn()
    names = list(contenders)
    times = {name: [] for name in names}
    start, last = time.perf_counter(), (names[-1] if warmup else None)
    for r in range(rounds):
        order = [names[k] for k in _ORDERS.permutation(len(names))]
        if order[0] == last and len(order) > 1:  # no contender straight after itself, across rounds either
            order.append(order.pop(0))
        last = order[-1]
        for name in order:
            before.get(name, _nothing)()
            t0 = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - t0)
        if r >= 2 and time.perf_counter() - start > budget:
            break
    return times


_ORDERS = np.random.default_rng(0)
"""The orders of the rounds: seeded once per run, so that a run is repeatable, and drawn on from
one measurement to the next, so that no two measurements replay one sequence of orders."""


def _nothing():
    pass


def quartiles(values) -> list[float]:
    """``[q1, median, q3]`` of ``values``."""
    return [float(q) for q in np.percentile(np.asarray(values, float), [25, 50, 75])]


def summarise(times: dict, reference: str | None = "adamlib") -> dict:
    """Medians, quartiles and per-round ratios of :func:`interleaved_times`' output.

    ``ratio[name]`` is ``[q1, median, q3]`` of *name's time / reference's time* over the rounds:
    above 1 means the reference was faster.
    """
    out = {"seconds": {k: quartiles(ts)[1] for k, ts in times.items()},
           "quartiles": {k: quartiles(ts)[::2] for k, ts in times.items()},
           "rounds": len(next(iter(times.values())))}
    if reference is not None and reference in times:
        ref = np.asarray(times[reference])
        out["ratio"] = {k: quartiles(np.asarray(ts) / ref) for k, ts in times.items() if k != reference}
    return out


def measure(contenders: dict, rounds: int, reference: str | None = "adamlib", **options) -> dict:
    """:func:`summarise` of :func:`interleaved_times` (``options`` go to the latter)."""
    return summarise(interleaved_times(contenders, rounds, **options), reference)


def rounds_for(n: int) -> int:
    """Enough rounds for a stable median: many for small arrays, at least 9 for the largest."""
    return int(min(300, max(9, 3e8 / max(n, 1) / 10)))
