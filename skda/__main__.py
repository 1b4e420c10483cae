"""Command line: ``python -m skda demo`` (or the ``skda`` console script)."""

from __future__ import annotations

import argparse
import sys
import time


def demo(epochs: int = 60, seed: int = 0, verbose: bool = True) -> dict:
    """Train source-only and DANN on the embedded digits shift and return their target accuracies.

    Uses the packed convention: source rows labelled, target rows marked -1, in a ``Pipeline`` whose
    ``StandardScaler`` is fitted on both domains. Target labels are used only for the final score.
    """
    import numpy as np
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import DANNClassifier, SourceOnlyClassifier
    from .callbacks import TrainingProgress
    from .datasets import make_digits_shift

    Xs, ys, Xt, yt = make_digits_shift()
    X = np.vstack([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    if verbose:
        print(f"Embedded task 'digits-shift': {len(Xs)} labelled source digits (8x8), {len(Xt)} unlabelled "
              "target digits rotated by 20 degrees.")
    results = {}
    for name, cls in [("source-only", SourceOnlyClassifier), ("DANN", DANNClassifier)]:
        callbacks = [TrainingProgress(label=f"{name:>11}")] if verbose else None
        model = make_pipeline(StandardScaler(), cls(max_epochs=epochs, random_state=seed, callbacks=callbacks))
        start = time.perf_counter()
        model.fit(X, y)
        results[name] = float((model.predict(Xt) == yt).mean())
        if verbose:
            print(f"{name:>11}: target accuracy {results[name]:.3f}  ({time.perf_counter() - start:.1f}s)")
    if verbose:
        gain = results["DANN"] - results["source-only"]
        print(f"DANN - source-only: {100 * gain:+.1f} points on the target domain.")
    return results


def main(argv=None) -> int:
    """The ``skda`` command. Imports torch only for a command that trains (``--help`` and ``--version`` are
    instant)."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="skda", description="scikit-learn-compatible deep domain adaptation")
    parser.add_argument("--version", action="version", version=f"skda {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p_demo = sub.add_parser(
        "demo", help="source-only vs DANN on the embedded digits shift (no download)",
        description="Train a source-only baseline and DANN on half of scikit-learn's 8x8 digits (source) and the "
                    "other half rotated by 20 degrees (target, labels used only to score), and print both target "
                    "accuracies.")
    p_demo.add_argument("--epochs", type=int, default=60, help="training epochs of each model (default: 60)")
    p_demo.add_argument("--seed", type=int, default=0, help="random_state of both models (default: 0)")
    args = parser.parse_args(argv)
    if args.command == "demo" and args.epochs < 1:
        p_demo.error(f"--epochs must be >= 1, got {args.epochs}.")
    if args.command == "demo" and not 0 <= args.seed < 2**32:
        p_demo.error(f"--seed must be in [0, 2**32 - 1], got {args.seed}.")
    if args.command == "demo":
        demo(epochs=args.epochs, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
