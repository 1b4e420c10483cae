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

class TinyMLP(skda.MLPFeatureExtractor):
    """The default feature extractor with one hidden layer of 16 units by default: the checks' estimators get no
    ``module__*`` argument, which skorch stores as an attribute that scikit-learn's init check cannot tell from
    state set in ``__init__`` (it is a parameter: ``get_params`` lists it)."""

    def __init__(self, n_features_in, hidden_sizes=(16,), **kwargs):
        super().__init__(n_features_in, hidden_sizes=hidden_sizes, **kwargs)


TINY = dict(max_epochs=20, batch_size=16, lr=0.05, module=TinyMLP, random_state=0, device="cpu")
# sklearn's checks use -1 as a real class: the estimators that can fit labelled-only data read no marker
NO_MARKER = dict(unlabeled_marker=None)
DOMAIN = dict(domain_hidden_sizes=(8,))


class _SourceAsTarget:
    """Mixin: with no target rows, train with the source rows as the target domain (for the checks only)."""

    def _validate_for_fit(self, X, y, X_target, min_classes=2, target_labels=None):
        Xs, ys, Xt = split_domains(X, y, X_target, unlabeled_marker=self.unlabeled_marker, require_target=False,
                                   min_classes=min_classes)
        return Xs, ys, (Xs if Xt is None else Xt), {}


class SourceAsTargetDANN(_SourceAsTarget, skda.DANNClassifier):
    pass


class SourceAsTargetMLADA(_SourceAsTarget, skda.MLADAClassifier):
    pass


class SourceAsTargetILADA(_SourceAsTarget, skda.ILADAClassifier):
    pass


class SourceAsTargetMADDA(_SourceAsTarget, skda.MADDAClassifier):
    pass


class SourceAsTargetActiveSelector(skda.ActiveSelector):
    """With no pool given, the source rows are also the (unlabelled) query pool."""

    def _validate_for_fit(self, X, y, X_target, min_classes=2, target_labels=None):
        if X_target is None and self.unlabeled_marker is None:
            X_target = X
        return super()._validate_for_fit(X, y, X_target, min_classes, target_labels)


MLADA = dict(metric_hidden=8, metric_dim=4, **DOMAIN)
MADDA = dict(embedding_dim=8, discriminator_hidden_sizes=(8,), source_epochs=10, lr=1e-2,
             **{k: v for k, v in TINY.items() if k not in ("max_epochs", "lr")}, max_epochs=5)

REAL = [
    skda.SourceOnlyClassifier(**TINY, **NO_MARKER),
    skda.DANNClassifier(**TINY, **DOMAIN),
    skda.MLADAClassifier(**TINY, **MLADA),
    skda.ILADAClassifier(**TINY, **DOMAIN),
    skda.MADDAClassifier(**MADDA),
    skda.ActiveSelector(**TINY),
]
VARIANTS = [
    SourceAsTargetDANN(**TINY, **DOMAIN, **NO_MARKER),
    SourceAsTargetMLADA(**TINY, **MLADA, **NO_MARKER),
    SourceAsTargetILADA(base="cdan", **TINY, **DOMAIN, **NO_MARKER),
    SourceAsTargetMADDA(**MADDA, **NO_MARKER),
    SourceAsTargetActiveSelector(**TINY, **NO_MARKER),
]

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
    needs_target = estimator.requires_target or type(estimator) is skda.ActiveSelector  # the query pool
    if needs_target and not isinstance(estimator, _SourceAsTarget):
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
    for estimator in REAL[1:]:
        with pytest.raises(ValueError, match="no target samples|needs the target pool"):
            estimator.fit(X, y)


def test_minus_one_as_a_real_class_is_explained():
    X = np.random.RandomState(0).randn(20, 3)
    y = np.where(np.arange(20) % 2, 1, -1)
    with pytest.raises(ValueError, match="1 class.*label -1, read as the unlabelled target marker.*marker=None"):
        skda.SourceOnlyClassifier(**TINY).fit(X, y)
    assert skda.SourceOnlyClassifier(**TINY, **NO_MARKER).fit(X, y).classes_.tolist() == [-1, 1]
