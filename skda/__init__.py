"""skda: scikit-learn-compatible deep domain adaptation.

Fit on labelled source data and unlabelled target data, predict on the target::

    clf = skda.DANNClassifier(random_state=0).fit(Xs, ys, Xt)
    clf.predict(Xt_new)

The names below are imported on first use (PEP 562), so ``import skda`` and ``python -m skda --help`` do not
load torch; ``skda.DANNClassifier`` imports :mod:`skda.dann` (and torch) when first touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> the submodule that defines it
_NAMES = {
    "ActiveLearningRoundError": "active",
    "ActiveSelector": "active",
    "active_learning_loop": "active",
    "DANNClassifier": "dann",
    "DeepCORALClassifier": "coral",
    "SourceOnlyClassifier": "dann",
    "ClassBalancedBatchSampler": "engine",
    "DomainAdaptationNet": "engine",
    "PairedBatchSampler": "engine",
    "ImageFeatures": "features",
    "ILADAClassifier": "ilada",
    "GradientReversalLayer": "layers",
    "LeNetFeatureExtractor": "layers",
    "MLPFeatureExtractor": "layers",
    "MADDAClassifier": "madda",
    "MLADAClassifier": "mlada",
    "TorchvisionBackbone": "nets",
    "AdversarialAdam": "optim",
    "GRLCoefficientSchedule": "optim",
    "LRAnnealing": "optim",
    "MomentumSGD": "optim",
    "SourceClassifier": "preprocessing",
    "annealed_learning_rate": "optim",
    "grl_coefficient": "optim",
}
_SUBMODULES = ("active", "callbacks", "coral", "datasets", "engine", "features", "images", "layers", "losses",
               "metrics", "model_selection", "nets", "optim", "plotting", "preprocessing", "sampling", "validation")

__all__ = sorted([*_NAMES, *_SUBMODULES, "__version__"])


def __getattr__(name):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what the lazy names are, for type checkers and documentation tools
    from . import (active, callbacks, coral, datasets, engine, features, images, layers, losses,  # noqa: F401
                   metrics, model_selection, nets, optim, plotting, preprocessing, sampling, validation)
    from .active import ActiveLearningRoundError, ActiveSelector, active_learning_loop  # noqa: F401
    from .coral import DeepCORALClassifier  # noqa: F401
    from .dann import DANNClassifier, SourceOnlyClassifier  # noqa: F401
    from .engine import ClassBalancedBatchSampler, DomainAdaptationNet, PairedBatchSampler  # noqa: F401
    from .features import ImageFeatures  # noqa: F401
    from .ilada import ILADAClassifier  # noqa: F401
    from .layers import GradientReversalLayer, LeNetFeatureExtractor, MLPFeatureExtractor  # noqa: F401
    from .madda import MADDAClassifier  # noqa: F401
    from .mlada import MLADAClassifier  # noqa: F401
    from .nets import TorchvisionBackbone  # noqa: F401
    from .optim import (AdversarialAdam, GRLCoefficientSchedule, LRAnnealing, MomentumSGD,  # noqa: F401
                        annealed_learning_rate, grl_coefficient)
    from .preprocessing import SourceClassifier  # noqa: F401
