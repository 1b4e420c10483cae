"""Deep CORAL: the loss against numpy, the estimator on the embedded digits shift."""

import numpy as np
import pytest
import torch

import skda
from skda.coral import coral_loss


@pytest.mark.parametrize("n_source,n_target,d", [(5, 7, 3), (2, 2, 1), (16, 9, 4)])
def test_coral_loss_equals_numpy(n_source, n_target, d):
    rng = np.random.RandomState(n_source + d)
    xs, xt = rng.randn(n_source, d), rng.randn(n_target, d) * 2 + 1
    expected = np.sum((np.cov(xs, rowvar=False) - np.cov(xt, rowvar=False)) ** 2) / (4 * d * d)
    got = coral_loss(torch.as_tensor(xs), torch.as_tensor(xt)).item()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_coral_gradient_pulls_the_target_covariance_towards_the_source():
    rng = np.random.RandomState(0)
    xs = torch.as_tensor(rng.randn(50, 3))
    xt = torch.tensor(rng.randn(50, 3) * 3, requires_grad=True)
    before = coral_loss(xs, xt)
    before.backward()
    with torch.no_grad():
        after = coral_loss(xs, xt - 0.01 * xt.grad)
    assert after < before


def test_deep_coral_adapts_on_the_digits_shift(digits_shift):
    from sklearn.preprocessing import StandardScaler

    Xs, ys, Xt, yt = digits_shift
    scaler = StandardScaler().fit(np.vstack([Xs, Xt]))
    Xs, Xt = scaler.transform(Xs).astype(np.float32), scaler.transform(Xt).astype(np.float32)
    params = dict(max_epochs=30, random_state=0, device="cpu")
    coral = skda.DeepCORALClassifier(**params).fit(Xs, ys, Xt)
    source_only = skda.SourceOnlyClassifier(**params).fit(Xs, ys, Xt)
    def feature_gap(model):  # the CORAL distance between the class scores of both domains
        return coral_loss(torch.as_tensor(model.decision_function(Xs)),
                          torch.as_tensor(model.decision_function(Xt))).item()

    assert feature_gap(coral) < 0.5 * feature_gap(source_only)
    assert coral.score(Xt, yt) >= source_only.score(Xt, yt) - 0.02, (coral.score(Xt, yt), source_only.score(Xt, yt))


def test_the_coral_loss_needs_two_rows_of_each_domain():
    with pytest.raises(ValueError, match="at least 2 rows of each domain .* got 1 source and 4 target rows"):
        coral_loss(torch.randn(1, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="got 0 source and 5 target rows"):
        coral_loss(torch.zeros(0, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"at least 2 rows of each domain .*\(a batch_size of at least 2\)"):
        skda.DeepCORALClassifier(batch_size=1, max_epochs=1).fit(np.random.randn(4, 2), [0, 1, 0, 1],
                                                                np.random.randn(4, 2))
    # one target row: every batch repeats it, a zero covariance (was: trained silently)
    with pytest.raises(ValueError, match="DeepCORALClassifier needs at least 2 target rows, got 1"):
        skda.DeepCORALClassifier(max_epochs=1).fit(np.random.randn(6, 2), [0, 1] * 3, np.random.randn(1, 2))
    packed_y = np.r_[[0, 1] * 3, -1]
    with pytest.raises(ValueError, match="needs at least 2 target rows, got 1"):
        skda.DeepCORALClassifier(max_epochs=1).fit(np.random.randn(7, 2), packed_y)
    skda.DeepCORALClassifier(max_epochs=1).fit(np.random.randn(6, 2), [0, 1] * 3, np.random.randn(2, 2))

