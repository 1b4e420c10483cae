"""Saving and loading fitted estimators: skorch's save_params / load_params restore the whole model (also into an
unfitted estimator, from a file torch reads with weights_only=True), pickles leave out the optimiser state, and
the user guide's Persistence example runs."""

import copy
import pickle
import re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Checkpoint
from skorch.dataset import ValidSplit

from skda.engine import FITTED_STATE_KEY

from .conftest import REPO
from .registry import NAMES, make

LABELS = np.array(["cat", "dog", "emu"])


def _frames(small_task):
    Xs, ys, Xt, _ = small_task
    columns = [f"f{i}" for i in range(Xs.shape[1])]
    return pd.DataFrame(Xs, columns=columns), LABELS[ys], pd.DataFrame(Xt, columns=columns)


def test_initialize_before_a_fit_raises_a_clear_error():
    # skorch's pattern net.initialize(); net.load_params(...) cannot build an skda network (sizes come from data)
    with pytest.raises(NotFittedError, match=r"builds its network from the training data.*load_params\(f_params="
                                             r".*joblib"):
        make("dann").initialize()


@pytest.mark.parametrize("name", NAMES)
def test_save_params_load_params_restores_everything_into_an_unfitted_estimator(name, small_task, tmp_path):
    Xs, ys, Xt = _frames(small_task)
    fitted = make(name, random_state=0).fit(Xs, ys, Xt)
    fitted.save_params(f_params=tmp_path / "model.pt")
    restored = make(name, random_state=1)  # other initial weights: all must come from the file
    assert restored.load_params(f_params=tmp_path / "model.pt") is restored
    np.testing.assert_array_equal(restored.classes_, LABELS)
    np.testing.assert_array_equal(restored.feature_names_in_, list(Xs.columns))
    assert restored.n_features_in_ == 8 and restored.input_shape_ == (8,)
    np.testing.assert_array_equal(restored.predict_proba(Xt), fitted.predict_proba(Xt))
    np.testing.assert_array_equal(restored.predict(Xt), fitted.predict(Xt))
    np.testing.assert_array_equal(restored.transform(Xt), fitted.transform(Xt))
    with pytest.raises(ValueError, match="feature names"):
        restored.predict(Xt.rename(columns={"f0": "other"}))
    if name == "madda":  # the kNN index, the frozen source model
        np.testing.assert_array_equal(restored.source_embeddings_, fitted.source_embeddings_)
        np.testing.assert_array_equal(restored.source_labels_, fitted.source_labels_)
        assert restored.module_.stage == "target"
        assert not any(p.requires_grad for p in restored.module_.source_encoder.parameters())
    if name == "active":
        np.testing.assert_array_equal(restored.query(5), fitted.query(5))
    # and it trains on
    restored.partial_fit(Xs, ys, Xt, epochs=1)
    assert restored.predict(Xt).shape == (len(Xt),)


def test_a_loaded_model_trains_on_with_the_same_source_validation_split(small_task, tmp_path):
    """The seed of the source validation split is saved with the model, so a loaded model trained on with
    ``partial_fit`` holds out the same source rows, also with ``random_state=None``."""
    Xs, ys, Xt, _ = small_task
    fitted = make("dann", random_state=None, train_split=ValidSplit(0.2, stratified=True)).fit(Xs, ys, Xt)
    fitted.save_params(f_params=tmp_path / "model.pt")
    restored = make("dann", random_state=None, train_split=ValidSplit(0.2, stratified=True))
    restored.load_params(f_params=tmp_path / "model.pt")
    assert restored.validation_seed_ == fitted.validation_seed_
    restored.partial_fit(Xs, ys, Xt, epochs=1)
    np.testing.assert_array_equal(restored.valid_indices_, fitted.valid_indices_)


def test_load_params_replaces_the_state_of_an_earlier_fit(small_task, tmp_path):
    # the old work-around, fit on dummy data and then load, kept the dummy fit's classes_: silently wrong labels
    Xs, ys, Xt, _ = small_task
    fitted = make("dann", random_state=0).fit(Xs, LABELS[ys], Xt)
    fitted.save_params(f_params=tmp_path / "model.pt")
    dummy = make("dann", random_state=0).fit(Xs[:, :5], ys % 2, Xt[:, :5])  # 2 classes, 5 features
    dummy.load_params(f_params=tmp_path / "model.pt")
    np.testing.assert_array_equal(dummy.classes_, LABELS)
    assert dummy.input_shape_ == (8,) and dummy.n_features_in_ == 8
    np.testing.assert_array_equal(dummy.predict(Xt), fitted.predict(Xt))


def test_the_params_file_loads_with_weights_only(small_task, tmp_path, monkeypatch):
    Xs, ys, Xt = _frames(small_task)
    fitted = make("madda", random_state=0).fit(Xs, ys, Xt)
    fitted.save_params(f_params=tmp_path / "model.pt")
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    fitted_state = state.pop(FITTED_STATE_KEY)
    assert fitted_state["estimator"] == "MADDAClassifier"
    fitted.module_.load_state_dict(state)  # the rest is the network's state_dict
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    restored = make("madda", random_state=0).load_params(f_params=tmp_path / "model.pt")
    assert calls == [True]
    np.testing.assert_array_equal(restored.predict(Xt), fitted.predict(Xt))


def test_numpy_text_values_are_saved_as_plain_text(small_task, tmp_path):
    """Labels held as numpy strings in an object array (np.str_, e.g. read from a file) are stored as plain text, so
    the file loads with weights_only and the classes come back equal."""
    Xs, ys, Xt, _ = small_task
    labels = np.array([np.str_(name) for name in np.array(["cat", "dog", "emu"])[ys]], dtype=object)
    fitted = make("dann", random_state=0).fit(Xs, labels, Xt)
    fitted.save_params(f_params=tmp_path / "model.pt")
    restored = make("dann", random_state=0).load_params(f_params=tmp_path / "model.pt")
    assert restored.classes_.tolist() == ["cat", "dog", "emu"]
    np.testing.assert_array_equal(restored.predict(Xt), fitted.predict(Xt))


@pytest.mark.parametrize("name", ["dann", "madda"])
def test_big_endian_labels_and_features_fit_save_and_load(name, small_task, tmp_path):
    """Arrays in non-native byte order (e.g. read from a file written on another machine) give the model of the
    native arrays; classes_ is native, so the fitted estimator saves."""
    Xs, ys, Xt, _ = small_task
    native = make(name, random_state=0).fit(Xs, ys, Xt)
    swapped = make(name, random_state=0).fit(Xs.astype(">f4"), ys.astype(">i8"), Xt.astype(">f4"))
    assert swapped.classes_.dtype.isnative and swapped.classes_.tolist() == native.classes_.tolist()
    np.testing.assert_array_equal(swapped.predict(Xt), native.predict(Xt))
    swapped.save_params(f_params=tmp_path / "model.pt")  # was: "byte order different from the native"
    restored = make(name, random_state=0).load_params(f_params=tmp_path / "model.pt")
    np.testing.assert_array_equal(restored.predict(Xt.astype(">f4")), native.predict(Xt))


def test_load_params_builds_the_network_of_a_pending_module_change(small_task, tmp_path):
    """A fitted estimator whose module__* values were changed since its network was built loads a file of the new
    sizes into a network built for them (not into the old one)."""
    Xs, ys, Xt, _ = small_task
    wide = make("dann", random_state=0, module__hidden_sizes=(12,)).fit(Xs, ys, Xt)
    wide.save_params(f_params=tmp_path / "wide.pt")
    narrow = make("dann", random_state=0).fit(Xs, ys, Xt).set_params(module__hidden_sizes=(12,))
    narrow.load_params(f_params=tmp_path / "wide.pt")
    np.testing.assert_array_equal(narrow.predict_proba(Xt), wide.predict_proba(Xt))


def test_bare_weights_or_another_class_are_refused(small_task, tmp_path):
    Xs, ys, Xt, _ = small_task
    fitted = make("dann", random_state=0).fit(Xs, ys, Xt)
    torch.save(fitted.module_.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(NotFittedError, match="bare weights"):
        make("dann").load_params(f_params=tmp_path / "bare.pt")
    fitted.load_params(f_params=tmp_path / "bare.pt")  # into a model fitted on the same problem: skorch's semantics
    fitted.save_params(f_params=tmp_path / "model.pt")
    with pytest.raises(ValueError, match="saved by a DANNClassifier, not a MLADAClassifier"):
        make("mlada").load_params(f_params=tmp_path / "model.pt")
    # other network sizes: an error, and no half-loaded model that looks fitted
    other = make("dann", module__hidden_sizes=(12,))
    with pytest.raises(ValueError, match=r"(?s)do not fit this DANNClassifier's network: .*other network parameters "
                                         r"\(module__\*, .*size mismatch"):  # torch's RuntimeError before
        other.load_params(f_params=tmp_path / "model.pt")
    with pytest.raises(NotFittedError):
        other.predict(Xt)


def test_a_refused_load_leaves_a_fitted_estimator_as_it_was(small_task, tmp_path):
    """A file of another network refused: the fitted model keeps its classes_, weights and predictions (it took
    the file's classes_ and was left unfitted before)."""
    Xs, ys, Xt, _ = small_task
    make("dann", module__hidden_sizes=(12,), random_state=0).fit(Xs, ys + 10, Xt).save_params(
        f_params=tmp_path / "other.pt")
    fitted = make("dann", random_state=0).fit(Xs, ys, Xt)
    before = fitted.predict_proba(Xt)
    with pytest.raises(ValueError, match="do not fit this DANNClassifier's network"):
        fitted.load_params(f_params=tmp_path / "other.pt")
    assert fitted.classes_.tolist() == np.unique(ys).tolist()
    np.testing.assert_array_equal(fitted.predict_proba(Xt), before)
    fitted.partial_fit(Xs, ys, Xt)  # and it trains on


def test_an_optimizer_state_of_another_network_is_refused_at_load(small_task, tmp_path):
    """torch loads any optimiser state without checking shapes; the next step failed inside torch ("The size of
    tensor a (8) must match ..."). Refused at load, naming the mismatch, the previous state kept."""
    Xs, ys, Xt, _ = small_task
    make("dann", random_state=0).fit(Xs, ys, Xt).save_params(f_optimizer=tmp_path / "optimizer.pt")
    narrow = make("dann", random_state=0).fit(Xs[:, :5], ys, Xt[:, :5])
    kept = copy.deepcopy(narrow.optimizer_.state_dict())
    with pytest.raises(ValueError, match=r"the optimizer state loaded into optimizer_ does not fit this "
                                         r"DANNClassifier's network \(its '\w+' has shape \(\d+, 8\)"):
        narrow.load_params(f_optimizer=tmp_path / "optimizer.pt")
    for key, value in narrow.optimizer_.state_dict()["state"][0].items():
        assert torch.equal(value, kept["state"][0][key])
    narrow.partial_fit(Xs[:, :5], ys, Xt[:, :5])


@pytest.mark.parametrize("file", ["f_params", "f_optimizer", "f_criterion", "f_history"])
def test_saving_an_unfitted_estimator_is_refused_for_every_file(tmp_path, file):
    """skda's NotFittedError for each file (an AttributeError for f_history, and skorch's advice to call
    initialize(), which skda refuses before a fit, for the optimiser and criterion)."""
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        make("dann").save_params(**{file: tmp_path / "file"})


def test_checkpoint_loads_into_an_unfitted_estimator(small_task, tmp_path):
    Xs, ys, Xt, _ = small_task
    checkpoint = Checkpoint(monitor="valid_loss_best", dirname=str(tmp_path), f_optimizer=None, f_criterion=None)
    split = dict(train_split=ValidSplit(0.25, stratified=True))
    fitted = make("dann", random_state=0, max_epochs=4, **split, callbacks=[checkpoint])
    fitted.fit(Xs, LABELS[ys], Xt)
    restored = make("dann").load_params(checkpoint=checkpoint)
    np.testing.assert_array_equal(restored.classes_, LABELS)
    assert len(restored.history) == 4  # the checkpoint's history
    fitted.load_params(checkpoint=checkpoint)
    np.testing.assert_array_equal(restored.predict_proba(Xt), fitted.predict_proba(Xt))


@pytest.mark.parametrize("callback", ["early_stopping", "checkpoint"])
def test_madda_refuses_callbacks_that_restore_the_best_epoch(small_task, tmp_path, callback):
    """load_best=True would restore a best epoch of the source stage (untrained target model) without the kNN
    index of those weights: refused before training, with the way that works."""
    from skorch.callbacks import EarlyStopping

    Xs, ys, Xt, _ = small_task
    best = (EarlyStopping(patience=100, load_best=True) if callback == "early_stopping" else
            Checkpoint(dirname=str(tmp_path), load_best=True))
    madda = make("madda", random_state=0, train_split=ValidSplit(0.25, stratified=True), callbacks=[best])
    with pytest.raises(ValueError, match="load_best=True would restore.*load_params\\(checkpoint=...\\)"):
        madda.fit(Xs, ys, Xt)
    assert not madda.__sklearn_is_fitted__()
    make("dann", random_state=0, train_split=ValidSplit(0.25, stratified=True), callbacks=[best]).fit(Xs, ys, Xt)


def test_madda_checkpoints_of_the_source_stage_are_refused(small_task, tmp_path):
    Xs, ys, Xt, _ = small_task
    every_epoch = Checkpoint(monitor=None, dirname=str(tmp_path), f_params="params_{last_epoch[epoch]}.pt",
                             f_optimizer=None, f_criterion=None, f_history=None)
    fitted = make("madda", random_state=0, callbacks=[every_epoch])
    fitted.fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="source stage"):
        make("madda").load_params(f_params=tmp_path / "params_1.pt")
    # a target-stage checkpoint carries this fit's kNN index
    last = make("madda").load_params(f_params=tmp_path / "params_4.pt")
    np.testing.assert_array_equal(last.predict_proba(Xt), fitted.predict_proba(Xt))


def test_madda_checkpoints_of_the_target_stage_index_labelled_rows_by_their_target_model(small_task, tmp_path):
    """With labelled target rows, a checkpoint of any target-stage epoch holds them in the kNN index as that
    epoch's target model embeds them (as the fit would have, had it ended there)."""
    Xs, ys, Xt, yt = small_task
    labels = np.where(np.arange(len(yt)) % 3 == 0, yt, -1)
    every_epoch = Checkpoint(monitor=None, dirname=str(tmp_path), f_params="params_{last_epoch[epoch]}.pt",
                             f_optimizer=None, f_criterion=None, f_history=None)
    make("madda", random_state=0, source_epochs=1, max_epochs=4, lr=0.01, callbacks=[every_epoch]).fit(
        Xs, ys, Xt, labels)
    middle = make("madda").load_params(f_params=tmp_path / "params_3.pt")
    known = labels != -1
    np.testing.assert_allclose(middle.source_embeddings_[len(Xs):], middle.transform(Xt[known]), atol=1e-6)


def _optimizer_states(est):
    return [opt.state for opt in est.__dict__.values() if isinstance(opt, torch.optim.Optimizer)]


@pytest.mark.parametrize("name", ["dann", "madda"])
def test_pickles_leave_out_the_optimizer_state_and_train_on_after_loading(name, small_task):
    Xs, ys, Xt, _ = small_task
    wide = np.random.RandomState(0).randn(8, 2000).astype(np.float32)  # most weights in the first layer
    Xs, Xt = Xs @ wide, Xt @ wide
    fitted = make(name, random_state=0).fit(Xs, ys, Xt)
    weight_bytes = sum(p.numel() * p.element_size() for p in fitted.module_.parameters())
    blob = pickle.dumps(fitted)
    assert len(blob) < 1.2 * weight_bytes  # momentum / Adam moments would add 1x / 2x (MADDA: up to 3x)
    assert all(len(state) for state in _optimizer_states(fitted))  # pickling did not empty the fitted model's
    assert all(len(state) for state in _optimizer_states(copy.deepcopy(fitted)))  # a copy in memory keeps it
    restored = pickle.loads(blob)
    assert all(len(state) == 0 for state in _optimizer_states(restored))
    np.testing.assert_array_equal(restored.predict_proba(Xt), fitted.predict_proba(Xt))
    restored.partial_fit(Xs, ys, Xt, epochs=1)  # the optimiser state restarts
    assert any(len(state) for state in _optimizer_states(restored))
    again = pickle.loads(blob).set_params(warm_start=True).fit(Xs, ys, Xt)
    assert np.isfinite(again.history[-1, "train_loss"])
    # clone of a fitted model is unaffected
    assert clone(fitted).get_params()["max_epochs"] == fitted.max_epochs


def test_pickling_never_changes_the_estimator_being_pickled(small_task):
    """While a fitted estimator is pickled, its own optimisers stay in place with their state (they were swapped
    for stateless copies for the time of the call, so a fit or a deepcopy in another thread lost that state). A
    probe pickled with the network's CUDA-dependent attributes looks at the estimator mid-pickle."""
    Xs, ys, Xt, _ = small_task
    fitted = make("dann", random_state=0).fit(Xs, ys, Xt)
    optimizer, seen = fitted.optimizer_, []

    class Probe:
        def __reduce__(self):
            seen.append(fitted.__dict__["optimizer_"] is optimizer and len(optimizer.state) > 0)
            return (dict, ())

    fitted.__dict__["optimizer_probe"] = Probe()  # a name skorch pickles among the CUDA-dependent attributes
    blob = pickle.dumps(fitted)
    assert seen == [True]
    del fitted.__dict__["optimizer_probe"]
    assert all(len(state) == 0 for state in _optimizer_states(pickle.loads(blob)))


def test_a_memory_mapped_madda_predicts_and_trains_on_without_warnings(small_task, tmp_path):
    """joblib.load(..., mmap_mode="r") maps M-ADDA's kNN index and centres read-only: predict and partial_fit read
    them as before, without torch's warning about arrays that are not writable."""
    import warnings

    import joblib
    Xs, ys, Xt, _ = small_task
    fitted = make("madda", random_state=0).fit(Xs, ys, Xt)
    joblib.dump(fitted, tmp_path / "madda.joblib")
    mapped = joblib.load(tmp_path / "madda.joblib", mmap_mode="r")
    assert not mapped.source_embeddings_.flags.writeable and not mapped.centers_.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(mapped.predict_proba(Xt), fitted.predict_proba(Xt))
        mapped.partial_fit(Xs, ys, Xt, epochs=1)


def test_madda_resumes_exactly_with_its_three_optimizer_files(small_task, tmp_path):
    """The user guide's recipe for M-ADDA: a pickle plus the files of its three optimisers continues exactly as
    the fitted estimator does."""
    Xs, ys, Xt, _ = small_task
    fitted = make("madda", random_state=0).fit(Xs, ys, Xt)
    files = {key: tmp_path / f"{key}.pt" for key in ("f_optimizer", "f_target_optimizer", "f_discriminator_optimizer")}
    fitted.save_params(**files)
    restored = pickle.loads(pickle.dumps(fitted))
    restored.load_params(**files)
    for model in (fitted, restored):
        model.partial_fit(Xs, ys, Xt, epochs=1)
    np.testing.assert_array_equal(restored.transform(Xt), fitted.transform(Xt))


def test_user_guide_persistence_example_runs(tmp_path, monkeypatch):
    guide = (REPO / "docs" / "index.md").read_text()
    section = guide[guide.index("## Persistence"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2 and "weights_only=True" in blocks[0] and 'dirname="checkpoints"' in blocks[1]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/index.md Persistence block {i + 1}", "exec"), namespace)
    assert (tmp_path / "checkpoints" / "params.pt").exists() and not (tmp_path / "params.pt").exists()
    np.testing.assert_array_equal(namespace["best"].classes_, namespace["clf"].classes_)


def test_an_optimizer_with_state_of_other_shapes_loads_its_params_and_state(small_task, tmp_path):
    """Adafactor keeps factored row / column statistics, not of its parameter's shape: its own files load (the
    shape check of optimiser states refused them, and every params file after a fit)."""
    adafactor = getattr(torch.optim, "Adafactor", None)
    if adafactor is None:
        pytest.skip("torch.optim.Adafactor needs torch >= 2.5")
    Xs, ys, Xt, _ = small_task
    model = make("dann", random_state=0, optimizer=adafactor, lr=0.01).fit(Xs, ys, Xt)
    model.save_params(f_params=tmp_path / "params.pt", f_optimizer=tmp_path / "optimizer.pt")
    model.load_params(f_params=tmp_path / "params.pt")
    model.load_params(f_optimizer=tmp_path / "optimizer.pt")
    model.partial_fit(Xs, ys, Xt)


def test_bare_weights_of_another_network_are_named_as_such(small_task, tmp_path):
    Xs, ys, Xt, _ = small_task
    torch.save(make("dann", module__hidden_sizes=(12,)).fit(Xs, ys, Xt).module_.state_dict(), tmp_path / "bare.pt")
    model = make("dann", random_state=0).fit(Xs, ys, Xt)
    before = model.predict_proba(Xt)
    with pytest.raises(ValueError, match="the weights in this file do not fit this DANNClassifier's network"):
        model.load_params(f_params=tmp_path / "bare.pt")
    np.testing.assert_array_equal(model.predict_proba(Xt), before)
