"""The training engine shared by every estimator: parameters set between fits, partial_fit, fit parameters,
interruption, divergence, chunked prediction, the extra prediction methods and refused skorch callbacks."""

import re
import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, EpochScoring, ProgressBar
from sklearn.base import clone
from torch import nn

import skda
from skda.model_selection import pack_domains

from . import registry


def make(name, **params):
    return registry.make(name, **{"random_state": 0, "device": "cpu", **params})


# ------------------------------------------------------------------ set_params on a fitted estimator
@pytest.mark.parametrize("name", ["dann", "madda"])
def test_setting_module_parameters_keeps_the_fitted_network_until_the_next_fit(small_task, name):
    Xs, ys, Xt, _ = small_task
    clf = make(name).fit(Xs, ys, Xt)
    before = clf.predict_proba(Xt)
    clf.set_params(module__hidden_sizes=(16,))  # the same value: skorch rebuilt an untrained network here
    np.testing.assert_array_equal(clf.predict_proba(Xt), before)
    clf.set_params(module__hidden_sizes=(12,))
    np.testing.assert_array_equal(clf.predict_proba(Xt), before)
    assert clf.transform(Xt).shape[1] == (16 if name == "dann" else 8)
    clf.fit(Xs, ys, Xt)  # the next fit builds the network with the new value
    assert clf.module_params_["module__hidden_sizes"] == (12,)
    if name == "dann":
        assert clf.transform(Xt).shape[1] == 12


def test_partial_fit_refuses_to_continue_a_network_built_with_other_module_values(small_task):
    Xs, ys, Xt, _ = small_task
    clf = make("dann").fit(Xs, ys, Xt)
    clf.set_params(module__hidden_sizes=(12,))
    with pytest.raises(ValueError, match=r"module__hidden_sizes.*changed since the network was built"):
        clf.partial_fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="changed since the network was built"):
        clf.set_params(warm_start=True).fit(Xs, ys, Xt)
    clf.set_params(module__hidden_sizes=(16,))  # back to the built value: continuing is fine again
    clf.partial_fit(Xs, ys, Xt)


def test_partial_fit_refuses_a_device_set_after_the_network_was_trained(small_task):
    """A new device on a fitted estimator was reported by get_params and not used (training continued on
    device_); "auto" and the device the network is on continue."""
    Xs, ys, Xt, _ = small_task
    clf = make("dann", device="cpu").fit(Xs, ys, Xt)
    before = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    clf.set_params(device="meta")
    with pytest.raises(ValueError, match="device='meta' was set after the network was trained on 'cpu'; partial_fit "
                                         "and warm starts continue on the device the network is on"):
        clf.partial_fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="device='meta' was set after the network was trained on 'cpu'"):
        clf.set_params(warm_start=True).fit(Xs, ys, Xt)
    assert all(torch.equal(before[k], v) for k, v in clf.module_.state_dict().items())
    for device in ("auto", "cpu"):
        clf.set_params(device=device).partial_fit(Xs, ys, Xt, epochs=1)


@pytest.mark.parametrize("name, changed", [("dann", {"domain_hidden_sizes": (7,)}), ("ilada", {"base": "cdan"}),
                                           ("mlada", {"metric_dim": 3}), ("madda", {"embedding_dim": 3})])
def test_partial_fit_refuses_a_network_built_with_other_method_parameters(small_task, name, changed):
    """The method's own network parameters (network_parameters) count as module__* values do (was: accepted,
    the former network trained on while get_params described another)."""
    Xs, ys, Xt, _ = small_task
    clf = make(name).fit(Xs, ys, Xt)
    built = {key: clf.get_params()[key] for key in changed}
    assert set(changed) <= set(type(clf).network_parameters)
    clf.set_params(**changed)
    with pytest.raises(ValueError, match=f"{list(changed)[0]}.*changed since the network was built"):
        clf.partial_fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="changed since the network was built"):
        clf.set_params(warm_start=True).fit(Xs, ys, Xt)
    clf.set_params(**built).partial_fit(Xs, ys, Xt)  # the built values again: continuing is fine
    clf.set_params(warm_start=False, **changed).fit(Xs, ys, Xt)  # a fresh fit builds the new network
    assert clf.module_params_[list(changed)[0]] == list(changed.values())[0]


# ------------------------------------------------------------------ partial_fit with declared classes
@pytest.mark.parametrize("name", ["source-only", "dann", "mlada"])
def test_partial_fit_accepts_one_class_chunks_once_classes_are_declared(small_task, name):
    Xs, ys, Xt, _ = small_task
    clf = make(name)
    clf.partial_fit(Xs[ys == 0], ys[ys == 0], Xt, classes=[0, 1, 2])
    assert clf.classes_.tolist() == [0, 1, 2]
    clf.partial_fit(Xs[ys == 2], ys[ys == 2], Xt)  # a later one-class chunk too
    assert clf.predict_proba(Xt).shape == (len(Xt), 3)
    with pytest.raises(ValueError, match="1 class"):  # without declared classes a first fit needs two
        make(name).partial_fit(Xs[ys == 0], ys[ys == 0], Xt)


def test_ilada_partial_fit_needs_every_class_among_a_call_s_labelled_rows(small_task):
    """ILA-DA's class-balanced batches (the documented exception): a one-class chunk is refused, the message
    counting the labelled target rows as rows that may hold the missing classes."""
    Xs, ys, Xt, yt = small_task
    with pytest.raises(ValueError, match=r"every class among the labelled rows of each fit or partial_fit call "
                                         r"\(source rows and labelled target rows\); classes \[1, 2\] have no"):
        make("ilada").partial_fit(Xs[ys == 0], ys[ys == 0], Xt, classes=[0, 1, 2])
    chosen = np.r_[np.flatnonzero(yt == 1)[:3], np.flatnonzero(yt == 2)[:3]]
    labels = np.where(np.isin(np.arange(len(yt)), chosen), yt, -1)  # the target rows label classes 1 and 2
    make("ilada", max_epochs=1).partial_fit(Xs[ys == 0], ys[ys == 0], Xt, labels, classes=[0, 1, 2])


@pytest.mark.parametrize("epochs", ["auto", 2])
def test_a_partial_fit_refused_before_training_keeps_the_fit_s_records(small_task, epochs):
    """A partial_fit the batch sampler refuses (ILA-DA, a one-class chunk) leaves what the earlier fit recorded
    (target_class_shares_ and the split's indices were dropped)."""
    from skorch.dataset import ValidSplit
    Xs, ys, Xt, _ = small_task
    clf = make("ilada", max_epochs=epochs, random_state=0, train_split=ValidSplit(0.25, stratified=True))
    clf.fit(Xs, ys, Xt)
    kept = {name: np.copy(getattr(clf, name)) for name in ("target_class_shares_", "train_indices_",
                                                            "valid_indices_", "validation_seed_")}
    with pytest.raises(ValueError, match="class-balanced batches need every class"):
        clf.partial_fit(Xs[ys == 0], ys[ys == 0], Xt)
    for name, value in kept.items():
        np.testing.assert_array_equal(getattr(clf, name), value)


def test_the_validation_split_leaves_numpy_s_global_generator_alone(small_task, monkeypatch):
    """ValidSplit without a random_state draws from a generator seeded with validation_seed_, not from numpy's
    global one (reseeding it rewound another thread's draws and let that thread change the split)."""
    from skorch.dataset import Dataset, ValidSplit
    Xs, ys, Xt, _ = small_task
    splitter = ValidSplit(0.25, stratified=True)
    for name in ("seed", "set_state", "get_state"):
        monkeypatch.setattr(np.random, name, lambda *a, name=name: pytest.fail(f"np.random.{name} called"))
    clf = make("dann", random_state=0, max_epochs=1, train_split=splitter).fit(Xs, ys, Xt)
    monkeypatch.undo()
    assert splitter.random_state is None
    same = ValidSplit(0.25, stratified=True, random_state=clf.validation_seed_)(Dataset(Xs, ys), ys)
    np.testing.assert_array_equal(clf.valid_indices_, same[1].indices)


def test_a_fresh_fit_that_fails_or_is_interrupted_leaves_an_unfitted_estimator_without_records(small_task):
    """A re-fit (warm_start=False) builds a new network: interrupted (KeyboardInterrupt) or refused before its first
    step, the estimator is not fitted and holds no record of the earlier model (it predicted from the untrained
    network after an interruption, with the earlier model's target_class_shares_)."""
    from skorch.callbacks import Callback
    from skorch.dataset import ValidSplit

    class Interrupt(Callback):
        def __init__(self, on=False):
            self.on = on

        def on_train_begin(self, net, **kwargs):
            if self.on:
                raise KeyboardInterrupt

    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, max_epochs=1, callbacks=[("stop", Interrupt())],
               train_split=ValidSplit(0.25, stratified=True)).fit(Xs, ys, Xt)
    with pytest.raises(KeyboardInterrupt):
        clf.set_params(callbacks__stop__on=True).fit(Xs, ys, Xt)
    assert not clf.__sklearn_is_fitted__()
    assert not any(hasattr(clf, name) for name in clf.fit_records)
    clf.set_params(callbacks__stop__on=False).fit(Xs, ys, Xt)
    one = np.r_[np.flatnonzero(ys < 2), np.flatnonzero(ys == 2)[:1]]  # a class of one row: the split refuses it
    with pytest.raises(ValueError, match="train_split could not split"):
        clf.fit(Xs[one], ys[one], Xt)
    assert not clf.__sklearn_is_fitted__()
    assert not any(hasattr(clf, name) for name in clf.fit_records)
    clf.fit(Xs, ys, Xt)
    with pytest.raises(TypeError):  # refused by initialize(), before _train: the records go too
        clf.set_params(optimizer__bogus=1).fit(Xs, ys, Xt)
    assert not clf.__sklearn_is_fitted__()
    assert not any(hasattr(clf, name) for name in clf.fit_records)


def test_an_interruption_after_the_training_steps_keeps_the_trained_network(small_task):
    """A KeyboardInterrupt after the training loop (a callback's on_train_end, e.g. while a checkpoint is saved):
    the fit's trained network stays fitted, as skorch leaves it."""
    from skorch.callbacks import Callback

    class InterruptAtTheEnd(Callback):
        def on_train_end(self, net, **kwargs):
            raise KeyboardInterrupt

    Xs, ys, Xt, _ = small_task
    expected = make("dann", random_state=0).fit(Xs, ys, Xt).predict_proba(Xt)
    clf = make("dann", random_state=0, callbacks=[InterruptAtTheEnd()])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(Xs, ys, Xt)
    np.testing.assert_array_equal(clf.predict_proba(Xt), expected)


@pytest.mark.parametrize("cv", ["shuffle-split", "kfold", 4])
def test_a_validation_split_of_a_splitter_object_holds_out_the_same_rows_for_the_same_seed(small_task, cv):
    """ValidSplit over a scikit-learn splitter without random_state: the same seed holds out the same rows, in
    another fit and in partial_fit (they changed when the global generator stopped being seeded for it)."""
    from sklearn.model_selection import KFold, StratifiedShuffleSplit
    from skorch.dataset import ValidSplit
    Xs, ys, Xt, _ = small_task
    splitter = {"shuffle-split": StratifiedShuffleSplit(test_size=0.25), "kfold": KFold(4, shuffle=True)}.get(cv, cv)
    first = make("dann", random_state=0, max_epochs=1, train_split=ValidSplit(splitter, stratified=cv != "kfold"))
    first.fit(Xs, ys, Xt)
    second = clone(first).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(first.valid_indices_, second.valid_indices_)
    np.random.rand(5)  # the global generator moves between the calls
    first.partial_fit(Xs, ys, Xt)
    np.testing.assert_array_equal(first.valid_indices_, second.valid_indices_)
    assert getattr(splitter, "random_state", None) is None


# ------------------------------------------------------------------ fit parameters
@pytest.mark.parametrize("name", registry.NAMES)
def test_sample_weight_is_refused_with_a_clear_message(small_task, name):
    Xs, ys, Xt, _ = small_task
    advice = r"criterion__weight" if name != "madda" else r"Resample the source rows by weight instead\.$"
    with pytest.raises(TypeError, match="does not support sample_weight.*" + advice):
        make(name).fit(Xs, ys, Xt, sample_weight=np.ones(len(ys)))
    with pytest.raises(TypeError, match=r"unexpected fit parameter\(s\) \['foo'\]"):
        make(name).fit(Xs, ys, Xt, foo=1)
    if name != "active":  # classes is a partial_fit parameter (and ActiveSelector.fit's)
        with pytest.raises(TypeError, match=r"unexpected fit parameter\(s\) \['classes'\]"):
            make(name).fit(Xs, ys, Xt, classes=[0, 1, 2])


# ------------------------------------------------------------------ interruption and divergence
def test_ctrl_c_inside_an_epoch_warns_and_keeps_a_consistent_history(small_task):
    class CtrlCInEpoch3(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training and len(net.history) == 3 and len(net.history[-1]["batches"]) == 2:
                raise KeyboardInterrupt

    Xs, ys, Xt, _ = small_task
    clf = make("dann", max_epochs=10, callbacks=[CtrlCInEpoch3()])
    with pytest.warns(UserWarning, match="interrupted .* during epoch 3 of 10.* 2 complete epoch"):
        clf.fit(Xs, ys, Xt)
    assert len(clf.history) == 2
    assert all("train_loss" in row for row in clf.history)
    assert np.isfinite(clf.predict_proba(Xt)).all()


def test_early_stopping_between_epochs_does_not_warn(small_task):
    from skorch.callbacks import EarlyStopping

    Xs, ys, Xt, _ = small_task
    clf = make("dann", max_epochs=30, callbacks=[EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf.fit(Xs, ys, Xt)
    assert len(clf.history) < 30


@pytest.mark.parametrize("name", ["source-only", "dann"])
def test_non_finite_weights_after_training_raise_and_leave_the_estimator_unfitted(small_task, name):
    class PoisonWeights(Callback):  # a diverged step: the weights become NaN after the last loss was computed
        def on_train_end(self, net, **kwargs):
            with torch.no_grad():
                net.module_.label_classifier.weight.fill_(float("nan"))

    Xs, ys, Xt, _ = small_task
    clf = make(name, callbacks=[PoisonWeights()])
    with pytest.raises(FloatingPointError, match=r"non-finite weights in \['label_classifier.weight'\]"):
        clf.fit(Xs, ys, Xt)
    with pytest.raises(skda.engine.NotFittedError):
        clf.predict(Xt)


# ------------------------------------------------------------------ prediction
@pytest.mark.parametrize("name", registry.NAMES)
def test_chunked_prediction_equals_one_forward_pass(small_task, name, monkeypatch):
    Xs, ys, Xt, _ = small_task
    clf = make(name).fit(Xs, ys, Xt)
    whole = clf.predict_proba(Xt), clf.transform(Xt)
    monkeypatch.setattr(skda.engine, "PREDICT_CHUNK_ROWS", 7)  # 90 rows: 13 chunks, the last one of 6
    np.testing.assert_allclose(clf.predict_proba(Xt), whole[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(clf.transform(Xt), whole[1], rtol=1e-5, atol=1e-6)
    assert clf.transform(Xt).dtype == np.float32


@pytest.mark.parametrize("name", ["source-only", "dann", "mlada", "ilada"])
def test_decision_function_and_predict_log_proba_match_the_logits(small_task, name):
    Xs, ys, Xt, _ = small_task
    clf = make(name).fit(Xs, ys, Xt)
    with torch.no_grad():
        net = clf.module_.eval()
        logits = net.classify(net.features(torch.as_tensor(Xt))).numpy()
    np.testing.assert_allclose(clf.decision_function(Xt), logits, rtol=1e-5, atol=1e-5)
    shifted = logits - logits.max(1, keepdims=True)
    log_proba = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    np.testing.assert_allclose(clf.predict_log_proba(Xt), log_proba, rtol=1e-5, atol=1e-5)
    assert (clf.classes_[clf.decision_function(Xt).argmax(1)] == clf.predict(Xt)).all()


def test_binary_decision_function_is_one_column_positive_for_the_second_class(small_task):
    Xs, ys, Xt, _ = small_task
    keep_s, keep_t = ys < 2, small_task[3] < 2
    clf = make("dann").fit(Xs[keep_s], ys[keep_s], Xt[keep_t])
    scores = clf.decision_function(Xt[keep_t])
    assert scores.shape == (int(keep_t.sum()),)
    np.testing.assert_array_equal(clf.classes_[(scores > 0).astype(int)], clf.predict(Xt[keep_t]))


def test_madda_predicts_by_votes_so_it_has_no_decision_function(small_task):
    Xs, ys, Xt, _ = small_task
    clf = make("madda").fit(Xs, ys, Xt)
    assert not hasattr(clf, "decision_function")
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(clf.predict_log_proba(Xt), np.log(clf.predict_proba(Xt)))


# ------------------------------------------------------------------ skorch callbacks that cannot work
@pytest.mark.parametrize("callback,match", [(ProgressBar(), "ProgressBar.*TrainingProgress"),
                                            (EpochScoring("accuracy"), "EpochScoring.*ValidSplit")])
def test_skorch_callbacks_that_cannot_read_the_paired_tensors_are_refused_by_name(small_task, callback, match):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(TypeError, match=match):
        make("dann", callbacks=[callback]).fit(Xs, ys, Xt)
    assert clone(make("dann", callbacks=[callback])).get_params()["callbacks"]  # refused at fit, not at init


# ------------------------------------------------------------------ skorch parameters the engine does not use
@pytest.mark.parametrize("params,name", [({"iterator_train__shuffle": False}, "iterator_train"),
                                         ({"iterator_valid__num_workers": 2}, "iterator_valid"),
                                         ({"dataset": None}, "dataset"),
                                         ({"predict_nonlinearity": None}, "predict_nonlinearity")])
def test_unused_skorch_parameters_are_refused_by_name_instead_of_ignored(small_task, params, name):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(TypeError, match=f"does not use skorch's {name}"):
        make("dann", **params).fit(Xs, ys, Xt)
    # set on a fitted estimator: stored, and refused by name when it would train (skorch's set_params on an
    # initialised net raised "Something went wrong, please open an issue" for iterator_train / dataset)
    fitted = make("dann").fit(Xs, ys, Xt)
    fitted.set_params(**params)
    with pytest.raises(TypeError, match=f"does not use skorch's {name}"):
        fitted.partial_fit(Xs, ys, Xt)


@pytest.mark.parametrize("name", registry.NAMES)
def test_a_row_is_predicted_the_same_alone_or_with_others(small_task, name):
    """Small chunks are padded, so BLAS's path for tiny matrices cannot change a row's result (bit for bit)."""
    Xs, ys, Xt, _ = small_task
    clf = make(name).fit(Xs, ys, Xt)
    methods = ["predict_proba", "transform"] + (["decision_function"] if hasattr(clf, "decision_function") else [])
    for method in methods:
        whole = getattr(clf, method)(Xt)
        for i in (0, 17, 89):
            np.testing.assert_array_equal(getattr(clf, method)(Xt[i:i + 1])[0], whole[i])
        np.testing.assert_array_equal(getattr(clf, method)(Xt[:3]), whole[:3])


def test_transform_memory_is_the_output_plus_one_chunk(tmp_path):
    """transform writes into one preallocated output (no list of chunk results concatenated at the end, which
    peaked at twice the output): in a fresh process, the peak resident memory of transform on 200k rows with
    256 learned features (a 205 MB output) stays below 1.5 outputs."""
    import subprocess
    import sys

    code = """
import resource, warnings, numpy as np, skda
warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.randn(200_000, 8).astype(np.float32)
clf = skda.SourceOnlyClassifier(max_epochs=1, module__hidden_sizes=(256,), random_state=0, device="cpu")
clf.fit(X[:64], np.arange(64) % 2)
clf.transform(X[:5000])  # warm up the allocator and the kernels
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = clf.transform(X)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((peak - before) * 1024 / out.nbytes)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout.split()[-1]) < 1.5


# ------------------------------------------------------------------ the network contract
class _TupleNetwork(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.gradient_reversal = inner.gradient_reversal

    def features(self, x):
        return self.inner.features(x)

    def classify(self, features):
        return self.inner.classify(features)

    def forward(self, source, target=None):
        out = self.inner(source, target)
        return out["source_logits"], out.get("domain_logits")


class _NoDomainNetwork(_TupleNetwork):
    def forward(self, source, target=None):
        return {"source_logits": self.inner(source, target)["source_logits"]}


class _NoClassifyNetwork(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def features(self, x):
        return self.inner.features(x)


@pytest.mark.parametrize("wrapper,error,match", [
    (_TupleNetwork, TypeError, "must return a dict"),
    (_NoDomainNetwork, KeyError, r"needs \['source_logits', 'domain_logits', 'n_source'\] .missing \['domain_logits'"),
    (_NoClassifyNetwork, TypeError, r"without \['classify', 'gradient_reversal'\]"),
])
def test_a_custom_network_that_breaks_the_contract_gets_a_clear_error(small_task, wrapper, error, match):
    class CustomDANN(skda.DANNClassifier):
        def build_network(self, feature_extractor, n_features):
            return wrapper(super().build_network(feature_extractor, n_features))

    Xs, ys, Xt, _ = small_task
    with pytest.raises(error, match=match):
        CustomDANN(**registry.params("dann"), random_state=0, device="cpu").fit(Xs, ys, Xt)


class _DANNOnlyNetwork(_TupleNetwork):
    """DANN's entries only: what ILA-DA's MSC term and MLA-DA's triplet / entropy terms read is missing."""

    def forward(self, source, target=None):
        out = self.inner(source, target)
        return {key: out[key] for key in ("source_logits", "domain_logits", "n_source")}


@pytest.mark.parametrize("name,missing", [("ilada", "['features']"),
                                          ("mlada", "['source_metric', 'target_logits']")])
def test_a_network_without_what_the_method_s_terms_read_is_refused(small_task, name, missing):
    """ILA-DA and MLA-DA declare the entries their own terms read (they trained as DANN, the terms silently off)."""
    base = type(make(name))

    class Custom(base):
        def build_network(self, feature_extractor, n_features):
            return _DANNOnlyNetwork(super().build_network(feature_extractor, n_features))

    Xs, ys, Xt, _ = small_task
    with pytest.raises(KeyError, match=re.escape(f"(missing {missing}")):
        Custom(**registry.params(name), random_state=0, device="cpu").fit(Xs, ys, Xt)


def _custom_dann(**params):
    """A small DANN around a feature extractor of the test's (registry's make adds module__hidden_sizes)."""
    return skda.DANNClassifier(max_epochs=2, batch_size=32, domain_hidden_sizes=(16,), random_state=0, device="cpu",
                               **params)


class _Flattened(nn.Module):
    """A feature extractor whose output loses the sample axis (torch.flatten without start_dim=1)."""

    def __init__(self, n_features_in):
        super().__init__()
        self.linear = nn.Linear(n_features_in, 4)

    def forward(self, x):
        return torch.flatten(self.linear(x))


class _Pair(_Flattened):
    def forward(self, x):
        return self.linear(x), x


class _Counts(_Flattened):
    def forward(self, x):
        return (self.linear(x) > 0).long()


class _Log(_Flattened):
    def forward(self, x):
        return torch.log(self.linear(x) - 1e3)  # NaN for these inputs, before any update


@pytest.mark.parametrize("module,match", [
    (_Flattened, r"returned a torch.float32 tensor of shape \(8,\)"),
    (_Pair, "returned a tuple"),
    (_Counts, r"returned a torch.int64 tensor of shape \(2, 4\)"),
])
def test_a_feature_extractor_s_output_is_checked_at_build(small_task, module, match):
    """One row of floating-point features per sample (a 1-D output was blamed on the input; integer features failed
    mid-training)."""
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match="the feature extractor must return one row of floating-point features per "
                                         f"sample .*{match}"):
        _custom_dann(module=module).fit(Xs, ys, Xt)


def test_a_float64_feature_extractor_is_named_with_the_fix(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=r"the module's parameters are \['torch.float64'\]: convert it with .float"):
        _custom_dann(module=nn.Sequential(nn.Linear(Xs.shape[1], 4)).double()).fit(Xs, ys, Xt)


def test_a_loss_not_finite_before_any_update_is_not_called_a_divergence(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(FloatingPointError, match="at the first batch of the fit, before any update"):
        _custom_dann(module=_Log).fit(Xs, ys, Xt)


def test_a_network_among_the_module_values_is_copied_not_trained_in_place(small_task):
    """module__<name>=<an nn.Module> (e.g. a pretrained backbone): copied, as a module instance is, so the user's
    object keeps its weights and the same seed gives the same model (the second fit started from the first's)."""

    class Wrapper(nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone

        def forward(self, x):
            return torch.relu(self.backbone(x))

    Xs, ys, Xt, _ = small_task
    backbone = nn.Linear(Xs.shape[1], 6)
    before = {key: value.clone() for key, value in backbone.state_dict().items()}
    first = _custom_dann(module=Wrapper, module__backbone=backbone).fit(Xs, ys, Xt)
    second = _custom_dann(module=Wrapper, module__backbone=backbone).fit(Xs, ys, Xt)
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    np.testing.assert_array_equal(first.predict_proba(Xt), second.predict_proba(Xt))
    assert not {id(p) for p in backbone.parameters()} & {id(p) for p in first.module_.parameters()}


def test_module_values_are_copied_together_lists_and_shared_objects_included(small_task):
    """A list of layers is copied too (two estimators shared its weights: fitting one changed the other's
    predictions), and an object given in two values stays one object in the copy (tied weights stay tied);
    a value that cannot be copied is named."""

    class Stack(nn.Module):
        def __init__(self, layers, first, second):
            super().__init__()
            self.layers, self.first, self.second = nn.Sequential(*layers), first, second

        def forward(self, x):
            return self.second(torch.relu(self.first(self.layers(x))))

    Xs, ys, Xt, _ = small_task
    shared = nn.Linear(6, 6)
    layers = [nn.Linear(Xs.shape[1], 6), nn.ReLU()]
    params = dict(module=Stack, module__layers=layers, module__first=shared, module__second=shared)
    a = _custom_dann(**params).fit(Xs, ys, Xt)
    a_proba = a.predict_proba(Xt)
    b = _custom_dann(**params).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(b.predict_proba(Xt), a_proba)
    np.testing.assert_array_equal(a.predict_proba(Xt), a_proba)  # b's fit left a alone
    extractor = a.module_.feature_extractor
    assert extractor.first is extractor.second and extractor.first is not shared
    assert not {id(p) for layer in layers for p in layer.parameters()} & {id(p) for p in a.module_.parameters()}
    computed = nn.Linear(Xs.shape[1], 6).weight * 1.0  # not a graph leaf: torch cannot deep-copy it
    with pytest.raises(ValueError, match=r"module__init is copied for each fit.*pass tensor.detach\(\)"):
        _custom_dann(module=_Flattened, module__init=computed, module__table=np.ones(3)).fit(Xs, ys, Xt)


def test_module_values_that_are_arrays_are_copied_and_uncopyable_ones_named(small_task):
    """An array a module wraps as its parameter (torch.from_numpy) is copied like any value (the user's array was
    trained in place); a value that cannot be copied is named by its key, also inside a list beside a network."""
    import threading

    class FromArray(nn.Module):
        def __init__(self, weight, extra=None):
            super().__init__()
            self.weight = nn.Parameter(torch.from_numpy(weight))

        def forward(self, x):
            return x @ self.weight

    Xs, ys, Xt, _ = small_task
    weight = np.random.RandomState(0).randn(Xs.shape[1], 4).astype(np.float32)
    before = weight.copy()
    first = _custom_dann(module=FromArray, module__weight=weight).fit(Xs, ys, Xt).predict_proba(Xt)
    np.testing.assert_array_equal(weight, before)
    np.testing.assert_array_equal(_custom_dann(module=FromArray, module__weight=weight).fit(Xs, ys, Xt)
                                  .predict_proba(Xt), first)
    with pytest.raises(ValueError, match="module__extra is copied for each fit.*copying it failed"):
        _custom_dann(module=FromArray, module__weight=weight,
                     module__extra=[nn.Linear(2, 2), threading.Lock()]).fit(Xs, ys, Xt)


def test_partial_fit_honours_classes_on_the_first_call(small_task):
    Xs, ys, Xt, _ = small_task
    first = ys < 2
    clf = make("dann").partial_fit(Xs[first], ys[first], Xt, classes=[0, 1, 2])
    assert clf.classes_.tolist() == [0, 1, 2]
    assert clf.predict_proba(Xt).shape == (len(Xt), 3)
    clf.partial_fit(Xs, ys, Xt)  # class 2 arrives: accepted
    with pytest.raises(ValueError, match="differs from the classes of the first fit"):
        clf.partial_fit(Xs, ys, Xt, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"declare every class with partial_fit\(..., classes=...\)"):
        make("dann").partial_fit(Xs[first], ys[first], Xt).partial_fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match=r"the labels \[2\] are not among classes=\[0, 1\]"):
        make("dann").partial_fit(Xs, ys, Xt, classes=[0, 1])
    # packed labels: np.unique(y) holds the marker (scikit-learn's learning_curve with exploit_incremental_learning
    # passes exactly that); it would become a class that no row trains and the model predicts
    X, y = pack_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="classes holds the unlabelled marker -1.*exploit_incremental_learning"):
        make("dann").partial_fit(X, y, classes=np.unique(y))
    assert make("dann").partial_fit(X, y, classes=[0, 1, 2]).classes_.tolist() == [0, 1, 2]


@pytest.mark.parametrize("change", ["classes", "features"])
def test_warm_start_refuses_another_problem_before_changing_anything(small_task, change):
    Xs, ys, Xt, _ = small_task
    clf = make("dann", warm_start=True).fit(Xs[ys < 2], ys[ys < 2], Xt)
    before = (clf.classes_.copy(), clf.input_shape_, clf.n_features_in_, clf.predict_proba(Xt).copy())
    args = (Xs, ys, Xt) if change == "classes" else (Xs[ys < 2][:, :5], ys[ys < 2], Xt[:, :5])
    with pytest.raises(ValueError, match="warm_start=True keeps the fitted network"):
        clf.fit(*args)
    np.testing.assert_array_equal(clf.classes_, before[0])
    assert (clf.input_shape_, clf.n_features_in_) == before[1:3]
    np.testing.assert_array_equal(clf.predict_proba(Xt), before[3])
    clf.fit(Xs[ys < 2], ys[ys < 2], Xt)  # the same problem: continues from the current weights


class BatchNormExtractor(nn.Module):
    def __init__(self, n_features_in=8, hidden_sizes=(16,)):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features_in, hidden_sizes[0]), nn.BatchNorm1d(hidden_sizes[0]),
                                 nn.ReLU())

    def forward(self, x):
        return self.net(x)


def test_no_one_row_batch_so_batchnorm_trains_on_any_data_size(small_task):
    from skda.engine import PairedBatchSampler

    sampler = PairedBatchSampler(65, 30, 32, torch_generator(), "cpu")
    sizes = [len(s) for s, t in sampler]
    assert sizes == [32, 33] and len(sampler) == 2  # 65 = 32 + 32 + 1: the 1-row tail joins the last batch
    covered = torch.cat([s for s, _ in sampler])
    assert sorted(covered.tolist()) == list(range(65))  # every source row once per epoch, none dropped
    assert [len(s) for s, _ in PairedBatchSampler(1, 1, 32, torch_generator(), "cpu")] == [1]
    Xs, ys, Xt, _ = small_task
    Xs65, ys65 = Xs[:65], ys[:65]
    skda.SourceOnlyClassifier(module=BatchNormExtractor, random_state=0, device="cpu", max_epochs=2,
                              batch_size=32, module__hidden_sizes=(16,)).fit(Xs65, ys65)  # was: ValueError
    skda.ActiveSelector(module=BatchNormExtractor, random_state=0, device="cpu", max_epochs=2, batch_size=32,
                        module__hidden_sizes=(16,)).fit(Xs65, ys65, Xt[:10])


def torch_generator():
    return torch.Generator().manual_seed(0)


def test_source_rows_appended_follow_every_source_batch():
    """SourceRowsAppended: each source index batch of the wrapped sampler, then all of ``rows`` (at most
    ``batch_size`` of them) or ``batch_size`` of them drawn without replacement, a fresh draw per step; same
    length and target batches as the wrapped sampler."""
    from skda.sampling import PairedBatchSampler, SourceRowsAppended

    few = torch.tensor([3, 7, 11])
    base = list(PairedBatchSampler(65, 30, 32, torch_generator(), "cpu"))
    wrapped = SourceRowsAppended(PairedBatchSampler(65, 30, 32, torch_generator(), "cpu"), few, 32,
                                 torch.Generator().manual_seed(1))
    assert len(wrapped) == len(base) == 2
    for (s, t), (ws, wt) in zip(base, wrapped):
        assert torch.equal(ws, torch.cat([s, few])) and torch.equal(wt, t)
    many = torch.arange(40, 65)
    draws = [ws[-8:] for ws, _ in SourceRowsAppended(PairedBatchSampler(200, 30, 32, torch_generator(), "cpu"),
                                                      many, 8, torch.Generator().manual_seed(1))]
    assert all(len(d) == 8 and len(set(d.tolist())) == 8 and set(d.tolist()) <= set(many.tolist()) for d in draws)
    assert len({tuple(d.tolist()) for d in draws}) > 1  # a fresh draw each step


def test_at_most_takes_all_rows_or_draws_without_replacement():
    """at_most: None (every row) up to ``size`` rows; beyond, ``size`` distinct positions, a fresh draw per call,
    the same draws for the same generator state."""
    from skda.sampling import at_most

    assert at_most(5, 5, torch_generator()) is None and at_most(0, 3, torch_generator()) is None
    generator = torch_generator()
    draws = [at_most(20, 6, generator) for _ in range(4)]
    assert all(len(d) == 6 and len(set(d.tolist())) == 6 and 0 <= d.min() and d.max() < 20 for d in draws)
    assert len({tuple(d.tolist()) for d in draws}) > 1
    again = torch_generator()
    assert all(torch.equal(d, at_most(20, 6, again)) for d in draws)


def test_madda_with_labelled_target_rows_and_auto_epochs(small_task):
    """max_epochs="auto" counts the sampler's steps before the fit's run exists; M-ADDA's sampler for labelled
    target rows must allow that."""
    Xs, ys, Xt, yt = small_task
    labels = np.full(len(yt), -1)
    labels[::5] = yt[::5]
    clf = skda.MADDAClassifier(random_state=0, source_epochs=1, module__hidden_sizes=(16,)).fit(Xs, ys, Xt, labels)
    assert len(clf.history) == 1 + clf.auto_epochs(torch.as_tensor(np.r_[ys, yt[::5]]), len(Xt))


def test_a_first_fit_that_fails_in_training_leaves_the_estimator_unfitted(small_task):
    from sklearn.exceptions import NotFittedError

    Xs, ys, Xt, _ = small_task
    first = ys < 2
    for est in (make("ilada"),   # class-balanced sampler refuses
                make("madda")):  # kNN index would lack a class
        with pytest.raises(ValueError, match="no sample"):
            est.partial_fit(Xs[first], ys[first], Xt, classes=[0, 1, 2])
        with pytest.raises(NotFittedError):
            est.predict(Xt)
        est.partial_fit(Xs, ys, Xt)  # and the next call fits from scratch
        assert est.predict(Xt).shape == (len(Xt),)


def test_a_cpu_fit_seeds_no_gpu_generator(small_task, monkeypatch):
    """A CPU fit seeds (and afterwards restores) the CPU generator only: on a CUDA machine, torch.manual_seed
    would reseed every GPU's generator and leave them reseeded, changing the caller's GPU random streams."""
    Xs, ys, Xt, _ = small_task
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(("all", seed)))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: calls.append(("one", seed)))
    before = torch.random.get_rng_state()
    a = make("dann", random_state=3, device="cpu").fit(Xs, ys, Xt).predict_proba(Xt)
    b = make("dann", random_state=3, device="cpu").fit(Xs, ys, Xt).predict_proba(Xt)
    assert calls == []
    np.testing.assert_array_equal(a, b)  # still seeded: same seed, same model
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's CPU stream is untouched


# ------------------------------------------------------------------ state after changes and failures
def test_new_callbacks_and_criterion_take_effect_in_partial_fit(small_task):
    calls = []

    class Count(Callback):
        def on_epoch_end(self, net, **kwargs):
            calls.append(1)

    Xs, ys, Xt, _ = small_task
    clf = make("dann").fit(Xs, ys, Xt)
    clf.set_params(callbacks=[Count()], criterion__weight=torch.tensor([1.0, 2.0, 3.0]))
    clf.partial_fit(Xs, ys, Xt, epochs=2)
    assert len(calls) == 2
    assert torch.equal(clf.criterion_.weight, torch.tensor([1.0, 2.0, 3.0]))


def test_a_diverged_partial_fit_leaves_the_estimator_unfitted(small_task):
    from sklearn.exceptions import NotFittedError

    Xs, ys, Xt, _ = small_task
    clf = make("dann").fit(Xs, ys, Xt)
    clf.set_params(lr=1e8)
    with pytest.raises(FloatingPointError):
        clf.partial_fit(Xs * 1e3, ys, Xt * 1e3, epochs=5)
    with pytest.raises(NotFittedError):
        clf.predict(Xt)


def test_a_refit_that_cannot_build_its_network_leaves_the_estimator_unfitted(small_task):
    from sklearn.exceptions import NotFittedError

    Xs, ys, Xt, _ = small_task
    clf = skda.DANNClassifier(module=skda.MLPFeatureExtractor(8, (16,)), domain_hidden_sizes=(8,), max_epochs=2,
                              random_state=0, device="cpu").fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="feature extractor failed"):
        clf.fit(Xs[:, :3], ys, Xt[:, :3])  # the module instance takes 8 features
    with pytest.raises(NotFittedError):
        clf.predict(Xt)


PICKLES = []


class PickleAtEpochEnd(Callback):
    def on_epoch_end(self, net, **kwargs):
        import pickle

        PICKLES.append(pickle.dumps(net))


def test_a_pickle_taken_during_training_carries_no_running_state(small_task):
    import pickle

    Xs, ys, Xt, _ = small_task
    PICKLES.clear()
    make("dann", callbacks=[PickleAtEpochEnd()]).fit(Xs, ys, Xt)
    pickles = list(PICKLES)
    restored = pickle.loads(pickles[0])
    assert restored.training_run_ is None and restored.planned_epochs() == restored.max_epochs
