#!/usr/bin/env python3
"""Optuna's samplers on the two-objective benchmark of search/benches/two_objectives.rs.

BraninCurrin (2-D, 60 trials, reference point (18, 6), maximum hypervolume 59.36) and DTLZ2
(6-D, 2 objectives, 100 trials, reference (1.1, 1.1), maximum 1.21 - pi/4), both objectives
minimized; prints the median hypervolume regret after the budget over the seeds, as a
Markdown table in the format of ours.

  python bench/peers/two_objectives.py --seeds 5 --samplers tpe,nsga2,random[,gp]
"""

import argparse
import math
import statistics

import optuna


def branin(x1, x2):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def branin_currin(x):
    x1, x2 = x
    f1 = branin(15 * x1 - 5, 15 * x2)
    factor = 1 - math.exp(-1 / (2 * x2)) if x2 > 0 else 1.0
    f2 = factor * (2300 * x1 ** 3 + 1900 * x1 ** 2 + 2092 * x1 + 60) / (
        100 * x1 ** 3 + 500 * x1 ** 2 + 4 * x1 + 20)
    return f1, f2


def dtlz2(x):
    g = sum((v - 0.5) ** 2 for v in x[1:])
    a = x[0] * math.pi / 2
    return (1 + g) * math.cos(a), (1 + g) * math.sin(a)


PROBLEMS = {
    "branin_currin": (branin_currin, 2, 60, (18.0, 6.0), 59.36011874867746),
    "dtlz2": (dtlz2, 6, 100, (1.1, 1.1), 1.21 - math.pi / 4),
}


def hypervolume(points, ref):
    inside = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    area, ceiling = 0.0, ref[1]
    for x, y in inside:
        if y < ceiling:
            area += (ref[0] - x) * (ceiling - y)
            ceiling = y
    return area


def make_sampler(name, seed):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise SystemExit(f"unknown sampler {name}")


def regret(problem, sampler, seed):
    f, dims, budget, ref, best = PROBLEMS[problem]
    study = optuna.create_study(directions=["minimize", "minimize"],
                                sampler=make_sampler(sampler, seed))
    study.optimize(lambda t: f([t.suggest_float(f"x{i + 1}", 0, 1) for i in range(dims)]),
                   n_trials=budget)
    return best - hypervolume([tuple(t.values) for t in study.trials], ref)


def main():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--samplers", default="tpe,nsga2,random")
    parser.add_argument("--functions", default="branin_currin,dtlz2")
    args = parser.parse_args()
    print(f"| problem | Optuna sampler | median HV regret ({args.seeds} seeds) | min | max |")
    print("|---|---|---|---|---|")
    for problem in args.functions.split(","):
        for sampler in args.samplers.split(","):
            r = [regret(problem, sampler, s) for s in range(args.seeds)]
            print(f"| {problem} | {sampler} | {statistics.median(r):.3f} | {min(r):.3f} | "
                  f"{max(r):.3f} |", flush=True)


if __name__ == "__main__":
    main()
