import math

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

import skda
from skda.layers import GradientReversalLayer
from skda.optim import annealed_learning_rate, grl_coefficient

from .registry import make


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


@pytest.mark.parametrize("params,message", [
    ({"callbacks__grl_schedule__gamma": -1000}, "callbacks__grl_schedule__gamma must be a finite number >= 0"),
    ({"callbacks__grl_schedule__gamma": float("nan")}, "callbacks__grl_schedule__gamma must be"),
    ({"callbacks__lr_annealing__alpha": -1}, "callbacks__lr_annealing__alpha must be a finite number >= 0"),
    ({"callbacks__lr_annealing__beta": "x"}, "callbacks__lr_annealing__beta must be"),
])
def test_bad_schedule_values_are_refused_at_fit(small_task, params, message):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=message):
        make("dann", **params).fit(Xs, ys, Xt)
    # on a fitted estimator: at set_params (was: accepted, and partial_fit trained with it, e.g. a rising rate)
    fitted = make("dann", random_state=0).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match=message):
        fitted.set_params(**params)


def test_schedules_applied_every_step(small_task):
    Xs, ys, Xt, _ = small_task
    rec = RecordSchedule()
    clf = make("dann", random_state=0, lr=0.05, adversarial_weight=0.5, callbacks=[rec])
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
    clf = make("dann", random_state=0, callbacks=[rec], callbacks__grl_schedule__gamma=None,
               callbacks__lr_annealing=None, lr=0.02)
    clf.fit(Xs, ys, Xt)
    got = np.array(rec.rows)
    assert np.all(got[:, 1] == 1.0) and np.all(got[:, 2] == 0.02)
    # disabled on a fitted estimator: the next partial_fit (and warm start) runs without it
    fitted = make("dann", random_state=0, callbacks=[rec], lr=0.02).fit(Xs, ys, Xt)
    fitted.set_params(callbacks__lr_annealing=None)
    rec.rows.clear()
    fitted.partial_fit(Xs, ys, Xt)
    rates = np.array(rec.rows)[:, 2]
    assert len(rates) > 1 and np.all(rates == rates[0])  # not annealed: the rate holds
    fitted.set_params(warm_start=True).fit(Xs, ys, Xt)


class RecordLR(Callback):
    def initialize(self):
        self.lrs = []
        return self

    def on_batch_begin(self, net, training=None, **kwargs):
        if training:
            self.lrs.append(net.optimizer_.param_groups[0]["lr"])


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_a_learning_rate_set_between_fits_is_the_next_schedule_s_start(small_task, how):
    Xs, ys, Xt, _ = small_task
    recorder = RecordLR()
    # the recorder runs after the schedule (callbacks added by the user come after the defaults)
    clf = make("dann", random_state=0, device="cpu", callbacks=[("record", recorder)],
               warm_start=how == "warm_start").fit(Xs, ys, Xt)
    assert recorder.lrs[0] == pytest.approx(0.01)
    clf.set_params(lr=0.5)
    recorder.lrs.clear()
    clf.partial_fit(Xs, ys, Xt) if how == "partial_fit" else clf.fit(Xs, ys, Xt)
    assert recorder.lrs[0] == pytest.approx(0.5)  # was 0.01: the first fit's rate stuck
    assert recorder.lrs[-1] < recorder.lrs[0]      # annealed from there
    recorder.lrs.clear()
    clf.partial_fit(Xs, ys, Xt)  # no change: the schedule restarts from 0.5 again
    assert recorder.lrs[0] == pytest.approx(0.5)


@pytest.mark.parametrize("cls", [skda.DANNClassifier, skda.MLADAClassifier, skda.ILADAClassifier])
def test_without_the_grl_schedule_the_reversal_holds_the_adversarial_weight(small_task, cls):
    Xs, ys, Xt, _ = small_task
    clf = make(cls, random_state=0, device="cpu", adversarial_weight=0.7, callbacks__grl_schedule=None,
               max_epochs=1).fit(Xs, ys, Xt)
    assert [layer.coefficient for layer in clf.gradient_reversal_layers_] == [0.7]  # was 0.0: no adaptation
