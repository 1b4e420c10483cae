import math

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

import skda
from skda.layers import GradientReversalLayer
from skda.optim import annealed_learning_rate, grl_coefficient

from .conftest import FAST


@pytest.mark.parametrize("p", [0.0, 0.1, 0.37, 0.5, 1.0])
def test_grl_coefficient_is_eq_14(p):
    assert grl_coefficient(p) == pytest.approx(2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)
    assert grl_coefficient(p, gamma=3.0) == pytest.approx(2.0 / (1.0 + math.exp(-3.0 * p)) - 1.0)


def test_grl_coefficient_endpoints():
    assert grl_coefficient(0.0) == 0.0
    assert grl_coefficient(1.0) == pytest.approx(0.99991, abs=1e-5)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.8, 1.0])
def test_annealed_lr_is_appendix_c(p):
    assert annealed_learning_rate(p, 0.01) == pytest.approx(0.01 / (1 + 10 * p) ** 0.75)
    assert annealed_learning_rate(p, 0.1, alpha=5, beta=0.5) == pytest.approx(0.1 / (1 + 5 * p) ** 0.5)


def test_gradient_reversal_layer_forward_identity_backward_negated():
    x = torch.randn(5, 3, requires_grad=True)
    layer = GradientReversalLayer(0.7)
    out = layer(x)
    assert torch.equal(out, x)
    upstream = torch.randn(5, 3)
    out.backward(upstream)
    assert torch.allclose(x.grad, -0.7 * upstream)


class RecordSchedule(Callback):
    """Records, at every training step, the progress p, the GRL coefficient and the learning rate."""

    def initialize(self):
        self.rows = []
        return self

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        self.rows.append((net.training_progress_, net.module_.gradient_reversal.coefficient,
                          net.optimizer_.param_groups[0]["lr"]))


def test_schedules_applied_every_step(small_task):
    Xs, ys, Xt, _ = small_task
    rec = RecordSchedule()
    clf = skda.DANNClassifier(random_state=0, lr=0.05, adversarial_weight=0.5, callbacks=[rec], **FAST)
    clf.fit(Xs, ys, Xt)
    steps = clf.n_steps_per_epoch_ * clf.max_epochs
    assert len(rec.rows) == steps
    p = np.arange(steps) / steps
    got = np.array(rec.rows)
    np.testing.assert_allclose(got[:, 0], p)
    np.testing.assert_allclose(got[:, 1], [0.5 * grl_coefficient(v) for v in p])
    np.testing.assert_allclose(got[:, 2], [annealed_learning_rate(v, 0.05) for v in p])


def test_schedules_are_tunable_and_can_be_disabled(small_task):
    Xs, ys, Xt, _ = small_task
    rec = RecordSchedule()
    clf = skda.DANNClassifier(random_state=0, callbacks=[rec], callbacks__grl_schedule__gamma=None,
                              callbacks__lr_annealing=None, lr=0.02, **FAST)
    clf.fit(Xs, ys, Xt)
    got = np.array(rec.rows)
    assert np.all(got[:, 1] == 1.0) and np.all(got[:, 2] == 0.02)
