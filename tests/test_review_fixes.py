"""Defects found by two reviews (2026-11-23), each pinned by a test that failed before its fix.

Code review: labels and markers that numpy converts, column names, partial_fit's ``classes``, warm starts, a
learning rate changed between fits, M-ADDA's kNN index, in-place modules and the caller's arrays, unsorted
``classes`` in the scorers' metrics. Docs-vs-code review: ``skda.callbacks`` / ``skda.plotting`` as the guide
writes them, the progress display's epoch count, epoch validation, plots of a Pipeline, the data-folder message."""

import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from torch import nn

import skda
from skda.metrics import density_ratio, importance_weighted_validation
from skda.model_selection import pack_domains
from skda.validation import unlabeled_mask

from .conftest import FAST

MADDA_FAST = dict(source_epochs=2, max_epochs=2, batch_size=32, module__hidden_sizes=(16,), embedding_dim=8,
                  discriminator_hidden_sizes=(16,))


def dann(**kw):
    return skda.DANNClassifier(random_state=0, device="cpu", **{**FAST, **kw})


# ------------------------------------------------------------------ labels and the unlabelled marker
@pytest.mark.parametrize("build", [
    lambda ys, n: np.r_[ys, -np.ones(n, dtype=int)],          # numpy turns -1 into "-1"
    lambda ys, n: np.array(list(ys) + [-1] * n),
    lambda ys, n: np.r_[ys, -np.ones(n)],                    # "-1.0"
])
def test_a_marker_turned_into_text_by_numpy_raises_instead_of_becoming_a_class(small_task, build):
    Xs, ys, Xt, _ = small_task
    y = build(np.array(["cat", "dog", "emu"])[ys], len(Xt))
    assert y.dtype.kind == "U"
    X = np.vstack([Xs, Xt])
    for est in (dann(), skda.SourceOnlyClassifier(random_state=0, device="cpu", max_epochs=1)):
        with pytest.raises(ValueError, match="numpy turns -1 into the text"):
            est.fit(X, y)
    # the documented ways out: pack_domains keeps the number; a marker spelled as in y; marker None
    Xp, yp = pack_domains(Xs, np.array(["cat", "dog", "emu"])[ys], Xt)
    assert dann(max_epochs=1).fit(Xp, yp).classes_.tolist() == ["cat", "dog", "emu"]
    marker = str(y[-1])
    assert unlabeled_mask(y, marker).sum() == len(Xt)
    assert not unlabeled_mask(y, None).any()


def test_string_labels_without_a_spelled_marker_are_untouched():
    assert not unlabeled_mask(np.array(["a", "-2"]), -1).any()
    assert unlabeled_mask(np.array(["a", -1], dtype=object), -1).tolist() == [False, True]


@pytest.mark.parametrize("ys,marker,dtype_kind", [
    (np.array([0, 1, 0]), -1, "i"),
    (np.array([0.0, 1.0, 0.0]), -1, "f"),
    (np.array([True, False, True]), -1, "O"),        # was: -1 cast to True
    (np.array([0, 1, 0], dtype=np.uint8), -1, "O"),  # was: OverflowError
    (np.array([0, 1, 0]), 0.5, "O"),                 # was: 0.5 cast to class 0
    (np.array([0, 1, 0]), None, "O"),                # was: TypeError
    (np.array(["a", "b", "a"]), -1, "O"),
])
def test_pack_domains_never_converts_the_marker(ys, marker, dtype_kind):
    X, y = pack_domains(np.zeros((3, 2)), ys, np.ones((2, 2)), unlabeled_marker=marker)
    assert y.dtype.kind == dtype_kind
    assert list(y[:3]) == list(ys)
    assert all((v is None) if marker is None else (v == marker and type(v) is not bool) for v in y[3:])
    if marker is not None:
        assert unlabeled_mask(y, marker).tolist() == [False] * 3 + [True] * 2


def test_bool_labels_packed_with_the_default_marker_fit_and_score(small_task):
    Xs, ys, Xt, yt = small_task
    keep, keep_t = ys < 2, yt < 2
    X, y = pack_domains(Xs[keep], ys[keep] == 1, Xt[keep_t])
    clf = dann().fit(X, y)
    assert clf.classes_.tolist() == [False, True]
    assert clf.predict(Xt[:4]).dtype == bool
    assert 0.0 <= clf.score(X, y) <= 1.0
    assert clf.score(X, y) == pytest.approx(np.mean(clf.predict(Xs[keep]) == (ys[keep] == 1)))


def test_active_selector_refuses_nan_as_an_unknown_target_label(small_task):
    Xs, ys, Xt, _ = small_task
    yt = np.full(len(Xt), np.nan)
    yt[:3] = [0, 1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's own cast of NaN while checking
        with pytest.raises(ValueError, match=r"yt: .*NaN.*unlabelled marker -1"):
            skda.ActiveSelector(max_epochs=1, device="cpu").fit(Xs, ys, Xt, yt)
    yt_list = ["cat"] + [-1] * (len(Xt) - 1)  # np.asarray makes the -1 entries "-1"
    with pytest.raises(ValueError, match="numpy turns -1 into the text"):
        skda.ActiveSelector(max_epochs=1, device="cpu").fit(Xs, np.array(["cat", "dog", "emu"])[ys], Xt, yt_list)


# ------------------------------------------------------------------ column names
def test_dataframe_column_names_are_recorded_and_checked(small_task):
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, _ = small_task
    cols = [f"f{i}" for i in range(Xs.shape[1])]
    dfs, dft = pd.DataFrame(Xs, columns=cols), pd.DataFrame(Xt, columns=cols)
    clf = dann().fit(dfs, ys, dft)
    assert clf.feature_names_in_.tolist() == cols
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(dft[cols[::-1]])  # reordered columns: an error, not silently permuted features
    with pytest.raises(ValueError, match="feature names should match"):
        clf.transform(dft.rename(columns={"f0": "z"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = clf.predict(Xt)
    np.testing.assert_array_equal(clf.predict(dft), from_array)
    with pytest.raises(ValueError, match="feature names should match"):
        dann().fit(dfs, ys, dft.rename(columns={"f0": "z"}))  # the target's columns must be the source's
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # score passes the DataFrame (names) down to predict: no warning
        assert clf.score(dft, clf.predict(dft)) == 1.0
    assert not hasattr(dann().fit(Xs, ys, Xt), "feature_names_in_")


# ------------------------------------------------------------------ partial_fit and warm_start
def test_partial_fit_honours_classes_on_the_first_call(small_task):
    Xs, ys, Xt, _ = small_task
    first = ys < 2
    clf = dann().partial_fit(Xs[first], ys[first], Xt, classes=[0, 1, 2])
    assert clf.classes_.tolist() == [0, 1, 2]
    assert clf.predict_proba(Xt).shape == (len(Xt), 3)
    clf.partial_fit(Xs, ys, Xt)  # class 2 arrives: accepted
    with pytest.raises(ValueError, match="differs from the classes of the first fit"):
        clf.partial_fit(Xs, ys, Xt, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"declare every class with partial_fit\(..., classes=...\)"):
        dann().partial_fit(Xs[first], ys[first], Xt).partial_fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match=r"the labels \[2\] are not among classes=\[0, 1\]"):
        dann().partial_fit(Xs, ys, Xt, classes=[0, 1])


def test_class_balanced_sampler_names_a_missing_class_even_the_last_one(small_task):
    Xs, ys, Xt, _ = small_task
    labels = np.array(["cat", "dog", "emu"])[ys]
    first = ys < 2  # "emu", the last class, is missing: bincount alone would not notice
    ilada = skda.ILADAClassifier(random_state=0, device="cpu", **FAST)
    with pytest.raises(ValueError, match=r"classes \['emu'\] have no sample"):
        ilada.partial_fit(Xs[first], labels[first], Xt, classes=["cat", "dog", "emu"])


@pytest.mark.parametrize("change", ["classes", "features"])
def test_warm_start_refuses_another_problem_before_changing_anything(small_task, change):
    Xs, ys, Xt, _ = small_task
    clf = dann(warm_start=True).fit(Xs[ys < 2], ys[ys < 2], Xt)
    before = (clf.classes_.copy(), clf.input_shape_, clf.n_features_in_, clf.predict_proba(Xt).copy())
    args = (Xs, ys, Xt) if change == "classes" else (Xs[ys < 2][:, :5], ys[ys < 2], Xt[:, :5])
    with pytest.raises(ValueError, match="warm_start=True keeps the fitted network"):
        clf.fit(*args)
    np.testing.assert_array_equal(clf.classes_, before[0])
    assert (clf.input_shape_, clf.n_features_in_) == before[1:3]
    np.testing.assert_array_equal(clf.predict_proba(Xt), before[3])
    clf.fit(Xs[ys < 2], ys[ys < 2], Xt)  # the same problem: continues from the current weights


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
    clf = dann(callbacks=[("record", recorder)], warm_start=how == "warm_start").fit(Xs, ys, Xt)
    assert recorder.lrs[0] == pytest.approx(0.01)
    clf.set_params(lr=0.5)
    recorder.lrs.clear()
    clf.partial_fit(Xs, ys, Xt) if how == "partial_fit" else clf.fit(Xs, ys, Xt)
    assert recorder.lrs[0] == pytest.approx(0.5)  # was 0.01: the first fit's rate stuck
    assert recorder.lrs[-1] < recorder.lrs[0]      # annealed from there
    recorder.lrs.clear()
    clf.partial_fit(Xs, ys, Xt)  # no change: the schedule restarts from 0.5 again
    assert recorder.lrs[0] == pytest.approx(0.5)


# ------------------------------------------------------------------ M-ADDA's kNN index
def test_madda_refuses_source_rows_without_every_class(small_task):
    Xs, ys, Xt, _ = small_task
    clf = skda.MADDAClassifier(random_state=0, device="cpu", **MADDA_FAST).fit(Xs, ys, Xt)
    before = clf.source_labels_.copy()
    with pytest.raises(ValueError, match=r"no sample of the classes \[2\], which could then never be predicted"):
        clf.partial_fit(Xs[ys < 2], ys[ys < 2], Xt)
    np.testing.assert_array_equal(clf.source_labels_, before)


# ------------------------------------------------------------------ the caller's arrays
class InPlaceReLUFirst(nn.Module):
    def __init__(self, n_features_in=8, hidden_sizes=(16,)):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(n_features_in, hidden_sizes[0]), nn.ReLU())

    def forward(self, x):
        return self.net(x)


def test_a_module_with_an_in_place_first_operation_leaves_the_caller_s_arrays_alone(small_task):
    Xs, ys, Xt, _ = small_task
    Xs, Xt = np.ascontiguousarray(Xs, dtype=np.float32), np.ascontiguousarray(Xt, dtype=np.float32)
    xs_copy, xt_copy = Xs.copy(), Xt.copy()
    assert (Xt < 0).any()
    clf = dann(module=InPlaceReLUFirst).fit(Xs, ys, Xt)  # fit ends with a prediction on Xt (collapse check)
    clf.predict(Xt)
    clf.transform(Xs)
    np.testing.assert_array_equal(Xs, xs_copy)
    np.testing.assert_array_equal(Xt, xt_copy)


def test_importance_weighted_validation_with_classes_in_column_order_not_sorted():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    y = np.array(["b", "a", "a"])  # column 0 is "b", column 1 is "a"
    got = importance_weighted_validation(y, probabilities, np.ones(3), classes=np.array(["b", "a"]))
    assert got == pytest.approx(np.mean([True, True, False]))
    same = importance_weighted_validation(np.array([0, 1, 1]), probabilities, np.ones(3))
    assert got == pytest.approx(same)


def test_collapse_warning_names_the_class_as_the_user_wrote_it_and_points_at_the_user_s_call(small_task):
    from sklearn.exceptions import ConvergenceWarning

    Xs, ys, Xt, _ = small_task
    labels = np.array(["cat", "dog", "emu"])[ys]
    same = np.repeat(Xt[:1], 20, axis=0)
    for est in (skda.DANNClassifier(random_state=0, device="cpu", **FAST),
                skda.MADDAClassifier(random_state=0, device="cpu", **MADDA_FAST)):
        with pytest.warns(ConvergenceWarning, match="predicted as class '(cat|dog|emu)'") as record:
            est.fit(Xs, labels, same)
        with pytest.warns(ConvergenceWarning) as record_partial:
            est.partial_fit(Xs, labels, same)
        assert {w.filename for w in [*record, *record_partial] if w.category is ConvergenceWarning} == {__file__}


# ------------------------------------------------------------------ second review (docs vs code)
class FakeTerminal:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_skda_exposes_callbacks_and_plotting_as_the_user_guide_writes_them():
    import subprocess
    import sys

    code = "import skda; skda.callbacks.TrainingProgress(); print(skda.plotting.plot_training_curves.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "plot_training_curves"


def test_training_progress_counts_the_epochs_partial_fit_runs_and_ends_an_early_stopped_fit(small_task):
    import io

    from skorch.callbacks import EarlyStopping
    from skorch.dataset import ValidSplit

    from skda.callbacks import TrainingProgress

    Xs, ys, Xt, _ = small_task
    buf = io.StringIO()
    clf = dann(max_epochs=20, callbacks=[("progress", TrainingProgress(label="p", stream=buf, every=10))])
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
        stopper = dann(max_epochs=200, lr=0.0, train_split=ValidSplit(0.25, stratified=True, random_state=0),
                       callbacks=[EarlyStopping(patience=2), TrainingProgress(label="e", stream=stream, every=50)])
        stopper.fit(Xs, ys, Xt)
        n_run = len(stopper.history)
        assert n_run < 200
        text = stream.getvalue() if isinstance(stream, io.StringIO) else stream.text
        assert text.endswith("\n") and f"epoch {n_run}/200" in text


@pytest.mark.parametrize("params,fit_params,match", [
    ({"max_epochs": -1}, {},
     r"'max_epochs' parameter of DANNClassifier must be an int in the range \[0, inf\)\. Got -1 "),
    ({"max_epochs": 2.5}, {},
     r"'max_epochs' parameter of DANNClassifier must be an int in the range \[0, inf\)\. Got 2.5"),
    ({}, {"epochs": -2}, "epochs must be an integer >= 0, got -2"),
])
def test_negative_or_fractional_epochs_raise(small_task, params, fit_params, match):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=match):
        dann(**params).fit(Xs, ys, Xt, **fit_params)
    with pytest.raises(ValueError, match=r"'source_epochs' parameter of MADDAClassifier must be an int in"):
        skda.MADDAClassifier(**{**MADDA_FAST, "source_epochs": -1}).fit(Xs, ys, Xt)


def test_demo_refuses_zero_epochs(capsys):
    from skda.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "--epochs must be >= 1, got 0" in capsys.readouterr().err


def test_training_curves_of_a_pipeline_on_a_grid_of_axes(small_task):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skda.plotting import plot_training_curves

    Xs, ys, Xt, _ = small_task
    X, y = pack_domains(Xs, ys, Xt)
    pipe = make_pipeline(StandardScaler(), dann()).fit(X, y)
    fig, grid = plt.subplots(2, 2)
    keys = ["train_label_loss", "train_domain_loss", "train_domain_accuracy", "train_loss"]
    axes = plot_training_curves(pipe, keys=keys, axes=grid)
    assert len(axes) == 4
    np.testing.assert_allclose(axes[3].lines[0].get_ydata(), pipe[-1].history[:, "train_loss"])
    plt.close(fig)


def test_data_folder_message_names_skda_data_and_expands_the_home_directory(tmp_path, monkeypatch):
    from skda.datasets import load_task, resolve_data_home

    monkeypatch.setenv("SKDA_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="comes from the SKDA_DATA environment variable"):
        load_task("mnist->usps")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SKDA_DATA", "~/data")
    assert resolve_data_home() == tmp_path / "data"
    assert resolve_data_home("~/other") == tmp_path / "other"


# ------------------------------------------------------------------ third review (engine and methods)
def test_madda_stopped_early_in_either_stage_is_still_a_usable_model(small_task):
    from skorch.callbacks import Callback

    class StopAtEpoch(Callback):  # what EarlyStopping does: raise KeyboardInterrupt at an epoch's end
        def __init__(self, epoch):
            self.epoch = epoch

        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == self.epoch:
                raise KeyboardInterrupt

    Xs, ys, Xt, _ = small_task
    for epoch in (1, 3):  # in the source stage (2 epochs), in the target stage
        clf = skda.MADDAClassifier(random_state=0, device="cpu", callbacks=[("stop", StopAtEpoch(epoch))],
                                   **{**MADDA_FAST, "max_epochs": 3})
        clf.fit(Xs, ys, Xt)
        assert len(clf.history) == epoch
        assert clf.module_.stage == "target"
        assert clf.source_embeddings_.shape == (len(Xs), 8) and clf.centers_.shape == (3, 8)
        assert clf.predict(Xt).shape == (len(Xt),)


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


def test_train_split_is_drawn_from_random_state_and_kept_across_partial_fit(small_task):
    from skorch.dataset import ValidSplit

    Xs, ys, Xt, _ = small_task

    def fitted():
        return dann(train_split=ValidSplit(0.2, stratified=True)).fit(Xs, ys, Xt)

    before = np.random.get_state()[1].copy()
    a, b = fitted(), fitted()
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # the caller's numpy state is untouched
    np.testing.assert_array_equal(a.valid_indices_, b.valid_indices_)
    np.testing.assert_array_equal(a.predict_proba(Xt), b.predict_proba(Xt))  # same seed, same predictions
    held_out = a.valid_indices_.copy()
    a.partial_fit(Xs, ys, Xt)
    np.testing.assert_array_equal(a.valid_indices_, held_out)  # the held-out rows stay held out


@pytest.mark.parametrize("cls", [skda.DANNClassifier, skda.MLADAClassifier, skda.ILADAClassifier])
def test_without_the_grl_schedule_the_reversal_holds_the_adversarial_weight(small_task, cls):
    Xs, ys, Xt, _ = small_task
    clf = cls(random_state=0, device="cpu", adversarial_weight=0.7, callbacks__grl_schedule=None,
              **{**FAST, "max_epochs": 1}).fit(Xs, ys, Xt)
    assert [layer.coefficient for layer in clf.gradient_reversal_layers_] == [0.7]  # was 0.0: no adaptation


@pytest.mark.parametrize("cls,params,match", [
    (skda.ILADAClassifier, {"n_neighbors": 0}, r"'n_neighbors' parameter of ILADAClassifier must be an int in"),
    (skda.ILADAClassifier, {"base": "nope"}, "'base' parameter of ILADAClassifier must be a str among"),
    (skda.MLADAClassifier, {"margin_mode": "bogus"}, "'margin_mode' parameter of MLADAClassifier must be a str among"),
])
def test_parameters_set_between_calls_are_checked_by_partial_fit(small_task, cls, params, match):
    Xs, ys, Xt, _ = small_task
    clf = cls(random_state=0, device="cpu", **{**FAST, "max_epochs": 1}).fit(Xs, ys, Xt)
    clf.set_params(**params)
    with pytest.raises(ValueError, match=match):
        clf.partial_fit(Xs, ys, Xt)


def test_lenet_takes_channel_less_images():
    net = skda.LeNetFeatureExtractor(n_features_in=256, image_shape=(16, 16))
    images = torch.randn(3, 16, 16)
    np.testing.assert_allclose(net(images).detach().numpy(), net(images.reshape(3, -1)).detach().numpy())
    assert net(images.reshape(3, 1, 16, 16)).shape == net(images).shape


def test_a_first_fit_that_fails_in_training_leaves_the_estimator_unfitted(small_task):
    from sklearn.exceptions import NotFittedError

    Xs, ys, Xt, _ = small_task
    first = ys < 2
    for est in (skda.ILADAClassifier(random_state=0, device="cpu", **FAST),   # class-balanced sampler refuses
                skda.MADDAClassifier(random_state=0, device="cpu", **MADDA_FAST)):  # kNN index would lack a class
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
    a = skda.DANNClassifier(random_state=3, device="cpu", **FAST).fit(Xs, ys, Xt).predict_proba(Xt)
    b = skda.DANNClassifier(random_state=3, device="cpu", **FAST).fit(Xs, ys, Xt).predict_proba(Xt)
    assert calls == []
    np.testing.assert_array_equal(a, b)  # still seeded: same seed, same model
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's CPU stream is untouched


# ---- fourth review: active selection, pack_domains, parameter checks ------------------------------------------
SELECTOR_FAST = dict(max_epochs=3, batch_size=32, module__hidden_sizes=(16,))


def _fitted_selector(small_task, **params):
    Xs, ys, Xt, _ = small_task
    return skda.ActiveSelector(random_state=0, strategy="margin", **SELECTOR_FAST, **params).fit(Xs, ys, Xt)


@pytest.mark.parametrize("bad", ["unseen class", "feature count"])
def test_a_refused_partial_fit_leaves_the_pool_and_labelled_mask_unchanged(small_task, bad):
    Xs, ys, Xt, _ = small_task
    sel = _fitted_selector(small_task)
    before = (sel.pool_.copy(), sel.labeled_mask_.copy(), sel.n_labeled_target_, sel.query(5))
    if bad == "unseen class":
        labels = np.full(len(Xt), -1)
        labels[:20] = 7
        args, match = (Xs, ys, Xt, labels), "not seen"
    else:
        args, match = (Xs[:, :5], ys, Xt[:, :5]), "features"
    with pytest.raises(ValueError, match=match):
        sel.partial_fit(*args, epochs=1)
    np.testing.assert_array_equal(sel.pool_, before[0])
    np.testing.assert_array_equal(sel.labeled_mask_, before[1])
    assert sel.n_labeled_target_ == before[2]
    np.testing.assert_array_equal(sel.query(5), before[3])


def test_object_yt_with_integer_labels_is_understood(small_task):
    Xs, ys, Xt, yt = small_task
    labels = np.full(len(Xt), -1, dtype=object)
    labels[:6] = yt[:6]
    sel = skda.ActiveSelector(random_state=0, strategy="margin", **SELECTOR_FAST).fit(Xs, ys, Xt, labels)
    assert sel.n_labeled_target_ == 6
    accuracies = skda.active_learning_loop(
        skda.ActiveSelector(random_state=0, strategy="margin", unlabeled_marker="?", **SELECTOR_FAST), Xs, ys, Xt, yt,
        rounds=2, budget=3, round_epochs=1)
    assert accuracies.shape == (3,)


def test_text_target_labels_with_numeric_source_labels_raise_clearly(small_task):
    Xs, ys, Xt, yt = small_task
    labels = np.full(len(Xt), -1, dtype=object)
    labels[:3] = ["0", "1", "2"]
    with pytest.raises(ValueError, match="spelled as the source labels"):
        skda.ActiveSelector(**SELECTOR_FAST).fit(Xs, ys, Xt, labels)


@pytest.mark.parametrize("rounds, budget, n_target, match", [(2, 0, 90, "positive"), (5, 6, 20, "5 rounds of 6"),
                                                             (1, 1.5, 90, "fraction")])
def test_active_learning_loop_checks_the_budget_before_training(small_task, monkeypatch, rounds, budget, n_target,
                                                                match):
    Xs, ys, Xt, yt = small_task
    sel = skda.ActiveSelector(random_state=0, **SELECTOR_FAST)
    monkeypatch.setattr(type(sel), "fit", lambda *a, **k: pytest.fail("trained before checking the budget"))
    with pytest.raises(ValueError, match=match):
        skda.active_learning_loop(sel, Xs, ys, Xt[:n_target], yt[:n_target], rounds=rounds, budget=budget)


@pytest.mark.parametrize("params, match", [({"margin": 0.0}, "margin"), ({"margin": float("nan")}, "margin"),
                                           ({"margin": -1}, "margin"), ({"gradient_weight": float("nan")},
                                                                        "gradient_weight")])
def test_active_selector_checks_its_hyper_parameters(small_task, params, match):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=match):
        skda.ActiveSelector(strategy="sdm-ag", **SELECTOR_FAST, **params).fit(Xs, ys, Xt)


@pytest.mark.parametrize("k", [2.5, True, 0])
def test_madda_checks_n_neighbors_before_training(small_task, k):
    Xs, ys, Xt, _ = small_task
    clf = skda.MADDAClassifier(n_neighbors=k, max_epochs=1, source_epochs=1)
    with pytest.raises(ValueError, match=r"'n_neighbors' parameter of MADDAClassifier must be an int in the range \[1"):
        clf.fit(Xs, ys, Xt)
    assert not clf.__sklearn_is_fitted__()


def test_pack_domains_aligns_dataframe_columns_by_name():
    pd = pytest.importorskip("pandas")
    Xs = pd.DataFrame({"age": [30, 40, 50], "income": [1e3, 2e3, 3e3]})
    Xt = pd.DataFrame({"income": [4e3, 5e3], "age": [60, 70]})
    X, y = pack_domains(Xs, [0, 1, 0], Xt)
    assert list(X.columns) == ["age", "income"]
    np.testing.assert_array_equal(X.to_numpy()[3:], [[60, 4e3], [70, 5e3]])
    np.testing.assert_array_equal(y, [0, 1, 0, -1, -1])
    with pytest.raises(ValueError, match="different columns"):
        pack_domains(Xs, [0, 1, 0], Xt.rename(columns={"age": "Age"}))


def test_pack_domains_refuses_a_source_label_equal_to_the_marker_and_takes_column_labels():
    with pytest.raises(ValueError, match="contains the unlabelled marker -1"):
        pack_domains(np.zeros((3, 1)), np.array([0, -1, 1]), np.zeros((2, 1)))
    np.testing.assert_array_equal(pack_domains(np.zeros((3, 1)), np.array([[0], [2], [1]]), np.zeros((2, 1)))[1],
                                  [0, 2, 1, -1, -1])


@pytest.mark.parametrize("cv", [2.9, 1, True])
def test_density_ratio_takes_an_int_number_of_folds(cv):
    rng = np.random.RandomState(0)
    with pytest.raises(ValueError, match="cv must be an int >= 2"):
        density_ratio(rng.randn(20, 3), rng.randn(20, 3) + 1, cv=cv)


def test_active_learning_loop_refuses_a_marker_that_marks_nothing(small_task):
    Xs, ys, Xt, yt = small_task
    with pytest.raises(ValueError, match="None marks none"):
        skda.active_learning_loop(skda.ActiveSelector(unlabeled_marker=None, **SELECTOR_FAST), Xs, ys, Xt, yt)


def test_domain_stratified_kfold_refuses_nan_source_labels():
    y = np.r_[np.repeat([0.0, 1.0], 4), np.nan, np.full(6, -1.0)]
    X = np.zeros((len(y), 2))
    with pytest.raises(ValueError, match="not class labels.*not NaN"):
        list(skda.model_selection.DomainStratifiedKFold(n_splits=2).split(X, y))


def test_snd_temperature_must_be_a_number_not_a_bool():
    from skda.metrics import soft_neighborhood_density

    with pytest.raises(ValueError, match="temperature must be a positive number"):
        soft_neighborhood_density(np.full((4, 2), 0.5), temperature=True)
