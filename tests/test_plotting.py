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
    with pytest.raises(ValueError, match="history has no \\['train_msc_loss'\\]"):
        plot_training_curves(fitted, keys=["train_msc_loss"])


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


def test_embedding_errors(small_task, fitted):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match="method must be"):
        plot_embedding(fitted, Xs, ys, Xt, method="umap")
    with pytest.raises(ValueError, match="ys has 3 labels"):
        plot_embedding(fitted, Xs, ys[:3], Xt)
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
