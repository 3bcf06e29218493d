r"""Objects that write an optimizer's learning rates, the way ``torch.optim.lr_scheduler`` does.

Two drivers, two sources of the rate:

- :class:`Scheduler` follows a schedule, a pure function of the step (:mod:`adamlib.schedules`
  builds them): the rate at step :math:`t` is known in advance.
- :class:`ReduceLROnPlateau` follows a metric: it is fed a validation loss (or accuracy) and
  divides the rates when the metric stops improving, so its rates are known only as training
  goes.

Both touch nothing but ``group["lr"]`` and keep a small state dict of their own, to be saved
beside the optimizer's (:func:`adamlib.save`). They are re-exported by :mod:`adamlib.schedules`.
"""

from __future__ import annotations

import math
import numbers

from ._schedule import check_rate
from ._validation import check_at_least, check_flag, check_int, check_real

__all__ = ["Scheduler", "ReduceLROnPlateau"]


def _param_groups(optimizer) -> list:
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) and "lr" in g for g in groups):
        raise TypeError("optimizer must have param_groups: a non-empty list of dicts with an 'lr' entry")
    return groups


class Scheduler:
    r"""Drive an optimizer's learning rate with a schedule, like ``torch.optim.lr_scheduler``.

    At construction the scheduler sets every group's ``lr`` to the value for step 0; each call
    of :meth:`step` advances its counter :math:`t` by one and sets the value for step
    :math:`t`. Call :meth:`step` **once per optimizer step, after it**, as with torch::

        sched = Scheduler(opt, schedules.cosine_decay(1e-3, 1000))
        for batch in data:
            opt.step(grads(batch))   # uses lr = f(t)
            sched.step()             # t -> t + 1, lr = f(t + 1)

    Parameters
    ----------
    optimizer : adamlib.Optimizer
        Any object with ``param_groups``, a list of dicts with an ``"lr"`` entry.
    schedule : callable or sequence of callables
        ``f(step) -> float``, or one such callable per parameter group.
    relative : bool, default False
        If False, ``group["lr"] = f(t)`` (absolute rates; the groups' initial ``lr`` is
        overwritten). If True, ``group["lr"] = lr_0 · f(t)`` where ``lr_0`` is the group's
        ``lr`` at construction: :math:`f` is a *factor* and groups keep their ratios
        (``torch.optim.lr_scheduler.LambdaLR`` semantics).

    Attributes
    ----------
    last_step : int
        :math:`t`, the step whose rate is set now (0 after construction). It is torch's
        ``last_epoch``: a torch scheduler built with its default ``last_epoch=-1`` sets the rate
        for ``last_epoch = 0`` at construction and increments it in every ``step()``, so after
        ``k`` calls of ``step`` both hold ``k`` and both optimizers have the rate ``f(k)``.
    base_lrs : list of float
        Each group's ``lr`` at construction (the ``lr_0`` of ``relative=True``).
    last_lr : list of float
        The rate each group has now (torch's ``get_last_lr()``).

    Raises
    ------
    ValueError
        If a schedule returns a negative or non-finite rate; the optimizer then keeps the
        rates it had.
    """

    def __init__(self, optimizer, schedule, relative: bool = False):
        groups = _param_groups(optimizer)
        check_flag("relative", relative)
        if callable(schedule):
            schedule_list = [schedule] * len(groups)
        else:
            try:
                schedule_list = list(schedule)
            except TypeError:
                raise TypeError(f"schedule must be callable or a sequence of callables, got {schedule!r}") from None
            if len(schedule_list) != len(groups):
                raise ValueError(
                    f"schedule is a sequence of {len(schedule_list)} callables but the optimizer has "
                    f"{len(groups)} parameter groups"
                )
            for i, s in enumerate(schedule_list):
                if not callable(s):
                    raise TypeError(f"schedule[{i}] must be callable, got {s!r}")
        self.optimizer = optimizer
        self.schedules = schedule_list
        self.relative = relative
        self.base_lrs = [check_rate(f"param_groups[{i}]['lr']", g["lr"]) for i, g in enumerate(groups)]
        self.last_step = 0
        self.last_lr: list[float] = []
        self._apply()

    def __repr__(self):
        kind = ", relative=True" if self.relative else ""
        shown = self.schedules[0] if all(s is self.schedules[0] for s in self.schedules) else self.schedules
        return f"Scheduler({type(self.optimizer).__name__}, {shown!r}{kind}, last_step={self.last_step})"

    def _rates(self, t: int) -> list[float]:
        rates = []
        for i, (f, base) in enumerate(zip(self.schedules, self.base_lrs)):
            value = f(t)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"schedule for param_groups[{i}] returned {value!r} at step {t}, not a number") from None
            rate = base * value if self.relative else value
            if not math.isfinite(rate) or rate < 0.0:
                raise ValueError(
                    f"schedule for param_groups[{i}] gives lr = {rate!r} at step {t}; a rate must be finite and >= 0"
                )
            rates.append(rate)
        return rates

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(
                f"the optimizer has {len(groups)} parameter groups but the scheduler was built for "
                f"{len(self.base_lrs)}; build a new Scheduler after add_param_group"
            )
        rates = self._rates(self.last_step)  # computed whole before any group changes
        for group, rate in zip(groups, rates):
            group["lr"] = rate
        self.last_lr = rates

    def step(self) -> None:
        """Advance to the next step and set every group's ``lr`` to its value there."""
        self.last_step += 1
        try:
            self._apply()
        except Exception:
            self.last_step -= 1
            raise

    def get_last_lr(self) -> list[float]:
        """The rate of each group now (the name torch uses)."""
        return list(self.last_lr)

    def state_dict(self) -> dict:
        """The counter and the base rates: ``{"last_step": int, "base_lrs": [...], "relative": bool}``.

        The schedules themselves are functions and are not saved: rebuild the scheduler with
        the same schedule, then load. (torch resumes either this way or by passing
        ``last_epoch=k`` to the constructor, which needs ``group["initial_lr"]`` and, for its
        recursive schedulers, the rates already in the groups; here there is one way.)
        """
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs), "relative": self.relative}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a :meth:`state_dict` and set every group's ``lr`` for the restored step."""
        if not isinstance(state_dict, dict) or "last_step" not in state_dict:
            raise ValueError("not a Scheduler state dict: needs 'last_step'")
        last_step = check_int("last_step", state_dict["last_step"], 0)
        base_lrs = state_dict.get("base_lrs", self.base_lrs)
        if len(base_lrs) != len(self.base_lrs):
            raise ValueError(
                f"state dict has {len(base_lrs)} base_lrs but the scheduler drives {len(self.base_lrs)} groups"
            )
        base_lrs = [check_rate(f"base_lrs[{i}]", b) for i, b in enumerate(base_lrs)]
        relative = state_dict.get("relative", self.relative)
        if relative != self.relative:
            raise ValueError(f"state dict has relative={relative!r}, this scheduler relative={self.relative!r}")
        old = (self.last_step, self.base_lrs)
        self.last_step, self.base_lrs = last_step, base_lrs
        try:
            self._apply()
        except Exception:
            self.last_step, self.base_lrs = old
            raise


class ReduceLROnPlateau:
    r"""Divide the learning rates when a metric stops improving (``torch``'s ``ReduceLROnPlateau``).

    Feed it the monitored quantity once per evaluation, after the optimizer steps of that
    epoch: ``plateau.step(validation_loss)``. Each call compares the metric with the best seen
    so far; a metric that does not beat the best by the threshold is a *bad* evaluation. After
    more than ``patience`` bad evaluations in a row every group's rate is multiplied by
    ``factor`` (not below ``min_lr``), and the next ``cooldown`` evaluations are not counted.

    With :math:`b` the best metric so far and :math:`\tau` → ``threshold``, a metric
    :math:`a` is an improvement when

    - ``mode="min"``: :math:`a < b\,(1 - \tau)` (``threshold_mode="rel"``) or
      :math:`a < b - \tau` (``"abs"``);
    - ``mode="max"``: :math:`a > b\,(1 + \tau)` (``"rel"``) or :math:`a > b + \tau` (``"abs"``);

    and :math:`b` starts at :math:`+\infty` (min) or :math:`-\infty` (max), so the first metric
    always improves. A reduction sets :math:`\eta \leftarrow \max(\eta\,\gamma, \eta_{min})`
    (:math:`\gamma` → ``factor``) in each group, but only where it lowers the rate by more than
    ``eps``.

    **torch equivalent.** The same arguments, defaults and rules as
    ``torch.optim.lr_scheduler.ReduceLROnPlateau``: fed the same metrics, both set the same
    rates after every call (the tests check it over thousands of calls). Two differences:
    a metric that is NaN or infinite is refused here with a ValueError (torch counts it as a
    bad evaluation and carries on, which hides a diverged run), and torch's deprecated
    ``step(metrics, epoch)`` form does not exist.

    Torch's relative threshold is written for positive metrics. For a negative metric in
    ``"min"`` mode, :math:`b(1-\tau)` lies *above* :math:`b`, so a slightly worse value counts
    as an improvement (and in ``"max"`` mode a slightly better one does not); this class keeps
    torch's rule. Use ``threshold_mode="abs"`` for metrics that can be negative (a
    log-likelihood, a negative loss).

    Parameters
    ----------
    optimizer : adamlib.Optimizer
        Any object with ``param_groups``, a list of dicts with an ``"lr"`` entry.
    mode : {"min", "max"}, default "min"
        Whether the metric should decrease (a loss) or increase (an accuracy).
    factor : float, default 0.1
        :math:`\gamma`, the multiplier of a reduction, in [0, 1).
    patience : int, default 10
        Bad evaluations tolerated before a reduction (>= 0). With 0, the first bad evaluation
        reduces.
    threshold : float, default 1e-4
        :math:`\tau` (>= 0).
    threshold_mode : {"rel", "abs"}, default "rel"
    cooldown : int, default 0
        Evaluations after a reduction during which bad evaluations are not counted (>= 0).
    min_lr : float or sequence of float, default 0.0
        :math:`\eta_{min}`, a lower bound on the rate: one for every group, or one per group.
    eps : float, default 1e-8
        A reduction smaller than this leaves the rate unchanged (>= 0).

    Attributes
    ----------
    last_step : int
        How many metrics were fed (torch's ``last_epoch``).
    best : float
        The best metric so far.
    num_bad_epochs : int
        Bad evaluations in a row, since the last improvement or reduction.
    cooldown_counter : int
        Evaluations of cooldown left.
    last_lr : list of float
        The rate each group has now (torch's ``get_last_lr()``).

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> from adamlib.schedules import ReduceLROnPlateau
    >>> opt = adamlib.SGD([np.zeros(2)], lr=1.0)
    >>> plateau = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0]:
    ...     plateau.step(loss)
    >>> plateau.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr=0.0, eps: float = 1e-8):
        groups = _param_groups(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode: {mode!r} (must be 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"Invalid threshold_mode: {threshold_mode!r} (must be 'rel' or 'abs')")
        factor = check_real("factor", factor)
        if not 0.0 <= factor < 1.0:
            raise ValueError(f"Invalid factor: {factor!r} (must be in [0, 1): the rate is multiplied by it)")
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(groups):
                raise ValueError(
                    f"min_lr has {len(min_lr)} entries but the optimizer has {len(groups)} parameter groups"
                )
            min_lrs = [check_rate(f"min_lr[{i}]", m) for i, m in enumerate(min_lr)]
        else:
            min_lrs = [check_rate("min_lr", min_lr)] * len(groups)
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = check_int("patience", patience, 0)
        self.threshold = check_at_least("threshold", threshold, 0.0)
        self.threshold_mode = threshold_mode
        self.cooldown = check_int("cooldown", cooldown, 0)
        self.min_lrs = min_lrs
        self.eps = check_at_least("eps", eps, 0.0)
        self.last_step = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_lr = self._current_lrs()

    def __repr__(self):
        return (f"ReduceLROnPlateau({type(self.optimizer).__name__}, mode={self.mode!r}, factor={self.factor!r}, "
                f"patience={self.patience}, last_step={self.last_step}, best={self.best!r})")

    def _current_lrs(self) -> list[float]:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            raise ValueError(
                f"the optimizer has {len(groups)} parameter groups but ReduceLROnPlateau was built for "
                f"{len(self.min_lrs)}; build a new one after add_param_group"
            )
        return [check_rate(f"param_groups[{i}]['lr']", g["lr"]) for i, g in enumerate(groups)]

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` beats :attr:`best` by the threshold (the rule in the class docstring)."""
        if self.mode == "min":
            bar = self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return metric < bar
        bar = self.best * (1.0 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return metric > bar

    def step(self, metric) -> None:
        """Record one evaluation of the monitored metric and reduce the rates if it has plateaued.

        Raises
        ------
        TypeError
            If ``metric`` is not a real number (a 0-d array or tensor is fine).
        ValueError
            If ``metric`` is NaN or infinite; nothing changes.
        """
        if isinstance(metric, (bool, str, bytes)):
            raise TypeError(f"metric must be a real number, got {metric!r}")
        try:
            current = float(metric)
        except (TypeError, ValueError):
            raise TypeError(f"metric must be a real number (or a 0-d array), got {metric!r}") from None
        if not math.isfinite(current):
            raise ValueError(
                f"metric is {current!r}; ReduceLROnPlateau refuses a non-finite metric (the run has "
                "diverged: restore a checkpoint or lower the rate) and changed nothing"
            )
        lrs = self._current_lrs()  # checked before anything changes
        self.last_step += 1
        if self.is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad evaluations during cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, old, floor in zip(self.optimizer.param_groups, lrs, self.min_lrs):
                new = max(old * self.factor, floor)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self.last_lr = self._current_lrs()

    def get_last_lr(self) -> list[float]:
        """The rate of each group now (the name torch uses)."""
        return list(self.last_lr)

    _COUNTERS = ("last_step", "best", "num_bad_epochs", "cooldown_counter")
    _SETTINGS = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lrs", "eps")

    def state_dict(self) -> dict:
        """The counters and the settings, as plain Python values (for :func:`adamlib.save`).

        The rates themselves live in the optimizer's state dict: save both.
        """
        return {name: getattr(self, name) for name in self._COUNTERS + self._SETTINGS}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the counters of a :meth:`state_dict` taken from a plateau built alike.

        Raises
        ------
        ValueError
            If an entry is missing or invalid, or if a setting differs from this object's
            (build it with the saved arguments instead); nothing changes.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        missing = [k for k in self._COUNTERS + self._SETTINGS if k not in state_dict]
        if missing:
            raise ValueError(f"not a ReduceLROnPlateau state dict: missing {missing}")
        for name in self._SETTINGS:
            saved, mine = state_dict[name], getattr(self, name)
            if (list(saved) if name == "min_lrs" else saved) != mine:
                raise ValueError(
                    f"state dict has {name}={saved!r} but this ReduceLROnPlateau has {name}={mine!r}; "
                    "build it with the saved arguments"
                )
        best = state_dict["best"]
        if isinstance(best, bool) or not isinstance(best, numbers.Real) or math.isnan(best):
            raise ValueError(f"Invalid best: {best!r} (must be a number or an infinity)")
        counters = {"last_step": check_int("last_step", state_dict["last_step"], 0),
                    "num_bad_epochs": check_int("num_bad_epochs", state_dict["num_bad_epochs"], 0),
                    "cooldown_counter": check_int("cooldown_counter", state_dict["cooldown_counter"], 0),
                    "best": float(best)}
        for name, value in counters.items():
            setattr(self, name, value)
        self.last_lr = self._current_lrs()
