"""How often skda.model_selection.check_negative_transfer is right on the 24 tabular pairs.

    OMP_NUM_THREADS=1 python benchmarks/bench_negative_transfer.py                       # DANN, 24 pairs, seeds 0-2
    OMP_NUM_THREADS=1 python benchmarks/bench_negative_transfer.py --methods dann mlada --seeds 0
    python benchmarks/bench_negative_transfer.py --report-only                           # tables from the cache
    OMP_NUM_THREADS=1 python benchmarks/bench_negative_transfer.py --defaults \
        --methods dann ilada mlada coral madda                                           # today's defaults

Per (family, task, method, seed): the source is split 80 / 20 (stratified, ``random_state=seed``); the adapted
model (``config.make_estimator(method, family, seed)``) and the source-only model of the same network
(``make_estimator("source-only", ...)``; with ``--defaults`` both are the estimators' defaults with
``random_state=seed`` only, cached in ``--cache`` + ``_defaults`` and reported to ``--write`` with
``_defaults`` before ``.md``) are fitted on the 80% and the whole unlabelled target;
``check_negative_transfer(adapted, source_only, Xs_val, ys_val, Xt)`` computes its label-free criteria. The truth,
for this report only, uses the target labels: the adapted model's target accuracy is more than 1 point below the
source-only model's (both the models the signal judged). Confusion tables per criterion, per run and per pair
(a pair is truly negative when its mean over seeds is; it is flagged when most of its seeds are).

One process, one torch thread; each run is cached as JSON in ``--cache`` (default
``.negative_transfer_cache/``), so an interrupted run resumes; the cache does not know the configuration, so
after a change of defaults use a fresh ``--cache`` (or delete it). The flags are recomputed from the cached
figures with the check's own rule (``NegativeTransferReport.fired``). The report goes to ``--write`` (default
``docs/results_negative_transfer.md``).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from config import METHODS, REPO, SEEDS, check_task_names, make_estimator

FAMILIES = ("office_caltech", "amazon_reviews")
CRITERIA = ("iwcv", "source", "either")
TOLERANCE = 0.01  # the signal's default, fixed a priori (and the definition of "below source-only")


def default_estimator(method, family, seed):
    """``method``'s estimator (a ``config.METHODS`` name) with its defaults and ``random_state=seed`` only (the
    estimators' own defaults; ``family`` is not used)."""
    return METHODS[method][0](random_state=seed, device="cpu")


def run_one(family, task, method, seed, make=make_estimator):
    import torch
    from sklearn.model_selection import train_test_split

    from skda.datasets import load_task
    from skda.model_selection import check_negative_transfer

    torch.set_num_threads(1)
    Xs, ys, Xt, yt = load_task(task)
    Xs_fit, Xs_val, ys_fit, ys_val = train_test_split(Xs, ys, test_size=0.2, stratify=ys, random_state=seed)
    start = time.perf_counter()
    adapted = make(method, family, seed).fit(Xs_fit, ys_fit, Xt)
    adapted_seconds = time.perf_counter() - start
    start = time.perf_counter()
    source_only = make("source-only", family, seed).fit(Xs_fit, ys_fit, Xt)
    source_only_seconds = time.perf_counter() - start
    start = time.perf_counter()
    report = check_negative_transfer(adapted, source_only, Xs_val, ys_val, Xt, warn=False, random_state=seed)
    check_seconds = time.perf_counter() - start
    return {**_exploratory(adapted, source_only, Xs_val, ys_val, Xt, seed),
        "family": family, "task": task, "method": method, "seed": seed,
        "target_accuracy": {"adapted": float(adapted.score(Xt, yt)), "source_only": float(source_only.score(Xt, yt))},
        "source_accuracy": report.source_accuracy, "iwcv_accuracy": report.iwcv_accuracy,
        "effective_sample_size": report.effective_sample_size, "target_agreement": report.target_agreement,
        "seconds": {"adapted": adapted_seconds, "source_only": source_only_seconds, "check": check_seconds},
    }


def _exploratory(adapted, source_only, Xs_val, ys_val, Xt, seed):
    """Other label-free statistics of both models, recorded to compare criteria (not used by the default signal):
    held-out source log loss, DEV (learned features), target entropy and SND, and the total-variation distance
    of each model's predicted target class histogram from the source class prior."""
    from skda.metrics import deep_embedded_validation, density_ratio, negative_entropy, soft_neighborhood_density

    prior = np.bincount(np.searchsorted(adapted.classes_, ys_val), minlength=len(adapted.classes_)) / len(ys_val)
    out = {key: {} for key in ("source_log_loss", "dev", "target_entropy", "target_snd", "target_prior_tv")}
    for name, model in (("adapted", adapted), ("source_only", source_only)):
        P_val, P_t = model.predict_proba(Xs_val), model.predict_proba(Xt)
        index = np.searchsorted(model.classes_, ys_val)
        out["source_log_loss"][name] = float(-np.log(np.clip(P_val[np.arange(len(index)), index], 1e-6, 1)).mean())
        weights = density_ratio(model.transform(Xs_val), model.transform(Xt), random_state=seed)
        out["dev"][name] = deep_embedded_validation(index, P_val, weights)
        out["target_entropy"][name] = -negative_entropy(P_t)
        out["target_snd"][name] = soft_neighborhood_density(P_t)
        histogram = np.bincount(P_t.argmax(axis=1), minlength=P_t.shape[1]) / len(P_t)
        out["target_prior_tv"][name] = float(0.5 * np.abs(histogram - prior).sum())
    return out


def cache_path(cache, family, task, method, seed):
    return Path(cache) / family / task.replace("->", "_to_") / f"{method}_seed{seed}.json"


def flags(run, criterion, tolerance=TOLERANCE):
    """Whether the check flags this cached run under ``criterion`` (the check's own rule,
    ``NegativeTransferReport.fired``, on the cached figures)."""
    from skda.model_selection import NegativeTransferReport

    report = NegativeTransferReport(flagged=False, source_accuracy=run["source_accuracy"],
                                    iwcv_accuracy=run["iwcv_accuracy"], target_agreement=run["target_agreement"])
    return bool(report.fired(criterion, tolerance))


#: statistic -> (label, sign): the adapted model is worse when sign * (adapted - source_only) > 0
EXPLORATORY = {
    "source_log_loss": ("held-out source log loss (higher)", 1),
    "dev": ("DEV, learned features (lower)", -1),
    "target_entropy": ("target mean entropy (higher)", 1),
    "target_snd": ("target SND (lower)", -1),
    "target_prior_tv": ("predicted target classes vs source prior, total variation (higher)", 1),
}


def _gate(run, tolerance=TOLERANCE):
    return 1.0 - run["target_agreement"] > tolerance


def truly_negative(run, tolerance=TOLERANCE):
    return run["target_accuracy"]["source_only"] - run["target_accuracy"]["adapted"] > tolerance


def confusion(pairs):
    """pairs of (flagged, truly negative) -> markdown table lines and a summary."""
    tp = sum(f and t for f, t in pairs)
    fp = sum(f and not t for f, t in pairs)
    fn = sum(t and not f for f, t in pairs)
    tn = sum(not f and not t for f, t in pairs)
    lines = ["| | truly > 1 point below source-only | not |", "|---|---|---|",
             f"| flagged | {tp} | {fp} |", f"| not flagged | {fn} | {tn} |"]
    recall = f"{tp}/{tp + fn}" + (f" = {tp / (tp + fn):.0%}" if tp + fn else "")
    false_alarm = f"{fp}/{fp + tn}" + (f" = {fp / (fp + tn):.0%}" if fp + tn else "")
    return lines, f"flags {recall} of the truly negative, {false_alarm} of the others"


def report(runs, methods, seeds, configuration="configurations `benchmarks/config.py`"):
    lines = ["# Negative transfer: how often the label-free signal is right", "",
             "Produced by `OMP_NUM_THREADS=1 python benchmarks/bench_negative_transfer.py` "
             f"(methods {list(methods)}, seeds {list(seeds)}; {configuration}). The signal, "
             "`skda.model_selection.check_negative_transfer`, compares the adapted model with the source-only model "
             "of the same network on 20% of the source held out of both fits, without target labels: `iwcv` "
             "flags when the adapted model's importance-weighted held-out source accuracy is more than 1 point below "
             "source-only's (the default), `source` the same with unweighted held-out accuracy, `either` one of "
             "the two. Criteria and tolerance were fixed before this measurement; the target labels are used only "
             "for the truth column (adapted target accuracy more than 1 point below source-only's, for the same "
             "two models, fitted on 80% of the source).", ""]
    pooled = [r for r in runs if r["method"] in methods]
    if len({r["method"] for r in pooled}) > 1:
        lines += ["## All methods pooled", "", "| criterion | per run | per pair |", "|---|---|---|"]
        for criterion in CRITERIA:
            _, run_summary = confusion([(flags(r, criterion), truly_negative(r)) for r in pooled])
            groups = {}
            for r in pooled:
                groups.setdefault((r["method"], r["family"], r["task"]), []).append(r)
            _, pair_summary = confusion([
                (sum(flags(g, criterion) for g in group) * 2 > len(group),
                 np.mean([g["target_accuracy"]["source_only"] - g["target_accuracy"]["adapted"] for g in group])
                 > TOLERANCE) for group in groups.values()])
            lines.append(f"| `{criterion}`{' (default)' if criterion == 'iwcv' else ''} | {run_summary} | "
                         f"{pair_summary} |")
        lines.append("")
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        if not mine:
            continue
        present = {family: sorted({r["seed"] for r in mine if r["family"] == family})
                   for family in dict.fromkeys(r["family"] for r in mine)}
        lines += [f"## {method}", "", f"{len(mine)} runs: " + "; ".join(
            f"{family} {len({r['task'] for r in mine if r['family'] == family})} pairs, seeds {seeds_}"
            for family, seeds_ in present.items()) + ".", ""]
        by_pair = {}
        for r in mine:
            by_pair.setdefault((r["family"], r["task"]), []).append(r)
        for criterion in CRITERIA:
            per_run, run_summary = confusion([(flags(r, criterion), truly_negative(r)) for r in mine])
            pair_cases = []
            for group in by_pair.values():
                drop = np.mean([g["target_accuracy"]["source_only"] - g["target_accuracy"]["adapted"] for g in group])
                votes = sum(flags(g, criterion) for g in group)
                pair_cases.append((votes * 2 > len(group), drop > TOLERANCE))
            per_pair, pair_summary = confusion(pair_cases)
            lines += [f"### criterion `{criterion}`" + (" (default)" if criterion == "iwcv" else ""), "",
                      f"Per run ({len(mine)} runs): {run_summary}.", "", *per_run, "",
                      f"Per pair ({len(by_pair)} pairs; flagged by most seeds; truth on the seed mean): "
                      f"{pair_summary}.", "", *per_pair, ""]
        lines += ["### Other label-free statistics", "",
                  "Recorded in the same runs, not used by the check: each flags (behind the same agreement bound) "
                  "when the adapted model is worse on it than source-only, in the direction its paper gives, with no "
                  "threshold (nothing tuned). Per run:", "",
                  "| statistic (worse when) | flags truly negative | flags the others |", "|---|---|---|"]
        for key, (label, sign) in EXPLORATORY.items():
            cases = [(_gate(r) and sign * (r[key]["adapted"] - r[key]["source_only"]) > 0, truly_negative(r))
                     for r in mine if key in r]
            tp = sum(f and t for f, t in cases)
            fp = sum(f and not t for f, t in cases)
            positives = sum(t for _, t in cases)
            lines.append(f"| {label} | {tp}/{positives} | {fp}/{len(cases) - positives} |")
        lines += ["", "### Per pair", "",
                  "| family | task | target: adapted - source-only | IWCV: adapted - source-only "
                  "| held-out source: adapted - source-only | target agreement | IWCV effective rows | flags "
                  "(iwcv / source) |", "|---|---|---|---|---|---|---|---|"]
        for (family, task), group in by_pair.items():
            def mean_diff(key, group=group):
                return np.mean([g[key]["adapted"] - g[key]["source_only"] for g in group])

            lines.append(
                f"| {family} | {task} | {mean_diff('target_accuracy'):+.3f} | {mean_diff('iwcv_accuracy'):+.3f} | "
                f"{mean_diff('source_accuracy'):+.3f} | {np.mean([g['target_agreement'] for g in group]):.3f} | "
                f"{np.mean([g['effective_sample_size'] for g in group]):.0f} | "
                f"{sum(flags(g, 'iwcv') for g in group)} / {sum(flags(g, 'source') for g in group)} of {len(group)} |")
        null = [(a["target_accuracy"]["source_only"] < b["target_accuracy"]["source_only"] - TOLERANCE)
                for group in by_pair.values() for a in group for b in group if a is not b]
        negatives = sum(truly_negative(r) for r in mine)
        lines += ["", f"How noisy the truth is: {negatives} of {len(mine)} runs are truly negative; among the "
                  f"source-only models alone, one seed's model is more than 1 point below another seed's "
                  f"(different 80% source split and initialisation) in {sum(null)} of {len(null)} ordered pairs of "
                  "seeds of the same task.", ""]
        for family in dict.fromkeys(r["family"] for r in mine):
            fam = [r for r in mine if r["family"] == family]
            diffs = [r["target_accuracy"]["adapted"] - r["target_accuracy"]["source_only"] for r in fam]
            lines.append(f"- {family}: {sum(truly_negative(r) for r in fam)} of {len(fam)} runs truly negative; "
                         f"adapted - source-only target accuracy {np.mean(diffs):+.3f} on average "
                         f"(min {min(diffs):+.3f}, max {max(diffs):+.3f}); "
                         f"iwcv flags {sum(flags(r, 'iwcv') for r in fam)}.")
        seconds = {k: np.median([r["seconds"][k] for r in mine]) for k in ("adapted", "source_only", "check")}
        lines += ["", f"Median seconds per run: adapted fit {seconds['adapted']:.1f}, source-only fit "
                  f"{seconds['source_only']:.1f}, the check itself {seconds['check']:.2f} (CPU, one thread).", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--methods", nargs="+", default=["dann"])
    ap.add_argument("--tasks", nargs="+", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--cache", default=str(REPO / ".negative_transfer_cache"))
    ap.add_argument("--write", default=str(REPO / "docs" / "results_negative_transfer.md"))
    ap.add_argument("--report-only", action="store_true", help="write the report from the cache, train nothing")
    ap.add_argument("--defaults", action="store_true",
                    help="the estimators' defaults (random_state only) instead of the documented configurations")
    args = ap.parse_args(argv)
    check_task_names(ap, args.tasks, args.families)
    make, configuration = make_estimator, "configurations `benchmarks/config.py`"
    if args.defaults:
        make, configuration = default_estimator, "`--defaults`: every estimator with its defaults and random_state"
        args.cache = args.cache.rstrip("/") + "_defaults"
        args.write = args.write[:-len(".md")] + "_defaults.md" if args.write.endswith(".md") else args.write
    from skda.datasets import list_tasks

    plan = [(f, t, m, s) for f in args.families for t in list_tasks(f) if not args.tasks or t in args.tasks
            for s in args.seeds for m in args.methods]
    runs = []
    start = time.perf_counter()
    for i, run in enumerate(plan, 1):
        path = cache_path(args.cache, *run)
        if path.exists():
            runs.append(json.loads(path.read_text()))
            continue
        if args.report_only:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. a collapse warning: the run is still a case
            result = run_one(*run, make=make)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result))
        runs.append(result)
        t = result["target_accuracy"]
        print(f"[{i}/{len(plan)}] {run[1]:22s} {run[2]:8s} seed {run[3]}  target {t['adapted']:.3f} vs "
              f"{t['source_only']:.3f}  iwcv {result['iwcv_accuracy']['adapted']:.3f} vs "
              f"{result['iwcv_accuracy']['source_only']:.3f}  ({time.perf_counter() - start:.0f}s)", flush=True)
    text = report(runs, args.methods, args.seeds, configuration)
    Path(args.write).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
