"""Shared cases and runners of the oracle tests (test_reference.py, test_torch_oracle.py).

Not a test module (pytest collects only ``test_*.py``); the tests import it by name, as they
import ``conftest``.

Every case is ``(algo, hyperparameters)`` with torch's argument names; :data:`CASES` holds
every valid combination of the options each optimizer has, at learning rates large enough
that 300 steps move the weights by O(1).
"""

from __future__ import annotations

import itertools

import numpy as np
from _family import FAMILY

from adamlib import reference

STEPS = 300
SHAPE = (12, 25)  # 300 elements, 2-D so that the flattening of parameters is exercised

CLASSES = {member.algo: member.cls for member in FAMILY}
TORCH_NAMES = {member.algo: member.torch_name for member in FAMILY}


def _grid(**options):
    keys = list(options)
    for values in itertools.product(*options.values()):
        yield dict(zip(keys, values))


def _redundant(hp) -> bool:
    """A combination refused by torch and adamlib, or the same as another case."""
    if hp.get("nesterov") and (hp["momentum"] == 0 or hp["dampening"] != 0):
        return True  # refused
    return bool(hp.get("decoupled_weight_decay")) and not hp["weight_decay"]  # = coupled with λ = 0


def _cases():
    return [(member.algo, {**member.oracle_base, **hp}) for member in FAMILY
            for hp in _grid(**member.oracle_grid) if not _redundant(hp)]


CASES = _cases()


def case_id(case) -> str:
    algo, hp = case
    short = {"weight_decay": "wd", "decoupled_weight_decay": "decoupled", "momentum_decay": "psi",
             "dampening": "damp", "momentum": "mom"}
    parts = []
    for key, value in hp.items():
        if key == "lr" or value is False or value == 0.0:
            continue
        name = short.get(key, key)
        parts.append(name if value is True else f"{name}={value}")
    return "-".join([algo] + parts).replace(" ", "")


def problem(dtype, seed=0, steps=STEPS, shape=SHAPE):
    """``(theta0, grads)``: a starting point and a fixed sequence of gradients.

    Coordinates get gradient scales from 1e-3 to 10 (adaptive methods must normalise them),
    and the last row is zero for the first 20 steps (v = 0: the ε guards are exercised). The
    gradients do not depend on θ, so every implementation sees the same sequence and only the
    update rules are compared; θ still enters through weight decay.

    The zero row does not stay zero: with coupled weight decay and no gradient, an adaptive
    method takes steps of about ``lr·sign(θ)`` whatever ``|θ|`` is, so θ chatters around 0 and
    the iteration is chaotic — rounding differences grow by orders of magnitude (measured:
    1e-3 relative after 300 NAdam steps in float64). That would test the problem, not the
    implementations.
    """
    rng = np.random.default_rng(seed)
    theta0 = rng.standard_normal(shape)
    scales = 10.0 ** rng.uniform(-3, 1, size=shape)
    grads = rng.standard_normal((steps, *shape)) * scales + 0.3 * scales
    grads[:20, -1] = 0.0
    return theta0.astype(dtype), grads.astype(dtype)


def run_adamlib(algo, hp, theta0, grads):
    """Trajectory ``(steps, *shape)`` and final state of the adamlib optimizer."""
    theta = theta0.copy()
    opt = CLASSES[algo]([theta], **hp)
    trajectory = np.empty((len(grads), *theta.shape), theta.dtype)
    for k, g in enumerate(grads):
        opt.step([g])
        trajectory[k] = theta
    return trajectory, opt.state[0]


def run_reference(algo, hp, theta0, grads):
    """Trajectory and final state of :mod:`adamlib.reference`."""
    step = getattr(reference, algo)
    theta, state = theta0.copy(), reference.init_state(algo, theta0, **hp)
    trajectory = np.empty((len(grads), *theta.shape), theta.dtype)
    for k, g in enumerate(grads):
        theta, state = step(theta, g, state, **hp)
        trajectory[k] = theta
    return trajectory, state


class default_dtype:
    """Context manager: torch's default dtype set to match numpy's ``dtype``, restored after.

    torch keeps scalar state (``step``, NAdam's ``mu_product``) in its default dtype, so the
    float64 comparisons need float64 there too.
    """

    def __init__(self, torch, dtype):
        self.torch, self.dtype = torch, dtype

    def __enter__(self):
        self.saved = self.torch.get_default_dtype()
        self.torch.set_default_dtype(self.torch.float64 if self.dtype == np.float64 else self.torch.float32)

    def __exit__(self, *exc):
        self.torch.set_default_dtype(self.saved)


def torch_optimizer(torch, algo, params, hp):
    """The torch.optim optimizer for ``algo`` on its single-tensor path (foreach=False)."""
    return getattr(torch.optim, TORCH_NAMES[algo])(params, foreach=False, **hp)


def run_torch(torch, algo, hp, theta0, grads):
    """Trajectory and final state (numpy arrays; ``step`` as int) of torch.optim."""
    with default_dtype(torch, theta0.dtype):
        p = torch.nn.Parameter(torch.from_numpy(theta0.copy()))
        opt = torch_optimizer(torch, algo, [p], hp)
        trajectory = np.empty((len(grads), *theta0.shape), theta0.dtype)
        for k, g in enumerate(grads):
            p.grad = torch.from_numpy(g.copy())
            opt.step()
            trajectory[k] = p.detach().numpy()
        state = {}
        for key, value in opt.state[p].items():
            value = value.detach().numpy().copy() if torch.is_tensor(value) else value
            state[key] = value.item() if np.ndim(value) == 0 else value
    return trajectory, state


def deviation(actual, expected) -> float:
    """``max|actual - expected| / max|expected|`` in units of the dtype's machine epsilon.

    That is the error in "ulps of the largest weight", the unit in which rounding errors of
    an update ``θ - Δ`` with ``|Δ| ≤ |θ|`` accumulate.
    """
    expected = np.asarray(expected)
    err = np.max(np.abs(np.asarray(actual, np.float64) - expected.astype(np.float64)))
    scale = max(float(np.max(np.abs(expected))), np.finfo(expected.dtype).tiny)
    return err / scale / float(np.finfo(expected.dtype).eps)


# Accumulated rounding error allowed between two implementations of the same update, in ulps of
# the largest weight (see deviation()). Each step rounds θ once (½ ulp) and changes it by an
# update computed to a few ulps of itself, never larger than the weights here; added up at worst
# linearly over STEPS steps that is about 2 ulps a step: 600 ulps, i.e. 7e-5 relative in float32
# and 1.3e-13 in float64. Measured: at most 25 ulps (the table printed by running this file).
# A real difference — ε inside rather than outside the root, a missing bias correction, torch's
# undamped first momentum step — moves the weights by ≥ 1e-3 relative and fails by far.
TOLERANCE_ULPS = 2 * STEPS


def state_deviations(actual: dict, expected: dict) -> dict:
    """Per array key of ``expected`` that ``actual`` also has: :func:`deviation`."""
    return {k: deviation(actual[k], v) for k, v in expected.items()
            if isinstance(v, np.ndarray) and k in actual}


def deviation_table(torch) -> list[tuple[str, str, float, float]]:
    """``(algo, dtype, max ulps adamlib vs torch, max ulps reference vs torch)`` over CASES."""
    rows = []
    for dtype in (np.float32, np.float64):
        theta0, grads = problem(dtype)
        for algo in CLASSES:
            worst_kernel = worst_reference = 0.0
            for case_algo, hp in CASES:
                if case_algo != algo:
                    continue
                expected, _ = run_torch(torch, algo, hp, theta0, grads)
                worst_kernel = max(worst_kernel, deviation(run_adamlib(algo, hp, theta0, grads)[0], expected))
                worst_reference = max(worst_reference, deviation(run_reference(algo, hp, theta0, grads)[0], expected))
            rows.append((algo, np.dtype(dtype).name, worst_kernel, worst_reference))
    return rows


if __name__ == "__main__":  # print the table of measured deviations from torch
    import torch as _torch

    print(f"{'optimizer':10} {'dtype':8} {'adamlib-torch':>14} {'reference-torch':>16}  (ulps of max|θ|, "
          f"{STEPS} steps, worst over the cases)")
    for algo, dtype, kernel_dev, reference_dev in deviation_table(_torch):
        eps = np.finfo(dtype).eps
        print(f"{algo:10} {dtype:8} {kernel_dev:8.1f} ({kernel_dev * eps:.1e}) "
              f"{reference_dev:8.1f} ({reference_dev * eps:.1e})")
