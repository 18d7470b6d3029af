#!/usr/bin/env python3
"""Peer samplers on the sampler benchmark's functions, budgets and seeds.

Runs Optuna's GPSampler and TPESampler, scikit-optimize's gp_minimize (EI) and HEBO on
branin (2-D, 50 evaluations), hartmann6 (6-D, 100), ackley 5-D on [-5, 10]^5 (100) and
rosenbrock 4-D on [-5, 10]^4 (100), and times one suggestion at a given history size.
Every run appends one JSON line to --out (so a long run keeps what it finished):

  {"sampler": "optuna-gp", "function": "branin", "seed": 0, "budget": 50,
   "regret": [r25, r50, r100], "ms_per_suggestion": 41.2}
  {"sampler": "optuna-gp", "timing_observations": 200, "ms_per_suggestion": 130.0}

`--table FILE...` reads such files (ours and the peers') and prints the side-by-side
Markdown tables of BENCHMARKS.md. HEBO pins an old numpy: run it with the interpreter of
its own virtual environment (see bench/samplers.sh).
"""

import argparse
import json
import math
import statistics
import sys
import time

FUNCTIONS = {
    # name: (dimension, budget, bounds, known minimum)
    "branin": (2, 50, [(-5.0, 10.0), (0.0, 15.0)], 0.397887357729738),
    "hartmann6": (6, 100, [(0.0, 1.0)] * 6, -3.322368011391339),
    "ackley5": (5, 100, [(-5.0, 10.0)] * 5, 0.0),
    "rosenbrock4": (4, 100, [(-5.0, 10.0)] * 4, 0.0),
    # The validation functions (`--validation` of our benchmark): settings are checked on them.
    "levy4": (4, 100, [(-10.0, 10.0)] * 4, 0.0),
    "rastrigin3": (3, 100, [(-5.12, 5.12)] * 3, 0.0),
    "styblinski_tang5": (5, 100, [(-5.0, 5.0)] * 5, -39.16616570377142 * 5),
    "sphere8": (8, 100, [(-5.12, 5.12)] * 8, 0.0),
    "levy2": (2, 50, [(-10.0, 10.0)] * 2, 0.0),
}
VALIDATION = ["levy4", "rastrigin3", "styblinski_tang5", "sphere8", "levy2"]


# mixed_mlp (search/benches/samplers/mixed_mlp.rs, the same formula): a log-scaled learning
# rate, two integer widths, an activation and a dropout; Optuna's samplers and HEBO.
MIXED_ACTIVATIONS = {"relu": (-2.6, 0.0), "tanh": (-2.1, 0.004), "sigmoid": (-1.4, 0.012)}


def mixed_width1(h1):
    return 0.03 * math.log(h1 / 170.0) ** 2 + 0.002 * (1 - math.cos(2 * math.pi * h1 / 25.0))


def mixed_width2(h2):
    return 0.04 * ((h2 - 70.0) / 100.0) ** 2 + 0.002 * (1 - math.cos(2 * math.pi * h2 / 9.0))


def mixed_mlp(p):
    best_lr, penalty = MIXED_ACTIVATIONS[p["activation"]]
    best_dropout = 0.15 + 0.2 * (p["hidden1"] - 50.0) / 250.0
    return (0.08 + 0.05 * (math.log10(p["lr"]) - best_lr) ** 2 + mixed_width1(p["hidden1"])
            + mixed_width2(p["hidden2"]) + 0.3 * (p["dropout"] - best_dropout) ** 2 + penalty)


MIXED_MINIMUM = 0.08 + min(mixed_width1(h) for h in range(50, 301)) + min(mixed_width2(h) for h in range(20, 201))
FUNCTIONS["mixed_mlp"] = (5, 100, None, MIXED_MINIMUM)


# mixed_train (search/benches/samplers/mixed_train.rs, the same formula): a log-scaled
# learning rate whose best value moves with batch size, depth and optimizer; smooth.
TRAIN_OPTIMIZERS = {"sgd": (-1.0, 0.02), "momentum": (-1.8, 0.006), "adam": (-3.0, 0.0)}


def train_batch(b):
    return 0.003 * math.log2(b / 96.0) ** 2


def train_layers(n):
    return 0.004 * (n - 3.6) ** 2


def mixed_train(p):
    base_lr, penalty = TRAIN_OPTIMIZERS[p["optimizer"]]
    b, n = p["batch_size"], p["layers"]
    best_lr = base_lr + 0.5 * math.log10(b / 64.0) - 0.1 * (n - 4.0)
    best_decay = 0.002 * n / 4.0
    return (0.1 + 0.06 * (math.log10(p["lr"]) - best_lr) ** 2 + train_batch(b) + train_layers(n)
            + 400.0 * (p["weight_decay"] - best_decay) ** 2 + penalty)


FUNCTIONS["mixed_train"] = (5, 100, None, 0.1 + min(train_batch(b) for b in range(16, 513))
                            + min(train_layers(n) for n in range(1, 9)))
# mixed_schedule (search/benches/samplers/mixed_schedule.rs, the same formula): a six-way
# schedule choice, each with its own best learning rate and warm-up; a log-scaled integer.
SCHEDULES = {"constant": (-2.8, 0.0, 0.012), "step": (-1.9, 2.0, 0.004), "cosine": (-1.3, 6.0, 0.0),
             "linear": (-1.5, 4.0, 0.002), "exponential": (-2.3, 1.0, 0.007), "plateau": (-1.0, 10.0, 0.003)}


def schedule_units(u):
    return 0.01 * math.log2(u / 256.0) ** 2 / 4.0


def schedule_warmup(w, best):
    return 0.0008 * (w - best - 0.4) ** 2


def mixed_schedule(p):
    best_lr, best_warmup, penalty = SCHEDULES[p["schedule"]]
    u = p["units"]
    best_lr -= 0.3 * math.log2(u / 256.0) / 2.0
    best_smoothing = 0.1 + 0.05 * math.log2(u / 256.0) / 2.0
    return (0.2 + 0.04 * (math.log10(p["lr"]) - best_lr) ** 2 + schedule_warmup(p["warmup"], best_warmup)
            + schedule_units(u) + 0.2 * (p["label_smoothing"] - best_smoothing) ** 2 + penalty)


FUNCTIONS["mixed_schedule"] = (5, 100, None, 0.2 + schedule_warmup(6.0, 6.0) + schedule_units(256.0))
MIXED = {"mixed_mlp": mixed_mlp, "mixed_train": mixed_train, "mixed_schedule": mixed_schedule}


def mixed_distributions(name):
    import optuna

    d = optuna.distributions
    if name == "mixed_schedule":
        return {
            "lr": d.FloatDistribution(1e-4, 1.0, log=True),
            "schedule": d.CategoricalDistribution(list(SCHEDULES)),
            "warmup": d.IntDistribution(0, 20),
            "units": d.IntDistribution(32, 1024, log=True),
            "label_smoothing": d.FloatDistribution(0.0, 0.3),
        }
    if name == "mixed_train":
        return {
            "lr": d.FloatDistribution(1e-5, 1.0, log=True),
            "batch_size": d.IntDistribution(16, 512),
            "layers": d.IntDistribution(1, 8),
            "optimizer": d.CategoricalDistribution(["sgd", "momentum", "adam"]),
            "weight_decay": d.FloatDistribution(0.0, 0.01),
        }
    return {
        "lr": d.FloatDistribution(1e-4, 1e-1, log=True),
        "hidden1": d.IntDistribution(50, 300),
        "hidden2": d.IntDistribution(20, 200),
        "activation": d.CategoricalDistribution(["relu", "tanh", "sigmoid"]),
        "dropout": d.FloatDistribution(0.0, 0.5),
    }

HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]
HARTMANN_A = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
]
HARTMANN_P = [
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
]


def evaluate(name, x):
    """The same formulas as the testfns crate."""
    if name == "branin":
        x1, x2 = x
        b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
        return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
    if name == "hartmann6":
        total = 0.0
        for i in range(4):
            inner = sum(HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j] * 1e-4) ** 2 for j in range(6))
            total -= HARTMANN_ALPHA[i] * math.exp(-inner)
        return total
    if name == "ackley5":
        d = len(x)
        s1 = sum(v * v for v in x) / d
        s2 = sum(math.cos(2 * math.pi * v) for v in x) / d
        return -20 * math.exp(-0.2 * math.sqrt(s1)) - math.exp(s2) + 20 + math.e
    if name == "rosenbrock4":
        return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))
    if name.startswith("levy"):
        w = [1 + (v - 1) / 4 for v in x]
        middle = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
        tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
        return math.sin(math.pi * w[0]) ** 2 + middle + tail
    if name.startswith("rastrigin"):
        return 10 * len(x) + sum(v * v - 10 * math.cos(2 * math.pi * v) for v in x)
    if name.startswith("styblinski_tang"):
        return 0.5 * sum(v**4 - 16 * v * v + 5 * v for v in x)
    if name.startswith("sphere"):
        return sum(v * v for v in x)
    raise ValueError(name)


def checkpoints(values, budget, minimum):
    """Best-so-far regret after 25 %, 50 % and 100 % of the budget."""
    out = []
    for frac in (0.25, 0.5, 1.0):
        k = max(1, int(round(budget * frac)))
        out.append(min(values[:k]) - minimum)
    return out


# ---------------------------------------------------------------- Optuna


def optuna_sampler(kind, seed):
    import optuna

    if kind == "optuna-gp":
        return optuna.samplers.GPSampler(seed=seed)
    if kind == "optuna-tpe-8pending":
        # Optuna's own answer to trials in flight: running trials count as the worst.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return optuna.samplers.TPESampler(seed=seed)


def run_optuna(kind, name, seed):
    """One study; `-8pending` keeps 8 trials running, the oldest finishing first (as our
    benchmark does). Values in completion order, ms per suggestion."""
    import optuna
    from collections import deque

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dim, budget, bounds, _ = FUNCTIONS[name]
    parallel = 8 if kind.endswith("-8pending") else 1
    study = optuna.create_study(sampler=optuna_sampler(kind, seed))
    if name in MIXED:
        dists = mixed_distributions(name)
    else:
        dists = {f"x{i}": optuna.distributions.FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(bounds)}
    values, spent, asked, running = [], 0.0, 0, deque()
    while len(values) < budget:
        while len(running) < parallel and asked < budget:
            t0 = time.perf_counter()
            running.append(study.ask(dists))
            spent += time.perf_counter() - t0
            asked += 1
        trial = running.popleft()
        if name in MIXED:
            v = MIXED[name](trial.params)
        else:
            v = evaluate(name, [trial.params[f"x{i}"] for i in range(dim)])
        study.tell(trial, v)
        values.append(v)
    return values, 1e3 * spent / budget


def time_optuna(kind, observations, seed=0):
    """ms per suggestion with `observations` finished random trials (hartmann6)."""
    import optuna
    import random

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(seed)
    study = optuna.create_study(sampler=optuna_sampler(kind, seed))
    dists = {f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(6)}
    for _ in range(observations):
        x = [rng.random() for _ in range(6)]
        params = {f"x{i}": v for i, v in enumerate(x)}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=evaluate("hartmann6", x)))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        times.append(time.perf_counter() - t0)
        study.tell(trial, evaluate("hartmann6", [trial.params[f"x{i}"] for i in range(6)]))
    return 1e3 * statistics.median(times)


# ---------------------------------------------------------------- scikit-optimize


def run_skopt(name, seed):
    from skopt import gp_minimize

    _, budget, bounds, _ = FUNCTIONS[name]
    values = []

    def f(x):
        v = evaluate(name, x)
        values.append(v)
        return v

    t0 = time.perf_counter()
    gp_minimize(f, bounds, n_calls=budget, acq_func="EI", random_state=seed)
    return values, 1e3 * (time.perf_counter() - t0) / budget


def time_skopt(observations, seed=0):
    import random

    from skopt import Optimizer

    rng = random.Random(seed)
    opt = Optimizer([(0.0, 1.0)] * 6, base_estimator="GP", acq_func="EI", random_state=seed)
    xs = [[rng.random() for _ in range(6)] for _ in range(observations)]
    opt.tell(xs, [evaluate("hartmann6", x) for x in xs])
    t0 = time.perf_counter()
    opt.ask()
    return 1e3 * (time.perf_counter() - t0)


# ---------------------------------------------------------------- HEBO


def run_hebo(name, seed, batch=1):
    """One HEBO run. With `batch` > 1 (`hebo-8batch`), HEBO's own parallel mode: it suggests
    `batch` points at once (a spread over the Pareto front of its acquisition ensemble),
    all of them are evaluated, then the next batch; it has no notion of trials in flight."""
    import numpy as np
    import torch
    from hebo.design_space.design_space import DesignSpace
    from hebo.optimizers.hebo import HEBO

    try:
        from pymoo.config import Config

        Config.warnings["not_compiled"] = False
    except ImportError:
        pass
    np.random.seed(seed)
    torch.manual_seed(seed)
    dim, budget, bounds, _ = FUNCTIONS[name]
    if name in MIXED:
        space = DesignSpace().parse(hebo_mixed_space(name))
    else:
        space = DesignSpace().parse(
            [{"name": f"x{i}", "type": "num", "lb": lo, "ub": hi} for i, (lo, hi) in enumerate(bounds)]
        )
    opt = HEBO(space, scramble_seed=seed)
    values, spent = [], 0.0
    while len(values) < budget:
        t0 = time.perf_counter()
        rec = opt.suggest(n_suggestions=min(batch, budget - len(values)))
        spent += time.perf_counter() - t0
        batch_values = []
        for row in range(len(rec)):
            if name in MIXED:
                v = MIXED[name](hebo_mixed_params(space, rec.iloc[[row]]))
            else:
                v = evaluate(name, [float(rec[f"x{i}"].values[row]) for i in range(dim)])
            batch_values.append(v)
        opt.observe(rec, np.array([[v] for v in batch_values]))
        values.extend(batch_values)
    return values, 1e3 * spent / budget


def hebo_mixed_space(name):
    """HEBO's parameters for `mixed_distributions(name)`: log-scaled floats and integers as
    "pow" and "pow_int" (base 10), integers as "int", categoricals as "cat"."""
    import optuna

    d = optuna.distributions
    params = []
    for key, dist in mixed_distributions(name).items():
        if isinstance(dist, d.CategoricalDistribution):
            params.append({"name": key, "type": "cat", "categories": list(dist.choices)})
        else:
            integer = isinstance(dist, d.IntDistribution)
            param = {"name": key, "lb": dist.low, "ub": dist.high}
            if dist.log:
                param.update(type="pow_int" if integer else "pow", base=10)
            else:
                param["type"] = "int" if integer else "num"
            params.append(param)
    return params


def hebo_mixed_params(space, rec):
    """One suggestion row as the params dict of the mixed functions."""
    p = {}
    for key, para in space.paras.items():
        v = rec[key].values[0]
        if para.is_categorical:
            p[key] = str(v)
        elif para.is_discrete:
            p[key] = int(v)
        else:
            p[key] = float(v)
    return p


# ---------------------------------------------------------------- driver


def emit(out, record):
    line = json.dumps(record)
    print(line, flush=True)
    with open(out, "a") as fh:
        fh.write(line + "\n")


def run(args):
    seeds = {"optuna-gp": args.seeds, "optuna-tpe": args.seeds, "optuna-tpe-8pending": args.seeds, "skopt": args.skopt_seeds, "hebo": args.hebo_seeds, "hebo-8batch": args.hebo_seeds}
    for peer in args.peers.split(","):
        for name in [f for f in args.functions.split(",") if f]:
            _, budget, _, minimum = FUNCTIONS[name]
            if name in MIXED and peer == "skopt":
                print(f"{peer}: {name} is run for Optuna's samplers and HEBO only", file=sys.stderr)
                continue
            for seed in range(args.first_seed, args.first_seed + seeds[peer]):
                if peer.startswith("optuna"):
                    values, ms = run_optuna(peer, name, seed)
                elif peer == "skopt":
                    values, ms = run_skopt(name, seed)
                else:
                    values, ms = run_hebo(name, seed, batch=8 if peer == "hebo-8batch" else 1)
                emit(args.out, {"sampler": peer, "function": name, "seed": seed, "budget": budget,
                                "regret": checkpoints(values, budget, minimum), "ms_per_suggestion": ms})
        if args.timing:
            sizes = {"optuna-gp": [25, 200, 400, 1000], "optuna-tpe": [400], "skopt": [200]}.get(peer, [])
            for n in sizes:
                ms = time_optuna(peer, n) if peer.startswith("optuna") else time_skopt(n)
                emit(args.out, {"sampler": peer, "timing_observations": n, "ms_per_suggestion": ms})


def fmt(v):
    if v is None:
        return "–"
    if v == 0:
        return "0"
    return f"{v:.2g}" if abs(v) >= 0.01 else f"{v:.1e}"


def table(files):
    runs, timing = {}, {}
    for path in files:
        with open(path) as fh:
            for line in fh:
                r = json.loads(line)
                if "timing_observations" in r:
                    timing.setdefault(r["sampler"], {})[r["timing_observations"]] = r["ms_per_suggestion"]
                else:
                    runs.setdefault((r["sampler"], r["function"]), []).append(r)
    samplers = sorted({s for s, _ in runs}, key=lambda s: (not s.startswith("ours"), s))
    print("Median regret (best so far − known minimum) at 25 % / 50 % / 100 % of the budget; seeds; ms per suggestion\n")
    print("| function | sampler | seeds | 25 % | 50 % | 100 % | ms/suggestion |")
    print("|---|---|---|---|---|---|---|")
    for name in FUNCTIONS:
        for s in samplers:
            rs = runs.get((s, name))
            if not rs:
                continue
            med = [statistics.median(r["regret"][k] for r in rs) for k in range(3)]
            ms = statistics.median(r["ms_per_suggestion"] for r in rs)
            print(f"| {name} | {s} | {len(rs)} | {fmt(med[0])} | {fmt(med[1])} | **{fmt(med[2])}** | {ms:.1f} |")
    print("\nMedian final regret, side by side\n")
    print("| function | " + " | ".join(samplers) + " |")
    print("|---|" + "---|" * len(samplers))
    for name in FUNCTIONS:
        cells = []
        for s in samplers:
            rs = runs.get((s, name))
            cells.append(fmt(statistics.median(r["regret"][2] for r in rs)) if rs else "–")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if timing:
        sizes = sorted({n for t in timing.values() for n in t})
        print("\nTime per suggestion (ms) by number of observations (hartmann6 history)\n")
        print("| sampler | " + " | ".join(str(n) for n in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        for s in sorted(timing, key=lambda s: (not s.startswith("ours"), s)):
            print(f"| {s} | " + " | ".join(f"{timing[s][n]:.2f}" if n in timing[s] else "–" for n in sizes) + " |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", default="optuna-gp,optuna-tpe,skopt,hebo",
                   help="comma-separated; also optuna-tpe-8pending (8 trials in flight, constant liar) "
                   "and hebo-8batch (HEBO's batches of 8)")
    p.add_argument("--functions", default=",".join(f for f in FUNCTIONS if f not in VALIDATION),
                   help="comma-separated (also " + ", ".join(VALIDATION) + "); empty: timing only")
    p.add_argument("--seeds", type=int, default=10, help="seeds for the Optuna samplers")
    p.add_argument("--skopt-seeds", type=int, default=5)
    p.add_argument("--hebo-seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0,
                   help="the first seed of every peer (to add seeds to an earlier run's file)")
    p.add_argument("--timing", action="store_true", help="also time one suggestion at fixed history sizes")
    p.add_argument("--out", default="peers.jsonl")
    p.add_argument("--table", nargs="+", metavar="FILE", help="print the Markdown tables from result files")
    args = p.parse_args()
    if args.table:
        table(args.table)
    else:
        run(args)


if __name__ == "__main__":
    sys.exit(main())
