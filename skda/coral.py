"""Deep CORAL (Sun & Saenko, ECCV 2016 workshops): align the second-order statistics of the source and target
features inside the network."""

from __future__ import annotations

import torch

from .engine import DomainAdaptationNet
from .layers import ClassifierNetwork, MLPFeatureExtractor
from .params import real

__all__ = ["CORALNetwork", "DeepCORALClassifier", "coral_loss"]


def coral_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The CORAL loss, Eq. 1 of the paper: ``||C_S - C_T||_F^2 / (4 d^2)`` where ``C_S``, ``C_T`` are the
    (unbiased, ``n - 1``) covariance matrices of the source and target features (Eq. 2-3), ``d`` their
    dimension. Each domain needs at least 2 rows (``ValueError`` otherwise: a covariance of 1 row is undefined)."""
    if len(source) < 2 or len(target) < 2:
        raise ValueError(f"the CORAL loss needs at least 2 rows of each domain to estimate a covariance, got "
                         f"{len(source)} source and {len(target)} target rows (a batch_size of at least 2).")
    d = source.shape[1]

    def covariance(x):
        centred = x - x.mean(dim=0, keepdim=True)
        return centred.T @ centred / (len(x) - 1)

    return (covariance(source) - covariance(target)).pow(2).sum() / (4 * d * d)


class CORALNetwork(ClassifierNetwork):
    """G_f and the linear label classifier G_y; a paired batch goes through the network together and the output
    holds the class scores of both domains for the CORAL term."""

    def forward(self, source, target=None):
        if target is None:
            return super().forward(source)
        logits = self.classify(self.features(torch.cat([source, target])))
        n_source = len(source)
        return {"source_logits": logits[:n_source], "target_logits": logits[n_source:], "n_source": n_source}


class DeepCORALClassifier(DomainAdaptationNet):
    """Deep CORAL: minimises ``CE(z_s, y_s) + coral_weight * CORAL(z_s, z_t)`` (Eq. 5 of the paper, one CORAL
    term on the class scores z = G_y(G_f(x)) of both domains, the paper's fc8), with the engine's paired batches
    and the learning-rate annealing of :class:`skda.DANNClassifier`.

    Parameters
    ----------
    module : feature extractor class or instance, default MLPFeatureExtractor (``hidden_sizes="auto"``)
    coral_weight : float, default 1.0
        lambda of Eq. 5 (the paper picks it so that both terms are of the same size at the end of training).

    Notes
    -----
    Other parameters: see :class:`skda.engine.DomainAdaptationNet`. The covariance of a batch needs 2 rows of
    each domain.
    """

    required_outputs = ("source_logits", "target_logits")
    _parameter_constraints = {"coral_weight": [real(0)]}

    def __init__(self, module=MLPFeatureExtractor, *, coral_weight=1.0, **kwargs):
        super().__init__(module, **kwargs)
        self._store_parameters(locals())

    def _validate_for_fit(self, X, y, X_target, min_classes=2, target_labels=None):
        """The engine's validation, and at least 2 target rows: a batch repeating one row has a zero covariance."""
        Xs, ys, Xt, state = super()._validate_for_fit(X, y, X_target, min_classes=min_classes,
                                                      target_labels=target_labels)
        if Xt is not None and len(Xt) < 2:
            raise ValueError(f"DeepCORALClassifier needs at least 2 target rows, got {len(Xt)}: the CORAL loss "
                             "(Eq. 5) compares the covariances of source and target batches, and one row has none.")
        return Xs, ys, Xt, state

    def build_network(self, feature_extractor, n_features):
        return CORALNetwork(feature_extractor, n_features, len(self.classes_))

    def get_loss(self, y_pred, y_true, X=None, training=False):
        label_loss = self.criterion_(y_pred["source_logits"], y_true)
        if "target_logits" not in y_pred:
            return label_loss
        alignment = coral_loss(y_pred["source_logits"], y_pred["target_logits"])
        self.log_metrics(label_loss=label_loss, coral_loss=alignment)
        return label_loss + self.coral_weight * alignment
