"""Engine overhead: ``DANNClassifier.fit`` vs a bare torch loop doing the same steps.

Both train the same network (MLPFeatureExtractor 256-256, linear label head, domain classifier with
the estimator's default hidden sizes behind a GRL) on the same tensors with the same optimiser, the
same paired 64 + 64 batches drawn by index, the same GRL and learning-rate schedules, for the same
number of steps. The bare loop is the floor: no callbacks, no history, no validation.

    python benchmarks/bench_engine.py                 # 20k + 20k rows, 256 features, 10 epochs
    python benchmarks/bench_engine.py --rows 5000 --epochs 3 --repeats 1   # quick look

Prints the wall time of each (best of ``--repeats``) and the ratio skda / bare torch.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

import skda
from skda.layers import DANNNetwork
from skda.layers import MLPFeatureExtractor
from skda.losses import domain_adversarial_loss
from skda.optim import MomentumSGD, annealed_learning_rate, grl_coefficient


def make_data(rows, features, classes, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.randn(classes, features).astype(np.float32)
    ys = rng.randint(classes, size=rows)
    Xs = centers[ys] + rng.randn(rows, features).astype(np.float32)
    yt = rng.randint(classes, size=rows)
    Xt = centers[yt] + 0.5 + rng.randn(rows, features).astype(np.float32)
    return Xs, ys, Xt


def bare_torch(Xs, ys, Xt, *, hidden, domain_hidden, batch_size, epochs, lr, device, seed):
    torch.manual_seed(seed)
    xs, xt = torch.as_tensor(Xs, device=device), torch.as_tensor(Xt, device=device)
    y = torch.as_tensor(ys, dtype=torch.long, device=device)
    net = DANNNetwork(MLPFeatureExtractor(Xs.shape[1], hidden), hidden[-1], int(y.max()) + 1, domain_hidden).to(device)
    opt = MomentumSGD(net.parameters(), lr=lr, foreach=True)  # the multi-tensor update, as the estimators build it
    gen = torch.Generator().manual_seed(seed)
    n = max(len(xs), len(xt))
    steps_per_epoch = math.ceil(n / batch_size)
    total, step = epochs * steps_per_epoch, 0
    net.train()
    for _ in range(epochs):
        idx_s = torch.randperm(len(xs), generator=gen).to(device)
        idx_t = torch.randperm(len(xt), generator=gen).to(device)
        losses = []
        for start in range(0, n, batch_size):
            p = step / total
            net.gradient_reversal.coefficient = grl_coefficient(p)
            for g in opt.param_groups:
                g["lr"] = annealed_learning_rate(p, lr)
            bs, bt = idx_s[start:start + batch_size], idx_t[start:start + batch_size]
            out = net(xs[bs], xt[bt])
            loss = F.cross_entropy(out["source_logits"], y[bs]) + domain_adversarial_loss(out["domain_logits"],
                                                                                         out["n_source"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            step += 1
        torch.stack(losses).cpu()  # one host copy per epoch, as the engine does
    return net


def skda_fit(Xs, ys, Xt, *, hidden, domain_hidden, batch_size, epochs, lr, device, seed):
    # the bare loop's optimiser (SGD, momentum 0.9), not the estimators' default Adam
    return skda.DANNClassifier(module__hidden_sizes=hidden, domain_hidden_sizes=domain_hidden, batch_size=batch_size,
                               max_epochs=epochs, lr=lr, device=device, random_state=seed,
                               optimizer=skda.optim.MomentumSGD).fit(Xs, ys, Xt)


def best_time(fn, repeats, **kw):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(**kw)
        if kw["device"] == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000, help="rows per domain")
    ap.add_argument("--features", type=int, default=256)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--hidden", default="256,256",
                    help="comma-separated hidden sizes of the feature extractor (a tiny one, e.g. 16, makes the "
                         "per-step Python overhead visible, as on a GPU)")
    ap.add_argument("--domain-hidden", default="1024,1024",
                    help="comma-separated hidden sizes of the domain classifier (default 1024,1024: the DANN "
                         "paper's, as in the figures of docs/results_details.md and bench_speed.py)")
    args = ap.parse_args(argv)
    domain_hidden = tuple(int(v) for v in args.domain_hidden.split(","))
    Xs, ys, Xt = make_data(args.rows, args.features, args.classes)
    hidden = tuple(int(v) for v in args.hidden.split(","))
    kw = dict(Xs=Xs, ys=ys, Xt=Xt, hidden=hidden, domain_hidden=domain_hidden, batch_size=args.batch_size,
              epochs=args.epochs, lr=0.01, device=args.device, seed=0)
    print(f"device={args.device} threads={torch.get_num_threads()} rows={args.rows}+{args.rows} "
          f"features={args.features} classes={args.classes} MLP {hidden}, domain head {domain_hidden}, "
          f"batch {args.batch_size}+{args.batch_size}, {args.epochs} epochs, best of {args.repeats}")
    best_time(bare_torch, 1, **{**kw, "epochs": 1})  # warm-up (allocator, threads)
    t_bare = best_time(bare_torch, args.repeats, **kw)
    t_skda = best_time(skda_fit, args.repeats, **kw)
    print(f"bare torch loop : {t_bare:8.2f} s")
    print(f"skda DANN fit   : {t_skda:8.2f} s")
    print(f"ratio skda / bare torch = {t_skda / t_bare:.3f}")


if __name__ == "__main__":
    main()
