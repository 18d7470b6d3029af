"""Shared by the peer benchmarks: the same Fashion-MNIST data as nn-core (IDX files, all
60,000 training images, standardized per pixel with training statistics), per-epoch timing
(wall and thread CPU time) and the one-line JSON result the runner collects."""

import gzip
import json
import os
import resource
import statistics
import struct
import sys
import time

import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        magic, count = struct.unpack(">II", f.read(8))
        dims = [count]
        if magic == 0x803:
            rows, cols = struct.unpack(">II", f.read(8))
            dims = [count, rows * cols]
        elif magic != 0x801:
            raise SystemExit(f"{path}: magic number {magic:#010x} is not an IDX u8 file")
        data = np.frombuffer(f.read(), dtype=np.uint8)
    return data.reshape(dims)


def find(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{directory}: no {stem}[.gz]")


def load(directory):
    """(x_train, y_train, x_test, y_test) as float32 / int64, standardized like nn-core."""
    x = read_idx(find(directory, "train-images-idx3-ubyte")).astype(np.float32)
    y = read_idx(find(directory, "train-labels-idx1-ubyte")).astype(np.int64)
    xt = read_idx(find(directory, "t10k-images-idx3-ubyte")).astype(np.float32)
    yt = read_idx(find(directory, "t10k-labels-idx1-ubyte")).astype(np.int64)
    # Statistics in float64, chunk by chunk, so no float64 copy of the whole set is made.
    total, total_sq = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for start in range(0, len(x), 5000):
        chunk = x[start:start + 5000].astype(np.float64)
        total += chunk.sum(axis=0)
        total_sq += (chunk * chunk).sum(axis=0)
    mean64 = total / len(x)
    std = np.sqrt(np.maximum(total_sq / len(x) - mean64 * mean64, 0.0))
    mean = mean64.astype(np.float32)
    scale = np.where(std < 1e-6, 1.0, 1.0 / np.maximum(std, 1e-12)).astype(np.float32)
    x -= mean
    x *= scale
    xt -= mean
    xt *= scale
    return x, y, xt, yt


def args():
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--variant", default="plain", choices=["plain", "bn-dropout"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


class EpochTimer:
    """Wall and thread-CPU seconds of each epoch."""

    def __init__(self, name, variant):
        self.name, self.variant = name, variant
        self.wall, self.cpu = [], []

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc):
        self.wall.append(time.perf_counter() - self.w0)
        self.cpu.append(time.thread_time() - self.c0)
        print(f"{self.name} {self.variant} epoch {len(self.wall)} {self.wall[-1]:.3f} s", file=sys.stderr)


def report(timer, samples, test_accuracy, data_bytes, gflop_per_epoch=60.42624):
    """Prints the JSON line: median of epochs 2.. (or the only epoch)."""
    wall = timer.wall[1:] or timer.wall
    cpu = timer.cpu[1:] or timer.cpu
    sec, cpu_sec = statistics.median(wall), statistics.median(cpu)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    print(json.dumps({
        "impl": timer.name,
        "variant": timer.variant,
        "threads": 1,
        "epochs": len(timer.wall),
        "sec_per_epoch": sec,
        "cpu_sec_per_epoch": cpu_sec,
        "samples_per_s": samples / sec,
        "gflop_per_epoch": gflop_per_epoch,
        "gflops": gflop_per_epoch / sec,
        "test_accuracy": float(test_accuracy),
        "peak_mb": peak_mb,
        "data_mb": data_bytes / 1e6,
    }))
