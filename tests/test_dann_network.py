"""The adversarial signal must reach the feature extractor, reversed (a constant discriminator would fail)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skda.layers import DANNNetwork, MLPFeatureExtractor
from skda.losses import domain_adversarial_loss

from .registry import make


def _net():
    torch.manual_seed(0)
    return DANNNetwork(MLPFeatureExtractor(6, (8,)), 8, 3, domain_hidden_sizes=(5,))


def test_domain_classifier_outputs_one_logit_per_sample():
    net = _net()
    out = net(torch.randn(4, 6), torch.randn(3, 6))
    assert out["domain_logits"].shape == (7,)
    assert out["source_logits"].shape == (4, 3)
    assert out["domain_logits"].std() > 0  # not a constant output


def test_domain_loss_is_bce_with_source_zero_target_one():
    logits = torch.tensor([0.3, -1.2, 2.0, 0.1, -0.4])
    got = domain_adversarial_loss(logits, n_source=2).item()
    z = logits.numpy().astype(np.float64)
    d = np.array([0, 0, 1, 1, 1], dtype=np.float64)
    p = 1 / (1 + np.exp(-z))
    expected = -np.mean(d * np.log(p) + (1 - d) * np.log(1 - p))
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("coefficient", [0.3, 1.0])
def test_domain_gradient_reaches_feature_extractor_reversed(coefficient):
    xs, xt = torch.randn(8, 6), torch.randn(8, 6) + 1.0
    net = _net()
    net.gradient_reversal.coefficient = coefficient
    out = net(xs, xt)
    domain_adversarial_loss(out["domain_logits"], out["n_source"]).backward()
    grads_reversed = [p.grad.clone() for p in net.feature_extractor.parameters()]
    disc_grads = [p.grad.clone() for p in net.domain_classifier.parameters()]
    assert all(g.abs().sum() > 0 for g in grads_reversed)

    # the same loss without reversal: feature gradients are exactly -1/coefficient times as large
    net.zero_grad()
    feats = net.features(torch.cat([xs, xt]))
    logits = net.domain_classifier(feats).squeeze(1)
    domain_adversarial_loss(logits, len(xs)).backward()
    for g_rev, p in zip(grads_reversed, net.feature_extractor.parameters()):
        torch.testing.assert_close(g_rev, -coefficient * p.grad)
    # the discriminator itself descends its loss (no reversal on its own parameters)
    for g, p in zip(disc_grads, net.domain_classifier.parameters()):
        torch.testing.assert_close(g, p.grad)


def test_training_makes_the_domain_classifier_learn(small_task):
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, max_epochs=5).fit(Xs, ys, Xt)
    for key in ("train_label_loss", "train_domain_loss", "train_domain_accuracy"):
        assert np.isfinite(clf.history[-1, key])
    first = clf.history[0, "batches", 0, "train_domain_loss"]
    assert first == pytest.approx(F.binary_cross_entropy_with_logits(torch.zeros(1), torch.zeros(1)).item(), abs=0.15)
