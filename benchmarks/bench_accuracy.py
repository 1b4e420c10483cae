"""Target accuracy of skda's methods on the real benchmark tasks, several seeds, one configuration per family.

The configurations (per family: network, epochs, the methods' own settings; the ablation variants) are documented
in ``benchmarks/config.py``.

    python benchmarks/bench_accuracy.py --family digits                     # source-only, DANN, MLA-DA, M-ADDA; 3 seeds
    python benchmarks/bench_accuracy.py --family office_caltech --methods dann mlada --seeds 0
    python benchmarks/bench_accuracy.py --family digits --write docs/results_digits.md
    python benchmarks/bench_accuracy.py --family amazon_reviews --methods "logreg (source)" "coral + logreg" --seeds 0

Prints one line per run, then a markdown table (mean ± std over seeds, paper figures in brackets).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from config import BASELINES, FAMILIES, METHODS, PAPER, SEEDS, make_baseline, make_estimator, target_label_choices

from skda.datasets import list_tasks, load_task
from skda.model_selection import pack_domains


def run(family, methods, seeds, tasks=None):
    scores = {}
    for task in tasks or list_tasks(family):
        Xs, ys, Xt, yt = load_task(task)
        for seed in seeds:
            for method in methods:
                start = time.perf_counter()
                if method in BASELINES:  # linear baselines: a pipeline fitted on packed data (deterministic)
                    acc = make_baseline(method).fit(*pack_domains(Xs, ys, Xt)).score(Xt, yt)
                else:
                    acc = make_estimator(method, family, seed).fit(Xs, ys, Xt).score(Xt, yt)
                scores.setdefault((method, task), []).append(acc)
                print(f"{task:22s} seed {seed} {method:24s} target acc {acc:.4f} "
                      f"({time.perf_counter() - start:.0f}s)", flush=True)
    return scores


def table(scores, methods, seeds, family):
    """The markdown table of ``scores``; rows of a setting chosen with target labels in view carry a dagger and the
    text of the choice under the table (``config.target_label_choices``)."""
    tasks = list(dict.fromkeys(task for _, task in scores))
    chosen = target_label_choices(methods, family)
    lines = ["| method | " + " | ".join(tasks) + " | mean |", "|---" * (len(tasks) + 2) + "|"]
    for method in methods:
        cells = []
        for task in tasks:
            acc = np.array(scores[method, task])
            paper = PAPER.get((method, task))
            cells.append(f"{acc.mean():.3f} ± {acc.std():.3f}" + (f" [{paper:.3f}]" if paper else ""))
        mean = np.mean([np.mean(scores[method, t]) for t in tasks])
        lines.append(f"| {method}{' †' if method in chosen else ''} | " + " | ".join(cells) + f" | **{mean:.3f}** |")
    lines += [f"\n† Chosen with target labels in view: {text}." for text in dict.fromkeys(chosen.values())]
    command = "python benchmarks/bench_accuracy.py " + " ".join(sys.argv[1:]) if sys.argv[1:] else \
        "python benchmarks/bench_accuracy.py --family ..."
    return (f"Target accuracy, mean ± std over seeds {list(seeds)}; [paper figure]. "
            f"Produced by `{command}`.\n\n" + "\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", required=True, choices=list(FAMILIES))
    ap.add_argument("--methods", nargs="+", default=["source-only", "dann", "mlada", "madda"],
                    choices=[*METHODS, *BASELINES])
    ap.add_argument("--tasks", nargs="+", default=None, help="a subset of the family's tasks")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--write", default=None, help="also write the markdown table to this file")
    args = ap.parse_args(argv)
    scores = run(args.family, args.methods, args.seeds, args.tasks)
    text = table(scores, args.methods, args.seeds, args.family)
    print(text)
    if args.write:
        with open(args.write, "w") as fh:
            fh.write(f"# Results: {args.family}\n\n" + text)


if __name__ == "__main__":
    main()
