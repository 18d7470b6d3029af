#!/usr/bin/env python3
"""Optuna's samplers on the constrained benchmark of search/benches/constrained.rs.

gardner (min cos(2x)cos(y) + sin(x) on [0, 6]^2 s.t. cos(x)cos(y) - sin(x)sin(y) <= 0.5),
gramacy (min x1 + x2 on [0, 1]^2 s.t. 1.5 - x1 - 2x2 - 0.5 sin(2 pi (x1^2 - 2x2)) <= 0 and
x1^2 + x2^2 - 1.5 <= 0) and branin_disk (Branin-Hoo on [-5, 10] x [0, 15] s.t.
(x1 - 2.5)^2 + (x2 - 7.5)^2 <= 25), 40 trials each, constraints given to the sampler as
margins (<= 0 when satisfied) through `Trial.set_constraint` (Optuna >= 5; older versions:
`constraints_func`). Prints the median final feasible regret
over the seeds (infinite when no trial is feasible) as a Markdown table in the format of ours;
the optima are those our bench computes (printed in its table).

  python bench/peers/constrained.py --seeds 10 --samplers gp,tpe
"""

import argparse
import math
import statistics

import optuna


def gardner(x, y):
    return math.cos(2 * x) * math.cos(y) + math.sin(x), [
        math.cos(x) * math.cos(y) - math.sin(x) * math.sin(y) - 0.5]


def gramacy(a, b):
    c1 = 1.5 - a - 2 * b - 0.5 * math.sin(2 * math.pi * (a * a - 2 * b))
    return a + b, [c1, a * a + b * b - 1.5]


def branin_disk(a, b):
    t = b - 5.1 / (4 * math.pi ** 2) * a * a + 5 / math.pi * a - 6
    f = t * t + 10 * (1 - 1 / (8 * math.pi)) * math.cos(a) + 10
    return f, [(a - 2.5) ** 2 + (b - 7.5) ** 2 - 25]


# name: (function, bounds, budget)
PROBLEMS = {
    "gardner": (gardner, [(0, 6), (0, 6)], 40),
    "gramacy": (gramacy, [(0, 1), (0, 1)], 40),
    "branin_disk": (branin_disk, [(-5, 10), (0, 15)], 40),
}


NEW_CONSTRAINTS = hasattr(optuna.trial.Trial, "set_constraint")


def constraints(trial):
    return trial.user_attrs["margins"]


def make_sampler(name, seed):
    extra = {} if NEW_CONSTRAINTS else {"constraints_func": constraints}
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, **extra)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **extra)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SystemExit(f"unknown sampler {name}")


def best_feasible(problem, sampler, seed):
    f, bounds, budget = PROBLEMS[problem]

    def objective(trial):
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
        value, margins = f(*x)
        trial.set_user_attr("margins", margins)
        if NEW_CONSTRAINTS:
            for i, m in enumerate(margins):
                trial.set_constraint(f"c{i + 1}", m)
        return value

    study = optuna.create_study(sampler=make_sampler(sampler, seed))
    study.optimize(objective, n_trials=budget)
    feasible = [t.value for t in study.trials if all(m <= 0 for m in t.user_attrs["margins"])]
    return min(feasible) if feasible else math.inf


def main():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--samplers", default="gp,tpe")
    parser.add_argument("--functions", default="gardner,gramacy,branin_disk")
    parser.add_argument("--optima", default="-2.0,0.5997882,0.4583775",
                        help="constrained optima, as our bench prints them")
    args = parser.parse_args()
    optima = dict(zip(PROBLEMS, map(float, args.optima.split(","))))
    print(f"| problem | Optuna sampler | median feasible regret ({args.seeds} seeds) | "
          "none feasible |")
    print("|---|---|---|---|")
    for problem in args.functions.split(","):
        for sampler in args.samplers.split(","):
            r = [max(best_feasible(problem, sampler, s) - optima[problem], 1e-12)
                 for s in range(args.seeds)]
            none = sum(math.isinf(v) for v in r)
            print(f"| {problem} | {sampler} | {statistics.median(r):.2e} | {none} |", flush=True)


if __name__ == "__main__":
    main()
