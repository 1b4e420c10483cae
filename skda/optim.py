"""Optimiser and training schedules of Ganin & Lempitsky (2015), as skorch callbacks.

Both schedules are functions of the training progress ``p`` in [0, 1] (fraction of the optimisation
steps of the current ``fit`` done so far), which the engine exposes as ``net.training_progress_``.
"""

from __future__ import annotations

import inspect
import math
import numbers

import torch
from skorch.callbacks import Callback

__all__ = [
    "AdversarialAdam",
    "GRLCoefficientSchedule",
    "LRAnnealing",
    "MomentumSGD",
    "annealed_learning_rate",
    "grl_coefficient",
    "takes_foreach",
]


class MomentumSGD(torch.optim.SGD):
    """``torch.optim.SGD`` with momentum 0.9 by default (DANN paper, Appendix C)."""

    def __init__(self, params, lr=0.01, momentum=0.9, **kwargs):
        super().__init__(params, lr=lr, momentum=momentum, **kwargs)


class AdversarialAdam(torch.optim.Adam):
    """``torch.optim.Adam`` with betas (0.5, 0.9) by default, common for adversarial training (the M-ADDA
    authors' code: Adam(1e-4, betas=(0.5, 0.9)))."""

    def __init__(self, params, lr=1e-4, betas=(0.5, 0.9), **kwargs):
        super().__init__(params, lr=lr, betas=betas, **kwargs)


def takes_foreach(optimizer_class) -> bool:
    """Whether ``optimizer_class`` is one of torch's optimisers (a subclass of ``torch.optim.Optimizer``) whose
    constructor accepts ``foreach``: it names it, or it is a subclass that passes ``**kwargs`` on to a torch class
    that names it (as :class:`MomentumSGD` and :class:`AdversarialAdam` do)."""
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
        return False
    for cls in optimizer_class.__mro__:
        if "__init__" not in vars(cls):
            continue
        parameters = inspect.signature(cls.__init__).parameters
        if "foreach" in parameters:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return False
    return False


def _check_non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")


def grl_coefficient(p: float, gamma: float = 10.0) -> float:
    """GRL coefficient schedule, Eq. 14 of Ganin & Lempitsky (2015).

    ``lambda_p = 2 / (1 + exp(-gamma * p)) - 1``; rises from 0 at p = 0 towards 1 (gamma = 10 in the paper).
    """
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def annealed_learning_rate(p: float, lr0: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Learning-rate annealing of Ganin & Lempitsky (2015), Appendix C.

    ``mu_p = mu_0 / (1 + alpha * p) ** beta`` with mu_0 = 0.01, alpha = 10, beta = 0.75 in the paper.
    """
    return lr0 / (1.0 + alpha * p) ** beta


class GRLCoefficientSchedule(Callback):
    """Before each training step, set every gradient reversal layer of the net's module to
    ``net.adversarial_weight * grl_coefficient(p, gamma)`` (Eq. 14).

    ``gamma=None`` disables the schedule: the coefficient is held at ``net.adversarial_weight``.
    """

    def __init__(self, gamma: float | None = 10.0):
        self.gamma = gamma

    def initialize(self):
        # skorch's hook, run when the estimator builds its callbacks (at fit): a bad gamma fails here, named,
        # instead of as a math error inside the first training step
        if self.gamma is not None:
            _check_non_negative("callbacks__grl_schedule__gamma", self.gamma)
        return super().initialize()

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        weight = net.adversarial_weight
        value = weight if self.gamma is None else weight * grl_coefficient(net.training_progress_, self.gamma)
        for layer in net.gradient_reversal_layers_:
            layer.coefficient = value


class LRAnnealing(Callback):
    """Before each training step, set every optimiser parameter group's learning rate to
    ``annealed_learning_rate(p, lr0, alpha, beta)`` (Appendix C), where ``lr0`` is the group's own
    learning rate when the optimiser was created (``net.lr`` unless set per group: ``backbone_lr_scale``,
    ``optimizer__param_groups``), or the rate set since the last step (``set_params(lr=...)`` between fits,
    which the estimator writes into the groups, times each group's ``lr_scale``): a new ``lr0`` for the next
    ``fit`` / ``partial_fit``. Groups keep their ratios at every step."""

    def __init__(self, alpha: float = 10.0, beta: float = 0.75):
        self.alpha = alpha
        self.beta = beta

    def initialize(self):
        # skorch's hook, run when the estimator builds its callbacks (at fit)
        _check_non_negative("callbacks__lr_annealing__alpha", self.alpha)
        _check_non_negative("callbacks__lr_annealing__beta", self.beta)
        return super().initialize()

    def on_train_begin(self, net, **kwargs):
        for group in net.optimizer_.param_groups:
            annealed = group.get("skda_annealed_lr")
            if annealed is not None and group["lr"] != annealed:  # changed by the user since our last step
                group["initial_lr"] = group["lr"]

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        p = net.training_progress_
        for group in net.optimizer_.param_groups:
            lr0 = group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["skda_annealed_lr"] = annealed_learning_rate(p, lr0, self.alpha, self.beta)
