"""Cross-validation for packed domain-adaptation data (target rows labelled with the unlabelled marker).

A plain :class:`~sklearn.model_selection.KFold` may leave a fold without target rows (the training fold
then cannot adapt, an unsupervised scorer has nothing to score) and
:class:`~sklearn.model_selection.StratifiedKFold` treats the marker as one more class.
:class:`DomainStratifiedKFold` stratifies on *domain and class* so that every train and test fold holds
both domains in their overall proportions and, within the source, every class with at least
``n_splits`` rows.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples

from .validation import is_int_at_least, numeric_labels, unlabeled_mask

__all__ = ["DomainStratifiedKFold", "pack_domains"]


def _marker_fits(marker, dtype) -> bool:
    """Whether ``marker`` is stored unchanged in an array of the (signed integer or float) ``dtype``."""
    if dtype.kind not in "if" or not isinstance(marker, numbers.Number) or isinstance(marker, bool):
        return False
    try:
        return bool(np.array(marker, dtype=dtype) == marker)
    except (OverflowError, TypeError, ValueError):
        return False


def pack_domains(Xs, ys, Xt, *, unlabeled_marker=-1):
    """Stack source and target rows into the packed form: ``X = [Xs; Xt]``, ``y = [ys, marker...]``.

    ``y`` keeps the labels' dtype when the marker is representable in it (e.g. int labels, marker -1);
    otherwise (string or bool labels, a string marker, an unsigned dtype, a fractional marker with integer
    labels) ``y`` has dtype object, so that neither the marker nor a label is converted.

    Two pandas DataFrames are stacked by column name (``Xt``'s columns in ``Xs``'s order) into a DataFrame,
    so that column names reach the estimator and a ``ColumnTransformer``; DataFrames whose columns differ
    raise ``ValueError``. A source label equal to the marker raises ``ValueError`` (it would become a target
    row).
    """
    ys = column_or_1d(np.asarray(ys), warn=False)
    if len(Xs) != len(ys):
        raise ValueError(f"Xs has {len(Xs)} rows but ys has {len(ys)} labels.")
    if unlabeled_mask(ys, unlabeled_marker).any():
        raise ValueError(f"ys contains the unlabelled marker {unlabeled_marker!r}, which would turn those source "
                         "rows into target rows; pass another unlabeled_marker (and the same one to the "
                         "estimator).")
    if hasattr(Xs, "columns") and hasattr(Xt, "columns"):
        if set(Xs.columns) != set(Xt.columns) or len(Xs.columns) != len(Xt.columns):
            raise ValueError(f"Xs and Xt have different columns (Xs: {list(Xs.columns)}, Xt: {list(Xt.columns)}); "
                             "pack_domains stacks DataFrames by column name.")
        import pandas as pd

        X = pd.concat([Xs, Xt[list(Xs.columns)]], ignore_index=True)
    else:
        Xs, Xt = np.asarray(Xs), np.asarray(Xt)
        if Xs.shape[1:] != Xt.shape[1:]:
            raise ValueError(f"Xs has sample shape {Xs.shape[1:]} but Xt has {Xt.shape[1:]}.")
        X = np.concatenate([Xs, Xt])
    if _marker_fits(unlabeled_marker, ys.dtype):
        y = np.concatenate([ys, np.full(len(Xt), unlabeled_marker, dtype=ys.dtype)])
    else:
        y = np.concatenate([ys.astype(object), np.full(len(Xt), unlabeled_marker, dtype=object)])
    return X, y


class DomainStratifiedKFold(BaseCrossValidator):
    """K-fold for packed data, stratified by domain and (in the source) by class.

    The strata are the target rows (``y == unlabeled_marker``) and each source class. Each stratum is
    dealt round-robin over the folds (in a random order with ``shuffle=True``), continuing from the fold
    where the previous stratum stopped, so

    - every test fold holds ``floor`` or ``ceil`` of ``1 / n_splits`` of every stratum, and fold sizes differ
      by at most one row;
    - every train and test fold has source and target rows;
    - every test fold has each source class with at least ``n_splits`` rows (rarer classes go to as many
      folds as they have rows), and every training fold has every class with at least 2 rows.

    Use it as ``cv=`` in ``GridSearchCV`` / ``cross_val_score`` with packed ``(X, y)`` (``y`` is required).

    Parameters
    ----------
    n_splits : int, default 5 (>= 2)
    shuffle : bool, default False
        Shuffle each stratum before dealing (otherwise rows keep their order).
    random_state : int, RandomState or None
        Used when ``shuffle=True``.
    unlabeled_marker : default -1
        Label of the target rows.
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None, unlabeled_marker=-1):
        if not is_int_at_least(n_splits, 2):
            raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}.")
        if not shuffle and random_state is not None:
            raise ValueError("random_state has no effect unless shuffle=True; set shuffle=True or leave "
                             "random_state=None.")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state
        self.unlabeled_marker = unlabeled_marker

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` index arrays; ``y`` marks the target rows with ``unlabeled_marker``."""
        if y is None:
            raise ValueError("DomainStratifiedKFold needs y (packed labels: target rows marked "
                             f"{self.unlabeled_marker!r}) to tell the domains apart.")
        y = np.asarray(y)
        if y.ndim != 1:
            y = y.ravel()
        n = _num_samples(X)
        if len(y) != n:
            raise ValueError(f"y has {len(y)} labels but X has {n} rows.")
        target = unlabeled_mask(y, self.unlabeled_marker)
        n_target, n_source = int(target.sum()), int((~target).sum())
        if n_target < self.n_splits or n_source < self.n_splits:
            raise ValueError(
                f"DomainStratifiedKFold(n_splits={self.n_splits}) needs at least {self.n_splits} source and "
                f"{self.n_splits} target rows (y == {self.unlabeled_marker!r}); got {n_source} source and "
                f"{n_target} target rows.")
        try:  # NaN or continuous source labels cannot be stratified (NaN would not even mark the target)
            check_classification_targets(numeric_labels(y[~target]))
        except ValueError as exc:
            raise ValueError(f"DomainStratifiedKFold: the source labels are not class labels ({exc}); target rows "
                             f"must be marked {self.unlabeled_marker!r}, not NaN.") from None
        yield from super().split(X, y, groups)

    def _iter_test_masks(self, X, y, groups=None):
        y = np.asarray(y).ravel()
        target = unlabeled_mask(y, self.unlabeled_marker)
        source = np.flatnonzero(~target)
        _, codes = np.unique(y[source], return_inverse=True)
        strata = [np.flatnonzero(target)] + [source[codes == c] for c in range(codes.max() + 1)]
        rng = check_random_state(self.random_state) if self.shuffle else None
        fold = np.empty(len(y), dtype=np.intp)
        offset = 0
        for members in strata:
            if rng is not None:
                members = rng.permutation(members)
            fold[members] = (offset + np.arange(len(members))) % self.n_splits
            offset = (offset + len(members)) % self.n_splits
        for k in range(self.n_splits):
            yield fold == k
