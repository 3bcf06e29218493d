"""Checkpoints: atomic saves, exact round trips, bit-identical resumption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import adamlib
from adamlib import checkpoint

OPTIMIZERS = {
    "SGD": dict(momentum=0.9, nesterov=True),
    "RMSprop": dict(centered=True, momentum=0.5),
    "Adam": dict(amsgrad=True, weight_decay=0.01),
    "AdamW": dict(),
    "Adamax": dict(),
    "NAdam": dict(decoupled_weight_decay=True, weight_decay=0.1),
    "RAdam": dict(),
}


def _gradients(seed, shapes, dtype, n):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(n)]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_resume_from_a_checkpoint_is_bit_identical(tmp_path, name, dtype):
    shapes = [(4, 3), (7,)]
    grads = _gradients(0, shapes, dtype, 20)
    make = lambda params: getattr(adamlib, name)(
        [{"params": params[:1]}, {"params": params[1:], "lr": 3e-3}], **OPTIMIZERS[name])

    straight = [np.ones(s, dtype) for s in shapes]
    opt = make(straight)
    for g in grads:
        opt.step(g)

    first = [np.ones(s, dtype) for s in shapes]
    opt = make(first)
    for g in grads[:10]:
        opt.step(g)
    adamlib.save(tmp_path / "run.npz", {"params": first, "optimizer": opt.state_dict()})
    del opt, first

    saved = adamlib.load(tmp_path / "run.npz")
    resumed = [np.array(p) for p in saved["params"]]
    opt = make(resumed)
    opt.load_state_dict(saved["optimizer"])
    for g in grads[10:]:
        opt.step(g)
    for a, b in zip(straight, resumed):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)


def test_round_trip_keeps_types_exactly(tmp_path):
    tree = {
        "floats": [0.1, 1e-300, float("inf"), -0.0],
        "ints": {0: 1, 7: -3},
        "tuple": (0.9, 0.999),
        "none": None, "flag": True, "name": "Adam",
        "arrays": [np.arange(5, dtype=np.float32), np.zeros((2, 0)), np.array(3.5)],
    }
    checkpoint.save(tmp_path / "x.npz", tree)
    back = checkpoint.load(tmp_path / "x.npz")
    assert back["floats"][:2] == [0.1, 1e-300] and back["floats"][2] == float("inf")
    assert str(back["floats"][3]) == "-0.0"
    assert back["ints"] == {0: 1, 7: -3} and back["tuple"] == (0.9, 0.999)
    assert back["none"] is None and back["flag"] is True and back["name"] == "Adam"
    for a, b in zip(tree["arrays"], back["arrays"]):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_unsupported_objects_and_foreign_files(tmp_path):
    with pytest.raises(TypeError, match="cannot checkpoint an object of type set"):
        adamlib.save(tmp_path / "x.npz", {"s": {1, 2}})
    assert not os.listdir(tmp_path), "a refused save must leave no file behind"
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an adamlib checkpoint"):
        adamlib.load(tmp_path / "foreign.npz")


def test_a_failing_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    adamlib.save(path, {"version": 1, "w": np.ones(3)})

    def crash(*args, **kwargs):
        args[0].write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        adamlib.save(path, {"version": 2, "w": np.zeros(3)})
    assert adamlib.load(path)["version"] == 1
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_a_killed_saver_never_leaves_a_torn_checkpoint(tmp_path):
    # A child process saves ever-newer 8 MB checkpoints in a loop; we kill it with SIGKILL at
    # several moments. Whatever survives must load, complete and self-consistent.
    path = tmp_path / "ckpt.npz"
    script = textwrap.dedent(f"""
        import numpy as np, adamlib, sys
        w = np.zeros(1_000_000)
        for version in range(10**9):
            w[:] = version
            adamlib.save({str(path)!r}, {{"version": version, "w": w}})
            if version == 0:
                print("ready", flush=True)
    """)
    for delay in (0.05, 0.17, 0.31):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        saved = adamlib.load(path)
        assert saved["w"].shape == (1_000_000,)
        assert np.all(saved["w"] == saved["version"])
