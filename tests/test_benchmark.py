"""The benchmark still runs: a seconds-long smoke version (the real figures come from `make bench`)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_and_reports(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert {"machine", "stream", "adam", "allocating", "algorithms", "arrays", "small_model", "model",
            "threshold", "startup", "load"} <= set(results)
    machine = results["machine"]
    assert machine["l3_bytes"] and machine["bandwidth_GBps"] > 0 and machine["caches"]
    assert {row["level"] for row in results["stream"]} == {"L2", "L3", "DRAM"}
    assert {row["dtype"] for row in results["adam"]} == {"float32", "float64"}
    for row in results["adam"]:
        assert {"adamlib", "roof", "numpy_careful"} <= set(row["seconds"])
        assert all(s > 0 for s in row["seconds"].values())
        q1, median, q3 = row["ratio"]["numpy_careful"]
        assert q1 <= median <= q3
        # the roof is Adam's bytes over the ceiling (computed in another order: equal to rounding)
        assert row["seconds"]["roof"] == pytest.approx(7 * row["n"] * {"float32": 4, "float64": 8}[row["dtype"]] / (
            row["ceiling_GBps"] * 1e9), rel=1e-12)
        assert {"copy", "scale", "add", "triad"} <= set(row["stream"])
        assert row["ceiling_loop"].removeprefix("stream_") in row["stream"]
        assert row["ceiling_loop"].removeprefix("stream_").split("_")[0] in ("axpy", "seven")
        assert row["warmed"] == (row["level"] in ("L2", "L3"))
        for who, (q1, median, q3) in row["of_roof"].items():
            assert 0 < q1 <= median <= q3
            assert (who in row["roof_beaten_by"]) == (q1 > 1)
    assert all("numpy_naive" in row["seconds"] for row in results["allocating"])
    arrays = results["arrays"]
    assert [row["arrays"] for row in arrays["rows"]] == [1, 10, 30]
    assert {"adamlib", "one_call_per_array"} <= set(arrays["fit"])
    assert "adamlib_one_flat_array" in results["small_model"]["seconds"]
    calls_only = {"batched_calls_only", "flat_array_calls_only"}
    assert set(results["small_model"]["warm"]["seconds"]) == {"adamlib", "adamlib_one_flat_array"} | calls_only
    differences = results["small_model"]["warm"]["list_minus_flat_us"]
    assert set(differences) == {"steps", "calls_only"}
    for key in ("small_model", "model"):
        assert calls_only <= set(results[key]["seconds"])
        q1, median, q3 = results[key]["calls_only_list_over_flat"]
        assert 0 < q1 <= median <= q3
    for row in results["torch_models"]:  # empty without torch
        assert {"adamlib.torch", "adamlib.torch_inner_step", "torch_fused", "torch_forloop", "torch_foreach"} <= set(
            row["fixed"]["seconds"])
        assert set(row["training"]["seconds"]) == set(row["fixed"]["seconds"]) - {"roof"}
        assert row["fixed"]["roof_loop"].removeprefix("stream_").split("_")[0] in ("axpy", "seven")
        assert row["fixed"]["level"] in ("L2", "L3", "L3/DRAM", "DRAM")
        for protocol in ("fixed", "training"):
            assert set(row[protocol]["paired"]) >= {"adamlib.torch / adamlib.torch_inner_step"}
        assert set(row["fixed"]["of_roof"]) == set(row["fixed"]["seconds"]) - {"roof", "torch_forloop", "torch_foreach"}
        assert "torch_fused" not in row["training"]["ratio"] and "adamlib.torch" in row["training"]["ratio"]
    assert "Adam step, one flat array" in done.stdout and "Bandwidth, best round of each loop" in done.stdout
    assert "[adam]" in done.stderr and "(load " in done.stderr  # progress, with the load, while it runs


def test_careful_numpy_adam_is_the_straightforward_one():
    """The two numpy baselines compute the same step (the careful one only avoids temporaries)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from numpy_adam import CarefulNumpyAdam, NaiveNumpyAdam
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    import numpy as np

    rng = np.random.default_rng(0)
    start = rng.standard_normal(1000)
    p1, p2, grad = start.copy(), start.copy(), rng.standard_normal(1000)
    naive, careful = NaiveNumpyAdam(p1, grad, lr=0.1), CarefulNumpyAdam(p2, grad, lr=0.1)
    for _ in range(3):
        naive.step()
        careful.step()
    np.testing.assert_allclose(p2, p1, rtol=1e-12, atol=1e-15)
    assert np.all(np.abs(p1 - start) > 0.1)  # three steps of lr = 0.1 moved every coordinate


def test_no_contender_always_follows_the_same_neighbour():
    """Interleaved rounds change their order: every contender comes right after each of the
    others in some round, and first in some, and never right after itself, even across rounds.
    Each before-call runs right before its own contender."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from timing import interleaved_times
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    calls = []
    names = ["a", "b", "c", "d"]
    contenders = {n: (lambda n=n: calls.append(n)) for n in names}
    before = {"b": lambda: calls.append("before b")}
    times = interleaved_times(contenders, rounds=40, warmup=0, budget=1e9, before=before)
    assert {n: len(t) for n, t in times.items()} == {n: 40 for n in names}
    assert all(calls[k - 1] == "before b" for k, call in enumerate(calls) if call == "b")
    order = [c for c in calls if c in names]
    rounds = [order[4 * r:4 * r + 4] for r in range(40)]
    assert all(sorted(r) == names for r in rounds)
    assert {r[0] for r in rounds} == set(names)
    pairs = {(earlier, later) for r in rounds for earlier, later in zip(r, r[1:])}
    assert pairs == {(x, y) for x in names for y in names if x != y}
    assert all(earlier != later for earlier, later in zip(order, order[1:]))  # across rounds too
    again = []
    interleaved_times({n: (lambda n=n: again.append(n)) for n in names}, rounds=40, warmup=0, budget=1e9)
    assert again != order  # the next measurement draws new orders
