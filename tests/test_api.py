"""sklearn conventions and the two calling forms of fit."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

import skda
import skda.optim
from skda.engine import PairedBatchSampler
from skda.model_selection import pack_domains

from . import registry
from .registry import make


def packed(Xs, ys, Xt, marker=-1):
    """Stack source and target rows; target labels are ``marker``."""
    dtype = object if isinstance(marker, str) else None
    return np.vstack([Xs, Xt]), np.concatenate([np.asarray(ys, dtype=dtype), np.full(len(Xt), marker, dtype=dtype)])


@pytest.mark.parametrize("n_source,n_target,batch", [(100, 37, 16), (37, 100, 16), (64, 64, 64), (10, 3, 4)])
def test_paired_sampler_covers_larger_domain_once_and_recycles_smaller(n_source, n_target, batch):
    sampler = PairedBatchSampler(n_source, n_target, batch, torch.Generator().manual_seed(0), torch.device("cpu"))
    pairs = list(sampler)
    assert len(pairs) == len(sampler) == -(-max(n_source, n_target) // batch)
    src = torch.cat([s for s, _ in pairs]).numpy()
    tgt = torch.cat([t for _, t in pairs]).numpy()
    assert all(len(s) == len(t) for s, t in pairs)
    assert all(len(s) == batch for s, _ in pairs[:-1])
    larger, smaller, n_small = (src, tgt, n_target) if n_source >= n_target else (tgt, src, n_source)
    assert sorted(larger) == list(range(max(n_source, n_target)))  # every sample exactly once
    counts = np.bincount(smaller, minlength=n_small)
    assert counts.min() >= len(smaller) // n_small and counts.max() <= -(-len(smaller) // n_small)


@pytest.mark.parametrize("n_source,n_target,batch", [(20, 7, 1), (17, 40, 8), (9, 3, 2)])
def test_sampler_length_is_the_number_of_steps_it_yields(n_source, n_target, batch):
    """The schedules read len(sampler) as the steps of an epoch: with batch_size=1 the last step always has one row
    and joins the one before it, so len was one more than the steps yielded (the progress p stopped at 0.925)."""
    from skda.engine import ClassBalancedBatchSampler

    generator, cpu = torch.Generator().manual_seed(0), torch.device("cpu")
    one_class = torch.zeros(n_source, dtype=torch.long)
    for sampler in (PairedBatchSampler(n_source, n_target, batch, generator, cpu),
                    ClassBalancedBatchSampler(one_class, n_target, batch, generator, cpu)):
        assert len(list(sampler)) == len(sampler)


def test_samplers_refuse_an_empty_domain_and_labels_that_are_not_class_indices():
    """Was: ZeroDivisionError, torch's bincount errors, or class_names silently ignored."""
    from skda.engine import ClassBalancedBatchSampler

    generator, cpu = torch.Generator(), torch.device("cpu")
    for n_source, n_target in ((0, 5), (5, 0)):
        with pytest.raises(ValueError, match="paired batches need rows of both domains"):
            PairedBatchSampler(n_source, n_target, 2, generator, cpu)
    with pytest.raises(ValueError, match="paired batches need rows of both domains"):
        ClassBalancedBatchSampler(torch.tensor([0, 1, 1]), 0, 4, generator, cpu)
    for labels in (torch.tensor([], dtype=torch.long), torch.tensor([0.0, 1.0])):
        with pytest.raises(ValueError, match="non-empty 1-D tensor of class indices"):
            ClassBalancedBatchSampler(labels, 2, 4, generator, cpu)
    with pytest.raises(ValueError, match=r"class indices in \[0, n_classes\), got values from -1"):
        ClassBalancedBatchSampler(torch.tensor([0, -1, 1]), 3, 4, generator, cpu)
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\), got values from 0 to 2"):
        ClassBalancedBatchSampler(torch.tensor([0, 1, 2]), 3, 4, generator, cpu, class_names=["a", "b"])


def test_fit_predict_shapes(small_task):
    Xs, ys, Xt, yt = small_task
    clf = make("dann", random_state=0).fit(Xs, ys, Xt)
    assert clf.predict(Xt).shape == (len(Xt),)
    proba = clf.predict_proba(Xt)
    assert proba.shape == (len(Xt), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert clf.transform(Xt).shape == (len(Xt), 16)
    assert clf.n_features_in_ == 8 and list(clf.classes_) == [0, 1, 2]
    assert clf.device_ == torch.device("cpu") or torch.cuda.is_available()
    assert 0.0 <= clf.score(Xt, yt) <= 1.0


def test_device_auto_resolves(small_task):
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0).fit(Xs, ys, Xt)
    assert clf.device == "auto"  # the parameter is untouched
    assert clf.device_.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert next(clf.module_.parameters()).device.type == clf.device_.type


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        skda.DANNClassifier().predict(np.zeros((2, 3)))


@pytest.mark.parametrize("cls", [skda.DANNClassifier, skda.SourceOnlyClassifier])
def test_same_seed_same_predictions_and_packed_equals_three_arrays(small_task, cls):
    Xs, ys, Xt, _ = small_task
    kw = {"random_state": 3, "device": "cpu"}  # bit-identical results are promised on CPU (see random_state)
    a = make(cls, **kw).fit(Xs, ys, Xt).predict_proba(Xt)
    b = make(cls, **kw).fit(Xs, ys, Xt).predict_proba(Xt)
    X, y = packed(Xs, ys, Xt)
    c = make(cls, **kw).fit(X, y).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    d = make(cls, **{**kw, "random_state": 4}).fit(Xs, ys, Xt).predict_proba(Xt)
    assert not np.array_equal(a, d)


def test_a_caller_s_autocast_or_default_dtype_does_not_change_a_float32_fit(small_task):
    """precision="float32" (the default) trains and predicts in float32 inside the caller's bfloat16 autocast
    region and under torch.set_default_dtype(torch.float64): the model and predictions of a plain call."""
    Xs, ys, Xt, _ = small_task
    plain = skda.DANNClassifier(max_epochs=2, random_state=0).fit(Xs, ys, Xt)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = skda.DANNClassifier(max_epochs=2, random_state=0).fit(Xs, ys, Xt)
        np.testing.assert_array_equal(plain.predict_proba(Xt), inside.predict_proba(Xt))
        assert plain.transform(Xt).dtype == np.float32
        np.testing.assert_array_equal(plain.transform(Xt), inside.transform(Xt))
    from skda.runtime import autocast_off

    assert isinstance(autocast_off("cpu"), torch.autocast)
    assert not isinstance(autocast_off("no-such-device"), torch.autocast)  # e.g. mps on torch < 2.5: no context
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        wide = skda.DANNClassifier(max_epochs=2, random_state=0).fit(Xs, ys, Xt)
        assert next(wide.module_.parameters()).dtype == torch.float32
        np.testing.assert_array_equal(plain.predict_proba(Xt), wide.predict_proba(Xt))
    finally:
        torch.set_default_dtype(previous)


def test_predicting_a_writeable_array_leaves_the_warning_filters_alone(small_task, monkeypatch):
    """warnings.catch_warnings is not thread-safe (concurrent predictions could leave a filter behind): skda enters
    it around torch.from_numpy only for a read-only array, whose warning it silences, not for every prediction."""
    import sys

    Xs, ys, Xt, _ = small_task
    clf = skda.DANNClassifier(max_epochs=1, random_state=0).fit(Xs, ys, Xt)
    original, callers = warnings.catch_warnings, []

    def recording(*args, **kwargs):
        callers.append(sys._getframe(1).f_globals.get("__name__", ""))
        return original(*args, **kwargs)

    monkeypatch.setattr(warnings, "catch_warnings", recording)
    clf.predict_proba(Xt)
    assert not [name for name in callers if name.startswith("skda")]
    read_only = Xt.copy()
    read_only.setflags(write=False)
    with original():
        warnings.simplefilter("error")  # torch's "not writable" warning is silenced
        np.testing.assert_array_equal(clf.predict_proba(read_only), clf.predict_proba(Xt))
    assert [name for name in callers if name.startswith("skda")]


def test_fit_leaves_global_torch_rng_alone(small_task):
    Xs, ys, Xt, _ = small_task
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make("dann", random_state=0).fit(Xs, ys, Xt)
    assert torch.equal(torch.rand(3), expected)


def test_string_labels_round_trip(small_task):
    Xs, ys, Xt, yt = small_task
    names = np.array(["cat", "dog", "emu"])
    clf = make("dann", random_state=0, max_epochs=10).fit(Xs, names[ys], Xt)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    pred = clf.predict(Xt)
    assert pred.dtype.kind == "U" and set(pred) <= set(names)
    # packed form with a string marker, -1 not involved
    X, y = packed(Xs, names[ys], Xt, marker="?")
    clf2 = make("dann", random_state=0, unlabeled_marker="?", max_epochs=10).fit(X, y)
    np.testing.assert_array_equal(clf2.predict(Xt), pred)


def test_minus_one_as_a_real_class_with_marker_disabled(small_task):
    Xs, ys, Xt, _ = small_task
    ys_neg = ys - 1  # classes -1, 0, 1
    with pytest.raises(ValueError, match="unlabelled marker -1"):
        make("dann").fit(Xs, ys_neg, Xt)
    clf = make("dann", unlabeled_marker=None, random_state=0).fit(Xs, ys_neg, Xt)
    assert list(clf.classes_) == [-1, 0, 1]


def test_minus_one_rows_of_a_plain_supervised_problem_are_target_rows_as_documented(small_task):
    """SourceOnly on labels -1 / 0 / 1 in the packed form: the -1 rows are the unlabelled target (skda's and
    scikit-learn's semi-supervised convention), a choice the docstring and the user guide state; with
    unlabeled_marker=None -1 is a class."""
    from pathlib import Path

    Xs, ys, Xt, _ = small_task
    ys_neg = ys - 1
    clf = skda.SourceOnlyClassifier(random_state=0, max_epochs=2, module__hidden_sizes=(8,)).fit(Xs, ys_neg)
    assert clf.classes_.tolist() == [0, 1]
    plain = skda.SourceOnlyClassifier(random_state=0, max_epochs=2, module__hidden_sizes=(8,),
                                      unlabeled_marker=None).fit(Xs, ys_neg)
    assert plain.classes_.tolist() == [-1, 0, 1]
    doc = " ".join(skda.SourceOnlyClassifier.__doc__.split())
    assert "where -1 is a real class, pass ``unlabeled_marker=None``" in doc
    guide = " ".join((Path(__file__).parent.parent / "docs" / "index.md").read_text().split())
    assert "**`-1` always means \"unlabelled target\" in the packed form**" in guide


def test_get_params_lists_the_default_schedules_with_the_values_set():
    """The methods' default callbacks (LR annealing, DANN's reversal schedule) are in ``get_params()`` from the
    start, with the value set when one was set (skorch alone reports a fresh default callback's value), none of
    their parameters when set to None; ``set_params(**get_params())`` changes nothing."""
    plain = skda.DANNClassifier().get_params()
    assert plain["callbacks__grl_schedule__gamma"] == 10.0 and "callbacks__lr_annealing__alpha" in plain
    assert skda.DANNClassifier(callbacks__grl_schedule__gamma=5.0).get_params()["callbacks__grl_schedule__gamma"] == 5.0
    off = skda.DANNClassifier(callbacks__grl_schedule=None).get_params()
    assert off["callbacks__grl_schedule"] is None and not any(k.startswith("callbacks__grl_schedule__") for k in off)
    clf = skda.DANNClassifier(callbacks__grl_schedule__gamma=5.0)
    before = clf.get_params()
    after = clf.set_params(**before).get_params()
    assert sorted(after) == sorted(before) and after["callbacks__grl_schedule__gamma"] == 5.0
    assert "callbacks__grl_schedule" not in skda.SourceOnlyClassifier().get_params()
    # a default callback replaced by an instance: its own parameters (a literal value set beside it wins, as fit
    # builds it), and set_params(**get_params()) leaves the instance as it was
    replaced = skda.DANNClassifier(callbacks__grl_schedule=skda.optim.GRLCoefficientSchedule(gamma=5.0))
    assert replaced.get_params()["callbacks__grl_schedule__gamma"] == 5.0
    replaced.set_params(**replaced.get_params())
    assert replaced.callbacks__grl_schedule.gamma == 5.0
    both = skda.DANNClassifier(callbacks__grl_schedule=skda.optim.GRLCoefficientSchedule(gamma=5.0),
                               callbacks__grl_schedule__gamma=7.0)
    assert both.get_params()["callbacks__grl_schedule__gamma"] == 7.0


def test_get_params_set_params_clone_route_nested_parts(small_task):
    Xs, ys, Xt, _ = small_task
    clf = skda.DANNClassifier(module__hidden_sizes=(16,), optimizer=skda.optim.MomentumSGD, optimizer__momentum=0.5,
                              domain_hidden_sizes=(7,), callbacks__grl_schedule__gamma=5.0)
    params = clf.get_params()
    assert params["module__hidden_sizes"] == (16,)
    assert params["optimizer__momentum"] == 0.5
    assert params["domain_hidden_sizes"] == (7,)
    assert params["callbacks__grl_schedule__gamma"] == 5.0
    clf.set_params(module__hidden_sizes=(12, 6), lr=0.02)
    twin = clone(clf)
    assert twin.get_params()["module__hidden_sizes"] == (12, 6) and twin.lr == 0.02
    twin.set_params(max_epochs=1, batch_size=32, random_state=0).fit(Xs, ys, Xt)
    assert [m.out_features for m in twin.module_.feature_extractor if isinstance(m, nn.Linear)] == [12, 6]
    assert twin.optimizer_.param_groups[0]["momentum"] == 0.5
    assert twin.module_.domain_classifier[0].out_features == 7
    assert not hasattr(clf, "module_")  # clone did not fit the original


@pytest.mark.parametrize("name", registry.NAMES)
def test_set_params_of_its_own_get_params_leaves_a_fitted_estimator_unchanged(small_task, name):
    """With the default device="auto" too (was: a RuntimeError, skorch moving the re-created criterion to the
    device named "auto")."""
    Xs, ys, Xt, _ = small_task
    settings = dict(device="auto", random_state=0, backbone_lr_scale=0.5, criterion__reduction="mean")
    clf = make(name, **settings).fit(Xs, ys, Xt)
    twin = make(name, **settings).fit(Xs, ys, Xt)
    before = clf.predict_proba(Xt)
    clf.set_params(**clf.get_params())
    assert clf.device == "auto"
    np.testing.assert_array_equal(clf.predict_proba(Xt), before)
    # the optimisers keep their state (Adam's moments, momentum): partial_fit trains on exactly as without the call
    # (was: an unchanged optimizer or backbone_lr_scale rebuilt them)
    assert all(len(getattr(clf, name + "_").state) for name in clf._optimizers if name == "optimizer")
    clf.partial_fit(Xs, ys, Xt)
    twin.partial_fit(Xs, ys, Xt)
    np.testing.assert_array_equal(clf.predict_proba(Xt), twin.predict_proba(Xt))


def test_a_pickled_or_copied_estimator_built_from_a_module_instance_trains_on(small_task):
    """Its weights pickle with storage ids, so the network's build record and the parameter no longer compare equal
    by identity or by bytes after a pickle or a deep copy: the same class, repr and weights count as unchanged
    (partial_fit was refused as "['module'] changed")."""
    import copy

    Xs, ys, Xt, _ = small_task
    clf = skda.DANNClassifier(skda.MLPFeatureExtractor(Xs.shape[1], (16,)), max_epochs=1, random_state=0)
    clf.fit(Xs, ys, Xt)
    for twin in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        twin.partial_fit(Xs, ys, Xt)
    clf.set_params(module=skda.MLPFeatureExtractor(Xs.shape[1], (8,)))
    with pytest.raises(ValueError, match=r"\['module'\] changed"):
        clf.partial_fit(Xs, ys, Xt)


def test_gridsearch_tunes_nested_parameter(small_task):
    Xs, ys, Xt, _ = small_task
    X, y = packed(Xs, ys, Xt)
    search = GridSearchCV(make("dann", random_state=0),
                          {"module__hidden_sizes": [(8,), (16,)]}, cv=2).fit(X, y)
    assert search.best_params_["module__hidden_sizes"] in [(8,), (16,)]
    assert search.predict(Xt).shape == (len(Xt),)


def test_pipeline_with_standard_scaler_fits_scaler_on_both_domains(small_task):
    Xs, ys, Xt, yt = small_task
    X, y = packed(Xs, ys, Xt)
    pipe = Pipeline([("scale", StandardScaler()), ("dann", make("dann", random_state=0))]).fit(X, y)
    np.testing.assert_allclose(pipe.named_steps["scale"].mean_, X.mean(axis=0), rtol=1e-5)
    assert pipe.predict(Xt).shape == yt.shape
    assert pipe.score(X, y) == pytest.approx(pipe.score(Xs, ys))  # unlabelled rows are ignored by score


def test_pickle_and_joblib_round_trip_give_identical_predictions(small_task, tmp_path):
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0).fit(Xs, ys, Xt)
    expected = clf.predict_proba(Xt)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(Xt), expected)
    assert again.device == "auto"
    joblib.dump(clf, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict_proba(Xt), expected)


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2))

    def forward(self, x):
        return self.conv(x.view(len(x), 1, 8, 8))


def test_custom_module_instance_plugs_in_and_is_not_trained_in_place(digits_shift):
    Xs, ys, Xt, _ = digits_shift
    user_module = TinyCNN()
    before = [p.detach().clone() for p in user_module.parameters()]
    clf = skda.DANNClassifier(module=user_module, random_state=0, max_epochs=1, domain_hidden_sizes=(8,))
    clf.fit(Xs, ys, Xt)
    assert clf.transform(Xt[:5]).shape == (5, 16)  # 4 channels x 2 x 2, flattened
    for b, p in zip(before, user_module.parameters()):
        assert torch.equal(b, p)


def test_image_shaped_input(digits_shift):
    Xs, ys, Xt, _ = digits_shift
    clf = skda.DANNClassifier(module=skda.LeNetFeatureExtractor, module__image_shape=(1, 8, 8), max_epochs=1,
                              random_state=0, domain_hidden_sizes=(8,))
    clf.fit(Xs.reshape(-1, 1, 8, 8), ys, Xt.reshape(-1, 1, 8, 8))
    assert clf.predict(Xt.reshape(-1, 1, 8, 8)).shape == (len(Xt),)
    with pytest.raises(ValueError, match="shape"):
        clf.predict(Xt)  # flat rows, but the model was fitted on images


def test_nan_loss_stops_fit_with_clear_error(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(FloatingPointError, match="diverged"):
        make("dann", lr=1e30, random_state=0, callbacks__lr_annealing=None).fit(Xs * 1e6, ys, Xt)


def test_an_error_inside_an_epoch_leaves_whole_epochs_in_the_history(small_task):
    """A user callback that raises in the middle of a partial_fit's epoch: the error reaches the caller, the model
    stays fitted with the weights of the last step, and the history keeps whole epochs only (an unfinished row
    without train_loss stayed before), as after Ctrl-C."""
    from skorch.callbacks import Callback

    class FailOnSecondBatch(Callback):
        armed = False
        at_epoch_begin = False

        def on_epoch_begin(self, net, **kwargs):
            if self.armed and self.at_epoch_begin:
                raise RuntimeError("callback failed")

        def on_batch_end(self, net, training=False, **kwargs):
            if self.armed and training and len(net.history[-1]["batches"]) == 2:
                raise RuntimeError("callback failed")

    Xs, ys, Xt, _ = small_task
    failing = FailOnSecondBatch()
    clf = make("dann", random_state=0, callbacks=[("fail", failing)]).fit(Xs, ys, Xt)
    epochs = len(clf.history)
    failing.armed = True
    with pytest.raises(RuntimeError, match="callback failed"):
        clf.partial_fit(Xs, ys, Xt)
    assert len(clf.history) == epochs and all("train_loss" in row for row in clf.history)
    failing.at_epoch_begin = True  # before the epoch's first batch
    with pytest.raises(RuntimeError, match="callback failed"):
        clf.partial_fit(Xs, ys, Xt)
    assert len(clf.history) == epochs and all("train_loss" in row for row in clf.history)
    assert clf.predict(Xt).shape == (len(Xt),)


def test_every_module_is_in_the_step_s_mode_although_the_mode_walk_is_skipped(small_task):
    """The engine skips skorch's per-step train/eval walk over the module tree when the mode is unchanged; the
    training steps must still see every module in train mode and the validation steps in eval mode, also
    after an eval-mode call (predict) between fits."""
    from skorch.callbacks import Callback
    from skorch.dataset import ValidSplit

    class ModeRecorder(Callback):
        def initialize(self):
            self.seen = []
            return self

        def on_batch_end(self, net, batch=None, training=None, **kwargs):
            self.seen.append((training, {m.training for m in net.module_.modules()}))

    Xs, ys, Xt, _ = small_task
    recorder = ModeRecorder()
    clf = make("dann", random_state=0, train_split=ValidSplit(4, stratified=True),
               callbacks=[("modes", recorder)]).fit(Xs, ys, Xt)
    clf.predict(Xt)
    clf.partial_fit(Xs, ys, Xt)
    seen = dict(clf.callbacks_)["modes"].seen
    assert {training for training, _ in seen} == {True, False}
    assert all(modes == {training} for training, modes in seen)


# ActiveSelector trains on the labelled rows only (its pool is not part of training): nothing to collapse
@pytest.mark.parametrize("name", [name for name in registry.NAMES if name != "active"])
def test_fit_records_target_class_shares_and_warns_on_collapse(small_task, name):
    import copy
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    Xs, ys, Xt, _ = small_task
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # these fits do not collapse: no warning
        clf = make(name, random_state=0).fit(Xs, ys, Xt)
    shares = clf.target_class_shares_
    expected = np.bincount(np.searchsorted(clf.classes_, clf.predict(Xt)), minlength=3) / len(Xt)
    np.testing.assert_allclose(shares, expected)
    # forty copies of one target row: every prediction is one class, which is what a collapse looks like
    same = torch.as_tensor(np.repeat(Xt[:1], 40, axis=0))
    collapsed = copy.deepcopy(clf)
    with pytest.warns(ConvergenceWarning, match=rf"{type(clf).__name__}: 100% of the 40 training target samples "
                                                r"are predicted as class .*probably collapsed"):
        collapsed._check_target_collapse(same)
    np.testing.assert_array_equal(np.sort(collapsed.target_class_shares_), [0.0, 0.0, 1.0])
    collapsed.classes_ = np.array(["cat", "dog", "emu"], dtype=object)  # object labels are named too
    with pytest.warns(ConvergenceWarning, match=r"predicted as class '(cat|dog|emu)'"):
        collapsed._check_target_collapse(same)
    with warnings.catch_warnings():  # fewer than 10 rows: too few to call it a collapse
        warnings.simplefilter("error", ConvergenceWarning)
        collapsed._check_target_collapse(same[:9])


@pytest.mark.parametrize("name", registry.NAMES)
def test_user_arrays_are_not_modified_by_any_public_call(small_task, name):
    Xs, ys, Xt, yt = small_task
    X, y = np.vstack([Xs, Xt]), np.r_[ys, -np.ones(len(Xt), dtype=int)]
    arrays = (Xs, ys, Xt, yt, X, y)
    copies = [a.copy() for a in arrays]
    clf = make(name, random_state=0).fit(Xs, ys, Xt)
    clf.predict(Xt), clf.predict_proba(Xs), clf.transform(Xt), clf.score(Xs, ys), clf.score(X, y)
    clf.partial_fit(Xs, ys, Xt)
    make(name, random_state=0).fit(X, y)
    make(name, random_state=0).fit_transform(X, y)
    if name == "active":
        known = np.where(np.arange(len(yt)) < 5, yt, -1)
        arrays, copies = arrays + (known,), copies + [known.copy()]
        clf.fit(Xs, ys, Xt, known).query(3), clf.informativeness(Xt)
        skda.active_learning_loop(make(name, random_state=0), Xs, ys, Xt, yt, rounds=1, budget=2, round_epochs=1)
    for a, b in zip(arrays, copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="simulates a CPU-only machine: with CUDA present the model would load on the GPU; "
                           "tests/test_cuda.py runs the real CUDA round trip there")
@pytest.mark.parametrize("name", registry.NAMES)
def test_prediction_outputs_that_overflow_are_refused_with_their_rows(small_task, name):
    """A finite row far outside the training range (3e38) overflows the network: predict, predict_proba,
    transform (and ActiveSelector's informativeness and query) raise ValueError naming it instead of a NaN
    probability read as classes_[0]; the other rows alone predict as before."""
    Xs, ys, Xt, _ = small_task
    clf = registry.make(name, random_state=0, module__hidden_sizes=(64, 64)).fit(Xs, ys, Xt)
    bad = np.vstack([Xt[:3], np.full((1, Xt.shape[1]), 3e38, np.float32)])
    message = r"output is not finite \(NaN or inf\) for 1 of 4 rows of X \(rows \[3\]\)"
    for method in ("predict", "predict_proba", "transform", "informativeness"):  # the last: ActiveSelector's
        if hasattr(clf, method):
            with pytest.raises(ValueError, match=message):
                getattr(clf, method)(bad)
    if name == "active":  # query scores the candidates through the same check
        with pytest.raises(ValueError, match="output is not finite"):
            clf.query(1, candidates=bad)
    assert np.isfinite(clf.predict_proba(bad[:3])).all()


@pytest.mark.parametrize("requested", ["auto", "cuda"])
def test_model_recorded_as_cuda_trained_loads_and_predicts_on_cpu(small_task, requested):
    """The pickle of a model trained on CUDA records device 'cuda'; on a machine without CUDA it must load
    on the CPU (skorch maps the tensors with map_location) and predict. The real CUDA round trip runs in
    tests/test_cuda.py on a GPU machine; here the device fields are set as a CUDA fit leaves them."""
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, device="cpu").fit(Xs, ys, Xt)
    expected = clf.predict_proba(Xt)
    clf.device, clf.device_ = requested, torch.device("cuda", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skorch warns that CUDA is unavailable and loads on the CPU
        restored = pickle.loads(pickle.dumps(clf))
    assert restored.device_ == torch.device("cpu")
    assert str(restored.device) in (requested, "cpu")
    np.testing.assert_allclose(restored.predict_proba(Xt), expected, rtol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_a_device_this_machine_lacks_is_refused_before_training(small_task):
    """Was: torch's "Found no NVIDIA driver" RuntimeError from inside the first step."""
    Xs, ys, Xt, _ = small_task
    for device in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError, match=r"device=.*cuda.*no CUDA device available to torch; use device='auto'"):
            make("dann", device=device).fit(Xs, ys, Xt)
    fitted = make("dann", device="auto", random_state=0).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="no CUDA device available"):
        fitted.set_params(device="cuda").partial_fit(Xs, ys, Xt)


def test_bool_labels_packed_with_the_default_marker_fit_and_score(small_task):
    Xs, ys, Xt, yt = small_task
    keep, keep_t = ys < 2, yt < 2
    X, y = pack_domains(Xs[keep], ys[keep] == 1, Xt[keep_t])
    clf = make("dann", random_state=0, device="cpu").fit(X, y)
    assert clf.classes_.tolist() == [False, True]
    assert clf.predict(Xt[:4]).dtype == bool
    assert 0.0 <= clf.score(X, y) <= 1.0
    assert clf.score(X, y) == pytest.approx(np.mean(clf.predict(Xs[keep]) == (ys[keep] == 1)))


def test_score_refuses_labels_or_weights_of_another_length(small_task):
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, device="cpu").fit(Xs, ys, Xt)
    # was: IndexError (array) or a silent accuracy over the first rows (DataFrame)
    for X in (Xs, pd.DataFrame(Xs)):
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            clf.score(X, ys[:-10])
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            clf.score(X, ys, sample_weight=np.ones(len(ys) - 1))
    assert clf.score(Xs, ys) == pytest.approx(np.mean(clf.predict(Xs) == ys))


def test_dataframe_column_names_are_recorded_and_checked(small_task):
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, _ = small_task
    cols = [f"f{i}" for i in range(Xs.shape[1])]
    dfs, dft = pd.DataFrame(Xs, columns=cols), pd.DataFrame(Xt, columns=cols)
    clf = make("dann", random_state=0, device="cpu").fit(dfs, ys, dft)
    assert clf.feature_names_in_.tolist() == cols
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(dft[cols[::-1]])  # reordered columns: an error, not silently permuted features
    with pytest.raises(ValueError, match="feature names should match"):
        clf.transform(dft.rename(columns={"f0": "z"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = clf.predict(Xt)
    np.testing.assert_array_equal(clf.predict(dft), from_array)
    # the target's columns must be the source's: the error names X_target (scikit-learn's named X, as if fitted)
    with pytest.raises(ValueError, match=r"X_target has the columns \['z', 'f1', .* but X has \['f0', 'f1', .*: "
                                         "source and target must have the same columns, in the same order"):
        make("dann", random_state=0, device="cpu").fit(dfs, ys, dft.rename(columns={"f0": "z"}))
    for target in (dft[cols[::-1]], dft.rename(columns={"f0": "z"})):  # partial_fit checks the target as fit does
        with pytest.raises(ValueError, match="X_target has the columns"):
            clf.partial_fit(dfs, ys, target)
    with pytest.warns(UserWarning, match="X_target has column names but X has none"):
        make("dann", random_state=0, device="cpu").fit(Xs, ys, dft)
    with pytest.warns(UserWarning, match="X has column names but X_target has none"):
        make("dann", random_state=0, device="cpu").fit(dfs, ys, pd.DataFrame(Xt))
    with warnings.catch_warnings():  # integer column names on both sides are no names (scikit-learn's rule)
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*collapsed.*")
        make("dann", random_state=0, device="cpu").fit(pd.DataFrame(Xs), ys, pd.DataFrame(Xt))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # score passes the DataFrame (names) down to predict: no warning
        assert clf.score(dft, clf.predict(dft)) == 1.0
    assert not hasattr(make("dann", random_state=0, device="cpu").fit(Xs, ys, Xt), "feature_names_in_")


def test_a_refit_refused_for_its_target_columns_leaves_the_fitted_model_as_it_was(small_task):
    """Source columns b*, target columns c*: the refit is refused, and the estimator still predicts on the columns
    it was fitted on (its feature_names_in_ had become the refused call's, so it could not predict them)."""
    import pandas as pd

    Xs, ys, Xt, _ = small_task
    frame = lambda X, p: pd.DataFrame(X, columns=[f"{p}{i}" for i in range(X.shape[1])])  # noqa: E731
    clf = skda.DANNClassifier(max_epochs=1, random_state=0).fit(frame(Xs, "a"), ys, frame(Xt, "a"))
    before = clf.predict_proba(frame(Xt, "a"))
    with pytest.raises(ValueError, match="X_target has the columns"):
        clf.fit(frame(Xs, "b"), ys, frame(Xt, "c"))
    assert list(clf.feature_names_in_) == [f"a{i}" for i in range(Xs.shape[1])]
    np.testing.assert_array_equal(clf.predict_proba(frame(Xt, "a")), before)


def test_collapse_warning_names_the_class_as_the_user_wrote_it_and_points_at_the_user_s_call(small_task):
    from sklearn.exceptions import ConvergenceWarning

    Xs, ys, Xt, _ = small_task
    labels = np.array(["cat", "dog", "emu"])[ys]
    same = np.repeat(Xt[:1], 20, axis=0)
    for est in (make("dann", random_state=0, device="cpu"),
                make("madda", random_state=0, device="cpu")):
        with pytest.warns(ConvergenceWarning, match="predicted as class '(cat|dog|emu)'") as record:
            est.fit(Xs, labels, same)
        with pytest.warns(ConvergenceWarning) as record_partial:
            est.partial_fit(Xs, labels, same)
        assert {w.filename for w in [*record, *record_partial] if w.category is ConvergenceWarning} == {__file__}


def test_skda_exposes_callbacks_and_plotting_as_the_user_guide_writes_them():
    import subprocess
    import sys

    code = "import skda; skda.callbacks.TrainingProgress(); print(skda.plotting.plot_training_curves.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "plot_training_curves"


def test_lenet_takes_channel_less_images():
    net = skda.LeNetFeatureExtractor(n_features_in=256, image_shape=(16, 16))
    images = torch.randn(3, 16, 16)
    np.testing.assert_allclose(net(images).detach().numpy(), net(images.reshape(3, -1)).detach().numpy())
    assert net(images.reshape(3, 1, 16, 16)).shape == net(images).shape


def test_a_warm_start_keeps_the_fitted_classes_spelled_as_before(small_task):
    """Float (or bool) labels of the same values in a warm-start refit kept the network but turned classes_ and the
    predictions into floats; they stay as fitted, as partial_fit keeps them."""
    Xs, ys, Xt, _ = small_task
    model = make("source-only", random_state=0, warm_start=True).fit(Xs, ys, Xt)
    model.fit(Xs, ys.astype(float), Xt)
    assert model.classes_.dtype == ys.dtype and model.predict(Xt).dtype == ys.dtype


def test_classes_that_are_not_one_dimensional_are_named(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=r"classes must be a 1-D array of the class labels, got an array of shape "
                                         r"\(1, 3\)"):
        make("source-only").partial_fit(Xs, ys, Xt, classes=[[0, 1, 2]])
