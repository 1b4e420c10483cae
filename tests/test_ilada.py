"""ILA-DA: the affinity, ratio test and MSC loss against direct numpy loops; the balanced sampler; CDAN."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from skda.engine import ClassBalancedBatchSampler
from skda.layers import CDANNetwork
from skda.layers import MLPFeatureExtractor
from skda.layers import conditional_adversarial_input
from skda.losses import (affinity_pseudo_labels, domain_adversarial_loss, inverse_distance_similarity,
                         multi_sample_contrastive_loss, similarity_ratio_selection)

from .registry import make

RNG = np.random.RandomState(3)
FS = RNG.randn(9, 4)  # 9 source features, 3 classes x 3
YS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
FT = RNG.randn(7, 4)


def phi_numpy(a, b):
    return np.array([[1.0 / (1.0 + np.linalg.norm(x - y)) for y in b] for x in a])


def test_similarity_is_inverse_euclidean_distance():
    got = inverse_distance_similarity(torch.tensor(FS), torch.tensor(FT)).numpy()
    np.testing.assert_allclose(got, phi_numpy(FS, FT), rtol=1e-6)


def pseudo_labels_numpy(sim, ys, k, n_classes):
    labels = []
    for j in range(sim.shape[1]):
        nearest = np.argsort(-sim[:, j], kind="stable")[:k]
        counts = np.bincount(ys[nearest], minlength=n_classes)
        labels.append(int(np.argmax(counts)))  # ties -> lowest label
    return np.array(labels)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_pseudo_labels_are_the_knn_mode(k):
    sim = phi_numpy(FS, FT)
    got = affinity_pseudo_labels(torch.tensor(sim), torch.tensor(YS), k, 3).numpy()
    np.testing.assert_array_equal(got, pseudo_labels_numpy(sim, YS, k, 3))


def ratio_numpy(sim, ys, pseudo, m):
    ratios = []
    for j in range(sim.shape[1]):
        like = np.sort(sim[ys == pseudo[j], j])[::-1][:m]
        unlike = np.sort(sim[ys != pseudo[j], j])[::-1][:m]
        ratios.append(like.sum() / unlike.sum())
    return np.array(ratios)


@pytest.mark.parametrize("m,mu", [(3, 0.75), (2, 0.5), (1, 1.0), (3, 0.1)])
def test_ratio_test_and_selection_match_numpy(m, mu):
    sim = phi_numpy(FS, FT)
    pseudo = pseudo_labels_numpy(sim, YS, 3, 3)
    ratio, keep = similarity_ratio_selection(torch.tensor(sim), torch.tensor(YS), torch.tensor(pseudo), m, mu)
    expected = ratio_numpy(sim, YS, pseudo, m)
    np.testing.assert_allclose(ratio.numpy(), expected, rtol=1e-10)
    n_keep = max(1, math.ceil(mu * len(expected)))
    top = set(np.argsort(-expected, kind="stable")[:n_keep])
    assert set(np.flatnonzero(keep.numpy())) == top


def msc_numpy(sim, ys, pseudo, keep):
    losses = []
    for i in range(sim.shape[0]):
        pos = [np.exp(sim[i, j]) for j in range(sim.shape[1]) if keep[j] and pseudo[j] == ys[i]]
        neg = [np.exp(sim[i, j]) for j in range(sim.shape[1]) if keep[j] and pseudo[j] != ys[i]]
        if not pos or not neg:
            continue  # rows without a positive or a negative are skipped
        losses.append(-np.log(sum(pos) / (sum(pos) + sum(neg))))
    return np.mean(losses)


def test_msc_loss_matches_numpy_loop():
    sim = phi_numpy(FS, FT)
    pseudo = np.array([0, 0, 1, 2, 2, 0, 1])
    keep = np.array([True, True, False, True, True, False, True])
    got = multi_sample_contrastive_loss(torch.tensor(sim), torch.tensor(YS), torch.tensor(pseudo),
                                        torch.tensor(keep)).item()
    assert got == pytest.approx(msc_numpy(sim, YS, pseudo, keep), rel=1e-10)


def test_msc_loss_skips_rows_without_a_negative():
    sim = torch.tensor(phi_numpy(FS, FT), requires_grad=True)
    # every kept target has label 0: anchors of class 0 have no negative, others no positive
    loss = multi_sample_contrastive_loss(sim, torch.tensor(YS), torch.zeros(7, dtype=torch.long),
                                         torch.ones(7, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert sim.grad.abs().sum() == 0


def test_msc_gradient_pulls_positives_and_pushes_negatives():
    fs = torch.tensor(FS, requires_grad=True)
    ft = torch.tensor(FT)
    pseudo = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    loss = multi_sample_contrastive_loss(inverse_distance_similarity(fs, ft), torch.tensor(YS), pseudo,
                                         torch.ones(7, dtype=torch.bool))
    loss.backward()
    # a small step along -grad raises positive similarities relative to negative ones
    with torch.no_grad():
        moved = fs - 0.1 * fs.grad
        new = multi_sample_contrastive_loss(inverse_distance_similarity(moved, ft), torch.tensor(YS), pseudo,
                                            torch.ones(7, dtype=torch.bool))
    assert new.item() < loss.item()


@pytest.mark.parametrize("labels,batch_size", [(np.repeat(np.arange(4), [50, 7, 20, 3]), 16),
                                               (np.repeat(np.arange(3), [10, 10, 10]), 7),
                                               (np.repeat(np.arange(5), [2, 2, 2, 2, 2]), 3)])
def test_class_balanced_sampler_gives_equal_class_counts(labels, batch_size):
    n_target = 45
    sampler = ClassBalancedBatchSampler(torch.tensor(labels), n_target, batch_size, torch.Generator().manual_seed(0),
                                        torch.device("cpu"))
    n_classes = len(np.unique(labels))
    per_class = max(1, batch_size // n_classes)
    batches = list(sampler)
    assert len(batches) == len(sampler) == math.ceil(max(len(labels), n_target) / (n_classes * per_class))
    seen_target = set()
    for idx_s, idx_t in batches:
        assert len(idx_s) == len(idx_t) == n_classes * per_class
        counts = Counter(labels[idx_s.numpy()].tolist())
        assert counts == {c: per_class for c in range(n_classes)}
        seen_target.update(idx_t.tolist())
    assert max(seen_target) < n_target
    if len(batches) * len(batches[0][1]) >= n_target:
        assert seen_target == set(range(n_target))  # every target sample is seen in an epoch


def test_class_balanced_sampler_refuses_an_empty_class():
    with pytest.raises(ValueError, match="classes \\[1\\] have no sample"):
        ClassBalancedBatchSampler(torch.tensor([0, 0, 2]), 5, 4, torch.Generator(), torch.device("cpu"))


def test_cdan_conditioning_is_the_outer_product_with_detached_predictions():
    f = torch.randn(5, 4, requires_grad=True)
    z = torch.randn(5, 3, requires_grad=True)
    h = conditional_adversarial_input(f, z)
    assert h.shape == (5, 12)
    g = torch.softmax(z, 1).detach().numpy()
    expected = np.stack([np.outer(g[i], f[i].detach().numpy()).ravel() for i in range(5)])
    np.testing.assert_allclose(h.detach().numpy(), expected, rtol=1e-6)
    h.sum().backward()
    assert z.grad is None  # the prediction is conditioning only
    np.testing.assert_allclose(f.grad.numpy(), np.ones((5, 4)) * g.sum(1, keepdims=True), rtol=1e-6)


def test_cdan_auto_discriminator_is_as_wide_as_the_features():
    """``domain_hidden_sizes="auto"``: one hidden layer of n_features units on the n_features * n_classes inputs
    (not n_features * n_classes units: 277M weights for 256 features and 65 classes)."""
    from skda.layers import CDANNetwork, MLPFeatureExtractor

    network = CDANNetwork(MLPFeatureExtractor(2048, hidden_sizes=(256,)), 256, 65)
    linear = [m for m in network.domain_classifier.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(256 * 65, 256), (256, 1)]


@pytest.mark.parametrize("coefficient", [0.5, 1.0])
def test_cdan_domain_gradient_reaches_the_features_reversed(coefficient):
    torch.manual_seed(0)
    net = CDANNetwork(MLPFeatureExtractor(6, (8,)), 8, 3, domain_hidden_sizes=(5,))
    assert net.domain_classifier[0].in_features == 24
    net.gradient_reversal.coefficient = coefficient
    xs, xt = torch.randn(6, 6), torch.randn(4, 6) + 1
    out = net(xs, xt)
    assert out["domain_logits"].shape == (10,) and out["source_logits"].shape == (6, 3)
    domain_adversarial_loss(out["domain_logits"], 6).backward()
    reversed_grads = [p.grad.clone() for p in net.feature_extractor.parameters()]
    assert all(g.abs().sum() > 0 for g in reversed_grads)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in net.label_classifier.parameters())
    net.zero_grad()
    feats = net.features(torch.cat([xs, xt]))
    logits = net.domain_classifier(conditional_adversarial_input(feats, net.classify(feats))).squeeze(1)
    domain_adversarial_loss(logits, 6).backward()
    for g, p in zip(reversed_grads, net.feature_extractor.parameters()):
        torch.testing.assert_close(g, -coefficient * p.grad)


@pytest.mark.parametrize("base", ["dann", "cdan"])
def test_ilada_fits_and_switches_msc_on_after_warmup(small_task, base):
    Xs, ys, Xt, yt = small_task
    clf = make("ilada", base=base, random_state=0, max_epochs=4).fit(Xs, ys, Xt)
    assert clf.predict_proba(Xt).shape == (len(Xt), 3)
    steps_per_epoch = clf.n_steps_per_epoch_
    assert steps_per_epoch == math.ceil(120 / 30)  # balanced batches of 3 classes x 10
    warmup = math.ceil(0.1 * 4 * steps_per_epoch)
    flat = [b for epoch in clf.history for b in epoch["batches"]]
    has_msc = [np.isfinite(b.get("train_msc_loss", np.nan)) for b in flat]
    assert not any(has_msc[:warmup]) and all(has_msc[warmup:])
    assert clf.score(Xt, yt) > 0.8


def test_ilada_warmup_longer_than_the_fit_means_no_msc(small_task):
    Xs, ys, Xt, _ = small_task
    clf = make("ilada", random_state=0, warmup_steps=10_000).fit(Xs, ys, Xt)
    assert "train_msc_loss" not in clf.history[-1]


@pytest.mark.parametrize("params,match", [({"base": "mcd"}, "'base' parameter of ILADAClassifier must be a str among"),
                                          ({"mu": 0.0}, r"'mu' parameter of ILADAClassifier must be a float in"),
                                          ({"mu": 1.5}, r"'mu' parameter of ILADAClassifier must be a float in"),
                                          ({"n_neighbors": 0}, "n_neighbors"),
                                          ({"warmup_steps": -1}, "warmup_steps")])
def test_ilada_bad_parameters(small_task, params, match):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=match):
        make("ilada", **params).fit(Xs, ys, Xt)


def test_class_balanced_sampler_names_a_missing_class_even_the_last_one(small_task):
    Xs, ys, Xt, _ = small_task
    labels = np.array(["cat", "dog", "emu"])[ys]
    first = ys < 2  # "emu", the last class, is missing: bincount alone would not notice
    ilada = make("ilada", random_state=0, device="cpu")
    with pytest.raises(ValueError, match=r"classes \['emu'\] have no sample"):
        ilada.partial_fit(Xs[first], labels[first], Xt, classes=["cat", "dog", "emu"])


@pytest.mark.parametrize("params", [dict(batch_size=3), dict(batch_size=12, n_neighbors=12)])
def test_n_neighbors_must_be_below_the_source_rows_of_a_step(small_task, params):
    """k >= the balanced source batch makes every target's vote a tie, the lowest class for all, and the MSC
    loss 0 (was: trained silently as DANN)."""
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=r"n_neighbors=\d+ must be smaller than the source rows of a step"):
        make("ilada", random_state=0, **params).fit(Xs, ys, Xt)
    make("ilada", random_state=0, msc_weight=0.0, **params).fit(Xs, ys, Xt)  # no MSC term: nothing to lose
    fitted = make("ilada", random_state=0, batch_size=12, n_neighbors=3).fit(Xs, ys, Xt)
    msc = [b["train_msc_loss"] for e in fitted.history for b in e["batches"] if "train_msc_loss" in b]
    assert np.nanmax(msc) > 0  # NaN: the warm-up steps
