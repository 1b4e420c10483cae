"""kNN prediction cost: ``skda.neighbors.knn_vote`` (the rule behind ``MADDAClassifier.predict``).

20,000 queries against 20,000 source embeddings of 256 dimensions, k = 2, 10 classes, on the CPU
(``--device cuda`` on a GPU machine). Prints the best wall time over ``--repeats``, the peak extra
resident memory of the process during the call, and scikit-learn's ``KNeighborsClassifier`` (brute
force) on the same data as a reference.

    python benchmarks/bench_knn.py [--queries 20000] [--keys 20000] [--dim 256] [--k 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

from skda.neighbors import knn_vote


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument("--keys", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    rng = np.random.RandomState(0)
    keys = rng.randn(args.keys, args.dim).astype(np.float32)
    queries = rng.randn(args.queries, args.dim).astype(np.float32)
    labels = rng.randint(args.classes, size=args.keys)
    device = torch.device(args.device)
    k_t, q_t, l_t = (torch.as_tensor(a, device=device) for a in (keys, queries, labels))
    knn_vote(q_t[:100], k_t, l_t, args.k, args.classes)  # warm-up
    before = peak_rss_mb()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        votes = knn_vote(q_t, k_t, l_t, args.k, args.classes)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    extra = peak_rss_mb() - before
    start = time.perf_counter()
    ref = KNeighborsClassifier(n_neighbors=args.k, algorithm="brute").fit(keys, labels).predict_proba(queries)
    t_sklearn = time.perf_counter() - start
    agree = float((votes.cpu().numpy().argmax(1) == ref.argmax(1)).mean())
    print(f"{args.queries} queries x {args.keys} keys x {args.dim}-d, k={args.k}, device={device}, "
          f"threads={torch.get_num_threads()}")
    print(f"skda knn_vote          : {min(times):6.2f} s (best of {args.repeats}), peak extra RSS {extra:6.0f} MB")
    print(f"sklearn brute-force kNN: {t_sklearn:6.2f} s; predictions agree on {100 * agree:.2f}% of queries")
    print(f"ratio skda / sklearn = {min(times) / t_sklearn:.3f}")


if __name__ == "__main__":
    main()
