"""The tabular default recipe (issue 21): sizes from the data, a fixed number of optimisation steps, Adam."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import skda
from skda.engine import AUTO_STEPS, auto_epochs
from skda.layers import MLPFeatureExtractor, auto_domain_hidden_sizes, auto_hidden_sizes


def linear_widths(module):
    return [m.out_features for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("n_features,width", [(8, 32), (64, 32), (400, 100), (800, 200), (1024, 256), (5000, 256)])
def test_auto_hidden_sizes_is_one_layer_of_a_quarter_of_the_features_clipped(n_features, width):
    assert auto_hidden_sizes(n_features) == (width,)
    assert linear_widths(MLPFeatureExtractor(n_features)) == [width]
    assert auto_domain_hidden_sizes(width) == (width,)


def test_a_bad_hidden_sizes_string_is_refused():
    with pytest.raises(ValueError, match="hidden_sizes must be a tuple of ints or 'auto', got 'big'"):
        MLPFeatureExtractor(10, hidden_sizes="big")


@pytest.mark.parametrize("hidden_sizes", [(0,), (16, 0), (-3,), (16.0,), (True,), 64, None, 2.5])
def test_hidden_widths_below_one_or_not_ints_are_refused_when_the_estimator_builds_its_network(small_task,
                                                                                                hidden_sizes):
    """A width of 0 trained a constant model (features of shape (n, 0)); a negative one failed inside torch."""
    Xs, ys, Xt, _ = small_task
    clf = skda.DANNClassifier(module__hidden_sizes=hidden_sizes, max_epochs=1, random_state=0)
    with pytest.raises(ValueError, match=r"hidden_sizes must be a tuple of ints >= 1 or 'auto'"):
        clf.fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.0"):
        MLPFeatureExtractor(10, hidden_sizes=(4,), dropout=1.0)
    assert linear_widths(MLPFeatureExtractor(10, hidden_sizes=[np.int64(4), 3])) == [4, 3]


def test_auto_epochs_rounds_the_step_budget_up():
    assert AUTO_STEPS == 500
    assert auto_epochs(1) == 500 and auto_epochs(3) == 167 and auto_epochs(500) == 1 and auto_epochs(800) == 1
    assert auto_epochs(7, steps=20) == 3


def test_defaults_build_the_networks_from_the_data(small_task):
    Xs, ys, Xt, _ = small_task  # 8 features: one hidden layer of 32 units
    dann = skda.DANNClassifier(max_epochs=1, random_state=0).fit(Xs, ys, Xt)
    assert isinstance(dann.optimizer_, torch.optim.Adam) and dann.lr == 1e-3
    assert linear_widths(dann.module_.feature_extractor) == [32]
    assert linear_widths(dann.module_.domain_classifier) == [32, 1]  # one hidden layer as wide as the features
    mlada = skda.MLADAClassifier(max_epochs=1, random_state=0).fit(Xs, ys, Xt)
    assert linear_widths(mlada.module_.metric_generator) == [32, 32]
    cdan = skda.ILADAClassifier(base="cdan", max_epochs=1, random_state=0).fit(Xs, ys, Xt)
    assert linear_widths(cdan.module_.domain_classifier) == [32, 1]  # as wide as the features, not features x classes
    madda = skda.MADDAClassifier(max_epochs=1, source_epochs=1, random_state=0).fit(Xs, ys, Xt)
    assert madda.transform(Xt).shape == (len(Xt), 32)  # embedding as wide as the features
    assert linear_widths(madda.module_.discriminator) == [32, 1]


@pytest.mark.parametrize("cls", [skda.SourceOnlyClassifier, skda.DANNClassifier, skda.ILADAClassifier])
def test_max_epochs_auto_takes_the_step_budget(small_task, cls, monkeypatch):
    import skda.engine

    # a budget of 20 steps instead of 500, to keep the test short
    monkeypatch.setattr(skda.engine, "auto_epochs", lambda steps_per_epoch: math.ceil(20 / steps_per_epoch))
    Xs, ys, Xt, _ = small_task
    est = cls(batch_size=32, module__hidden_sizes=(8,), random_state=0).fit(Xs, ys, Xt)
    steps = est.n_steps_per_epoch_  # 120 source rows, batches of 32 (ILA-DA: class-balanced, 4 steps)
    assert len(est.history) == math.ceil(20 / steps)
    assert len(est.history) * steps >= 20 > (len(est.history) - 1) * steps


def test_madda_source_epochs_auto_takes_the_step_budget(small_task):
    Xs, ys, Xt, _ = small_task
    est = skda.MADDAClassifier(batch_size=64, module__hidden_sizes=(8,), max_epochs=1, random_state=0)
    est.fit(Xs, ys, Xt)
    # 120 source rows in batches of 64: 2 steps per epoch, so 250 source-stage epochs, then the 1 target epoch
    assert len(est.history) == auto_epochs(2) + 1 == 251


@pytest.mark.parametrize("params, message", [
    (dict(out_features=0), r"out_features must be an int >= 1, got 0"),
    (dict(out_features=64.0), r"out_features must be an int >= 1, got 64.0"),
    (dict(dropout=1.0), r"dropout must be a number in \[0, 1\), got 1.0"),
    (dict(dropout=True), r"dropout must be a number in \[0, 1\), got True"),
    (dict(channels=32), r"channels must be 2 ints >= 1, got 32"),
    (dict(image_shape=(1, 1, 16, 16)), r"image_shape must be 2 or 3 ints >= 1, got \(1, 1, 16, 16\)"),
])
def test_lenet_refuses_values_that_trained_a_constant_model_or_failed_inside_torch(params, message):
    """out_features=0 and dropout 1 (or True) trained a model predicting one class; the others failed in torch."""
    from skda.layers import LeNetFeatureExtractor

    with pytest.raises(ValueError, match=f"LeNetFeatureExtractor: {message}"):
        LeNetFeatureExtractor(**params)

