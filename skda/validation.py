"""Input validation shared by every skda estimator (one place, not one per method).

Nothing here modifies its input in place. ``check_features`` returns the caller's array itself when it is
already a C-contiguous float32 array (no copy), so code that may write into the result must copy first (the
engine's prediction path copies each chunk on the CPU).
"""

from __future__ import annotations

import numbers
import sys
import warnings
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import _safe_indexing, check_array, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples, check_consistent_length

from .images import check_image_input
from .runtime import caller_stacklevel

__all__ = ["check_features", "check_target_labels", "final_estimator", "numeric_labels", "split_domains",
           "split_sample_domain", "unlabeled_mask"]

#: Caller frames looked at by :func:`sklearn_callers` (each look is a dict lookup: microseconds in all).
CALLER_FRAMES = 60

#: scikit-learn functions whose presence on the call stack the scikit-learn checks look for.
_CROSS_VAL_PREDICT = ("sklearn.model_selection._validation", "cross_val_predict")
_FIT_AND_PREDICT = ("sklearn.model_selection._validation", "_fit_and_predict")
_FIT_AND_SCORE = ("sklearn.model_selection._validation", "_fit_and_score")
_SCORER_SCORE = ("sklearn.metrics._scorer", "_score")
_CLASSIFIER_SCORE = ("sklearn.base", "score")  # ClassifierMixin.score of a scikit-learn wrapper around skda
_VALIDATION_SCORE = ("sklearn.model_selection._validation", "_score")
#: swallows fit errors (error_score=np.nan) without the "fits failed" warning of cross_val_score and the searches
_VALIDATION_CURVE = ("sklearn.model_selection._validation", "validation_curve")
#: CalibratedClassifierCV.fit label-encodes every y (the marker too) and fits its calibrators on those labels
_CALIBRATION_FIT = ("sklearn.calibration", "fit")
_PERMUTATION_TEST = ("sklearn.model_selection._validation", "permutation_test_score")
_ENCODING_METHODS = ("decision_function", "predict_proba", "predict_log_proba")
#: where those wrappers (and CalibratedClassifierCV) fit one estimator, also in a worker process (n_jobs > 1)
_WRAPPER_WORKER_FITS = (("sklearn.ensemble._base", "_fit_single_estimator"),
                        ("sklearn.ensemble._bagging", "_parallel_build_estimators"),
                        ("sklearn.calibration", "_fit_classifier_calibrator_pair"),
                        ("sklearn.multiclass", "_fit_binary"), ("sklearn.multiclass", "_fit_ovo_binary"))
#: ClassifierChain's fit (scikit-learn's _BaseChain.fit): each link gets the labels of the links before it as features
_CHAIN_FIT = ("sklearn.multioutput", "fit")
#: MultiOutputClassifier's own score: the mean over the columns of the accuracy on every row
_MULTIOUTPUT_SCORE = ("sklearn.multioutput", "score")
#: VotingClassifier's prediction methods: they map the models' outputs through its label encoder ``le_``
_VOTING_PREDICTIONS = tuple(("sklearn.ensemble._voting", name)
                            for name in ("predict", "predict_proba", "transform", "_collect_probas", "_predict"))
#: fits of scikit-learn wrappers that label-encode (or binarise) y before fitting the estimators they hold
_ENCODING_WRAPPER_FITS = (("sklearn.ensemble._voting", "fit"), ("sklearn.ensemble._bagging", "fit"),
                          ("sklearn.ensemble._bagging", "_fit"), ("sklearn.ensemble._stacking", "fit"),
                          ("sklearn.multiclass", "fit"), ("sklearn.multiclass", "partial_fit"))

#: Dense copies of sparse input are made up to this many cells (float32: 4 bytes each); above it we refuse.
MAX_DENSIFIED_CELLS = 50_000_000


def check_features(X, *, name="X", input_shape=None, estimator_name="this estimator", dtype=np.float32):
    """Validate a feature array and return it as a C-contiguous ``dtype`` numpy array (float32 by default, what
    the networks take; a copy if needed).

    - sparse input is densified when it has at most ``MAX_DENSIFIED_CELLS`` cells, else ``ValueError``;
    - NaN / inf, empty arrays, object or string features raise ``ValueError``;
    - arrays of any rank >= 2 are accepted (images for a custom module); ``input_shape`` (the shape of
      one sample seen at fit) is enforced when given;
    - images ``(n, H, W)`` / ``(n, C, H, W)`` of dtype uint8 are returned as uint8 (converted to float in
      [0, 1] batch by batch, :mod:`skda.images`); a 1-D array or list of file paths is returned as a 1-D object
      array of path strings (decoded batch by batch; ``input_shape`` is not checked here for them).
    """
    if type(X).__module__.startswith("torch") and hasattr(X, "detach"):  # a torch tensor: its values, as numpy
        X = X.detach().cpu()
        X = (X.float() if X.is_floating_point() and X.element_size() < 4 else X).numpy()  # bfloat16 / float16
    if sp.issparse(X):
        _check_densified_cells(X, f"{name} is a sparse matrix")
        X = X.toarray()
    elif hasattr(X, "iloc") and hasattr(X, "dtypes") and np.ndim(X) == 2:
        sparse_columns = {column: dtype.subtype for column, dtype in X.dtypes.items()
                          if type(dtype).__name__ == "SparseDtype"}
        if sparse_columns:  # pandas sparse columns: densified as a scipy sparse matrix is
            _check_densified_cells(X, f"{name} is a DataFrame with sparse columns")
            X = X.astype(sparse_columns)
    paths = check_image_input(X, name=name)
    if paths is not None:  # image files: decoded batch by batch (skda.images); shapes are checked then
        return paths
    arr = X if hasattr(X, "iloc") else np.asarray(X)  # pandas goes to check_array as is
    if not hasattr(arr, "iloc") and arr.ndim in (3, 4) and arr.dtype == np.uint8:
        # uint8 images stay uint8 (a quarter of the memory); each batch becomes float32 in [0, 1] (skda.images)
        X = check_array(arr, dtype=None, order="C", allow_nd=True, ensure_min_samples=1, input_name=name)
        return _check_input_shape(X, name, input_shape, estimator_name)
    if not hasattr(arr, "iloc") and arr.dtype.kind in "OUSV":
        try:
            arr = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} has dtype {arr.dtype} and cannot be converted to numbers ({exc}); encode "
                "non-numeric features first (e.g. OneHotEncoder).") from None
    try:
        X = check_array(arr, dtype=dtype, order="C", allow_nd=True, ensure_all_finite=True,
                        ensure_min_samples=1, input_name=name)
    except ValueError as exc:
        if not (hasattr(arr, "iloc") and str(exc).startswith("could not convert")):
            raise
        columns = [column for column, values in arr.items() if not _numeric_column(values)]
        raise TypeError(f"{name} has columns that cannot be converted to numbers: {columns[:10]} ({exc}); encode "
                        "non-numeric features first (e.g. OneHotEncoder in a ColumnTransformer).") from None
    if X.ndim < 2:  # pragma: no cover - check_array already refuses 1-D input
        raise ValueError(f"{name} must be at least 2-D, got shape {X.shape}.")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {X.shape}).")
    return _check_input_shape(X, name, input_shape, estimator_name)


def _numeric_column(values):
    """Whether a DataFrame column's values convert to float64 (numbers of any dtype, object columns of numbers)."""
    try:
        np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _check_densified_cells(X, what):
    n_cells = int(np.prod(X.shape))
    if n_cells > MAX_DENSIFIED_CELLS:
        raise ValueError(
            f"{what} of shape {X.shape} ({n_cells} cells); skda trains on dense tensors and densifies sparse input "
            f"only up to {MAX_DENSIFIED_CELLS} cells. Reduce the dimension first (e.g. TruncatedSVD).")


def _check_input_shape(X, name, input_shape, estimator_name):
    if input_shape is not None and tuple(X.shape[1:]) != tuple(input_shape):
        if len(input_shape) == 1 and X.ndim == 2:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but {estimator_name} is expecting {input_shape[0]} features as "
                "input (the number of features seen at fit).")
        raise ValueError(
            f"{name} has sample shape {tuple(X.shape[1:])}, but this estimator was fitted on samples of shape "
            f"{tuple(input_shape)}.")
    return X


def uint8_images_as_float(images):
    """uint8 images as float32 in [0, 1] (x / 255, what the engine does batch by batch); other arrays unchanged."""
    return images.astype(np.float32) / np.float32(255) if images.dtype == np.uint8 else images


def check_image_scale(images, *, name, reference):
    """Warn (``DataConversionWarning``) when ``images`` (validated), image arrays that are not uint8 and so are read
    as given, hold values far outside [0, 1] (below -0.5 or above 1.5: noise or interpolation around [0, 1] pass)
    while ``reference`` names uint8 images, which skda reads as x / 255 in [0, 1]: the same pixels then reach the
    network 255 times larger (e.g. an int or float copy of uint8 images). Flat rows, files and uint8 images pass
    unchecked."""
    if images.dtype in (np.uint8, object) or images.ndim not in (3, 4) or images.size == 0:
        return
    low, high = float(images.min()), float(images.max())
    if low < -0.5 or high > 1.5:
        warnings.warn(
            f"{name} holds images that are not uint8, read as given, with values in [{low:g}, {high:g}], while "
            f"{reference} uint8 images, which skda reads as x / 255 in [0, 1]: the two are on different scales. "
            f"Pass {name} as uint8 (the same pixels), or scale it to [0, 1].",
            DataConversionWarning, stacklevel=caller_stacklevel())


def unlabeled_mask(y, marker, name="y"):
    """Boolean mask of the rows of ``y`` equal to the unlabelled ``marker`` (all False if marker is None).

    A string label array never matches a numeric marker and vice versa (no elementwise-comparison surprise).
    But a string label that spells a numeric marker (``"-1"`` for -1, what ``np.r_[string_labels, [-1]]`` or a
    list of strings and -1 produce: numpy turns the marker into text) raises ``ValueError``: the rows meant
    as unlabelled would otherwise silently become a class. ``name`` (``"y"``, the packed labels, or ``"yt"``,
    the target labels) names the array and the remedy in that error.
    """
    y = np.asarray(y)
    if marker is None:
        return np.zeros(len(y), dtype=bool)
    marker_is_number = isinstance(marker, numbers.Number) and not isinstance(marker, bool)
    if marker_is_number and y.dtype.kind in "USO":
        _refuse_stringified_marker(y, marker, name)
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


def _refuse_stringified_marker(y, marker, name="y"):
    spellings = {str(marker)}
    if float(marker).is_integer():
        spellings |= {str(int(marker)), str(float(marker))}
    # unique values first: one C-level pass for string arrays (no Python loop over every row)
    values = np.unique(y) if y.dtype.kind in "US" else {v for v in y if isinstance(v, (str, bytes))}
    found = sorted({v.decode() if isinstance(v, bytes) else str(v) for v in values} & spellings)
    if found:
        remedy = ("Build y with skda.model_selection.pack_domains(Xs, ys, Xt) (an object array that keeps the "
                  "number)" if name == "y" else
                  f"Build {name} as an object array, np.array(labels, dtype=object), which keeps the number")
        raise ValueError(
            f"{name} contains the string {found[0]!r} while the unlabelled marker is the number {marker!r}. "
            f"numpy turns {marker!r} into the text {found[0]!r} when it is stacked with string labels (np.r_, "
            f"np.concatenate, a list), so those rows would silently become a class. {remedy}, or set "
            f"unlabeled_marker={found[0]!r} (the marker as it appears in {name}), or unlabeled_marker=None if "
            f"{found[0]!r} is a real class.")


def check_x_target_not_routed_past_pipeline(estimator_name, X_target):
    """Refuse ``X_target`` that reached the estimator as a fit parameter of a scikit-learn ``Pipeline``
    (``pipe.fit(Xs, ys, dannclassifier__X_target=Xt)``) past steps that transform: the pipeline hands fit
    parameters to their step untouched, so ``Xt`` would skip the steps before it (a scaler fitted on the source
    alone, say) while the source rows went through them, a silently wrong fit. No public hook tells an estimator
    that it is fitted as a pipeline step: every calling ``Pipeline.fit`` / ``fit_transform`` / ``fit_predict``
    (nested pipelines included) is found by :func:`sklearn_frames` (only when ``X_target`` is given). A pipeline
    counts when this very ``X_target`` object is one of its fit parameters (not when a meta-estimator inside it,
    e.g. ``AdaptationCheck``, made the target rows from the packed data it was given); the steps before the one
    the parameter is addressed to (``<step>__X_target``; the last step with metadata routing's unprefixed name)
    must all be ``"passthrough"`` (or None)."""
    if X_target is None:
        return
    pipeline_fits = [("sklearn.pipeline", name) for name in ("fit", "fit_transform", "fit_predict")]
    for _, local in sklearn_frames(*pipeline_fits):
        steps = getattr(local.get("self"), "steps", None)
        params = local.get("params")
        if not steps or not isinstance(params, dict):
            continue
        keys = [key for key, value in params.items() if value is X_target]
        if not keys:
            continue
        names = [name for name, _ in steps]
        addressed = keys[0].split("__", 1)[0] if "__" in keys[0] else names[-1]
        receiving = names.index(addressed) if addressed in names else len(names) - 1
        earlier = [name for name, step in steps[:receiving]
                   if step is not None and not (isinstance(step, str) and step == "passthrough")]
        if earlier:
            raise ValueError(
                f"X_target reached {estimator_name} as a fit parameter of a Pipeline, which passes it on without "
                f"the steps before the estimator ({earlier}): the target rows would not be transformed like the "
                "source rows. Use the packed form instead: X, y = skda.model_selection.pack_domains(Xs, ys, Xt); "
                "pipe.fit(X, y) (every step then sees both domains).")


def warn_if_the_pipeline_ends_in_a_classifier_blind_to_the_marker(transformer, y, marker):
    """Warn when a transformer (``CORAL``, a skda estimator used for its features) is fitted on packed labels ``y``
    (rows marked ``marker``) inside a ``Pipeline`` whose last step is a classifier that knows no marker (e.g.
    ``LogisticRegression``): the pipeline hands it the same ``y``, so it learns the marker as a class and predicts
    it for target rows. Classifiers that take packed labels pass: skda's (they have ``unlabeled_marker``, also
    inside a search or ``AdaptationCheck``), ``SourceClassifier`` and scikit-learn's ``sklearn.semi_supervised``
    (its marker is -1 too). The nearest enclosing pipeline is found by :func:`sklearn_frames`."""
    if marker is None or y is None or np.ndim(y) != 1 or not unlabeled_mask(np.asarray(y), marker).any():
        return
    def takes_packed_labels(model):
        return hasattr(model, "unlabeled_marker") or type(model).__module__.startswith("sklearn.semi_supervised")

    pipeline_fits = [("sklearn.pipeline", name) for name in ("fit", "fit_transform", "fit_predict")]
    for _, local in sklearn_frames(*pipeline_fits):  # nearest first: an inner pipeline may end in the transformer
        # the final step, then what a search / meta-estimator holds (as this fit will clone it, not a former pick)
        models = list(inner_models(local.get("self"), fitted=False))
        if models[0] is transformer:  # an inner pipeline that ends in the transformer itself: look further out
            continue
        last = next((model for model in models if takes_packed_labels(model)), models[-1])
        # not a classifier (e.g. an inner pipeline that ends in the transformer, or a "passthrough" last step):
        # look further out
        try:
            classifier = is_classifier(last)
        except Exception:  # a "passthrough" or None step, a class, broken tags: a warning must not fail the fit
            classifier = False
        if not classifier:
            continue
        if takes_packed_labels(last):
            return
        warnings.warn(
            f"{type(transformer).__name__} was fitted on packed labels (target rows labelled {marker!r}) in a Pipeline "
            f"that ends in {type(last).__name__}, which knows no unlabelled marker: it will learn {marker!r} as a "
            f"class and predict it for target rows. Wrap it: skda.preprocessing.SourceClassifier("
            f"{type(last).__name__}(...)) fits it on the labelled rows only.", UserWarning,
            stacklevel=caller_stacklevel())
        return


@contextmanager
def restored_on_error(obj, names):
    """Inside, the attributes ``names`` of ``obj`` may change; if the block raises, each is put back as it was
    (deleted if it was absent), so that a refit that fails leaves a fitted estimator as it was."""
    saved = {name: vars(obj)[name] for name in names if name in vars(obj)}
    try:
        yield
    except BaseException:
        for name in names:
            if name in saved:
                setattr(obj, name, saved[name])
            elif name in vars(obj):
                delattr(obj, name)
        raise


def final_estimator(estimator):
    """The last step of a Pipeline (recursively); any other estimator itself."""
    while hasattr(estimator, "steps"):
        estimator = estimator.steps[-1][1]
    return estimator


def row_indexable(a):
    """``a`` in a form whose rows ``sklearn.utils._safe_indexing`` selects: lists and other sequences as arrays,
    sparse matrices without row indexing (COO, DIA, BSR) as CSR; arrays, DataFrames and CSR / CSC / LIL / DOK
    matrices unchanged."""
    if sp.issparse(a):
        return a if a.format in ("csr", "csc", "lil", "dok") else a.tocsr()
    if hasattr(a, "iloc") or hasattr(a, "shape"):
        return a
    return np.asarray(a)


def unlabeled_marker_of(estimator, default=-1):
    """The ``unlabeled_marker`` of the model in ``estimator`` that reads packed labels: the last step of a
    Pipeline, the model a search or meta-estimator holds (``best_estimator_`` once fitted, else ``estimator``),
    recursively; ``default`` when none has one (e.g. a scikit-learn classifier)."""
    return next((model.unlabeled_marker for model in inner_models(estimator) if hasattr(model, "unlabeled_marker")),
                default)


def inner_models(estimator, fitted=True, max_depth=20):
    """``estimator``'s final model, then the models it wraps, outermost first: the last step of a Pipeline, the model
    a search or meta-estimator holds (``best_estimator_`` once fitted, unless ``fitted=False``: the ``estimator``
    that a fit about to run will clone), recursively (at most ``max_depth`` levels)."""
    model = estimator
    for _ in range(max_depth):
        model = final_estimator(model)
        yield model
        inner = getattr(model, "best_estimator_", None) if fitted else None
        inner = getattr(model, "estimator", None) if inner is None else inner
        if inner is None or inner is model:
            return
        model = inner


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


def _check_labels(y, n_rows, name, marker, source=None):
    if y is None:
        raise ValueError(f"{name} is required: this estimator requires y to be passed, but the target y is None "
                         "(skda estimators learn from labelled source samples).")
    y = column_or_1d(np.asarray(y), warn=True)
    if not y.dtype.isnative:  # e.g. big-endian labels read from a file: classes_ in native order (torch, save_params)
        y = y.astype(y.dtype.newbyteorder("="))
    if len(y) != n_rows:
        raise ValueError(f"{name} has {len(y)} labels but X has {n_rows} rows; they must have the same length.")
    refuse_missing_labels(y, name, marker, source)
    return y


def refuse_missing_labels(y, name, marker, source=None) -> None:
    """``ValueError`` when the 1-D labels ``y`` hold missing values (NaN, None, pandas' NA). ``source``: the mask of
    the rows known to be source rows (all of them in the three-array form, ``sample_domain > 0`` with it), which
    need their label; None (packed labels): target rows left missing the pandas way instead of carrying
    ``marker``."""
    missing = missing_labels(y)
    if not missing.any():
        return
    where = f"{int(missing.sum())} missing labels (NaN, None or pd.NA; the first at row {int(np.argmax(missing))})"
    if source is not None and (missing & source).any():
        first = int(np.argmax(missing & source))
        raise ValueError(f"{name} has {where}; row {first} is a source row, and every source row needs its label.")
    if source is not None:  # target rows of the sample_domain form
        how = f"mark the target rows whose label is unknown with the unlabelled marker {marker!r}"
    elif marker is None:
        how = "with unlabeled_marker=None every row of y is labelled: pass the target rows as X_target"
    else:
        how = (f"mark the target rows with the unlabelled marker {marker!r} (unlabeled_marker; "
               "skda.model_selection.pack_domains(Xs, ys, Xt) builds such a y), or pass them as X_target")
    raise ValueError(f"{name} has {where}; skda does not read a missing label as unlabelled: {how}.")


def missing_labels(y) -> np.ndarray:
    """Mask of the entries of the 1-D label array ``y`` that are missing values: NaN, None or pandas' NA."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype.kind != "O":
        return np.zeros(len(y), dtype=bool)
    return np.fromiter((v is None or type(v).__name__ == "NAType" or (isinstance(v, numbers.Real) and v != v)
                        for v in y), dtype=bool, count=len(y))


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
    y = _check_labels(y, X.shape[0], "y", unlabeled_marker,
                      source=None if X_target is None else np.ones(X.shape[0], dtype=bool))
    check_sklearn_fit(y, unlabeled_marker, target_given=X_target is not None)
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
        if (Xs.dtype == object) != (Xt.dtype == object):
            raise ValueError("X and X_target must both be image file paths or both arrays; got "
                             f"{'paths' if Xs.dtype == object else 'an array'} and "
                             f"{'paths' if Xt.dtype == object else 'an array'}.")
        if Xt.shape[1:] != Xs.shape[1:]:
            raise ValueError(
                f"X_target has sample shape {Xt.shape[1:]} but X has {Xs.shape[1:]}: source and target must have "
                "the same features.")
        if Xs.dtype != Xt.dtype and np.uint8 in (Xs.dtype, Xt.dtype):
            # uint8 images with float images: both as float32, the uint8 ones in [0, 1] as the engine reads them
            if Xs.dtype == np.uint8:
                check_image_scale(Xt, name="X_target", reference="X holds")
            else:
                check_image_scale(Xs, name="X", reference="X_target holds")
            Xs, Xt = (uint8_images_as_float(a) for a in (Xs, Xt))
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
        if unlabeled_marker is None:
            raise ValueError("no target samples: pass X_target (with unlabeled_marker=None no label marks a target "
                             "row, so the packed form has none).")
        raise ValueError(
            "no target samples: pass X_target, or use the packed form with target rows labelled "
            f"{unlabeled_marker!r} (unlabeled_marker).")
    return Xs, ys, Xt


def is_per_row(value, n_rows) -> bool:
    """Whether a fit parameter holds one value per row of an ``n_rows``-row ``X`` (e.g. ``sample_weight``,
    ``sample_domain``), so that it is subset with the rows (scikit-learn's rule for cross-validation)."""
    return (hasattr(value, "__len__") and not isinstance(value, (str, bytes, dict)) and np.ndim(value) >= 1
            and len(value) == n_rows)


def sample_domain_source_rows(sample_domain, n_rows):
    """Validated ``sample_domain`` (skada's convention: one integer per row, positive for a source row, negative
    for a target row) as the boolean mask of the source rows; at least one row must be a source row."""
    domains = np.asarray(sample_domain)
    if domains.ndim == 2 and domains.shape[1] == 1:
        domains = domains.ravel()  # a column, as scikit-learn's column_or_1d accepts
    if domains.ndim != 1:
        raise ValueError(f"sample_domain must be 1-D (one domain per row of X), got shape {domains.shape}.")
    if len(domains) != n_rows:
        raise ValueError(f"sample_domain has {len(domains)} entries but X has {n_rows} rows; give one domain per "
                         "row (positive: source, negative: target).")
    if domains.dtype.kind == "O" and all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                                         for v in domains):
        domains = domains.astype(np.int64)  # e.g. a pandas object column of Python ints
    integral = domains.dtype.kind in "iu" or (
        domains.dtype.kind == "f" and np.all(np.isfinite(domains)) and np.all(np.mod(domains, 1) == 0))
    if not integral:
        shown = np.unique(domains.astype(str) if domains.dtype.kind == "O" else domains)[:5].tolist()
        raise ValueError(f"sample_domain must hold integers, positive for source rows and negative for target rows "
                         f"(skada's convention), got dtype {domains.dtype} with values {shown}.")
    zero = np.flatnonzero(domains == 0)
    if len(zero):
        raise ValueError(f"sample_domain is 0 at rows {zero[:5].tolist()}{' ...' if len(zero) > 5 else ''}; 0 is no "
                         "domain: positive values mark source rows, negative values target rows.")
    source = domains > 0
    if not source.any():
        raise ValueError("sample_domain marks no source row (no positive value): skda estimators learn from labelled "
                         "source rows.")
    return source


def split_sample_domain(X, y, sample_domain, marker, *, X_target=None, yt=None):
    """The packed form with a domain per row, ``fit(X, y, sample_domain=...)``, as the three-array form: return
    ``(Xs, ys, Xt, yt)``.

    ``sample_domain`` follows skada's convention: one integer per row of ``X``, positive for a source row, negative
    for a target row (0 is refused; several positive or several negative values are pooled into one source and one
    target domain: skda adapts one source to one target). Source rows must be labelled; a target row's ``y`` is its
    label if known, else the unlabelled ``marker`` (so ``yt`` is the ``y`` of the target rows, and target rows may
    carry real labels, which the packed form without ``sample_domain`` cannot express). Rows keep their order. A
    DataFrame ``X`` (pandas, polars) is split by rows (its column names reach the estimator); other input is
    validated by :func:`check_features` first. ``Xt`` and ``yt`` are None when no row is a target row.
    """
    if X_target is not None or yt is not None:
        raise ValueError("sample_domain describes the packed form fit(X, y, sample_domain=...), where X holds the "
                         "source and the target rows; do not pass X_target or yt with it (the target rows and their "
                         "labels are the rows of X and y whose sample_domain is negative).")
    if not hasattr(X, "columns"):
        X = check_features(X, name="X")
    n_rows = _num_samples(X)
    source = sample_domain_source_rows(sample_domain, n_rows)
    y = _check_labels(y, n_rows, "y", marker, source=source)
    # as packed labels: a cross_val_predict worker that label-encoded y (the marker became a class) is warned about
    check_sklearn_fit(y, marker)
    unlabelled_source = np.flatnonzero(source & unlabeled_mask(y, marker))
    if len(unlabelled_source):
        raise ValueError(f"rows {unlabelled_source[:5].tolist()}{' ...' if len(unlabelled_source) > 5 else ''} are "
                         f"source rows (sample_domain > 0) labelled with the unlabelled marker {marker!r}; every "
                         "source row needs its label (only target rows may be unlabelled).")

    def rows(mask):
        return _safe_indexing(X, np.flatnonzero(mask)) if hasattr(X, "columns") else X[mask]

    if source.all():
        return rows(source), y[source], None, None
    return rows(source), y[source], rows(~source), y[~source]


# ------------------------------------------------------------- scikit-learn tools that lose the marker
def sklearn_callers(*functions, max_frames=CALLER_FRAMES):
    """The local variables of the nearest calling frames that run ``functions`` (``(module, function name)``
    pairs of scikit-learn internals): a dict ``{pair: f_locals}`` of those found within ``max_frames`` frames.

    Why frames: some scikit-learn tools drop what tells packed target rows apart, and no public hook lets the
    estimator see it. A scorer calls ``estimator.predict(X)`` without ``y`` (the labels, marker included, are
    the local ``y_true`` of its ``_score``), ``cross_val_predict(method="predict_proba")`` label-encodes
    ``y`` before ``fit`` (the marker becomes class 0; the encoder is its local ``le``), ``CalibratedClassifierCV``
    calibrates on every label (its ``fit``'s local ``y``), as do a wrapper's ``ClassifierMixin.score`` (its local
    ``y``) and ``permutation_test_score`` (its ``y`` and ``groups``); a ``Pipeline`` passes a fit parameter such as
    ``X_target`` to its last step without its other steps (the pipeline is the ``self`` of its ``fit``), and ends
    in the classifier that receives a transformer's packed ``y``. Reading those locals is the only way to refuse
    instead of returning a wrong number. Every frame check of skda goes through :func:`sklearn_frames`, but for
    :func:`score_without_labelled_rows`, which looks only at the chain of ``score`` calls above it.

    Limits: only the current thread's stack, at most ``max_frames`` deep (about 20 are used under a Pipeline
    and joblib); with ``n_jobs > 1`` a worker's stack starts at ``_fit_and_predict`` / ``_fit_and_score``, so
    ``cross_val_predict``'s encoder is out of its sight (:func:`check_sklearn_fit` then warns); scikit-learn's
    private names (checked against 1.9) may change, and then the checks find nothing (tests pin them).
    """
    found = {}
    for key, local in sklearn_frames(*functions, max_frames=max_frames):
        found.setdefault(key, local)
    return found


def sklearn_frames(*functions, max_frames=CALLER_FRAMES):
    """Every calling frame within ``max_frames`` that runs one of ``functions``, nearest first, as
    ``(pair, f_locals)`` (what :func:`sklearn_callers` keeps the nearest of; nested pipelines need them all)."""
    wanted, found = set(functions), []
    frame = sys._getframe(1)
    try:
        for _ in range(max_frames):
            if frame is None:
                break
            key = (frame.f_globals.get("__name__"), frame.f_code.co_name)
            if key in wanted:
                found.append((key, frame.f_locals))
            frame = frame.f_back
    finally:
        del frame
    return found


class ScoringSetupError(ValueError):
    """The scoring data or the scorer's set-up cannot be scored, whatever the candidate model (e.g. a test
    fold without target rows, features that are not numbers): every candidate of a search would fail alike."""


class Unscorable:
    """Returned by a skda scorer (or an estimator's ``score``) instead of raising :class:`ScoringSetupError` when
    scikit-learn's ``error_score`` (default ``np.nan``) would turn the error into NaN for every candidate of a
    search, and ``best_params_`` into the first candidate: scikit-learn refuses a score that is not a number
    ("scoring must return a number, got ...") outside its error handling, so the search stops with this message."""

    def __init__(self, error):
        self.error = error

    def __repr__(self):
        return (f"no score, because {self.error} (skda stops the search here instead of letting error_score turn "
                "this into NaN for every candidate)")

    __str__ = __repr__


def scoring_setup_failure(error):
    """Raise ``error`` (a :class:`ScoringSetupError` being handled), or return :class:`Unscorable` when the
    caller is scikit-learn's scoring step with a numeric ``error_score``."""
    frame = sklearn_callers(_VALIDATION_SCORE).get(_VALIDATION_SCORE)
    if frame is None or isinstance(frame.get("error_score"), str):
        raise error
    return Unscorable(error)


def labelled_score_rows(X, y, sample_weight, marker):
    """What a ``score`` on packed data counts: ``(y, rows)``, ``y`` as a 1-D array checked to have one label (and
    ``sample_weight`` one weight) per row of ``X``, and ``rows`` the indices of the rows not labelled ``marker``
    (None when there is none: the caller returns :func:`score_without_labelled_rows`)."""
    y = column_or_1d(np.asarray(y), warn=True)
    check_consistent_length(X, y, sample_weight)  # a silent score of fewer rows, or an IndexError, otherwise
    rows = np.flatnonzero(~unlabeled_mask(y, marker))
    return y, (rows if len(rows) else None)


def score_without_labelled_rows(marker):
    """What ``score`` does with data whose every label is the unlabelled ``marker`` (e.g. a test fold of target
    rows only): raise :class:`ScoringSetupError`; called by scikit-learn's own scorer for ``scoring=None`` (its
    ``_PassthroughScorer``), return what :func:`scoring_setup_failure` gives, so that a search stops instead of
    scoring every candidate NaN. (A scorer of the user's that calls ``score`` gets the error.)"""
    error = ScoringSetupError(
        f"score needs labelled rows: every label equals the unlabelled marker {marker!r}. Use an unsupervised scorer "
        "for target-only data, or a cv whose test folds hold labelled rows (skda.model_selection."
        "DomainStratifiedKFold).")
    caller = sys._getframe(2)  # 0: here, 1: the estimator's score, 2: who called it
    try:
        for _ in range(CALLER_FRAMES):  # past scikit-learn's and skda's wrappers' score (Pipeline.score, ...)
            if (caller is None or caller.f_code.co_name != "score"
                    or not str(caller.f_globals.get("__name__")).startswith(("sklearn.", "skda."))):
                break
            caller = caller.f_back
        passthrough = (caller is not None and caller.f_globals.get("__name__") == "sklearn.metrics._scorer"
                       and caller.f_code.co_name == "__call__"
                       and type(caller.f_locals.get("self")).__name__ == "_PassthroughScorer")
    finally:
        del caller
    if not passthrough:
        raise error
    return scoring_setup_failure(error)


def _label_blind_message(names, marker):
    shown = ", ".join(names)
    return (
        f"scikit-learn's scorer ({shown}) would score the target rows of packed data: their label is the unlabelled "
        f"marker {marker!r}, which it compares with the predictions as if it were a class, so accuracy-like figures "
        "come out deflated and log loss or ROC AUC fail. Use skda.metrics.labelled_scorer(\"accuracy\") (any "
        "scikit-learn scoring name or scorer: the same metric on the labelled rows only), scoring=None (the "
        "estimator's score: accuracy on the labelled rows), or an unsupervised scorer of skda.metrics.")


def _label_blind_scorers(scorer):
    """Names of the scikit-learn scorers in ``scorer`` (a scorer or a ``_MultimetricScorer``) that compare
    predictions with every label (``estimator.score`` and skda's scorers are not among them)."""
    from sklearn.metrics._scorer import _BaseScorer, _MultimetricScorer

    items = scorer._scorers.items() if isinstance(scorer, _MultimetricScorer) else [(repr(scorer), scorer)]
    return [repr(s) if name in (repr(s), "score") else f"{name}={s!r}"
            for name, s in items if isinstance(s, _BaseScorer)]


def check_sklearn_fit(y, marker, *, target_given=False):
    """Refuse a ``fit`` whose scikit-learn caller would silently misuse packed labels (called by
    :func:`split_domains`; frames read by :func:`sklearn_callers`):

    - ``cross_val_predict`` with ``method`` "predict_proba", "predict_log_proba" or "decision_function"
      label-encoded ``y``, so the marker became a class: ``ValueError`` naming
      :func:`skda.model_selection.cross_val_predict`. In a worker (``n_jobs > 1``) the encoder is out of
      sight: a ``UserWarning`` when ``y`` has no marker and no ``X_target`` is given.
    - ``permutation_test_score`` whose ``groups`` do not keep the domains apart shuffles the marker with the
      labels: ``ValueError`` (with ``groups=(y == marker)`` it permutes within the domains and is accepted).
    - ``cross_val_score`` / ``cross_validate`` / a search scores with a scikit-learn scorer (e.g.
      ``scoring="accuracy"``) a test fold that has marker rows: ``ValueError`` naming
      :func:`skda.metrics.labelled_scorer`. Raised at fit time, so that scikit-learn's ``error_score=np.nan``
      (which turns scoring errors into NaN) reports "all fits failed" instead of NaN for every candidate.
      ``validation_curve`` turns fit errors into NaN without that report, so under it the same message is also
      a ``UserWarning`` (seen when the fits run in the calling process, ``n_jobs=1``).
    """
    if marker is None:
        return
    found = sklearn_callers(_CROSS_VAL_PREDICT, _FIT_AND_PREDICT, _FIT_AND_SCORE, _VALIDATION_CURVE, _CALIBRATION_FIT,
                            _PERMUTATION_TEST)
    _refuse_calibration_on_the_marker(found, marker)
    _refuse_permutations_across_domains(found.get(_PERMUTATION_TEST), marker)
    _refuse_encoding_wrappers_on_the_marker(marker)
    _refuse_classifier_chains_on_the_marker(marker)
    _warn_in_a_wrapper_s_worker(y, marker, target_given)
    method = found.get(_FIT_AND_PREDICT, {}).get("method")
    if method in _ENCODING_METHODS:
        encoder = found.get(_CROSS_VAL_PREDICT, {}).get("le")
        advice = (f"Use skda.model_selection.cross_val_predict(estimator, X, y, cv=..., method={method!r}), which "
                  "keeps packed labels (columns: the source classes).")
        if encoder is not None and hasattr(encoder, "classes_"):
            _refuse_cross_val_predict_encoder(encoder, method, marker, advice)
        elif encoder is None and not target_given and not unlabeled_mask(y, marker).any():
            warnings.warn(
                f"fit under cross_val_predict(method={method!r}) in a worker: scikit-learn label-encodes y for this "
                f"method, and if y was packed (target rows marked {marker!r}) the marker became a class; skda cannot "
                f"check this outside the calling process (n_jobs > 1). {advice}", UserWarning, stacklevel=3)
    if _FIT_AND_SCORE in found:
        frame = found[_FIT_AND_SCORE]
        y_all, test, scorer = frame.get("y"), frame.get("test"), frame.get("scorer")
        if y_all is None or test is None or scorer is None:
            return
        y_test = np.asarray(y_all)
        if y_test.ndim != 1:
            return
        names = _label_blind_scorers(scorer)
        if names and unlabeled_mask(y_test[np.asarray(test)], marker).any():
            message = _label_blind_message(names, marker)
            if _VALIDATION_CURVE in found:  # it would turn the error into NaN scores without a word
                warnings.warn(f"validation_curve: every fit fails and scores NaN. {message}", UserWarning,
                              stacklevel=3)
            raise ValueError(message)


def _refuse_permutations_across_domains(frame, marker):
    """``permutation_test_score`` (its frame's locals, from the caller; its unpermuted first fit runs in the calling
    process) shuffles ``y`` within each of its ``groups``, over all rows without groups: unless every group is all
    target rows or all source rows, the marker moves and source and target rows swap roles in the permuted fits."""
    if frame is None or frame.get("y") is None or np.ndim(frame["y"]) != 1:
        return
    target = unlabeled_mask(np.asarray(frame["y"]), marker)
    if not target.any():
        return
    groups = frame.get("groups")
    if groups is not None and np.ndim(groups) == 1 and len(groups) == len(target):
        groups = np.asarray(groups)
        mixed = np.intersect1d(groups[target], groups[~target])
        if not len(mixed):
            return  # permuted within the domains: the marker stays on the target rows
    raise ValueError(
        f"sklearn.model_selection.permutation_test_score shuffles the labels of y across its groups, the unlabelled "
        f"marker {marker!r} of the target rows of packed data included, so in each permuted fit source and target "
        "rows would swap roles and the null distribution would mix the domains. Permute within the domains: "
        f"permutation_test_score(..., groups=(y == {marker!r})) keeps the target rows in place.")


def _refuse_encoding_wrappers_on_the_marker(marker):
    """A scikit-learn wrapper that label-encodes y (``VotingClassifier``, ``BaggingClassifier``,
    ``StackingClassifier``, ``OneVsRestClassifier``, ``OneVsOneClassifier``: their ``fit``, the last two's
    ``partial_fit`` too) fitting this estimator on packed data: the marker became a class before the estimator saw
    it (a source-only model trains on the target rows as that class; the others find no target row)."""
    for _, local in sklearn_frames(*_ENCODING_WRAPPER_FITS):
        y = local.get("y")
        if y is None or np.ndim(y) != 1 or not unlabeled_mask(np.asarray(y), marker).any():
            continue
        raise ValueError(
            f"{type(local.get('self')).__name__} label-encodes y before fitting the estimators it holds, so the "
            f"unlabelled marker {marker!r} of the target rows of packed data became a class (the target rows would "
            "train as its examples, or a fitted model's predictions be read one class off). Fit skda estimators "
            "directly, in a Pipeline or in a search (GridSearchCV); combine fitted models yourself, or fit a wrapper "
            f"of fitted models (FrozenEstimator) on the labelled rows only (labelled = y != {marker!r}).")


def _warn_in_a_wrapper_s_worker(y, marker, target_given):
    """A fit by a label-encoding wrapper (``VotingClassifier``, ``BaggingClassifier``, ``StackingClassifier``,
    ``CalibratedClassifierCV``, ``OneVsRestClassifier``, ``OneVsOneClassifier``) whose own ``fit`` is out of sight:
    in a worker (``n_jobs > 1``) ``y`` arrives encoded, so skda cannot tell whether a marker became a class; it
    warns when ``y`` has no marker and no ``X_target`` is given (in the calling process the wrapper's ``fit`` frame
    is visible and packed labels are refused)."""
    worker = sklearn_frames(*_WRAPPER_WORKER_FITS)
    if not worker or target_given or unlabeled_mask(y, marker).any() or sklearn_frames(*_ENCODING_WRAPPER_FITS,
                                                                                        _CALIBRATION_FIT):
        return
    (module, function), _ = worker[0]
    warnings.warn(
        f"fit by {module}.{function} in a worker: scikit-learn's wrappers (VotingClassifier, BaggingClassifier, "
        "StackingClassifier, CalibratedClassifierCV, OneVsRestClassifier, OneVsOneClassifier) label-encode y before "
        f"fitting the estimators they hold, and if y was packed (target rows marked {marker!r}) the marker became a "
        "class (the target rows its examples); skda cannot check this outside the calling process (n_jobs > 1). Fit "
        "skda estimators directly, in a Pipeline or in a search; combine fitted models yourself. (If y was not "
        "packed, e.g. a plain supervised problem, this warning does not apply: filter it.)",
        UserWarning, stacklevel=caller_stacklevel())


def _refuse_classifier_chains_on_the_marker(marker):
    """``ClassifierChain.fit`` on packed 2-D labels: each link after the first gets the earlier links' labels as
    features, the marker on the target rows at fit but predicted labels at predict, so its target rows see other
    inputs in training than in use."""
    for _, local in sklearn_frames(_CHAIN_FIT):
        chain, Y = local.get("self"), local.get("Y")
        if type(chain).__name__ != "ClassifierChain" or Y is None or np.ndim(Y) != 2:
            continue
        if unlabeled_mask(np.asarray(Y).ravel(), marker).any():
            raise ValueError(
                f"sklearn.multioutput.ClassifierChain feeds each link the labels of the links before it as features: "
                f"on packed labels the target rows would train with the unlabelled marker {marker!r} there and "
                "predict with predicted labels. Use MultiOutputClassifier (one skda model per label column) on "
                "packed labels, or chain models fitted on labelled rows only.")


def _refuse_cross_val_predict_encoder(encoder, method, marker, advice):
    """``cross_val_predict``'s label encoder ``le`` (its frame's local) holds the marker: ``ValueError``."""
    if unlabeled_mask(np.asarray(encoder.classes_, dtype=object), marker).any():
        raise ValueError(
            f"sklearn.model_selection.cross_val_predict(method={method!r}) label-encodes y, which turns the "
            f"unlabelled marker {marker!r} of the target rows into a class (a model fitted there would train on the "
            f"target rows as class 0; the columns of a model fitted before are shifted by one). {advice}")


def _refuse_encoded_predictions(found, marker):
    """Predictions of a fitted skda model (e.g. through ``FrozenEstimator``, whose ``fit`` never reaches skda's)
    read through a scikit-learn label encoder fitted on packed labels, so the marker took a class's place: a
    ``VotingClassifier`` (its ``le_``) maps every prediction one class off, ``cross_val_predict`` with a probability
    method (its ``le``) shifts the columns by one."""
    for key in _VOTING_PREDICTIONS:
        encoder = getattr(found.get(key, {}).get("self"), "le_", None)
        if encoder is not None and unlabeled_mask(np.asarray(encoder.classes_, dtype=object), marker).any():
            raise ValueError(
                f"sklearn.ensemble.VotingClassifier was fitted on packed labels, so its label encoder holds the "
                f"unlabelled marker {marker!r} of the target rows as a class and reads each model's predictions "
                "one class off. Fit the VotingClassifier of fitted skda models on labelled rows only (e.g. "
                f"voting.fit(X[labelled], y[labelled]) with labelled = y != {marker!r}), or average their "
                "predict_proba yourself.")
    method = found.get(_FIT_AND_PREDICT, {}).get("method")
    encoder = found.get(_CROSS_VAL_PREDICT, {}).get("le")
    if method in _ENCODING_METHODS and encoder is not None and hasattr(encoder, "classes_"):
        _refuse_cross_val_predict_encoder(encoder, method, marker, (
            f"Use skda.model_selection.cross_val_predict(estimator, X, y, cv=..., method={method!r}), which keeps "
            "packed labels (columns: the source classes)."))


def _refuse_calibration_on_the_marker(found, marker):
    """``sklearn.calibration.CalibratedClassifierCV.fit`` (in ``found``, from :func:`sklearn_callers`) with packed
    labels: its calibrators would learn the marker as a class (one more column, target rows as its examples)."""
    frame = found.get(_CALIBRATION_FIT)
    if frame is None or type(frame.get("self")).__name__ != "CalibratedClassifierCV" or frame.get("y") is None:
        return
    y = np.asarray(frame["y"])
    if y.ndim == 1 and unlabeled_mask(y, marker).any():
        raise ValueError(
            f"sklearn.calibration.CalibratedClassifierCV fits its calibrators on every label of y, so the unlabelled "
            f"marker {marker!r} of the target rows of packed data would become a class (one probability column too "
            "many, the target rows its examples). Calibrate on labelled rows only, e.g. "
            "CalibratedClassifierCV(FrozenEstimator(fitted_model)).fit(X_held_out_source, y_held_out_source).")


def check_sklearn_scoring(X, marker):
    """Refuse to predict for a scikit-learn scorer (e.g. ``get_scorer("accuracy")(estimator, X, y)``) whose
    labels ``y_true`` hold the unlabelled ``marker``, or for the ``ClassifierMixin.score`` of a scikit-learn wrapper
    (``CalibratedClassifierCV(FrozenEstimator(model))``, ``FixedThresholdClassifier``, ...) whose ``y`` holds it:
    either would score the target rows against the marker.
    Called by the estimators' prediction path; frames read by :func:`sklearn_callers`."""
    if marker is None:
        return
    found = sklearn_callers(_SCORER_SCORE, _CALIBRATION_FIT, _CLASSIFIER_SCORE, _MULTIOUTPUT_SCORE,
                            _CROSS_VAL_PREDICT, _FIT_AND_PREDICT, *_VOTING_PREDICTIONS)
    _refuse_calibration_on_the_marker(found, marker)
    _refuse_encoded_predictions(found, marker)
    _refuse_encoding_wrappers_on_the_marker(marker)  # e.g. StackingClassifier.fit predicting with a frozen model
    n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
    multioutput = found.get(_MULTIOUTPUT_SCORE)
    if multioutput is not None and multioutput.get("y") is not None:
        y = np.asarray(multioutput["y"])
        if y.ndim == 2 and len(y) == n_rows and unlabeled_mask(y.ravel(), marker).any():
            raise ValueError(
                f"MultiOutputClassifier.score (scikit-learn's, around a skda model) would score the target rows of "
                f"packed data: their labels are the unlabelled marker {marker!r}, which it compares with the "
                "predictions as if it were a class, so the accuracy comes out deflated. Score the labelled rows: "
                f"model.score(X[labelled], Y[labelled]) with labelled = (Y != {marker!r}).all(axis=1).")
    wrapper = found.get(_CLASSIFIER_SCORE)
    if wrapper is not None and wrapper.get("y") is not None:
        y = np.asarray(wrapper["y"])
        if y.ndim == 1 and len(y) == n_rows and unlabeled_mask(y, marker).any():
            name = type(wrapper.get("self")).__name__
            raise ValueError(
                f"{name}.score (scikit-learn's ClassifierMixin.score, around a skda model) would score the target rows "
                f"of packed data: their label is the unlabelled marker {marker!r}, which it compares with the "
                "predictions as if it were a class, so the accuracy comes out deflated. Score the labelled rows: "
                f"skda.metrics.labelled_scorer(\"accuracy\")(model, X, y), or model.score(X[labelled], y[labelled]) "
                f"with labelled = y != {marker!r}.")
    if _SCORER_SCORE not in found:
        return
    y_true = found[_SCORER_SCORE].get("y_true")
    if y_true is None:
        return
    y_true = np.asarray(y_true)
    if y_true.ndim == 1 and len(y_true) == n_rows and unlabeled_mask(y_true, marker).any():
        raise ValueError(_label_blind_message([repr(found[_SCORER_SCORE].get("self"))], marker))


def _is_text(labels) -> bool:
    labels = np.asarray(labels)
    return labels.dtype.kind in "US" or (labels.dtype.kind == "O" and any(isinstance(v, (str, bytes))
                                                                         for v in labels))


def check_target_labels(yt, n_target, ys, marker):
    """Validate the target labels ``yt`` (one per target row; unknown ones the unlabelled ``marker``) against
    the source labels ``ys``; return ``(known, y_known)``: the mask of the labelled target rows and their labels
    (spelled as the source labels). ``yt=None``: no target row is labelled."""
    if yt is None:
        return np.zeros(n_target, dtype=bool), ys[:0]
    yt = np.asarray(yt)
    if yt.ndim == 2 and yt.shape[1] == 1:
        yt = yt.ravel()
    if yt.ndim != 1:
        raise ValueError(f"yt must be 1-D (one label per target row, unknown ones {marker!r}), got an array of shape "
                         f"{yt.shape}.")
    if len(yt) != n_target:
        raise ValueError(f"yt has {len(yt)} labels but the target data Xt has {n_target} rows; they must have the "
                         f"same length (unknown labels marked {marker!r}).")
    known = ~unlabeled_mask(yt, marker, name="yt")
    missing = missing_labels(yt) & known
    if missing.any():
        where = (f"yt has {int(missing.sum())} missing labels (NaN, None or pd.NA; the first at row "
                 f"{int(np.argmax(missing))})")
        if marker is None:
            raise ValueError(f"{where}, but with unlabeled_marker=None no target label can be left unknown: give "
                             "every target row its label, pass yt=None, or set unlabeled_marker to a value that is "
                             "not a class (e.g. -1, or \"?\" for text labels) and mark the unknown labels with it.")
        raise ValueError(f"{where}. Unknown target labels must be the unlabelled marker {marker!r} (not NaN, None "
                         "or pd.NA).")
    y_known = numeric_labels(yt[known])  # e.g. an object yt of ints with a string or None marker
    if (len(y_known) and _label_kind(ys) == "boolean" and _label_kind(y_known) == "numeric"
            and np.isin(y_known, (0, 1)).all()):
        y_known = y_known.astype(bool)  # 0 / 1 beside a numeric marker: the labels of a boolean problem
    if len(y_known) and _label_kind(y_known) != _label_kind(ys):
        raise ValueError(f"yt holds {_label_kind(y_known)} labels but the source labels are {_label_kind(ys)}; the "
                         "known target labels must be spelled as the source labels (a boolean yt is not a mask of "
                         f"the labelled rows: unknown labels are the unlabelled marker {marker!r}).")
    if len(y_known):
        try:  # the same checks as the source labels (NaN, continuous values)
            check_classification_targets(y_known)
        except ValueError as exc:
            raise ValueError(f"yt: {exc} Unknown target labels must be the unlabelled marker {marker!r} "
                             "(not NaN).") from None
    if not len(y_known):  # e.g. a float yt of -1.0 only: no labelled row, as yt=None
        return known, ys[:0]
    if ys.dtype.kind == "U" and y_known.dtype.kind == "O" and all(isinstance(v, str) for v in y_known):
        y_known = y_known.astype(str)  # e.g. an object yt of strings and an int marker: classes_ stays text, not object
    if ys.dtype.kind in "iu" and y_known.dtype.kind == "f" and np.all(np.mod(y_known, 1) == 0):
        # e.g. a float yt filled with -1.0 and integer labels: spelled as integers, in a type that holds them all
        y_known = y_known.astype(np.result_type(ys.dtype, np.min_scalar_type(int(y_known.min())),
                                                np.min_scalar_type(int(y_known.max()))))
    return known, y_known


def _label_kind(y):
    """"text", "boolean" or "numeric": labels of different kinds cannot be spelled alike (numpy would turn
    True into 1 or 1 into "1" when they are stacked)."""
    if _is_text(y):
        return "text"
    return "boolean" if np.asarray(y).dtype.kind == "b" else "numeric"
