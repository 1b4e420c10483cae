"""Bad input gives a clear error; user data is never changed."""

import numpy as np
import pytest
import scipy.sparse as sp

import skda

from .conftest import FAST


@pytest.fixture
def data(small_task):
    return small_task


def fit(Xs, ys, Xt=None, **kw):
    return skda.DANNClassifier(random_state=0, **{**FAST, **kw}).fit(Xs, ys, Xt)


def test_feature_count_mismatch(data):
    Xs, ys, Xt, _ = data
    with pytest.raises(ValueError, match="X_target has sample shape"):
        fit(Xs, ys, Xt[:, :5])
    clf = fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="X has 5 features, but DANNClassifier is expecting 8 features"):
        clf.predict(Xt[:, :5])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf(data, bad):
    Xs, ys, Xt, _ = data
    Xbad = Xs.copy()
    Xbad[3, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        fit(Xbad, ys, Xt)
    Xtbad = Xt.copy()
    Xtbad[0, 0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        fit(Xs, ys, Xtbad)


def test_empty_and_label_problems(data):
    Xs, ys, Xt, _ = data
    with pytest.raises(ValueError, match="0 sample"):
        fit(Xs[:0], ys[:0], Xt)
    with pytest.raises(ValueError, match="0 sample"):
        fit(Xs, ys, Xt[:0])
    with pytest.raises(ValueError, match="at least 2"):
        fit(Xs, np.zeros_like(ys), Xt)
    with pytest.raises(ValueError, match="same length"):
        fit(Xs, ys[:-1], Xt)
    with pytest.raises(ValueError, match="no labelled source"):
        fit(Xs, np.full(len(ys), -1))
    with pytest.raises(ValueError, match="no target samples"):
        fit(Xs, ys)  # packed form without a single -1 row
    with pytest.raises(ValueError, match="Unknown label type"):
        fit(Xs, ys + 0.5, Xt)


def test_string_features_and_bad_module(data):
    Xs, ys, Xt, _ = data
    with pytest.raises(TypeError, match="cannot be converted to numbers"):
        fit(np.array([["a", "b"]] * len(ys)), ys, np.array([["a", "b"]] * 4))
    with pytest.raises(ValueError, match="feature extractor failed"):
        fit(Xs.reshape(len(Xs), 2, 4), ys, Xt.reshape(len(Xt), 2, 4))  # 3-D input, default MLP


def test_sparse_input_is_densified(data):
    Xs, ys, Xt, _ = data
    dense = fit(Xs, ys, Xt).predict_proba(Xt)
    sparse = fit(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt)).predict_proba(sp.csr_matrix(Xt))
    np.testing.assert_allclose(dense, sparse, rtol=1e-6)


def test_source_only_accepts_packed_and_plain(data):
    Xs, ys, Xt, yt = data
    a = skda.SourceOnlyClassifier(random_state=0, max_epochs=3).fit(Xs, ys).predict(Xt)
    b = skda.SourceOnlyClassifier(random_state=0, max_epochs=3).fit(np.vstack([Xs, Xt]),
                                                                    np.r_[ys, -np.ones(len(Xt), int)]).predict(Xt)
    np.testing.assert_array_equal(a, b)
