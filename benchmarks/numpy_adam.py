"""Two numpy Adams: the straightforward one, and a careful one that allocates nothing.

numpy cannot fuse: every operation is a pass over memory. The straightforward version also
allocates a temporary per operation; the careful one writes every result into a preallocated
array (``out=``). The performance chapter counts the passes each makes, and the benchmark
quotes its speed-ups against the careful one.
"""

from __future__ import annotations

import math

import numpy as np


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
