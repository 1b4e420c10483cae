"""Input validation shared by every skda estimator (one place, not one per method).

Nothing here modifies its input in place. ``check_features`` returns the caller's array itself when it is
already a C-contiguous float32 array (no copy), so code that may write into the result must copy first (the
engine's prediction path copies each chunk on the CPU).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.multiclass import check_classification_targets

__all__ = ["check_features", "numeric_labels", "split_domains", "unlabeled_mask"]

#: Dense copies of sparse input are made up to this many cells (float32: 4 bytes each); above it we refuse.
MAX_DENSIFIED_CELLS = 50_000_000


def check_features(X, *, name="X", input_shape=None, estimator_name="this estimator"):
    """Validate a feature array and return it as a C-contiguous float32 numpy array (a copy if needed).

    - sparse input is densified when it has at most ``MAX_DENSIFIED_CELLS`` cells, else ``ValueError``;
    - NaN / inf, empty arrays, object or string features raise ``ValueError``;
    - arrays of any rank >= 2 are accepted (images for a custom module); ``input_shape`` (the shape of
      one sample seen at fit) is enforced when given.
    """
    if sp.issparse(X):
        n_cells = int(np.prod(X.shape))
        if n_cells > MAX_DENSIFIED_CELLS:
            raise ValueError(
                f"{name} is a sparse matrix of shape {X.shape} ({n_cells} cells); skda trains on dense "
                f"tensors and densifies sparse input only up to {MAX_DENSIFIED_CELLS} cells. Reduce the "
                "dimension first (e.g. TruncatedSVD).")
        X = X.toarray()
    arr = X if hasattr(X, "iloc") else np.asarray(X)  # pandas goes to check_array as is
    if not hasattr(arr, "iloc") and arr.dtype.kind in "OUSV":
        try:
            arr = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} has dtype {arr.dtype} and cannot be converted to numbers ({exc}); encode "
                "non-numeric features first (e.g. OneHotEncoder).") from None
    X = check_array(arr, dtype=np.float32, order="C", allow_nd=True, ensure_all_finite=True,
                    ensure_min_samples=1, input_name=name)
    if X.ndim < 2:  # pragma: no cover - check_array already refuses 1-D input
        raise ValueError(f"{name} must be at least 2-D, got shape {X.shape}.")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {X.shape}).")
    if input_shape is not None and tuple(X.shape[1:]) != tuple(input_shape):
        if len(input_shape) == 1 and X.ndim == 2:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but {estimator_name} is expecting {input_shape[0]} features as "
                "input (the number of features seen at fit).")
        raise ValueError(
            f"{name} has sample shape {tuple(X.shape[1:])}, but this estimator was fitted on samples of shape "
            f"{tuple(input_shape)}.")
    return X


def unlabeled_mask(y, marker):
    """Boolean mask of the rows of ``y`` equal to the unlabelled ``marker`` (all False if marker is None).

    A string label array never matches a numeric marker and vice versa (no elementwise-comparison surprise).
    But a string label that spells a numeric marker (``"-1"`` for -1, what ``np.r_[string_labels, -1]`` or a
    list of strings and -1 produce: numpy turns the marker into text) raises ``ValueError``: the rows meant
    as unlabelled would otherwise silently become a class.
    """
    y = np.asarray(y)
    if marker is None:
        return np.zeros(len(y), dtype=bool)
    marker_is_number = isinstance(marker, numbers.Number) and not isinstance(marker, bool)
    if marker_is_number and y.dtype.kind in "USO":
        _refuse_stringified_marker(y, marker)
    if y.dtype.kind in "US":
        return y == marker if isinstance(marker, str) else np.zeros(len(y), dtype=bool)
    if y.dtype.kind in "biuf":
        return y == marker if marker_is_number else np.zeros(len(y), dtype=bool)
    # object arrays: compare element by element, only against values of a comparable kind
    def matches(v):
        if marker_is_number:
            return isinstance(v, numbers.Number) and not isinstance(v, bool) and v == marker
        return type(v) is type(marker) and v == marker

    return np.fromiter((matches(v) for v in y), dtype=bool, count=len(y))


def _refuse_stringified_marker(y, marker):
    spellings = {str(marker)}
    if float(marker).is_integer():
        spellings |= {str(int(marker)), str(float(marker))}
    # unique values first: one C-level pass for string arrays (no Python loop over every row)
    values = np.unique(y) if y.dtype.kind in "US" else {v for v in y if isinstance(v, (str, bytes))}
    found = sorted({v.decode() if isinstance(v, bytes) else str(v) for v in values} & spellings)
    if found:
        raise ValueError(
            f"the labels contain the string {found[0]!r} while the unlabelled marker is the number {marker!r}. "
            f"numpy turns {marker!r} into the text {found[0]!r} when it is stacked with string labels (np.r_, "
            "np.concatenate, a list), so those rows would silently become a class. Build y with "
            "skda.model_selection.pack_domains(Xs, ys, Xt) (an object array that keeps the number), or set "
            f"unlabeled_marker={found[0]!r} (the marker as it appears in y), or unlabeled_marker=None if "
            f"{found[0]!r} is a real class.")


def check_x_target_not_routed_past_pipeline(estimator_name, X_target, max_frames=12):
    """Refuse ``X_target`` that reached the estimator as a fit parameter of a scikit-learn ``Pipeline``
    (``pipe.fit(Xs, ys, dannclassifier__X_target=Xt)``): the pipeline hands fit parameters to its last step
    untouched, so ``Xt`` would skip the steps before it (a scaler fitted on the source alone, say) while the
    source rows went through them, a silently wrong fit.

    scikit-learn offers no public hook that tells an estimator it is being fitted as a pipeline step, so this
    looks at the calling frames (at most ``max_frames``, only when ``X_target`` is given) for a ``Pipeline``'s
    ``fit`` / ``fit_transform`` / ``fit_predict`` with a step before the last one that is not ``"passthrough"``.
    """
    if X_target is None:
        return
    import sys

    from sklearn.pipeline import Pipeline

    frame = sys._getframe(1)
    for _ in range(max_frames):
        if frame is None:
            return
        owner = frame.f_locals.get("self")
        if isinstance(owner, Pipeline) and frame.f_code.co_name in ("fit", "fit_transform", "fit_predict"):
            earlier = [name for name, step in owner.steps[:-1] if step is not None and step != "passthrough"]
            if earlier:
                raise ValueError(
                    f"X_target reached {estimator_name} as a fit parameter of a Pipeline, which passes it on "
                    f"without the steps before the estimator ({earlier}): the target rows would not be "
                    "transformed like the source rows. Use the packed form instead: X, y = "
                    "skda.model_selection.pack_domains(Xs, ys, Xt); pipe.fit(X, y) (every step then sees both "
                    "domains).")
            return
        frame = frame.f_back


def is_int_at_least(value, minimum) -> bool:
    """Whether ``value`` is an integer (Python or numpy, not a bool) ``>= minimum``: the check behind every
    count-like parameter (epochs, folds, neighbours, rounds)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and value >= minimum


def numeric_labels(y):
    """An object array holding only numbers or bools (what remains of a packed ``y`` whose marker has another
    type, e.g. ``pack_domains`` with bool labels) as a numeric array, which scikit-learn's label checks and
    metrics understand; any other array unchanged."""
    y = np.asarray(y)
    if y.dtype.kind == "O" and len(y) and not any(isinstance(v, (str, bytes)) for v in y):
        try:
            return np.asarray(y.tolist())
        except (TypeError, ValueError):  # pragma: no cover - e.g. unhashable or ragged entries
            return y
    return y


def _check_labels(y, n_rows, name):
    if y is None:
        raise ValueError(f"{name} is required: this estimator requires y to be passed, but the target y is None "
                         "(skda estimators learn from labelled source samples).")
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) != n_rows:
        raise ValueError(f"{name} has {len(y)} labels but X has {n_rows} rows; they must have the same length.")
    return y


def split_domains(X, y, X_target=None, *, unlabeled_marker=-1, require_target=True, min_classes=2):
    """Validate fit data and return ``(Xs, ys, Xt)``; ``Xt`` is None when there is no target data.

    Two calling forms:

    - three arrays ``(X, y, X_target)``: ``X, y`` is the labelled source, ``X_target`` the unlabelled target;
    - packed ``(X, y)``: rows whose label equals ``unlabeled_marker`` (default -1, scikit-learn's
      semi-supervised convention) are the target, the rest the source. If -1 is a real class, pass another
      marker (e.g. ``unlabeled_marker="unlabeled"``) or ``None`` with the three-array form.

    ``min_classes``: the fewest distinct source labels accepted (2 for a fit; 1 for ``partial_fit`` once the
    classes are declared or known).
    """
    X = check_features(X, name="X")
    y = _check_labels(y, X.shape[0], "y")
    is_target = unlabeled_mask(y, unlabeled_marker)
    if X_target is not None:
        if is_target.any():
            raise ValueError(
                f"y contains the unlabelled marker {unlabeled_marker!r} ({int(is_target.sum())} rows) while "
                "X_target was also given. Use either the packed form fit(X, y) with target rows marked "
                f"{unlabeled_marker!r}, or the three-array form with fully labelled y. If {unlabeled_marker!r} "
                "is a real class, set unlabeled_marker=None (or another value).")
        Xs, ys = X, y
        Xt = check_features(X_target, name="X_target")
        if Xt.shape[1:] != Xs.shape[1:]:
            raise ValueError(
                f"X_target has sample shape {Xt.shape[1:]} but X has {Xs.shape[1:]}: source and target must have "
                "the same features.")
    else:
        if is_target.all():
            raise ValueError(
                f"every label in y is the unlabelled marker {unlabeled_marker!r}: there is no labelled source "
                "sample to learn from.")
        Xs, ys = X[~is_target], y[~is_target]
        Xt = X[is_target] if is_target.any() else None
    if ys.dtype.kind == "O":
        kinds = {type(v) for v in ys}
        if len(kinds) > 1 and not all(issubclass(k, numbers.Number) for k in kinds):
            raise TypeError(f"y mixes label types {sorted(k.__name__ for k in kinds)}; use one type for all labels.")
    ys = numeric_labels(ys)
    check_classification_targets(ys)
    if len(np.unique(ys)) < min_classes:
        clash = "" if X_target is not None or not is_target.any() else (
            f" The other {int(is_target.sum())} rows have the label {unlabeled_marker!r}, read as the unlabelled "
            f"target marker; if {unlabeled_marker!r} is a real class, set unlabeled_marker=None (or another value) "
            "and pass the target as X_target.")
        raise ValueError(
            f"the labelled source data has {len(np.unique(ys))} class(es); a classifier needs at least 2.{clash}")
    if require_target and Xt is None:
        raise ValueError(
            "no target samples: pass X_target, or use the packed form with target rows labelled "
            f"{unlabeled_marker!r} (unlabeled_marker).")
    return Xs, ys, Xt
