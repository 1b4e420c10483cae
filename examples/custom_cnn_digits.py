"""Plug a custom torch CNN into DANNClassifier: MNIST -> USPS (16x16 digits, JDA files).

Run from the repository root (the data folder is $SKDA_DATA, else ~/skda_data; see skda.datasets):

    SKDA_DATA=../shared/data python examples/custom_cnn_digits.py [--epochs 30] [--seed 0]

The feature extractor below is an ordinary ``torch.nn.Module``. skda builds it at fit (passing the
``module__*`` parameters), finds its output size with one forward pass, and adds the label classifier
and the domain classifier behind a gradient reversal layer. The estimator receives flat rows (256
values), so the same model also works behind a scikit-learn ``StandardScaler``; the CNN reshapes them.
"""

import argparse

from torch import nn

import skda
from skda.datasets import load_task


class SmallDigitCNN(nn.Module):
    """conv(32) - pool - conv(64) - pool - fc(width): a LeNet-like extractor for 16x16 grey digits."""

    def __init__(self, width=128):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Unflatten(1, (1, 16, 16)),
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, width), nn.ReLU())

    def forward(self, x):
        return self.layers(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    Xs, ys, Xt, yt = load_task("mnist->usps")  # per-image standardised rows of 256 pixels
    for name, cls in [("source-only", skda.SourceOnlyClassifier), ("DANN", skda.DANNClassifier)]:
        clf = cls(module=SmallDigitCNN, module__width=128, max_epochs=args.epochs, random_state=args.seed)
        clf.fit(Xs, ys, Xt)
        n_out = clf.transform(Xt[:1]).shape[1]
        print(f"{name:>11}: USPS (target) accuracy {clf.score(Xt, yt):.3f}, {n_out}-d features")


if __name__ == "__main__":
    main()
