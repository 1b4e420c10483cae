"""skda's defaults on the two tabular families against linear baselines, several seeds, final models.

    python benchmarks/bench_tabular_defaults.py                          # 24 pairs x 3 seeds x 6 estimators
    python benchmarks/bench_tabular_defaults.py --seeds 0 --families office_caltech --methods source-only dann
    python benchmarks/bench_tabular_defaults.py --select                 # the label-free recipe selection
    python benchmarks/bench_tabular_defaults.py --madda-prediction-rule  # M-ADDA: kNN vs nearest class mean
    python benchmarks/bench_tabular_defaults.py --write docs/results_tabular_defaults.md

Every estimator is built with its defaults and ``random_state=seed`` only (``skda.SourceOnlyClassifier()``,
``skda.DANNClassifier()``, ...), on the families' standard preprocessing (``skda.datasets.load_task``). Baselines,
computed here: ``LogisticRegression(max_iter=1000)`` on the source, and CORAL (Sun et al. 2016: source whitened
with ``C_s^-1/2`` and re-coloured with ``C_t^1/2``, ``C = cov + I``) followed by the same LogisticRegression.

Prints the family means, per-pair deltas against source-only, the number of pairs where an estimator is more than
1 point below source-only, and median fit times with the ratio to source-only's. Target labels are used only to
report accuracy.

``--select`` runs the label-free selection of the recipe (source validation accuracy only, no target rows or
labels): for each of the 8 source domains, a stratified 20% of its rows is held out and source-only networks of
each candidate recipe are scored on it.

One process, one torch thread (OMP_NUM_THREADS=1). Results are cached per run in ``--cache`` (default
``benchmarks/.cache/tabular_defaults.json``, ignored by git) so that an interrupted run resumes.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from config import REPO, check_task_names  # noqa: E402  (sets SKDA_DATA)
from sklearn.linear_model import LogisticRegression  # noqa: E402

import skda  # noqa: E402
from skda.datasets import list_tasks, load_task  # noqa: E402

torch.set_num_threads(1)

FAMILIES = ("office_caltech", "amazon_reviews")
ESTIMATORS = {
    "source-only": skda.SourceOnlyClassifier,
    "dann": skda.DANNClassifier,
    "ilada": skda.ILADAClassifier,
    "mlada": skda.MLADAClassifier,
    "madda": skda.MADDAClassifier,
    "deep-coral": skda.DeepCORALClassifier,
}
BASELINES = ("logistic-regression", "coral+lr")
ADAPTATION = ("dann", "ilada", "mlada", "madda", "deep-coral")


def _matrix_power(c, power):
    values, vectors = np.linalg.eigh(c)
    return (vectors * np.maximum(values, 1e-12) ** power) @ vectors.T


def coral_transform(Xs, Xt):
    """CORAL (Sun, Feng & Saenko, AAAI 2016, Algorithm 1): ``Xs C_s^-1/2 C_t^1/2`` with ``C = cov + I``."""
    cs = np.cov(Xs, rowvar=False) + np.eye(Xs.shape[1])
    ct = np.cov(Xt, rowvar=False) + np.eye(Xt.shape[1])
    return Xs @ _matrix_power(cs, -0.5) @ _matrix_power(ct, 0.5)


def run_baseline(method, Xs, ys, Xt, yt):
    start = time.perf_counter()
    X_train = coral_transform(Xs, Xt) if method == "coral+lr" else Xs
    acc = LogisticRegression(max_iter=1000).fit(X_train, ys).score(Xt, yt)
    return float(acc), time.perf_counter() - start


def run_estimator(method, seed, Xs, ys, Xt, yt, params=None):
    est = ESTIMATORS[method](random_state=seed, device="cpu", **(params or {}))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Xs, ys, Xt)
    seconds = time.perf_counter() - start
    return float(est.score(Xt, yt)), seconds


class Cache:
    def __init__(self, path):
        self.path = Path(path)
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key):
        return self.data.get(key)

    def put(self, key, value):
        self.data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def evaluate(families, methods, seeds, cache, tag, tasks=None, params=None):
    """``{(method, task): [acc per seed]}`` and ``{(method, task): [seconds]}`` (cached under ``tag``)."""
    scores, times = {}, {}
    for family in families:
        for task in tasks or list_tasks(family):
            if task not in list_tasks(family):
                continue
            data = None
            for method in [*BASELINES, *methods]:
                for seed in (seeds if method not in BASELINES else [0]):
                    key = f"{tag}|{task}|{method}|{seed}"
                    if params and method not in BASELINES:  # a run with other parameters is another figure
                        key += "|" + json.dumps(params, sort_keys=True)
                    hit = cache.get(key)
                    if hit is None:
                        data = data or load_task(task)
                        if method in BASELINES:
                            acc, sec = run_baseline(method, *data)
                        else:
                            acc, sec = run_estimator(method, seed, *data, params=params)
                        hit = {"accuracy": acc, "seconds": sec}
                        cache.put(key, hit)
                        print(f"{task:26s} {method:20s} seed {seed}  acc {acc:.4f}  {sec:6.2f}s", flush=True)
                    scores.setdefault((method, task), []).append(hit["accuracy"])
                    times.setdefault((method, task), []).append(hit["seconds"])
    return scores, times


def report(families, methods, seeds, scores, times, tasks=None):
    rows = [*methods, *BASELINES]
    out = []
    for family in families:
        fam_tasks = [t for t in list_tasks(family) if (tasks is None or t in tasks)]
        out.append(f"\n### {family} ({len(fam_tasks)} pairs, seeds {list(seeds)}, final models)\n")
        out.append("| estimator | family mean | vs source-only | vs LR | vs CORAL+LR | pairs > 1 pt below source-only "
                   "| median fit (s) | fit time / source-only |")
        out.append("|---|---|---|---|---|---|---|---|")
        mean = {m: np.mean([np.mean(scores[m, t]) for t in fam_tasks]) for m in rows}
        so_time = np.median([s for t in fam_tasks for s in times["source-only", t]]) if "source-only" in methods \
            else float("nan")
        for m in rows:
            below = "" if m == "source-only" or "source-only" not in methods else str(sum(
                np.mean(scores[m, t]) < np.mean(scores["source-only", t]) - 0.01 for t in fam_tasks))
            med = np.median([s for t in fam_tasks for s in times[m, t]])
            ratio = "" if m in BASELINES else f"{med / so_time:.2f}"
            so = f"{100 * (mean[m] - mean['source-only']):+.1f}" if "source-only" in methods else ""
            out.append(f"| {m} | {mean[m]:.3f} | {so} | {100 * (mean[m] - mean['logistic-regression']):+.1f} | "
                       f"{100 * (mean[m] - mean['coral+lr']):+.1f} | {below} | {med:.2f} | {ratio} |")
        out.append("\nPer pair (target accuracy, mean over seeds; in brackets: points vs source-only):\n")
        out.append("| pair | " + " | ".join(rows) + " |")
        out.append("|---" * (len(rows) + 1) + "|")
        for t in fam_tasks:
            so = np.mean(scores["source-only", t]) if "source-only" in methods else None
            cells = []
            for m in rows:
                a = np.mean(scores[m, t])
                cells.append(f"{a:.3f}" + ("" if so is None or m == "source-only" else f" ({100 * (a - so):+.1f})"))
            out.append(f"| {t} | " + " | ".join(cells) + " |")
    if "source-only" in methods:
        all_tasks = [t for f in families for t in list_tasks(f) if tasks is None or t in tasks]
        out.append(f"\nPairs (of {len(all_tasks)}) more than 1 point below source-only: " + ", ".join(
            f"{m} {sum(np.mean(scores[m, t]) < np.mean(scores['source-only', t]) - 0.01 for t in all_tasks)}"
            for m in rows if m != "source-only"))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- label-free selection (source rows only)
def source_domains():
    """The 8 source domains: ``{name: (X, y)}`` (each domain's rows with the family's preprocessing)."""
    out = {}
    for family in FAMILIES:
        for task in list_tasks(family):
            name = task.split("->")[0]
            if name not in out:
                Xs, ys, _, _ = load_task(task)
                out[name] = (Xs, ys)
    return out


def _epochs(n_rows, steps, batch_size=64):
    return max(1, int(np.ceil(steps / np.ceil(n_rows / batch_size))))


def _candidate(optimizer, lr, width, steps, divisor=4, **extra):
    """A candidate recipe: ``params(X_train) -> estimator parameters``."""
    def params(X):
        n_features = X.shape[1]
        hidden = (256, 256) if width == "256x2" else (int(np.clip(n_features // divisor, 32, 256)),)
        return {"optimizer": optimizer, "lr": lr, "module__hidden_sizes": hidden,
                "max_epochs": _epochs(len(X), steps), **extra}
    return params


CANDIDATES = {
    f"{opt}-{width}-{steps}": _candidate(*{"sgd": (skda.optim.MomentumSGD, 0.01),
                                         "adam": (torch.optim.Adam, 1e-3)}[opt], width, steps)
    for opt in ("sgd", "adam") for width in ("256x2", "auto1") for steps in (500, 1000, 2000)
}
# second round, around the best of the first (adam-auto1-500)
CANDIDATES.update({
    "adam-auto1-250": _candidate(torch.optim.Adam, 1e-3, "auto1", 250),
    "adam-auto1/2-500": _candidate(torch.optim.Adam, 1e-3, "auto1", 500, divisor=2),
    "adam-auto1/8-500": _candidate(torch.optim.Adam, 1e-3, "auto1", 500, divisor=8),
    "adam-auto1-500-wd1e-4": _candidate(torch.optim.Adam, 1e-3, "auto1", 500, optimizer__weight_decay=1e-4),
    "adam-auto1-500-drop0.2": _candidate(torch.optim.Adam, 1e-3, "auto1", 500, module__dropout=0.2),
    "adam-auto1-500-drop0.5": _candidate(torch.optim.Adam, 1e-3, "auto1", 500, module__dropout=0.5),
})


def select(candidates, seeds, cache):
    """Source validation accuracy (stratified 20% of each source domain held out) of source-only networks."""
    from sklearn.model_selection import train_test_split

    domains = source_domains()
    results = {}
    for name, params in candidates.items():
        for dom, (X, y) in domains.items():
            for seed in seeds:
                key = f"select|{name}|{dom}|{seed}"
                hit = cache.get(key)
                if hit is None:
                    Xa, Xv, ya, yv = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
                    est = skda.SourceOnlyClassifier(random_state=seed, device="cpu", **params(Xa))
                    start = time.perf_counter()
                    est.fit(Xa, ya)
                    hit = {"accuracy": float(est.score(Xv, yv)), "seconds": time.perf_counter() - start}
                    cache.put(key, hit)
                    print(f"select {name:28s} {dom:28s} seed {seed} source-valid acc {hit['accuracy']:.4f} "
                          f"{hit['seconds']:.2f}s", flush=True)
                results.setdefault(name, {}).setdefault(dom, []).append(hit["accuracy"])
    doms = list(domains)
    print("\n| candidate | " + " | ".join(d.split(" ")[-1] for d in doms) + " | mean |")
    print("|---" * (len(doms) + 2) + "|")
    for name in candidates:
        accs = [np.mean(results[name][d]) for d in doms]
        print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | **{np.mean(accs):.4f}** |")
    return results


# ---------------------------------------------------------------- M-ADDA's source stage (issue 21, item 3)
MADDA_SOURCE_STAGE = {  # the source stage alone: triplet embedding + kNN rule, no target step
    "former (256-256, Adam 1e-4, 50 epochs)": dict(module__hidden_sizes=(256, 256), embedding_dim=256,
                                                   discriminator_hidden_sizes=(500, 500), lr=1e-4,
                                                   source_epochs=50),
    "former, 500 steps": dict(module__hidden_sizes=(256, 256), embedding_dim=256,
                              discriminator_hidden_sizes=(500, 500), lr=1e-4),
    "former, Adam 1e-3, 500 steps": dict(module__hidden_sizes=(256, 256), embedding_dim=256,
                                         discriminator_hidden_sizes=(500, 500), lr=1e-3),
    "defaults (auto sizes, Adam 1e-3, 500 steps), k=2": dict(),
    "defaults, k=10": dict(n_neighbors=10),
    "defaults, margin 0.2": dict(margin=0.2),
}


def madda_source_stage(seeds, cache):
    """Source validation accuracy (20% of each source domain held out: no target data) and, for the report only,
    target accuracy on the 12 SURF pairs, of M-ADDA's source stage against source-only."""
    from sklearn.model_selection import train_test_split

    base = dict(adversarial=False, center_magnet=False, max_epochs=0)
    domains = {k: v for k, v in source_domains().items() if k in ("amazon", "caltech", "dslr", "webcam")}
    variants = {"source-only (defaults)": None, **MADDA_SOURCE_STAGE}
    print("\n| source stage | source-valid acc (4 SURF domains) | target acc (12 SURF pairs) |\n|---|---|---|")
    for name, params in variants.items():
        def make(seed, params=params):
            if params is None:
                return skda.SourceOnlyClassifier(random_state=seed, device="cpu")
            return skda.MADDAClassifier(random_state=seed, device="cpu", **base, **params)
        valid, target = [], []
        for seed in seeds:
            for dom, (X, y) in domains.items():
                key = f"madda-valid|{name}|{dom}|{seed}"
                if cache.get(key) is None:
                    Xa, Xv, ya, yv = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
                    # M-ADDA needs target rows: the held-out source rows, unlabelled (max_epochs=0: only the source
                    # stage trains, and they only set its epoch length, which is that of the training rows)
                    cache.put(key, float(make(seed).fit(Xa, ya, Xv).score(Xv, yv)))
                valid.append(cache.get(key))
            for task in list_tasks("office_caltech"):
                key = f"madda-target|{name}|{task}|{seed}"
                if cache.get(key) is None:
                    Xs, ys, Xt, yt = load_task(task)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        cache.put(key, float(make(seed).fit(Xs, ys, Xt).score(Xt, yt)))
                target.append(cache.get(key))
        print(f"| {name} | {np.mean(valid):.3f} | {np.mean(target):.3f} |", flush=True)


def madda_prediction_rule(seeds):
    """Source validation accuracy (20% of each of the 8 source domains held out; no target row) of M-ADDA's source
    stage with its defaults under two prediction rules on the same embeddings: the paper's kNN vote (k = 2) and the
    nearest source class mean (the centres its target stage pulls towards), beside source-only."""
    from sklearn.model_selection import train_test_split

    base = dict(adversarial=False, center_magnet=False, max_epochs=0)
    rows = {}
    for seed in seeds:
        for dom, (X, y) in source_domains().items():
            Xa, Xv, ya, yv = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
            madda = skda.MADDAClassifier(random_state=seed, device="cpu", **base).fit(Xa, ya, Xv)
            embedded = madda.transform(Xv)
            distances = ((embedded[:, None, :] - madda.centers_[None]) ** 2).sum(-1)
            nearest_mean = float(np.mean(madda.classes_[distances.argmin(1)] == yv))
            source_only = skda.SourceOnlyClassifier(random_state=seed, device="cpu").fit(Xa, ya).score(Xv, yv)
            rows.setdefault(dom, []).append((madda.score(Xv, yv), nearest_mean, source_only))
    print("\n| source domain | kNN vote (k=2) | nearest class mean | source-only |\n|---|---|---|---|")
    for dom, values in rows.items():
        print(f"| {dom} | " + " | ".join(f"{v:.3f}" for v in np.mean(values, axis=0)) + " |")
    means = np.mean([np.mean(v, axis=0) for v in rows.values()], axis=0)
    print("| **mean** | " + " | ".join(f"**{v:.3f}**" for v in means) + " |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--methods", nargs="+", default=list(ESTIMATORS), choices=list(ESTIMATORS))
    ap.add_argument("--tasks", nargs="+", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tag", default="defaults", help="cache key prefix (change it when the defaults change)")
    ap.add_argument("--params", default=None, help="JSON of extra estimator parameters (experiments)")
    ap.add_argument("--select", action="store_true")
    ap.add_argument("--madda-source-stage", action="store_true")
    ap.add_argument("--madda-prediction-rule", action="store_true")
    ap.add_argument("--cache", default=str(REPO / "benchmarks" / ".cache" / "tabular_defaults.json"))
    ap.add_argument("--write", default=None)
    args = ap.parse_args(argv)
    check_task_names(ap, args.tasks, args.families)
    cache = Cache(args.cache)
    if args.select:
        select(CANDIDATES, args.seeds, cache)
        return
    if args.madda_source_stage:
        madda_source_stage(args.seeds, cache)
        return
    if args.madda_prediction_rule:
        madda_prediction_rule(args.seeds)
        return
    params = json.loads(args.params) if args.params else None
    scores, times = evaluate(args.families, args.methods, args.seeds, cache, args.tag, args.tasks, params)
    text = report(args.families, args.methods, args.seeds, scores, times, args.tasks)
    command = "python benchmarks/bench_tabular_defaults.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = f"Produced by `{command.strip()}` (torch threads: {torch.get_num_threads()}).\n" + text
    print(text)
    if args.write:
        Path(args.write).write_text("# Tabular defaults against linear baselines\n\n" + text)


if __name__ == "__main__":
    main()
