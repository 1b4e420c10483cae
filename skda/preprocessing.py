"""Classical (non-deep) domain adaptation as scikit-learn pipeline steps, for packed data.

- :class:`CORAL`: CORrelation ALignment (Sun, Feng & Saenko, AAAI 2016, "Return of frustratingly easy domain
  adaptation", Algorithm 1): whiten the source features with the source covariance, re-colour them with the
  target covariance; the target is left as it is.
- :class:`SourceClassifier`: fits any scikit-learn classifier on the labelled rows of packed data only (the
  target rows, marked ``y == unlabeled_marker``, are dropped), so that a plain classifier can end a pipeline
  fitted on packed data.

CORAL + any classifier is one line::

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    import skda
    from skda.preprocessing import CORAL

    X, y = skda.model_selection.pack_domains(Xs, ys, Xt)            # target rows: y == -1
    model = make_pipeline(StandardScaler(), CORAL(), skda.SourceClassifier(LogisticRegression()))
    model.fit(X, y).predict(Xt_new)

``Pipeline.fit`` calls ``fit_transform(X, y)`` of every step but the last: CORAL re-colours the source rows and
passes the target rows through, then the classifier learns from the re-coloured source rows. ``Pipeline.predict``
calls ``transform(X)``, which CORAL leaves unchanged: new data is target data, and CORAL applies the classifier
to the raw target (the paper's definition). The ``StandardScaler`` is fitted on both domains' rows.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, OneToOneFeatureMixin, \
    TransformerMixin, clone
from sklearn.utils import _safe_indexing, check_array, column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from .params import marker_constraint, real
from .validation import (check_sklearn_fit, check_sklearn_scoring, check_x_target_not_routed_past_pipeline, is_per_row,
                         labelled_score_rows, numeric_labels, refuse_missing_labels, restored_on_error,
                         row_indexable, sample_domain_source_rows, score_without_labelled_rows,
                         unlabeled_mask, warn_if_the_pipeline_ends_in_a_classifier_blind_to_the_marker)

__all__ = ["CORAL", "SourceClassifier", "coral_transform_matrix"]


def _symmetric_power(matrix, power):
    """``matrix ** power`` for a symmetric positive definite matrix, from its eigendecomposition. Eigenvalues that
    rounding puts at or below 0 (a matrix that is positive definite only up to rounding, e.g. a tiny
    ``regularization`` on collinear features) are raised to at least ``n * eps * largest``, so the result is finite."""
    values, vectors = np.linalg.eigh(matrix)
    floor = len(values) * np.finfo(values.dtype).eps * max(float(np.abs(values).max()), np.finfo(values.dtype).tiny)
    return (vectors * np.maximum(values, floor) ** power) @ vectors.T


#: ``regularization``: a finite real number > 0 (the paper's lambda)
REGULARIZATION = real(0, None, closed="neither")


def coral_transform_matrix(Xs, Xt, regularization=1.0):
    """The matrix ``A = C_s^{-1/2} C_t^{1/2}`` of CORAL (Algorithm 1 of Sun et al. 2016), so that the
    re-coloured source is ``Xs @ A``.

    ``C_s = cov(Xs) + regularization * I`` and ``C_t = cov(Xt) + regularization * I``, with the unbiased
    (``n - 1``) covariance of the rows (MATLAB's ``cov``, what the paper's listing calls). The features are not
    centred by the transform (neither in the paper): standardise them first.
    """
    Xs = np.asarray(Xs, dtype=np.float64)
    Xt = np.asarray(Xt, dtype=np.float64)
    for name, rows in (("source", Xs), ("target", Xt)):
        if rows.ndim != 2 or len(rows) < 2:
            raise ValueError(f"coral_transform_matrix needs at least 2 {name} rows of a 2-D array to estimate a "
                             f"covariance; got shape {rows.shape}.")
        if not np.isfinite(rows).all():
            raise ValueError(f"the {name} rows hold NaN or infinite values.")
    if Xs.shape[1] != Xt.shape[1]:
        raise ValueError(f"the source rows have {Xs.shape[1]} features and the target rows {Xt.shape[1]}; CORAL maps "
                         "one feature space onto itself.")
    if not REGULARIZATION.is_satisfied_by(regularization):  # the constraint of CORAL's parameter
        raise ValueError(f"regularization must be a real number > 0 (the paper's lambda, 1 by default), got "
                         f"{regularization!r}.")
    identity = regularization * np.eye(Xs.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        source_covariance = np.atleast_2d(np.cov(Xs, rowvar=False)) + identity
        target_covariance = np.atleast_2d(np.cov(Xt, rowvar=False)) + identity
    for name, covariance in (("source", source_covariance), ("target", target_covariance)):
        if not np.isfinite(covariance).all():  # eigh would fail with "Eigenvalues did not converge"
            raise ValueError(f"the {name} covariance overflows float64 (feature values up to "
                             f"{np.abs(Xs if name == 'source' else Xt).max():.3g}): standardise the features first.")
    return _symmetric_power(source_covariance, -0.5) @ _symmetric_power(target_covariance, 0.5)


class CORAL(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """CORrelation ALignment (Sun, Feng & Saenko, AAAI 2016, Algorithm 1) on packed data.

    Re-colours the source rows ``Xs`` as ``Xs @ C_s^{-1/2} @ C_t^{1/2}`` with ``C_s = cov(Xs) + lambda I`` and
    ``C_t = cov(Xt) + lambda I`` (``lambda`` is ``regularization``, the paper's 1), so that their covariance
    matches the target's; target rows are not changed. A classifier trained on the re-coloured source is then
    applied to the raw target.

    Which rows are transformed (the documented rule):

    - ``fit_transform(X, y)`` (packed: ``y == unlabeled_marker`` on the target rows) returns ``X`` with the
      source rows re-coloured and the target rows unchanged, in the same order. That is what ``Pipeline.fit``
      calls, so the next step learns from the re-coloured source.
    - ``fit_transform(Xs, ys, X_target=Xt)`` (three arrays) returns the re-coloured ``Xs``.
    - ``transform(X)`` returns ``X`` unchanged (as float64): data seen after fit is target data (it is what
      ``Pipeline.predict`` passes), which CORAL does not transform. Hence ``fit(X, y).transform(X)`` is **not**
      ``fit_transform(X, y)`` (like scikit-learn's ``TargetEncoder``).
    - ``transform_source(X)`` re-colours any source rows with the fitted matrix.

    Parameters
    ----------
    regularization : float, default 1.0
        ``lambda`` added to the diagonal of both covariances (the paper's value; > 0 keeps ``C_s`` invertible).
    unlabeled_marker : default -1
        Label of the target rows in the packed form (as skda's estimators' ``unlabeled_marker``).

    Attributes
    ----------
    transform_matrix_ : ndarray of shape (n_features, n_features)
        ``C_s^{-1/2} C_t^{1/2}``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (when fitted on a DataFrame with string column names)
    """

    _parameter_constraints = {
        "regularization": [REGULARIZATION],
        "unlabeled_marker": marker_constraint(),
    }

    def __init__(self, regularization=1.0, *, unlabeled_marker=-1):
        self.regularization = regularization
        self.unlabeled_marker = unlabeled_marker

    def _check_X(self, X, name, reset):
        if name == "X":
            return validate_data(self, X, reset=reset, dtype=np.float64)
        names = getattr(self, "feature_names_in_", None)
        if names is not None and hasattr(X, "columns") and list(map(str, X.columns)) != list(names):
            raise ValueError(f"{name} has the columns {list(X.columns)[:6]}{' ...' if X.shape[1] > 6 else ''}, but X "
                             f"has {list(names)[:6]}{' ...' if len(names) > 6 else ''}: source and target must have "
                             "the same columns, in the same order.")
        X = check_array(X, dtype=np.float64, input_name=name)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{name} has {X.shape[1]} features, but X has {self.n_features_in_}: source and target "
                             "must have the same features.")
        return X

    def _split(self, X, y, X_target, sample_domain=None):
        """Validated ``(Xs, Xt, source_mask)``; ``source_mask`` is None in the three-array form."""
        if sample_domain is not None:
            if X_target is not None:
                raise ValueError("sample_domain describes the packed form fit(X, y, sample_domain=...); do not pass "
                                 "X_target with it.")
            X = self._check_X(X, "X", reset=True)
            source = sample_domain_source_rows(sample_domain, len(X))
            return X[source], X[~source], source
        if X_target is not None:
            Xs = self._check_X(X, "X", reset=True)
            if y is not None and unlabeled_mask(column_or_1d(np.asarray(y), warn=True), self.unlabeled_marker).any():
                raise ValueError(f"y contains the unlabelled marker {self.unlabeled_marker!r} while X_target was also "
                                 "given. Use either the packed form fit(X, y) with target rows marked "
                                 f"{self.unlabeled_marker!r}, or the three-array form fit(Xs, ys, X_target=Xt).")
            Xt = self._check_X(X_target, "X_target", reset=False)
            source = None
        else:
            if y is None:
                raise ValueError(
                    "CORAL needs to know the target rows: pass packed y (target rows labelled "
                    f"{self.unlabeled_marker!r}, see skda.model_selection.pack_domains) or X_target=Xt.")
            X = self._check_X(X, "X", reset=True)
            y = column_or_1d(np.asarray(y), warn=True)
            if len(y) != len(X):
                raise ValueError(f"y has {len(y)} labels but X has {len(X)} rows; they must have the same length.")
            refuse_missing_labels(y, "y", self.unlabeled_marker)
            source = ~unlabeled_mask(y, self.unlabeled_marker)
            Xs, Xt = X[source], X[~source]
        return Xs, Xt, source

    def fit(self, X, y=None, X_target=None, *, sample_domain=None):
        """Estimate ``transform_matrix_`` from the source and target rows (packed ``X, y`` or ``Xs, ys, Xt``).

        ``sample_domain`` (skada's convention, as the estimators' fit parameter: positive for a source row,
        negative for a target row) tells the domains apart instead of ``y``'s marker, so that target rows with a
        known label count as target rows. Through a ``Pipeline`` it reaches CORAL by scikit-learn's metadata
        routing (``CORAL().set_fit_request(sample_domain=True)``)."""
        self._fit(X, y, X_target, sample_domain)
        return self

    def _fit(self, X, y, X_target, sample_domain=None):
        with restored_on_error(self, ("n_features_in_", "feature_names_in_", "transform_matrix_")):
            return self._fit_checked(X, y, X_target, sample_domain)

    def _fit_checked(self, X, y, X_target, sample_domain):
        self._validate_params()
        check_x_target_not_routed_past_pipeline(type(self).__name__, X_target)
        if X_target is None:  # packed labels (also beside sample_domain: the target rows keep the marker)
            warn_if_the_pipeline_ends_in_a_classifier_blind_to_the_marker(self, y, self.unlabeled_marker)
        Xs, Xt, source = self._split(X, y, X_target, sample_domain)
        for rows, name in ((Xs, "source"), (Xt, "target")):
            if len(rows) < 2:
                if sample_domain is not None:
                    how = f"rows with a {'negative' if name == 'target' else 'positive'} sample_domain"
                else:
                    how = "X_target" if name == "target" and X_target is not None else (
                        f"rows labelled {self.unlabeled_marker!r}" if name == "target" else "labelled rows")
                raise ValueError(f"CORAL needs at least 2 {name} rows to estimate a covariance; got "
                                 f"n_samples={len(rows)} ({how}).")
        self.transform_matrix_ = coral_transform_matrix(Xs, Xt, self.regularization)
        return Xs, Xt, source

    def fit_transform(self, X, y=None, X_target=None, *, sample_domain=None):
        """Fit, then return the fit data with its source rows re-coloured (target rows unchanged, same order);
        in the three-array form, the re-coloured ``Xs``. ``sample_domain``: as in :meth:`fit`."""
        Xs, Xt, source = self._fit(X, y, X_target, sample_domain)
        recoloured = Xs @ self.transform_matrix_
        if source is None:
            return recoloured
        out = np.empty((len(source), Xs.shape[1]), dtype=np.float64)
        out[source] = recoloured
        out[~source] = Xt
        return out

    def transform(self, X):
        """Return ``X`` (target data) unchanged, as a float64 array; validated against the fit's features."""
        check_is_fitted(self, "transform_matrix_")
        return np.array(self._check_X(X, "X", reset=False), dtype=np.float64, copy=True)

    def transform_source(self, X):
        """Re-colour source rows: ``X @ transform_matrix_``."""
        check_is_fitted(self, "transform_matrix_")
        return self._check_X(X, "X", reset=False) @ self.transform_matrix_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False  # the three-array form needs no y
        return tags


def _fitted_estimator_has(name):
    def check(self):
        return hasattr(self.estimator_ if hasattr(self, "estimator_") else self.estimator, name)

    return check


class SourceClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fit a scikit-learn classifier on the labelled rows of packed data: rows whose label is
    ``unlabeled_marker`` (the target rows) are dropped before ``estimator.fit``.

    A plain classifier at the end of a pipeline fitted on packed data would otherwise learn the marker as one
    more class. Prediction methods (``predict``, ``predict_proba``, ``decision_function``, ...) are the fitted
    classifier's, on every row given. ``score(X, y)`` scores the labelled rows only (it refuses data with no
    labelled row). Like skda's estimators, it refuses (``ValueError``) a scikit-learn scorer whose labels hold the
    marker and ``sklearn.model_selection.cross_val_predict`` with a probability method, which would count the
    target rows as errors or learn the marker as a class (:func:`skda.validation.check_sklearn_fit`).

    Parameters
    ----------
    estimator : scikit-learn classifier
        Cloned at each fit (``estimator_``).
    unlabeled_marker : default -1
        Label of the target rows; ``None``: every row is labelled.

    Attributes
    ----------
    estimator_ : the fitted clone
    classes_ : ndarray
        The source classes.
    n_features_in_ : int
    """

    _parameter_constraints = {
        "estimator": "no_validation",
        "unlabeled_marker": marker_constraint(),
    }

    def __init__(self, estimator, *, unlabeled_marker=-1):
        self.estimator = estimator
        self.unlabeled_marker = unlabeled_marker

    def fit(self, X, y, **fit_params):
        """Fit ``clone(estimator)`` on the rows of ``X`` whose label is not ``unlabeled_marker``. Fit parameters
        holding one value per row (e.g. ``sample_weight``) are subset the same way."""
        self._validate_params()
        if not hasattr(self.estimator, "fit"):
            raise TypeError(f"estimator must be a scikit-learn estimator with fit, got {self.estimator!r}.")
        if y is None:
            raise ValueError("SourceClassifier requires y to be passed, but the target y is None (packed labels: "
                             f"target rows marked {self.unlabeled_marker!r}).")
        y = column_or_1d(np.asarray(y), warn=True)
        n_rows = _num_samples(X)
        if len(y) != n_rows:
            raise ValueError(f"y has {len(y)} labels but X has {n_rows} rows; they must have the same length.")
        refuse_missing_labels(y, "y", self.unlabeled_marker)
        check_sklearn_fit(y, self.unlabeled_marker)  # refuse scikit-learn tools that would misuse packed labels
        labelled = ~unlabeled_mask(y, self.unlabeled_marker)
        if not labelled.any():
            raise ValueError(f"every label in y is the unlabelled marker {self.unlabeled_marker!r}: there is no "
                             "labelled source row to fit the classifier on.")
        rows = np.flatnonzero(labelled)
        subset = (lambda a: _safe_indexing(row_indexable(a), rows)) if not labelled.all() else (lambda a: a)
        params = {key: subset(value) if is_per_row(value, n_rows) else value for key, value in fit_params.items()}
        self.estimator_ = clone(self.estimator).fit(subset(X), numeric_labels(y[rows]), **params)
        self.classes_ = self.estimator_.classes_
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        check_sklearn_scoring(X, self.unlabeled_marker)
        return self.estimator_.predict(X)

    @available_if(_fitted_estimator_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        check_sklearn_scoring(X, self.unlabeled_marker)
        return self.estimator_.predict_proba(X)

    @available_if(_fitted_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        check_is_fitted(self, "estimator_")
        check_sklearn_scoring(X, self.unlabeled_marker)
        return self.estimator_.predict_log_proba(X)

    @available_if(_fitted_estimator_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self, "estimator_")
        check_sklearn_scoring(X, self.unlabeled_marker)
        return self.estimator_.decision_function(X)

    def score(self, X, y, sample_weight=None):
        """Accuracy on the labelled rows of ``(X, y)`` (rows marked ``unlabeled_marker`` are left out)."""
        y, rows = labelled_score_rows(X, y, sample_weight, self.unlabeled_marker)
        if rows is None:
            return score_without_labelled_rows(self.unlabeled_marker)
        X = _safe_indexing(row_indexable(X), rows)
        weights = None if sample_weight is None else np.asarray(sample_weight)[rows]
        return super().score(X, numeric_labels(y[rows]), sample_weight=weights)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__() if hasattr(self.estimator, "__sklearn_tags__") else None
        if inner is not None:
            tags.input_tags = inner.input_tags
            tags.classifier_tags = inner.classifier_tags
        return tags
