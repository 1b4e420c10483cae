"""Network building blocks shared by the skda estimators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import TypedDict

import torch
from torch import nn

from .params import is_layer_sizes

__all__ = ["MLP", "CDANNetwork", "ClassifierNetwork", "DANNNetwork", "GradientReversal", "GradientReversalLayer",
           "LeNetFeatureExtractor", "MLPFeatureExtractor", "NetworkOutput", "check_network_output",
           "auto_domain_hidden_sizes", "auto_hidden_sizes", "conditional_adversarial_input"]


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


def auto_hidden_sizes(n_features_in: int) -> tuple[int]:
    """The ``hidden_sizes="auto"`` rule of :class:`MLPFeatureExtractor`: ONE hidden layer of
    ``clip(n_features_in // 4, 32, 256)`` units (800 SURF features: 200; 400 review features: 100; 64 pixels: 32).
    Chosen on source validation accuracy alone (docs/results_tabular_defaults.md): on the tabular families it beat
    the former two layers of 256 units and widths ``n_features_in // 2`` and ``// 8``."""
    return (int(min(256, max(32, int(n_features_in) // 4))),)


def auto_domain_hidden_sizes(n_features: int) -> tuple[int]:
    """The ``domain_hidden_sizes="auto"`` rule of the adversarial methods: ONE hidden layer as wide as the features
    it sees (``n_features``), so that the domain classifier costs no more than the feature extractor (the former
    1024-1024 default was most of each DANN step on tabular data: 6x the source-only fit). CDAN's discriminator,
    which sees ``n_features * n_classes`` inputs, takes the width of the features too."""
    return (int(n_features),)


class MLPFeatureExtractor(MLP):
    """Default feature extractor G_f: an MLP whose input size is inferred from the data at fit.

    Parameters (set them on an estimator as ``module__hidden_sizes=...``, ``module__dropout=...``):

    n_features_in : int
        Number of input features; filled in by the estimator at fit time.
    hidden_sizes : tuple of int or "auto", default "auto"
        Width of each hidden layer; the last one is the feature dimension. ``"auto"``: one hidden layer of
        ``clip(n_features_in // 4, 32, 256)`` units (:func:`auto_hidden_sizes`).
    dropout : float, default 0.0
        Dropout after every hidden layer.
    """

    def __init__(self, n_features_in: int, hidden_sizes: Sequence[int] | str = "auto", dropout: float = 0.0):
        if isinstance(hidden_sizes, str):
            if hidden_sizes != "auto":
                raise ValueError(f"hidden_sizes must be a tuple of ints or 'auto', got {hidden_sizes!r}.")
            hidden_sizes = auto_hidden_sizes(n_features_in)
        if not is_layer_sizes(hidden_sizes):  # a width of 0 trained a constant model; a negative one failed in torch
            raise ValueError(f"hidden_sizes must be a tuple of ints >= 1 or 'auto', got {hidden_sizes!r}"
                             + (f" (one layer: ({hidden_sizes},))." if isinstance(hidden_sizes, Integral) else "."))
        if len(hidden_sizes) == 0:
            raise ValueError("MLPFeatureExtractor needs at least one hidden layer (hidden_sizes=()).")
        if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}.")
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
        # checked here, as MLPFeatureExtractor checks its own: out_features=0 or dropout=1 trained a constant model,
        # other bad values failed inside torch
        for name, value, lengths in (("image_shape", image_shape, (2, 3)), ("channels", channels, (2,))):
            if not is_layer_sizes(value) or len(value) not in lengths:
                raise ValueError(f"LeNetFeatureExtractor: {name} must be {' or '.join(map(str, lengths))} ints >= 1, "
                                 f"got {value!r}.")
        if isinstance(out_features, bool) or not isinstance(out_features, Integral) or out_features < 1:
            raise ValueError(f"LeNetFeatureExtractor: out_features must be an int >= 1, got {out_features!r}.")
        if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout < 1:
            raise ValueError(f"LeNetFeatureExtractor: dropout must be a number in [0, 1), got {dropout!r}.")
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


class NetworkOutput(TypedDict, total=False):
    """The contract of a method's network: ``forward(source, target=None)`` returns a dict of these entries
    (a method reads the ones it lists in ``required_outputs``; methods may add their own, e.g. M-ADDA's
    embeddings). Besides ``forward``, predict and transform call the network's ``features(x)`` (the learned
    features, flattened) and ``classify(features)`` (the label logits).

    - ``source_logits``: label logits of the source rows, shape (n_source, n_classes);
    - ``target_logits``: label logits of the target rows (when a target batch is given);
    - ``domain_logits``: one domain logit per row, source rows first (adversarial methods);
    - ``features``: the features of the source and target rows, source first;
    - ``n_source``: the number of source rows in the batch.
    """

    source_logits: torch.Tensor
    target_logits: torch.Tensor
    domain_logits: torch.Tensor
    features: torch.Tensor
    n_source: int


def check_network_output(output, required, network_name: str) -> None:
    """Refuse, with a clear error, a network whose ``forward`` breaks the contract (:class:`NetworkOutput`):
    not a dict, or without the ``required`` entries. The engine checks the first training step of each fit."""
    if not isinstance(output, Mapping):
        raise TypeError(f"{network_name}.forward(source, target) must return a dict (skda.layers.NetworkOutput), "
                        f"got {type(output).__name__}.")
    missing = [key for key in required if key not in output]
    if missing:
        raise KeyError(f"{network_name}.forward(source, target) returned the entries {sorted(output)}; this method "
                       f"needs {list(required)} (missing {missing}; see skda.layers.NetworkOutput).")


def _domain_sizes(domain_hidden_sizes, n_inputs):
    return auto_domain_hidden_sizes(n_inputs) if domain_hidden_sizes == "auto" else domain_hidden_sizes


# ---------------------------------------------------------------- networks shared by the methods
def conditional_adversarial_input(features: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The multilinear conditioning of CDAN (Long et al. 2018): the flattened outer product ``f (x) g`` of each
    sample's features f (n, d) and softmax prediction g (n, c), shape (n, d * c), the domain discriminator's
    input. ``g`` is detached (as in the CDAN authors' code): the adversarial gradient reaches the features
    only."""
    g = torch.softmax(logits.detach(), dim=1)
    return torch.bmm(g.unsqueeze(2), features.unsqueeze(1)).flatten(1)


class ClassifierNetwork(nn.Module):
    """Feature extractor G_f followed by a linear label classifier G_y (no adaptation)."""

    def __init__(self, feature_extractor: nn.Module, n_features: int, n_classes: int):
        super().__init__()
        self.feature_extractor = feature_extractor
        self.label_classifier = nn.Linear(n_features, n_classes)

    def features(self, x):
        return self.feature_extractor(x).flatten(1)

    def classify(self, features):
        return self.label_classifier(features)

    def forward(self, source, target=None):
        return {"source_logits": self.classify(self.features(source))}


class DANNNetwork(ClassifierNetwork):
    """G_f, G_y and the domain classifier G_d behind a gradient reversal layer (Fig. 1 of the paper).

    G_d is an MLP ``n_features -> domain_hidden_sizes... -> 1``: ONE logit for a sigmoid/BCE loss;
    ``domain_hidden_sizes="auto"``: one hidden layer as wide as its input (:func:`auto_domain_hidden_sizes`).
    """

    def __init__(self, feature_extractor: nn.Module, n_features: int, n_classes: int,
                 domain_hidden_sizes: Sequence[int] | str = "auto"):
        super().__init__(feature_extractor, n_features, n_classes)
        self.gradient_reversal = GradientReversalLayer(0.0)
        self.domain_classifier = MLP(n_features, _domain_sizes(domain_hidden_sizes, n_features), out_features=1)

    def domain_input(self, features, logits):
        """What G_d sees (behind the GRL): the features (DANN). Conditional variants override this."""
        return features

    def forward(self, source, target=None):
        if target is None:
            return super().forward(source)
        features = self.features(torch.cat([source, target]))
        n_source = len(source)
        logits = self.classify(features)
        domain_input = self.domain_input(features, logits)
        return {
            "source_logits": logits[:n_source],
            "target_logits": logits[n_source:],
            "domain_logits": self.domain_classifier(self.gradient_reversal(domain_input)).squeeze(1),
            "features": features,
            "n_source": n_source,
        }


class CDANNetwork(DANNNetwork):
    """Conditional adversarial network (CDAN, Long et al. 2018): DANN's G_f and G_y, with a domain
    discriminator (behind the GRL) on the outer product of features and (detached) softmax predictions,
    ``n_features * n_classes -> domain_hidden_sizes... -> 1`` (``"auto"``: one hidden layer of ``n_features``
    units)."""

    def __init__(self, feature_extractor: nn.Module, n_features: int, n_classes: int,
                 domain_hidden_sizes="auto"):
        super().__init__(feature_extractor, n_features, n_classes, domain_hidden_sizes)
        # "auto": as wide as the features (not as the d * c inputs: a (d c) x (d c) layer would be 277M weights for
        # 256 features and 65 classes), so the discriminator costs about c feature-sized layers
        self.domain_classifier = MLP(n_features * n_classes, _domain_sizes(domain_hidden_sizes, n_features),
                                     out_features=1)

    def domain_input(self, features, logits):
        return conditional_adversarial_input(features, logits)
