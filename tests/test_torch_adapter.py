"""adamlib.torch against torch.optim on real torch.nn models: the same run, step for step.

torch is optional: these tests skip without it locally and fail in CI (``CI=true``).

Tolerances. Each step both libraries evaluate the same formula, but adamlib computes the
scalars of a step (bias corrections, NAdam's μ products) in double and lets LLVM contract
multiply-adds, while torch rounds every operation to the parameter's dtype. torch keeps its scalar state (``step``, NAdam's ``mu_product``) in its default dtype, so
the float64 runs set that to float64. Over the 12 training steps below the weights (relative to their largest value) and the losses (relative
to the first loss) were measured to differ by at most 1.5e-6 in float32 (about 13 ulp) and
3e-14 in float64; torch's own fused Adam differs from its for-loop by up to 1.8e-7 and 2e-16
on the same runs. The tolerances, 1e-5 and 1e-12, sit well above that and far below any real
error: a wrong step moves weights by O(lr) = 1e-2.
"""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from _oracle_cases import default_dtype
from conftest import ROOT, require

pytestmark = pytest.mark.torch

TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
STEPS = 12


@pytest.fixture(scope="module")
def torch():
    torch = require("torch")
    torch.set_num_threads(1)  # deterministic reductions, and no fight for the cores
    return torch


@pytest.fixture(scope="module")
def at(torch):
    import adamlib.torch

    return adamlib.torch


# ---------------------------------------------------------------------------- models and runs
def mlp(torch, dtype):
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1)).to(dtype)


def convnet(torch, dtype, channels_last=False):
    # No bias before BatchNorm: BN cancels it, its gradient is pure rounding noise, and an
    # adaptive method turns noise into full-size steps of either sign (chaos, not a comparison).
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 1)).to(dtype)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def batch(torch, model, dtype):
    g = torch.Generator().manual_seed(1)
    conv = isinstance(model[0], torch.nn.Conv2d)
    x = torch.randn(8, 2, 8, 8, generator=g, dtype=dtype) if conv else torch.randn(32, 6, generator=g, dtype=dtype)
    return x, torch.randn(len(x), 1, generator=g, dtype=dtype)


def loss_of(model, data, sign=1.0):
    x, y = data
    return sign * ((model(x) - y) ** 2).mean()


def train(torch, model, opt, steps=STEPS, sign=1.0, scheduler=None, on_loss=False):
    """Losses and flattened weights after every step."""
    data = batch(torch, model, next(model.parameters()).dtype)
    losses, weights = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_of(model, data, sign)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step(loss.item()) if on_loss else scheduler.step()
        losses.append(loss.item())
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]).clone())
    return np.array(losses), torch.stack(weights).double().numpy()


def assert_same_run(ours, theirs, dtype):
    (l1, w1), (l0, w0) = ours, theirs
    tol = TOLERANCE[str(dtype).removeprefix("torch.")]
    assert np.all(np.isfinite(l0)) and np.all(np.isfinite(w0))
    loss_dev = np.max(np.abs(l1 - l0)) / abs(l0[0])
    weight_dev = np.max(np.max(np.abs(w1 - w0), axis=1) / np.max(np.abs(w0), axis=1))
    assert loss_dev <= tol and weight_dev <= tol, (loss_dev, weight_dev)


CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("RMSprop", dict(lr=1e-2)),
    ("RMSprop", dict(lr=1e-2, centered=True, momentum=0.5, weight_decay=0.01, maximize=True)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, decoupled_weight_decay=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, amsgrad=True, betas=(0.8, 0.99))),
    ("Adamax", dict(lr=1e-2)),
    ("Adamax", dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=1e-2)),
    ("NAdam", dict(lr=1e-2, decoupled_weight_decay=True, weight_decay=0.1, momentum_decay=0.1)),
    ("RAdam", dict(lr=1e-2)),
    ("RAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Adagrad", dict(lr=1e-2)),
    ("Adagrad", dict(lr=1e-2, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.1, maximize=True)),
    ("Adafactor", dict(lr=1e-2)),
    ("Adafactor", dict(lr=1e-2, beta2_decay=-0.5, eps=(1e-3, 1e-2), d=2.0, weight_decay=0.1, maximize=True)),
]


def case_id(case):
    name, hp = case
    return "-".join([name] + [k if v is True else f"{k}={v}" for k, v in hp.items() if k != "lr"]).replace(" ", "")


def both(torch, at, name, hp, make, dtype, **train_kw):
    sign = -1.0 if hp.get("maximize") else 1.0  # maximise −loss: the same descent, both ways
    runs = []
    with default_dtype(torch, np.float64 if dtype == torch.float64 else np.float32):
        for module in (at, torch.optim):
            model = make(torch, dtype)
            runs.append(train(torch, model, getattr(module, name)(model.parameters(), **hp), sign=sign, **train_kw))
    return runs


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_mlp_matches_torch(torch, at, case, dtype_name):
    dtype = getattr(torch, dtype_name)
    name, hp = case
    ours, theirs = both(torch, at, name, hp, mlp, dtype)
    assert_same_run(ours, theirs, dtype)


@pytest.mark.parametrize("case", CASES[1::2], ids=case_id)
def test_convnet_matches_torch(torch, at, case):
    name, hp = case
    ours, theirs = both(torch, at, name, hp, convnet, torch.float32)
    assert_same_run(ours, theirs, torch.float32)


def test_channels_last_convnet_matches_torch(torch, at):
    runs = []
    for module in (at, torch.optim):
        model = convnet(torch, torch.float32, channels_last=True)
        assert not model[0].weight.is_contiguous()  # the layout the test is about
        runs.append(train(torch, model, module.Adam(model.parameters(), lr=1e-2)))
    assert_same_run(*runs, torch.float32)


def test_state_tensors_share_layout_and_memory(torch, at):
    model = convnet(torch, torch.float32, channels_last=True)
    opt = at.Adam(model.parameters(), lr=1e-2)
    train(torch, model, opt, steps=2)
    weight = model[0].weight
    exp_avg = opt.state[weight]["exp_avg"]
    assert exp_avg.shape == weight.shape and exp_avg.stride() == weight.stride()
    assert opt.state[weight]["step"].item() == 2.0 and opt.state[weight]["step"].dtype == torch.float32
    before = weight.detach().clone()
    exp_avg.zero_()  # torch users reset state in place: the next step must see it
    opt.state[weight]["exp_avg_sq"].fill_(1.0)
    weight.grad = torch.zeros_like(weight)
    opt.step()
    torch.testing.assert_close(weight.detach(), before, rtol=0, atol=0)


# ---------------------------------------------------------------------------- schedulers
SCHEDULERS = {
    "StepLR": lambda s, o: s.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda s, o: s.MultiStepLR(o, milestones=[2, 7], gamma=0.3),
    "CosineAnnealingLR": lambda s, o: s.CosineAnnealingLR(o, T_max=STEPS),
    "CosineAnnealingWarmRestarts": lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=5),
    "OneCycleLR": lambda s, o: s.OneCycleLR(o, max_lr=0.05, total_steps=STEPS),  # cycles betas[0] too
    "LambdaLR": lambda s, o: s.LambdaLR(o, lambda k: 1.0 / (1 + k)),
    "PolynomialLR": lambda s, o: s.PolynomialLR(o, total_iters=STEPS, power=2.0),
    "SequentialLR": lambda s, o: s.SequentialLR(o, [s.LinearLR(o, 0.1, total_iters=3), s.ExponentialLR(o, 0.9)], [3]),
    "ReduceLROnPlateau": lambda s, o: s.ReduceLROnPlateau(o, patience=0, factor=0.5, threshold=0.5),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_schedulers_drive_adamlib_as_they_drive_torch(torch, at, name):
    runs = []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float64)
        opt = module.AdamW(model.parameters(), lr=1e-2)
        sched = SCHEDULERS[name](torch.optim.lr_scheduler, opt)
        runs.append(train(torch, model, opt, scheduler=sched, on_loss=name == "ReduceLROnPlateau"))
        lrs = [g["lr"] for g in opt.param_groups]
    assert_same_run(*runs, torch.float64)
    assert lrs[0] != 1e-2  # the schedule did change the learning rate


def test_cyclic_momentum_with_sgd(torch, at):
    runs = []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float64)
        opt = module.SGD(model.parameters(), lr=1e-2, momentum=0.9)
        sched = torch.optim.lr_scheduler.CyclicLR(opt, 1e-3, 5e-2, step_size_up=3)  # cycles momentum
        runs.append(train(torch, model, opt, scheduler=sched))
    assert_same_run(*runs, torch.float64)


# ---------------------------------------------------------------------------- checkpoints
def saved(torch, obj):
    """``obj`` after a round trip through ``torch.save`` and ``torch.load`` (weights only)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer)  # weights_only=True, torch's default: plain torch types only


STATEFUL_CASES = [CASES[i] for i in (1, 4, 6, 9, 11, 13, 15, 17, 19)]  # one per optimizer, its state in full


@pytest.mark.parametrize("case", STATEFUL_CASES, ids=case_id)
@pytest.mark.parametrize("direction", ["torch_to_adamlib", "adamlib_to_torch"])
def test_checkpoint_continues_in_the_other_library(torch, at, case, direction):
    name, hp = case
    first, second = (torch.optim, at) if direction == "torch_to_adamlib" else (at, torch.optim)
    sign = -1.0 if hp.get("maximize") else 1.0
    model = mlp(torch, torch.float64)
    opt = getattr(first, name)(model.parameters(), **hp)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2, 0.7)
    train(torch, model, opt, steps=5, sign=sign, scheduler=sched)
    snapshot = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
    runs = []
    for module in (first, second):
        # A fresh load for each: torch's load_state_dict keeps the loaded `step` tensors and
        # increments them in place, which would advance a shared checkpoint.
        checkpoint = saved(torch, snapshot)
        resumed = mlp(torch, torch.float64)
        resumed.load_state_dict(checkpoint["model"])
        opt = getattr(module, name)(resumed.parameters(), **hp)
        sched = torch.optim.lr_scheduler.StepLR(opt, 2, 0.7)
        opt.load_state_dict(checkpoint["opt"])
        sched.load_state_dict(checkpoint["sched"])
        runs.append(train(torch, resumed, opt, steps=6, sign=sign, scheduler=sched))
        assert set(opt.state_dict()["param_groups"][0]) == set(checkpoint["opt"]["param_groups"][0])
    assert_same_run(runs[1], runs[0], torch.float64)


def test_state_dict_is_torchs_own_format(torch, at):
    dicts = []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float32)
        opt = module.NAdam(model.named_parameters(), lr=1e-2)
        train(torch, model, opt, steps=3)
        dicts.append(opt.state_dict())
    ours, theirs = dicts
    assert ours["param_groups"] == theirs["param_groups"]  # param_names included
    assert ours["state"].keys() == theirs["state"].keys()
    for index, state in theirs["state"].items():
        assert state.keys() == ours["state"][index].keys()
        for key, value in state.items():
            assert type(ours["state"][index][key]) is torch.Tensor
            assert ours["state"][index][key].dtype == value.dtype and ours["state"][index][key].shape == value.shape
    # torch.load's default (weights_only=True) accepts it: nothing from adamlib is pickled
    assert saved(torch, ours)["state"][0]["step"].item() == 3.0


# ---------------------------------------------------------------------------- numpy <-> torch
@pytest.mark.parametrize("name, hp", [("SGD", dict(lr=0.05, momentum=0.9)), ("SGD", dict(lr=0.05)),
                                      ("RMSprop", dict(centered=True, momentum=0.5)), ("Adam", dict(amsgrad=True)),
                                      ("AdamW", {}), ("Adamax", {}), ("NAdam", {}), ("RAdam", {}),
                                      ("Adagrad", dict(lr_decay=0.01, initial_accumulator_value=0.1)),
                                      ("Adafactor", dict(weight_decay=0.1))],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_numpy_state_dicts_convert_both_ways(torch, at, name, hp):
    import adamlib

    with default_dtype(torch, np.float64):  # torch's NAdam keeps mu_product in the default dtype
        _convert_both_ways(torch, at, adamlib, name, hp)


def _convert_both_ways(torch, at, adamlib, name, hp):
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal((4, 3))
    grads = rng.standard_normal((10, 4, 3))
    # numpy for 5 steps, then torch from its state dict; and the other way round
    w = theta0.copy()
    numpy_opt = getattr(adamlib, name)([w], **hp)
    for g in grads[:5]:
        numpy_opt.step([g])
    p = torch.nn.Parameter(torch.from_numpy(w.copy()))
    torch_opt = getattr(torch.optim, name)([p], **hp)
    torch_opt.load_state_dict(at.to_torch_state_dict(numpy_opt.state_dict()))
    assert torch_opt.state_dict()["param_groups"] == getattr(torch.optim, name)([p], **hp).state_dict()["param_groups"]
    back = getattr(adamlib, name)([w2 := w.copy()], **hp)
    back.load_state_dict(at.from_torch_state_dict(torch_opt.state_dict(), back))
    adapter_p = torch.nn.Parameter(torch.from_numpy(w.copy()))
    adapter = getattr(at, name)([adapter_p], **hp)
    adapter.load_state_dict(numpy_opt.state_dict())  # adamlib's own format is taken as well
    for g in grads[5:]:
        numpy_opt.step([g])
        back.step([g])
        p.grad = torch.from_numpy(g.copy())
        adapter_p.grad = torch.from_numpy(g.copy())
        torch_opt.step()
        adapter.step()
    np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(w2, w)
    np.testing.assert_array_equal(adapter_p.detach().numpy(), w)


def test_adagrad_state_from_construction_and_for_added_groups_as_in_torch(torch, at):
    # torch's Adagrad creates its state in the constructor, and fills the sum of a parameter
    # added later with the constructor's initial_accumulator_value, not its group's.
    runs, dicts = [], []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float64)
        head = list(model.parameters())[-2:]
        opt = module.Adagrad(list(model.parameters())[:-2], lr=1e-2, initial_accumulator_value=0.3)
        dicts.append(saved(torch, opt.state_dict()))  # a copy: torch's holds the live tensors
        train(torch, model, opt, steps=2)
        opt.add_param_group({"params": head, "initial_accumulator_value": 5.0})
        runs.append(train(torch, model, opt, steps=3))
        assert opt.state[head[0]]["step"].item() == 3.0
    ours, theirs = dicts
    assert ours["state"].keys() == theirs["state"].keys() == set(range(4))
    for index, state in theirs["state"].items():
        assert ours["state"][index]["step"].item() == state["step"].item() == 0.0
        torch.testing.assert_close(ours["state"][index]["sum"], state["sum"], rtol=0, atol=0)
    assert_same_run(*runs, torch.float64)


def test_torch_adam_state_dict_loads_into_adamlib_adamw(torch, at):
    import adamlib

    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = torch.optim.Adam([p], foreach=True)
    p.grad = torch.ones_like(p)
    opt.step()
    w = np.ones(3)
    target = adamlib.AdamW([w])
    target.load_state_dict(at.from_torch_state_dict(opt.state_dict(), target))
    assert target.param_groups[0]["decoupled_weight_decay"] is True
    assert target.state[0]["step"] == 1


def test_fractional_step_is_refused(torch, at):
    import adamlib

    sd = {"state": {0: {"step": torch.tensor(2.5), "exp_avg": torch.zeros(2), "exp_avg_sq": torch.zeros(2)}},
          "param_groups": [{"lr": 1e-3, "params": [0]}]}
    with pytest.raises(ValueError, match=r"state\[0\]\['step'\] is 2.5"):
        at.from_torch_state_dict(sd, adamlib.Adam)


# ---------------------------------------------------------------------------- storage that moves
def _assign(p, new):
    old = p.data
    p.data = new
    return old


def _share_memory(torch, model):
    model.share_memory()  # the old memory is freed: nothing to look at afterwards
    return []


def _to_float64(torch, model):
    olds = [p.data for p in model.parameters()]
    model.to(torch.float64)
    return olds


def _bucket_views(torch, model):  # what ZeroRedundancyOptimizer(parameters_as_bucket_view=True) does
    params = list(model.parameters())
    bucket = torch.cat([p.detach().flatten() for p in params])
    olds, offset = [], 0
    for p in params:
        olds.append(_assign(p, bucket[offset:offset + p.numel()].view_as(p)))
        offset += p.numel()
    return olds


MOVES = {
    "share_memory": _share_memory,
    "data_assigned": lambda torch, model: [_assign(p, p.data.clone()) for p in model.parameters()],
    "to_float64": _to_float64,
    "bucket_views": _bucket_views,
}


@pytest.mark.parametrize("how", list(MOVES))
def test_moved_storage_is_followed_never_written_through_old_views(torch, at, how):
    runs = []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float32)
        opt = module.RMSprop(model.parameters(), lr=1e-2, momentum=0.5)
        losses, _ = train(torch, model, opt, steps=3)
        olds = MOVES[how](torch, model)
        frozen = [old.clone() for old in olds]
        more, weights = train(torch, model, opt, steps=3)
        runs.append((np.concatenate([losses, more]), weights))
        for old, copy in zip(olds, frozen):  # nothing writes to the memory the parameters left
            torch.testing.assert_close(old, copy, rtol=0, atol=0)
    assert_same_run(*runs, torch.float32)


def test_parameter_replaced_or_added_in_param_groups(torch, at):
    runs, sizes = [], []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float64)
        head = list(model.parameters())[-2:]
        opt = module.Adam(list(model.parameters())[:-2], lr=1e-2)
        train(torch, model, opt, steps=2)
        opt.add_param_group({"params": head, "lr": 5e-3})
        train(torch, model, opt, steps=2)
        replacement = torch.nn.Parameter(model[0].bias.detach().clone())
        model[0].bias = replacement
        opt.param_groups[0]["params"][1] = replacement  # fresh state for the new tensor, as in torch
        runs.append(train(torch, model, opt, steps=3))
        sizes.append(len(opt.state))  # torch keeps the replaced tensor's state too
    assert_same_run(*runs, torch.float64)
    assert sizes == [7, 7]


def test_state_replaced_as_zero_redundancy_optimizer_does(torch, at):
    runs = []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float64)
        opt = module.RMSprop(model.parameters(), lr=1e-2, momentum=0.5)
        train(torch, model, opt, steps=3)
        for p in model.parameters():  # ZeRO's load_state_dict assigns whole per-parameter dicts
            opt.state[p] = {k: (v.clone() * 0.5 if v.dim() else v.clone()) for k, v in opt.state[p].items()}
        first = next(model.parameters())
        opt.state[first]["square_avg"] = torch.full_like(first, 0.1)  # and a single entry
        runs.append(train(torch, model, opt, steps=3))
    assert_same_run(*runs, torch.float64)


def test_state_moved_to_another_key_in_the_same_place(torch, at):
    """The last parameter's state dict moved to another key: the state's values keep their
    order and identity, only a key changed. The last parameter then starts afresh, as in torch."""
    runs = []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float64)
        opt = module.Adam(model.parameters(), lr=1e-2)
        train(torch, model, opt, steps=2)
        last = list(model.parameters())[-1]
        opt.state[torch.zeros(1)] = opt.state.pop(last)
        runs.append(train(torch, model, opt, steps=2))
        assert opt.state[last]["step"] == 2
    assert_same_run(*runs, torch.float64)


def test_state_option_switched_on_mid_run(torch, at):
    runs = []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float64)
        opt = module.SGD(model.parameters(), lr=1e-2)
        train(torch, model, opt, steps=2)
        opt.param_groups[0]["momentum"] = 0.9  # torch starts a momentum buffer at the next step
        runs.append(train(torch, model, opt, steps=3))
    assert_same_run(*runs, torch.float64)


def test_shared_optimizer_state_is_refused(torch, at):
    model = mlp(torch, torch.float32)
    opt = at.Adam(model.parameters())
    train(torch, model, opt, steps=1)
    for state in opt.state.values():
        for value in state.values():
            value.share_memory_()
    with pytest.raises(RuntimeError, match="moved to new memory .* use torch.optim"):
        train(torch, model, opt, steps=1)


# ---------------------------------------------------------------------------- torch habits
def test_closure_is_called_with_gradients_enabled(torch, at):
    runs = []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float64)
        data = batch(torch, model, torch.float64)
        opt = module.Adam(model.parameters(), lr=1e-2)
        losses = []

        def closure():
            opt.zero_grad()
            loss = loss_of(model, data)
            loss.backward()
            return loss

        for _ in range(5):
            with torch.no_grad():  # the closure must re-enable gradients, as torch's step does
                losses.append(opt.step(closure).item())
        runs.append(np.array(losses))
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(foreach=True), dict(fused=True), dict(capturable=True),
                                    dict(foreach=False, capturable=False)], ids=str)
def test_implementation_options_are_accepted_and_change_nothing(torch, at, kwargs):
    runs = []
    for extra in ({}, kwargs):
        model = mlp(torch, torch.float64)
        opt = at.Adam(model.parameters(), lr=1e-2, **extra)
        runs.append(train(torch, model, opt, steps=4))
        assert all(opt.param_groups[0][k] == v for k, v in extra.items())
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_hooks_named_parameters_and_zero_grad_to_zeros(torch, at):
    model = mlp(torch, torch.float32)
    opt = at.SGD(model.named_parameters(), lr=0.1, momentum=0.9)
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("loaded"))
    reference = torch.optim.SGD(mlp(torch, torch.float32).named_parameters(), lr=0.1, momentum=0.9)
    for o, m in ((opt, model), (reference, None)):
        params = [p for g in o.param_groups for p in g["params"]]
        data = batch(torch, model, torch.float32)
        for _ in range(3):
            o.zero_grad(set_to_none=False)  # gradients kept as zero tensors, reused in place
            loss = ((torch.func.functional_call(model, dict(zip([n for n, _ in model.named_parameters()], params)),
                                                data[0]) - data[1]) ** 2).mean()
            loss.backward()
            o.step()
    assert calls == ["pre", "post"] * 3
    for a, b in zip(opt.param_groups[0]["params"], reference.param_groups[0]["params"]):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    opt.load_state_dict(opt.state_dict())
    assert calls[-1] == "loaded"
    assert opt.state_dict()["param_groups"][0]["param_names"][0] == "0.weight"


def test_step_wrapper_as_torchs_hooks_arguments_and_profiler_range(torch, at):
    """adamlib.torch wraps its step itself (torch's wrapper is left out, ``hooked``): the same
    hooks in the same order, a pre-hook's new arguments, and the profiler range, opened while
    a profiler runs."""
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    model = torch.nn.Linear(3, 1)
    opts = {"adamlib": at.Adam(model.parameters(), lr=0.1),
            "torch": torch.optim.Adam(torch.nn.Linear(3, 1).parameters(), lr=0.1)}
    for label, opt in opts.items():
        assert type(opt).step.hooked
        calls = []
        closure_calls = []

        def closure(calls=closure_calls):
            calls.append("closure")
            return torch.tensor(1.5)

        opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre") or ((o,), {"closure": closure}))
        opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", tuple(kwargs))))
        handles = [register_optimizer_step_pre_hook(lambda o, a, k: calls.append("global pre")),
                   register_optimizer_step_post_hook(lambda o, a, k: calls.append("global post"))]
        try:
            assert opt.step() == 1.5, label  # the pre-hook passed the closure
            bad = opt.register_step_pre_hook(lambda o, args, kwargs: "neither None nor (args, kwargs)")
            with pytest.raises(RuntimeError, match="must return None or a tuple"):
                opt.step()
            bad.remove()
        finally:
            for handle in handles:
                handle.remove()
        assert calls[:4] == ["global pre", "pre", ("post", ("closure",)), "global post"], label
        assert closure_calls == ["closure"], label
    model(torch.ones(2, 3)).sum().backward()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiled:
        opts["adamlib"].step()
    assert "Optimizer.step#Adam.step" in {event.name for event in profiled.events()}
    assert not torch.autograd.profiler._is_profiler_enabled


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_step_between_forward_and_backward_is_caught_by_autograd(torch, at, optimizer):
    model = mlp(torch, torch.float32)
    opt = getattr(at, optimizer)(model.parameters(), lr=0.1)
    data = batch(torch, model, torch.float32)
    for _ in range(3):  # the first step, and steps after it (which check less: nothing moved)
        opt.zero_grad()
        loss_of(model, data).backward()
        loss = loss_of(model, data)  # saves the weights for backward
        opt.step()  # changes them in place, as torch's step does: autograd must notice
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_empty_parameter_group_as_zero_redundancy_optimizer_makes(torch, at):
    runs = []
    for module in (at, torch.optim):
        model = mlp(torch, torch.float64)
        opt = module.AdamW([{"params": []}, {"params": list(model.parameters()), "lr": 1e-2}])
        runs.append(train(torch, model, opt, steps=3))
    assert_same_run(*runs, torch.float64)
    assert module.AdamW([{"params": []}]).step() is None  # a rank that holds no parameters


# ---------------------------------------------------------------------------- clear refusals
def test_refusals_name_the_tensor_and_say_what_to_do(torch, at):
    meta = torch.nn.Linear(2, 2, device="meta")
    with pytest.raises(ValueError, match=r"is on meta.*CPU"):
        at.Adam(meta.parameters())
    for dtype in (torch.float16, torch.bfloat16, torch.complex64):
        with pytest.raises(TypeError, match=rf"{str(dtype)}.*float32 and float64"):
            at.Adam([torch.nn.Parameter(torch.zeros(3, dtype=dtype))])
    strided = torch.zeros(4, 4)[:, ::2]
    with pytest.raises(ValueError, match="not dense in memory"):
        at.SGD([strided.requires_grad_()])
    with pytest.raises(ValueError, match=r"differentiable=True.*torch.optim.Adam\(differentiable=True\)"):
        at.Adam([torch.nn.Parameter(torch.zeros(3))], differentiable=True)
    named = torch.nn.Linear(2, 2).half()
    with pytest.raises(TypeError, match="parameter 'weight'"):
        at.Adam(named.named_parameters())


    class Subclass(torch.Tensor):  # as FSDP's DTensor is (tests/test_distributed.py tries FSDP itself)
        pass

    with pytest.raises(TypeError, match=r"is a Subclass, a tensor subclass.*use torch.optim.AdamW"):
        at.AdamW([torch.nn.Parameter(torch.zeros(3).as_subclass(Subclass))])
    transposed = torch.nn.Parameter(torch.zeros(3, 4).t())  # Adafactor factors the last two dims
    with pytest.raises(ValueError, match=r"\]\[1\] is not C-contiguous.*p.contiguous\(\).*torch.optim.Adafactor"):
        at.Adafactor([torch.nn.Parameter(torch.zeros(2)), transposed])
    at.Adam([transposed])  # the elementwise optimizers take it in its memory order


def test_sparse_gradient_is_refused_and_the_step_changes_nothing(torch, at):
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Embedding(5, 3, sparse=True))
    opt = at.Adam(model.parameters())
    before = [p.detach().clone() for p in model.parameters()]
    (model[0](torch.ones(1, 3)).sum() + model[1](torch.tensor([1])).sum()).backward()
    with pytest.raises(ValueError, match="gradient of param_groups\\[0\\]\\['params'\\]\\[2\\] is sparse.*SparseAdam"):
        opt.step()
    for p, b in zip(model.parameters(), before):
        torch.testing.assert_close(p.detach(), b, rtol=0, atol=0)
    assert len(opt.state) == 0


UNUSUAL_LATE = ["transposed", "sparse", "requires_grad", "missing"]


@pytest.mark.parametrize("case", UNUSUAL_LATE)
def test_an_unusual_gradient_after_steady_steps_is_looked_at_on_its_own(torch, at, case):
    # After a few steps every check runs over all parameters at once; a gradient the inner
    # optimizer's compiled check cannot vouch for must still get what it got at the first step.
    results = []
    for module in (at, torch.optim):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(2, 3, dtype=torch.float64))
        b = torch.nn.Parameter(torch.randn(3, dtype=torch.float64))
        opt = module.Adam([w, b], lr=0.1)
        for t in range(3):
            w.grad, b.grad = torch.full_like(w, 0.5 + t), torch.full_like(b, -1.0 - t)
            opt.step()
        w.grad, b.grad = torch.full_like(w, 0.25), torch.full_like(b, 2.0)
        if case == "transposed":
            w.grad = torch.arange(6.0, dtype=torch.float64).reshape(3, 2).t()
        elif case == "requires_grad":
            w.grad = w.grad.clone().requires_grad_()
        elif case == "missing":
            w.grad = None
        elif case == "sparse" and module is at:
            w.grad = w.grad.to_sparse()
            before = (w.detach().clone(), b.detach().clone())
            with pytest.raises(ValueError, match=r"gradient of param_groups\[0\]\['params'\]\[0\] is sparse"):
                opt.step()
            torch.testing.assert_close((w.detach(), b.detach()), before, rtol=0, atol=0)
            return
        opt.step()
        results.append([w.detach().clone(), b.detach().clone(), opt.state[b]["step"].item()])
    ours, theirs = results
    torch.testing.assert_close(ours[:2], theirs[:2], rtol=1e-14, atol=0)
    assert ours[2] == theirs[2] == 4


@pytest.mark.parametrize("steps_before", [1, 3])  # before and after the all-at-once checks start
def test_a_parameter_seen_another_way_at_the_same_address_is_followed(torch, at, steps_before):
    # p.data = p.data.t(): the same memory, other strides. The update must land where torch's does.
    results = []
    for module in (at, torch.optim):
        p = torch.nn.Parameter(torch.arange(9.0, dtype=torch.float64).reshape(3, 3))
        opt = module.SGD([p], lr=1.0)
        p.grad = torch.zeros_like(p)
        for _ in range(steps_before):
            opt.step()
        p.data = p.data.t()
        p.grad = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
        opt.step()
        results.append(p.detach().clone())
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


def test_gradient_in_another_layout_is_copied(torch, at):
    for module in (at, torch.optim):
        p = torch.nn.Parameter(torch.arange(6.0, dtype=torch.float64).reshape(2, 3))
        opt = module.Adam([p], lr=0.1)
        p.grad = torch.arange(6.0, dtype=torch.float64).reshape(3, 2).t()  # transposed strides
        opt.step()
        if module is at:
            ours = p.detach().clone()
    torch.testing.assert_close(ours, p.detach(), rtol=1e-15, atol=0)


# ---------------------------------------------------------------------------- packaging
def test_import_adamlib_never_imports_torch():
    code = "import sys, adamlib, adamlib._torch_format; assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr


def test_torch_is_an_optional_extra_pinned_to_a_compatible_release():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith("torch") for dep in project["dependencies"])
    (torch_req,) = project["optional-dependencies"]["torch"]
    assert torch_req.replace(" ", "") == "torch>=2.13,<3"


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adam", "AdamW", "RMSprop", "NAdam", "Adafactor"])
def test_numpy_optimizer_loads_torch_state_dict_directly(name):
    import adamlib
    """A torch.optim state dict (foreach/fused keys, tensors, float step) loads as it is."""
    torch = require("torch")
    options = {"SGD": dict(lr=0.1, momentum=0.9)}.get(name, dict(lr=0.1))
    p = torch.nn.Parameter(torch.linspace(-1.0, 1.0, 5, dtype=torch.float64))
    reference = getattr(torch.optim, name)([p], **options)
    for _ in range(3):
        p.grad = p.detach() ** 3
        reference.step()
    w = np.zeros(5)
    opt = getattr(adamlib, name)([w], **options)
    opt.load_state_dict(reference.state_dict())
    w[:] = p.detach().numpy()
    for _ in range(3):
        p.grad = p.detach() ** 3
        reference.step()
        opt.step([w ** 3])
    # torch keeps NAdam's mu_product in float32 (adamlib in float64): a relative 1e-11 apart.
    rtol = 1e-9 if name == "NAdam" else 1e-12
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=rtol, atol=1e-14)
