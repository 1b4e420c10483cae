"""scikit-learn's estimator checks on every skda estimator.

sklearn's checks fit on fully labelled ``(X, y)``. A domain-adaptation estimator needs target rows and
refuses such data with a clear ``ValueError``, so the checks that fit are expected failures for the real
estimators (reason given below). To still run every one of those checks through the estimators' code,
each method is also checked as a "source doubles as target" variant: the same class with only the fit
validation changed so that, with no target rows, the source rows are used as the target domain.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import skda
from skda.validation import split_domains

from .registry import ESTIMATORS

class TinyMLP(skda.MLPFeatureExtractor):
    """The default feature extractor with one hidden layer of 16 units by default: the checks' estimators get no
    ``module__*`` argument, which skorch stores as an attribute that scikit-learn's init check cannot tell from
    state set in ``__init__`` (it is a parameter: ``get_params`` lists it)."""

    def __init__(self, n_features_in, hidden_sizes=(16,), **kwargs):
        super().__init__(n_features_in, hidden_sizes=hidden_sizes, **kwargs)


#: the checks' training: longer than the registry's (sklearn's train check wants a fitted model), TinyMLP for the
#: registry's module__hidden_sizes, a smaller domain classifier; M-ADDA trains each of its two stages longer
TINY = dict(max_epochs=20, batch_size=16, lr=0.05, module=TinyMLP, random_state=0, device="cpu")
CHECK_PARAMS = dict(domain_hidden_sizes=(8,))
PER_METHOD = {"madda": dict(source_epochs=10, lr=1e-2, max_epochs=5)}
# sklearn's checks use -1 as a real class: the estimators that can fit labelled-only data read no marker
NO_MARKER = dict(unlabeled_marker=None)


class _SourceAsTarget:
    """Mixin: with no target rows, train with the source rows as the target domain (for the checks only)."""

    def _validate_for_fit(self, X, y, X_target, min_classes=2, target_labels=None):
        Xs, ys, Xt = split_domains(X, y, X_target, unlabeled_marker=self.unlabeled_marker, require_target=False,
                                   min_classes=min_classes)
        return Xs, ys, (Xs if Xt is None else Xt), {}


class _SourceAsPool:
    """Mixin for ActiveSelector: with no pool given, the source rows are also the (unlabelled) query pool."""

    def _validate_for_fit(self, X, y, X_target, min_classes=2, target_labels=None):
        if X_target is None and self.unlabeled_marker is None:
            X_target = X
        return super()._validate_for_fit(X, y, X_target, min_classes, target_labels)


def _source_as_target_class(cls):
    """``SourceAsTarget<cls>``, defined in this module under its name so that pickling finds it."""
    name = f"SourceAsTarget{cls.__name__}"
    if name not in globals():
        mixin = _SourceAsPool if issubclass(cls, skda.ActiveSelector) else _SourceAsTarget
        globals()[name] = type(name, (mixin, cls), {"__module__": __name__, "__qualname__": name})
    return globals()[name]


def _needs_target(cls):
    return cls().requires_target or issubclass(cls, skda.ActiveSelector)  # ActiveSelector: the query pool


def _checked(name, cls=None, **extra):
    entry = ESTIMATORS[name]
    own = {key: CHECK_PARAMS.get(key, value) for key, value in entry.params.items()}
    return (cls or entry.cls)(**{**TINY, **own, **PER_METHOD.get(name, {}), **extra})


FIRST, LAST = {}, {}  # class -> its first / last configuration in the registry
for _name, _entry in ESTIMATORS.items():
    FIRST.setdefault(_entry.cls, _name)
    LAST[_entry.cls] = _name
#: one estimator per class as the user gets it (ILA-DA, listed twice, with its first configuration) ...
REAL = [_checked(name, **({} if _needs_target(cls) else NO_MARKER)) for cls, name in FIRST.items()]
#: ... and, per class that needs target rows, its source-as-target variant with its last configuration (so that
#: both ILA-DA bases meet the checks)
VARIANTS = [_checked(name, _source_as_target_class(cls), **NO_MARKER) for cls, name in LAST.items()
            if _needs_target(cls)]

NEEDS_TARGET = ("the check fits on fully labelled (X, y); a domain-adaptation estimator needs target rows "
                "(packed y == -1 or X_target; ActiveSelector: the query pool) and raises a ValueError saying so. "
                "The check runs on the source-as-target variant instead")
#: checks that fit on labelled data only (found by running the checks; a new one shows up as a failure)
FITTING_CHECKS = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimator_sparse_tag",
    "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_classifier_data_not_an_array",
    "check_classifiers_classes", "check_decision_proba_consistency",
    "check_estimators_partial_fit_n_features",
    "check_classifiers_train", "check_supervised_y_2d", "check_transformer_data_not_an_array",
    "check_transformer_general", "check_transformer_preserve_dtypes", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent",
    "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
]


def expected_failures(estimator):
    failures = {}
    if _needs_target(type(estimator)) and not isinstance(estimator, (_SourceAsTarget, _SourceAsPool)):
        failures.update(dict.fromkeys(FITTING_CHECKS, NEEDS_TARGET))
    if not estimator.predicts_from_logits:  # M-ADDA: no decision_function, nothing to compare
        failures.pop("check_decision_proba_consistency", None)
    return failures


@parametrize_with_checks(REAL + VARIANTS, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_real_estimators_refuse_labelled_only_data_with_a_clear_message():
    X = np.random.RandomState(0).randn(20, 3)
    y = np.arange(20) % 2
    for estimator in (e for e in REAL if _needs_target(type(e))):
        with pytest.raises(ValueError, match="no target samples|needs the target pool"):
            estimator.fit(X, y)


def test_minus_one_as_a_real_class_is_explained():
    X = np.random.RandomState(0).randn(20, 3)
    y = np.where(np.arange(20) % 2, 1, -1)
    with pytest.raises(ValueError, match="1 class.*label -1, read as the unlabelled target marker.*marker=None"):
        skda.SourceOnlyClassifier(**TINY).fit(X, y)
    assert skda.SourceOnlyClassifier(**TINY, **NO_MARKER).fit(X, y).classes_.tolist() == [-1, 1]
