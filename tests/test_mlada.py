import numpy as np
import pytest
import torch

import skda
from skda.losses import batch_hard_triplet_loss, dynamic_margins, entropy_loss

from .registry import make

RNG = np.random.RandomState(1)
M = RNG.randn(6, 3)
Y = np.array([0, 1, 0, 2, 1, 2])


def test_batch_hard_triplet_matches_numpy():
    margins = np.array([0.5, 2.0, 1.0])
    got = batch_hard_triplet_loss(torch.tensor(M), torch.tensor(Y), torch.tensor(margins)).item()
    terms = []
    for i in range(len(Y)):
        d = np.sqrt(((M - M[i]) ** 2).sum(1))
        hp = max(d[j] for j in range(len(Y)) if Y[j] == Y[i])
        hn = min(d[k] for k in range(len(Y)) if Y[k] != Y[i])
        terms.append(max(hp - hn + margins[Y[i]], 0.0))
    assert got == pytest.approx(np.mean(terms))


def test_batch_hard_triplet_single_class_is_zero():
    assert batch_hard_triplet_loss(torch.tensor(M), torch.zeros(6, dtype=torch.long), torch.ones(1)).item() == 0.0


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_dynamic_margins_match_numpy(reduce):
    p = RNG.dirichlet(np.ones(4), size=9)
    got = dynamic_margins(torch.tensor(p, dtype=torch.float32), 4, base=5.0, scale=4.0, reduce=reduce).numpy()
    pseudo = p.argmax(1)
    second = np.sort(p, axis=1)[:, -2]
    for c in range(4):
        members = second[pseudo == c]
        r = 0.0 if len(members) == 0 else (members.mean() if reduce == "mean" else members.sum())
        assert got[c] == pytest.approx(5.0 + 4.0 * r, rel=1e-5)


def test_entropy_matches_numpy():
    z = RNG.randn(5, 3)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert entropy_loss(torch.tensor(z)).item() == pytest.approx(np.mean(-(p * np.log(p)).sum(1)))


@pytest.mark.parametrize("mode", ["dynamic", "dynamic-sum", "constant"])
def test_mlada_fits_and_logs_its_terms(small_task, mode):
    Xs, ys, Xt, _ = small_task
    clf = make("mlada", random_state=0, margin_mode=mode, max_epochs=2, metric_hidden=16, metric_dim=8)
    clf.fit(Xs, ys, Xt)
    assert clf.predict_proba(Xt).shape == (len(Xt), 3)
    last = clf.history[-1]
    assert np.isfinite(last["train_triplet_loss"]) and last["train_entropy_loss"] > 0
    if mode == "constant":
        assert last["train_mean_margin"] == pytest.approx(5.0)
    else:
        assert last["train_mean_margin"] > 5.0


def test_bad_margin_mode(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match="margin_mode"):
        skda.MLADAClassifier(margin_mode="adaptive", max_epochs=1).fit(Xs, ys, Xt)


def test_paper_classifier_head(small_task):
    """classifier_hidden builds the authors' C (Linear-BN-ReLU-Dropout-Linear); None keeps DANN's linear head."""
    Xs, ys, Xt, _ = small_task
    kw = dict(random_state=0, max_epochs=2, metric_hidden=16, metric_dim=8)
    clf = make("mlada", classifier_hidden=12, classifier_dropout=0.25, **kw).fit(Xs, ys, Xt)
    head = clf.module_.label_classifier
    assert [type(m) for m in head] == [torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU, torch.nn.Dropout,
                                       torch.nn.Linear]
    assert (head[0].in_features, head[0].out_features, head[4].out_features) == (16, 12, 3)
    assert head[3].p == 0.25
    proba = clf.predict_proba(Xt)
    assert proba.shape == (len(Xt), 3)
    np.testing.assert_array_equal(proba, clf.predict_proba(Xt))  # eval mode: dropout and BN statistics fixed
    linear = make("mlada", **kw).fit(Xs, ys, Xt).module_.label_classifier
    assert isinstance(linear, torch.nn.Linear) and linear.out_features == 3


@pytest.mark.parametrize("params, match", [({"classifier_hidden": 0}, "classifier_hidden"),
                                           ({"classifier_hidden": 2.5}, "classifier_hidden"),
                                           ({"classifier_dropout": 1.0}, "classifier_dropout")])
def test_bad_classifier_head_params(small_task, params, match):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=match):
        skda.MLADAClassifier(max_epochs=1, **params).fit(Xs, ys, Xt)
