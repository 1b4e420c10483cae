"""Plots of a fitted skda estimator (matplotlib, optional: ``pip install matplotlib`` or ``skda[plot]``).

- :func:`plot_training_curves`: per-epoch label loss, domain loss, domain accuracy (and any other logged
  term, e.g. ``msc_loss``, ``valid_loss``) from the estimator's skorch history;
- :func:`plot_embedding`: source and target samples in 2-D (PCA by default, t-SNE on request) of the
  learned features (``estimator.transform``), coloured by class, marker by domain.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples, check_is_fitted

from skda.validation import (_label_kind, is_int_at_least, missing_labels, numeric_labels, row_indexable,
                             unlabeled_marker_of, unlabeled_mask)

__all__ = ["plot_embedding", "plot_training_curves"]

#: Curves drawn by default when the history has them (one panel each).
DEFAULT_CURVES = ("train_label_loss", "train_domain_loss", "train_domain_accuracy", "valid_loss")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("skda.plotting needs matplotlib: pip install matplotlib (or pip install 'skda[plot]').") \
            from exc
    return plt


def plot_training_curves(estimator, keys=None, axes=None):
    """One panel per history key, value per epoch.

    Parameters
    ----------
    estimator : fitted skda estimator (anything with a skorch ``history``), or a ``Pipeline`` ending in one
    keys : str, sequence of str or None
        History keys to draw (one string: one key); None draws those of :data:`DEFAULT_CURVES` that were logged, else
        ``train_loss``.
    axes : sequence or array (any shape, e.g. from ``plt.subplots(2, 2)``) of matplotlib Axes, or None
        Where to draw (one per key, in order); None creates a figure.

    Returns
    -------
    numpy array of Axes, one per key.
    """
    if hasattr(estimator, "steps"):  # a Pipeline: the curves are those of its final estimator
        estimator = estimator.steps[-1][1]
    check_is_fitted(estimator)
    history = estimator.history
    logged = set().union(*(row.keys() for row in history))
    if keys is None:
        keys = [k for k in DEFAULT_CURVES if k in logged] or ["train_loss"]
    keys = [keys] if isinstance(keys, str) else list(keys)
    if not keys:
        raise ValueError("keys is empty: give at least one history key, or None for the default curves.")
    missing = [k for k in keys if k not in logged or k == "batches"]  # "batches": the per-batch records, no curve
    if missing:
        raise ValueError(f"history has no {missing}; logged keys: {sorted(k for k in logged if k != 'batches')}.")
    if axes is None:
        plt = _pyplot()
        _, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
        axes = axes[0]
    axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    if len(axes) != len(keys):
        raise ValueError(f"got {len(axes)} axes for {len(keys)} curves.")
    epochs = np.arange(1, len(history) + 1)
    for ax, key in zip(axes, keys):
        values = np.array([row.get(key, np.nan) for row in history], dtype=float)
        ax.plot(epochs, values, marker=".")
        ax.set_xlabel("epoch")
        ax.set_title(key.removeprefix("train_").replace("_", " "))
    return axes


def _plot_labels(y, n_rows, name, x_name):
    """``y`` as a 1-D label array of ``n_rows`` labels (an object array of numbers as numbers); missing labels
    (NaN, None, pandas' NA) refused."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per row), got shape {y.shape}.")
    if len(y) != n_rows:
        raise ValueError(f"{name} has {len(y)} labels but {x_name} has {n_rows} rows.")
    if missing_labels(y).any():
        raise ValueError(f"{name} holds missing labels (NaN, None or pandas' NA); mark unlabelled rows with the "
                         "estimator's unlabelled marker (unlabeled_marker, -1 by default).")
    return numeric_labels(y)


def plot_embedding(estimator, Xs, ys, Xt, yt=None, method="pca", max_points=2000, random_state=0, ax=None):
    """Source and target samples in 2-D of the learned features, coloured by class, marker by domain.

    Parameters
    ----------
    estimator : fitted skda estimator (its ``transform`` gives the features)
    Xs, ys : source samples and labels; Xt : target samples; yt : target labels or None (target drawn grey)
        Arrays or DataFrames (a DataFrame goes to ``estimator.transform`` as a DataFrame, for Pipelines that
        select columns by name). Rows labelled with the estimator's unlabelled marker (``unlabeled_marker``,
        -1 by default) are drawn grey, as unlabelled, not as a class.
    method : "pca" (default) or "tsne"
        The 2-D projection, fitted on source and target features together (t-SNE needs at least 3 samples).
    max_points : int >= 1, default 2000
        At most this many samples per domain are drawn (a seeded random subset).
    random_state : int, default 0
        Seeds the subset and t-SNE.
    ax : matplotlib Axes or None

    Returns
    -------
    (ax, coordinates): the Axes and a dict ``{"source": (n_s, 2), "target": (n_t, 2)}`` of the drawn points.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    check_is_fitted(estimator)
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}.")
    if not is_int_at_least(max_points, 1):
        raise ValueError(f"max_points must be an integer >= 1, got {max_points!r}.")
    marker = unlabeled_marker_of(estimator)
    Xs, Xt = row_indexable(Xs), row_indexable(Xt)
    ys = _plot_labels(ys, _num_samples(Xs), "ys", "Xs")
    yt = None if yt is None else _plot_labels(yt, _num_samples(Xt), "yt", "Xt")
    labelled_s = ~unlabeled_mask(ys, marker, name="ys")
    labelled_t = None if yt is None else ~unlabeled_mask(yt, marker, name="yt")
    if yt is not None and labelled_s.any() and labelled_t.any() and \
            _label_kind(ys[labelled_s]) != _label_kind(yt[labelled_t]):
        raise ValueError(f"ys holds {_label_kind(ys[labelled_s])} labels but yt {_label_kind(yt[labelled_t])} "
                         "labels; spell the target labels as the source labels.")
    rng = np.random.RandomState(random_state)

    def subset(n):
        return np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)

    idx_s, idx_t = subset(_num_samples(Xs)), subset(_num_samples(Xt))
    if method == "tsne" and len(idx_s) + len(idx_t) < 3:
        raise ValueError(f"method='tsne' needs at least 3 samples, got {len(idx_s) + len(idx_t)}; use method='pca'.")
    fs = estimator.transform(_safe_indexing(Xs, idx_s))
    ft = estimator.transform(_safe_indexing(Xt, idx_t))
    features = np.vstack([fs, ft])
    if method == "pca":
        coords = PCA(n_components=2, random_state=random_state).fit_transform(features)
    else:
        perplexity = min(30.0, max(2.0, (len(features) - 1) / 3))
        coords = TSNE(n_components=2, perplexity=perplexity, init="pca",
                      random_state=random_state).fit_transform(features)
    cs, ct = coords[: len(fs)], coords[len(fs):]
    if ax is None:
        plt = _pyplot()
        _, ax = plt.subplots(figsize=(5, 4.5))
    known = [ys[labelled_s]] + ([] if yt is None else [yt[labelled_t]])
    index = {c: i for i, c in enumerate(np.unique(np.concatenate(known)).tolist())}
    import matplotlib

    # qualitative maps up to 20 classes; more classes get as many colours from a continuous map (no colour shared)
    cmap = (matplotlib.colormaps["tab10" if len(index) <= 10 else "tab20"] if len(index) <= 20
            else matplotlib.colormaps["turbo"].resampled(len(index)))
    grey = (0.5, 0.5, 0.5, 1.0)

    def colours(labels, labelled):  # a class has one colour in both domains; unlabelled rows are grey
        return [cmap(index[v] % cmap.N) if is_labelled else grey for v, is_labelled in zip(labels.tolist(), labelled)]

    ax.scatter(cs[:, 0], cs[:, 1], c=colours(ys[idx_s], labelled_s[idx_s]), marker="o", s=10, alpha=0.6,
               label="source")
    ax.scatter(ct[:, 0], ct[:, 1], c=[grey] * len(ct) if yt is None else colours(yt[idx_t], labelled_t[idx_t]),
               marker="x", s=12, alpha=0.6, label="target")
    legend = ax.legend(loc="best")
    handles = getattr(legend, "legend_handles", getattr(legend, "legendHandles", []))
    for handle, text in zip(handles, legend.get_texts()):
        if text.get_text() in ("source", "target"):  # the domain's marker, not the colour of the first class drawn
            handle.set_color("black")
    ax.set_title(f"{type(estimator).__name__} features ({method.upper()})")
    return ax, {"source": cs, "target": ct}
