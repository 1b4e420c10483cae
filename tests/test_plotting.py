import numpy as np
import pytest

import skda
from skda.model_selection import pack_domains

from .registry import make

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from skda.plotting import plot_embedding, plot_training_curves  # noqa: E402


@pytest.fixture(scope="module")
def fitted(small_task):
    Xs, ys, Xt, _ = small_task
    return make("dann", random_state=0).fit(Xs, ys, Xt)


def test_training_curves_draw_the_history(fitted):
    axes = plot_training_curves(fitted)
    assert [ax.get_title() for ax in axes] == ["label loss", "domain loss", "domain accuracy"]
    for ax, key in zip(axes, ["train_label_loss", "train_domain_loss", "train_domain_accuracy"]):
        x, y = ax.lines[0].get_data()
        np.testing.assert_array_equal(x, np.arange(1, fitted.max_epochs + 1))
        np.testing.assert_allclose(y, fitted.history[:, key])


def test_training_curves_unknown_key(fitted):
    with pytest.raises(ValueError, match=r"history has no \['batches'\]; logged keys"):  # a TypeError before
        plot_training_curves(fitted, keys="batches")
    with pytest.raises(ValueError, match="history has no \\['train_msc_loss'\\]"):
        plot_training_curves(fitted, keys=["train_msc_loss"])
    with pytest.raises(ValueError, match="keys is empty"):
        plot_training_curves(fitted, keys=[])


def test_training_curves_of_one_key_given_as_a_string(fitted):
    (ax,) = plot_training_curves(fitted, keys="train_loss")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), fitted.history[:, "train_loss"])


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_plot_has_both_domains(small_task, fitted, method):
    Xs, ys, Xt, yt = small_task
    ax, coords = plot_embedding(fitted, Xs, ys, Xt, yt, method=method, max_points=50)
    assert coords["source"].shape == (50, 2) and coords["target"].shape == (50, 2)
    source, target = ax.collections
    assert source.get_offsets().shape == (50, 2) and target.get_offsets().shape == (50, 2)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["source", "target"]


def test_embedding_pca_matches_sklearn(small_task, fitted):
    from sklearn.decomposition import PCA

    Xs, ys, Xt, _ = small_task
    _, coords = plot_embedding(fitted, Xs, ys, Xt)  # no target labels: grey target
    expected = PCA(2, random_state=0).fit_transform(np.vstack([fitted.transform(Xs), fitted.transform(Xt)]))
    np.testing.assert_allclose(np.vstack([coords["source"], coords["target"]]), expected, rtol=1e-4, atol=1e-4)


def test_embedding_draws_unlabelled_rows_grey(small_task, fitted):
    """Rows labelled with the unlabelled marker are grey, not a class: the classes keep the colours they have
    without them, in both domains."""
    Xs, ys, Xt, yt = small_task
    grey = np.array([0.5, 0.5, 0.5])
    ax, _ = plot_embedding(fitted, Xs, ys, Xt, yt)
    source_colours, target_colours = (c.get_facecolors()[:, :3].copy() for c in ax.collections)
    partly = yt.copy()
    partly[::2] = -1
    ax, _ = plot_embedding(fitted, Xs, ys, Xt, partly)
    source, target = (c.get_facecolors()[:, :3] for c in ax.collections)
    np.testing.assert_array_equal(source, source_colours)
    np.testing.assert_array_equal(target[1::2], target_colours[1::2])
    np.testing.assert_array_equal(target[::2], np.tile(grey, (len(target[::2]), 1)))
    assert not np.isin(np.round(source_colours, 6), np.round(grey, 6)).all(axis=1).any()
    ax, _ = plot_embedding(fitted, Xs, ys, Xt, np.full(len(Xt), -1))  # no target label: all grey
    np.testing.assert_array_equal(ax.collections[1].get_facecolors()[:, :3], np.tile(grey, (len(Xt), 1)))


def test_embedding_of_a_pipeline_that_selects_columns_by_name(small_task):
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xs, ys, Xt, _ = small_task
    columns = [f"f{i}" for i in range(Xs.shape[1])]
    Ds, Dt = pd.DataFrame(Xs, columns=columns), pd.DataFrame(Xt, columns=columns)
    X, y = pack_domains(Ds, ys, Dt)
    pipe = make_pipeline(ColumnTransformer([("scaled", StandardScaler(), columns)]),
                         make("dann", random_state=0)).fit(X, y)
    _, coords = plot_embedding(pipe, Ds, ys, Dt, max_points=20)
    assert coords["source"].shape == (20, 2) and coords["target"].shape == (20, 2)


def test_embedding_errors(small_task, fitted):
    Xs, ys, Xt, yt = small_task
    with pytest.raises(ValueError, match="method must be"):
        plot_embedding(fitted, Xs, ys, Xt, method="umap")
    with pytest.raises(ValueError, match="ys has 3 labels"):
        plot_embedding(fitted, Xs, ys[:3], Xt)
    with pytest.raises(ValueError, match="max_points must be an integer >= 1, got 0"):
        plot_embedding(fitted, Xs, ys, Xt, max_points=0)
    with pytest.raises(ValueError, match="method='tsne' needs at least 3 samples, got 2"):
        plot_embedding(fitted, Xs[:1], ys[:1], Xt[:1], method="tsne")
    with pytest.raises(ValueError, match="ys holds text labels but yt numeric labels"):
        plot_embedding(fitted, Xs, np.array(["a", "b", "c"])[ys], Xt, yt)
    with pytest.raises(ValueError, match=r"yt holds missing labels \(NaN, None or pandas' NA\)"):
        plot_embedding(fitted, Xs, ys, Xt, np.where(yt == 0, np.nan, yt))
    with pytest.raises(ValueError, match=r"ys holds missing labels"):  # a TypeError from np.unique before
        plot_embedding(fitted, Xs, np.array([None if i == 0 else v for i, v in enumerate(ys)], dtype=object), Xt)
    with pytest.raises(ValueError, match=r"ys must be 1-D \(one label per row\), got shape"):
        plot_embedding(fitted, Xs, np.c_[ys, ys], Xt)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        plot_training_curves(skda.DANNClassifier())


def test_training_curves_of_a_pipeline_on_a_grid_of_axes(small_task):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skda.plotting import plot_training_curves

    Xs, ys, Xt, _ = small_task
    X, y = pack_domains(Xs, ys, Xt)
    pipe = make_pipeline(StandardScaler(), make("dann", random_state=0, device="cpu")).fit(X, y)
    fig, grid = plt.subplots(2, 2)
    keys = ["train_label_loss", "train_domain_loss", "train_domain_accuracy", "train_loss"]
    axes = plot_training_curves(pipe, keys=keys, axes=grid)
    assert len(axes) == 4
    np.testing.assert_allclose(axes[3].lines[0].get_ydata(), pipe[-1].history[:, "train_loss"])
    plt.close(fig)


def test_embedding_of_sparse_rows(small_task):
    """Sparse rows that the estimator fits and transforms are drawn (len() of a sparse matrix failed); COO too."""
    import scipy.sparse as sp
    Xs, ys, Xt, _ = small_task
    model = make("dann", random_state=0, max_epochs=1).fit(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt))
    for kind in (sp.csr_matrix, sp.coo_matrix):
        _, coords = plot_embedding(model, kind(Xs), ys, kind(Xt), max_points=50)
        dense = plot_embedding(model, Xs, ys, Xt, max_points=50)[1]
        np.testing.assert_allclose(coords["source"], dense["source"], rtol=1e-5, atol=1e-5)


def test_embedding_gives_every_class_its_own_colour_beyond_twenty(small_task):
    Xs, _, Xt, _ = small_task
    many = np.arange(len(Xs)) % 25
    model = make("dann", random_state=0, max_epochs=1).fit(Xs, many, Xt)
    ax, _ = plot_embedding(model, Xs, many, Xt)
    colours = ax.collections[0].get_facecolors()
    per_class = {tuple(np.round(colours[i], 6)) for i in range(25)}
    assert len(per_class) == 25  # tab20 wrapped: class 20 had class 0's colour


def test_embedding_reads_the_marker_of_the_model_inside_a_search(small_task):
    """A fitted search of an estimator with another marker: its rows are drawn grey, not as a class."""
    from sklearn.model_selection import GridSearchCV

    from skda.model_selection import DomainStratifiedKFold
    Xs, ys, Xt, _ = small_task
    X, y = pack_domains(Xs, ys, Xt, unlabeled_marker=-99)
    search = GridSearchCV(make("dann", random_state=0, max_epochs=1, unlabeled_marker=-99), {"lr": [1e-3]},
                          cv=DomainStratifiedKFold(2, unlabeled_marker=-99)).fit(X, y)
    ax, _ = plot_embedding(search, X, y, Xt)
    colours = ax.collections[0].get_facecolors()
    grey = np.all(np.isclose(colours[:, :3], 0.5), axis=1)
    np.testing.assert_array_equal(grey, y == -99)


def test_embedding_keeps_the_colours_of_the_user_s_own_legend_entries(small_task, fitted):
    Xs, ys, Xt, _ = small_task
    import matplotlib.pyplot as plt
    _, ax = plt.subplots()
    ax.axhline(0, color="red", label="decision boundary")
    plot_embedding(fitted, Xs, ys, Xt, ax=ax)
    legend = ax.get_legend()
    handles = getattr(legend, "legend_handles", getattr(legend, "legendHandles", []))

    def colour(handle):  # a line's colour, a scatter's face colour
        return matplotlib.colors.to_hex(handle.get_color() if hasattr(handle, "get_color")
                                        else handle.get_facecolor()[0])

    colours = {text.get_text(): colour(handle) for handle, text in zip(handles, legend.get_texts())}
    assert colours == {"decision boundary": "#ff0000", "source": "#000000", "target": "#000000"}
    plt.close(ax.figure)
