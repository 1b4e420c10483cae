"""The tiny configuration of every estimator, shared by the tests: one line per estimator in ``ESTIMATORS``.

A test builds an estimator with ``make(name, **overrides)`` (a fresh, unfitted instance: the tiny network below
plus the method's own tiny parameters, then ``overrides`` on top) or iterates ``NAMES`` to cover every
estimator. Adding an estimator to skda means adding its line here; the files that iterate ``NAMES``
(tests/test_api.py, test_ecosystem.py, test_engine.py, test_estimator_checks.py, test_persistence.py,
test_property.py, test_cuda.py, test_validation.py) then cover it.

tests/test_golden.py keeps its own configuration: its values are recorded in tests/data/golden.npz, so a change
here must not change them; it checks that it records every class listed here.
"""

from __future__ import annotations

from typing import NamedTuple

import skda
import skda.optim

#: the network and training size every tiny configuration starts from (a method's line may change them); the
#: tiny configurations train with SGD (momentum 0.9) at 0.01, the engine's default before the tabular recipe
#: (Adam 1e-3): tests that make training diverge with a huge learning rate need a plain gradient step
NETWORK = dict(max_epochs=3, batch_size=32, module__hidden_sizes=(16,), optimizer=skda.optim.MomentumSGD, lr=0.01)
#: the domain classifier of the gradient-reversal methods
DOMAIN = dict(domain_hidden_sizes=(16,))


class Tiny(NamedTuple):
    cls: type
    #: the method's own tiny parameters, on top of NETWORK
    params: dict
    #: a parameter and two values a hyper-parameter search can try on it (tests/test_ecosystem.py)
    search: tuple


ESTIMATORS = {
    "source-only": Tiny(skda.SourceOnlyClassifier, {}, ("lr", [0.01, 0.05])),
    "dann": Tiny(skda.DANNClassifier, DOMAIN, ("adversarial_weight", [0.5, 1.0])),
    "madda": Tiny(skda.MADDAClassifier, dict(max_epochs=2, source_epochs=2, embedding_dim=8,
                                             discriminator_hidden_sizes=(8,), optimizer=skda.optim.AdversarialAdam,
                                             lr=1e-4), ("n_neighbors", [1, 3])),
    "mlada": Tiny(skda.MLADAClassifier, dict(DOMAIN, metric_hidden=8, metric_dim=4), ("gamma", [0.0, 0.08])),
    "ilada": Tiny(skda.ILADAClassifier, DOMAIN, ("mu", [0.5, 0.75])),
    "ilada-cdan": Tiny(skda.ILADAClassifier, dict(DOMAIN, base="cdan"), ("msc_weight", [0.5, 1.0])),
    "active": Tiny(skda.ActiveSelector, {}, ("strategy", ["margin", "sdm-ag"])),
    "deep-coral": Tiny(skda.DeepCORALClassifier, dict(lr=0.01), ("coral_weight", [0.5, 1.0])),
}
NAMES = list(ESTIMATORS)
#: every estimator class, once (in ESTIMATORS' order)
CLASSES = list(dict.fromkeys(entry.cls for entry in ESTIMATORS.values()))


def name_of(cls):
    """The first ``ESTIMATORS`` name whose class is ``cls``."""
    return next(name for name, entry in ESTIMATORS.items() if entry.cls is cls)


def params(name, **overrides):
    """The tiny parameters of ``name`` (a name of ``ESTIMATORS`` or an estimator class), ``overrides`` on top."""
    if isinstance(name, type):
        name = name_of(name)
    return {**NETWORK, **ESTIMATORS[name].params, **overrides}


def make(name, **overrides):
    """A fresh tiny estimator: ``make("dann", random_state=0)``; ``name`` may also be an estimator class."""
    cls = name if isinstance(name, type) else ESTIMATORS[name].cls
    return cls(**params(name, **overrides))
