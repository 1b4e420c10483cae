"""skorch callbacks from skda estimators: a source validation split, EarlyStopping, Checkpoint, LRScheduler."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Checkpoint, EarlyStopping, LRScheduler
from skorch.dataset import ValidSplit
from torch.optim.lr_scheduler import StepLR

import skda
from skda.callbacks import TrainingProgress

from .registry import make

SPLIT = dict(train_split=ValidSplit(0.25, stratified=True, random_state=0))


@pytest.mark.parametrize("cls", [skda.DANNClassifier, skda.ILADAClassifier, skda.MLADAClassifier,
                                 skda.SourceOnlyClassifier])
def test_source_validation_split_is_scored_every_epoch(small_task, cls):
    Xs, ys, Xt, _ = small_task
    clf = make(cls, random_state=0, **SPLIT).fit(Xs, ys, Xt)
    assert len(clf.valid_indices_) == 30 and len(clf.train_indices_) == 90  # 25% of the 120 source rows
    assert not set(clf.valid_indices_) & set(clf.train_indices_)
    # stratified: every class in both parts
    assert set(ys[clf.valid_indices_]) == set(ys[clf.train_indices_]) == {0, 1, 2}
    losses = clf.history[:, "valid_loss"]
    assert len(losses) == clf.max_epochs and np.all(np.isfinite(losses))
    acc = clf.history[-1, "valid_accuracy"]
    # the recorded accuracy is the accuracy of the final model on the held-out source rows
    assert acc == pytest.approx(clf.score(Xs[clf.valid_indices_], ys[clf.valid_indices_]), abs=1e-6)


def test_madda_validation_split(small_task, tmp_path):
    Xs, ys, Xt, _ = small_task
    clf = make("madda", random_state=0, **SPLIT).fit(Xs, ys, Xt)
    assert len(clf.history) == 4 and np.all(np.isfinite(clf.history[:, "valid_loss"]))
    assert len(clf.source_embeddings_) == 90  # kNN keys: the training part of the source only
    assert "valid_accuracy" not in clf.history[-1]  # the triplet loss only; a callback monitoring it is refused
    for callback in (EarlyStopping(monitor="valid_accuracy", lower_is_better=False),
                     Checkpoint(monitor="valid_accuracy_best", dirname=str(tmp_path))):
        with pytest.raises(ValueError, match="monitors 'valid_accuracy.*which M-ADDA does not record"):
            make("madda", random_state=0, callbacks=[callback], **SPLIT).fit(Xs, ys, Xt)  # was: a KeyError


def test_early_stopping_stops_the_fit(small_task):
    Xs, ys, Xt, _ = small_task
    # an improvement threshold no epoch can reach: stops after patience + 1 epochs
    stop = EarlyStopping(monitor="valid_loss", patience=2, threshold=100.0, threshold_mode="abs")
    clf = make("dann", random_state=0, max_epochs=20, **SPLIT, callbacks=[stop])
    clf.fit(Xs, ys, Xt)
    assert len(clf.history) == 3
    assert clf.predict(Xt).shape == (len(Xt),)  # a usable estimator after the interruption


@pytest.mark.parametrize("name", ["dann", "madda", "deep-coral"])
def test_callbacks_monitoring_validation_values_need_a_train_split(small_task, tmp_path, name):
    """skda's train_split defaults to None: a callback monitoring valid_* is refused before training (was: a
    KeyError, or skorch's exception, at the first epoch's end)."""
    Xs, ys, Xt, _ = small_task
    for callback in (EarlyStopping(patience=5), Checkpoint(dirname=str(tmp_path))):
        with pytest.raises(ValueError, match=r"monitors 'valid_loss.*pass train_split=skorch.dataset.ValidSplit"):
            make(name, random_state=0, callbacks=[callback]).fit(Xs, ys, Xt)
    stages = {"source_epochs": 0} if name == "madda" else {}  # M-ADDA's train_loss changes meaning between stages
    make(name, random_state=0, callbacks=[EarlyStopping(monitor="train_loss", patience=5)], **stages).fit(Xs, ys, Xt)


@pytest.mark.parametrize("monitor,match", [
    ("train_loss", "which is M-ADDA's triplet loss .Eq. 1. in its source stage and the target stage's loss"),
    ("train_loss_best", "which is M-ADDA's triplet loss"),
    ("train_center_loss", "which M-ADDA records only in its target stage"),
    ("train_discriminator_loss", "which M-ADDA records only in its target stage"),
])
def test_madda_refuses_monitors_that_change_or_start_at_its_stage_boundary(small_task, tmp_path, monitor, match):
    """With a source stage, train_loss is two different losses (EarlyStopping's best carried over and stopped the
    target stage after its patience, silently) and the target-stage values do not exist yet (a KeyError after the
    first epoch). Without a source stage both are fine."""
    Xs, ys, Xt, _ = small_task
    for callback in (EarlyStopping(monitor=monitor, patience=3), Checkpoint(monitor=monitor, dirname=str(tmp_path))):
        with pytest.raises(ValueError, match=match):
            make("madda", random_state=0, callbacks=[callback]).fit(Xs, ys, Xt)
    model = make("madda", random_state=0, source_epochs=0, max_epochs=3,
                 callbacks=[EarlyStopping(monitor=monitor, patience=3)]).fit(Xs, ys, Xt)
    assert len(model.history) == 3


def test_checkpoint_saves_the_best_model(small_task, tmp_path):
    Xs, ys, Xt, _ = small_task
    ckpt = Checkpoint(monitor="valid_loss_best", dirname=str(tmp_path), f_optimizer=None, f_criterion=None)
    clf = make("dann", random_state=0, **SPLIT, callbacks=[ckpt]).fit(Xs, ys, Xt)
    assert (tmp_path / "params.pt").exists() and (tmp_path / "history.json").exists()
    best_epoch = int(np.argmin(clf.history[:, "valid_loss"])) + 1
    assert clf.history[best_epoch - 1, "event_cp"] is True
    saved = torch.load(tmp_path / "params.pt")
    restored = make("dann", random_state=1, **SPLIT)
    restored.fit(Xs, ys, Xt)  # same architecture, other weights; then load the checkpoint
    restored.load_params(checkpoint=ckpt)
    for name, value in restored.module_.state_dict().items():
        torch.testing.assert_close(value, saved[name])


def test_lr_scheduler_replaces_the_default_annealing(small_task):
    Xs, ys, Xt, _ = small_task
    sched = LRScheduler(policy=StepLR, step_size=1, gamma=0.5)
    clf = make("dann", random_state=0, lr=0.08, callbacks=[sched], callbacks__lr_annealing=None)
    clf.fit(Xs, ys, Xt)
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.08 * 0.5 ** clf.max_epochs)


def test_bad_train_split(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(TypeError, match="train_split must return"):
        make("dann", train_split=lambda ds, y: ds).fit(Xs, ys, Xt)
    # a stratified split with a class of one source row: the class is named as the user wrote it (was: "[2]")
    names = np.array(["cat", "dog", "zebra"])[np.r_[ys[ys < 2], 2]]
    rows = np.r_[np.flatnonzero(ys < 2), np.flatnonzero(ys == 2)[0]]
    with pytest.raises(ValueError, match=r"train_split could not split .*classes with fewer than 2 source rows: "
                                         r"\['zebra'\]"):
        make("dann", **SPLIT).fit(Xs[rows], names, Xt)


def test_verbose_prints_the_epoch_table_and_progress(small_task, capsys):
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, verbose=1).fit(Xs, ys, Xt)
    out = capsys.readouterr().out
    assert "train_loss" in out and out.count("\n") >= clf.max_epochs
    make("dann", random_state=0, callbacks=[TrainingProgress(label="dann", every=1)]).fit(Xs, ys, Xt)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("dann")]
    assert len(lines) == clf.max_epochs and lines[-1].split("epoch ")[1].startswith("3/3")


def test_keyboard_interrupt_leaves_a_usable_estimator(small_task):
    from skorch.callbacks import Callback

    class InterruptAtEpoch2(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt

    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, max_epochs=10, callbacks=[InterruptAtEpoch2()])
    clf.fit(Xs, ys, Xt)  # skorch catches the interrupt and ends training cleanly
    assert len(clf.history) == 2
    assert clf.predict_proba(Xt).shape == (len(Xt), 3) and np.isfinite(clf.predict_proba(Xt)).all()
    assert clf.training_run_ is None  # the training-only state was cleaned up


class FakeTerminal:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_training_progress_counts_the_epochs_partial_fit_runs_and_ends_an_early_stopped_fit(small_task):
    import io

    from skorch.callbacks import EarlyStopping
    from skorch.dataset import ValidSplit

    from skda.callbacks import TrainingProgress

    Xs, ys, Xt, _ = small_task
    buf = io.StringIO()
    clf = make("dann", random_state=0, device="cpu", max_epochs=20,
               callbacks=[("progress", TrainingProgress(label="p", stream=buf, every=10))])
    clf.fit(Xs, ys, Xt)
    assert buf.getvalue().splitlines()[-1].split("epoch ")[1].startswith("20/20")
    buf.truncate(0), buf.seek(0)
    clf.partial_fit(Xs, ys, Xt, epochs=2)  # was: nothing printed (2 of a planned 20)
    assert [line.split("epoch ")[1][:3] for line in buf.getvalue().splitlines()] == ["2/2"]
    terminal = FakeTerminal()
    clf.set_params(callbacks__progress__stream=terminal)
    clf.partial_fit(Xs, ys, Xt, epochs=2)
    assert terminal.text.endswith("\n") and "epoch 2/2" in terminal.text
    # early stopping: the last epoch run is printed (other streams) / its line ended (terminal)
    for stream in (io.StringIO(), FakeTerminal()):
        stopper = make("dann", random_state=0, device="cpu", max_epochs=200, lr=0.0,
                       train_split=ValidSplit(0.25, stratified=True, random_state=0),
                       callbacks=[EarlyStopping(patience=2), TrainingProgress(label="e", stream=stream, every=50)])
        stopper.fit(Xs, ys, Xt)
        n_run = len(stopper.history)
        assert n_run < 200
        text = stream.getvalue() if isinstance(stream, io.StringIO) else stream.text
        assert text.endswith("\n") and f"epoch {n_run}/200" in text


@pytest.mark.parametrize("every", [0, -1, 1.5, True])
def test_training_progress_refuses_an_every_that_is_not_a_positive_int(small_task, every):
    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, device="cpu", callbacks=[TrainingProgress(every=every)])
    with pytest.raises(ValueError, match="every must be an int >= 1"):  # was: ZeroDivisionError mid-fit (0)
        clf.fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="stream must be a file, 'stdout', 'stderr' or None"):
        make("dann", random_state=0, device="cpu", callbacks=[TrainingProgress(stream="err")]).fit(Xs, ys, Xt)


def test_training_progress_on_stderr_by_name_clones_pickles_and_writes_there(small_task, capsys):
    import pickle
    import sys

    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, device="cpu", max_epochs=2,
               callbacks=[("progress", TrainingProgress(label="named", stream="stderr", every=1))])
    cross_val_score(clf, Xs, ys, cv=2, params={"X_target": Xt})  # clones the estimator and its callbacks
    fitted = clone(clf).fit(Xs, ys, Xt)
    captured = capsys.readouterr()
    assert "named" in captured.err and "named" not in captured.out
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(Xt), fitted.predict(Xt))
    # a fitted estimator holding sys.stderr itself pickles too: the stream is stored by name
    direct = make("dann", random_state=0, device="cpu", max_epochs=1,
                  callbacks=[("progress", TrainingProgress(stream=sys.stderr))]).fit(Xs, ys, Xt)
    assert dict(pickle.loads(pickle.dumps(direct)).callbacks_)["progress"].stream is sys.stderr


def test_train_split_is_drawn_from_random_state_and_kept_across_partial_fit_and_warm_starts(small_task):
    from skorch.dataset import ValidSplit

    Xs, ys, Xt, _ = small_task

    def fitted():
        return make("dann", random_state=0, device="cpu", train_split=ValidSplit(0.2, stratified=True)).fit(Xs, ys, Xt)

    before = np.random.get_state()[1].copy()
    a, b = fitted(), fitted()
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # the caller's numpy state is untouched
    np.testing.assert_array_equal(a.valid_indices_, b.valid_indices_)
    np.testing.assert_array_equal(a.predict_proba(Xt), b.predict_proba(Xt))  # same seed, same predictions
    held_out = a.valid_indices_.copy()
    a.partial_fit(Xs, ys, Xt)
    np.testing.assert_array_equal(a.valid_indices_, held_out)  # the held-out rows stay held out
    for random_state in (None, np.random.RandomState(3)):  # also without an int seed
        c = make("dann", random_state=random_state, device="cpu", train_split=ValidSplit(0.2, stratified=True))
        held_out = c.fit(Xs, ys, Xt).valid_indices_.copy()
        c.partial_fit(Xs, ys, Xt, epochs=1)
        np.testing.assert_array_equal(c.valid_indices_, held_out)
        c.set_params(warm_start=True).fit(Xs, ys, Xt)  # a warm start too (it drew a new split from the new seed)
        np.testing.assert_array_equal(c.valid_indices_, held_out)
    # a later fit without train_split keeps nothing of the split (nor the class shares of an earlier fit)
    a.set_params(train_split=None).fit(Xs, ys, Xt)
    assert not any(hasattr(a, name) for name in ("train_indices_", "valid_indices_", "validation_seed_"))


def test_on_batch_end_callbacks_find_the_batch_loss_in_the_history(small_task):
    """skorch's convention: a callback reads the batch loss from net.history[-1, 'batches', -1, 'train_loss'] in
    on_batch_end (skda keeps it a 0-d tensor until the epoch ends, then a float)."""
    from skorch.callbacks import Callback

    seen = []

    class ReadBatchLoss(Callback):
        def on_batch_end(self, net, training=False, loss=None, **kwargs):
            if training:
                recorded = net.history[-1, "batches", -1, "train_loss"]
                seen.append((float(recorded), float(loss)))

    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0, callbacks=[ReadBatchLoss()]).fit(Xs, ys, Xt)
    batches = [b for row in clf.history for b in row["batches"] if "train_loss" in b]
    assert len(seen) == len(batches) > 0
    assert all(recorded == loss for recorded, loss in seen)
    assert [b["train_loss"] for b in batches] == [recorded for recorded, _ in seen]
    assert all(isinstance(b["train_loss"], float) for b in batches)  # floats once the epoch is over


def test_a_refused_callback_set_on_a_fitted_estimator_is_not_installed(small_task):
    """set_params(callbacks=[...]) refused on a fitted estimator: the previous callbacks stay (the refused list was
    stored and installed: ProgressBar failed inside skorch at the next partial_fit, EpochScoring recorded
    nothing, silently)."""
    from skorch.callbacks import EpochScoring, ProgressBar

    Xs, ys, Xt, _ = small_task
    model = make("dann", random_state=0).fit(Xs, ys, Xt)
    before = (model.callbacks, [name for name, _ in model.callbacks_])
    for refused in ([ProgressBar()], [EpochScoring("accuracy")]):
        with pytest.raises(TypeError, match="callback"):
            model.set_params(callbacks=refused)
        assert (model.callbacks, [name for name, _ in model.callbacks_]) == before
    model.partial_fit(Xs, ys, Xt)


def test_callbacks_disable_on_a_fitted_estimator_runs_none_and_takes_no_callback_values(small_task):
    """callbacks="disable" set between partial_fit calls removes every callback (a TypeError inside skorch before);
    a callbacks__* value beside it names the conflict (skorch's 'not enough values to unpack' before)."""
    from sklearn.base import clone

    Xs, ys, Xt, _ = small_task
    clf = make("dann", random_state=0).fit(Xs, ys, Xt)
    clf.set_params(callbacks="disable")
    assert clf.callbacks_ == []
    clf.partial_fit(Xs, ys, Xt, epochs=1)
    with pytest.raises(ValueError, match=r"callbacks='disable' runs no callback, so \['callbacks__lr_annealing'\] "
                                         r"has nothing to set"):
        clf.set_params(callbacks__lr_annealing=None)
    assert not any(k.startswith("callbacks__") for k in clf.get_params())  # none runs, so none is listed
    clf.set_params(**clf.get_params())
    clone(clf).fit(Xs, ys, Xt)
    # values stored before "disable" stay listed (deep get_params holds the shallow ones) and pass set_params
    from sklearn.utils.estimator_checks import check_get_params_invariance

    kept = make("dann", callbacks__grl_schedule__gamma=5.0).set_params(callbacks="disable")
    check_get_params_invariance("dann", kept)
    kept.set_params(**kept.get_params())
    kept.fit(Xs, ys, Xt).partial_fit(Xs, ys, Xt, epochs=1)  # continued too (its stored values were "misspelt")
    kept.set_params(warm_start=True).fit(Xs, ys, Xt)
    assert kept.set_params(callbacks=None).get_params()["callbacks__grl_schedule__gamma"] == 5.0


def test_callbacks_are_checked_again_before_partial_fit(small_task):
    """train_split removed on a fitted estimator whose EarlyStopping monitors valid_loss: partial_fit refuses
    before training (a KeyError after a full epoch, the history one row longer, before)."""
    Xs, ys, Xt, _ = small_task
    model = make("dann", random_state=0, callbacks=[EarlyStopping(patience=50)], **SPLIT).fit(Xs, ys, Xt)
    rows = len(model.history)
    model.set_params(train_split=None)
    with pytest.raises(ValueError, match="monitors 'valid_loss', which is recorded only with a source validation"):
        model.partial_fit(Xs, ys, Xt)
    assert len(model.history) == rows


@pytest.mark.parametrize("callback", [EarlyStopping(monitor="valid_acc", lower_is_better=False),
                                      Checkpoint(monitor="valid_acc_best")])
def test_skorch_s_accuracy_names_are_refused_before_training(small_task, callback, tmp_path):
    Xs, ys, Xt, _ = small_task
    if isinstance(callback, Checkpoint):
        callback.dirname = str(tmp_path)
    with pytest.raises(ValueError, match=r"monitors 'valid_acc.*', which DANNClassifier does not record: its source "
                                         r"validation split records \['valid_loss', 'valid_accuracy', "
                                         r"'valid_loss_best'\].*EarlyStopping: monitor='valid_accuracy', "
                                         r"lower_is_better=False. Checkpoint .*PassthroughScoring"):
        make("dann", random_state=0, callbacks=[callback], **SPLIT).fit(Xs, ys, Xt)
    # M-ADDA records no validation accuracy: it is pointed at valid_loss (it was given the accuracy recipe, which its
    # own check refuses)
    with pytest.raises(ValueError, match=r"which MADDAClassifier does not record: .* monitor 'valid_loss' \(lower is "
                                         r"better\)\.$"):
        make("madda", random_state=0, callbacks=[callback], **SPLIT).fit(Xs, ys, Xt)


def test_the_advised_route_to_checkpoint_the_best_validation_accuracy_works(small_task, tmp_path):
    """The advice of the refusals above: PassthroughScoring records valid_accuracy_best, and the Checkpoint saves at
    the epochs that improved it (Checkpoint(monitor='valid_accuracy') read the accuracy as a yes/no flag)."""
    from skorch.callbacks import PassthroughScoring

    Xs, ys, Xt, _ = small_task
    model = make("dann", random_state=0, max_epochs=6, **SPLIT, callbacks=[
        PassthroughScoring(name="valid_accuracy", lower_is_better=False),
        Checkpoint(monitor="valid_accuracy_best", dirname=str(tmp_path))]).fit(Xs, ys, Xt)
    accuracy = model.history[:, "valid_accuracy"]
    best = [value > max(accuracy[:i], default=-1) for i, value in enumerate(accuracy)]
    assert model.history[:, "valid_accuracy_best"] == best
    assert model.history[:, "event_cp"] == best


def test_callback_parameters_that_name_no_callback_are_refused(small_task):
    """A misspelt callback name, or a schedule the estimator does not have, changed nothing, silently."""
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=r"\['callbacks__grl_schedul__gamma'\] name no callback of this "
                                         r"DANNClassifier: its callbacks are \[.*'grl_schedule'"):
        make("dann", callbacks__grl_schedul__gamma=0.0).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="name no callback of this SourceOnlyClassifier"):
        make("source-only", callbacks__grl_schedule__gamma=0.0).fit(Xs, ys, Xt)
    make("dann", callbacks__grl_schedule__gamma=5.0, callbacks__lr_annealing=None).fit(Xs, ys, Xt)


def test_madda_refuses_an_lr_scheduler_that_would_leave_its_target_stage_alone(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(TypeError, match="LRScheduler steps optimizer_ only, M-ADDA's source model"):
        make("madda", callbacks=[LRScheduler(StepLR, step_size=1)]).fit(Xs, ys, Xt)


def test_nll_loss_on_logits_is_refused(small_task):
    Xs, ys, Xt, _ = small_task
    for criterion in (torch.nn.NLLLoss, torch.nn.NLLLoss()):
        with pytest.raises(ValueError, match="takes the network's logits .* Use torch.nn.CrossEntropyLoss"):
            make("dann", criterion=criterion).fit(Xs, ys, Xt)


def test_a_predefined_validation_set_is_named_as_unsupported(small_task):
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    Xs, ys, Xt, _ = small_task
    with pytest.raises(TypeError, match=r"got \(Dataset, Dataset\). A validation set of other rows \(skorch's "
                                        r"predefined_split\) is not supported"):
        make("dann", train_split=predefined_split(Dataset(Xs[:10], ys[:10]))).fit(Xs, ys, Xt)


def test_values_a_method_or_a_callback_records_may_be_monitored(small_task):
    """Only skorch's classifier names (valid_acc) and the split's values without a split are refused: a value a
    method logs in validation (ActiveSelector's valid_margin_loss) or a user callback records is monitored."""
    from skorch.callbacks import Callback

    class TargetScore(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("valid_target_score", 0.5)

    Xs, ys, Xt, _ = small_task
    make("active", random_state=0, callbacks=[EarlyStopping(monitor="valid_margin_loss", patience=50)],
         **SPLIT).fit(Xs, ys, Xt)
    make("dann", random_state=0, callbacks=[TargetScore(), EarlyStopping(monitor="valid_target_score",
                                                                         patience=50)]).fit(Xs, ys, Xt)


def test_active_selector_margin_terms_are_validation_values(small_task):
    """ActiveSelector's validation split records the two parts of its margin strategies' loss: monitoring them
    needs the split and a near miss is named (skorch raised a KeyError after the first epoch)."""
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match="monitors 'valid_margin_loss', which is recorded only with a source "):
        make("active", callbacks=[EarlyStopping(monitor="valid_margin_loss")]).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="monitors 'valid_margin_los', which ActiveSelector did not record in "
                                         "epoch 1 .recorded: .*did you mean 'valid_margin_loss'"):
        make("active", callbacks=[EarlyStopping(monitor="valid_margin_los")], **SPLIT).fit(Xs, ys, Xt)
    model = make("active", strategy="sdm", random_state=0, max_epochs=2,
                 callbacks=[("es", EarlyStopping(monitor="valid_cross_entropy", patience=50))], **SPLIT)
    model.fit(Xs, ys, Xt)
    assert np.isfinite(model.history[-1, "valid_cross_entropy"])
    # the training values of the same parts are names of their own, not near misses of the split's
    trained = make("active", strategy="sdm", random_state=0, max_epochs=2,
                   callbacks=[EarlyStopping(monitor="train_margin_loss", patience=50)]).fit(Xs, ys, Xt)
    assert np.isfinite(trained.history[-1, "train_margin_loss"])
    # a strategy that trains with cross-entropy alone records neither part: refused before training, also when
    # set on the fitted estimator before a partial_fit (one epoch trained, then a KeyError)
    with pytest.raises(ValueError, match="monitors 'valid_margin_loss', which strategy='margin' does not record"):
        make("active", strategy="margin", callbacks=[EarlyStopping(monitor="valid_margin_loss")],
             **SPLIT).fit(Xs, ys, Xt)
    rows = len(model.history)
    with pytest.raises(ValueError, match="monitors 'valid_cross_entropy', which strategy='entropy' does not"):
        model.set_params(strategy="entropy").partial_fit(Xs, ys, Xt)
    assert len(model.history) == rows


def test_a_refused_set_params_puts_back_what_skorch_changed_in_place(small_task):
    """skorch sets callback parameters on the callback objects and optimiser options in their groups, in place: a
    refused set_params puts those back too (a refused monitor stayed on the user's EarlyStopping, and every later
    partial_fit was refused)."""
    Xs, ys, Xt, _ = small_task
    stopping = EarlyStopping(monitor="train_loss", patience=50)
    model = make("dann", random_state=0, callbacks=[("es", stopping)]).fit(Xs, ys, Xt)
    decay = [group.get("weight_decay") for group in model.optimizer_.param_groups]
    with pytest.raises(ValueError, match="recorded only with a source validation split"):
        model.set_params(callbacks__es__monitor="valid_loss", optimizer__weight_decay=0.5)
    assert stopping.monitor == "train_loss" and stopping.patience == 50
    assert [group.get("weight_decay") for group in model.optimizer_.param_groups] == decay
    model.partial_fit(Xs, ys, Xt)
    # a split and callbacks that need it, set together on a fitted estimator: accepted
    model.set_params(train_split=SPLIT["train_split"], callbacks=[("es", EarlyStopping(monitor="valid_loss"))])


def test_a_refused_load_leaves_the_history_and_weights_as_they_were(small_task, tmp_path):
    """A checkpoint of another network, or a good params file with a bad optimizer file: refused, and the
    estimator keeps its history, weights and optimiser (the checkpoint's history or the good file's weights were
    loaded before the refusal)."""
    Xs, ys, Xt, _ = small_task
    other = make("dann", module__hidden_sizes=(12,), random_state=0, max_epochs=1,
                 callbacks=[Checkpoint(dirname=str(tmp_path / "other"), monitor=None)]).fit(Xs, ys, Xt)
    narrow = make("dann", random_state=0).fit(Xs[:, :5], ys, Xt[:, :5])
    narrow.save_params(f_optimizer=tmp_path / "narrow_optimizer.pt")
    model = make("dann", random_state=0).fit(Xs, ys, Xt)
    rows, before = len(model.history), model.predict_proba(Xt)
    model.save_params(f_params=tmp_path / "params.pt")
    with pytest.raises(ValueError, match="do not fit this DANNClassifier's network"):
        model.load_params(checkpoint=dict(other.callbacks_)["Checkpoint"])
    assert len(model.history) == rows
    with pytest.raises(ValueError, match="the optimizer state loaded into optimizer_ does not fit"):
        model.load_params(f_params=tmp_path / "params.pt", f_optimizer=tmp_path / "narrow_optimizer.pt")
    np.testing.assert_array_equal(model.predict_proba(Xt), before)
    model.partial_fit(Xs, ys, Xt)


def test_an_nll_loss_subclass_that_takes_logits_is_accepted(small_task):
    class LogitNLL(torch.nn.NLLLoss):
        def forward(self, logits, target):
            return super().forward(torch.log_softmax(logits, dim=1), target)

    Xs, ys, Xt, _ = small_task
    make("dann", random_state=0, criterion=LogitNLL).fit(Xs, ys, Xt)


@pytest.mark.parametrize("monitor,split,advice", [
    ("valid_los", True, "did you mean 'valid_loss'"), ("val_loss", True, "did you mean 'valid_loss'"),
    ("vaild_loss", True, "did you mean 'valid_loss'"), ("val_accuracy", True, "did you mean 'valid_accuracy'"),
    ("valid_domain_loss", True, "did you mean 'valid_loss'"),  # a valid_ name, not DANN's train_domain_loss
    ("valid_accuracy_best", True, "skda records valid_accuracy but not its best.*PassthroughScoring"),
    # without a split the advice is the split, not a train_* value of the same spelling
    ("val_loss", False, "validation values such as 'valid_loss' are recorded only with a source validation split: "
                        "pass train_split"),
    ("valid_accuracy_best", False, "validation values such as 'valid_accuracy' are recorded only with a source"),
    # a name of the user's own, read before the callback that records it: the order, not the split
    ("my_score", False, "a value a callback of yours records must be recorded by a callback listed before"),
])
def test_a_monitor_no_epoch_records_is_named_at_the_first_epoch_s_end(small_task, monitor, split, advice):
    """A misspelling, Keras's val_loss, or a value the method records only in training (DANN's domain loss has no
    target rows in validation): named with the recorded values when the first epoch ends (a bare KeyError before),
    the advice of the same kind as the name written."""
    Xs, ys, Xt, _ = small_task
    model = make("dann", callbacks=[EarlyStopping(monitor=monitor)], **(SPLIT if split else {}))
    with pytest.raises(ValueError, match=f"monitors '{monitor}', which DANNClassifier did not record in epoch 1 "
                                         f"\\(recorded: \\[.*\\]\\): {advice}"):
        model.fit(Xs, ys, Xt)
    assert not model.__sklearn_is_fitted__()


def test_a_misspelt_checkpoint_monitor_is_named_and_a_user_s_own_key_error_passes(small_task, tmp_path):
    """Checkpoint wraps the history's KeyError in its own exception: named too (it said "make sure you have
    validation data" beside a split); a KeyError of a user's callback that is not a history lookup of a monitor
    passes unchanged (it was replaced by a message about a monitor a later callback would have recorded)."""
    from skorch.callbacks import Callback

    class Buggy(Callback):
        def on_epoch_end(self, net, **kwargs):
            raise KeyError("user_bug")

    class Records(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("my_score", 0.5)

    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match="monitors 'valid_los_best', which DANNClassifier did not record in epoch 1 "
                                         ".recorded: .*did you mean 'valid_loss_best'"):
        make("dann", callbacks=[Checkpoint(monitor="valid_los_best", dirname=str(tmp_path))], **SPLIT).fit(Xs, ys, Xt)
    with pytest.raises(KeyError, match="user_bug"):
        make("dann", callbacks=[Buggy(), Records(), EarlyStopping(monitor="my_score")]).fit(Xs, ys, Xt)


def test_a_missing_monitor_is_named_for_lr_scheduler_and_names_with_quotes(small_task):
    """skorch's LRScheduler chains the history's KeyError in a ValueError advising a Scoring callback (which skda
    refuses); a name with a quote is written by repr in skorch's message: both are named like any other."""
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    Xs, ys, Xt, _ = small_task
    plateau = LRScheduler(ReduceLROnPlateau, monitor="val_loss")
    with pytest.raises(ValueError, match="monitors 'val_loss', which DANNClassifier did not record in epoch 1"):
        make("dann", callbacks=[plateau], callbacks__lr_annealing=None, **SPLIT).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="monitors \"it's_loss\", which DANNClassifier did not record"):
        make("dann", callbacks=[EarlyStopping(monitor="it's_loss")]).fit(Xs, ys, Xt)


def test_values_a_user_callback_records_may_have_any_name(small_task):
    """Names close to the split's (valid_target_accuracy, tgt_valid_loss, val_loss) recorded by a callback of the
    user's are monitored (they were refused before training as near misses)."""
    from skorch.callbacks import Callback

    class TargetHoldOut(Callback):
        def on_epoch_end(self, net, **kwargs):
            for key in ("valid_target_accuracy", "tgt_valid_loss", "val_loss"):
                net.history.record(key, 0.5)

    Xs, ys, Xt, _ = small_task
    for monitor in ("valid_target_accuracy", "tgt_valid_loss", "val_loss"):
        make("dann", random_state=0, callbacks=[TargetHoldOut(), EarlyStopping(monitor=monitor, patience=50)]
             ).fit(Xs, ys, Xt)


def test_a_callback_that_refuses_its_own_values_back_does_not_hide_the_error(small_task):
    """Putting back the callbacks after a refused set_params: one callback failing there neither replaces the real
    error nor stops the others from being put back."""
    from skorch.callbacks import Callback

    class Picky(Callback):
        def __init__(self, k=1):
            self.k = k

        def set_params(self, **params):
            if params.get("k") == 1 and self.k != 1:
                raise RuntimeError("Picky refuses k=1")
            return super().set_params(**params)

    Xs, ys, Xt, _ = small_task
    stopping = EarlyStopping(monitor="train_loss", patience=3)
    model = make("dann", random_state=0, callbacks=[("picky", Picky()), ("es", stopping)]).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="callback nope which does not exist"):  # skorch's error, not Picky's
        model.set_params(callbacks__picky__k=2, callbacks__es__patience=7, callbacks__nope__x=1)
    assert stopping.patience == 3
