"""Peer side of issue 5's distributed-throughput benchmark: Optuna's documented distributed
patterns, end to end, on a zero-cost objective (branin, 2 floats, minimize, RandomSampler
seeded per process so sampling costs next to nothing).

The study is created once (as the tutorial's `optuna create-study`); then N separate forked
Python processes, each with its own storage object, call `optuna.load_study(...)` and
`study.optimize(objective, n_trials=k)` with k = ceil(trials / N):
  sqlite          one SQLite file through RDBStorage           N = 1, 8, 64
  journal         JournalStorage(JournalFileBackend(file))     N = 1, 8, 64
  grpc            run_grpc_proxy_server over get_storage(SQLite) in its own process,
                  clients GrpcStorageProxy                     N = 1, 8
  postgres        RDBStorage on the PostgreSQL server of --postgres (a fresh database per
                  configuration; needs psycopg2-binary)        N = 1, 8
  sqlite-reports  each trial reports 20 intermediate values and calls should_prune()
  journal-reports after each (MedianPruner, defaults)          N = 8
  postgres-reports
                  (the curve is the same in every trial, so none is pruned: 20 reports
                  and 20 full median checks per trial)

Timing starts when every process has loaded the study (a barrier: interpreter start-up and
study creation are not counted) and ends when the last process returns; each configuration
stops at --timeout seconds. A process that hits an exception (e.g. "database is locked")
counts it as an error and goes on with the trials it still owes. The final study is read
back: trials/s counts recorded trials (complete or pruned); failed and still-running trials
are listed too. CPU ms/trial (all processes' CPU time, the gRPC proxy's included, over
recorded trials) is the figure least skewed by a loaded machine. The storage files live in a fresh directory under --dir, removed afterwards:
its fsync cost dominates (SQLite commits 8 times per trial, 2 fdatasyncs each), so compare
with the coordinator's database on the same filesystem. Needs optuna (5.0 measured) and, for
grpc, `pip install grpcio protobuf`.

Usage:
  python3 bench/peers/optuna_throughput.py                      # full run, table
  python3 bench/peers/optuna_throughput.py --quick --json       # short run, one JSON object
  python3 bench/peers/optuna_throughput.py --modes journal --processes 8 --trials 4000
  python3 bench/peers/optuna_throughput.py --dir /dev/shm          # storage on tmpfs: no fsync
  bench/peers/optuna_throughput.sh [OUT_DIR]                       # both, as JSON files
"""

import argparse
import json
import math
import multiprocessing as mp
import os
import shutil
import socket
import sys
import tempfile
import time
import traceback
import warnings

import optuna
from optuna.trial import TrialState

STUDY = "throughput"
EPOCHS = 20
DEFAULT_PROCESSES = {"sqlite": [1, 8, 64], "journal": [1, 8, 64], "grpc": [1, 8],
                     "sqlite-reports": [8], "journal-reports": [8],
                     "postgres": [1, 8], "postgres-reports": [8]}
# The PostgreSQL server of the postgres modes (--postgres), a URL without a database name.
POSTGRES = None


def quiet():
    # Failed trials are logged at WARNING with a traceback each; they are counted instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)


def branin(x1, x2):
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def storage_for(mode, where):
    """The storage object one process uses; `where` is a file path or a host:port."""
    if mode.startswith("sqlite"):
        return f"sqlite:///{where}"
    if mode.startswith("postgres"):
        return where
    if mode.startswith("journal"):
        from optuna.storages.journal import JournalFileBackend
        return optuna.storages.JournalStorage(JournalFileBackend(where))
    host, port = where.rsplit(":", 1)
    return optuna.storages.GrpcStorageProxy(host=host, port=int(port))


def worker(mode, where, index, seed, n_trials, timeout, barrier, results):
    """One Optuna process: load the study, wait for the others, optimize, send its counts."""
    quiet()
    counts = {"trials": 0, "reports": 0, "errors": 0, "kinds": {}, "start": None, "end": None, "cpu": 0.0}
    reports = mode.endswith("reports")

    def objective(trial):
        x1 = trial.suggest_float("x1", -5.0, 10.0)
        x2 = trial.suggest_float("x2", 0.0, 15.0)
        value = branin(x1, x2)
        if reports:
            # The same curve in every trial: the median rule reads every completed trial at
            # each check but never stops one, so each trial makes exactly 20 reports.
            for step in range(EPOCHS):
                trial.report(1.0 / (step + 1), step)
                counts["reports"] += 1
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return value

    def finished(study, trial):
        counts["trials"] += 1

    def note(exc):
        counts["errors"] += 1
        kind = f"{type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
        counts["kinds"][kind] = counts["kinds"].get(kind, 0) + 1

    study = None
    try:
        study = optuna.load_study(
            study_name=STUDY, storage=storage_for(mode, where),
            sampler=optuna.samplers.RandomSampler(seed=seed * 1000 + index),
            pruner=optuna.pruners.MedianPruner() if reports else None)
    except Exception as exc:  # counted; this process then runs no trials
        note(exc)
    try:
        barrier.wait(timeout=600)
    except Exception as exc:
        note(exc)
    counts["start"], cpu = time.monotonic(), time.process_time()
    deadline = counts["start"] + timeout
    while study is not None and counts["trials"] < n_trials and time.monotonic() < deadline:
        try:
            study.optimize(objective, n_trials=n_trials - counts["trials"],
                           timeout=deadline - time.monotonic(), callbacks=[finished])
        except Exception as exc:  # e.g. sqlalchemy OperationalError "database is locked"
            note(exc)
    counts["end"], counts["cpu"] = time.monotonic(), time.process_time() - cpu
    results.put(counts)


def create(mode, where):
    """Creates the study once before the workers start, as Optuna's tutorial does with
    `optuna create-study`: 8 processes calling create_study(load_if_exists=True) on a new
    SQLite file race on the schema ("table ... already exists") and most of them fail."""
    quiet()
    optuna.create_study(study_name=STUDY, storage=storage_for(mode, where), direction="minimize")


def serve_grpc(db_path, port):
    """The gRPC storage proxy process, over the SQLite file through get_storage (cached)."""
    quiet()
    storage = optuna.storages.get_storage(f"sqlite:///{db_path}")
    optuna.storages.run_grpc_proxy_server(storage, host="localhost", port=port)


def cpu_seconds(pid):
    """User + system CPU seconds a live process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def wait_for_port(port, proxy, seconds=60):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not proxy.is_alive():
            raise RuntimeError(f"gRPC proxy exited with code {proxy.exitcode}")
        with socket.socket() as s:
            if s.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gRPC proxy did not listen on port {port} within {seconds} s")


def fresh_postgres_database():
    """A new empty database on the --postgres server; its SQLAlchemy URL."""
    import psycopg2
    name = f"optuna_{os.getpid()}_{time.monotonic_ns()}"
    conn = psycopg2.connect(POSTGRES.replace("postgresql+psycopg2://", "postgresql://") + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    base = POSTGRES.replace("postgres://", "postgresql+psycopg2://", 1)
    return f"{base}/{name}"


def final_states(mode, where):
    """How many trials of the final study, read afresh, are in each state."""
    study = optuna.load_study(study_name=STUDY, storage=storage_for(mode, where))
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {state: states.count(state) for state in TrialState}


def run(mode, processes, total_trials, timeout, seed, directory):
    """One configuration, its storage in a fresh temporary directory under `directory`."""
    ctx = mp.get_context("fork")
    load = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="optuna-throughput-", dir=directory)
    proxy = None
    try:
        path = os.path.join(tmp, "journal.log" if mode.startswith("journal") else "study.db")
        where = path
        if mode.startswith("postgres"):
            path = where = fresh_postgres_database()
        if mode == "grpc":
            port = free_port()
            proxy = ctx.Process(target=serve_grpc, args=(path, port), daemon=True)
            proxy.start()
            wait_for_port(port, proxy)
            where = f"localhost:{port}"
        setup = ctx.Process(target=create, args=(mode, where))
        setup.start()
        setup.join()
        if setup.exitcode != 0:
            raise RuntimeError(f"creating the study in {where} failed (exit code {setup.exitcode})")
        per_process = math.ceil(total_trials / processes)
        proxy_cpu = cpu_seconds(proxy.pid) if proxy else 0.0
        barrier, results = ctx.Barrier(processes), ctx.Queue()
        procs = [ctx.Process(target=worker, args=(mode, where, i, seed, per_process, timeout, barrier, results))
                 for i in range(processes)]
        for p in procs:
            p.start()
        # Bounded wait: a process killed outright would otherwise hang the run.
        counts = [results.get(timeout=timeout + 660) for _ in procs]
        for p in procs:
            p.join()
        proxy_cpu = cpu_seconds(proxy.pid) - proxy_cpu if proxy else 0.0
        cpu = sum(c["cpu"] for c in counts) + proxy_cpu
        seconds = max(c["end"] for c in counts) - min(c["start"] for c in counts)
        kinds = {}
        for c in counts:
            for k, v in c["kinds"].items():
                kinds[k] = kinds.get(k, 0) + v
        crashed = sum(p.exitcode != 0 for p in procs)
        states = final_states("sqlite" if mode == "grpc" else mode, path)
        pruned, running, failed = states[TrialState.PRUNED], states[TrialState.RUNNING], states[TrialState.FAIL]
        finished = states[TrialState.COMPLETE] + pruned
        reports = sum(c["reports"] for c in counts)
        return {
            "mode": mode, "processes": processes, "requested": per_process * processes,
            "recorded": finished, "running": running, "failed": failed, "seconds": seconds,
            "trials_per_s": finished / seconds if seconds > 0 else 0.0,
            "reports": reports, "pruned": pruned, "reports_per_s": reports / seconds if reports and seconds > 0 else None,
            "cpu_ms_per_trial": 1000 * cpu / finished if finished else None,
            "errors": sum(c["errors"] for c in counts) + crashed, "error_kinds": kinds, "load_1min": load,
        }
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.join(10)
        shutil.rmtree(tmp, ignore_errors=True)


def table(rows, load, directory):
    out = ["| mode | processes | trials requested / recorded | failed / left running | seconds | trials/s "
           "| reports/s | CPU ms/trial | errors | load (1 min) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        reports = f"{r['reports_per_s']:.0f}" if r["reports_per_s"] else "-"
        cpu = f"{r['cpu_ms_per_trial']:.1f}" if r["cpu_ms_per_trial"] else "-"
        out.append(f"| {r['mode']} | {r['processes']} | {r['requested']} / {r['recorded']} | "
                   f"{r['failed']} / {r['running']} | {r['seconds']:.1f} | {r['trials_per_s']:.1f} | {reports} | "
                   f"{cpu} | {r['errors']} | {r['load_1min']:.1f} |")
    out.append(f"\nload average (1, 5, 15 min) at start: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}; "
               f"storage files under {directory}")
    for r in rows:
        for kind, n in r["error_kinds"].items():
            out.append(f"{r['mode']} x{r['processes']}: {n} x {kind}")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modes", default="sqlite,journal,grpc,sqlite-reports,journal-reports",
                   help="comma-separated subset of " + ", ".join(DEFAULT_PROCESSES))
    p.add_argument("--processes", help="comma-separated process counts (default: per mode)")
    p.add_argument("--trials", type=int, default=1000, help="trials per configuration (all processes)")
    p.add_argument("--report-trials", type=int, default=400, help="trials per configuration in *-reports modes")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds each configuration may run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dir", default=tempfile.gettempdir(),
                   help="where the storage files go (default %(default)s; the filesystem's fsync cost dominates)")
    p.add_argument("--postgres", help="PostgreSQL server of the postgres modes, "
                   "e.g. postgres://postgres@127.0.0.1:5432 (a fresh database per configuration)")
    p.add_argument("--quick", action="store_true", help="200 trials (100 with reports), 10 s cap")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    a = p.parse_args()
    if a.quick:
        a.trials, a.report_trials, a.timeout = 200, 100, 10.0
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in DEFAULT_PROCESSES]
    if unknown:
        p.error(f"--modes: unknown mode(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_PROCESSES)}")
    try:
        counts = [int(n) for n in a.processes.split(",")] if a.processes else None
    except ValueError:
        p.error(f"--processes: {a.processes!r} is not a comma-separated list of integers")
    if counts is not None and any(n < 1 for n in counts):
        p.error(f"--processes: {a.processes!r} has a count below 1")
    if not os.path.isdir(a.dir):
        p.error(f"--dir: {a.dir} is not a directory")
    if any(m.startswith("postgres") for m in modes):
        if not a.postgres:
            p.error("the postgres modes need --postgres URL (a PostgreSQL server)")
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            p.error("the postgres modes need psycopg2: pip install psycopg2-binary")
        global POSTGRES
        POSTGRES = a.postgres.rstrip("/")
    if "grpc" in modes:
        try:
            import grpc  # noqa: F401
        except ImportError:
            p.error("mode grpc needs grpcio: pip install grpcio protobuf (or leave grpc out of --modes)")
    quiet()
    load = os.getloadavg()
    rows = []
    for mode in modes:
        for n in counts or DEFAULT_PROCESSES[mode]:
            total = a.report_trials if mode.endswith("reports") else a.trials
            try:
                row = run(mode, n, total, a.timeout, a.seed, a.dir)
            except Exception:
                traceback.print_exc()
                row = {"mode": mode, "processes": n, "requested": total, "recorded": 0, "running": 0,
                       "failed": 0, "seconds": 0.0, "trials_per_s": 0.0, "cpu_ms_per_trial": None, "reports": 0, "reports_per_s": None,
                       "errors": 1, "error_kinds": {"run failed": 1}, "load_1min": os.getloadavg()[0]}
            rows.append(row)
            print(f"{mode} x{n}: {row['trials_per_s']:.1f} trials/s, {row['errors']} errors", file=sys.stderr)
    if a.json:
        print(json.dumps({"impl": "optuna", "version": optuna.__version__, "load_average": load, "dir": a.dir,
                          "trials": a.trials, "report_trials": a.report_trials, "timeout": a.timeout,
                          "rows": rows}))
    else:
        print(table(rows, load, a.dir))


if __name__ == "__main__":
    main()
