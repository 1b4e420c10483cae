"""skorch callbacks from skda estimators: a source validation split, EarlyStopping, Checkpoint, LRScheduler."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Checkpoint, EarlyStopping, LRScheduler
from skorch.dataset import ValidSplit
from torch.optim.lr_scheduler import StepLR

import skda
from skda.callbacks import TrainingProgress

from .conftest import FAST

SPLIT = dict(train_split=ValidSplit(0.25, stratified=True, random_state=0))


@pytest.mark.parametrize("cls,extra", [(skda.DANNClassifier, {}), (skda.ILADAClassifier, {}),
                                       (skda.MLADAClassifier, {"metric_hidden": 8, "metric_dim": 4}),
                                       (skda.SourceOnlyClassifier, {})])
def test_source_validation_split_is_scored_every_epoch(small_task, cls, extra):
    Xs, ys, Xt, _ = small_task
    params = {k: v for k, v in FAST.items() if cls is not skda.SourceOnlyClassifier or k != "domain_hidden_sizes"}
    clf = cls(random_state=0, **params, **extra, **SPLIT).fit(Xs, ys, Xt)
    assert len(clf.valid_indices_) == 30 and len(clf.train_indices_) == 90  # 25% of the 120 source rows
    assert not set(clf.valid_indices_) & set(clf.train_indices_)
    # stratified: every class in both parts
    assert set(ys[clf.valid_indices_]) == set(ys[clf.train_indices_]) == {0, 1, 2}
    losses = clf.history[:, "valid_loss"]
    assert len(losses) == FAST["max_epochs"] and np.all(np.isfinite(losses))
    acc = clf.history[-1, "valid_accuracy"]
    # the recorded accuracy is the accuracy of the final model on the held-out source rows
    assert acc == pytest.approx(clf.score(Xs[clf.valid_indices_], ys[clf.valid_indices_]), abs=1e-6)


def test_madda_validation_split(small_task):
    Xs, ys, Xt, _ = small_task
    clf = skda.MADDAClassifier(random_state=0, source_epochs=2, max_epochs=2, batch_size=32, embedding_dim=8,
                               discriminator_hidden_sizes=(8,), module__hidden_sizes=(16,), **SPLIT).fit(Xs, ys, Xt)
    assert len(clf.history) == 4 and np.all(np.isfinite(clf.history[:, "valid_loss"]))
    assert len(clf.source_embeddings_) == 90  # kNN keys: the training part of the source only


def test_early_stopping_stops_the_fit(small_task):
    Xs, ys, Xt, _ = small_task
    # an improvement threshold no epoch can reach: stops after patience + 1 epochs
    stop = EarlyStopping(monitor="valid_loss", patience=2, threshold=100.0, threshold_mode="abs")
    clf = skda.DANNClassifier(random_state=0, **{**FAST, "max_epochs": 20}, **SPLIT, callbacks=[stop])
    clf.fit(Xs, ys, Xt)
    assert len(clf.history) == 3
    assert clf.predict(Xt).shape == (len(Xt),)  # a usable estimator after the interruption


def test_checkpoint_saves_the_best_model(small_task, tmp_path):
    Xs, ys, Xt, _ = small_task
    ckpt = Checkpoint(monitor="valid_loss_best", dirname=str(tmp_path), f_optimizer=None, f_criterion=None)
    clf = skda.DANNClassifier(random_state=0, **FAST, **SPLIT, callbacks=[ckpt]).fit(Xs, ys, Xt)
    assert (tmp_path / "params.pt").exists() and (tmp_path / "history.json").exists()
    best_epoch = int(np.argmin(clf.history[:, "valid_loss"])) + 1
    assert clf.history[best_epoch - 1, "event_cp"] is True
    saved = torch.load(tmp_path / "params.pt")
    restored = skda.DANNClassifier(random_state=1, **FAST, **SPLIT)
    restored.fit(Xs, ys, Xt)  # same architecture, other weights; then load the checkpoint
    restored.load_params(checkpoint=ckpt)
    for name, value in restored.module_.state_dict().items():
        torch.testing.assert_close(value, saved[name])


def test_lr_scheduler_replaces_the_default_annealing(small_task):
    Xs, ys, Xt, _ = small_task
    sched = LRScheduler(policy=StepLR, step_size=1, gamma=0.5)
    clf = skda.DANNClassifier(random_state=0, **FAST, lr=0.08, callbacks=[sched], callbacks__lr_annealing=None)
    clf.fit(Xs, ys, Xt)
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.08 * 0.5 ** FAST["max_epochs"])


def test_bad_train_split(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(TypeError, match="train_split must return"):
        skda.DANNClassifier(**FAST, train_split=lambda ds, y: ds).fit(Xs, ys, Xt)


def test_verbose_prints_the_epoch_table_and_progress(small_task, capsys):
    Xs, ys, Xt, _ = small_task
    skda.DANNClassifier(random_state=0, verbose=1, **FAST).fit(Xs, ys, Xt)
    out = capsys.readouterr().out
    assert "train_loss" in out and out.count("\n") >= FAST["max_epochs"]
    skda.DANNClassifier(random_state=0, **FAST, callbacks=[TrainingProgress(label="dann", every=1)]).fit(Xs, ys, Xt)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("dann")]
    assert len(lines) == FAST["max_epochs"] and lines[-1].split("epoch ")[1].startswith("3/3")


def test_keyboard_interrupt_leaves_a_usable_estimator(small_task):
    from skorch.callbacks import Callback

    class InterruptAtEpoch2(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt

    Xs, ys, Xt, _ = small_task
    clf = skda.DANNClassifier(random_state=0, **{**FAST, "max_epochs": 10}, callbacks=[InterruptAtEpoch2()])
    clf.fit(Xs, ys, Xt)  # skorch catches the interrupt and ends training cleanly
    assert len(clf.history) == 2
    assert clf.predict_proba(Xt).shape == (len(Xt), 3) and np.isfinite(clf.predict_proba(Xt)).all()
    assert clf.training_run_ is None  # the training-only state was cleaned up
