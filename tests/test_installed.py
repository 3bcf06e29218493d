"""The package as engineers get it: installed from the repository, used from elsewhere."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

# Runs every optimizer for a few steps and prints the final parameters: run by the installed
# copy in a subprocess, and compared with this process's (the repository's) results.
WORKLOAD = """
import json, sys, numpy as np, adamlib
assert "sympy" not in sys.modules, "import adamlib must not import SymPy"
out = {"file": adamlib.__file__}
for name in ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam"]:
    rng = np.random.default_rng(7)
    p = rng.standard_normal(257).astype(np.float32)
    opt = getattr(adamlib, name)([p], lr=1e-2)
    for _ in range(25):
        opt.step([rng.standard_normal(257).astype(np.float32)])
    out[name] = p.tolist()
print(json.dumps(out))
"""


def _run(code, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    env.update(env_extra)
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """adamlib installed with pip from the repository into a private directory."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(REPO)],
        check=True, capture_output=True, timeout=600,
    )
    return target


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """The workload's results with the repository's copy of adamlib."""
    done = _run(WORKLOAD, {"PYTHONPATH": str(REPO)}, cwd=tmp_path_factory.mktemp("repo-run"))
    result = json.loads(done.stdout)
    assert pathlib.Path(result.pop("file")).is_relative_to(REPO)
    return result


def test_installed_copy_runs_from_outside_the_repository(installed, expected, tmp_path):
    done = _run(WORKLOAD, {"PYTHONPATH": str(installed)}, cwd=tmp_path)
    result = json.loads(done.stdout)
    assert pathlib.Path(result.pop("file")).is_relative_to(installed)
    assert result == expected  # bit for bit: same kernels, same arithmetic


def test_read_only_installation_runs_without_the_disk_cache(installed, expected, tmp_path):
    # A zipped package is read-only by nature, and with HOME and the user cache unwritable no
    # cache directory is left: adamlib must still import and run (compiling in memory).
    archive = tmp_path / "adamlib.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in (installed / "adamlib").rglob("*.py"):
            zf.write(path, path.relative_to(installed))
    done = _run(WORKLOAD, {"PYTHONPATH": str(archive), "HOME": "/dev/null",
                           "XDG_CACHE_HOME": "/dev/null/cache"}, cwd=tmp_path)
    assert "cannot cache compiled kernels on disk" in done.stderr
    result = json.loads(done.stdout)
    assert result.pop("file").startswith(str(archive))
    assert result == expected


def test_nothing_compiles_at_import(tmp_path):
    code = (
        "import adamlib, adamlib._kernels as k, adamlib._scalar as s\n"
        "from adamlib._jit import Kernel\n"
        "kernels = [v for v in vars(k).values() if isinstance(v, Kernel)]\n"
        "assert len(kernels) >= 8\n"
        "assert all(not v.serial.overloads and not v.parallel.overloads for v in kernels)\n"
        "assert not s.ema.overloads and not s.rms_scaled.overloads\n"
    )
    _run(code, {"PYTHONPATH": str(REPO)}, cwd=tmp_path)
