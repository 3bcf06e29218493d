"""Steps over lists of arrays: the cost of each array, a small model, a model-shaped list.

A model's parameters are many arrays, most of them small, and a step that pays a fixed cost
per array (a Python loop, one compiled call each) loses to one that handles a whole group at
once. Sections:

``arrays``       step time against the number of arrays at a fixed total size; the slope of a
                 straight-line fit is the cost of one more array. "Before" is the step as it
                 was: one compiled kernel call per array through :class:`adamlib._jit.Kernel`;
                 the step's compiled calls alone split today's cost per array into the
                 kernel's and the step's bookkeeping.
``small_model``  about 50 arrays of 10⁵ elements in all, shaped like a small network, against
                 one flat array of the same total and against torch and DeepSpeed.
``model``        about 200 arrays, 10⁷ elements in all (the large-model case).
"""

from __future__ import annotations

import numpy as np

import adamlib
from peers import deepspeed_contenders, torch_contenders
from timing import interleaved_times, measure, quartiles, summarise


def model_shapes(count=200, total=10**7, smallest=64, largest=10**6, seed=0) -> list[int]:
    """Array sizes spread log-uniformly between ``smallest`` and ``largest``, about ``total`` in all."""
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(np.log(smallest), np.log(largest), count))
    sizes *= total / sizes.sum()
    return [int(min(max(s, smallest), largest)) for s in sizes]


def equal_shapes(count: int, total: int) -> list[int]:
    """``count`` sizes that differ by at most one and add up to ``total``."""
    return [total // count + (k < total % count) for k in range(count)]


def arrays_of(sizes, dtype, seed=0):
    """Random parameters and gradients with the given sizes."""
    rng = np.random.default_rng(seed)
    return ([rng.standard_normal(s).astype(dtype) for s in sizes],
            [rng.standard_normal(s).astype(dtype) for s in sizes])


def one_call_per_array(opt, grads):
    """The step as it was before the multi-array core: one compiled Adam kernel call per array.

    Each call goes through :class:`adamlib._jit.Kernel`, which picks the serial or threaded
    variant by the array's size, exactly as the old step did; only the arithmetic of the
    scalars (done once here, every step there) is left out, so this is a lower bound of the
    old step's time. Like :meth:`adamlib.Optimizer.kernel_calls` it does not advance the step
    count.
    """
    calls = opt.kernel_calls(grads)

    def step():
        for kernel, args in calls:
            kernel(*args)

    return step


def batched_calls_only(opt, grads):
    """The compiled calls of adamlib's step and nothing else: one batched kernel call per batch.

    Calls each batch's kernel over the step table as the last step left it (reaching into the
    optimizer's private ``_table``: a measurement, not an API), without the step's checks of
    the parameters and gradients, its step counts and its scalars, which are those of the last
    step. So its cost per array is the kernel's own (a view and a loop per piece), and the
    rest of the step's cost per array is the step's bookkeeping.
    """
    opt.step(grads)
    opt.step(grads)  # the second step takes the table path and fills the table with these addresses
    table = opt._table
    calls = [(batch.variant, (table.table, *batch.arguments, tuple(opt._scalars(
        opt.param_groups[batch.group_index], batch.states[0], float)))) for batch in table.batches]

    def step(alive=(opt, grads)):  # the table holds raw addresses: keep its arrays alive
        for variant, args in calls:
            variant(*args)

    return step


def contenders_for(params, grads, dtype, flat_too=False) -> dict:
    """adamlib's list step, its compiled calls alone, the old per-array calls, torch fused/foreach, DeepSpeed.

    Every contender steps copies of its own of ``params`` and ``grads``, so that none finds in
    the caches the arrays another has just touched (torch's and DeepSpeed's steps would
    otherwise work on the very arrays they view).
    """
    def copies():
        return [p.copy() for p in params], [g.copy() for g in grads]

    own_params, own_grads = copies()
    opt = adamlib.Adam(own_params)
    opt.step(own_grads)
    old_params, old_grads = copies()
    old = adamlib.Adam(old_params)
    old.step(old_grads)
    calls_params, calls_grads = copies()
    contenders = {"adamlib": lambda: opt.step(own_grads),
                  "batched_calls_only": batched_calls_only(adamlib.Adam(calls_params), calls_grads),
                  "one_call_per_array": one_call_per_array(old, old_grads)}
    if flat_too:
        total = sum(p.size for p in params)
        (flat,), (flat_grad,) = arrays_of([total], dtype)
        flat_opt = adamlib.Adam([flat])
        contenders["adamlib_one_flat_array"] = lambda: flat_opt.step([flat_grad])
        flat_calls = [a.copy() for a in (flat, flat_grad)]
        contenders["flat_array_calls_only"] = batched_calls_only(adamlib.Adam([flat_calls[0]]), [flat_calls[1]])
    for impl in ("foreach", "fused"):
        contenders.update(torch_contenders("Adam", *copies(), {}, impls=(impl,)))
    contenders.update(deepspeed_contenders(*copies()))
    return contenders


def fit_line(counts, seconds) -> dict:
    """Least-squares ``seconds = fixed + per_array · count``, in microseconds."""
    per_array, fixed = np.polyfit(np.asarray(counts, float), np.asarray(seconds, float), 1)
    return {"per_array_us": float(per_array * 1e6), "fixed_us": float(fixed * 1e6)}


def bench_arrays(counts=(1, 3, 10, 30, 100, 300, 1000), total=10**5, dtype=np.float32, rounds=100,
                 fit_from=10) -> dict:
    """Step time against the number of arrays at a fixed total; fitted for counts ≥ ``fit_from``.

    Below about 10 arrays, each holds more than the parallel threshold and the step runs on all
    threads; from there on every array is stepped serially, and the time grows in a straight
    line whose slope is the cost of one array.
    """
    rows = []
    for count in counts:
        params, grads = arrays_of(equal_shapes(count, total), dtype)
        rows.append({"arrays": count, **measure(contenders_for(params, grads, dtype), rounds, budget=8.0)})
    fitted = [r for r in rows if r["arrays"] >= fit_from]
    fits = {who: fit_line([r["arrays"] for r in fitted], [r["seconds"][who] for r in fitted])
            for who in rows[0]["seconds"]} if len(fitted) >= 2 else {}
    return {"total": total, "dtype": np.dtype(dtype).name, "fit_from": fit_from, "rows": rows, "fit": fits}


def bench_list(sizes, dtype=np.float32, rounds=200, budget=20.0, warm=False) -> dict:
    """One list of arrays of the given sizes: all contenders, plus one flat array of the same total.

    With ``warm``, adamlib's list and flat steps are also timed in rounds of their own in which
    each timed step follows an untimed one of the same optimizer (``"warm"``): their arrays are
    then in the caches, where in the interleaved rounds the other contenders evict them.
    """
    params, grads = arrays_of(sizes, dtype)
    contenders = contenders_for(params, grads, dtype, flat_too=True)
    times = interleaved_times(contenders, rounds, budget=budget)
    row = {"arrays": len(sizes), "elements": int(sum(sizes)), "dtype": np.dtype(dtype).name,
           "smallest": int(min(sizes)), "largest": int(max(sizes)), **summarise(times),
           "calls_only_list_over_flat": _list_over_flat(times)}
    if warm:
        own = {k: contenders[k] for k in ("adamlib", "adamlib_one_flat_array", *CALLS_ONLY)}
        times = interleaved_times(own, rounds, budget=budget / 2, before=own)
        row["warm"] = {**summarise(times), "calls_only_list_over_flat": _list_over_flat(times),
                       "list_minus_flat_us": {"steps": _difference_us(times, "adamlib", "adamlib_one_flat_array"),
                                              "calls_only": _difference_us(times, *CALLS_ONLY)}}
    return row


CALLS_ONLY = ("batched_calls_only", "flat_array_calls_only")
"""The compiled calls alone, over the list and over one flat array of the same total."""


def _difference_us(times: dict, first: str, second: str) -> list[float]:
    """Quartiles of ``first``'s time minus ``second``'s, round by round, in µs."""
    return quartiles((np.asarray(times[first]) - np.asarray(times[second])) * 1e6)


def _list_over_flat(times: dict) -> list[float]:
    """Quartiles of the list's compiled calls' time over the flat array's, round by round: the
    part of the list's extra time that lies in the kernels, over scattered arrays, alone."""
    return quartiles(np.asarray(times[CALLS_ONLY[0]]) / np.asarray(times[CALLS_ONLY[1]]))
