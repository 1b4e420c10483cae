"""Digits as images through torchvision: a ResNet-18 trained by DANN, and ImageFeatures + DANN in a Pipeline.

Run from the repository root (the data folder is $SKDA_DATA, else ~/skda_data; see skda.datasets); needs
torchvision (pip install skda[vision]):

    SKDA_DATA=../shared/data python examples/torchvision_digits.py [--epochs 3] [--seed 0] [--weights PATH_OR_NAME]

1. The JDA MNIST -> USPS digits (16x16 grey) as images (n, 1, 16, 16) train a torchvision ResNet-18 (random
   initialisation, or --weights; in_channels=1 adapts its first convolution) as the feature extractor of
   DANNClassifier: ``module=TorchvisionBackbone`` with ``module__*`` parameters. With pretrained weights, the
   papers fine-tune the backbone at a tenth of the heads' rate: ``backbone_lr_scale=0.1``.
2. The precomputed-feature workflow: ``ImageFeatures`` (the same ResNet-18, frozen) computes 512-d features,
   then ``StandardScaler`` and a DANN with an MLP adapt on them, one Pipeline in the packed form (target rows
   labelled -1). With random weights these features are a random convolutional projection; with ImageNet
   weights (``--weights DEFAULT`` when online or cached) they are the usual pretrained features.
"""

import argparse
import time

import numpy as np

import skda
from skda.datasets import load_task
from skda.features import ImageFeatures
from skda.nets import TorchvisionBackbone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default=None, help="torchvision weights name (e.g. DEFAULT) or state_dict path")
    args = ap.parse_args()
    Xs, ys, Xt, yt = load_task("mnist->usps")  # per-image standardised rows of 256 pixels
    Xs, Xt = Xs.reshape(-1, 1, 16, 16), Xt.reshape(-1, 1, 16, 16)  # as images (n, C, H, W)

    start = time.perf_counter()
    dann = skda.DANNClassifier(module=TorchvisionBackbone, module__name="resnet18", module__weights=args.weights,
                               module__in_channels=1, backbone_lr_scale=0.1 if args.weights else 1.0,
                               domain_hidden_sizes=(256,), max_epochs=args.epochs, random_state=args.seed)
    dann.fit(Xs, ys, Xt)
    print(f"DANN, ResNet-18 backbone: USPS (target) accuracy {dann.score(Xt, yt):.3f} "
          f"({time.perf_counter() - start:.0f} s)")

    start = time.perf_counter()
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])  # packed form: target rows labelled -1
    pipe = make_pipeline(ImageFeatures("resnet18", weights=args.weights, in_channels=1, batch_size=256),
                         StandardScaler(),
                         skda.DANNClassifier(max_epochs=10 * args.epochs, random_state=args.seed))
    pipe.fit(X, y)
    print(f"ImageFeatures + StandardScaler + DANN: USPS (target) accuracy {pipe.score(Xt, yt):.3f} "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
