"""Peer side of `cargo bench -p hypersearch-search --bench search`: Optuna's pruners and
TPESampler on the same workloads (1,000 completed trials x 20 epochs for the pruners;
hartmann6 for TPE time per suggestion; branin/hartmann6/ackley5/rosenbrock4 regret over 10
seeds). Usage: python3 bench/peers/search_speed.py [pruners] [tpe-time] [tpe-quality]"""

import binascii
import math
import os
import statistics
import sys
import time

import numpy as np
import optuna
from optuna.trial import TrialState, create_trial
from optuna.distributions import FloatDistribution

optuna.logging.set_verbosity(optuna.logging.WARNING)


def branin(x):
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x):
    x = np.asarray(x)
    return float(-np.sum(ALPHA * np.exp(-np.sum(A * (x - P) ** 2, axis=1))))


def ackley(x):
    x = np.asarray(x)
    d = len(x)
    v = -20 * math.exp(-0.2 * math.sqrt(np.sum(x * x) / d)) - math.exp(np.sum(np.cos(2 * math.pi * x)) / d) + 20 + math.e
    return max(v, 0.0)


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


CASES = [
    ("branin", branin, [(-5, 10), (0, 15)], 50, 0.397887357729738),
    ("hartmann6", hartmann6, [(0, 1)] * 6, 100, -3.32236801141551),
    ("ackley5", ackley, [(-5, 10)] * 5, 100, 0.0),
    ("rosenbrock4", rosenbrock, [(-5, 10)] * 4, 100, 0.0),
]


def run(f, bounds, budget, seed, probe=()):
    """Sequential TPE (Optuna's defaults); returns best-so-far values. At each history size in
    `probe`, also times 21 extra asks left running (ignored by TPE without constant liar): the
    median and minimum seconds, robust to a busy machine."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    dists = {f"x{i + 1}": FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(bounds)}
    best, times, incumbent = [], [], math.inf
    for n in range(budget):
        if n in probe:
            t = []
            for _ in range(21):
                start = time.perf_counter()
                study.ask(dists)
                t.append(time.perf_counter() - start)
            t.sort()
            times.append((n, t[10], t[0]))
        trial = study.ask(dists)
        v = f([trial.params[f"x{i + 1}"] for i in range(len(bounds))])
        study.tell(trial, v)
        incumbent = min(incumbent, v)
        best.append(incumbent)
    return best, times


def tpe_time():
    _, times = run(hartmann6, [(0, 1)] * 6, 401, 0, probe=(25, 200, 400))
    print("Optuna TPE time per suggestion, hartmann6 (6-D continuous), median / min of 21:")
    for n, median, low in times:
        print(f"  {n:>4} observations: {1e3 * median:8.3f} ms / {1e3 * low:8.3f} ms")


def tpe_quality():
    seeds = int(os.environ.get("SEEDS", "10"))
    print(f"Optuna TPE median regret over {seeds} seeds (25% / 50% / 100% of the budget; geometric mean at 100%):")
    for label, f, bounds, budget, minimum in CASES:
        runs = [run(f, bounds, budget, seed)[0] for seed in range(seeds)]
        at = lambda frac: statistics.median(r[max(int(budget * frac), 1) - 1] - minimum for r in runs)
        geo = math.exp(statistics.mean(math.log(max(r[-1] - minimum, 1e-12)) for r in runs))
        print(f"  {label:<12} {at(0.25):10.4f} {at(0.5):10.4f} {at(1.0):10.4f} {geo:10.4f}")


def bracket(number, budgets):
    n = binascii.crc32(f"bench_{number}".encode()) % sum(budgets)
    for i, b in enumerate(budgets):
        n -= b
        if n < 0:
            return i


def rung_attrs(name, number, curve):
    """The `completed_rung_k` attributes a trial gets when it ran through the pruner."""
    if name == "asha":
        rate = 0
    elif name == "hyperband":
        rate = bracket(number, [9, 5, 3])  # R = 20, r = 1, eta = 3
    else:
        return {}
    attrs, k = {}, 0
    while 3 ** (rate + k) <= 20:
        attrs[f"completed_rung_{k}"] = curve[3 ** (rate + k)]
        k += 1
    return attrs


def pruning_study(name, pruner):
    """1,000 completed trials with 20-epoch decreasing curves (with the rung records they would
    have from running under the pruner) and one running trial at epoch 9."""
    rng = np.random.default_rng(3)
    study = optuna.create_study(pruner=pruner, study_name="bench")
    curves = []
    for number in range(1000):
        start, rate = 1 + rng.random(), 0.05 + 0.1 * rng.random()
        curve = {e: start * math.exp(-rate * e) for e in range(1, 21)}
        curves.append(curve)
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=curve[20], intermediate_values=curve,
                                     params={}, distributions={}, system_attrs=rung_attrs(name, number, curve)))
    trial = study.ask()
    start, rate = 1 + rng.random(), 0.05 + 0.1 * rng.random()
    for e in range(1, 9):
        trial.report(start * math.exp(-rate * e), e)
    trial.report(statistics.median(c[9] for c in curves), 9)
    return study, trial


def pruners():
    print("Optuna pruner decision time (fastest of 10 batches), 1,000 completed trials x 20 epochs, a running trial at epoch 9:")
    for name, pruner in [
        ("median", optuna.pruners.MedianPruner()),
        ("asha", optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)),
        ("hyperband", optuna.pruners.HyperbandPruner(min_resource=1, max_resource=20, reduction_factor=3)),
    ]:
        study, trial = pruning_study(name, pruner)
        frozen = study._storage.get_trial(trial._trial_id)
        # The fastest of 10 batches of 20: robust to other work on a shared machine.
        micros = math.inf
        for _ in range(10):
            start = time.perf_counter()
            for _ in range(20):
                stopped = pruner.prune(study, frozen)
            micros = min(micros, (time.perf_counter() - start) / 20 * 1e6)
        print(f"  rule = \"{name}\"{' ' * (14 - len(name))} {micros:10.2f} µs per decision (stopped: {stopped})")


if __name__ == "__main__":
    wanted = sys.argv[1:] or ["pruners", "tpe-time", "tpe-quality"]
    if "pruners" in wanted:
        pruners()
    if "tpe-time" in wanted:
        tpe_time()
    if "tpe-quality" in wanted:
        tpe_quality()
