r"""The comparison protocol: tune every contender on its own grid, report on fresh seeds, decide
with an interval.

Rankings of optimizers are decided by how they were tuned (Choi et al., 2019; Schmidt et al.,
2021). Every comparison in the book therefore runs through :func:`compare`, which enforces:

1. **Each contender is tuned on its own grid.** Hyperparameters live on log grids
   (:class:`LogAxis`; in :math:`\log(1-\beta)` for a β). When the best point sits on the edge of
   an axis the grid is extended by one point on that side and the search continues; an optimum
   still on the edge after ``max_extensions`` extensions raises :class:`EdgeOptimumError`,
   because an edge optimum means the contender was not tuned.
2. **Tuning seeds are not reporting seeds.** The best configuration is chosen on
   ``tuning_seeds`` and then run afresh on ``reporting_seeds`` (at least five, disjoint from the
   tuning ones), so the reported numbers are not the maximum of noisy estimates.
3. **A conclusion is an interval.** The reported score of a contender is summarised as a mean
   with a Student-t confidence interval over seeds (:func:`mean_interval`), and two contenders
   are compared by the *paired* difference of their scores on the same seeds
   (:meth:`Comparison.difference`): a difference is resolved only when its interval excludes
   zero (:meth:`Comparison.assert_better`).

The experiment itself is a function the caller writes, ``trial(config, seed)``: it builds its
optimizer with ``config.optimizer(params)``, trains, and returns a final score (lower is better,
e.g. a loss) or a curve whose last value is the score. A diverged run returns ``inf`` or
``nan``; both count as ``inf`` (a score of ``-inf``, a perfect run on a log scale, is kept).
With ``batched=True`` it is called as ``trial(config, seeds)`` and returns one score (or
curve) per seed, which lets a problem advance every seed in one array.

>>> import numpy as np, adamlib
>>> from adamlib.compare import Contender, LogAxis, compare
>>> def trial(config, seed):                  # a noisy quadratic, 50 steps
...     rng = np.random.default_rng(seed)
...     x = np.array([1.0])
...     opt = config.optimizer([x])
...     for _ in range(50):
...         opt.step([x + 0.1 * rng.standard_normal(1)])
...     return float(x[0] ** 2)
>>> grid = {"lr": LogAxis(1e-3, 1.0)}
>>> result = compare([Contender("SGD", adamlib.SGD, grid)], trial)
>>> result.tuned["SGD"].best["lr"] < 1.0     # an interior optimum, found on its own grid
True
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

__all__ = [
    "LogAxis", "Choice", "Contender", "Config", "Tuning", "Interval", "Comparison",
    "EdgeOptimumError", "compare", "tune", "mean_interval", "student_t_quantile",
]

MIN_REPORTING_SEEDS = 5


class EdgeOptimumError(RuntimeError):
    """The best value of a hyperparameter stayed on the edge of its grid: the contender is not
    tuned, so no comparison that involves it can be trusted."""


# ---------------------------------------------------------------------------- grids
@dataclass(frozen=True)
class LogAxis:
    r"""Grid points evenly spaced in :math:`\log x` (or in :math:`\log(1-x)` with
    ``complement=True``, the natural scale of an EMA's β), ``per_decade`` points a decade.

    Parameters
    ----------
    low, high : float
        The first and last points (``low < high``).
    per_decade : int, default 2
    complement : bool, default False
        Space the points in :math:`1 - x`: ``LogAxis(0.9, 0.999, 1, complement=True)`` is
        0.9, 0.99, 0.999. Values then stay in [0, 1): extended downwards such a grid ends at
        β = 0 (``1 - 10**0``), and a best β of 0 is accepted as a boundary optimum.
    """

    low: float
    high: float
    per_decade: int = 2
    complement: bool = False

    def __post_init__(self):
        if not (isinstance(self.per_decade, int) and self.per_decade >= 1):
            raise ValueError(f"per_decade must be a positive integer, got {self.per_decade!r}")
        if self.complement:
            valid, bounds = 0 <= self.low < self.high < 1, "0 <= low < high < 1"
        else:
            valid, bounds = 0 < self.low < self.high, "0 < low < high"
        if not valid:
            raise ValueError(f"a LogAxis needs {bounds}, got low={self.low!r}, high={self.high!r}")

    def _to_log(self, x: float) -> float:
        return math.log10(1.0 - x) if self.complement else math.log10(x)

    def _from_log(self, u: float) -> float:
        return 1.0 - 10.0**u if self.complement else 10.0**u

    @property
    def points(self) -> tuple[float, ...]:
        """The grid, increasing, each point rounded to 12 significant digits (so that a point is
        the same float before and after the axis is extended)."""
        a, b = self._to_log(self.low), self._to_log(self.high)
        n = round(abs(b - a) * self.per_decade)
        if n == 0 or not math.isclose(abs(b - a) * self.per_decade, n, abs_tol=1e-6):
            raise ValueError(f"{self.low!r} to {self.high!r} is not a whole number of grid steps "
                             f"at {self.per_decade} per decade")
        return tuple(float(f"{self._from_log(a + (b - a) * k / n):.12g}") for k in range(n + 1))

    @property
    def at_domain_edge(self) -> bool:
        """Whether the lowest point is β = 0 on a complement axis (no memory at all, the end of
        the scale), where an optimum is a real boundary optimum and not an untuned grid."""
        return self.complement and self.low == 0.0

    def extended(self, side: int) -> "LogAxis":
        """The axis with one more point below (``side=-1``) or above (``side=+1``); raises
        :class:`EdgeOptimumError` where the scale ends. A complement axis on the lattice of whole
        steps from 1 − 10⁰ can be extended down to β = 0 and no further."""
        step = (-1.0 if self.complement else 1.0) / self.per_decade
        if side < 0:
            low = self._from_log(self._to_log(self.low) - step)
            if self.complement and abs(low) < 1e-9:
                low = 0.0  # the end of a β scale: no memory
            elif not low > 0:
                raise EdgeOptimumError(f"cannot extend the grid below {self.low!r}")
            return LogAxis(low, self.high, self.per_decade, self.complement)
        return LogAxis(self.low, self._from_log(self._to_log(self.high) + step), self.per_decade,
                       self.complement)


@dataclass(frozen=True)
class Choice:
    """A finite set of values with no order (e.g. ``nesterov``): searched whole, never extended."""

    values: tuple

    def __post_init__(self):
        if len(self.values) == 0:
            raise ValueError("a Choice needs at least one value")

    @property
    def points(self) -> tuple:
        return tuple(self.values)


# ---------------------------------------------------------------------------- contenders
@dataclass(frozen=True)
class Contender:
    """One optimizer in a comparison.

    Parameters
    ----------
    name : str
    make : callable
        ``make(params, **hyperparameters)`` returns an optimizer, e.g. ``adamlib.Adam``.
    axes : mapping of str to LogAxis or Choice
        The hyperparameters tuned for this contender (its own grid).
    fixed : mapping, optional
        Hyperparameters passed unchanged.
    """

    name: str
    make: Callable
    axes: Mapping[str, Any]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.axes:
            raise ValueError(f"contender {self.name!r} has no axis to tune; give it at least 'lr'")
        shared = set(self.axes) & set(self.fixed)
        if shared:
            raise ValueError(f"contender {self.name!r} both tunes and fixes {sorted(shared)}")


class Config(NamedTuple):
    """A contender at one point of its grid: what a ``trial`` receives."""

    name: str
    hyper: dict
    contender: Contender

    def optimizer(self, params, **extra):
        """The contender's optimizer over ``params`` at these hyperparameters."""
        return self.contender.make(params, **self.contender.fixed, **self.hyper, **extra)


def _scores(outputs, score, n: int) -> np.ndarray:
    values = np.array([score(out) for out in outputs], dtype=np.float64)
    if values.shape != (n,):
        raise ValueError(f"the trial returned {values.shape[0] if values.ndim else 1} results for {n} seeds")
    values[np.isnan(values)] = np.inf  # a diverged run (inf or nan) is the worst score; -inf stays
    return values


def _final(output) -> float:
    """The default score: the output itself, or the last value of a curve."""
    return float(np.asarray(output, dtype=np.float64).reshape(-1)[-1])


def _run(trial, config: Config, seeds: Sequence[int], batched: bool):
    if batched:
        return list(trial(config, np.asarray(seeds)))
    return [trial(config, int(seed)) for seed in seeds]


# ---------------------------------------------------------------------------- tuning
@dataclass(frozen=True)
class Tuning:
    """The grid search of one contender: every point tried, its mean score, and the best."""

    contender: Contender
    axes: dict          # the final (possibly extended) axes
    scores: dict        # tuple of hyperparameter values (in axis order) -> mean tuning score
    best: dict          # the best hyperparameters
    best_score: float
    extensions: int     # how many times the grid was extended

    def along(self, axis: str) -> tuple[np.ndarray, np.ndarray]:
        """``(points, scores)`` along ``axis`` with the other hyperparameters at their best."""
        names = list(self.axes)
        k = names.index(axis)
        rest = [self.best[n] for n in names]
        points = np.array(self.axes[axis].points)
        keyed = [tuple(rest[:k] + [p] + rest[k + 1:]) for p in points]
        return points, np.array([self.scores[key] for key in keyed])


def tune(contender: Contender, trial, seeds: Sequence[int], *, score=_final, batched=False,
         max_extensions: int = 3) -> Tuning:
    """Search ``contender``'s grid on ``seeds``; extend any axis whose best point is on its edge.

    The score of a grid point is the mean of its scores over ``seeds`` (``inf`` if any run
    diverged). Raises :class:`EdgeOptimumError` when every point diverged, or when the best
    point of a :class:`LogAxis` is still on its edge after ``max_extensions`` extensions.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("tune needs at least one tuning seed")
    axes = dict(contender.axes)
    names = list(axes)
    scores: dict = {}
    extensions = 0
    while True:
        for values in itertools.product(*(axes[n].points for n in names)):
            if values not in scores:
                config = Config(contender.name, dict(zip(names, values)), contender)
                outputs = _run(trial, config, seeds, batched)
                scores[values] = float(np.mean(_scores(outputs, score, len(seeds))))
        grid = {v: s for v, s in scores.items()
                if all(x in axes[n].points for n, x in zip(names, v))}
        best_values = min(grid, key=grid.get)
        if grid[best_values] == math.inf:
            raise EdgeOptimumError(f"{contender.name}: every configuration of the grid diverged")
        edges = []
        for k, n in enumerate(names):
            if isinstance(axes[n], LogAxis):
                points = axes[n].points
                if best_values[k] == points[0] and axes[n].at_domain_edge:
                    continue  # β = 0 is the end of the scale, not the end of the grid
                if best_values[k] == points[0]:
                    edges.append((n, -1))
                elif best_values[k] == points[-1]:
                    edges.append((n, +1))
        if not edges:
            break
        if extensions == max_extensions:
            where = ", ".join(f"{n}={best_values[names.index(n)]:.3g} ({'lowest' if s < 0 else 'highest'})"
                              for n, s in edges)
            raise EdgeOptimumError(
                f"{contender.name}: the best point is on the edge of its grid ({where}) after "
                f"{extensions} extensions; widen the grid or check the problem"
            )
        for n, side in edges:
            try:
                axes[n] = axes[n].extended(side)
            except EdgeOptimumError as error:
                raise EdgeOptimumError(f"{contender.name}: the best {n} is on the edge of its grid "
                                       f"and {error}") from None
        extensions += 1
    best = dict(zip(names, best_values))
    return Tuning(contender, axes, scores, best, grid[best_values], extensions)


# ---------------------------------------------------------------------------- statistics
def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    r"""The regularised incomplete beta function :math:`I_x(a, b)`."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


@functools.lru_cache(maxsize=256)
def student_t_quantile(p: float, df: int) -> float:
    r"""The ``p``-quantile of Student's t with ``df`` degrees of freedom (``0.5 < p < 1``).

    Solves :math:`F(t) = p` by bisection, with :math:`1 - F(t) = \tfrac12
    I_{\nu/(\nu+t^2)}(\nu/2, 1/2)` for :math:`t > 0`.
    """
    if not 0.5 < p < 1.0:
        raise ValueError(f"p must be in (0.5, 1), got {p!r}")
    if df < 1:
        raise ValueError(f"df must be at least 1, got {df!r}")
    tail = 1.0 - p
    lo, hi = 0.0, 1.0
    while 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + hi * hi)) > tail:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + mid * mid)) > tail:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


class Interval(NamedTuple):
    """A mean over seeds with a two-sided confidence interval."""

    mean: float
    low: float
    high: float
    level: float
    n: int

    def excludes(self, value: float = 0.0) -> bool:
        """True when ``value`` lies outside the interval."""
        return not self.low <= value <= self.high

    def __str__(self):
        return f"{self.mean:.3g} ({self.level:.0%} CI {self.low:.3g} to {self.high:.3g}, n={self.n})"


def mean_interval(values, level: float = 0.95) -> Interval:
    r"""The mean of ``values`` with its Student-t interval,
    :math:`\bar x \pm t_{(1+\ell)/2,\,n-1}\, s/\sqrt n`.

    The t interval assumes roughly normal per-seed values; across seeds of a training run that
    holds for log-losses far better than for losses, so compare log-losses when the values span
    decades. An infinite value (a diverged run) gives an infinite interval.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size < 2:
        raise ValueError("an interval needs at least two values")
    mean = float(np.mean(x))
    if not np.all(np.isfinite(x)):
        return Interval(mean, -math.inf, math.inf, level, x.size)
    half = student_t_quantile(0.5 + level / 2.0, x.size - 1) * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    return Interval(mean, mean - half, mean + half, level, x.size)


# ---------------------------------------------------------------------------- comparisons
@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare`: tunings, and per-seed results on the reporting seeds."""

    tuned: dict          # name -> Tuning
    scores: dict         # name -> scores on the reporting seeds (array)
    outputs: dict        # name -> the trial's outputs on the reporting seeds (list)
    reporting_seeds: tuple
    level: float = 0.95

    def summary(self, name: str) -> Interval:
        """Mean score of ``name`` over the reporting seeds, with its interval."""
        return mean_interval(self.scores[name], self.level)

    def difference(self, a: str, b: str) -> Interval:
        """The paired difference ``score[a] - score[b]`` seed by seed, with its interval."""
        return mean_interval(self.scores[a] - self.scores[b], self.level)

    def better(self, a: str, b: str) -> bool:
        """True when ``a`` scores lower than ``b`` and the interval of the difference excludes 0."""
        return self.difference(a, b).high < 0.0

    def assert_better(self, a: str, b: str) -> Interval:
        """Return the interval of ``score[a] - score[b]``; raise AssertionError unless it lies
        entirely below zero (``a`` resolved as better than ``b``)."""
        diff = self.difference(a, b)
        if not diff.high < 0.0:
            raise AssertionError(f"{a} is not resolved as better than {b}: difference {diff}")
        return diff

    def ranking(self) -> list[str]:
        """Contenders by mean reporting score, best first (ties are not resolved by this)."""
        return sorted(self.scores, key=lambda n: float(np.mean(self.scores[n])))

    def band(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mean, low, high)`` of ``name``'s curves over the reporting seeds, pointwise (the
        interval of the mean at each point), for a figure's shaded band."""
        curves = np.array(self.outputs[name], dtype=np.float64)
        if curves.ndim != 2:
            raise ValueError(f"{name}'s trial returned scores, not curves")
        t = student_t_quantile(0.5 + self.level / 2.0, curves.shape[0] - 1)
        mean = curves.mean(axis=0)
        half = t * curves.std(axis=0, ddof=1) / math.sqrt(curves.shape[0])
        return mean, mean - half, mean + half

    def table(self, digits: int = 3) -> str:
        """A plain-text table: each contender's tuned hyperparameters and its mean score with the
        interval, rounded to ``digits`` significant digits (stable for stored notebook output)."""
        def fmt(x):
            return f"{x:.{digits}g}" if isinstance(x, float) else repr(x)

        tuned = {name: ", ".join(f"{k}={fmt(v)}" for k, v in self.tuned[name].best.items())
                 for name in self.scores}
        width = max(len("contender"), *map(len, self.scores))
        hyper_width = max(len("tuned"), *map(len, tuned.values()))
        rows = [f"{'contender':<{width}}  {'tuned':<{hyper_width}}  mean  "
                f"[{self.level:.0%} interval over {len(self.reporting_seeds)} seeds]"]
        for name in self.scores:
            s = self.summary(name)
            rows.append(f"{name:<{width}}  {tuned[name]:<{hyper_width}}  {fmt(s.mean)}  [{fmt(s.low)}, {fmt(s.high)}]")
        return "\n".join(rows)


def compare(contenders: Sequence[Contender], trial, *, tuning_seeds: Sequence[int] = (0, 1, 2),
            reporting_seeds: Sequence[int] = tuple(range(100, 110)), score=_final,
            batched: bool = False, max_extensions: int = 3, level: float = 0.95) -> Comparison:
    """Tune each contender on ``tuning_seeds``, then run its best configuration on
    ``reporting_seeds``.

    Parameters
    ----------
    contenders : sequence of Contender
        Distinct names.
    trial : callable
        ``trial(config, seed)`` (or ``trial(config, seeds)`` with ``batched=True``): returns a
        score or a curve; lower is better; ``inf``/``nan`` for a diverged run.
    tuning_seeds, reporting_seeds : sequences of int
        Disjoint; at least five reporting seeds.
    score : callable, default the last value
        Maps one output of ``trial`` to the number compared.
    batched : bool, default False
    max_extensions : int, default 3
        How many times a grid may be extended before :class:`EdgeOptimumError`.
    level : float, default 0.95
        Confidence level of the intervals.
    """
    tuning_seeds, reporting_seeds = tuple(int(s) for s in tuning_seeds), tuple(int(s) for s in reporting_seeds)
    overlap = set(tuning_seeds) & set(reporting_seeds)
    if overlap:
        raise ValueError(f"seeds {sorted(overlap)} are both tuning and reporting seeds; keep them apart")
    if len(set(reporting_seeds)) < MIN_REPORTING_SEEDS:
        raise ValueError(f"report over at least {MIN_REPORTING_SEEDS} distinct seeds, got {len(set(reporting_seeds))}")
    names = [c.name for c in contenders]
    if len(set(names)) != len(names):
        raise ValueError(f"contender names must be distinct, got {names}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    tuned, scores, outputs = {}, {}, {}
    for contender in contenders:
        tuning = tune(contender, trial, tuning_seeds, score=score, batched=batched,
                      max_extensions=max_extensions)
        config = Config(contender.name, dict(tuning.best), contender)
        out = _run(trial, config, reporting_seeds, batched)
        tuned[contender.name] = tuning
        outputs[contender.name] = out
        scores[contender.name] = _scores(out, score, len(reporting_seeds))
    return Comparison(tuned, scores, outputs, reporting_seeds, level)
