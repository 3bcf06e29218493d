"""The benchmark still runs: a seconds-long smoke version (the real figures come from `make bench`)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_and_reports(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert {"adam", "algorithms", "model", "threshold", "startup", "machine"} <= set(results)
    assert {row["dtype"] for row in results["adam"]} == {"float32", "float64"}
    for row in results["adam"]:
        assert {"adamlib", "roof", "numpy"} <= set(row["seconds"])
        assert all(s > 0 for s in row["seconds"].values())
    assert "Adam step, one flat array" in done.stdout
    assert "[adam]" in done.stderr  # progress is shown while it runs
