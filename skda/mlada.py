"""MLA-DA (Yin et al. 2021): DANN plus a dynamic-margin batch-hard triplet loss and target entropy."""

from __future__ import annotations

import torch
from torch import nn

from .dann import DANNClassifier
from .layers import MLP, DANNNetwork, MLPFeatureExtractor
from .losses import batch_hard_triplet_loss, dynamic_margins, entropy_loss
from .params import choices, count, real

__all__ = ["MLADAClassifier", "MLADANetwork"]

MARGIN_MODES = ("dynamic", "dynamic-sum", "constant")


def two_layer_classifier(n_features: int, n_classes: int, hidden: int, dropout: float = 0.5) -> nn.Sequential:
    """The label classifier C of the authors' code (Sec. 4.3: "2-layer neural networks with width 1000"):
    ``Linear(n_features, hidden) - BatchNorm1d - ReLU - Dropout(dropout) - Linear(hidden, n_classes)``."""
    return nn.Sequential(nn.Linear(n_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, n_classes))


class MLADANetwork(DANNNetwork):
    """DANN's F and D (behind the GRL), the label classifier C and the metric generator G: a 2-layer head on
    the features (``n_features -> metric_hidden -> metric_dim``, ReLU between) whose output space the triplet
    loss uses.

    C is :func:`two_layer_classifier` with ``classifier_hidden`` units (Sec. 4.3), or DANN's linear head when
    ``classifier_hidden`` is None.
    """

    def __init__(self, feature_extractor, n_features, n_classes, domain_hidden_sizes="auto",
                 metric_hidden="auto", metric_dim="auto", classifier_hidden=None, classifier_dropout=0.5):
        super().__init__(feature_extractor, n_features, n_classes, domain_hidden_sizes)
        if classifier_hidden is not None:
            self.label_classifier = two_layer_classifier(n_features, n_classes, classifier_hidden,
                                                         classifier_dropout)
        metric_hidden = n_features if metric_hidden == "auto" else metric_hidden
        metric_dim = n_features if metric_dim == "auto" else metric_dim
        self.metric_generator = MLP(n_features, (metric_hidden,), out_features=metric_dim)

    def forward(self, source, target=None):
        out = super().forward(source, target)
        if target is not None:
            out["source_metric"] = self.metric_generator(out["features"][: out["n_source"]])
        return out


class MLADAClassifier(DANNClassifier):
    """Metric-learning-assisted domain adaptation (Yin et al., Neurocomputing 2021).

    Total loss, Eq. 6: ``L_C + L_D + gamma * L_T + lambda * L_E`` where L_C and L_D are DANN's label and
    domain losses (GRL and schedules of :class:`DANNClassifier`), L_T the batch-hard triplet loss Eq. 4 on
    the source samples in the space of the metric generator G (Euclidean distances, per-class margin), and
    L_E the mean prediction entropy of the target samples, Eq. 9.

    Margins, Eq. 5: ``alpha_c = margin + margin_scale * (mean second-largest probability of the batch's
    target samples pseudo-labelled c)``, without gradient; ``margin_mode="dynamic-sum"`` sums instead of
    averaging (the authors' main script), ``"constant"`` uses ``alpha_c = margin`` (the paper's Table 2
    comparison).

    Parameters
    ----------
    gamma : float, default 0.08 (triplet weight); entropy_weight : float, default 0.1 (the paper's lambda)
    margin : float, default 5.0 (alpha_0); margin_scale : float or None, default None (mu = number of classes)
    margin_mode : "dynamic" (default), "dynamic-sum" or "constant"
    metric_hidden, metric_dim : int or "auto", default "auto" (G: 2 layers; "auto": as wide as the features, for
        the cost of a fit, see docs/results_tabular_defaults.md; the authors' code: 1024 and a 1000-d output)
    classifier_hidden : int or None, default None
        None: the label classifier C is DANN's linear head. An int: the paper's C (Sec. 4.3, "2-layer neural
        networks with width 1000"; the authors' code: ``Linear - BatchNorm1d - ReLU - Dropout - Linear``) with
        that many hidden units (the paper: 1000).
    classifier_dropout : float, default 0.5 (dropout of that 2-layer C; unused with the linear head)

    Notes
    -----
    Other parameters: as :class:`DANNClassifier` (same network, optimiser and schedules).

    Deviations: by default the label classifier is DANN's linear head, so that MLA-DA and DANN differ only by
    the added losses (``classifier_hidden=1000`` gives the paper's 2-layer head; on the Office-Caltech SURF
    benchmark it lowers DANN's and MLA-DA's accuracy alike, see docs/results_details.md); losses are batch
    means.
    """

    #: DANN's entries plus what the triplet and entropy terms read: the source rows' metric embedding and the
    #: target rows' logits
    required_outputs = (*DANNClassifier.required_outputs, "source_metric", "target_logits")
    network_parameters = ("domain_hidden_sizes", "metric_hidden", "metric_dim", "classifier_hidden",
                          "classifier_dropout")

    _parameter_constraints = {
        "gamma": [real(0)],
        "entropy_weight": [real(0)],
        "margin": [real(0)],
        "margin_scale": [None, real(0)],
        "margin_mode": [choices(*MARGIN_MODES)],
        "metric_hidden": [count(1), choices("auto")],
        "metric_dim": [count(1), choices("auto")],
        "classifier_hidden": [None, count(1)],
        "classifier_dropout": [real(0, 1, closed="left")],
    }

    def __init__(self, module=MLPFeatureExtractor, *, gamma=0.08, entropy_weight=0.1, margin=5.0, margin_scale=None,
                 margin_mode="dynamic", metric_hidden="auto", metric_dim="auto", classifier_hidden=None,
                 classifier_dropout=0.5, **kwargs):
        super().__init__(module, **kwargs)
        self._store_parameters(locals())

    def build_network(self, feature_extractor, n_features):
        return MLADANetwork(feature_extractor, n_features, len(self.classes_), self.domain_hidden_sizes,
                            self.metric_hidden, self.metric_dim, self.classifier_hidden,
                            self.classifier_dropout)

    def class_margins(self, target_logits: torch.Tensor) -> torch.Tensor:
        """alpha_c for every class c (Eq. 5, or the constant margin)."""
        n_classes = len(self.classes_)
        if self.margin_mode == "constant":
            return torch.full((n_classes,), float(self.margin), device=target_logits.device)
        scale = n_classes if self.margin_scale is None else self.margin_scale
        reduce = "sum" if self.margin_mode == "dynamic-sum" else "mean"
        return dynamic_margins(torch.softmax(target_logits.detach(), dim=1), n_classes, self.margin, scale, reduce)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if "target_logits" not in y_pred:
            return loss
        margins = self.class_margins(y_pred["target_logits"])
        triplet = batch_hard_triplet_loss(y_pred["source_metric"], y_true, margins)
        entropy = entropy_loss(y_pred["target_logits"])
        self.log_metrics(triplet_loss=triplet, entropy_loss=entropy, mean_margin=margins.mean())
        return loss + self.gamma * triplet + self.entropy_weight * entropy
