"""DANN (Ganin & Lempitsky 2015) and the source-only baseline on the same network."""

from __future__ import annotations


import torch

from .engine import DomainAdaptationNet
from .layers import ClassifierNetwork, DANNNetwork, MLPFeatureExtractor
from .losses import domain_adversarial_loss
from .optim import GRLCoefficientSchedule
from .params import choices, real, sizes

__all__ = ["DANNClassifier", "SourceOnlyClassifier"]


class SourceOnlyClassifier(DomainAdaptationNet):
    """Baseline: the same feature extractor and label classifier as :class:`DANNClassifier`, trained on the
    labelled source data only (plus the labelled target rows of ``yt``, if any), with the same optimiser and
    learning-rate annealing. Unlabelled target data never reaches the network; it only sets the epoch length (an
    epoch is one pass over the larger domain, as for the adaptation methods, so that the baseline takes as many
    steps as they do): ``fit(Xs, ys, Xt)`` and ``fit(Xs, ys)`` differ when ``Xt`` is the larger set. Every
    benchmark compares the adaptation methods with it.

    Parameters are those of :class:`skda.engine.DomainAdaptationNet`; ``fit(X, y)`` needs no target rows.

    In the packed form, rows labelled ``unlabeled_marker`` (default -1) are target rows, as for every skda
    estimator and scikit-learn's semi-supervised ones: on a plain supervised problem where -1 is a real class,
    pass ``unlabeled_marker=None`` (or another marker), else those rows only set the epoch length and
    ``classes_`` lacks -1.
    """

    requires_target = False

    def build_network(self, feature_extractor, n_features):
        return ClassifierNetwork(feature_extractor, n_features, len(self.classes_))


class DANNClassifier(DomainAdaptationNet):
    """Domain-adversarial neural network (Ganin & Lempitsky, ICML 2015).

    Minimises ``CE(G_y(G_f(x_s)), y_s) + BCE(G_d(R_lambda(G_f(x))), d)`` (Eq. 9) by gradient descent (default
    optimiser Adam; the paper's SGD: ``optimizer=skda.MomentumSGD``): the gradient
    reversal layer R_lambda (Eq. 7-8) makes the feature extractor maximise the domain loss while the
    domain classifier minimises it. Each step uses ``batch_size`` source and ``batch_size`` target
    samples (the paper: 64 + 64), passed through G_f together.

    Schedules (skorch callbacks, tunable as ``callbacks__grl_schedule__gamma`` etc.):

    - ``grl_schedule``: lambda_p = ``adversarial_weight`` * (2 / (1 + exp(-10 p)) - 1), Eq. 14;
    - ``lr_annealing``: lr_p = lr / (1 + 10 p) ** 0.75, Appendix C.

    Parameters
    ----------
    module : feature extractor class or instance, default MLPFeatureExtractor (``hidden_sizes="auto"``: one hidden
        layer of ``clip(n_features_in // 4, 32, 256)`` units)
    domain_hidden_sizes : tuple of int or "auto", default "auto"
        Hidden layers of the domain classifier, which ends in ONE logit. ``"auto"``: one hidden layer as wide as
        the features (:func:`skda.layers.auto_domain_hidden_sizes`), so that a DANN fit costs at most about twice
        a source-only fit (docs/results_tabular_defaults.md). The paper's Office architecture is
        ``(1024, 1024)`` (Appendix B), its MNIST net ``(100,)``.
    adversarial_weight : float, default 1.0
        Multiplies the scheduled GRL coefficient (the paper's lambda goes to 1).

    Other Parameters
    ----------------
    **kwargs
        The engine's parameters (:class:`skda.engine.DomainAdaptationNet`): ``optimizer`` (default Adam; the
        paper's SGD with momentum 0.9 is :class:`skda.optim.MomentumSGD`), ``lr`` (default 1e-3, annealed as in
        Appendix C; the paper: 0.01 with SGD), ``max_epochs`` (default "auto": 500 steps), ``batch_size``
        (default 64, per domain), ...

    Notes
    -----

    Deviations from the paper: losses are batch means rather than sums; the label predictor is linear on
    the features (the paper's digit nets have more layers after the bottleneck - put them in ``module``).
    """

    network_parameters = ("domain_hidden_sizes",)

    required_outputs = ("source_logits", "domain_logits", "n_source")
    required_network_methods = ("features", "classify", "gradient_reversal")
    _parameter_constraints = {
        "domain_hidden_sizes": [sizes(), choices("auto")],
        "adversarial_weight": [real(0)],
    }

    def __init__(self, module=MLPFeatureExtractor, *, domain_hidden_sizes="auto", adversarial_weight=1.0,
                 **kwargs):
        super().__init__(module, **kwargs)
        self._store_parameters(locals())

    @property
    def _default_callbacks(self):  # skorch's property for default callbacks (see DomainAdaptationNet)
        return [*super()._default_callbacks, ("grl_schedule", GRLCoefficientSchedule())]

    # The adversarial family (DANN and its subclasses MLA-DA, ILA-DA) owns the gradient reversal layer: its
    # networks have one, ``gradient_reversal`` (between the features and the domain classifier).
    @property
    def gradient_reversal_layers_(self):
        """The gradient reversal layers of ``module_`` (what :class:`skda.optim.GRLCoefficientSchedule` sets)."""
        return [self.module_.gradient_reversal]

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Before training (a skorch ``NeuralNet`` hook): the reversal coefficient starts at
        ``adversarial_weight``, what it stays at without a schedule (``callbacks__grl_schedule=None``); the
        schedule overrides it before every step."""
        super().on_train_begin(net, X=X, y=y, **kwargs)
        for layer in self.gradient_reversal_layers_:
            layer.coefficient = self.adversarial_weight

    def _collapse_hint(self) -> str:
        return "try a smaller adversarial weight or learning rate, or another random_state"

    def build_network(self, feature_extractor, n_features):
        return DANNNetwork(feature_extractor, n_features, len(self.classes_), self.domain_hidden_sizes)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        label_loss = self.criterion_(y_pred["source_logits"], y_true)
        if "domain_logits" not in y_pred:
            return label_loss
        domain_logits = y_pred["domain_logits"]
        domain_loss = domain_adversarial_loss(domain_logits, y_pred["n_source"])
        with torch.no_grad():
            n_source = y_pred["n_source"]
            correct = (domain_logits[:n_source] < 0).sum() + (domain_logits[n_source:] >= 0).sum()
        self.log_metrics(label_loss=label_loss, domain_loss=domain_loss,
                         domain_accuracy=correct.float() / len(domain_logits))
        return label_loss + domain_loss
