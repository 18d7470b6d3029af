"""Peer: a hand-written numpy MLP (784-256-128-10, ReLU, softmax cross-entropy, Adam 1e-3,
batch 128) with manual backpropagation, float32, one BLAS thread. Plain variant only."""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402

import common  # noqa: E402


def main():
    a = common.args()
    if a.variant != "plain":
        raise SystemExit("numpy peer: plain variant only")
    x, y, xt, yt = common.load(a.data)
    rng = np.random.default_rng(a.seed)
    sizes = [784, 256, 128, 10]
    W = [(rng.standard_normal((i, o)) * np.sqrt(2.0 / i)).astype(np.float32) for i, o in zip(sizes, sizes[1:])]
    b = [np.zeros(o, np.float32) for o in sizes[1:]]
    params = W + b
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps, lr, t = 0.9, 0.999, 1e-8, 1e-3, 0
    n = len(x)
    timer = common.EpochTimer("numpy", a.variant)
    for _ in range(a.epochs):
        with timer:
            order = rng.permutation(n)
            for s in range(0, n, 128):
                idx = order[s:s + 128]
                xb, yb = x[idx], y[idx]
                rows = len(idx)
                h1 = np.maximum(xb @ W[0] + b[0], 0)
                h2 = np.maximum(h1 @ W[1] + b[1], 0)
                z = h2 @ W[2] + b[2]
                z -= z.max(axis=1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(axis=1, keepdims=True)
                p[np.arange(rows), yb] -= 1
                g3 = p / rows
                gW2 = h2.T @ g3
                g2 = (g3 @ W[2].T) * (h2 > 0)
                gW1 = h1.T @ g2
                g1 = (g2 @ W[1].T) * (h1 > 0)
                gW0 = xb.T @ g1
                grads = [gW0, gW1, gW2, g1.sum(0), g2.sum(0), g3.sum(0)]
                t += 1
                step = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                for P, G, M, V in zip(params, grads, m, v):
                    M *= b1
                    M += (1 - b1) * G
                    V *= b2
                    V += (1 - b2) * G * G
                    P -= (step * M / (np.sqrt(V) + eps)).astype(np.float32)
    h = np.maximum(xt @ W[0] + b[0], 0)
    h = np.maximum(h @ W[1] + b[1], 0)
    acc = float(((h @ W[2] + b[2]).argmax(1) == yt).mean())
    common.report(timer, n, acc, x.nbytes + xt.nbytes)


if __name__ == "__main__":
    main()
