"""Speed of skda against the floor (a bare torch loop doing the same work), on CPU and on CUDA when present.

    python benchmarks/bench_speed.py                       # full: ~10 min on 2 CPU cores
    python benchmarks/bench_speed.py --quick               # ~2 min: smaller sizes, one repeat
    python benchmarks/bench_speed.py --write docs/results_speed.md
    python benchmarks/bench_speed.py --sections tabular        # only the DANN-family / source-only fit-time ratio

Sections (each prints a markdown table; prediction runs first so that its peak-memory baseline is not raised
by the training sections):

1. **Engine overhead**: ``DANNClassifier.fit`` vs the bare torch loop of ``bench_engine.py`` (same network,
   paired 64 + 64 batches, schedules, steps), ratio skda / bare (best of ``--repeats``).
2. **Scaling**: seconds per epoch of ``DANNClassifier`` (default MLP 256-256, 256 features, 10 classes) as the
   rows per domain grow (1k ... 200k), with the bare loop's time for the same epoch and the cost per 1k rows
   relative to the smallest size: a flat column means the cost grows linearly.
3. **Tabular defaults**: default fit time of each DANN-family estimator (DANN, ILA-DA, MLA-DA) divided by
   SourceOnlyClassifier's default fit time (issue 21's bar: at most 2), on one pair of each tabular family
   (the largest: amazon->caltech, 958 + 1123 SURF rows; books->dvd, 2000 + 1999 review rows), median of
   ``--repeats`` fits each (needs the shared data; the section is skipped without it).
4. **Prediction**: M-ADDA's kNN rule (20k queries x 20k source embeddings, 256-d, k = 2) and one
   ``ActiveSelector.query`` over a 100k x 256 pool (forward pass included), each with the peak extra resident
   memory of the process and the ratio against the bare floor (a top-k over the same distance matrix; the
   pool copied from host memory to the device, as ``query`` must, and a bare forward pass + softmax over it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_engine import bare_torch, make_data, skda_fit  # a sibling script: this folder is on sys.path
from bench_knn import peak_rss_mb

import skda
from skda.neighbors import knn_vote


def timed(fn, repeats, device):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), out


def warm_up(device):
    """One tiny fit of each loop first, so that one-off costs (allocator, kernels) are not timed."""
    Xs, ys, Xt = make_data(256, 256, 10)
    kw = dict(hidden=(256, 256), domain_hidden=(1024, 1024), batch_size=64, epochs=1, lr=0.01, device=str(device),
              seed=0)
    bare_torch(Xs, ys, Xt, **kw)
    skda_fit(Xs, ys, Xt, **kw)


def engine_overhead(device, rows, epochs, repeats):
    warm_up(device)
    Xs, ys, Xt = make_data(rows, 256, 10)
    kw = dict(hidden=(256, 256), domain_hidden=(1024, 1024), batch_size=64, epochs=epochs, lr=0.01,
              device=str(device), seed=0)
    bare, _ = timed(lambda: bare_torch(Xs, ys, Xt, **kw), repeats, device)
    ours, _ = timed(lambda: skda_fit(Xs, ys, Xt, **kw), repeats, device)
    return [f"| {device} | {rows} + {rows} | {epochs} | {bare:.2f} | {ours:.2f} | **{ours / bare:.3f}** |"]


def scaling(device, sizes, repeats):
    warm_up(device)
    lines, base = [], None
    for rows in sizes:
        Xs, ys, Xt = make_data(rows, 256, 10)
        kw = dict(hidden=(256, 256), domain_hidden=(1024, 1024), batch_size=64, epochs=1, lr=0.01,
                  device=str(device), seed=0)
        data = (Xs, ys, Xt)
        bare, _ = timed(lambda d=data, k=kw: bare_torch(*d, **k), repeats, device)
        ours, _ = timed(lambda d=data, k=kw: skda_fit(*d, **k), repeats, device)
        per_k = ours / rows * 1000
        base = base or per_k
        lines.append(f"| {device} | {rows} | {bare:.2f} | {ours:.2f} | {ours / bare:.3f} | {per_k * 1000:.1f} | "
                     f"{per_k / base:.2f} |")
    return lines


def prediction(device, repeats, queries=20_000, keys=20_000, pool=100_000):
    rng = np.random.RandomState(0)
    lines = []
    k_t = torch.as_tensor(rng.randn(keys, 256).astype(np.float32), device=device)
    q_t = torch.as_tensor(rng.randn(queries, 256).astype(np.float32), device=device)
    l_t = torch.as_tensor(rng.randint(10, size=keys), device=device)
    knn_vote(q_t[:100], k_t, l_t, 2, 10)
    before = peak_rss_mb()
    t_knn, _ = timed(lambda: knn_vote(q_t, k_t, l_t, 2, 10), repeats, device)
    extra = peak_rss_mb() - before

    def bare_topk():  # the floor: distances and top-k in the same blocks, no vote
        return [torch.cdist(q_t[s:s + 2048], k_t).topk(2, largest=False).indices for s in range(0, queries, 2048)]

    t_bare, _ = timed(bare_topk, repeats, device)
    lines.append(f"| {device} | kNN vote, {queries} x {keys} x 256, k = 2 | {t_bare:.3f} | {t_knn:.3f} | "
                 f"{t_knn / t_bare:.2f} | {extra:.0f} |")
    if hasattr(skda, "ActiveSelector"):
        Xs, ys, _ = make_data(2000, 256, 10)
        Xt = rng.randn(pool, 256).astype(np.float32)
        selector = skda.ActiveSelector(max_epochs=1, random_state=0, device=str(device)).fit(Xs, ys, Xt)
        net = selector.module_

        def bare_forward():  # the floor: the host pool to the device (as query must: the pool stays on the
            with torch.no_grad():  # host), one forward pass and a softmax
                return torch.softmax(net.classify(net.features(torch.from_numpy(Xt).to(device))), 1)

        t_floor, _ = timed(bare_forward, repeats, device)
        before = peak_rss_mb()
        for strategy in ("margin", "sdm-ag"):
            selector.set_params(strategy=strategy)
            t_q, _ = timed(lambda: selector.query(100), repeats, device)
            lines.append(f"| {device} | query({strategy}), pool {pool} x 256 | {t_floor:.3f} | {t_q:.3f} | "
                         f"{t_q / t_floor:.2f} | {peak_rss_mb() - before:.0f} |")
    return lines


TABULAR_PAIRS = ("amazon->caltech", "books->dvd")


def tabular_defaults(device, repeats):
    """Median default fit time of the DANN family / SourceOnlyClassifier's, one line per pair and estimator."""
    import os
    import statistics

    os.environ.setdefault("SKDA_DATA", str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"))
    from skda.datasets import load_task

    lines = []
    for task in TABULAR_PAIRS:
        try:
            Xs, ys, Xt, _ = load_task(task)
        except (FileNotFoundError, OSError) as exc:  # no shared data here
            return [f"| {device} | {task} | skipped: {exc} | | |"]
        times = {}
        for cls in (skda.SourceOnlyClassifier, skda.DANNClassifier, skda.ILADAClassifier, skda.MLADAClassifier):
            runs = []
            for seed in range(max(repeats, 3)):
                est = cls(random_state=seed, device=str(device))
                start = time.perf_counter()
                est.fit(Xs, ys, Xt)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                runs.append(time.perf_counter() - start)
            times[cls.__name__] = statistics.median(runs)
        base = times["SourceOnlyClassifier"]
        for name, seconds in times.items():
            lines.append(f"| {device} | {task} | {name} | {seconds:.2f} | **{seconds / base:.2f}** |")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    ap.add_argument("--device", default="all", choices=["all", "cpu", "cuda"])
    ap.add_argument("--write", default=None)
    ap.add_argument("--sections", nargs="+", default=None, choices=["prediction", "tabular", "engine", "scaling"],
                    help="run only these sections (default: all)")
    args = ap.parse_args(argv)
    devices = [torch.device("cpu")]
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if args.device == "cuda":
        devices = devices[1:]
        if not devices:
            ap.error("--device cuda: torch sees no CUDA device here")
    repeats = 1 if args.quick else 3
    rows, epochs = (5000, 2) if args.quick else (20_000, 5)
    sizes = [1000, 10_000, 50_000] if args.quick else [1000, 10_000, 50_000, 200_000]
    sections = [
        ("Prediction: kNN rule and active query",
         "| device | work | floor (s) | skda (s) | ratio | peak extra RSS (MB) |\n|---|---|---|---|---|---|",
         lambda d: prediction(d, repeats)),
        ("Tabular defaults: fit time / SourceOnlyClassifier's (median of %d fits)" % max(repeats, 3),
         "| device | pair | estimator | fit (s) | ratio to source-only |\n|---|---|---|---|---|",
         lambda d: tabular_defaults(d, repeats)),
        ("Engine overhead (DANN fit vs bare torch loop, best of %d)" % repeats,
         "| device | rows | epochs | bare torch (s) | skda (s) | ratio |\n|---|---|---|---|---|---|",
         lambda d: engine_overhead(d, rows, epochs, repeats)),
        ("Scaling: one epoch of DANN as rows grow",
         "| device | rows per domain | bare (s) | skda (s) | ratio | skda ms per 1k rows | vs smallest |\n"
         "|---|---|---|---|---|---|---|",
         lambda d: scaling(d, sizes, repeats)),
    ]
    command = " ".join(["python benchmarks/bench_speed.py", *(sys.argv[1:] if argv is None else argv)])
    out = [f"Produced by `{command}`; "
           f"torch threads: {torch.get_num_threads()}.\n"]
    keys = ["prediction", "tabular", "engine", "scaling"]
    sections = [section for key, section in zip(keys, sections) if args.sections is None or key in args.sections]
    for title, header, run in sections:
        lines = [line for d in devices for line in run(d)]
        text = f"## {title}\n\n{header}\n" + "\n".join(lines) + "\n"
        print(text, flush=True)
        out.append(text)
    if args.write:
        Path(args.write).write_text("# Speed\n\n" + "\n".join(out))


if __name__ == "__main__":
    main()
