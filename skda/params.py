"""Hyper-parameter checks of the skda estimators, in scikit-learn's ``_parameter_constraints`` style.

Every estimator class holds a class attribute ``_parameter_constraints``: a dict ``{parameter: [constraint, ...]}``
of the parameters *that class adds* (a value is valid when it satisfies one constraint of its list; the
constraint objects are scikit-learn's, ``sklearn.utils._param_validation``). :func:`parameter_constraints`
merges the dicts along the class's MRO (a subclass may tighten a parent's entry by naming it again), and
:func:`check_parameters` validates the estimator's current values with scikit-learn's
``validate_parameter_constraints``. The engine calls it before every ``fit`` and ``partial_fit`` (not in
``__init__``, the scikit-learn convention), so a value changed by ``set_params`` is checked too; a bad value
raises ``sklearn.utils._param_validation.InvalidParameterError`` (a ``ValueError`` *and* a ``TypeError``)
naming the parameter and the estimator, before any data is looked at and any network is built.

Differences from scikit-learn's own constraints, all stricter:

- numbers (:func:`count`, :func:`real`) refuse booleans (``lr=True`` is not a learning rate);
- an unbounded end of a real range is open, so ``inf`` is refused (as is NaN, by scikit-learn's ``Interval``).

skorch parameters that skda's training loop does not use (``iterator_train``, ``iterator_valid``, ``dataset``,
``predict_nonlinearity`` and their ``__*`` values) must keep their defaults: :func:`check_unused_skorch_parameters`
refuses any other value by name instead of ignoring it. ``use_caching`` and the routed ``module__*``,
``optimizer__*``, ``criterion__*``, ``callbacks__*`` values are checked by skorch as for any ``NeuralNet`` (see
:data:`UNCHECKED_PARAMETERS`).
"""

from __future__ import annotations

import inspect
from numbers import Integral, Real

import numpy as np
import torch
# scikit-learn's private parameter-validation module (the one its own estimators use; checked with 1.6-1.9): there is
# no public API for constraint tables
from sklearn.utils._param_validation import Interval, Options, StrOptions, validate_parameter_constraints

__all__ = ["UNCHECKED_PARAMETERS", "Predicate", "check_marker", "check_parameters", "check_unused_skorch_parameters",
           "choices", "count", "device_constraint", "marker_constraint", "parameter_constraints", "real", "sizes"]

#: skorch's own parameters that no constraint table names. skda's training loop draws its own batches from tensors
#: and predicts with its own ``predict_proba``, so ``iterator_train``, ``iterator_valid``, ``dataset`` and
#: ``predict_nonlinearity`` are unused: :func:`check_unused_skorch_parameters` refuses values other than skorch's
#: defaults; skorch checks ``use_caching`` when the network is initialised (before training).
UNCHECKED_PARAMETERS = ("iterator_train", "iterator_valid", "dataset", "predict_nonlinearity", "use_caching")

#: why each unused skorch parameter has no effect in skda, and what to use instead
_UNUSED_SKORCH = {
    "iterator_train": "skda draws paired source/target index batches itself (images and files stream through its "
                      "own DataLoader); set batch_size, data_placement, num_workers, or a method's batch_sampler",
    "iterator_valid": "the source validation split (train_split) is scored in chunks from tensors (no DataLoader)",
    "dataset": "skda validates X itself and trains on tensors (no skorch Dataset)",
    "predict_nonlinearity": "predict_proba is the softmax of the label classifier (M-ADDA: its kNN vote shares)",
}


def check_unused_skorch_parameters(estimator) -> None:
    """Refuse, naming it, a skorch parameter that skda's training loop does not use (``iterator_train``,
    ``iterator_valid``, ``dataset``, ``predict_nonlinearity`` or one of their ``__*`` values) set to anything
    but skorch's default: ignoring it would be a silent surprise. ``TypeError``."""
    from skorch import NeuralNet

    signature = inspect.signature(NeuralNet.__init__).parameters
    params = estimator.get_params(deep=False)
    for name, why in _UNUSED_SKORCH.items():
        default = signature[name].default
        value = params.get(name, default)
        changed = value is not default and not (isinstance(value, str) and value == default)
        routed = sorted(k for k in params if k.startswith(name + "__"))
        if changed or routed:
            shown = f"{name}={value!r}" if changed else ", ".join(routed)
            raise TypeError(f"{type(estimator).__name__} does not use skorch's {name} ({shown} was given): {why}. "
                            f"Leave {name} at its default.")


class _Number(Interval):
    """scikit-learn's ``Interval`` that refuses booleans (``True`` is an ``Integral`` for Python), with an
    optional description for the error message."""

    def __init__(self, *args, description=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.description = description

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)

    def __str__(self):
        return self.description or super().__str__()


def count(minimum: int, maximum: int | None = None) -> Interval:
    """An int (Python or numpy, not a bool) ``>= minimum`` (and ``<= maximum`` when given): epochs, sizes,
    neighbours, steps, seeds."""
    return _Number(Integral, minimum, maximum, closed="left" if maximum is None else "both")


def real(low, high=None, closed="left", description=None) -> Interval:
    """A finite real number (int or float, not a bool, not NaN) in the range ``low .. high`` (None: unbounded,
    an open end, so ``inf`` is refused); ``closed`` as in ``Interval``: "left", "right", "both", "neither"."""
    if (high is None and closed in ("right", "both")) or (low is None and closed in ("left", "both")):
        raise ValueError("an unbounded end is open (inf is refused): close only a bounded end.")
    return _Number(Real, low, high, closed=closed, description=description)


class _Choices(StrOptions):
    """scikit-learn's ``StrOptions`` listing the options in the order given (a set prints in an order that changes
    from one Python process to the next)."""

    def __init__(self, options):
        super().__init__(set(options))
        self.ordered = tuple(options)

    def __str__(self):
        return f"a str among {{{', '.join(repr(o) for o in self.ordered)}}}"


def choices(*options: str) -> StrOptions:
    """One of the strings ``options`` (listed in this order in the error message)."""
    return _Choices(options)


class Predicate(Options):
    """A constraint given by a test and the words that describe it in the error message.

    (A subclass of ``Options`` only because scikit-learn's ``make_constraint`` takes no other custom
    constraint object.)"""

    def __init__(self, test, description: str):
        super().__init__(object, set())
        self.test = test
        self.description = description

    def is_satisfied_by(self, val):
        try:
            return bool(self.test(val))
        except Exception:  # noqa: BLE001 - a value the test cannot handle does not satisfy it
            return False

    def __str__(self):
        return self.description


def marker_constraint() -> list:
    """Constraints of ``unlabeled_marker`` (the estimators', CORAL's, SourceClassifier's, ``pack_domains``'): None, a
    string or a finite number. Not NaN: no label equals NaN, so a NaN marker would mark no row as a target row."""
    return [None, str, real(None, None, closed="neither", description="a finite number")]


def check_marker(marker, caller: str, allow_none: bool = True) -> None:
    """Validate the ``unlabeled_marker`` argument of the function ``caller`` (e.g. ``"pack_domains"``) against
    :func:`marker_constraint` (without None unless ``allow_none``); ``InvalidParameterError`` naming both
    otherwise."""
    constraints = [c for c in marker_constraint() if allow_none or c is not None]
    validate_parameter_constraints({"unlabeled_marker": constraints}, {"unlabeled_marker": marker},
                                   caller_name=caller)


def is_layer_sizes(value) -> bool:
    """Whether ``value`` is a 1-D sequence of ints >= 1 (possibly empty): hidden-layer widths."""
    if not isinstance(value, (tuple, list, range, np.ndarray)) or np.ndim(value) != 1:
        return False
    return all(isinstance(v, Integral) and not isinstance(v, (bool, np.bool_)) and v >= 1 for v in value)


def sizes() -> Predicate:
    """A 1-D sequence (tuple, list) of ints >= 1, possibly empty: the hidden-layer sizes of an MLP."""
    return Predicate(is_layer_sizes, "a tuple of ints >= 1 (hidden layer sizes, possibly empty)")


def _is_callback(item) -> bool:
    from skorch.callbacks import Callback

    return isinstance(item, Callback) or (isinstance(item, type) and issubclass(item, Callback))


def _is_callback_list(value) -> bool:
    return isinstance(value, list) and all(
        _is_callback(item) or (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                               and _is_callback(item[1])) for item in value)


def callback_list() -> Predicate:
    """A list of skorch callbacks: instances, classes, or ``(name, callback)`` pairs (skorch's forms)."""
    return Predicate(_is_callback_list, "a list of skorch callbacks (instances, classes or (name, callback) pairs)")


def _is_device(value) -> bool:
    if value is None or value == "auto" or isinstance(value, torch.device):
        return True
    if not isinstance(value, str):
        return False
    torch.device(value)  # raises for a string torch cannot parse ("gpu", "cuda:x")
    return True


def device_constraint() -> Predicate:
    """``"auto"``, None, a ``torch.device`` or a string ``torch.device`` parses ("cpu", "cuda", "cuda:1")."""
    return Predicate(_is_device, "'auto', None, a torch.device or a device string such as 'cpu' or 'cuda:0'")


def parameter_constraints(cls) -> dict:
    """The constraints of every checked parameter of the estimator class ``cls`` (or of an instance's class):
    the ``_parameter_constraints`` dicts of its MRO merged, the most derived class winning."""
    cls = cls if isinstance(cls, type) else type(cls)
    merged = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("_parameter_constraints", {}))
    return merged


def check_parameters(estimator, values: dict | None = None) -> None:
    """Validate the estimator's current parameter values (or only ``values``, e.g. what ``set_params`` is about to
    apply) against :func:`parameter_constraints`; raise ``InvalidParameterError`` (``ValueError`` and
    ``TypeError``) naming the first bad parameter. ``optimizer__lr``, which overrides ``lr`` (skorch's rule), is
    checked as ``lr`` is."""
    constraints = parameter_constraints(type(estimator))
    if "lr" in constraints:
        constraints["optimizer__lr"] = constraints["lr"]
    missing = object()
    if values is None:
        params = {name: (vars(estimator).get(name, missing) if "__" in name else getattr(estimator, name, missing))
                  for name in constraints}
    else:
        params = {name: value for name, value in values.items() if name in constraints}
    validate_parameter_constraints({k: constraints[k] for k, v in params.items() if v is not missing},
                                   {k: v for k, v in params.items() if v is not missing},
                                   caller_name=type(estimator).__name__)
