"""Unsupervised model selection on MNIST->USPS: which DANN candidate does each scorer pick?

Protocol (one run per seed; target labels ``yt`` are used ONLY to report accuracies, never to choose):

- data: ``load_task("mnist->usps")`` (JDA files, per-image standardisation), packed as
  ``X = [Xs; Xt]``, ``y = [ys, -1...]`` (2000 source + 1800 target rows);
- candidates: ``skda.DANNClassifier`` with an MLP feature extractor of two hidden layers of 256 units on the
  256 pixels (256-256-256), ``domain_hidden_sizes=(100,)`` (the paper's MNIST domain classifier width),
  ``max_epochs=20`` (``--epochs``), SGD with momentum 0.9 (``config.FORMER_DEFAULTS`` and ``FORMER_MLP``: the
  estimator defaults when the reports were generated, pinned since the defaults became a tabular recipe), every
  other setting the default (lr annealing, GRL schedule Eq. 14, 64 + 64 rows per step), ``random_state=seed``; grid
  ``adversarial_weight`` in {0.1, 0.3, 1, 3} x ``lr`` in {0.003, 0.01, 0.03} (12 candidates);
- selection: ``GridSearchCV(..., cv=DomainStratifiedKFold(3, shuffle=True, random_state=seed),
  scoring={...}, refit=False)``; each scorer's value is its mean over the 3 test folds (each fold scored
  by the model trained on the other two). Scorers: ``source-cv-acc`` (plain cross-validation accuracy
  on the source rows, ``estimator.score``: what you get without a DA scorer), and skda.metrics'
  ``entropy_scorer``, ``iwcv_scorer`` (weighted accuracy, density ratio on the input pixels),
  ``dev_scorer`` (log loss, density ratio on the learned features, control variate), ``snd_scorer``, all
  with their defaults (density ratios: cross-fitted ``StandardScaler`` + ``LogisticRegression(C=1)``,
  truncated at ``sqrt(n) * mean``);
- oracle: every candidate is refitted on all of ``(X, y)`` (what ``GridSearchCV(refit=...)`` deploys) and
  its accuracy on ``(Xt, yt)`` is the candidate's *target accuracy*. A scorer's pick is the candidate with
  its highest value; its regret is the best candidate's target accuracy minus the pick's (points). For
  reference only, ``fold acc`` is the mean target accuracy of the 3 fold models (the models the scorers
  actually scored; the refit is another training run, so it differs by run-to-run noise), and
  ``rank corr`` the Spearman correlation, over the candidates, of a scorer with the target accuracy.

    OMP_NUM_THREADS=1 python benchmarks/bench_model_selection.py                  # seeds 0 1 2, ~10 min
    OMP_NUM_THREADS=1 python benchmarks/bench_model_selection.py --seeds 0 --epochs 5   # quick look
    OMP_NUM_THREADS=1 python benchmarks/bench_model_selection.py --write docs/results_model_selection.md

Prints one line per candidate and seed, then markdown tables: per candidate (mean target accuracy and
mean scorer values over seeds) and per scorer (pick per seed, its target accuracy, regret).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import skda
from skda.datasets import load_task
from skda.metrics import dev_scorer, entropy_scorer, iwcv_scorer, snd_scorer
from skda.model_selection import DomainStratifiedKFold, pack_domains

from config import FORMER_DEFAULTS, FORMER_MLP  # a sibling script: this folder is on sys.path

# The benchmark files of a source checkout live beside it (../shared/data) unless SKDA_DATA says otherwise
# (skda itself reads data_home=, else $SKDA_DATA, else ~/skda_data: see skda.datasets).
os.environ.setdefault("SKDA_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

GRID = {"adversarial_weight": [0.1, 0.3, 1.0, 3.0], "lr": [0.003, 0.01, 0.03]}
#: LeNet diverges (NaN training loss, visible without target labels) at lr = 0.03, so its grid is one step lower
GRIDS = {"mlp": GRID, "lenet": {"adversarial_weight": [0.1, 0.3, 1.0, 3.0], "lr": [0.001, 0.003, 0.01]}}
BAR_POINTS = 2.0


def source_cv_accuracy(estimator, X, y):
    """Plain CV accuracy: ``score`` ignores the target rows, so this is accuracy on the source rows."""
    return estimator.score(X, y)


SCORERS = {"source-cv-acc": source_cv_accuracy, "entropy": entropy_scorer, "iwcv": iwcv_scorer,
           "dev": dev_scorer, "snd": snd_scorer}
UNSUPERVISED = ["entropy", "iwcv", "dev", "snd"]


def candidates():
    keys = list(GRID)
    return [dict(zip(keys, values)) for values in itertools.product(*(GRID[k] for k in keys))]


def label(params):
    return f"aw={params['adversarial_weight']:g}, lr={params['lr']:g}"


NETWORKS = {"mlp": "MLP 256-256-256", "lenet": "LeNet (skda.LeNetFeatureExtractor)"}


def make_base(network, epochs, seed, device):
    """The candidates' common settings: the estimator defaults of the reports' runs, pinned (``config.FORMER_*``:
    SGD with momentum 0.9; the MLP's two hidden layers of 256 units), since the defaults became a tabular recipe."""
    extra = {"module": skda.LeNetFeatureExtractor} if network == "lenet" else dict(FORMER_MLP)
    return skda.DANNClassifier(**FORMER_DEFAULTS, max_epochs=epochs, domain_hidden_sizes=(100,), random_state=seed,
                               device=device, **extra)


def run_seed(seed, epochs, folds, data, network="mlp", device="cpu", search_jobs=1):
    Xs, ys, Xt, yt = data
    X, y = pack_domains(Xs, ys, Xt)
    base = make_base(network, epochs, seed, device)
    cv = DomainStratifiedKFold(folds, shuffle=True, random_state=seed)

    def fold_target_accuracy(estimator, X_test, y_test):  # oracle, for the report only
        return estimator.score(Xt, yt)

    scoring = {**SCORERS, "fold-acc": fold_target_accuracy}
    start = time.perf_counter()
    search = GridSearchCV(base, GRIDS[network], scoring=scoring, cv=cv, refit=False, error_score="raise",
                          n_jobs=search_jobs).fit(X, y)
    search_s = time.perf_counter() - start
    params = search.cv_results_["params"]
    values = {name: np.asarray(search.cv_results_[f"mean_test_{name}"], dtype=float) for name in scoring}
    accuracy = Parallel(n_jobs=search_jobs)(delayed(lambda p: clone(base).set_params(**p).fit(X, y).score(Xt, yt))(p)
                                            for p in params)
    for i, (p, acc) in enumerate(zip(params, accuracy)):
        shown = "  ".join(f"{n}={values[n][i]:+.4f}" for n in SCORERS)
        print(f"seed {seed}  {label(p):<22} target acc {acc:.4f}  fold acc {values['fold-acc'][i]:.4f}  {shown}",
              flush=True)
    total_s = time.perf_counter() - start
    print(f"seed {seed}: grid search {search_s:.0f} s, with refits {total_s:.0f} s", flush=True)
    return params, values, np.asarray(accuracy)


def summarise(runs, seeds, epochs, folds, elapsed, network="mlp", device="cpu"):
    params = runs[0][0]
    acc = np.stack([r[2] for r in runs])                       # (seeds, candidates): refit target accuracy
    vals = {n: np.stack([r[1][n] for r in runs]) for n in [*SCORERS, "fold-acc"]}
    fold_acc = vals["fold-acc"]
    where = (f"{torch.cuda.get_device_name()} (parallel worker processes sharing it)" if device == "cuda"
             else f"{torch.get_num_threads()} CPU thread(s)")
    lines = [f"MNIST->USPS, DANN ({NETWORKS[network]}, domain head 100, SGD momentum 0.9), {epochs} epochs, "
             f"{len(params)} candidates, DomainStratifiedKFold({folds}), seeds {', '.join(map(str, seeds))}; "
             f"total {elapsed / 60:.1f} min "
             f"on {where}.", "",
             "### Candidates (mean over seeds)", "",
             "| candidate | target acc (refit, oracle) | fold acc | " + " | ".join(SCORERS) + " |",
             "|---|---|---|" + "---|" * len(SCORERS)]
    best_mean = int(np.argmax(acc.mean(axis=0)))
    for i, p in enumerate(params):
        mark = " **(best)**" if i == best_mean else ""
        cells = " | ".join(f"{vals[n][:, i].mean():.4f}" for n in SCORERS)
        lines.append(f"| {label(p)}{mark} | {acc[:, i].mean():.4f} ± {acc[:, i].std():.4f} | "
                     f"{fold_acc[:, i].mean():.4f} | {cells} |")
    oracle, fold_oracle = acc.max(axis=1), fold_acc.max(axis=1)
    lines += ["", "### Picks", "",
              "Per seed: the candidate with the highest value, and its target accuracy (refit / fold models). "
              "Regret: best candidate's target accuracy minus the pick's, in points, mean over seeds; "
              f"'<= {BAR_POINTS:g}': seeds with a regret of at most {BAR_POINTS:g} points; rank corr: Spearman "
              "correlation over the candidates with the target accuracy, mean over seeds. `oracle` picks with the "
              "target labels; `best on average` always takes the candidate with the best mean refit accuracy over "
              "the seeds (also needs the labels): the regret left by run-to-run noise alone.", "",
              "| scorer | " + " | ".join(f"seed {s}" for s in seeds) + " | refit acc of picks | regret (refit) | "
              f"<= {BAR_POINTS:g} (refit) | rank corr (refit) | fold acc of picks | regret (fold models) | "
              f"<= {BAR_POINTS:g} (fold) | rank corr (fold) |",
              "|---|" + "---|" * len(seeds) + "---|---|---|---|---|---|---|---|"]
    regrets = {}
    rows = np.arange(len(seeds))
    for name in ["oracle", "best on average", *SCORERS]:
        if name == "oracle":
            score = acc
        elif name == "best on average":
            score = np.tile(acc.mean(axis=0), (len(seeds), 1))
        else:
            score = vals[name]
        picks = score.argmax(axis=1)
        picked, picked_fold = acc[rows, picks], fold_acc[rows, picks]
        regret, fold_regret = 100 * (oracle - picked), 100 * (fold_oracle - picked_fold)
        regrets[name] = regret.mean()
        corr = np.mean([spearmanr(score[k], acc[k])[0] for k in rows]) if name != "best on average" else np.nan
        fold_corr = np.mean([spearmanr(score[k], fold_acc[k])[0] for k in rows]) if name != "best on average" \
            else np.nan
        cells = " | ".join(f"{label(params[k])}: {a:.3f} / {b:.3f}" for k, a, b in zip(picks, picked, picked_fold))
        ok = int((regret <= BAR_POINTS + 1e-9).sum())
        ok_fold = int((fold_regret <= BAR_POINTS + 1e-9).sum())
        corr, fold_corr = ("-" if np.isnan(c) else f"{c:+.2f}" for c in (corr, fold_corr))
        lines.append(f"| {name} | {cells} | {picked.mean():.4f} | {regret.mean():.2f} | {ok}/{len(seeds)} | "
                     f"{corr} | {picked_fold.mean():.4f} | {fold_regret.mean():.2f} | {ok_fold}/{len(seeds)} | "
                     f"{fold_corr} |")
    fold_regrets = {}
    for name in UNSUPERVISED:
        picks = vals[name].argmax(axis=1)
        fold_regrets[name] = 100 * (fold_oracle - fold_acc[rows, picks]).mean()
    lines += ["", f"Mean refit target accuracy of all candidates: {acc.mean():.4f}; of the worst candidate per seed: "
              f"{acc.min(axis=1).mean():.4f}; of the best (oracle): {oracle.mean():.4f}."]
    best = min(UNSUPERVISED, key=lambda n: regrets[n])
    best_fold = min(UNSUPERVISED, key=lambda n: fold_regrets[n])
    verdict = {True: "met", False: "NOT met"}
    lines.append(f"Bar (the best unsupervised scorer's pick within {BAR_POINTS:g} points of the best candidate, mean "
                 f"over seeds): on the refitted models (what GridSearchCV deploys) the best scorer is {best}, "
                 f"regret {regrets[best]:.2f} points: {verdict[regrets[best] <= BAR_POINTS]}; on the fold models "
                 f"(the models the scorers scored) the best is {best_fold}, regret {fold_regrets[best_fold]:.2f} "
                 f"points: {verdict[fold_regrets[best_fold] <= BAR_POINTS]}.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--network", choices=sorted(NETWORKS), default="mlp",
                        help="feature extractor of every candidate (lenet: ~10x the CPU time of mlp)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in this many parallel processes")
    parser.add_argument("--search-jobs", type=int, default=1, help="n_jobs of each seed's GridSearchCV and refits")
    parser.add_argument("--write", metavar="PATH", help="also write the markdown tables to PATH")
    args = parser.parse_args(argv)
    data = load_task("mnist->usps")
    start = time.perf_counter()
    runs = Parallel(n_jobs=args.jobs)(delayed(run_seed)(seed, args.epochs, args.folds, data, args.network, args.device,
                                                        args.search_jobs)
                                      for seed in args.seeds)
    report = summarise(runs, args.seeds, args.epochs, args.folds, time.perf_counter() - start, args.network,
                       args.device)
    print()
    print(report)
    if args.write:
        command = "OMP_NUM_THREADS=1 python benchmarks/bench_model_selection.py " + " ".join(
            ["--seeds", *map(str, args.seeds), "--epochs", str(args.epochs), "--folds", str(args.folds),
             "--network", args.network, "--device", args.device, "--jobs", str(args.jobs),
             "--search-jobs", str(args.search_jobs)])
        with open(args.write, "w") as fh:
            fh.write(f"# Unsupervised model selection: MNIST->USPS ({args.network})\n\nGenerated by `{command}`."
                     f"\n\n{report}")
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
