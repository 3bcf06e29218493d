"""adamlib.torch under torch.distributed: two processes on localhost against one.

The experiment is ``benchmarks/zero_memory.py`` (run once for this module): two processes (the
gloo backend, CPU, loopback only, a deadline on every wait) train a float64 ``torch.nn`` model
with ``DistributedDataParallel`` and ``adamlib.torch.AdamW``, then with
``ZeroRedundancyOptimizer(optimizer_class=adamlib.torch.AdamW)`` (with and without
``parameters_as_bucket_view``), each on half of the global batch; this process trains the same
model on the whole batch. The same script writes ``benchmarks/zero_memory.json``, which the
"Adam's memory" chapter reads; the last test checks that file against a fresh run.

Tolerance. The distributed and single-process runs differ only in the order in which the
gradient is summed: each rank averages its 16 rows, and the all-reduce averages the two means,
where the single process averages 32 rows at once. In float64 that perturbs each gradient by a
few units in the last place (relative 1e-16); Adam's step ``lr * m_hat / (sqrt(v_hat) + eps)``
passes a relative perturbation of the gradients through with a factor of order one, so after
12 steps of lr = 1e-2 the weights should differ by about their own rounding. Measured: at most
1.3e-16 (weights of size about 0.5). ``TOLERANCE = 1e-12`` leaves four orders of magnitude for
other machines' reduction orders. It still sees the subtlest mistake we could build: averaging
being replaced by summing doubles every gradient, which Adam's normalisation almost cancels
(only eps and the first steps notice), and yet moves the weights by about 1e-4 — asserted below,
so the tolerance provably separates rounding from a real error. ZeRO against DDP, and rank
against rank, are compared exactly: the update is elementwise, so sharding the optimizer state
must not change a single bit.

torch is optional: these tests skip without it locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time

import pytest
from conftest import ROOT, require

pytestmark = [pytest.mark.torch, pytest.mark.slow]

TOLERANCE = 1e-12
SCRIPT = ROOT / "benchmarks" / "zero_memory.py"
COMMITTED = ROOT / "benchmarks" / "zero_memory.json"


@pytest.fixture(scope="module")
def zero_memory():
    spec = importlib.util.spec_from_file_location("zero_memory", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def summary(zero_memory, tmp_path_factory):
    require("torch")
    # A failing rank raises WorkerFailed with the end of every rank's output in its message.
    return zero_memory.measure(tmp_path_factory.mktemp("zero"))


def test_ddp_and_zero_match_the_single_process_run(summary):
    deviations = summary["max_weight_deviation_from_single_process"]
    for run in ("ddp", "zero", "zero_bucket_view"):
        assert deviations[run] <= TOLERANCE, (run, deviations[run])
    assert summary["max_weight_deviation_zero_from_ddp"] == 0.0  # sharding the state is exact
    assert summary["max_weight_deviation_between_ranks"] == 0.0


def test_the_tolerance_sees_a_gradient_summed_instead_of_averaged(summary):
    assert summary["max_weight_deviation_from_single_process"]["gradient_summed_not_averaged"] > 1e4 * TOLERANCE


def test_zero_halves_the_optimizer_state_per_rank(summary):
    single = summary["single_process_state_bytes"]
    parameters = summary["parameters"]
    assert single == {"exp_avg": 8 * parameters, "exp_avg_sq": 8 * parameters}  # float64 m and v
    for run in ("zero", "zero_bucket_view"):
        assert summary["per_rank_parameters"][run] == [parameters // 2] * 2
        for rank_bytes in summary["per_rank_state_bytes"][run]:
            assert rank_bytes == {key: value // 2 for key, value in single.items()}, (run, rank_bytes)


def test_a_zero_checkpoint_continues_in_adamlib_and_in_torch(summary):
    deviations = summary["max_weight_deviation_from_single_process"]
    for run in ("zero_continued_after_checkpoint", "resumed_in_adamlib.torch.AdamW", "resumed_in_torch.optim.AdamW"):
        assert deviations[run] <= TOLERANCE, (run, deviations[run])
    # The same state and batches in both libraries: only their rounding differs (see
    # tests/test_torch_adapter.py for that budget in float64).
    assert summary["max_deviation_resumed_adamlib_from_torch"] <= TOLERANCE
    assert summary["max_state_deviation_checkpoint_from_single_process"] <= TOLERANCE


def test_unsupported_features_fail_at_construction_with_a_clear_message(summary):
    unsupported = summary["unsupported"]
    assert "DTensor, a tensor subclass" in unsupported["fully_shard"]
    assert "ZeroRedundancyOptimizer(params, optimizer_class=adamlib.torch.AdamW)" in unsupported["fully_shard"]
    # torch's own refusal, raised by ZeroRedundancyOptimizer's constructor: it names adamlib's
    # class and what it lacks (a functional equivalent), before any training step.
    assert "requires using a functional optimizer" in unsupported["overlap_with_ddp"]
    assert "adamlib.torch.AdamW" in unsupported["overlap_with_ddp"]


def test_the_committed_measurement_is_this_experiment(summary):
    committed = json.loads(COMMITTED.read_text())
    for key in ("world_size", "parameters", "single_process_state_bytes", "per_rank_state_bytes",
                "per_rank_parameters", "steps", "global_batch", "model"):
        assert committed[key] == summary[key], key
    assert committed["torch"] == summary["torch"]
    assert max(committed["max_weight_deviation_from_single_process"][run]
               for run in ("ddp", "zero", "zero_bucket_view")) <= TOLERANCE


# ---------------------------------------------------------------------------- the launcher
def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_failing_rank_stops_the_run_and_shows_its_output(zero_memory, tmp_path):
    processes = []
    for rank, code in enumerate(("import sys; print('rank zero broke'); sys.exit(3)", "import time; time.sleep(120)")):
        with open(tmp_path / f"rank{rank}.log", "w") as log:
            processes.append(subprocess.Popen(_python(code), stdout=log, stderr=subprocess.STDOUT))
    started = time.monotonic()
    with pytest.raises(zero_memory.WorkerFailed, match=r"(?s)failed.*rank 0: exit status 3.*rank zero broke"):
        zero_memory.wait_for_workers(processes, tmp_path, deadline=time.monotonic() + 60)
    assert time.monotonic() - started < 30  # the sleeping rank was killed, not waited for
    assert processes[1].returncode not in (None, 0)


def test_a_rank_that_hangs_is_killed_at_the_deadline(zero_memory, tmp_path):
    (tmp_path / "rank0.log").write_text("")
    processes = [subprocess.Popen(_python("import time; time.sleep(120)"), stdout=subprocess.DEVNULL)]
    with pytest.raises(zero_memory.WorkerFailed, match="passed its deadline and was killed"):
        zero_memory.wait_for_workers(processes, tmp_path, deadline=time.monotonic() + 1)
    assert processes[0].returncode not in (None, 0)
