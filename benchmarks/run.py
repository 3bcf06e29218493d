"""Measure adamlib's optimizer steps against numpy, torch.optim, DeepSpeed and the memory's bandwidth.

Every comparison is made in one process, interleaved (:mod:`timing`): each round times one step
of every contender, in an order shuffled round by round; each cell reports the median and
interquartile range over rounds, and each ratio is taken within rounds. Results go to ``benchmarks/results.json`` (with the
machine's description), which the performance chapter reads; tables are printed at the end.

    python benchmarks/run.py                 # the full run (several minutes), writes results.json
    python benchmarks/run.py --quick --out /tmp/bench.json   # a seconds-long smoke run

Sections, in the order they run:

``stream``      STREAM copy/scale/add/triad and two loops that update in place, axpy and seven
                (:mod:`stream`), with working sets in L2, in L3 and in DRAM, chosen from the
                measured cache sizes (:mod:`machine`): the bandwidth, whose ceiling the in-place
                loops set.
``adam``        one flat array of 10⁴…10⁸ elements, float32 and float64, each size labelled with
                the level of memory its working set lives in: adamlib, a careful numpy Adam
                (``out=``, no allocation), torch fused, DeepSpeedCPUAdam, and the STREAM
                loops over the same working set in the same rounds. The *roof* is Adam's 7
                streams at the bandwidth of the in-place loop with the best median
                (:mod:`stream`), round by round; each implementation's share of it is a ratio
                within rounds, and the benchmark says so if one beats it.
``allocating``  the contenders that allocate temporaries on every step (the straightforward
                numpy Adam, torch's for-loop and foreach paths) against adamlib, run after the
                DRAM-bound measurements so that their gigabytes do not disturb them.
``algorithms``  AdamW, Adam+AMSGrad, SGD+momentum, RMSprop, Adagrad, Adafactor (on a matrix) at
                10⁶ and 10⁷ against torch's fastest.
``arrays``, ``small_model``, ``model``   lists of arrays (:mod:`arrays`).
``threshold``   serial against multi-threaded Adam kernel by size: where threads start to pay.
``startup``     seconds to import adamlib and take the first step, on top of ``import numba``,
                with a warm and with an empty disk cache.
``torch_models`` ``opt.step()`` on real torch.nn models (an MLP: a few large tensors; a small
                convnet: many small ones): adamlib.torch.Adam against torch.optim.Adam's three
                implementations and DeepSpeedCPUAdam; adamlib.torch's inner numpy step alone,
                and, with fixed gradients, the roof over the model's bytes in the same rounds.

    python benchmarks/run.py --torch-models  # only that section (needs torch), printed
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numba
import numpy as np

import adamlib
import machine
import peers
import stream
from arrays import bench_arrays, bench_list, model_shapes
from numpy_adam import numpy_contenders
from peers import deepspeed_contenders, torch, torch_contenders
from reporting import report, report_torch_models
from timing import interleaved_times, measure, quartiles, rounds_for, summarise

THREADS = 2
ADAM_STREAMS = 7  # reads param, grad, exp_avg, exp_avg_sq; writes param, exp_avg, exp_avg_sq


def set_threads(n: int) -> None:
    global THREADS
    THREADS = n
    numba.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def log(message):
    print(f"{message}  (load {' '.join(map(str, machine.load()))})", file=sys.stderr, flush=True)


def parameter_and_gradient(n, dtype, seed=0):
    """A random parameter array and gradient of ``n`` elements."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


def fits_in_memory(needed: int, what: str) -> bool:
    """False (and a note in the log) if ``needed`` bytes exceed 70 % of the available memory."""
    available = machine.memory_available()
    if available is None or needed <= 0.7 * available:
        return True
    log(f"{what}: skipped, needs {needed / 2**30:.1f} GiB of {available / 2**30:.1f} GiB available")
    return False


def cores_used(like: np.ndarray) -> int:
    """How many threads adamlib's kernels use for an array like ``like``."""
    return THREADS if stream.triad.for_array(like) is stream.triad.parallel else 1


def bench_stream(description, dtype=np.float32, rounds=40):
    """Bandwidth of the STREAM loops (and axpy) with working sets in L2, L3 and DRAM (by the cache sizes)."""
    l2, l3 = description["l2_bytes"] or 2**19, description["l3_bytes"] or 2**25
    itemsize = np.dtype(dtype).itemsize
    rows = []
    for working_set in (l2 // 4, l3 // 4, 8 * l3):
        # The thread rule follows an Adam step with the same working set (4 arrays).
        like = np.empty(working_set // (4 * itemsize), dtype)
        run, moved = stream.contenders(working_set, dtype, like)
        times = interleaved_times(run, rounds, budget=20.0)
        best, loop = stream.ceiling(times, moved)
        summary = summarise(times, reference=None)
        rows.append({"working_set": working_set, "dtype": np.dtype(dtype).name, "threads": cores_used(like),
                     "level": machine.level(working_set, cores_used(like), description), **summary,
                     "bandwidth": stream.bandwidths({k: min(ts) for k, ts in times.items()}, moved),
                     "median_bandwidth": stream.bandwidths(summary["seconds"], moved),
                     "ceiling_GBps": best / 1e9, "ceiling_loop": loop})
        log(f"[stream] {rows[-1]['level']} {working_set / 2**20:.2f} MiB: {best / 1e9:.1f} GB/s moved ({loop})")
    return rows


def flat_cases(section, sizes, dtypes, arrays):
    """``(dtype, n, param, grad, {"adamlib": step})`` for each size whose ``arrays`` arrays fit in memory."""
    for dtype in map(np.dtype, dtypes):
        for n in sizes:
            name = f"[{section}] {dtype.name} n={n:.0e}"
            if not fits_in_memory(arrays * n * dtype.itemsize, name):
                continue
            log(name)
            p, g = parameter_and_gradient(n, dtype)
            opt = adamlib.Adam([p])
            yield dtype, n, p, g, {"adamlib": lambda opt=opt, g=g: opt.step([g])}


def roof_shares(summary: dict, times: dict, loop: str, moved: dict, step_bytes_per_stream: int) -> dict:
    """Each implementation's share of the roof, round by round: ``{name: [q1, median, q3]}``.

    The roof of a round is Adam's bytes (:data:`ADAM_STREAMS` streams of
    ``step_bytes_per_stream``) at the bandwidth the in-place ``loop`` reached in that round; a
    share is the roof's time over the implementation's, in the same round. ``summary`` (of the
    implementations' times) gains the roof's median and quartiles under ``"roof"``.
    """
    roofs = ADAM_STREAMS * step_bytes_per_stream / moved[loop][1] * np.asarray(times[loop])
    shares = {k: quartiles(roofs / np.asarray(times[k])) for k in summary["seconds"]}
    summary["seconds"]["roof"], summary["quartiles"]["roof"] = quartiles(roofs)[1], quartiles(roofs)[::2]
    return shares


def bench_adam(sizes, dtypes, description):
    """In-place contenders and the STREAM loops, interleaved, at each size, and the roof they set."""
    rows = []
    # Memory: param and grad, two moments each for adamlib, torch and DeepSpeed, three arrays for
    # the careful numpy version, four for the STREAM loops.
    for dtype, n, p, g, contenders in flat_cases("adam", sizes, dtypes, arrays=15):
        working_set = 4 * n * dtype.itemsize
        contenders.update(numpy_contenders(p, g))
        contenders.update(torch_contenders("Adam", [p], [g], {}, impls=("fused",)))
        contenders.update(deepspeed_contenders([p], [g]))
        loops, moved = stream.contenders(working_set, dtype, p)
        contenders.update(loops)
        # In a cache, a contender's arrays would be evicted by the others' between its turns (and
        # the loops, sharing one pool, would keep it warm for each other): there each timed call
        # follows an untimed one of the same contender, so all are timed with their own data cached.
        level = machine.level(working_set, cores_used(p), description)
        warm = dict(contenders) if level in ("L2", "L3") else None
        times = interleaved_times(contenders, rounds_for(n), before=warm)
        # The roof, round by round: Adam's bytes at the bandwidth, in that round, of the in-place
        # loop that did best over the rounds (its median). A share of it is a ratio taken within
        # a round, like every other ratio here, so the load of the moment cancels.
        top = stream.top_loop({k: times[k] for k in loops}, moved)
        times_of = {k: v for k, v in times.items() if k not in loops}
        summary = summarise(times_of)
        implementations = list(times_of)
        of_roof = roof_shares(summary, times, top, moved, n * dtype.itemsize)
        rows.append({
            "dtype": dtype.name, "n": n, "working_set": working_set,
            "threads": cores_used(p), "level": level, "warmed": warm is not None,
            **summary, "ceiling_GBps": moved[top][1] / quartiles(times[top])[1] / 1e9, "ceiling_loop": top,
            "stream": stream.bandwidths({k: min(times[k]) for k in loops}, moved),
            "stream_median": stream.bandwidths({k: quartiles(times[k])[1] for k in loops}, moved),
            "of_roof": of_roof,
            # Faster than the roof's loop in three rounds of four: the ceiling would be wrong.
            "roof_beaten_by": [k for k in implementations if of_roof[k][0] > 1],
        })
        if rows[-1]["roof_beaten_by"]:
            log(f"  {rows[-1]['roof_beaten_by']} beat the roof in three rounds of four: the ceiling is wrong")
        del contenders, loops
    return rows


def bench_allocating(sizes, dtypes):
    """The contenders that allocate temporaries every step, against adamlib."""
    rows = []
    # Memory: param, grad and adamlib's moments; moments and temporaries of the other three.
    for dtype, n, p, g, contenders in flat_cases("allocating", sizes, dtypes, arrays=16):
        contenders.update(numpy_contenders(p, g, which=("numpy_naive",)))
        contenders.update(torch_contenders("Adam", [p], [g], {}, impls=("forloop", "foreach")))
        rows.append({"dtype": dtype.name, "n": n, **measure(contenders, rounds_for(n))})
        del contenders
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
                contenders.update(torch_contenders(cls_name, [p], [g], options))
                rows.append({"algorithm": label, "dtype": np.dtype(dtype).name, "n": n,
                             **measure(contenders, rounds_for(n))})
    return rows


def bench_threshold(sizes, dtypes):
    rows = []
    for dtype in dtypes:
        for n in sizes:
            p, g = parameter_and_gradient(n, dtype)
            opt = adamlib.Adam([p])
            opt.step([g])
            (kernel, args), = opt.kernel_calls([g])
            rows.append({"dtype": np.dtype(dtype).name, "n": n,
                         **measure({"serial": lambda: kernel.serial(*args),
                                    "parallel": lambda: kernel.parallel(*args)}, 400, reference=None, budget=3.0)})
    log(f"[threshold] {len(rows)} sizes")
    return rows


def torch_models():
    """``{name: (factory, batch shape)}`` of the torch.nn models whose optimizer step is measured."""
    nn = torch.nn

    def mlp():  # a few large tensors: 6 tensors, 1.9·10⁶ parameters; batches of 32 images
        return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                             nn.Linear(1024, 10))

    def convnet():  # many small tensors: 8 conv–BatchNorm blocks, 26 tensors, 1.5·10⁵ parameters;
        # batches of 8 images of 16×16 pixels
        layers, channels = [], [3, 16, 16, 32, 32, 64, 64, 64, 64]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    return {"mlp": (mlp, (32, 784)), "convnet": (convnet, (8, 3, 16, 16))}


def _apart(in_place: dict, allocating: dict, rounds: int, budget: float, before=None, roof=None,
           paired=()) -> dict:
    """:func:`measure` of the in-place steps, and of the allocating ones in rounds of their own
    (both with torch fused as the reference), as one summary.

    ``roof``, where given, is ``(loops, moved, bytes per stream)``: in-place loops from
    :func:`stream.contenders`, timed in the in-place rounds; the summary then gains the roof
    (from the loop with the best median, as in :func:`bench_adam`) and each in-place step's
    share of it (``"of_roof"``). ``paired`` names pairs ``(a, b)`` of in-place steps whose
    time ratio a / b, round by round, the summary gains under ``"paired"["a / b"]``.
    """
    loops = roof[0] if roof else {}
    times = interleaved_times({**in_place, **loops}, rounds, budget=budget, before=before)
    summary = summarise({k: times[k] for k in in_place}, reference="torch_fused")
    if roof:
        loop = stream.top_loop({k: times[k] for k in loops}, roof[1])
        summary["of_roof"] = roof_shares(summary, times, loop, roof[1], roof[2])
        summary["roof_loop"] = loop
    summary["paired"] = {f"{a} / {b}": quartiles(np.asarray(times[a]) / np.asarray(times[b]))
                         for a, b in paired if a in times and b in times}
    other = measure(allocating, rounds, reference="torch_fused", budget=budget / 2, before=before)
    for key in ("seconds", "quartiles", "ratio"):
        summary[key].update({k: v for k, v in other[key].items() if k != "torch_fused"})
    return summary


IN_PLACE_STEPS = ("adamlib.torch", "adamlib.torch_inner_step", "torch_fused", "deepspeed")
"""The torch-model contenders that update in place; torch's for-loop and foreach steps allocate."""


def inner_step(opt):
    """The numpy optimizer inside an ``adamlib.torch`` optimizer, stepped on numpy views of the
    gradients (made at every step, as the adapter makes them) through the wrapper that
    adamlib.torch's ``step`` runs in (torch's step hooks, and the profiler range while a
    profiler is on: ``adamlib.torch._with_hooks``), but without the adapter's checks that no
    parameter or state tensor moved and without the step counts and versions it writes back to
    the torch side. Reaches into the private ``_inner`` and ``_with_hooks``: a measurement, not
    an API. Its steps are not mirrored to the torch side, so ``opt`` serves for nothing else."""
    from adamlib.torch import _with_hooks

    opt.step()  # builds the inner optimizer
    params = [p for group in opt.param_groups for p in group["params"]]

    class InnerStep(torch.optim.Optimizer):
        @_with_hooks
        def step(self, closure=None):
            opt._inner.step(list(map(_numpy_grad, params)))

    return InnerStep(params, {}).step


def _numpy_grad(p):
    return None if p.grad is None else p.grad.numpy()


def bench_torch_models(description, rounds=200, budget=20.0):
    """``opt.step()`` of Adam on each model: adamlib.torch against torch.optim and DeepSpeed, two ways.

    ``fixed``       every contender owns a copy of the model with the same gradients, set once,
                    so only the step runs. The in-place steps are interleaved in rounds of their
                    own, and torch's for-loop and foreach steps, which allocate temporaries, in
                    rounds of theirs with torch fused (as the ``allocating`` section keeps them
                    apart from the flat-array measurements).
    ``training``    every round, each contender runs a forward and backward pass of its own
                    model on one fixed batch (untimed; ``zero_grad()`` first, so the gradients
                    are new tensors, as in a training loop) and then its step (timed): the step
                    as a training loop meets it, right after backward wrote the gradients. The
                    allocating steps again in rounds of their own.
    Ratios are to torch fused, within rounds (the allocating steps' from their own rounds).
    ``adamlib.torch_inner_step`` (:func:`inner_step`) splits adamlib.torch's time into the
    numpy optimizer's step and the adapter's work around it; with fixed gradients the roof
    (Adam's bytes at the speed of the best in-place loop over a working set of the model's
    size, each loop over arrays of its own) is timed in the same rounds.
    """
    import adamlib.torch

    optimizers = [("adamlib.torch", adamlib.torch.Adam, {}), ("adamlib.torch_inner_step", adamlib.torch.Adam, {}),
                  ("torch_forloop", torch.optim.Adam, {"foreach": False}),
                  ("torch_foreach", torch.optim.Adam, {"foreach": True}),
                  ("torch_fused", torch.optim.Adam, {"fused": True})]
    if peers.deepspeed_adam() is not None:
        optimizers.append(("deepspeed", peers.deepspeed_adam(), {"adamw_mode": False}))
    rows = []
    for name, (make, batch_shape) in torch_models().items():
        torch.manual_seed(0)
        reference = make()
        grads = [torch.randn_like(p) for p in reference.parameters()]
        batch = torch.randn(batch_shape)
        models, opts = {}, {}
        for label, cls, kwargs in optimizers:
            model = make()
            model.load_state_dict(reference.state_dict())
            for p, g in zip(model.parameters(), grads):
                p.grad = g.clone()
            models[label], opts[label] = model, cls(model.parameters(), **kwargs)
        log(f"[torch_models] {name}")
        params = list(reference.parameters())
        in_place = {k: opts[k].step for k in IN_PLACE_STEPS if k in opts}
        in_place["adamlib.torch_inner_step"] = inner_step(opts["adamlib.torch_inner_step"])
        allocating = {k: opts[k].step for k in ("torch_forloop", "torch_foreach", "torch_fused")}
        # The roof in the same rounds: the in-place loops over the model's bytes, each over arrays
        # of its own, so that none keeps another's arrays warm for it.
        n = sum(p.numel() for p in params)
        like = np.empty(n, np.float32)
        loops, moved = {}, {}
        labels = [k for k in stream.contenders(0, like.dtype, like)[0] if stream.in_place(k)]  # names only
        for label in labels:
            own, moved = stream.contenders(4 * n * like.itemsize, like.dtype, like)
            loops[label] = own[label]
        pairs = (("adamlib.torch", "adamlib.torch_inner_step"), ("deepspeed", "adamlib.torch"))
        fixed = _apart(in_place, allocating, rounds, budget, roof=(loops, moved, n * like.itemsize), paired=pairs)
        fixed["level"] = machine.level(4 * n * like.itemsize, cores_used(like), description)
        del loops, own, like

        def forward_backward(model, optimizer):
            def run():
                optimizer.zero_grad()
                model(batch).square().mean().backward()
            return run

        training = _apart(in_place, allocating, rounds, budget, paired=pairs,
                          before={k: forward_backward(models[k], o) for k, o in opts.items()})
        rows.append({"model": name, "tensors": len(params), "elements": sum(p.numel() for p in params),
                     "batch": list(batch_shape), "fixed": fixed, "training": training})
    return rows


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


def sections(quick: bool, description: dict) -> dict:
    """``{section: thunk}`` in the order they run (the allocating contenders after the DRAM runs)."""
    dtypes = [np.float32, np.float64]
    sizes = [10**4] if quick else [10**4, 10**5, 10**6, 10**7, 10**8]
    return {
        "stream": lambda: bench_stream(description, rounds=5 if quick else 40),
        "adam": lambda: bench_adam(sizes, dtypes, description),
        "allocating": lambda: bench_allocating(sizes, dtypes),
        "algorithms": lambda: bench_algorithms([10**4] if quick else [10**6, 10**7],
                                               [np.float32] if quick else dtypes),
        "arrays": lambda: bench_arrays(counts=(1, 10, 30) if quick else (1, 3, 10, 30, 100, 300, 1000),
                                       rounds=5 if quick else 100),
        "small_model": lambda: bench_list(model_shapes(count=50, total=10**5, smallest=16, largest=2 * 10**4),
                                          rounds=5 if quick else 300, warm=True),
        "model": lambda: bench_list(model_shapes(count=20, total=10**5, largest=10**4) if quick else model_shapes(),
                                    rounds=5 if quick else 60),
        "threshold": lambda: bench_threshold(
            [10**3, 10**4] if quick else [2000, 5000, 10**4, 2 * 10**4, 5 * 10**4, 10**5, 2 * 10**5, 5 * 10**5],
            [np.float32] if quick else dtypes),
        "startup": lambda: bench_startup(repeats=1 if quick else 5),
        "torch_models": lambda: ([] if torch is None else
                                 bench_torch_models(description, rounds=5, budget=2.0) if quick
                                 else bench_torch_models(description)),
    }


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
    description = machine.describe(THREADS, {"torch": peers.version("torch"), "deepspeed": peers.version("deepspeed")})
    if args.torch_models:
        if torch is None:
            parser.error("--torch-models needs torch (pip install adamlib[torch])")
        print(report_torch_models(bench_torch_models(description)))
        return
    results = {"machine": description, "quick": args.quick, "load": {"start": machine.load()}}
    for name, run in sections(args.quick, description).items():
        results[name] = run()
        results["load"][name] = machine.load()
    results["unavailable"] = dict(peers.UNAVAILABLE)
    dram = [r for r in results["stream"] if r["level"] == "DRAM"]
    description["bandwidth_GBps"] = dram[0]["ceiling_GBps"] if dram else None
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(report(results))
    log(f"results written to {args.out}")


if __name__ == "__main__":
    main()
