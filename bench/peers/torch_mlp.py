"""Peer: the same MLP in PyTorch on the CPU with one thread (torch.set_num_threads(1)),
tensors in memory, batches by index (no DataLoader overhead), Adam 1e-3, batch 128."""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import torch  # noqa: E402
from torch import nn  # noqa: E402

import common  # noqa: E402


def main():
    a = common.args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    x, y, xt, yt = common.load(a.data)
    x, y, xt, yt = map(torch.from_numpy, (x, y, xt, yt))
    bn = a.variant == "bn-dropout"
    layers, width = [], 784
    for units, p in ((256, 0.5), (128, 0.3)):
        layers.append(nn.Linear(width, units))
        if bn:
            layers.append(nn.BatchNorm1d(units))
        layers.append(nn.ReLU())
        if bn:
            layers.append(nn.Dropout(p))
        width = units
    layers.append(nn.Linear(width, 10))
    model = nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = len(x)
    timer = common.EpochTimer("torch", a.variant)
    for _ in range(a.epochs):
        with timer:
            model.train()
            order = torch.randperm(n)
            for s in range(0, n, 128):
                idx = order[s:s + 128]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    common.report(timer, n, acc, x.numel() * 4 + xt.numel() * 4)


if __name__ == "__main__":
    main()
