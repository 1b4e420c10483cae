"""skda: scikit-learn-compatible deep domain adaptation.

Fit on labelled source data and unlabelled target data, predict on the target::

    clf = skda.DANNClassifier(random_state=0).fit(Xs, ys, Xt)
    clf.predict(Xt_new)
"""

from . import callbacks, datasets, metrics, model_selection, plotting
from .active import ActiveSelector, active_learning_loop
from .dann import DANNClassifier, SourceOnlyClassifier
from .engine import ClassBalancedBatchSampler, DomainAdaptationNet, PairedBatchSampler
from .ilada import ILADAClassifier
from .layers import GradientReversalLayer, LeNetFeatureExtractor, MLPFeatureExtractor
from .madda import MADDAClassifier
from .mlada import MLADAClassifier
from .optim import (AdversarialAdam, GRLCoefficientSchedule, LRAnnealing, MomentumSGD, annealed_learning_rate,
                    grl_coefficient)

__version__ = "0.1.0"

__all__ = [
    "ActiveSelector",
    "AdversarialAdam",
    "ClassBalancedBatchSampler",
    "DANNClassifier",
    "DomainAdaptationNet",
    "GRLCoefficientSchedule",
    "GradientReversalLayer",
    "ILADAClassifier",
    "LRAnnealing",
    "LeNetFeatureExtractor",
    "MADDAClassifier",
    "MLADAClassifier",
    "MLPFeatureExtractor",
    "MomentumSGD",
    "PairedBatchSampler",
    "SourceOnlyClassifier",
    "__version__",
    "active_learning_loop",
    "annealed_learning_rate",
    "callbacks",
    "datasets",
    "grl_coefficient",
    "metrics",
    "model_selection",
    "plotting",
]
