"""Time of one ``ActiveSelector.query`` over a large target pool, per strategy, forward pass included.

Setting (issue 6): a pool of 100,000 target samples with 256 features, 10 classes, the default network
(``MLPFeatureExtractor``, hidden (256, 256), then a linear classifier), on the CPU with ``--threads`` torch
threads (default 2). The selector is fitted for one epoch on 2,000 random labelled source samples (the
weights do not change the cost); then each strategy's ``query(budget)`` is timed (median of ``--repeats``).

The reference is a bare torch forward pass + softmax over the same pool under ``no_grad`` (no validation),
timed both as one call on the whole tensor and in the engine's 1024-row chunks; the ratio ``query / bare``
(against the faster of the two) is the cost of the query on top of the forward pass it cannot avoid.
Run it on an idle machine: the load average is printed, and with other jobs on the cores two torch threads
give erratic timings (compare ``--threads 1``).

Peak extra memory: the resident set's high-water mark during one ``query`` (sampled every millisecond by a
thread reading ``/proc/self/statm``) minus the resident set before it; the batch strategies (``clue``,
``badge``) must stay under 1 GB and 10 s for a 100,000 x 256 pool and a budget of 1000.

    OMP_NUM_THREADS=2 python benchmarks/bench_query.py
    python benchmarks/bench_query.py --pool 100000 --threads 2 --repeats 5 --budget 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import numpy as np
import torch

import skda
from skda.active import STRATEGIES
from skda.engine import PREDICT_CHUNK_ROWS


def median_time(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_extra_memory(fn):
    """(result, peak resident bytes during ``fn()`` minus resident bytes before)."""
    before = rss_bytes()
    peak = [before]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = fn()
    finally:
        done.set()
        watcher.join()
    return result, max(peak[0], rss_bytes()) - before


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=256)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    rng = np.random.RandomState(0)
    Xs = rng.randn(2000, args.features).astype(np.float32)
    ys = np.arange(2000) % args.classes
    Xt = rng.randn(args.pool, args.features).astype(np.float32)
    selector = skda.ActiveSelector(max_epochs=1, random_state=0, device="cpu",
                                   module__hidden_sizes=(256, 256)).fit(Xs, ys, Xt)  # the network named above

    net = selector.module_
    net.eval()
    pool = torch.from_numpy(selector.pool_)

    def bare():
        with torch.no_grad():
            return torch.softmax(net.classify(net.features(pool)), dim=1)

    def bare_chunked():
        with torch.no_grad():
            return torch.cat([torch.softmax(net.classify(net.features(pool[i:i + PREDICT_CHUNK_ROWS])), dim=1)
                              for i in range(0, len(pool), PREDICT_CHUNK_ROWS)])

    load = os.getloadavg()
    print(f"pool {args.pool} x {args.features}, {args.classes} classes, budget {args.budget}, "
          f"torch threads {torch.get_num_threads()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"{os.cpu_count()} CPUs")
    whole = median_time(bare, args.repeats)
    chunked = median_time(bare_chunked, args.repeats)
    reference = min(whole, chunked)
    print(f"{'bare forward + softmax':24s} {whole:.3f} s (whole pool in one call)")
    print(f"{'bare forward + softmax':24s} {chunked:.3f} s ({PREDICT_CHUNK_ROWS}-row chunks); ratios below are "
          "against the faster of the two")
    for strategy in args.strategies:
        selector.set_params(strategy=strategy)
        seconds = median_time(lambda: selector.query(args.budget), args.repeats)
        _, extra = peak_extra_memory(lambda: selector.query(args.budget))
        print(f"{strategy:24s} {seconds:.3f} s   ratio to bare forward {seconds / reference:.2f}   "
              f"peak extra memory {extra / 2**20:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
