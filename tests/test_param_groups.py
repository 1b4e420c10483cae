"""The optimisers the estimators build: per-group learning rates (``backbone_lr_scale``,
``optimizer__param_groups`` with ``lr_scale`` or an absolute ``lr``, schedules that scale every group from its own
base rate, in every estimator), options set on fitted estimators, and the multi-tensor update."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import StepLR

from skda.optim import annealed_learning_rate

from .registry import NAMES, make


class RecordGroupRates(Callback):
    """At every training step: the progress p and every group's rate, per optimiser."""

    def initialize(self):
        self.rows = []
        return self

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            self.rows.append((net.training_progress_, {
                name: [g["lr"] for g in getattr(net, name + "_").param_groups] for name in net._optimizers}))


def backbone_parameters(clf):
    """The ids of the parameters of the method's feature extractor(s)."""
    net = clf.module_
    parts = ["source_encoder", "target_encoder"] if hasattr(net, "source_encoder") else ["feature_extractor"]
    return {id(p) for part in parts for p in getattr(net, part).parameters()}


def groups_by_role(optimizer, backbone_ids):
    """{"backbone": group, "rest": group} of an optimiser built with backbone_lr_scale (each group holds one role)."""
    out = {}
    for group in optimizer.param_groups:
        roles = {id(p) in backbone_ids for p in group["params"]}
        assert len(roles) == 1, "a group mixes backbone and head parameters"
        out["backbone" if roles.pop() else "rest"] = group
    return out


@pytest.mark.parametrize("name", NAMES)
def test_backbone_lr_scale_in_every_estimator(small_task, name):
    """backbone_lr_scale=0.1: the feature extractor's group runs at 0.1 x the heads' rate at every step, each group
    annealed from its own base rate (lr_p = base / (1 + 10 p) ** 0.75, the default schedule); M-ADDA's three
    optimisers (constant rates) hold: source model lr / 0.1 lr, target model 0.2 lr / 0.02 lr, discriminator lr."""
    Xs, ys, Xt, _ = small_task
    lr = 0.02
    rec = RecordGroupRates()
    clf = make(name, random_state=0, lr=lr, backbone_lr_scale=0.1, callbacks=[rec]).fit(Xs, ys, Xt)
    backbone = backbone_parameters(clf)
    if name == "madda":
        expected = {"optimizer": {"backbone": lr * 0.1, "rest": lr},
                    "target_optimizer": {"backbone": lr * 0.2 * 0.1, "rest": lr * 0.2},
                    "discriminator_optimizer": {"rest": lr}}
        steps = clf.n_steps_per_epoch_ * (clf.source_epochs + clf.max_epochs)
    else:
        expected = {"optimizer": {"backbone": lr * 0.1, "rest": lr}}
        steps = clf.n_steps_per_epoch_ * clf.max_epochs
    assert sorted(clf._optimizers) == sorted(expected)
    assert len(rec.rows) == steps
    for optimizer_name, roles in expected.items():
        groups = groups_by_role(getattr(clf, optimizer_name + "_"), backbone)
        assert sorted(groups) == sorted(roles)
        # the rates after the last step
        factor = 1.0 if name == "madda" else annealed_learning_rate((steps - 1) / steps, 1.0)
        for role, base in roles.items():
            assert groups[role]["lr"] == pytest.approx(base * factor, rel=1e-12), (optimizer_name, role)
    # and at every step: the groups keep their ratio (the schedule scales each from its own base)
    for p, rates in rec.rows:
        for optimizer_name, roles in expected.items():
            groups = groups_by_role(getattr(clf, optimizer_name + "_"), backbone)
            order = [next(role for role, g in groups.items() if g is group)
                     for group in getattr(clf, optimizer_name + "_").param_groups]
            factor = 1.0 if name == "madda" else annealed_learning_rate(p, 1.0)
            for role, rate in zip(order, rates[optimizer_name]):
                assert rate == pytest.approx(roles[role] * factor, rel=1e-12)


def test_param_groups_lr_scale_and_absolute_lr(small_task):
    """optimizer__param_groups: a group with lr_scale runs at lr x scale, one with an absolute lr at that rate, the
    rest at lr; the annealing scales each from its own base; user groups take precedence over backbone_lr_scale."""
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, lr=0.04, backbone_lr_scale=0.1, module__hidden_sizes=(16, 16),
               optimizer__param_groups=[
        ("domain_classifier.*", {"lr": 0.003}), ("feature_extractor.0.*", {"lr_scale": 0.5})]).fit(Xs, ys, Xt)
    steps = clf.n_steps_per_epoch_ * clf.max_epochs
    factor = annealed_learning_rate((steps - 1) / steps, 1.0)
    net = clf.module_
    groups = clf.optimizer_.param_groups
    assert [len(g["params"]) for g in groups] == [
        len(list(net.domain_classifier.parameters())), 2, len(list(net.feature_extractor.parameters())) - 2,
        len(list(net.label_classifier.parameters()))]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in net.feature_extractor[0].parameters()}
    expected = [0.003, 0.04 * 0.5, 0.04 * 0.1, 0.04]
    assert [g["lr"] for g in groups] == pytest.approx([e * factor for e in expected], rel=1e-12)


def test_torch_scheduler_scales_each_group(small_task):
    """skorch's LRScheduler (a torch schedule) in place of the annealing: each group from its own base rate."""
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, lr=0.08, backbone_lr_scale=0.25, callbacks__lr_annealing=None,
               callbacks=[LRScheduler(policy=StepLR, step_size=1, gamma=0.5)]).fit(Xs, ys, Xt)
    groups = groups_by_role(clf.optimizer_, backbone_parameters(clf))
    assert groups["backbone"]["lr"] == pytest.approx(0.08 * 0.25 * 0.5 ** clf.max_epochs)
    assert groups["rest"]["lr"] == pytest.approx(0.08 * 0.5 ** clf.max_epochs)
    # set_params(lr=<the same rate>) writes it into the groups again (each times its scale), as a new rate would
    clf.set_params(lr=0.08)
    groups = groups_by_role(clf.optimizer_, backbone_parameters(clf))
    assert groups["backbone"]["lr"] == pytest.approx(0.08 * 0.25) and groups["rest"]["lr"] == pytest.approx(0.08)


class UnfreezeAtSecondEpoch(Callback):
    """Sets the first group's rate (the frozen feature extractor's) to 0.01 when the second epoch begins; records the
    batch-norm layer's mode at every training step."""

    def initialize(self):
        self.modes = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == 2:
            net.optimizer_.param_groups[0]["lr"] = 0.01

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self.modes.append((len(net.history), net.module_.feature_extractor.layers[1].training))


def test_a_group_unfrozen_during_the_fit_trains_its_batch_norm_layers_from_the_next_epoch(small_task):
    import skda

    Xs, ys, Xt, _ = small_task
    record = UnfreezeAtSecondEpoch()
    skda.DANNClassifier(module=NormalisedExtractor, random_state=0, max_epochs=2, batch_size=16,
                        optimizer__param_groups=[("feature_extractor.*", {"lr": 0.0})],
                        callbacks__lr_annealing=None, callbacks=[record]).fit(Xs, ys, Xt)
    assert {mode for epoch, mode in record.modes if epoch == 1} == {False}
    assert {mode for epoch, mode in record.modes if epoch == 2} == {True}


def test_a_schedule_that_overrides_the_group_rates_warns(small_task):
    """OneCycleLR given one max_lr writes it into every group: the frozen feature extractor trains, and the fit
    warns (after the first epoch); one max_lr per group keeps the scales, as StepLR does, without a warning."""
    import warnings

    from torch.optim.lr_scheduler import OneCycleLR

    Xs, ys, Xt, _ = small_task
    one_cycle = dict(policy=OneCycleLR, total_steps=400, step_every="batch")
    with pytest.warns(UserWarning, match=r"a learning-rate schedule set the rates of optimizer's parameter groups "
                                         r"regardless of their scales \[0.0, 1.0\] .*; a group at scale 0 \(frozen\) "
                                         r"now trains\. A schedule's single max_lr / base_lr \(OneCycleLR, "
                                         r"CyclicLR\) or floor \(eta_min, min_lr\) applies to every group"):
        make("dann", random_state=0, backbone_lr_scale=0.0, callbacks__lr_annealing=None,
             callbacks=[LRScheduler(**one_cycle, max_lr=0.1)]).fit(Xs, ys, Xt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = make("dann", random_state=0, backbone_lr_scale=0.25, callbacks__lr_annealing=None,
                   callbacks=[LRScheduler(**one_cycle, max_lr=[0.025, 0.1])]).fit(Xs, ys, Xt)
        groups = groups_by_role(clf.optimizer_, backbone_parameters(clf))
        assert groups["backbone"]["lr"] == pytest.approx(0.25 * groups["rest"]["lr"])
        make("dann", random_state=0, lr=0.08, backbone_lr_scale=0.25, callbacks__lr_annealing=None,
             callbacks=[LRScheduler(policy=StepLR, step_size=1, gamma=0.5)]).fit(Xs, ys, Xt)
        make("madda", random_state=0, backbone_lr_scale=0.5).fit(Xs, ys, Xt)  # three optimisers, annealed


class SnapshotAtStart(Callback):
    def on_train_begin(self, net, **kwargs):
        self.state = {k: v.clone() for k, v in net.module_.state_dict().items()}


def test_zero_scale_freezes_the_feature_extractor(small_task):
    """backbone_lr_scale=0: the feature extractor's weights do not move (SGD at rate 0), the heads' do."""
    Xs, ys, Xt, _ = small_task
    start = SnapshotAtStart()
    clf = make("dann", random_state=0, backbone_lr_scale=0.0, callbacks=[start]).fit(Xs, ys, Xt)
    after = clf.module_.state_dict()
    for name, value in start.state.items():
        if name.startswith("feature_extractor."):
            assert torch.equal(after[name], value), name
        else:
            assert not torch.equal(after[name], value), name


class NormalisedExtractor(torch.nn.Module):
    """Linear -> BatchNorm1d -> ReLU: a feature extractor with running statistics."""

    def __init__(self, n_features_in=8, affine=True):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(n_features_in, 16), torch.nn.BatchNorm1d(16, affine=affine),
                                          torch.nn.ReLU())

    def forward(self, x):
        return self.layers(x)


@pytest.mark.parametrize("freeze", [{"backbone_lr_scale": 0.0}, {"backbone_lr_scale": 0.0, "module__affine": False},
                                    {"optimizer__param_groups": [("feature_extractor.*", {"lr": 0.0})]}])
def test_a_frozen_feature_extractor_keeps_its_batch_norm_statistics(small_task, freeze):
    """Rate 0 for the feature extractor: its batch-norm running statistics stay as they were too (in train mode
    they followed the training batches, and the features of the frozen extractor moved); the heads train, and at
    a rate above 0 the statistics move."""
    import skda

    Xs, ys, Xt, _ = small_task
    common = dict(module=NormalisedExtractor, random_state=0, max_epochs=2, batch_size=16)
    start = SnapshotAtStart()
    frozen = skda.DANNClassifier(**common, **freeze, callbacks=[start]).fit(Xs, ys, Xt)
    after = frozen.module_.state_dict()
    moved = [name for name, value in start.state.items() if not torch.equal(after[name], value)]
    assert moved and all(not name.startswith("feature_extractor.") for name in moved), moved
    assert frozen.module_.feature_extractor.training is False  # after fit: eval mode, as every module
    start = SnapshotAtStart()
    slow = skda.DANNClassifier(**common, backbone_lr_scale=0.1, callbacks=[start]).fit(Xs, ys, Xt)
    name = "feature_extractor.layers.1.running_mean"
    assert not torch.equal(slow.module_.state_dict()[name], start.state[name])


def test_new_lr_on_a_fitted_estimator_keeps_the_group_ratios(small_task):
    """set_params(lr=...) between fits: every scaled group, in every optimiser, gets the new rate times its scale
    (skorch alone writes one rate into every group), and partial_fit anneals each from there."""
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, lr=0.02, backbone_lr_scale=0.1).fit(Xs, ys, Xt)
    rec = RecordGroupRates()
    clf.set_params(lr=0.05, callbacks=[rec])
    groups = groups_by_role(clf.optimizer_, backbone_parameters(clf))
    assert (groups["backbone"]["lr"], groups["rest"]["lr"]) == pytest.approx((0.005, 0.05))
    clf.partial_fit(Xs, ys, Xt)
    first_p, first = rec.rows[0]
    assert first_p == 0.0
    order = ["backbone" if g is groups["backbone"] else "rest" for g in clf.optimizer_.param_groups]
    assert dict(zip(order, first["optimizer"])) == pytest.approx({"backbone": 0.005, "rest": 0.05})

    madda = make("madda", random_state=0, lr=1e-3, backbone_lr_scale=0.1).fit(Xs, ys, Xt)
    madda.set_params(lr=2e-3)
    backbone = backbone_parameters(madda)
    for name, scale in [("optimizer", 1.0), ("target_optimizer", 0.2), ("discriminator_optimizer", 1.0)]:
        for role, group in groups_by_role(getattr(madda, name + "_"), backbone).items():
            assert group["lr"] == pytest.approx(2e-3 * scale * (0.1 if role == "backbone" else 1.0))


def test_new_groups_on_a_fitted_estimator_rebuild_the_optimiser(small_task):
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, lr=0.02).fit(Xs, ys, Xt)
    assert len(clf.optimizer_.param_groups) == 1
    clf.set_params(backbone_lr_scale=0.5)
    groups = groups_by_role(clf.optimizer_, backbone_parameters(clf))
    assert (groups["backbone"]["lr"], groups["rest"]["lr"]) == pytest.approx((0.01, 0.02))
    clf.set_params(optimizer__param_groups=[("label_classifier.*", {"lr": 0.1})])
    assert clf.optimizer__param_groups == [("label_classifier.*", {"lr": 0.1})]
    assert [g["lr"] for g in clf.optimizer_.param_groups] == pytest.approx([0.1, 0.01, 0.02])
    clf.partial_fit(Xs, ys, Xt)  # trains with them


def test_a_new_target_lr_scale_on_a_fitted_madda_rebuilds_its_optimisers(small_task):
    """Was: stored, while the target model's optimiser kept the former rate for partial_fit and warm starts."""
    Xs, ys, Xt, _ = small_task
    clf = make("madda", random_state=0, lr=0.01).fit(Xs, ys, Xt)
    assert [g["lr"] for g in clf.target_optimizer_.param_groups] == pytest.approx([0.01 * 0.2])
    clf.set_params(target_lr_scale=0.9)
    assert [g["lr"] for g in clf.target_optimizer_.param_groups] == pytest.approx([0.01 * 0.9])
    assert [g["lr"] for g in clf.optimizer_.param_groups] == pytest.approx([0.01])  # the source model's unchanged
    clf.partial_fit(Xs, ys, Xt)  # trains with it
    assert clf.target_lr_scale == 0.9 and "target_lr_scale" in type(clf).learning_rate_parameters


def test_new_optimiser_options_on_a_fitted_estimator_reach_every_optimiser(small_task):
    """On a fitted estimator an optimiser option reaches all of the method's optimisers (M-ADDA has three), a new
    optimiser class rebuilds them, and partial_fit trains with what was set."""
    Xs, ys, Xt, _ = small_task
    madda = make("madda", random_state=0).fit(Xs, ys, Xt)
    madda.set_params(optimizer__weight_decay=0.1)
    optimizers = (madda.optimizer_, madda.target_optimizer_, madda.discriminator_optimizer_)
    assert [g["weight_decay"] for o in optimizers for g in o.param_groups] == [0.1] * 3
    dann = make("dann", random_state=0, optimizer=torch.optim.Adam, lr=0.01).fit(Xs, ys, Xt)
    dann.set_params(optimizer=torch.optim.SGD, optimizer__momentum=0.9)
    assert dann.optimizer is torch.optim.SGD and type(dann.optimizer_) is torch.optim.SGD
    assert dann.optimizer_.param_groups[0]["momentum"] == 0.9 and dann.get_params()["optimizer__momentum"] == 0.9
    assert dann.optimizer_.param_groups[0]["lr"] == pytest.approx(0.01)
    dann.partial_fit(Xs, ys, Xt)
    assert type(dann.optimizer_) is torch.optim.SGD


def test_optimiser_options_set_on_a_fitted_estimator_are_its_parameters(small_task):
    """An ``optimizer__<option>`` set on a fitted estimator is stored as a parameter, as on an unfitted one:
    ``get_params`` lists it, ``clone`` and the next ``fit`` use it. ``optimizer__lr`` overrides ``lr`` as in a
    fresh fit (skorch's rule): a later ``set_params(lr=...)`` leaves the rates that ``optimizer__lr`` set."""
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, lr=0.02).fit(Xs, ys, Xt)
    clf.set_params(optimizer__weight_decay=0.1, optimizer__lr=0.03)
    assert clf.get_params()["optimizer__weight_decay"] == 0.1 and clf.get_params()["optimizer__lr"] == 0.03
    assert clone(clf).get_params()["optimizer__weight_decay"] == 0.1
    clf.set_params(lr=0.5)
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.03)
    clf.fit(Xs, ys, Xt)
    fresh = make("dann", random_state=0, lr=0.5, optimizer__lr=0.03, optimizer__weight_decay=0.1).fit(Xs, ys, Xt)
    assert clf.optimizer_.param_groups[0]["weight_decay"] == 0.1
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(fresh.optimizer_.param_groups[0]["lr"])
    np.testing.assert_array_equal(clf.predict_proba(Xt), fresh.predict_proba(Xt))


def test_a_new_criterion_on_a_fitted_estimator_takes_effect_at_once(small_task):
    """With the default device="auto" (skorch knows no "auto" when it re-initialises the criterion)."""
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, device="auto").fit(Xs, ys, Xt)
    weight = torch.tensor([1.0, 2.0, 3.0])
    clf.set_params(criterion__weight=weight)
    assert torch.equal(clf.criterion_.weight.cpu(), weight) and clf.device == "auto"
    clf.set_params(criterion=torch.nn.CrossEntropyLoss, criterion__weight=None)
    assert clf.criterion_.weight is None
    clf.partial_fit(Xs, ys, Xt, epochs=1)


class ScaledCrossEntropy(torch.nn.Module):
    """Cross-entropy times a learned scale: a criterion with a parameter of its own."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, logits, target):
        return self.scale * torch.nn.functional.cross_entropy(logits, target)


@pytest.mark.parametrize("name", ["dann", "ilada", "active"])
def test_a_new_criterion_on_a_fitted_estimator_keeps_the_optimiser_state(small_task, name):
    """A criterion value set between partial_fit calls keeps the optimisers' state (Adam's moments, momentum)
    and rate (skorch rebuilt them: the next partial_fit trained differently, silently); a criterion with a
    parameter of its own rebuilds them so that they train it."""
    Xs, ys, Xt, _ = small_task
    clf = make(name, random_state=0).fit(Xs, ys, Xt)
    optimizers = {n: getattr(clf, n + "_") for n in clf._optimizers}
    states = {n: len(opt.state) for n, opt in optimizers.items()}
    clf.set_params(criterion__weight=torch.ones(3))
    assert {n: getattr(clf, n + "_") for n in clf._optimizers} == optimizers
    assert {n: len(opt.state) for n, opt in optimizers.items()} == states and max(states.values()) > 0
    if name == "dann":
        scaled = make(name, random_state=0).fit(Xs, ys, Xt).set_params(criterion=ScaledCrossEntropy)
        assert any(p is scaled.criterion_.scale for g in scaled.optimizer_.param_groups for p in g["params"])


def test_bad_groups(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match="gives both 'lr' and 'lr_scale'"):
        make("dann", optimizer__param_groups=[("feature_extractor.*", {"lr": 0.1, "lr_scale": 0.1})]).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match=r"takes \(name pattern, options dict\) pairs"):
        make("dann", optimizer__param_groups=["feature_extractor.*"]).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="'backbone_lr_scale' parameter of DANNClassifier must be"):
        make("dann", backbone_lr_scale=-0.1).fit(Xs, ys, Xt)
    assert np.isfinite(make("dann", backbone_lr_scale=1.0).fit(Xs, ys, Xt).predict_proba(Xt)).all()


# ---------------------------------------------------------------- the optimisers' multi-tensor update (foreach)
@pytest.mark.parametrize("name", NAMES)
def test_torch_optimisers_use_the_multi_tensor_update_with_the_same_numbers(small_task, name):
    """Every optimiser the estimator builds from a torch optimiser runs with ``foreach=True`` (torch would pick it
    on CUDA only); the fitted model is exactly the one of ``optimizer__foreach=False``, which is kept when given."""
    Xs, ys, Xt, _ = small_task
    fast = make(name, random_state=0).fit(Xs, ys, Xt)
    loop = make(name, random_state=0, optimizer__foreach=False).fit(Xs, ys, Xt)
    for optimizer_name in fast._optimizers:
        assert getattr(fast, optimizer_name + "_").defaults["foreach"] is True
        assert getattr(loop, optimizer_name + "_").defaults["foreach"] is False
    np.testing.assert_array_equal(fast.predict_proba(Xt), loop.predict_proba(Xt))
    assert "optimizer__foreach" not in fast.get_params()  # not a parameter the user set
    if name == "dann":  # fused excludes foreach: the fused kernel as asked (a RuntimeError before)
        fused = make(name, random_state=0, optimizer__fused=True).fit(Xs, ys, Xt)
        assert fused.optimizer_.defaults["fused"] is True and not fused.optimizer_.defaults["foreach"]


def test_sgd_with_momentum_uses_the_multi_tensor_update_with_the_same_numbers(small_task):
    from skda.optim import MomentumSGD
    Xs, ys, Xt, _ = small_task
    fast = make("dann", random_state=0, optimizer=MomentumSGD).fit(Xs, ys, Xt)
    loop = make("dann", random_state=0, optimizer=MomentumSGD, optimizer__foreach=False).fit(Xs, ys, Xt)
    assert fast.optimizer_.defaults["foreach"] is True
    np.testing.assert_array_equal(fast.predict_proba(Xt), loop.predict_proba(Xt))


def test_optimisers_without_foreach_are_built_without_it(small_task):
    """A torch optimiser subclass whose constructor drops ``**kwargs`` gets no ``foreach`` argument (it would raise a
    TypeError); ``takes_foreach`` answers only for torch optimiser classes."""
    from skda.optim import AdversarialAdam, MomentumSGD, takes_foreach

    class FixedAdam(torch.optim.Adam):
        def __init__(self, params, lr=1e-3):
            super().__init__(params, lr=lr)

    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, optimizer=FixedAdam).fit(Xs, ys, Xt)
    assert clf.optimizer_.defaults["foreach"] is None and np.isfinite(clf.predict_proba(Xt)).all()
    assert [takes_foreach(c) for c in (torch.optim.Adam, torch.optim.SGD, MomentumSGD, AdversarialAdam)] == [True] * 4
    assert [takes_foreach(c) for c in (FixedAdam, torch.optim.LBFGS, None, lambda params: None, int)] == [False] * 5


def test_optimizer_lr_is_checked_as_lr_is_at_fit_and_at_set_params(small_task):
    """optimizer__lr overrides lr but was never range-checked: at fit torch's message named no parameter; on a
    fitted estimator a negative value was written into the optimiser and the next partial_fit trained by gradient
    ascent (train loss 15 -> 288697). Rates set on a fitted estimator are checked before they are written."""
    from sklearn.utils._param_validation import InvalidParameterError

    Xs, ys, Xt, _ = small_task
    with pytest.raises(InvalidParameterError, match="'optimizer__lr' parameter of DANNClassifier must be"):
        make("dann", optimizer__lr=-0.5).fit(Xs, ys, Xt)
    model = make("dann", random_state=0).fit(Xs, ys, Xt)
    rates = [group["lr"] for group in model.optimizer_.param_groups]
    for key, value in (("optimizer__lr", -0.5), ("optimizer__lr", "abc"), ("optimizer__lr", np.inf), ("lr", "abc"),
                       ("backbone_lr_scale", -1.0)):
        with pytest.raises(InvalidParameterError, match=f"'{key}' parameter of DANNClassifier must be"):
            model.set_params(**{key: value})
        assert [group["lr"] for group in model.optimizer_.param_groups] == rates


def test_madda_refuses_criterion_values_it_would_ignore(small_task):
    """M-ADDA's losses (triplet, center, adversarial) and kNN rule read no criterion: criterion__weight changed
    nothing (identical predictions), and set on a fitted model rebuilt its three optimisers."""
    Xs, ys, Xt, _ = small_task
    match = r"MADDAClassifier trains no label criterion .* so \['criterion__weight'\] would be ignored"
    with pytest.raises(ValueError, match=match):
        make("madda", criterion__weight=torch.ones(3)).fit(Xs, ys, Xt)
    clf = make("madda", random_state=0).fit(Xs, ys, Xt)
    states = [len(getattr(clf, n + "_").state) for n in clf._optimizers]
    with pytest.raises(ValueError, match=match):
        clf.set_params(criterion__weight=torch.ones(3))
    assert [len(getattr(clf, n + "_").state) for n in clf._optimizers] == states
    assert "criterion__weight" not in vars(clf)
    with pytest.raises(TypeError, match=r"does not support sample_weight: .* Resample the source rows by weight "
                                        r"instead\.$"):
        clf.fit(Xs, ys, Xt, sample_weight=np.ones(len(ys)))
    clf.set_params(**clf.get_params())  # the default criterion passes, also as a default instance
    clf.set_params(criterion=torch.nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match=r"so \['criterion__reduction'\] would be ignored\.$"):
        clf.set_params(criterion__reduction="sum")
    with pytest.raises(ValueError, match=r"so \['criterion'\] would be ignored; weight classes by resampling"):
        clf.set_params(criterion=torch.nn.CrossEntropyLoss(weight=torch.ones(3)))

