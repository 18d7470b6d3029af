"""Peer: scikit-learn's MLPClassifier(256, 128), ReLU, Adam 1e-3, batch 128, no L2
(alpha=0), one epoch per partial_fit call so each epoch is timed; one BLAS thread."""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

import common  # noqa: E402


def main():
    a = common.args()
    if a.variant != "plain":
        raise SystemExit("sklearn peer: plain variant only (no batch norm or dropout)")
    x, y, xt, yt = common.load(a.data)
    clf = MLPClassifier(hidden_layer_sizes=(256, 128), activation="relu", solver="adam",
                        learning_rate_init=1e-3, batch_size=128, alpha=0.0, shuffle=True,
                        random_state=a.seed)
    classes = np.arange(10)
    timer = common.EpochTimer("sklearn", a.variant)
    for _ in range(a.epochs):
        with timer:
            clf.partial_fit(x, y, classes=classes)
    acc = float((clf.predict(xt) == yt).mean())
    common.report(timer, len(x), acc, x.nbytes + xt.nbytes)


if __name__ == "__main__":
    main()
