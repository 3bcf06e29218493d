"""Measure adamlib's optimizer steps against numpy, torch.optim and the memory-traffic roof.

Every comparison is made in one process, interleaved: each round times one step of every
contender in turn, and the reported figure is the median over rounds, so drift on a shared
machine affects all contenders alike. Results go to a JSON file that the performance chapter
plots; a table is printed at the end.

    python benchmarks/run.py                 # the full run (a few minutes), writes results.json
    python benchmarks/run.py --quick --out /tmp/bench.json   # a seconds-long smoke run

Sections:

``adam``        one flat array of 10⁴…10⁸ elements, float32 and float64: adamlib, a straightforward
                numpy implementation, torch.optim.Adam (for-loop, foreach, fused) and a "roof"
                kernel that moves the same 7 streams with no arithmetic to speak of.
``algorithms``  AdamW, Adam+AMSGrad, SGD+momentum, RMSprop, Adagrad, Adafactor (on a matrix) at
                10⁶ and 10⁷ against torch's fastest.
``model``       ~200 arrays of 64…10⁶ elements (~10⁷ in all): adamlib per array, adamlib on one
                ParameterBuffer, torch fused/foreach on the list.
``threshold``   serial against multi-threaded Adam kernel by size: where threads start to pay.
``startup``     seconds to import adamlib and take the first step, on top of ``import numba``,
                with a warm and with an empty disk cache.
``torch_models`` ``opt.step()`` on real torch.nn models (an MLP: a few large tensors; a small
                convnet: many small ones): adamlib.torch.Adam against torch.optim.Adam's for-loop,
                foreach and fused implementations, with median and interquartile range.

    python benchmarks/run.py --torch-models  # only that section (needs torch), printed
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np
from numba import prange

import adamlib
from adamlib import _jit

try:
    import torch
except ImportError:  # torch is an optional peer
    torch = None

THREADS = 2


@_jit.kernel
def roof(param, grad, exp_avg, exp_avg_sq, keep):
    """Same memory traffic as an Adam step (read 4 streams, write 3), almost no arithmetic."""
    for i in prange(param.shape[0]):
        g = grad[i]
        param[i] = keep * param[i] + g
        exp_avg[i] = keep * exp_avg[i] + g
        exp_avg_sq[i] = keep * exp_avg_sq[i] + g


def numpy_adam(state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """A straightforward numpy Adam step, the way one writes it first (temporaries and all)."""
    p, g, m, v = state["p"], state["g"], state["m"], state["v"]
    state["t"] += 1
    t = state["t"]
    m[:] = beta1 * m + (1 - beta1) * g
    v[:] = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    p -= lr * m_hat / (np.sqrt(v_hat) + eps)


def set_threads(n: int) -> None:
    global THREADS
    THREADS = n
    numba.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def log(message):
    print(message, file=sys.stderr, flush=True)


def interleaved(contenders: dict, rounds: int, warmup: int = 2, budget: float = 40.0) -> dict:
    """Median seconds per call of each contender, timed round-robin."""
    times = interleaved_times(contenders, rounds, warmup, budget)
    return {name: statistics.median(ts) for name, ts in times.items()}


def interleaved_times(contenders: dict, rounds: int, warmup: int = 2, budget: float = 40.0) -> dict:
    """Every round's seconds per call of each contender, timed round-robin."""
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times = {name: [] for name in contenders}
    start = time.perf_counter()
    for r in range(rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        if r >= 2 and time.perf_counter() - start > budget:
            break
    return times


def rounds_for(n: int) -> int:
    """Enough rounds for a stable median: many for small arrays, at least 9 for the largest."""
    return int(min(300, max(9, 3e8 / max(n, 1) / 10)))


def _torch_optimizer(cls_name, tensors, options, impl):
    kwargs = dict(options)
    if impl == "fused":
        kwargs["fused"] = True
    elif impl == "foreach":
        kwargs["foreach"] = True
    else:
        kwargs["foreach"] = False
    opt = getattr(torch.optim, cls_name)(tensors, **kwargs)
    return opt


def _torch_contenders(cls_name, params, grads, options):
    """torch.optim contenders sharing parameter and gradient memory with the numpy arrays."""
    if torch is None:
        return {}
    tensors = [torch.from_numpy(p) for p in params]
    for t, g in zip(tensors, grads):
        t.grad = torch.from_numpy(g)
    contenders = {}
    for impl in ("forloop", "foreach", "fused"):
        try:
            opt = _torch_optimizer(cls_name, tensors, options, impl)
            opt.step()
        except (RuntimeError, TypeError, ValueError):
            continue  # this implementation does not exist for this algorithm on the CPU
        contenders[f"torch_{impl}"] = opt.step
    return contenders


def parameter_and_gradient(n, dtype, seed=0):
    """A random parameter array and gradient of ``n`` elements."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


def bench_adam(sizes, dtypes):
    rows = []
    for dtype in dtypes:
        for n in sizes:
            log(f"[adam] {np.dtype(dtype).name} n={n:.0e}")
            p, g = parameter_and_gradient(n, dtype)
            opt = adamlib.Adam([p])
            contenders = {"adamlib": lambda: opt.step([g])}
            m, v = np.zeros_like(p), np.zeros_like(p)
            keep = dtype(0.5)
            contenders["roof"] = lambda: roof(p, g, m, v, keep)
            state = {"p": p, "g": g, "m": np.zeros_like(p), "v": np.zeros_like(p), "t": 0}
            contenders["numpy"] = lambda: numpy_adam(state)
            contenders.update(_torch_contenders("Adam", [p], [g], {}))
            med = interleaved(contenders, rounds_for(n))
            rows.append({"dtype": np.dtype(dtype).name, "n": n, "seconds": med})
            del opt, contenders, state, m, v
    return rows


ALGORITHMS = {
    "AdamW": ("AdamW", {}),
    "Adam(amsgrad)": ("Adam", {"amsgrad": True}),
    "SGD(momentum)": ("SGD", {"lr": 1e-3, "momentum": 0.9}),
    "RMSprop": ("RMSprop", {}),
    "Adagrad": ("Adagrad", {}),
    "Adafactor": ("Adafactor", {}),
}

MATRIX_COLUMNS = {"Adafactor": 1000}
"""Optimizers whose update depends on the parameter's shape (Adafactor factors a matrix) are
measured on a matrix of this many columns and n / columns rows, not on a flat array."""


def bench_algorithms(sizes, dtypes):
    rows = []
    for label, (cls_name, options) in ALGORITHMS.items():
        for dtype in dtypes:
            for n in sizes:
                log(f"[algorithms] {label} {np.dtype(dtype).name} n={n:.0e}")
                p, g = parameter_and_gradient(n, dtype)
                if label in MATRIX_COLUMNS:
                    p, g = p.reshape(-1, MATRIX_COLUMNS[label]), g.reshape(-1, MATRIX_COLUMNS[label])
                opt = getattr(adamlib, cls_name)([p], **options)
                contenders = {"adamlib": lambda: opt.step([g])}
                contenders.update(_torch_contenders(cls_name, [p], [g], options))
                med = interleaved(contenders, rounds_for(n))
                rows.append({"algorithm": label, "dtype": np.dtype(dtype).name, "n": n, "seconds": med})
    return rows


def model_shapes(count=200, total=10**7, smallest=64, largest=10**6, seed=0):
    """Array sizes spread log-uniformly between ``smallest`` and ``largest``, about ``total`` in all."""
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(np.log(smallest), np.log(largest), count))
    sizes *= total / sizes.sum()
    return [int(min(max(s, smallest), largest)) for s in sizes]


def bench_model(dtype=np.float32, sizes=None):
    sizes = sizes or model_shapes()
    log(f"[model] {len(sizes)} arrays, {sum(sizes):.2e} elements, {np.dtype(dtype).name}")
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(dtype) for s in sizes]
    grads = [rng.standard_normal(s).astype(dtype) for s in sizes]
    per_array = adamlib.Adam(params)
    buffer = adamlib.ParameterBuffer.from_arrays(params)
    grad_buffer = adamlib.ParameterBuffer.from_arrays(grads)
    flat = adamlib.Adam([buffer.flat])
    contenders = {
        "adamlib_per_array": lambda: per_array.step(grads),
        "adamlib_buffer": lambda: flat.step([grad_buffer.flat]),
    }
    contenders.update(_torch_contenders("Adam", params, grads, {}))
    med = interleaved(contenders, 60)
    return {"arrays": len(sizes), "elements": int(sum(sizes)), "dtype": np.dtype(dtype).name, "seconds": med}


def bench_threshold(sizes, dtypes):
    rows = []
    for dtype in dtypes:
        for n in sizes:
            p, g = parameter_and_gradient(n, dtype)
            opt = adamlib.Adam([p])
            opt.step([g])
            (kernel, args), = opt.kernel_calls([g])
            med = interleaved({"serial": lambda: kernel.serial(*args),
                               "parallel": lambda: kernel.parallel(*args)}, 400, budget=3.0)
            rows.append({"dtype": np.dtype(dtype).name, "n": n, "seconds": med})
    log(f"[threshold] {len(rows)} sizes")
    return rows


def torch_models():
    """``{name: factory}`` of the torch.nn models whose optimizer step is measured."""
    nn = torch.nn

    def mlp():  # a few large tensors: 6 tensors, 1.9·10⁶ parameters
        return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                             nn.Linear(1024, 10))

    def convnet():  # many small tensors: 8 conv–BatchNorm blocks, 26 tensors, 1.5·10⁵ parameters
        layers, channels = [], [3, 16, 16, 32, 32, 64, 64, 64, 64]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    return {"mlp": mlp, "convnet": convnet}


def bench_torch_models(rounds=200, budget=20.0):
    """``opt.step()`` of Adam on each model: adamlib.torch against torch.optim's three paths.

    Every contender owns a copy of the model with the same fixed gradients (set once, so only
    the step is timed); the steps are interleaved round by round.
    """
    import adamlib.torch

    rows = []
    for name, make in torch_models().items():
        torch.manual_seed(0)
        reference = make()
        grads = [torch.randn_like(p) for p in reference.parameters()]
        contenders = {}
        for label, cls, kwargs in (("adamlib.torch", adamlib.torch.Adam, {}),
                                   ("torch_forloop", torch.optim.Adam, {"foreach": False}),
                                   ("torch_foreach", torch.optim.Adam, {"foreach": True}),
                                   ("torch_fused", torch.optim.Adam, {"fused": True})):
            model = make()
            model.load_state_dict(reference.state_dict())
            for p, g in zip(model.parameters(), grads):
                p.grad = g.clone()
            contenders[label] = cls(model.parameters(), **kwargs).step
        log(f"[torch_models] {name}")
        times = interleaved_times(contenders, rounds, budget=budget)
        params = list(reference.parameters())
        rows.append({
            "model": name, "tensors": len(params), "elements": sum(p.numel() for p in params),
            "seconds": {k: statistics.median(ts) for k, ts in times.items()},
            "quartiles": {k: statistics.quantiles(ts, n=4)[::2] for k, ts in times.items()},
            "rounds": len(next(iter(times.values()))),
        })
    return rows


def report_torch_models(rows):
    lines = ["Adam opt.step() on torch.nn models, float32 (ms per step, [quartiles], ratio to torch fused)"]
    for row in rows:
        s, q, fused = row["seconds"], row["quartiles"], row["seconds"]["torch_fused"]
        lines.append(f"  {row['model']}: {row['tensors']} tensors, {row['elements']:.2e} elements, "
                     f"{row['rounds']} rounds")
        for k, v in s.items():
            lines.append(f"    {k:14} {v * 1e3:8.3f}  [{q[k][0] * 1e3:7.3f}, {q[k][1] * 1e3:7.3f}]  "
                         f"x{v / fused:5.2f}")
    return "\n".join(lines)


STARTUP = (
    "import time, numpy as np; t0 = time.perf_counter(); import numba; t1 = time.perf_counter()\n"
    "import adamlib\n"
    "p = np.zeros(1000, np.float32); adamlib.Adam([p]).step([np.ones_like(p)])\n"
    "t2 = time.perf_counter(); print(t1 - t0, t2 - t1)\n"
)


def bench_startup(repeats=5):
    """Seconds for `import numba`, and for importing adamlib plus the first step on top of it."""
    results = {}
    with tempfile.TemporaryDirectory() as warm_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=warm_dir)
        subprocess.run([sys.executable, "-c", STARTUP], env=env, check=True, capture_output=True)
        runs = [subprocess.run([sys.executable, "-c", STARTUP], env=env, check=True, capture_output=True,
                               text=True).stdout.split() for _ in range(repeats)]
        results["warm"] = {"import_numba": statistics.median(float(r[0]) for r in runs),
                           "adamlib_first_step": statistics.median(float(r[1]) for r in runs)}
    cold = []
    for _ in range(max(1, repeats // 2)):
        with tempfile.TemporaryDirectory() as empty:
            env = dict(os.environ, NUMBA_CACHE_DIR=empty)
            cold.append(subprocess.run([sys.executable, "-c", STARTUP], env=env, check=True,
                                       capture_output=True, text=True).stdout.split())
    results["cold"] = {"import_numba": statistics.median(float(r[0]) for r in cold),
                       "adamlib_first_step": statistics.median(float(r[1]) for r in cold)}
    log(f"[startup] {results}")
    return results


def machine():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "threads": THREADS,
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "torch": getattr(torch, "__version__", None), "adamlib": adamlib.__version__,
        "threading_layer": numba.threading_layer(),
        "parallel_threshold": _jit.PARALLEL_THRESHOLD,
    }


# ---------------------------------------------------------------------------- reporting
def gelems(n, seconds):
    return n / seconds / 1e9


def report(results):
    lines = []
    add = lines.append
    traffic = {"float32": 4, "float64": 8}
    add("Adam step, one flat array (G elements/s; GB/s of the 7 streams in brackets)")
    add(f"{'dtype':8} {'n':>6} {'adamlib':>16} {'roof':>16} {'numpy':>7} {'t.loop':>7} {'t.each':>7} "
        f"{'t.fused':>7} | {'vs fused':>8} {'of roof':>7} {'vs numpy':>8}")
    for row in results["adam"]:
        s, n = row["seconds"], row["n"]
        rate = {k: gelems(n, v) for k, v in s.items()}
        bw = lambda k: rate[k] * 7 * traffic[row["dtype"]]
        fmt = lambda k: f"{rate[k]:7.2f}" if k in rate else f"{'-':>7}"
        vs = lambda k: f"{s[k] / s['adamlib']:8.2f}" if k in s else f"{'-':>8}"
        add(f"{row['dtype']:8} {n:6.0e} {rate['adamlib']:7.2f} ({bw('adamlib'):5.1f}) "
            f"{rate['roof']:7.2f} ({bw('roof'):5.1f}) {fmt('numpy')} {fmt('torch_forloop')} "
            f"{fmt('torch_foreach')} {fmt('torch_fused')} | {vs('torch_fused')} "
            f"{s['roof'] / s['adamlib']:7.0%} {vs('numpy')}")
    add("")
    add("Other algorithms (G elements/s) and ratio to torch's fastest implementation")
    for row in results["algorithms"]:
        s, n = row["seconds"], row["n"]
        torch_best = min((v, k) for k, v in s.items() if k.startswith("torch")) if len(s) > 1 else None
        best = f"{torch_best[1]:14} {gelems(n, torch_best[0]):6.2f}  x{torch_best[0] / s['adamlib']:.2f}" if torch_best else "-"
        add(f"{row['algorithm']:14} {row['dtype']:8} {n:6.0e} adamlib {gelems(n, s['adamlib']):6.2f}  {best}")
    add("")
    m = results["model"]
    add(f"Model-shaped list: {m['arrays']} arrays, {m['elements']:.2e} {m['dtype']} elements (ms per step)")
    fused = m["seconds"].get("torch_fused")
    for k, v in m["seconds"].items():
        ratio = f"  torch_fused/this = {fused / v:.2f}" if fused else ""
        add(f"  {k:20} {v * 1e3:8.2f}{ratio}")
    add("")
    add("Serial against multi-threaded kernel (µs): the threshold is where the ratio passes 1")
    for row in results["threshold"]:
        s = row["seconds"]
        add(f"  {row['dtype']:8} {row['n']:8d} serial {s['serial'] * 1e6:8.1f} parallel "
            f"{s['parallel'] * 1e6:8.1f}  serial/parallel {s['serial'] / s['parallel']:.2f}")
    if results.get("torch_models"):
        add("")
        add(report_torch_models(results["torch_models"]))
    st = results.get("startup")
    if st:
        add("")
        for k in ("warm", "cold"):
            add(f"Start-up, {k} cache: import numba {st[k]['import_numba']:.3f} s, then import adamlib "
                f"+ first step {st[k]['adamlib_first_step']:.3f} s")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (CI)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results.json"))
    parser.add_argument("--torch-models", action="store_true",
                        help="only the torch.nn model section, printed (results.json untouched)")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"threads for numba and torch (default {THREADS})")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if args.torch_models:
        if torch is None:
            parser.error("--torch-models needs torch (pip install adamlib[torch])")
        print(report_torch_models(bench_torch_models()))
        return
    dtypes = [np.float32, np.float64]
    if args.quick:
        results = {
            "adam": bench_adam([10**4], dtypes),
            "algorithms": bench_algorithms([10**4], [np.float32]),
            "model": bench_model(sizes=model_shapes(count=20, total=10**5, largest=10**4)),
            "threshold": bench_threshold([10**3, 10**4], [np.float32]),
            "startup": bench_startup(repeats=1),
            "torch_models": bench_torch_models(rounds=5, budget=2.0) if torch is not None else [],
        }
    else:
        results = {
            "adam": bench_adam([10**4, 10**5, 10**6, 10**7, 10**8], dtypes),
            "algorithms": bench_algorithms([10**6, 10**7], dtypes),
            "model": bench_model(),
            "threshold": bench_threshold([2000, 5000, 10**4, 2 * 10**4, 5 * 10**4, 10**5, 2 * 10**5, 5 * 10**5], dtypes),
            "startup": bench_startup(),
            "torch_models": bench_torch_models() if torch is not None else [],
        }
    results["machine"] = machine()
    results["quick"] = args.quick
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(report(results))
    log(f"results written to {args.out}")


if __name__ == "__main__":
    main()
