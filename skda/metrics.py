"""Unsupervised model-selection scores for domain adaptation (no target label needed).

Cross-validation accuracy measures the *source* domain: the model that fits the source best is often
not the one that does best on the shifted target, and target labels are, by definition, unavailable.
The scores here rank candidate models with the labelled source rows and the *unlabelled* target rows
only.

Every score is oriented like scikit-learn's scorers: **higher is better**. Each exists twice:

- a plain function of arrays, e.g. :func:`soft_neighborhood_density` ``(probabilities)``;
- a scorer object called as ``scorer(estimator, X, y)`` on *packed* data (source rows with their labels,
  target rows with ``y == -1``, the estimator's ``unlabeled_marker``), usable as ``scoring=`` in
  :class:`~sklearn.model_selection.GridSearchCV` or :func:`~sklearn.model_selection.cross_val_score`. The
  estimator may be a skda estimator or a :class:`~sklearn.pipeline.Pipeline` ending in one.

- ``entropy_scorer`` / :func:`negative_entropy`: ``predict_proba`` of the target rows;
- ``iwcv_scorer`` / :func:`importance_weighted_validation`: accuracy (or log loss) of the source rows,
  weighted by ``p_t(x) / p_s(x)`` estimated on the *input* of the final estimator (for a Pipeline: the rows
  after its other steps, e.g. a ColumnTransformer's numeric output);
- ``dev_scorer`` / :func:`deep_embedded_validation`: log loss of the source rows, weighted by
  ``p_t / p_s`` estimated on the *learned features* (``estimator.transform``), with the control variate;
- ``snd_scorer`` / :func:`soft_neighborhood_density`: ``predict_proba`` of the target rows.

Density ratios (:func:`density_ratio`) come from a probabilistic domain classifier (default: standardise,
then :class:`~sklearn.linear_model.LogisticRegression`, ``C=1``) trained to tell the scoring data's source
rows from its target rows. It is *cross-fitted*: each source row's weight comes from a classifier that
did not see that row (``cv=5`` stratified folds), so the weights are not over-fitted to the rows they
weigh. ``w(x) = P(target | x) / P(source | x) * n_source / n_target`` (Bayes' rule; the same formula as
the DEV authors' code), truncated at ``sqrt(n_source) * mean(w)`` (truncated importance sampling).

``make_unsupervised_scorer(name, **params)`` builds a scorer with other parameters, e.g.
``make_unsupervised_scorer("iwcv", features="learned", metric="log_loss")``.

:func:`labelled_scorer` turns a scikit-learn scoring name or scorer (``"accuracy"``, ``"f1_macro"``,
``"neg_log_loss"``, ...) into one that scores the *labelled* rows of packed data only. scikit-learn's own
scorers would compare the predictions of the target rows with the marker (deflated figures, NaN log loss):
skda estimators refuse to be fitted or to predict for them when the scored labels hold the marker.

A scorer whose scoring data or set-up cannot work for any candidate (no target rows in the fold,
non-numeric features, ...) raises :class:`ScoringSetupError`. Under ``GridSearchCV`` / ``cross_val_score``
with ``error_score=np.nan`` (their default), which would turn it into a NaN for every candidate and silently
pick the first one, the scorer makes scikit-learn stop with an error that quotes the message instead.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from scipy.special import entr
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples

from .params import check_marker
from .validation import (ScoringSetupError, check_features, is_int_at_least, numeric_labels,
                         scoring_setup_failure, unlabeled_mask, unlabeled_marker_of)

__all__ = [
    "DEVScorer",
    "EntropyScorer",
    "IWCVScorer",
    "LabelledScorer",
    "SNDScorer",
    "ScoringSetupError",
    "UnsupervisedScorer",
    "deep_embedded_validation",
    "density_ratio",
    "dev_scorer",
    "entropy_scorer",
    "importance_weighted_validation",
    "iwcv_scorer",
    "labelled_scorer",
    "make_unsupervised_scorer",
    "negative_entropy",
    "snd_scorer",
    "soft_neighborhood_density",
]

#: Probabilities are clipped before a log or a ratio is taken: the probability of the true class to
#: [EPS, 1] in the log loss (so one row's loss is at most -log(EPS) = 13.8 nats: a single confidently wrong
#: row cannot dominate an importance-weighted sum; scikit-learn's ``log_loss`` clips at machine epsilon
#: instead, 36 nats), the domain classifier's target probability to [EPS, 1 - EPS] in the density ratio.
EPS = 1e-6

#: Rows of the similarity matrix computed at once by :func:`soft_neighborhood_density`.
SND_CHUNK_ROWS = 1024


# ---------------------------------------------------------------------------------------------- checks
def _check_probabilities(probabilities, name="probabilities", min_rows=1):
    P = np.asarray(probabilities, dtype=np.float64)
    if P.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_classes), got shape {P.shape}.")
    if P.shape[0] < min_rows:
        raise ValueError(f"{name} has {P.shape[0]} rows; at least {min_rows} needed.")
    if P.shape[1] < 1:
        raise ValueError(f"{name} has no column.")
    if not np.all(np.isfinite(P)):
        raise ValueError(f"{name} contains NaN or infinity.")
    if (P < 0).any():
        raise ValueError(f"{name} contains negative values; pass class probabilities (e.g. predict_proba).")
    sums = P.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        worst = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(f"rows of {name} must sum to 1 (row {worst} sums to {sums[worst]:.6g}); pass class "
                         "probabilities (e.g. predict_proba), not logits.")
    return P


def _check_flag(name, value):
    """``TypeError`` unless ``value`` is a bool (a string such as "no" would read as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")


def _check_supervised(y_true, probabilities, weights, classes):
    P = _check_probabilities(probabilities, min_rows=1)
    y = np.asarray(y_true).ravel()
    if len(y) != len(P):
        raise ValueError(f"y_true has {len(y)} labels but probabilities has {len(P)} rows.")
    if classes is None:
        if y.dtype.kind not in "iu" or (len(y) and (y.min() < 0 or y.max() >= P.shape[1])):
            raise ValueError("without classes=, y_true must hold column indices 0 .. n_classes - 1 of "
                             "probabilities.")
        index = y.astype(np.intp)
    else:
        classes = np.asarray(classes)
        if len(classes) != P.shape[1]:
            raise ValueError(f"classes has {len(classes)} entries but probabilities has {P.shape[1]} columns.")
        order = np.argsort(classes, kind="stable")  # ``classes`` in column order, not necessarily sorted
        position = np.clip(np.searchsorted(classes[order], y), 0, len(classes) - 1)
        index = order[position]
        unknown = classes[index] != y
        if unknown.any():
            # a ScoringSetupError (a ValueError): in a search every candidate's model lacks the class alike
            raise ScoringSetupError(
                f"y_true has labels {np.unique(y[unknown]).tolist()} that are not among the classes the model was "
                f"fitted on ({classes.tolist()}); every validation class must also be in the training fold "
                "(skda.model_selection.DomainStratifiedKFold keeps a class in every training fold when it has at "
                "least n_splits source rows: use fewer folds, or leave out the rarest classes).")
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != len(P):
        raise ValueError(f"weights has {len(w)} entries but probabilities has {len(P)} rows.")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights must be finite and non-negative.")
    with np.errstate(over="ignore"):
        overflow = not np.isfinite(np.dot(w, w))
    if overflow:  # sums and variances of such weights overflow float64: a NaN score otherwise
        raise ValueError(f"weights are too large to average (up to {w.max():.3g}: their squares overflow float64); "
                         "density ratios average about 1 over the source rows, so rescale them (e.g. w / w.mean()).")
    return P, index, w


def _per_sample(P, index, loss):
    picked = P[np.arange(len(P)), index]
    if loss == "log_loss":
        return -np.log(np.clip(picked, EPS, 1.0))
    if loss == "zero_one":
        return (P.argmax(axis=1) != index).astype(np.float64)
    raise ValueError(f"unknown loss {loss!r}; use 'log_loss' or 'zero_one'.")


# ------------------------------------------------------------------------------------------- functions
def negative_entropy(probabilities):
    """Minus the mean Shannon entropy (nats) of the predicted class distributions (higher is better).

    ``-1/n sum_i H(p_i)`` with ``H(p) = -sum_k p_k log p_k`` (``0 log 0 = 0``). Confident target
    predictions score high: the criterion that entropy minimisation optimises (Grandvalet & Bengio, NeurIPS
    2004), used as a validation baseline by e.g. Morerio et al. (ICLR 2018) and Saito et al. (ICCV 2021).
    Beware: a model that is confidently *wrong* on the target also scores high.
    """
    P = _check_probabilities(probabilities)
    return float(-entr(P).sum(axis=1).mean())


def importance_weighted_validation(y_true, probabilities, weights, *, metric="accuracy", normalize=False,
                                   classes=None):
    """Importance-weighted validation score (IWCV; Sugiyama, Krauledat & Mueller, JMLR 2007).

    Under covariate shift the target risk equals the importance-weighted source risk,
    ``E_t[l] = E_s[w(x) l]`` with ``w(x) = p_t(x) / p_s(x)``; IWCV estimates it on held-out source rows
    (the paper's Eq. for the IWCV risk: ``1/|Z| sum_{(x, y) in Z} w(x) l(x, y)`` on each validation fold).

    Parameters
    ----------
    y_true : labels of the (source) validation rows; column indices unless ``classes`` is given.
    probabilities : (n, n_classes) predicted probabilities of those rows.
    weights : (n,) density ratios w(x) of those rows (e.g. from :func:`density_ratio`).
    metric : "accuracy" (default) or "log_loss"
        "accuracy" returns the weighted accuracy ``1/n sum_i w_i 1[argmax p_i = y_i]``; "log_loss" returns
        minus the weighted cross-entropy ``-1/n sum_i w_i (-log max(p_i[y_i], EPS))`` (:data:`EPS` = 1e-6: one
        row's loss is at most 13.8 nats). Higher is better for both.
    normalize : bool, default False
        Divide by ``sum_i w_i`` instead of ``n`` (self-normalised importance sampling: lower variance, a
        small bias; the paper uses ``n``).
    classes : array, optional
        Label of each probability column (e.g. ``estimator.classes_``).
    """
    _check_flag("normalize", normalize)
    P, index, w = _check_supervised(y_true, probabilities, weights, classes)
    if metric == "accuracy":
        values = (P.argmax(axis=1) == index).astype(np.float64)
        sign = 1.0
    elif metric == "log_loss":
        values, sign = _per_sample(P, index, "log_loss"), -1.0
    else:
        raise ValueError(f"unknown metric {metric!r}; use 'accuracy' or 'log_loss'.")
    if w.sum() <= 0:  # every score would be 0, the best log loss: no estimate at all
        raise ValueError("the importance weights sum to 0; no validation row resembles the target.")
    denominator = w.sum() if normalize else len(w)
    return float(sign * (w * values).sum() / denominator)


def deep_embedded_validation(y_true, probabilities, weights, *, loss="log_loss", classes=None):
    """Minus the DEV risk (Deep Embedded Validation; You, Wang, Long & Jordan, ICML 2019), higher is better.

    Algorithm 1 of the paper (the variance-reduced importance-weighted estimator, Eq. 6-7 and Theorem 2):
    with per-row losses ``l_i`` and density ratios ``w_i`` of the source validation rows,

    ``L_i = w_i l_i``, ``eta = -Cov(L, w) / Var(w)``, ``R_DEV = mean(L) + eta mean(w) - eta``

    (sample covariance and variance with ``ddof=1``, as in the authors' code). ``E[w] = 1`` makes
    ``eta (mean(w) - 1)`` a zero-mean control variate. If all weights are equal ``eta = 0``.

    ``loss`` is "log_loss" (cross-entropy ``-log max(p_i[y_i], EPS)``, at most 13.8 nats per row; default) or
    "zero_one". ``classes``: see :func:`importance_weighted_validation`.
    """
    P, index, w = _check_supervised(y_true, probabilities, weights, classes)
    weighted = w * _per_sample(P, index, loss)
    if len(w) < 2:
        raise ValueError("deep_embedded_validation needs at least 2 validation rows.")
    if w.sum() <= 0:
        raise ValueError("the importance weights sum to 0; no validation row resembles the target.")
    var_w = np.var(w, ddof=1)
    # equal weights up to rounding (np.var of a constant is ~1e-33, not 0): eta = 0, not a ratio of rounding errors
    equal = np.ptp(w) <= 1e-9 * max(float(np.abs(w).max()), np.finfo(float).tiny)
    eta = 0.0 if equal or var_w <= 0 else -np.cov(weighted, w, ddof=1)[0, 1] / var_w
    risk = weighted.mean() + eta * w.mean() - eta
    return float(-risk)


def soft_neighborhood_density(probabilities, *, temperature=0.05):
    """Soft Neighborhood Density (Saito, Kim, Teterwak, Sclaroff, Darrell & Saenko, ICCV 2021), higher is better.

    Section 3 of the paper: the target predictions are L2-normalised, ``f_i = p_i / ||p_i||``; the
    similarities ``M_ij = f_i . f_j`` (j != i) go through a softmax with temperature ``tau`` per row,
    ``P_ij = exp(M_ij / tau) / sum_{j' != i} exp(M_ij' / tau)`` (Eq. 1-2), and the score is the mean row
    entropy ``SND = -1/n sum_i sum_j P_ij log P_ij`` (Eq. 3). ``tau = 0.05`` as in the paper. High when
    target points have many close neighbours (dense, consistent clusters).

    Self-similarity is excluded exactly (the authors' code fills the diagonal with ``-1 / tau``, which
    differs by a negligible ``exp(-1/tau)`` term). Computed in blocks of ``SND_CHUNK_ROWS`` rows, so memory
    is O(n * SND_CHUNK_ROWS), time O(n^2 * n_classes). Needs at least 2 rows.
    """
    P = _check_probabilities(probabilities, min_rows=2)
    if isinstance(temperature, (bool, np.bool_)) or not (isinstance(temperature, numbers.Real) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}.")
    norms = np.linalg.norm(P, axis=1, keepdims=True)
    F = P / np.maximum(norms, 1e-12)
    n = len(F)
    total = 0.0
    for start in range(0, n, SND_CHUNK_ROWS):
        stop = min(n, start + SND_CHUNK_ROWS)
        logits = F[start:stop] @ F.T / temperature
        rows = np.arange(stop - start)
        logits[rows, start + rows] = -np.inf
        logits -= logits.max(axis=1, keepdims=True)
        soft = np.exp(logits)
        soft /= soft.sum(axis=1, keepdims=True)
        total += entr(soft).sum()
    return float(total / n)


def _default_domain_classifier(random_state=0):
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=random_state))


def _flat_rows(a):
    """Rows flattened to float64 vectors (a sparse matrix densified; no row: shape (0, features))."""
    a = np.asarray(a.toarray() if sp.issparse(a) else a, dtype=np.float64)
    return a.reshape(a.shape[0], int(np.prod(a.shape[1:], dtype=np.int64)))


def density_ratio(source, target, *, domain_classifier=None, cv=5, random_state=0, truncate=True):
    """Cross-fitted estimates of ``w(x) = p_t(x) / p_s(x)`` at the ``source`` rows.

    A probabilistic classifier (default: ``StandardScaler`` + ``LogisticRegression(C=1)``; any classifier
    with ``predict_proba`` via ``domain_classifier``) learns source (0) vs target (1) on the rows of both
    arrays, in ``cv`` stratified folds (at most the size of the smaller domain); each source row is scored by
    the classifier of the fold that held it out, and

    ``w(x) = P(1 | x) / P(0 | x) * n_source / n_target``

    with ``P`` clipped to ``[EPS, 1 - EPS]``. Rows are flattened to vectors. ``random_state`` seeds the shuffle
    of the folds.

    ``truncate=True`` (default) caps the weights at ``sqrt(n_source) * mean(w)`` (truncated importance
    sampling, Ionides, J. Comput. Graph. Stat. 2008): when the domains barely overlap a few source rows can
    get weights of 10^5 and more, and one such row would decide the score. ``truncate=False`` returns the
    raw ratios.

    Returns an array of ``len(source)`` non-negative weights (mean about 1 when the classifier is
    calibrated and the domains overlap; much less than 1 when few source rows resemble the target).
    """
    _check_flag("truncate", truncate)
    Xs, Xt = (_flat_rows(a) for a in (source, target))
    if len(Xs) < 2 or len(Xt) < 2:
        raise ValueError(f"density_ratio needs at least 2 source and 2 target rows, got {len(Xs)} and {len(Xt)}.")
    if Xs.shape[1] != Xt.shape[1]:
        raise ValueError(f"source has {Xs.shape[1]} features but target has {Xt.shape[1]}.")
    if not is_int_at_least(cv, 2):
        raise ValueError(f"cv must be an int >= 2 (the number of stratified folds), got {cv!r}.")
    n_splits = int(min(cv, len(Xs), len(Xt)))
    X = np.vstack([Xs, Xt])
    d = np.r_[np.zeros(len(Xs), dtype=int), np.ones(len(Xt), dtype=int)]
    template = _default_domain_classifier(random_state) if domain_classifier is None else domain_classifier
    p_target = np.empty(len(Xs))
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    for train, test in folds.split(X, d):
        clf = clone(template).fit(X[train], d[train])
        col = list(clf.classes_).index(1)
        held_source = test[test < len(Xs)]
        p_target[held_source] = clf.predict_proba(X[held_source])[:, col]
    p_target = np.clip(p_target, EPS, 1.0 - EPS)
    weights = p_target / (1.0 - p_target) * (len(Xs) / len(Xt))
    if truncate:
        weights = np.minimum(weights, np.sqrt(len(weights)) * weights.mean())
    return weights


# ---------------------------------------------------------------------------------------------- scorers
def _marker_of(estimator, unlabeled_marker):
    if unlabeled_marker != "auto":
        return unlabeled_marker
    return unlabeled_marker_of(estimator)


def _final_input(estimator, X):
    """``X`` as the final estimator receives it: through every step but the last of a Pipeline (and of a
    Pipeline that is its last step); ``X`` itself for any other estimator."""
    while hasattr(estimator, "steps"):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator.steps[-1][1]
    return X


def final_input_features(estimator, Xs, Xt, given="the rows given"):
    """``(Fs, Ft)``: ``Xs`` and ``Xt`` as the final estimator of ``estimator`` receives them (:func:`_final_input`,
    e.g. a ColumnTransformer's encoding of text columns), as float64 arrays (:func:`check_features`: a large offset
    such as a timestamp keeps its spread), the rows on which density ratios are estimated. Raises ``ValueError``
    saying where those rows come from (the other steps of a Pipeline, or ``given``) when they are not usable numbers,
    and for image file paths (only their learned features can be compared)."""
    try:
        Fs, Ft = (check_features(_final_input(estimator, rows), name=name, dtype=np.float64)
                  for rows, name in ((Xs, "X"), (Xt, "X_target")))
    except (TypeError, ValueError) as exc:
        where = ("the input of the Pipeline's final step (the output of its other steps)"
                 if hasattr(estimator, "steps") else given)
        raise ValueError(f"density ratios are estimated on {where}, and those are not usable numbers ({exc}). "
                         "Encode non-numeric columns inside the Pipeline (e.g. a ColumnTransformer with "
                         "OneHotEncoder)") from exc
    if Fs.dtype == object or Ft.dtype == object:  # check_features keeps file paths as paths (decoded by the fit)
        raise ValueError("density ratios are estimated on the rows the final estimator receives, and image file "
                         "paths are not numbers")
    return Fs, Ft


class LabelledScorer:
    """A scikit-learn scorer (``scoring``: a name or a callable) applied to the labelled rows of packed data only
    (see :func:`labelled_scorer`); ``unlabeled_marker="auto"`` reads the marker from the estimator."""

    def __init__(self, scoring, *, unlabeled_marker="auto"):
        self.scoring = scoring
        self.unlabeled_marker = unlabeled_marker
        self.scorer_ = get_scorer(scoring)

    def __repr__(self):
        return f"labelled_scorer({self.scoring!r}, unlabeled_marker={self.unlabeled_marker!r})"

    def _accept_sample_weight(self):  # asked by scikit-learn's multi-metric scoring
        accept = getattr(self.scorer_, "_accept_sample_weight", None)
        return True if accept is None else accept()

    def __call__(self, estimator, X, y=None, sample_weight=None, **kwargs):
        try:
            if y is None:
                raise ScoringSetupError(f"{self!r} needs the labels y of the scoring data.")
            y = np.asarray(y)
            n = X.shape[0] if hasattr(X, "shape") else len(X)
            if y.ndim != 1 or len(y) != n:
                raise ScoringSetupError(f"{self!r}: y must be 1-D with one label per row of X ({n}), got shape "
                                        f"{y.shape}.")
            marker = _marker_of(estimator, self.unlabeled_marker)
            rows = np.flatnonzero(~unlabeled_mask(y, marker))
            if len(rows) == 0:
                raise ScoringSetupError(f"{self!r} has no labelled row to score: every label is the unlabelled "
                                        f"marker {marker!r}.")
        except ScoringSetupError as exc:
            return scoring_setup_failure(exc)
        if sample_weight is not None:
            kwargs["sample_weight"] = np.asarray(sample_weight)[rows]
        return self.scorer_(estimator, _safe_indexing(X, rows), numeric_labels(y[rows]), **kwargs)


def labelled_scorer(scoring, *, unlabeled_marker="auto"):
    """A scikit-learn scoring (a name such as ``"accuracy"``, ``"f1_macro"``, ``"neg_log_loss"``,
    ``"roc_auc_ovr"``, or a scorer such as ``make_scorer(...)``) restricted to the labelled rows of packed data.

    ``scorer(estimator, X, y)`` drops the rows whose label is the unlabelled marker (``"auto"``: the estimator's
    ``unlabeled_marker``, else -1) and scores the others with scikit-learn's scorer, so
    ``cross_val_score(est, X, y, cv=DomainStratifiedKFold(3), scoring=labelled_scorer("accuracy"))`` gives
    the accuracy on the labelled (source) rows of each test fold, like ``scoring=None`` (``est.score``).
    Use it wherever ``scoring=`` is accepted, alone or in a dict with the unsupervised scorers.
    """
    return LabelledScorer(scoring, unlabeled_marker=unlabeled_marker)


class UnsupervisedScorer:
    """Base of the scorers: ``scorer(estimator, X, y)`` on packed data, higher is better.

    Rows of ``X`` whose label in ``y`` equals the marker are the target domain; the others are labelled
    source rows. ``unlabeled_marker="auto"`` (default) reads the marker from the estimator (the final step
    of a Pipeline): its ``unlabeled_marker`` attribute, else -1. ``y=None`` means every row is a target row.
    """

    #: Whether the score needs labelled source rows in the scoring data.
    needs_source = False
    #: Short name used in messages.
    name = "unsupervised"

    def __init__(self, *, unlabeled_marker="auto"):
        if not (isinstance(unlabeled_marker, str) and unlabeled_marker == "auto"):
            check_marker(unlabeled_marker, type(self).__name__)  # a NaN marker would mark no row
        self.unlabeled_marker = unlabeled_marker

    def _params(self):
        return {"unlabeled_marker": self.unlabeled_marker}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def _marker(self, estimator):
        return _marker_of(estimator, self.unlabeled_marker)

    def split(self, estimator, X, y):
        """Return ``(X_source, y_source, X_target)`` of the scoring data (sub-arrays of ``X`` and ``y``)."""
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        if y is None:
            target = np.ones(n, dtype=bool)
        else:
            y = np.asarray(y)
            if len(y) != n:
                raise ScoringSetupError(f"y has {len(y)} labels but X has {n} rows.")
            target = unlabeled_mask(y, self._marker(estimator))
        marker = self._marker(estimator)
        if not target.any():
            raise ScoringSetupError(
                f"the {self.name} score needs unlabelled target rows (y == {marker!r}) in the scoring data, but "
                "it has none. Pass packed data (source rows labelled, target rows marked) and a splitter that "
                "keeps target rows in every test fold, e.g. skda.model_selection.DomainStratifiedKFold.")
        if self.needs_source and target.all():
            raise ScoringSetupError(
                f"the {self.name} score needs labelled source rows in the scoring data (every label is the "
                f"unlabelled marker {marker!r}). Pass packed data and a splitter that keeps source rows in "
                "every test fold, e.g. skda.model_selection.DomainStratifiedKFold.")
        src, tgt = np.flatnonzero(~target), np.flatnonzero(target)
        y_source = None if y is None else y[src]
        return _safe_indexing(X, src), y_source, _safe_indexing(X, tgt)

    def _accept_sample_weight(self):
        # scikit-learn's private hook (multi-metric scoring and searches ask it before routing sample_weight):
        # these scores take no weights, so a search fitted with sample_weight warns and scores without them
        return False

    def __call__(self, estimator, X, y=None, sample_weight=None):
        try:
            if sample_weight is not None:
                raise ScoringSetupError(f"{type(self).__name__} does not support sample_weight.")
            Xs, ys, Xt = self.split(estimator, X, y)
            return self._score(estimator, Xs, ys, Xt)
        except ScoringSetupError as exc:  # not the model's fault: see skda.validation.Unscorable
            return scoring_setup_failure(exc)

    def _score(self, estimator, Xs, ys, Xt):  # pragma: no cover - abstract
        raise NotImplementedError


class EntropyScorer(UnsupervisedScorer):
    """:func:`negative_entropy` of ``estimator.predict_proba`` on the target rows."""

    name = "entropy"

    def _score(self, estimator, Xs, ys, Xt):
        return negative_entropy(estimator.predict_proba(Xt))


class SNDScorer(UnsupervisedScorer):
    """:func:`soft_neighborhood_density` of ``estimator.predict_proba`` on the target rows (>= 2 needed), at
    ``temperature`` (> 0, default 0.05). ``unlabeled_marker``: see :class:`UnsupervisedScorer`."""

    name = "SND"

    def __init__(self, *, temperature=0.05, unlabeled_marker="auto"):
        super().__init__(unlabeled_marker=unlabeled_marker)
        if (isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature > 0
                or not np.isfinite(temperature)):
            raise ValueError(f"temperature must be a positive finite number, got {temperature!r}.")
        self.temperature = temperature

    def _params(self):
        return {"temperature": self.temperature, **super()._params()}

    def _score(self, estimator, Xs, ys, Xt):
        if _num_samples(Xt) < 2:
            raise ScoringSetupError(f"the SND score needs at least 2 target rows in the scoring data, got "
                                    f"{_num_samples(Xt)}.")
        return soft_neighborhood_density(estimator.predict_proba(Xt), temperature=self.temperature)


class _WeightedScorer(UnsupervisedScorer):
    needs_source = True

    def __init__(self, *, features, domain_classifier=None, cv=5, random_state=0, truncate=True,
                 unlabeled_marker="auto"):
        super().__init__(unlabeled_marker=unlabeled_marker)
        # checked here, so that a search with a misconfigured scorer stops at once instead of scoring NaN
        _check_choice("features", features, ("input", "learned"))
        if not is_int_at_least(cv, 2):
            raise ValueError(f"cv must be an int >= 2 (the number of stratified folds), got {cv!r}.")
        _check_flag("truncate", truncate)
        self.features = features
        self.domain_classifier = domain_classifier
        self.cv = cv
        self.random_state = random_state
        self.truncate = truncate

    def _params(self):
        return {"features": self.features, "domain_classifier": self.domain_classifier, "cv": self.cv,
                "random_state": self.random_state, "truncate": self.truncate, **super()._params()}

    def weights(self, estimator, Xs, Xt):
        """Density ratios of the source rows ``Xs`` (see :func:`density_ratio`), on the features chosen by
        ``features``: "input" (the rows as the final estimator receives them, flattened: for a Pipeline, after
        all its steps but the last, e.g. a ColumnTransformer's numeric output) or "learned"
        (``estimator.transform``). Raises :class:`ScoringSetupError` when those features are not numbers."""
        n_source, n_target = _num_samples(Xs), _num_samples(Xt)
        if n_source < 2 or n_target < 2:
            raise ScoringSetupError(f"the {self.name} score needs at least 2 source and 2 target rows in the scoring "
                                    f"data to estimate density ratios, got {n_source} and {n_target}.")
        if self.features == "input":
            try:
                Fs, Ft = final_input_features(estimator, Xs, Xt, given="the rows given to the scorer")
            except ValueError as exc:
                raise ScoringSetupError(f"the {self.name} score with features='input': {exc}, or use "
                                        "features='learned'.") from exc
        elif self.features == "learned":
            if not hasattr(estimator, "transform"):
                raise ScoringSetupError(f"features='learned' needs an estimator with transform (the learned "
                                        f"features); {type(estimator).__name__} has none. Use features='input'.")
            Fs, Ft = estimator.transform(Xs), estimator.transform(Xt)
        else:
            raise ScoringSetupError(f"features must be 'input' or 'learned', got {self.features!r}.")
        return density_ratio(Fs, Ft, domain_classifier=self.domain_classifier, cv=self.cv,
                             random_state=self.random_state, truncate=self.truncate)


class IWCVScorer(_WeightedScorer):
    """:func:`importance_weighted_validation` of the source rows of the scoring data.

    Weights: :func:`density_ratio` on ``features="input"`` (default: the rows as the final estimator receives
    them, i.e. for a Pipeline the output of its other steps, so that a DataFrame with text columns encoded by
    a ColumnTransformer works; the paper's covariate-shift setting; candidates that share the preprocessing
    share the weights) or ``"learned"`` (``estimator.transform``). ``metric``: "accuracy" (default) or "log_loss";
    ``normalize``: see the function.
    ``domain_classifier``, ``cv``, ``random_state`` (seeds the shuffled folds) and ``truncate``: those of
    :func:`density_ratio`. ``unlabeled_marker``: see :class:`UnsupervisedScorer`.
    """

    name = "IWCV"

    def __init__(self, *, metric="accuracy", normalize=False, features="input", domain_classifier=None, cv=5,
                 random_state=0, truncate=True, unlabeled_marker="auto"):
        super().__init__(features=features, domain_classifier=domain_classifier, cv=cv, random_state=random_state,
                         truncate=truncate, unlabeled_marker=unlabeled_marker)
        _check_choice("metric", metric, ("accuracy", "log_loss"))
        _check_flag("normalize", normalize)
        self.metric = metric
        self.normalize = normalize

    def _params(self):
        return {"metric": self.metric, "normalize": self.normalize, **super()._params()}

    def _score(self, estimator, Xs, ys, Xt):
        w = self.weights(estimator, Xs, Xt)
        return importance_weighted_validation(ys, estimator.predict_proba(Xs), w, metric=self.metric,
                                              normalize=self.normalize, classes=estimator.classes_)


class DEVScorer(_WeightedScorer):
    """:func:`deep_embedded_validation` of the source rows of the scoring data.

    Weights: :func:`density_ratio` on ``features="learned"`` (default, as the paper: ``estimator.transform``,
    the feature extractor's output) or ``"input"``. ``loss``: "log_loss" (default) or "zero_one".
    ``domain_classifier``, ``cv``, ``random_state`` (seeds the shuffled folds) and ``truncate``: those of
    :func:`density_ratio`. ``unlabeled_marker``: see :class:`UnsupervisedScorer`.
    """

    name = "DEV"

    def __init__(self, *, loss="log_loss", features="learned", domain_classifier=None, cv=5, random_state=0,
                 truncate=True, unlabeled_marker="auto"):
        super().__init__(features=features, domain_classifier=domain_classifier, cv=cv, random_state=random_state,
                         truncate=truncate, unlabeled_marker=unlabeled_marker)
        _check_choice("loss", loss, ("log_loss", "zero_one"))
        self.loss = loss

    def _params(self):
        return {"loss": self.loss, **super()._params()}

    def _score(self, estimator, Xs, ys, Xt):
        w = self.weights(estimator, Xs, Xt)
        return deep_embedded_validation(ys, estimator.predict_proba(Xs), w, loss=self.loss,
                                        classes=estimator.classes_)


def _check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be {' or '.join(repr(c) for c in choices)}, got {value!r}.")


_SCORERS = {"entropy": EntropyScorer, "iwcv": IWCVScorer, "dev": DEVScorer, "snd": SNDScorer}


def make_unsupervised_scorer(name, **params):
    """A scorer by name: "entropy", "iwcv", "dev" or "snd", with the parameters of its class
    (:class:`EntropyScorer`, :class:`IWCVScorer`, :class:`DEVScorer`, :class:`SNDScorer`)."""
    key = str(name).lower()
    if key not in _SCORERS:
        raise ValueError(f"unknown unsupervised scorer {name!r}; choose from {sorted(_SCORERS)}.")
    return _SCORERS[key](**params)


entropy_scorer = EntropyScorer()
iwcv_scorer = IWCVScorer()
dev_scorer = DEVScorer()
snd_scorer = SNDScorer()
