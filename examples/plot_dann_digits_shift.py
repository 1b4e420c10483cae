"""Train DANN on the embedded digits-shift task and plot its training curves and feature embedding.

    python examples/plot_dann_digits_shift.py [--out DIR]

Writes ``dann_curves.png`` and ``dann_embedding.png`` (PCA of the learned features, source dots and
target crosses coloured by class). Needs matplotlib.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import skda  # noqa: E402
from skda.datasets import load_task  # noqa: E402
from skda.plotting import plot_embedding, plot_training_curves  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="folder for the two PNG files")
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    Xs, ys, Xt, yt = load_task("digits-shift")
    clf = skda.DANNClassifier(max_epochs=args.epochs, random_state=0).fit(Xs, ys, Xt)
    print(f"DANN target accuracy: {clf.score(Xt, yt):.3f}")

    axes = plot_training_curves(clf)
    axes[0].figure.tight_layout()
    axes[0].figure.savefig(out / "dann_curves.png", dpi=100)
    ax, _ = plot_embedding(clf, Xs, ys, Xt, yt)
    ax.figure.savefig(out / "dann_embedding.png", dpi=100)
    plt.close("all")
    print(f"wrote {out / 'dann_curves.png'} and {out / 'dann_embedding.png'}")


if __name__ == "__main__":
    main()
