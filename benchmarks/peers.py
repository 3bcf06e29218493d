"""The implementations adamlib is measured against: two numpy Adams, torch.optim, DeepSpeed.

Every peer updates the *same* parameter and gradient memory as adamlib (torch tensors are
views of the numpy arrays), so a round of the benchmark moves the same data through each.

torch and DeepSpeed are optional peers: where one is missing or cannot build, its contenders
are left out and :data:`UNAVAILABLE` says why; the benchmark never fails for it.
"""

from __future__ import annotations

import contextlib
import io
import math
import os

import numpy as np

try:
    import torch
except ImportError:  # torch is an optional peer
    torch = None

UNAVAILABLE: dict[str, str] = {} if torch is not None else {"torch": "not installed"}
"""Peers that could not run, with the reason."""


class NaiveNumpyAdam:
    """Adam the way one writes it first in numpy: one expression per line, temporaries and all."""

    def __init__(self, param, grad, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.param, self.grad, self.lr, self.betas, self.eps = param, grad, lr, betas, eps
        self.exp_avg, self.exp_avg_sq, self.t = np.zeros_like(param), np.zeros_like(param), 0

    def step(self):
        (beta1, beta2), p, g, m, v = self.betas, self.param, self.grad, self.exp_avg, self.exp_avg_sq
        self.t += 1
        m[:] = beta1 * m + (1 - beta1) * g
        v[:] = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**self.t)
        v_hat = v / (1 - beta2**self.t)
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class CarefulNumpyAdam(NaiveNumpyAdam):
    """The same step with ``out=`` everywhere: no allocation, one scratch array, fewer passes.

    Each line is still a separate pass over memory (numpy cannot fuse), but no line allocates,
    and the bias corrections are folded into two scalars.
    """

    def __init__(self, param, grad, **options):
        super().__init__(param, grad, **options)
        self.scratch = np.empty_like(param)

    def step(self):
        (beta1, beta2), p, g, m, v, tmp = (self.betas, self.param, self.grad, self.exp_avg,
                                           self.exp_avg_sq, self.scratch)
        self.t += 1
        m *= beta1
        np.multiply(g, 1 - beta1, out=tmp)
        m += tmp
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp *= 1 / math.sqrt(1 - beta2**self.t)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= -self.lr / (1 - beta1**self.t)
        p += tmp


def numpy_contenders(param, grad, which=("numpy_careful",)) -> dict:
    """``{name: step}`` for the numpy Adams named in ``which`` (numpy_careful, numpy_naive)."""
    classes = {"numpy_careful": CarefulNumpyAdam, "numpy_naive": NaiveNumpyAdam}
    return {name: classes[name](param, grad).step for name in which}


def torch_views(params, grads):
    """torch tensors sharing memory with ``params``, each with its gradient set from ``grads``."""
    tensors = [torch.from_numpy(p) for p in params]
    for t, g in zip(tensors, grads):
        t.grad = torch.from_numpy(g)
    return tensors


def torch_contenders(cls_name, params, grads, options, impls=("forloop", "foreach", "fused")) -> dict:
    """``{"torch_<impl>": step}`` of ``torch.optim.<cls_name>`` for each implementation that exists."""
    if torch is None:
        return {}
    tensors = torch_views(params, grads)
    flags = {"fused": {"fused": True}, "foreach": {"foreach": True}, "forloop": {"foreach": False}}
    contenders = {}
    for impl in impls:
        try:
            opt = getattr(torch.optim, cls_name)(tensors, **options, **flags[impl])
            opt.step()
        except (RuntimeError, TypeError, ValueError):
            continue  # this implementation does not exist for this algorithm on the CPU
        contenders[f"torch_{impl}"] = opt.step
    return contenders


_deepspeed_adam = None


def deepspeed_adam():
    """``DeepSpeedCPUAdam``, built on first use (g++, about a minute), or None if it cannot be.

    Its import and build print pages of logs; they are kept out of the benchmark's output and
    only the reason for a failure is kept, in :data:`UNAVAILABLE`.
    """
    global _deepspeed_adam
    if _deepspeed_adam is not None or "deepspeed" in UNAVAILABLE:
        return _deepspeed_adam
    if torch is None:
        UNAVAILABLE["deepspeed"] = "needs torch"
        return None
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            from deepspeed.ops.adam import DeepSpeedCPUAdam

            probe = torch.zeros(8)
            probe.grad = torch.ones(8)
            DeepSpeedCPUAdam([probe], adamw_mode=False).step()  # compiles the C++ kernel once
    except Exception as exc:  # ImportError, a failed g++/ninja build, an unsupported CPU, ...
        UNAVAILABLE["deepspeed"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return None
    _deepspeed_adam = DeepSpeedCPUAdam
    return _deepspeed_adam


def deepspeed_contenders(params, grads) -> dict:
    """``{"deepspeed": step}`` of DeepSpeedCPUAdam (Adam, not its default AdamW), where it runs.

    DeepSpeed's CPU Adam supports float32 parameters (and half precision), not float64.
    """
    cls = deepspeed_adam()
    if cls is None:
        return {}
    try:
        opt = cls(torch_views(params, grads), adamw_mode=False)
        opt.step()
    except RuntimeError as exc:  # "param type Double ... is not supported"
        UNAVAILABLE[f"deepspeed {params[0].dtype}"] = str(exc).splitlines()[0]
        return {}
    return {"deepspeed": opt.step}


def version(name: str):
    """The installed version of an optional peer, or None."""
    if name == "torch":
        return getattr(torch, "__version__", None)
    if deepspeed_adam() is None:
        return None
    import deepspeed

    return deepspeed.__version__
