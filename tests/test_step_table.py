"""The table path of a step (adamlib._batch): one compiled call per group, same results, same refusals.

Every step after the first takes the table path when nothing changed; these tests compare it
with the general path (forced by giving the optimizer no table) and check that whatever the
table path cannot vouch for goes to the general path, which refuses it and changes nothing.
"""

import numpy as np
import pytest

import adamlib
from adamlib import _batch
from adamlib._jit import PARALLEL_THRESHOLD

from _family import FAMILY, IDS


def _general_only(opt):
    """Make ``opt`` take the general path at every step."""
    opt._step_by_table = lambda grads: False
    return opt


def _model(rng, dtype=np.float32, sizes=(7, 1, 300, 33, 0, 5000)):
    shapes = [(s,) if k % 2 else (s // 3 or 1, 3) if s % 3 == 0 and s else (s,) for k, s in enumerate(sizes)]
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def test_this_platform_reads_array_headers():
    # CPython on a 64-bit machine: the table path must be on, or every step is slow.
    assert _batch.header_reads()


@pytest.mark.parametrize("member", FAMILY, ids=IDS)
def test_table_path_matches_the_general_path_bit_for_bit(member):
    rng = np.random.default_rng(1)
    params = _model(rng)
    twins = [p.copy() for p in params]
    options = {**member.oracle_base, **member.buffers}
    fast = member.cls(params, **options)
    slow = _general_only(member.cls(twins, **options))
    for step in range(6):
        grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
        if step == 3:
            grads[2] = None  # a parameter skips a step: the group's counts differ afterwards
        fast.step(grads)
        slow.step(grads)
        for a, b in zip(params, twins):
            np.testing.assert_array_equal(a, b)
    assert fast._table is not None and slow._table is not None
    for i, state in slow.state.items():
        for key, value in state.items():
            np.testing.assert_array_equal(fast.state[i][key], value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_large_group_is_cut_into_chunks_for_threads_with_the_same_result(dtype):
    rng = np.random.default_rng(2)
    size = PARALLEL_THRESHOLD[np.dtype(dtype).name]
    params = [rng.standard_normal(n).astype(dtype) for n in (size // 3, 5, size, 2 * size + 7)]
    twins = [p.copy() for p in params]
    fast, slow = adamlib.Adam(params, lr=1e-2), _general_only(adamlib.Adam(twins, lr=1e-2))
    for _ in range(3):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
        fast.step(grads)
        slow.step(grads)
    (batch,) = fast._table.batches
    assert batch.variant is _batch.batched(batch.kernel).parallel
    pieces, starts, counts, chunks, _ = batch.arguments
    assert len(chunks) > 2 and counts.sum() == sum(p.size for p in params)
    for a, b in zip(params, twins):
        np.testing.assert_array_equal(a, b)


def test_groups_and_dtypes_get_a_call_each():
    rng = np.random.default_rng(3)
    a, b = _model(rng, np.float32, (4, 6)), _model(rng, np.float64, (5,))
    opt = adamlib.SGD([{"params": a + b, "lr": 0.1}, {"params": [np.ones(3)], "momentum": 0.9}], lr=0.2)
    grads = [np.ones_like(p) for p in a + b] + [np.ones(3)]
    opt.step(grads)
    opt.step(grads)
    kinds = sorted((batch.group_index, np.dtype(batch.dtype).name, batch.kernel.__name__)
                   for batch in opt._table.batches)
    assert kinds == [(0, "float32", "sgd"), (0, "float64", "sgd"), (1, "float64", "sgd_momentum")]
    np.testing.assert_allclose(a[0], _model(np.random.default_rng(3), np.float32, (4,))[0] - 0.2)


def _unusual_gradients(params):
    """(description, gradient list) pairs that the table path must hand to the general path."""
    good = [np.ones_like(p) for p in params]
    big = params[2]
    cases = {
        "wrong dtype": np.ones(big.shape, np.float64),
        "wrong shape": np.ones(big.size + 1, big.dtype),
        "reshaped": np.ones(big.shape[::-1], big.dtype),
        "transposed": np.ones(big.shape[::-1], big.dtype).T if big.ndim == 2 else np.ones(2 * big.size, big.dtype)[::2],
        "a list": [1.0] * big.size,
        "a subclass": np.ones(big.shape, big.dtype).view(np.ma.MaskedArray),
        "the parameter itself": big,
        "a view into a state buffer": None,  # filled in below
        "not finite": np.full(big.shape, np.nan, big.dtype),
    }
    for name, grad in cases.items():
        grads = list(good)
        grads[2] = grad
        yield name, grads


@pytest.mark.parametrize("case", ["wrong dtype", "wrong shape", "reshaped", "transposed", "a list", "a subclass",
                                  "the parameter itself", "a view into a state buffer", "not finite"])
def test_what_the_table_cannot_vouch_for_is_refused_and_changes_nothing(case):
    rng = np.random.default_rng(4)
    params = _model(rng, np.float32, (7, 1, 300))
    opt = adamlib.Adam(params, lr=0.1, check_finite=True)
    good = [np.ones_like(p) for p in params]
    opt.step(good)
    opt.step(good)
    assert opt._table is not None
    grads = dict(_unusual_gradients(params))[case]
    if case == "a view into a state buffer":
        grads[2] = opt.state[2]["exp_avg"]
    before = [p.copy() for p in params], {i: {k: np.copy(v) for k, v in s.items()} for i, s in opt.state.items()}
    with pytest.raises((TypeError, ValueError, adamlib.NonFiniteGradientError)):
        opt.step(grads)
    for p, q in zip(params, before[0]):
        np.testing.assert_array_equal(p, q)
    for i, state in opt.state.items():
        for key, value in state.items():
            np.testing.assert_array_equal(value, before[1][i][key])
    opt.step(good)  # and the next good step takes the table path again
    assert opt.state[0]["step"] == 3


def test_a_gradient_with_an_equal_but_distinct_dtype_takes_the_general_path_and_is_used():
    params = [np.zeros(4, np.float32)]
    opt = adamlib.SGD(params, lr=1.0)
    opt.step([np.ones(4, np.float32)])
    grad = np.ones(4, np.dtype(np.float32, metadata={"unit": "m"}))  # equal dtype, another object
    assert grad.dtype == np.float32 and id(grad.dtype) != id(np.dtype(np.float32))
    opt.step([grad])
    np.testing.assert_array_equal(params[0], -2.0)


def test_edits_between_steps_are_seen():
    params = [np.zeros(3), np.zeros(2)]
    opt = adamlib.SGD(params, lr=1.0, momentum=0.5)
    grads = [np.ones(3), np.ones(2)]
    opt.step(grads)
    opt.step(grads)
    new_buffer = np.full(3, 10.0)
    opt.state[0]["momentum_buffer"] = new_buffer  # replaced: the next step must use it
    opt.step(grads)
    np.testing.assert_array_equal(new_buffer, 0.5 * 10 + 1)
    replacement = np.zeros(2)
    opt.param_groups[0]["params"][1] = replacement  # a new array: fresh state, updated in place
    opt.step(grads)
    np.testing.assert_array_equal(replacement, -1.0)
    opt.param_groups[0]["lr"] = 0.0  # an option: the table path reads it at the next step
    before = params[0].copy()
    opt.step(grads)
    np.testing.assert_array_equal(params[0], before)


def test_named_gradients_take_the_table_path():
    w, b = np.zeros(3), np.zeros(1)
    opt = adamlib.SGD([("w", w), ("b", b)], lr=1.0)
    opt.step({"b": np.ones(1), "w": np.ones(3)})
    table = opt._table
    opt.step({"b": np.ones(1), "w": np.full(3, 2.0)})
    assert opt._table is table
    np.testing.assert_array_equal(w, -3.0)
    np.testing.assert_array_equal(b, -2.0)


@pytest.mark.parametrize("change", ["replace", "append", "remove", "tuple", "no params", "new group dict"])
def test_every_change_to_the_groups_params_lists_is_seen(change):
    # The table path compares each group's params list with the table in compiled code.
    params = [np.zeros(3), np.zeros(2), np.zeros(4)]
    opt = adamlib.SGD(params, lr=1.0)
    grads = [np.ones(3), np.ones(2), np.ones(4)]
    opt.step(grads)
    opt.step(grads)
    group = opt.param_groups[0]
    extra = np.zeros(5)
    if change == "replace":
        group["params"][1] = extra[:2]  # same shape and dtype: only its identity differs
        opt.step(grads)
        np.testing.assert_array_equal(extra[:2], -1.0)
        np.testing.assert_array_equal(params[1], -2.0)
    elif change == "append":
        group["params"].append(extra)
        opt.step(grads + [np.ones(5)])
        np.testing.assert_array_equal(extra, -1.0)
    elif change == "remove":
        del group["params"][0]
        opt.step(grads[1:])
        np.testing.assert_array_equal(params[0], -2.0)
        np.testing.assert_array_equal(params[1], -3.0)
    elif change == "tuple":
        group["params"] = tuple(group["params"])  # the same arrays: the general path uses them
        opt.step(grads)
        np.testing.assert_array_equal(params[0], -3.0)
    elif change == "no params":
        opt.param_groups[0] = {k: v for k, v in group.items() if k != "params"}
        with pytest.raises(TypeError, match="'params' list"):
            opt.step(grads)
        np.testing.assert_array_equal(params[0], -2.0)
    else:
        opt.param_groups.append({**group, "params": [extra]})
        opt.step(grads + [np.ones(5)])
        np.testing.assert_array_equal(extra, -1.0)
        np.testing.assert_array_equal(params[0], -3.0)


def test_gradients_may_come_as_a_tuple_and_of_the_wrong_count_are_refused():
    params = [np.zeros(3), np.zeros(2)]
    opt = adamlib.SGD(params, lr=1.0)
    opt.step([np.ones(3), np.ones(2)])
    opt.step((np.ones(3), np.ones(2)))
    assert opt._table is not None
    np.testing.assert_array_equal(params[1], -2.0)
    with pytest.raises(ValueError, match="got 1 gradients for 2 parameters"):
        opt.step((np.ones(3),))
    np.testing.assert_array_equal(params[1], -2.0)


def test_the_step_counts_written_in_one_call_reach_every_state_and_its_holders():
    params = [np.zeros(n) for n in (1, 2, 3, 4)]
    opt = adamlib.Adam(params)
    grads = [np.ones(n) for n in (1, 2, 3, 4)]
    held = None
    for t in range(1, 200):  # past 256 too: counts that are not CPython's cached small ints
        opt.step(grads)
        held = held or opt.state[3]  # a reference taken once sees every later count
    assert [opt.state[i]["step"] for i in range(4)] == [199] * 4
    assert held["step"] == 199 and type(held["step"]) is int
    opt.state[0]["step"] = 10  # a user's edit is seen; the others keep counting
    opt.step(grads)
    assert [opt.state[i]["step"] for i in range(4)] == [11, 200, 200, 200]


def test_set_in_each_writes_through_the_c_api_as_dict_setitem_does():
    dicts = [{"step": 1}, {"step": 2, "other": 0}, {}]
    value = 10**6  # an int no one else holds: its references must be counted right
    before = __import__("sys").getrefcount(value)
    written = _batch.set_in_each(np.array(list(map(id, dicts)), np.int64), id("step"), id(value),
                                 _batch._DICT_SET_ITEM)
    assert written == 3 and dicts == [{"step": value}, {"step": value, "other": 0}, {"step": value}]
    assert __import__("sys").getrefcount(value) == before + 3


def test_a_prefetch_is_a_hint_that_never_faults_and_changes_nothing():
    import numba

    @numba.njit
    def prefetch_all(addresses):
        for address in addresses:
            _batch._prefetch(address)
        return addresses.shape[0]

    data = np.arange(100.0)
    # an array, address 0, an odd address and one far outside the process's memory
    addresses = np.array([data.ctypes.data, 0, 12345, 2**47 - 64], np.int64)
    assert prefetch_all(addresses) == 4
    np.testing.assert_array_equal(data, np.arange(100.0))


def test_a_batched_kernels_name_follows_the_source_of_its_template():
    # Numba's disk cache checks the kernel's own file, not _batch.py where the template lives:
    # the name carries a digest of _batch.py, so an edit there cannot reuse a stale kernel.
    import hashlib
    from pathlib import Path

    from adamlib._kernels import adam

    digest = hashlib.sha256(Path(_batch.__file__).read_text(encoding="utf-8").encode()).hexdigest()[:12]
    assert _batch._source_digest() == digest
    assert _batch.batched(adam).parallel.py_func.__name__ == f"batched_adam_{digest}"


def test_an_array_moved_to_another_group_takes_that_groups_options():
    a, b, c = np.zeros(2), np.zeros(2), np.zeros(2)
    opt = adamlib.SGD([{"params": [a, b], "lr": 0.5}, {"params": [c], "lr": 0.0}])
    grads = [np.ones(2)] * 3
    opt.step(grads)
    opt.step(grads)
    del opt.param_groups[0]["params"][1]  # b: the flat order a, b, c is unchanged
    opt.param_groups[1]["params"].insert(0, b)
    opt.step(grads)
    np.testing.assert_array_equal(a, -1.5)
    np.testing.assert_array_equal(b, -1.0)  # lr 0 now
    np.testing.assert_array_equal(c, 0.0)


def test_an_array_moved_into_a_group_that_needs_more_state_is_refused_and_nothing_changes():
    a, b, c = np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    opt = adamlib.Adam([{"params": [a, b]}, {"params": [c], "amsgrad": True}])
    grads = [np.ones(3, np.float32)] * 3
    opt.step(grads)
    opt.step(grads)
    before = b.copy()
    del opt.param_groups[0]["params"][1]  # b: the flat order a, b, c is unchanged
    opt.param_groups[1]["params"].insert(0, b)
    with pytest.raises(ValueError, match="amsgrad=True in param_groups\\[1\\] needs state\\[1\\]\\['max_exp_avg_sq'\\]"):
        opt.step(grads)
    np.testing.assert_array_equal(b, before)


def test_check_finite_reads_a_float32_gradient_whose_dtype_is_not_numpys_own_object():
    dtype = np.dtype(np.float32, metadata={"unit": "m"})  # equal to float32, another object
    p = np.zeros(4, dtype)
    opt = adamlib.SGD([p], lr=1.0, check_finite=True)
    opt.step([np.ones_like(p)])
    opt.step([np.ones_like(p)])
    bad = np.ones_like(p)
    bad[1] = np.nan  # at an odd index: read as float64, the pair would look finite
    with pytest.raises(adamlib.NonFiniteGradientError):
        opt.step([bad])
    np.testing.assert_array_equal(p, -2.0)


def test_options_wider_than_double_give_both_paths_the_same_scalars():
    lr = np.longdouble(1) / 3 + np.longdouble(2) ** -60  # not a double
    params = [np.linspace(0, 1, 5, dtype=np.float32)]
    twins = [params[0].copy()]
    fast = adamlib.Adam(params, lr=lr, betas=(np.longdouble(0.9), 0.99))
    slow = _general_only(adamlib.Adam(twins, lr=lr, betas=(np.longdouble(0.9), 0.99)))
    assert type(fast.param_groups[0]["lr"]) is float and type(fast.param_groups[0]["betas"][0]) is float
    for t in range(4):
        grads = [np.cos(params[0] + t)]
        fast.step(grads)
        slow.step(grads)
    assert fast._table is not None
    np.testing.assert_array_equal(params[0], twins[0])


def test_an_unknown_option_in_place_of_a_removed_name_list_is_refused():
    opt = adamlib.SGD([("w", np.zeros(2))], lr=0.1)
    opt.step({"w": np.ones(2)})
    opt.step({"w": np.ones(2)})
    group = opt.param_groups[0]
    del group["param_names"]
    group["bogus"] = 1  # as many keys as before
    with pytest.raises(ValueError, match="unknown option 'bogus'"):
        opt.step([np.ones(2)])


def test_new_and_loaded_state_buffers_lie_in_one_block():
    """The first step (and a load) cuts every new state buffer from one block (adamlib._state.Arena):
    disjoint views, each at a cache-line boundary, zeroed or filled as before."""
    import adamlib

    rng = np.random.default_rng(0)
    params = [rng.standard_normal(n).astype(np.float32) for n in (3, 17, 64, 1)] + [np.zeros((2, 5))]
    grads = [np.ones_like(p) for p in params]
    for opt in (adamlib.Adam(params, amsgrad=True), adamlib.Adagrad(params, initial_accumulator_value=0.25)):
        opt.step(grads)
        buffers = [v for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray)]
        blocks = {id(b.base.base if b.base.base is not None else b.base) for b in buffers}
        assert len(blocks) == 1
        assert all(b.__array_interface__["data"][0] % 64 == 0 for b in buffers)
        assert not any(np.shares_memory(a, b) for i, a in enumerate(buffers) for b in buffers[i + 1:])
        saved = opt.state_dict()
        fresh = type(opt)([p.copy() for p in params])
        fresh.load_state_dict(saved)
        for i, s in fresh.state.items():
            for k, v in s.items():
                if isinstance(v, np.ndarray):
                    np.testing.assert_array_equal(v, saved["state"][i][k])
                    assert v.dtype == params[i].dtype and v.__array_interface__["data"][0] % 64 == 0
    np.testing.assert_array_equal(opt.state[3]["sum"], 0.25 + 1.0)
