"""The comparison protocol (adamlib.compare): grids, edge extension, seeds, intervals."""

import math

import numpy as np
import pytest

import adamlib
from adamlib.compare import (
    Choice,
    Contender,
    EdgeOptimumError,
    LogAxis,
    compare,
    mean_interval,
    student_t_quantile,
    tune,
)


def parabola_trial(optimum):
    """A trial whose score is minimised at lr = optimum (log scale), with seed noise."""
    def trial(config, seed):
        rng = np.random.default_rng(seed)
        return (math.log10(config.hyper["lr"]) - math.log10(optimum)) ** 2 + 0.01 * rng.random()
    return trial


SGD_LR = Contender("SGD", adamlib.SGD, {"lr": LogAxis(1e-3, 1e-1)})


# ------------------------------------------------------------------ grids
def test_log_axis_points_and_extension():
    axis = LogAxis(1e-3, 1e-1)
    np.testing.assert_allclose(axis.points, [1e-3, 10**-2.5, 1e-2, 10**-1.5, 1e-1], rtol=1e-11)
    assert axis.extended(-1).points[1:] == axis.points  # the same floats: cached scores stay valid
    assert axis.extended(+1).points[:-1] == axis.points
    betas = LogAxis(0.9, 0.999, 1, complement=True)
    np.testing.assert_allclose(betas.points, [0.9, 0.99, 0.999], rtol=1e-12)
    np.testing.assert_allclose(betas.extended(+1).points[-1], 0.9999, rtol=1e-12)
    assert betas.extended(-1).points == (0.0, *betas.points)  # 1 - 10**0: a beta grid ends at 0
    with pytest.raises(EdgeOptimumError, match="below 0.0"):
        betas.extended(-1).extended(-1)
    with pytest.raises(EdgeOptimumError, match="below 0.5"):
        LogAxis(0.5, 0.95, 1, complement=True).extended(-1)  # off the lattice: -0.5 is no beta


def test_a_best_beta_of_zero_is_a_boundary_optimum():
    contender = Contender("SGD", adamlib.SGD, {"lr": LogAxis(1e-3, 1e-1),
                                               "momentum": LogAxis(0.9, 0.99, 1, complement=True)})

    def trial(config, seed):  # best at lr = 1e-2 and no momentum at all
        return (math.log10(config.hyper["lr"]) + 2) ** 2 + config.hyper["momentum"]
    tuning = tune(contender, trial, seeds=[0])
    assert tuning.best == {"lr": pytest.approx(1e-2), "momentum": 0.0} and tuning.extensions == 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(low=0.0, high=1.0), "0 < low < high"),
    (dict(low=1.0, high=0.1), "0 < low < high"),
    (dict(low=0.9, high=1.0, complement=True), "high < 1"),
    (dict(low=-0.1, high=0.9, complement=True), "0 <= low"),
    (dict(low=1e-3, high=1e-1, per_decade=0), "per_decade"),
])
def test_log_axis_refuses_bad_bounds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LogAxis(**kwargs)


def test_log_axis_needs_whole_steps():
    with pytest.raises(ValueError, match="whole number of grid steps"):
        LogAxis(1e-3, 5e-3).points


# ------------------------------------------------------------------ tuning
def test_interior_optimum_found_without_extension():
    tuning = tune(SGD_LR, parabola_trial(1e-2), seeds=[0, 1])
    assert tuning.best == {"lr": pytest.approx(1e-2)} and tuning.extensions == 0


def test_edge_optimum_extends_the_grid_until_interior():
    tuning = tune(SGD_LR, parabola_trial(1e-4), seeds=[0, 1])
    assert tuning.best["lr"] == pytest.approx(1e-4)
    assert tuning.extensions == 3  # 1e-3 -> 10**-3.5 -> 1e-4 -> 10**-4.5 makes 1e-4 interior
    assert tuning.axes["lr"].points[0] < tuning.best["lr"]
    points, scores = tuning.along("lr")
    assert points[np.argmin(scores)] == tuning.best["lr"]


def test_edge_optimum_out_of_reach_fails_loudly():
    with pytest.raises(EdgeOptimumError, match=r"SGD: the best point is on the edge.*lr=1e-05 \(lowest\)"):
        tune(SGD_LR, parabola_trial(1e-9), seeds=[0], max_extensions=4)


def test_every_configuration_diverging_fails_loudly():
    with pytest.raises(EdgeOptimumError, match="every configuration"):
        tune(SGD_LR, lambda config, seed: math.nan, seeds=[0])


def test_divergence_counts_as_worst():
    def trial(config, seed):  # diverges above 5e-2; otherwise better for larger rates
        return math.inf if config.hyper["lr"] > 0.05 else -config.hyper["lr"]
    extended = Contender("SGD", adamlib.SGD, {"lr": LogAxis(1e-3, 1.0)})
    assert tune(extended, trial, seeds=[0]).best["lr"] == pytest.approx(10**-1.5)


def test_choice_axis_is_searched_not_extended():
    contender = Contender("SGD", adamlib.SGD, {"lr": LogAxis(1e-3, 1e-1), "nesterov": Choice((False, True))},
                          fixed={"momentum": 0.9})

    def trial(config, seed):
        return (math.log10(config.hyper["lr"]) + 2) ** 2 + (0.0 if config.hyper["nesterov"] else 1.0)
    tuning = tune(contender, trial, seeds=[0])
    assert tuning.best == {"lr": pytest.approx(1e-2), "nesterov": True} and tuning.extensions == 0


def test_config_builds_the_contenders_optimizer():
    contender = Contender("m", adamlib.SGD, {"lr": LogAxis(1e-3, 1e-1)}, fixed={"momentum": 0.5})
    seen = []

    def trial(config, seed):
        opt = config.optimizer([np.zeros(2)])
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
        return (math.log10(config.hyper["lr"]) + 2) ** 2
    tune(contender, trial, seeds=[0])
    assert {m for _, m in seen} == {0.5} and len(seen) == 5


def test_contender_checks():
    with pytest.raises(ValueError, match="no axis"):
        Contender("x", adamlib.SGD, {})
    with pytest.raises(ValueError, match=r"both tunes and fixes \['lr'\]"):
        Contender("x", adamlib.SGD, {"lr": LogAxis(1e-3, 1e-1)}, fixed={"lr": 0.1})


# ------------------------------------------------------------------ seeds and reports
def test_tuning_and_reporting_seeds_must_be_apart():
    with pytest.raises(ValueError, match=r"seeds \[5\] are both"):
        compare([SGD_LR], parabola_trial(1e-2), tuning_seeds=[0, 5], reporting_seeds=range(5, 10))


def test_at_least_five_reporting_seeds():
    with pytest.raises(ValueError, match="at least 5 distinct seeds"):
        compare([SGD_LR], parabola_trial(1e-2), reporting_seeds=[10, 11, 12, 13, 13])


def test_reported_on_the_reporting_seeds_only():
    calls = []

    def trial(config, seed):
        calls.append(seed)
        return parabola_trial(1e-2)(config, seed)
    result = compare([SGD_LR], trial, tuning_seeds=[0, 1], reporting_seeds=range(20, 26))
    assert calls[-6:] == list(range(20, 26)) and set(calls[:-6]) == {0, 1}
    assert result.scores["SGD"].shape == (6,)


def test_batched_trials_equal_seed_by_seed():
    def one(config, seed):
        return np.random.default_rng(seed).random(4) * config.hyper["lr"] + (math.log10(config.hyper["lr"]) + 2) ** 2

    def batched(config, seeds):
        return np.stack([one(config, s) for s in seeds])
    a = compare([SGD_LR], one)
    b = compare([SGD_LR], batched, batched=True)
    np.testing.assert_array_equal(a.scores["SGD"], b.scores["SGD"])
    mean, low, high = b.band("SGD")
    assert mean.shape == (4,) and np.all(low <= mean) and np.all(mean <= high)


def test_paired_difference_resolves_a_real_gap_and_not_noise():
    def trial(config, seed):
        rng = np.random.default_rng(seed)
        shared = rng.standard_normal()  # seed-to-seed variation common to both contenders
        gap = 0.1 if config.name == "worse" else 0.0
        return (math.log10(config.hyper["lr"]) + 2) ** 2 + shared + gap + 0.01 * rng.standard_normal()
    grid = {"lr": LogAxis(1e-3, 1e-1)}
    result = compare([Contender("better", adamlib.SGD, grid), Contender("worse", adamlib.SGD, grid)], trial)
    diff = result.assert_better("better", "worse")
    assert diff.high < 0 and diff.low < -0.05  # resolved although the seed spread (1.0) is 10x the gap
    assert not result.summary("better").excludes(result.summary("worse").mean)  # unpaired: overlap
    with pytest.raises(AssertionError, match="not resolved"):
        result.assert_better("worse", "better")
    assert result.ranking() == ["better", "worse"]
    assert "better" in result.table() and "interval over 10 seeds" in result.table()


# ------------------------------------------------------------------ statistics
@pytest.mark.parametrize("p, df", [(0.975, 1), (0.975, 4), (0.975, 9), (0.995, 30), (0.9, 2), (0.975, 200)])
def test_student_t_quantile_matches_scipy(p, df):
    stats = pytest.importorskip("scipy.stats")
    assert student_t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-10)


def test_interval_covers_the_true_mean_at_its_level():
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((4000, 5)) * 2.0 + 3.0
    covered = np.mean([not mean_interval(x).excludes(3.0) for x in samples])
    assert 0.94 < covered < 0.96  # 95 % (4000 trials: standard error 0.0034)


def test_interval_with_a_diverged_run_is_unbounded():
    interval = mean_interval([1.0, 2.0, math.inf, 1.5, 1.2])
    assert interval.low == -math.inf and interval.high == math.inf and not interval.excludes(0.0)


def test_a_perfect_log_score_is_not_a_divergence():
    def trial(config, seed):  # the loss reaches exactly 0 (log -inf) at lr = 1e-2 only
        return -math.inf if config.hyper["lr"] == pytest.approx(1e-2) else (math.log10(config.hyper["lr"]) + 2) ** 2
    assert tune(SGD_LR, trial, seeds=[0]).best["lr"] == pytest.approx(1e-2)


def test_table_columns_fit_long_names():
    grid = {"lr": LogAxis(1e-3, 1e-1)}
    result = compare([Contender("a contender with a long name", adamlib.SGD, grid),
                      Contender("b", adamlib.SGD, grid)], parabola_trial(1e-2))
    lines = result.table().splitlines()
    assert len({line.index("lr=") for line in lines[1:]}) == 1  # aligned columns
