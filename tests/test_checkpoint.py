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
    "Adagrad": dict(lr_decay=0.01, initial_accumulator_value=0.1),
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


# ---------------------------------------------------------------------------- failing helpfully
def _write_npz(path, **entries):
    """A .npz written without adamlib.save: an old checkpoint, or a forged one."""
    with open(path, "wb") as f:
        np.savez(f, **entries)


def _old_format(path, tree_json, *arrays):
    """A checkpoint as adamlib wrote them before the format version existed."""
    _write_npz(path, __tree__=np.array(tree_json), **{f"a{i}": a for i, a in enumerate(arrays)})


def test_every_file_records_its_format_version(tmp_path):
    adamlib.save(tmp_path / "x.npz", {"w": np.ones(2)})
    with np.load(tmp_path / "x.npz") as data:
        assert int(data["__format__"]) == checkpoint.FORMAT_VERSION >= 1


def test_a_file_from_a_newer_adamlib_is_refused_by_name(tmp_path):
    path = tmp_path / "future.npz"
    _write_npz(path, __format__=np.array(checkpoint.FORMAT_VERSION + 1), __tree__=np.array("[]"))
    with pytest.raises(checkpoint.CheckpointError, match=rf"{path}.*format {checkpoint.FORMAT_VERSION + 1}.*newer adamlib.*upgrade"):
        adamlib.load(path)


def test_a_file_without_a_version_still_loads(tmp_path):
    # the layout of every checkpoint written before the version entry
    path = tmp_path / "old.npz"
    tree = '{"__dict__": [["step", 7], ["w", {"__array__": 0}], [0, {"__tuple__": [0.9, 0.999]}]]}'
    _old_format(path, tree, np.arange(3.0))
    back = adamlib.load(path)
    assert back["step"] == 7 and back[0] == (0.9, 0.999)
    np.testing.assert_array_equal(back["w"], np.arange(3.0))


def _damaged_files(tmp_path):
    good = tmp_path / "good.npz"
    adamlib.save(good, {"w": np.arange(10_000.0), "step": 3})
    data = good.read_bytes()
    files = {
        "empty": (b"", "empty"),
        "truncated": (data[: len(data) // 2], "truncated or corrupt"),
        "truncated_header": (data[:10], "truncated or corrupt"),
        "text": (b"step,lr\n1,0.1\n", "not a .npz"),
        "pickle": (__import__("pickle").dumps({"step": 1}), "not a .npz"),
    }
    out = {}
    for name, (content, reason) in files.items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(content)
        out[name] = (path, reason)
    npy = tmp_path / "array.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    out["npy"] = (npy, r"\.npy array")
    corrupt = tmp_path / "corrupt.npz"
    _old_format(corrupt, '{"__dict__": [["w", {"__array__": 5}]]}')  # refers to a missing array
    out["missing_array"] = (corrupt, "truncated or corrupt")
    bad_json = tmp_path / "bad_json.npz"
    _old_format(bad_json, '{"__dict__": [[')
    out["bad_json"] = (bad_json, "truncated or corrupt")
    return out


@pytest.mark.parametrize(
    "case", ["empty", "truncated", "truncated_header", "text", "pickle", "npy", "missing_array", "bad_json"]
)
def test_a_damaged_or_foreign_file_gets_an_error_naming_it(tmp_path, case):
    path, reason = _damaged_files(tmp_path)[case]
    with pytest.raises(checkpoint.CheckpointError, match=reason) as info:
        adamlib.load(path)
    message = str(info.value)
    assert str(path) in message
    assert "allow_pickle" not in message  # numpy's hint names an argument adamlib.load does not take
    assert isinstance(info.value, ValueError)


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        adamlib.load(tmp_path / "nothing.npz")


def test_saving_into_a_missing_directory_names_the_target(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "run.npz"
    with pytest.raises(FileNotFoundError) as info:
        adamlib.save(target, {"w": np.ones(2)})
    message = str(info.value)
    assert str(target) in message and ".tmp-" not in message and "does not exist" in message
    assert info.value.filename == str(target)


@pytest.mark.parametrize(
    "value",
    [np.float32(1.5), np.float64(0.1), np.float16(-2.0), np.int64(-3), np.int32(7), np.uint8(255),
     np.bool_(True), np.complex128(1 - 2j), np.float32(np.nan), np.str_("adam")],
    ids=lambda v: type(v).__name__,
)
def test_numpy_scalars_round_trip_as_themselves(tmp_path, value):
    adamlib.save(tmp_path / "x.npz", {"v": value, "in_a_list": [value]})
    back = adamlib.load(tmp_path / "x.npz")
    for got in (back["v"], back["in_a_list"][0]):
        assert type(got) is type(value) and np.array(got).tobytes() == np.array(value).tobytes()
    # a 0-d array stays an array, distinct from a scalar
    adamlib.save(tmp_path / "y.npz", np.array(np.float32(1.5)))
    assert isinstance(adamlib.load(tmp_path / "y.npz"), np.ndarray)


def _adam_state_json(step_json: str) -> str:
    return ('{"__dict__": [["optimizer", {"__dict__": [["optimizer", "Adam"], ["state", {"__dict__": '
            f'[[0, {{"__dict__": [["step", {step_json}], ["exp_avg", {{"__array__": 0}}], '
            '["exp_avg_sq", {"__array__": 1}]]}]]}], ["param_groups", []]]}]]}')


@pytest.mark.parametrize("step_json", ["2.5", "3.0", "-1", "true", '"3"'])
def test_a_non_integer_step_is_refused_on_load(tmp_path, step_json):
    path = tmp_path / "edited.npz"
    _old_format(path, _adam_state_json(step_json), np.zeros(2), np.zeros(2))
    with pytest.raises(checkpoint.CheckpointError, match=rf"{path}.*\['optimizer'\]\['state'\]\[0\]\['step'\].*step count"):
        adamlib.load(path)


def test_an_integer_step_loads_and_a_float_one_is_not_saved(tmp_path):
    path = tmp_path / "ok.npz"
    _old_format(path, _adam_state_json("4"), np.zeros(2), np.zeros(2))
    assert adamlib.load(path)["optimizer"]["state"][0]["step"] == 4
    w = np.zeros(2)
    opt = adamlib.Adam([w])
    opt.step([np.ones(2)])
    state = opt.state_dict()
    state["state"][0]["step"] = np.int64(1)  # numpy integers are counts too
    adamlib.save(path, {"optimizer": state})
    assert adamlib.load(path)["optimizer"]["state"][0]["step"] == 1
    state["state"][0]["step"] = 1.5
    with pytest.raises(checkpoint.CheckpointError, match=r"refusing to save .*\['state'\]\[0\]\['step'\] is 1.5"):
        adamlib.save(tmp_path / "bad.npz", {"optimizer": state})
    assert not (tmp_path / "bad.npz").exists()
