"""The optional peers adamlib is measured against: torch.optim and DeepSpeed's CPU Adam.

Every peer updates the *same* parameter and gradient memory as adamlib (torch tensors are
views of the numpy arrays), so a round of the benchmark moves the same data through each.

torch and DeepSpeed are optional peers: where one is missing or cannot build, its contenders
are left out and :data:`UNAVAILABLE` says why; the benchmark never fails for it.
"""

from __future__ import annotations

import contextlib
import io
import os

try:
    import torch
except ImportError:  # torch is an optional peer
    torch = None

UNAVAILABLE: dict[str, str] = {} if torch is not None else {"torch": "not installed"}
"""Peers that could not run, with the reason."""


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
