#!/usr/bin/env python3
"""NAS on real training (issue 13), the peer side and the results of both sides.

Three commands, each writing or reading the JSON lines of bench/nas.sh:

  run    Optuna's TPESampler (its defaults, as bench/peers/samplers.py uses it: multivariate,
         constant liar, 24 candidates) drives `hypersearch train` on the study file bench/nas.sh
         generated: the same conditional space (read from the file's [search.space] and
         [search.architecture] tables and written define-by-run: `arch.layers`, then
         `arch.units_K` and `arch.dropout_K` for K up to it, ...), the same number of trials,
         `parallel` of them at once (n_jobs threads), each a `hypersearch train STUDY
         --params JSON` process: the training part of the very file our run trains, so the
         same epochs, patience, schedule, training seed and split. Its epoch table is read as
         it is printed and each epoch's metric reported to Optuna's MedianPruner, set to our
         median rule's options (Optuna skips steps below n_warmup_steps, we skip epochs up to
         warmup_epochs: n_warmup_steps = warmup_epochs + 1), and a trial it prunes has its
         process killed. A trial's value is its last epoch's metric, as our workers report it
         (not the best epoch's). The table prints 4 decimals; the validation set has 359
         images, 1/359 apart, so the rounding changes no comparison.
         With `[early_stopping] rule = "none"` it runs without a pruner.
  ours   Reads the SQLite file one `hypersearch run` of the study wrote and prints its line.
  table  Prints the Markdown table of BENCHMARKS.md from result files.

One line per study:
  {"sampler": "optuna-tpe", "seed": 1, "rule": "median", "trials": 60, "parallel": 4,
   "best": 0.9889, "best_trial": 41, "completed": 40, "pruned": 20, "failed": 0,
   "wall_s": 31.2, "epochs": 1020, "busy": 0.93, "cpu_s": 40.1, "driver_cpu_s": 6.2, "target": 0.98, "to_target_s": 7.9, "to_target_trial": 9,
   "load_start": 7.8, "load_end": 8.1}
wall_s and to_target_s count from the study's start (ours: the study row's created_at;
Optuna: just before optimize) to its end and to the end of the first complete trial whose
value reached the target (ours: the trials' stored finished_at). epochs: epochs trained in all
(of the study's metric reported); busy: the seconds trials ran (ours: attempts' start to end;
Optuna: each `train` process's) over parallel x wall_s, how full the slots were; cpu_s: CPU
seconds (user + system) of the whole study (ours: the `run` process; Optuna's: the Python
process, driver_cpu_s, and its `train` processes), the figure a busy machine skews least.
"""

import argparse
import datetime as dt
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib

# Columns of `hypersearch train`'s epoch table, by the metric names a study uses.
TABLE_COLUMNS = {"train_loss": "train_loss", "val_loss": "val_loss",
                 "train_accuracy": "train_acc", "val_accuracy": "val_acc"}


def emit(out, record):
    line = json.dumps(record)
    print(line, flush=True)
    with open(out, "a") as fh:
        fh.write(line + "\n")


def load_now():
    return os.getloadavg()[0]


def cpu_seconds(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- Optuna's side


def suggest(trial, name, domain):
    """One parameter of a [search.space] / [search.architecture] domain, define-by-run."""
    unsupported = set(domain) - {"float", "int", "choice", "log"}
    if unsupported:
        raise SystemExit(f"{name}: {sorted(unsupported)} not translated to Optuna")
    log = domain.get("log", False)
    if "float" in domain:
        low, high = domain["float"]
        return trial.suggest_float(name, low, high, log=log)
    if "int" in domain:
        low, high = domain["int"]
        return trial.suggest_int(name, low, high, log=log)
    return trial.suggest_categorical(name, domain["choice"])


def sample(trial, search):
    """The trial's params under our names (`arch.units_2`, `training.l2`, ...)."""
    params = {}
    arch = search.get("architecture", {})
    unknown = set(arch) - {"layers", "units", "dropout", "activation", "batch_norm", "residual"}
    if unknown:
        raise SystemExit(f"[search.architecture]: {sorted(unknown)} not translated to Optuna")
    if "layers" in arch:
        layers = params["arch.layers"] = suggest(trial, "arch.layers", arch["layers"])
        for k in range(1, layers + 1):
            for key in ("units", "dropout"):
                if key in arch:
                    params[f"arch.{key}_{k}"] = suggest(trial, f"arch.{key}_{k}", arch[key])
    for key in ("activation", "batch_norm", "residual"):
        if key in arch:
            params[f"arch.{key}"] = suggest(trial, f"arch.{key}", arch[key])
    for name, domain in search.get("space", {}).items():
        params[name] = suggest(trial, name, domain)
    return params


class Spent:
    """Epochs trained and seconds spent in training processes, over all trials."""

    def __init__(self):
        self.lock, self.epochs, self.seconds = threading.Lock(), 0, 0.0

    def add(self, epochs, seconds):
        with self.lock:
            self.epochs += epochs
            self.seconds += seconds


def train(args, trial, params, column):
    """Runs one training, reporting each epoch; returns the last epoch's value."""
    import optuna

    t0 = time.perf_counter()
    command = [args.bin, "train", args.study, "--params", json.dumps(params)]
    with tempfile.TemporaryFile(mode="w+") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        header, last, epoch = None, None, 0
        try:
            for line in proc.stdout:
                cells = line.split()
                if header is None:
                    header = cells
                    if header[:1] != ["epoch"] or column not in header:
                        raise RuntimeError(f"unexpected table header {line!r}")
                    continue
                if len(cells) != len(header) or not cells[0].isdigit():
                    continue  # the cost line after the last epoch
                epoch, last = int(cells[0]), float(cells[header.index(column)])
                if args.pruning:
                    trial.report(last, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"epoch {epoch}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
            args.spent.add(epoch, time.perf_counter() - t0)
        if code != 0 or last is None:
            stderr.seek(0)
            raise RuntimeError(f"{' '.join(command)}: exit {code} after {epoch} epochs\n{stderr.read()}")
    return last


def run(args):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with open(args.study, "rb") as fh:
        study_file = tomllib.load(fh)
    search, rule = study_file["search"], study_file.get("early_stopping", {"rule": "none"})
    metric = study_file["study"]["metric"]
    column = TABLE_COLUMNS[metric]
    args.pruning = rule["rule"] != "none"
    args.spent = Spent()
    if args.pruning:
        if rule["rule"] != "median":
            raise SystemExit(f"early stopping rule {rule['rule']!r}: only median is translated")
        pruner = optuna.pruners.MedianPruner(
            n_startup_trials=rule.get("startup_trials", 5),
            n_warmup_steps=rule.get("warmup_epochs", 0) + 1,
            interval_steps=rule.get("interval_epochs", 1),
            n_min_trials=rule.get("min_trials", 1))
    else:
        pruner = optuna.pruners.NopPruner()
    study = optuna.create_study(direction=study_file["study"].get("direction", "maximize"),
                                sampler=optuna.samplers.TPESampler(seed=args.seed), pruner=pruner)
    load_start = load_now()
    own0, children0 = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    start = dt.datetime.now()
    t0 = time.perf_counter()
    study.optimize(lambda t: train(args, t, sample(t, search), column),
                   n_trials=search["trials"], n_jobs=search.get("parallel", 1))
    wall = time.perf_counter() - t0
    own, children = cpu_seconds(resource.RUSAGE_SELF) - own0, cpu_seconds(resource.RUSAGE_CHILDREN) - children0
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    S = optuna.trial.TrialState
    done = [t for t in trials if t.state == S.COMPLETE]
    reached = [t for t in done if t.value >= args.target]
    first = min(reached, key=lambda t: t.datetime_complete) if reached else None
    best = max(done, key=lambda t: t.value) if done else None
    emit(args.out, {
        "sampler": "optuna-tpe", "seed": args.seed, "rule": rule["rule"], "trials": len(trials),
        "parallel": search.get("parallel", 1),
        "best": best.value if best else None, "best_trial": best.number if best else None,
        "completed": len(done), "pruned": states.count(S.PRUNED), "failed": states.count(S.FAIL),
        "wall_s": wall, "epochs": args.spent.epochs,
        "busy": args.spent.seconds / (wall * search.get("parallel", 1)),
        "cpu_s": own + children, "driver_cpu_s": own, "target": args.target,
        "to_target_s": (first.datetime_complete - start).total_seconds() if first else None,
        "to_target_trial": first.number if first else None,
        "load_start": load_start, "load_end": load_now(),
    })


# ---------------------------------------------------------------- our side


def timestamp(text):
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def ours(args):
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    rows = db.execute("SELECT id, algorithm, budget, config, state, created_at, finished_at FROM studies").fetchall()
    if len(rows) != 1:
        raise SystemExit(f"{args.db}: {len(rows)} studies, expected one")
    study_id, algorithm, budget, config, state, created, finished = rows[0]
    if state != "finished" or not finished:
        raise SystemExit(f"{args.db}: the study is {state}, not finished")
    study_file = tomllib.loads(config)
    trials = db.execute("SELECT number, state, value, finished_at FROM trials WHERE study_id = ?",
                        (study_id,)).fetchall()
    if len(trials) != budget:
        raise SystemExit(f"{args.db}: {len(trials)} trials, the budget is {budget}")
    start = timestamp(created)
    wall = timestamp(finished) - start
    parallel = study_file["search"].get("parallel", 1)
    epochs = db.execute("SELECT COUNT(*) FROM epoch_metrics m JOIN trials t ON t.id = m.trial_id "
                        "WHERE t.study_id = ? AND m.name = ?", (study_id, study_file["study"]["metric"])).fetchone()[0]
    attempts = db.execute("SELECT a.started_at, a.finished_at FROM attempts a JOIN trials t ON t.id = a.trial_id "
                          "WHERE t.study_id = ?", (study_id,)).fetchall()
    busy = sum(timestamp(b) - timestamp(a) for a, b in attempts) / (wall * parallel)
    states = [s for _, s, _, _ in trials]
    done = [(n, v, timestamp(f)) for n, s, v, f in trials if s == "complete"]
    reached = [d for d in done if d[1] >= args.target]
    first = min(reached, key=lambda d: d[2]) if reached else None
    best = max(done, key=lambda d: (d[1], -d[0])) if done else None
    emit(args.out, {
        "sampler": algorithm, "seed": study_file["search"].get("seed", 0),
        "rule": study_file.get("early_stopping", {}).get("rule", "none"), "trials": len(trials),
        "parallel": parallel,
        "best": best[1] if best else None, "best_trial": best[0] if best else None,
        "completed": len(done), "pruned": states.count("pruned"), "failed": states.count("failed"),
        "wall_s": wall, "process_s": args.process_s, "epochs": epochs, "busy": busy,
        "cpu_s": args.cpu_s, "target": args.target,
        "to_target_s": first[2] - start if first else None,
        "to_target_trial": first[0] if first else None,
        "load_start": args.load_start, "load_end": load_now(),
    })


# ---------------------------------------------------------------- the table

ORDER = ["evolution", "tpe", "bayes", "random", "optuna-tpe"]


def median_with_misses(values):
    """The median where None (target never reached) counts as worse than any time."""
    ordered = sorted(values, key=lambda v: (v is None, v or 0))
    n = len(ordered)
    middle = ordered[(n - 1) // 2: n // 2 + 1]
    return None if None in middle else statistics.mean(middle)


def table(args):
    runs = {}
    for path in args.files:
        with open(path) as fh:
            for line in fh:
                r = json.loads(line)
                runs[(r["sampler"], r["rule"], r["seed"])] = r  # a rerun replaces the earlier line
    groups = {}
    for (sampler, rule, _), r in sorted(runs.items(), key=lambda kv: kv[0][2]):
        groups.setdefault((sampler, rule), []).append(r)
    keys = sorted(groups, key=lambda k: (k[1] != "median", ORDER.index(k[0]) if k[0] in ORDER else 99, k[0]))
    target = next(iter(runs.values()))["target"] if runs else 0.98
    print(f"| sampler | pruning | best val accuracy (seeds {'/'.join(str(r['seed']) for r in groups[keys[0]])}) "
          f"| median | completed / pruned (median) | study wall s (median) | reached {target} "
          f"| time to {target}, s (median) | its trial (median) | epochs trained (median) | CPU s (median) "
          f"| CPU ms per epoch | slots busy | load average (median) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in keys:
        rs = groups[key]
        bests = " / ".join("–" if r["best"] is None else f"{r['best']:.4f}" for r in rs)
        med = statistics.median(r["best"] or 0 for r in rs)
        completed = statistics.median(r["completed"] for r in rs)
        pruned = statistics.median(r["pruned"] for r in rs)
        failed = sum(r["failed"] for r in rs)
        wall = statistics.median(r["wall_s"] for r in rs)
        reached = sum(r["to_target_s"] is not None for r in rs)
        to_s = median_with_misses([r["to_target_s"] for r in rs])
        to_trial = median_with_misses([r["to_target_trial"] for r in rs])
        epochs = statistics.median(r["epochs"] for r in rs)
        busy = statistics.median(r["busy"] for r in rs)
        timed = [r for r in rs if "cpu_s" in r]  # lines written before cpu_s was recorded have none
        cpu = statistics.median(r["cpu_s"] for r in timed) if timed else None
        per_epoch = statistics.median(1e3 * r["cpu_s"] / r["epochs"] for r in timed) if timed else None
        load = statistics.median((r["load_start"] + r["load_end"]) / 2 for r in rs)
        pruning = {"median": "median rule", "none": "none"}.get(key[1], key[1])
        print(f"| {key[0]} | {pruning} | {bests} | **{med:.4f}** | {completed:g} / {pruned:g}"
              f"{f' ({failed} failed)' if failed else ''} | {wall:.1f} | {reached}/{len(rs)} "
              f"| {'–' if to_s is None else f'{to_s:.1f}'} | {'–' if to_trial is None else f'{to_trial:g}'} "
              f"| {epochs:g} | {'–' if cpu is None else f'{cpu:.1f}'} | {'–' if per_epoch is None else f'{per_epoch:.0f}'} "
              f"| {100 * busy:.0f} % | {load:.1f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="Optuna TPE driving `hypersearch train` on the study file")
    r.add_argument("--study", required=True, help="the study file bench/nas.sh generated")
    r.add_argument("--bin", required=True, help="the hypersearch binary")
    r.add_argument("--seed", type=int, required=True, help="TPESampler's seed")
    r.add_argument("--target", type=float, default=0.98)
    r.add_argument("--out", required=True)
    o = sub.add_parser("ours", help="the line of one `hypersearch run` from its database")
    o.add_argument("--db", required=True)
    o.add_argument("--target", type=float, default=0.98)
    o.add_argument("--process-s", type=float, required=True, help="the run process's wall time")
    o.add_argument("--cpu-s", type=float, required=True, help="the run process's CPU time (user + system)")
    o.add_argument("--load-start", type=float, required=True)
    o.add_argument("--out", required=True)
    t = sub.add_parser("table", help="the Markdown table from result files")
    t.add_argument("files", nargs="+")
    args = p.parse_args()
    {"run": run, "ours": ours, "table": table}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
