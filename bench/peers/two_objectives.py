#!/usr/bin/env python3
"""Optuna's samplers on the multi-objective benchmark of search/benches/two_objectives.rs.

BraninCurrin (2-D, 60 trials, reference point (18, 6), maximum hypervolume 59.36), DTLZ2
(6-D, 2 objectives, 100 trials, reference (1.1, 1.1), maximum 1.21 - pi/4) and, when named
in --functions, dtlz2_3: DTLZ2 with 3 objectives (6-D, 150 trials, reference (1.1, 1.1, 1.1),
maximum 1.1^3 - pi/6), every objective minimized; prints the median hypervolume regret after
the budget over the seeds, as a Markdown table in the format of ours. --seed-list runs given
seeds instead of 0 .. --seeds - 1; --per-seed also prints each seed's regret to stderr as it
finishes.

  python bench/peers/two_objectives.py --seeds 5 --samplers tpe,nsga2,random[,gp]
      [--functions branin_currin,dtlz2,dtlz2_3] [--seed-list 3,4] [--per-seed]
"""

import argparse
import math
import statistics
import sys
import time

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


def dtlz2_3(x):
    g = sum((v - 0.5) ** 2 for v in x[2:])
    a1, a2 = x[0] * math.pi / 2, x[1] * math.pi / 2
    return ((1 + g) * math.cos(a1) * math.cos(a2), (1 + g) * math.cos(a1) * math.sin(a2),
            (1 + g) * math.sin(a1))


PROBLEMS = {
    "branin_currin": (branin_currin, 2, 60, (18.0, 6.0), 59.36011874867746),
    "dtlz2": (dtlz2, 6, 100, (1.1, 1.1), 1.21 - math.pi / 4),
    "dtlz2_3": (dtlz2_3, 6, 150, (1.1, 1.1, 1.1), 1.331 - math.pi / 6),
}


def hypervolume_2d(points, ref):
    inside = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    area, ceiling = 0.0, ref[1]
    for x, y in inside:
        if y < ceiling:
            area += (ref[0] - x) * (ceiling - y)
            ceiling = y
    return area


def hypervolume(points, ref):
    """Exact, any number of objectives: slabs between consecutive values of the last
    objective, each the hypervolume of the points at or below it in the others times its
    thickness, down to the two-dimensional sweep (as search/src/multi/hypervolume.rs)."""
    m = len(ref)
    if m == 2:
        return hypervolume_2d(points, ref)
    inside = sorted((p for p in points if all(v < r for v, r in zip(p, ref))),
                    key=lambda p: p[-1])
    volume = 0.0
    for i, p in enumerate(inside):
        top = inside[i + 1][-1] if i + 1 < len(inside) else ref[-1]
        if top > p[-1]:
            volume += hypervolume([q[:-1] for q in inside[:i + 1]], ref[:-1]) * (top - p[-1])
    return volume


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
    study = optuna.create_study(directions=["minimize"] * len(ref),
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
    parser.add_argument("--seed-list", help="comma-separated seeds, instead of --seeds")
    parser.add_argument("--per-seed", action="store_true",
                        help="print each seed's regret and time to stderr")
    args = parser.parse_args()
    for problem in args.functions.split(","):
        if problem not in PROBLEMS:
            raise SystemExit(f"unknown function {problem}; known: {', '.join(PROBLEMS)}")
    seeds = ([int(s) for s in args.seed_list.split(",")] if args.seed_list
             else list(range(args.seeds)))
    print(f"| problem | Optuna sampler | median HV regret ({len(seeds)} seeds) | min | max |")
    print("|---|---|---|---|---|")
    for problem in args.functions.split(","):
        for sampler in args.samplers.split(","):
            r = []
            for s in seeds:
                start = time.perf_counter()
                r.append(regret(problem, sampler, s))
                if args.per_seed:
                    print(f"# {problem} {sampler} seed {s}: regret {r[-1]!r} "
                          f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
            print(f"| {problem} | {sampler} | {statistics.median(r):.3f} | {min(r):.3f} | "
                  f"{max(r):.3f} |", flush=True)


if __name__ == "__main__":
    main()
