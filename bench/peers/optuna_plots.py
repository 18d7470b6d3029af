"""Optuna's matplotlib plots on the trials of a hypersearch study (bench/plots.sh).

Loads the complete trials of the study in DB (a hypersearch SQLite file) into an in-memory
Optuna study (not timed), then times plot_optimization_history, plot_param_importances and
plot_parallel_coordinate, each saved as a PNG in OUT. Prints one JSON line.

    python bench/peers/optuna_plots.py DB OUT
"""

import json
import sqlite3
import sys
import time

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.distributions import FloatDistribution  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def main(db, out):
    rows = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
        "SELECT params, value FROM trials WHERE state = 'complete' ORDER BY number"
    )
    trials = []
    for params, value in rows:
        params = json.loads(params)
        distributions = {name: FloatDistribution(0.0, 1.0) for name in params}
        trials.append(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    study = optuna.create_study(direction="minimize")
    study.add_trials(trials)
    seconds = {}
    plots = {
        "history": optuna.visualization.matplotlib.plot_optimization_history,
        "importance": optuna.visualization.matplotlib.plot_param_importances,
        "parallel": optuna.visualization.matplotlib.plot_parallel_coordinate,
    }
    total = time.perf_counter()
    for name, plot in plots.items():
        start = time.perf_counter()
        axes = plot(study)
        axes.figure.savefig(f"{out}/optuna-{name}.png")
        plt.close("all")
        seconds[name] = time.perf_counter() - start
    seconds["total"] = time.perf_counter() - total
    print(json.dumps({"trials": len(trials), "optuna": optuna.__version__, "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
