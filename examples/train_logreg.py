#!/usr/bin/env python3
"""A training script as a `command` objective (examples/command-study.toml runs it).

hypersearch gives each trial its parameters as a JSON object in HYPERSEARCH_PARAMS (the
trial's number in HYPERSEARCH_TRIAL) and reads `key=value` pairs from stdout: a line with
`epoch=N` is that epoch's report, which the early-stopping rule sees. This script fits a
logistic regression by minibatch SGD to a fixed synthetic data set; it needs only Python 3.
"""

import json
import math
import os
import random

params = json.loads(os.environ.get("HYPERSEARCH_PARAMS", "{}"))
learning_rate = float(params.get("learning_rate", 0.1))
l2 = float(params.get("l2", 1e-4))
batch_size = int(params.get("batch_size", 32))
epochs = 20

# The data set is the same for every trial (its own seed); only the parameters vary.
data = random.Random(0)
features = 10
truth = [data.gauss(0, 1) for _ in range(features)]
examples = []
for _ in range(1200):
    x = [data.gauss(0, 1) for _ in range(features)]
    margin = sum(w * v for w, v in zip(truth, x)) + data.gauss(0, 1.5)
    examples.append((x, 1.0 if margin > 0 else 0.0))
train, validation = examples[:1000], examples[1000:]


def predict(w, b, x):
    z = b + sum(wi * xi for wi, xi in zip(w, x))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def evaluate(w, b, rows):
    loss, correct = 0.0, 0
    for x, y in rows:
        p = min(max(predict(w, b, x), 1e-12), 1 - 1e-12)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        correct += (p > 0.5) == (y > 0.5)
    return loss / len(rows), correct / len(rows)


order = random.Random(int(os.environ.get("HYPERSEARCH_TRIAL", "0")))
w, b = [0.0] * features, 0.0
for epoch in range(1, epochs + 1):
    order.shuffle(train)
    for start in range(0, len(train), batch_size):
        batch = train[start:start + batch_size]
        grad_w, grad_b = [0.0] * features, 0.0
        for x, y in batch:
            error = predict(w, b, x) - y
            grad_w = [g + error * xi for g, xi in zip(grad_w, x)]
            grad_b += error
        scale = learning_rate / len(batch)
        w = [wi - scale * gi - learning_rate * l2 * wi for wi, gi in zip(w, grad_w)]
        b -= scale * grad_b
    val_loss, val_accuracy = evaluate(w, b, validation)
    print(f"epoch={epoch} val_loss={val_loss:.6f} val_accuracy={val_accuracy:.4f}", flush=True)
