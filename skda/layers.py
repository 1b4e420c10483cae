"""Network building blocks shared by the skda estimators."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "GradientReversal", "GradientReversalLayer", "LeNetFeatureExtractor", "MLPFeatureExtractor"]


class GradientReversal(torch.autograd.Function):
    """Gradient reversal pseudo-function R_lambda (Ganin & Lempitsky 2015, Eq. 7-8).

    Forward: identity (Eq. 7). Backward: the incoming gradient multiplied by ``-lambda`` (Eq. 8).
    """

    @staticmethod
    def forward(ctx, x, coefficient):
        ctx.coefficient = float(coefficient)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.coefficient, None


class GradientReversalLayer(nn.Module):
    """``nn.Module`` wrapper of :class:`GradientReversal`.

    ``coefficient`` is the paper's lambda. It is a plain attribute, not a parameter: schedules such as
    :class:`skda.optim.GRLCoefficientSchedule` set it before every training step.
    """

    def __init__(self, coefficient: float = 1.0):
        super().__init__()
        self.coefficient = float(coefficient)

    def forward(self, x):
        return GradientReversal.apply(x, self.coefficient)

    def extra_repr(self):
        return f"coefficient={self.coefficient:.4g}"


class MLP(nn.Sequential):
    """Fully connected stack ``in -> hidden... -> out`` with ReLU between layers.

    ``out_features=None`` ends with the last hidden layer's activation (a feature extractor);
    otherwise the last layer is linear without activation (a head that outputs logits).
    """

    def __init__(self, in_features: int, hidden_sizes: Sequence[int] = (), out_features: int | None = None,
                 dropout: float = 0.0):
        layers: list[nn.Module] = []
        width = int(in_features)
        for size in hidden_sizes:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = int(size)
        if out_features is not None:
            layers.append(nn.Linear(width, int(out_features)))
            width = int(out_features)
        super().__init__(*layers)
        self.out_features = width


class MLPFeatureExtractor(MLP):
    """Default feature extractor G_f: an MLP whose input size is inferred from the data at fit.

    Parameters (set them on an estimator as ``module__hidden_sizes=...``, ``module__dropout=...``):

    n_features_in : int
        Number of input features; filled in by the estimator at fit time.
    hidden_sizes : tuple of int, default (256, 256)
        Width of each hidden layer; the last one is the feature dimension.
    dropout : float, default 0.0
        Dropout after every hidden layer.
    """

    def __init__(self, n_features_in: int, hidden_sizes: Sequence[int] = (256, 256), dropout: float = 0.0):
        if len(hidden_sizes) == 0:
            raise ValueError("MLPFeatureExtractor needs at least one hidden layer (hidden_sizes=()).")
        super().__init__(n_features_in, hidden_sizes, None, dropout)

    def forward(self, x):
        if x.ndim != 2:
            raise ValueError(
                f"MLPFeatureExtractor expects 2-D input (n_samples, n_features), got shape {tuple(x.shape)}; "
                "flatten the data or pass a module that accepts it.")
        return super().forward(x)


class LeNetFeatureExtractor(nn.Module):
    """Small LeNet-style CNN feature extractor for grey or colour images.

    ``conv5x5(c1) - ReLU - maxpool2 - conv5x5(c2) - ReLU - maxpool2 - linear(out_features) - ReLU
    [- dropout]`` (same padding). It takes images ``(n, C, H, W)`` or flat rows ``(n, C*H*W)``, which it
    reshapes with ``image_shape``, so it works behind a ``StandardScaler`` in a ``Pipeline``.

    Parameters (as ``module__*`` on an estimator): n_features_in (filled in at fit), image_shape
    (default ``(1, 16, 16)``, the JDA MNIST/USPS digits), channels (default ``(32, 64)``),
    out_features (default 128), dropout (default 0).
    """

    def __init__(self, n_features_in: int | None = None, image_shape: Sequence[int] = (1, 16, 16),
                 channels: Sequence[int] = (32, 64), out_features: int = 128, dropout: float = 0.0):
        super().__init__()
        image_shape = tuple(int(v) for v in image_shape)
        if len(image_shape) == 2:
            image_shape = (1, *image_shape)
        if n_features_in is not None and n_features_in != image_shape[0] * image_shape[1] * image_shape[2]:
            raise ValueError(f"LeNetFeatureExtractor: {n_features_in} input features do not make images of shape "
                             f"{image_shape}; set module__image_shape.")
        self.image_shape = image_shape
        c_in, height, width = image_shape
        c1, c2 = channels
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(c2 * (height // 4) * (width // 4), out_features), nn.ReLU())
        if dropout:
            self.fc.append(nn.Dropout(dropout))

    def forward(self, x):
        if x.ndim != 4:  # flat rows (n, H*W*C) or channel-less images (n, H, W)
            x = x.reshape(len(x), *self.image_shape)
        return self.fc(self.conv(x))
