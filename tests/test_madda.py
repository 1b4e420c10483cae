import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier
from skorch.callbacks import Callback

import skda
from skda.neighbors import knn_vote

from .registry import make, params

#: the registry's tiny M-ADDA, trained longer (3 + 3 epochs) with a wider discriminator and a faster Adam
FAST_MADDA = params("madda", source_epochs=3, max_epochs=3, lr=1e-3, discriminator_hidden_sizes=(16,))


@pytest.fixture(scope="module")
def fitted(small_task):
    Xs, ys, Xt, _ = small_task
    return skda.MADDAClassifier(random_state=0, **FAST_MADDA).fit(Xs, ys, Xt)


def test_shapes_and_vote_shares(fitted, small_task):
    _, _, Xt, _ = small_task
    proba = fitted.predict_proba(Xt)
    assert proba.shape == (len(Xt), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(proba * fitted.n_neighbors)) <= {0.0, 1.0, 2.0}  # shares of k = 2 votes
    assert fitted.transform(Xt).shape == (len(Xt), 8)
    assert fitted.centers_.shape == (3, 8)
    assert fitted.source_embeddings_.shape == (120, 8)


def test_predict_equals_sklearn_knn_on_the_same_embeddings(fitted, small_task):
    Xs, ys, Xt, _ = small_task
    for k in (1, 2, 5):
        fitted.set_params(n_neighbors=k)
        knn = KNeighborsClassifier(n_neighbors=k).fit(fitted.source_embeddings_, fitted.source_labels_)
        np.testing.assert_array_equal(fitted.predict(Xt), fitted.classes_[knn.predict(fitted.transform(Xt))])
        proba = fitted.predict_proba(Xt)
        assert proba.dtype == np.float64 and fitted.predict_log_proba(Xt).dtype == np.float64  # as the others'
        np.testing.assert_array_equal(proba, knn.predict_proba(fitted.transform(Xt)))  # shares k_c / k exactly
    fitted.set_params(n_neighbors=2)


def test_knn_vote_is_chunked_and_exact():
    rng = np.random.RandomState(0)
    keys, queries = rng.randn(300, 4).astype(np.float32), rng.randn(50, 4).astype(np.float32)
    labels = rng.randint(0, 4, size=300)
    import skda.neighbors as nb

    old, nb.MAX_BLOCK_CELLS = nb.MAX_BLOCK_CELLS, 300 * 7  # force 8 blocks of 7 queries
    try:
        got = knn_vote(torch.tensor(queries), torch.tensor(keys), torch.tensor(labels), 3, 4).numpy()
    finally:
        nb.MAX_BLOCK_CELLS = old
    expected = KNeighborsClassifier(n_neighbors=3).fit(keys, labels).predict_proba(queries)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    with pytest.raises(ValueError, match="n_neighbors"):
        knn_vote(torch.tensor(queries), torch.tensor(keys), torch.tensor(labels), 0, 4)
    # points far from the origin: the neighbours of the exact (float64) Euclidean distances
    keys, queries = keys + 1000, queries[:, :].astype(np.float64) + 1000
    got = knn_vote(torch.tensor(queries, dtype=torch.float32), torch.tensor(keys), torch.tensor(labels), 1, 4)
    expected = KNeighborsClassifier(n_neighbors=1).fit(keys.astype(np.float64), labels).predict(
        queries.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(got.argmax(1).numpy(), expected)


def test_stage_two_leaves_the_source_model_unchanged(small_task):
    Xs, ys, Xt, _ = small_task

    class Snapshot(skda.MADDAClassifier):
        def fit_loop(self, X, y=None, epochs=None, **kw):
            original = self.module_.start_target_stage

            def start():
                self.snapshot_ = {k: v.clone() for k, v in self.module_.state_dict().items()
                                  if k.startswith("source_")}
                original()

            self.module_.start_target_stage = start
            return super().fit_loop(X, y, epochs, **kw)

    clf = Snapshot(random_state=0, **FAST_MADDA).fit(Xs, ys, Xt)
    after = clf.module_.state_dict()
    assert clf.snapshot_
    for name, value in clf.snapshot_.items():
        assert torch.equal(value, after[name]), name
    # ...while the target model did move away from its initial copy of the source model
    assert not torch.equal(after["target_encoder.0.weight"], after["source_encoder.0.weight"])


@pytest.mark.parametrize("adversarial,center_magnet", [(True, False), (False, True), (False, False)])
def test_ablation_switches(small_task, adversarial, center_magnet):
    Xs, ys, Xt, _ = small_task
    clf = skda.MADDAClassifier(random_state=0, adversarial=adversarial, center_magnet=center_magnet,
                               **FAST_MADDA).fit(Xs, ys, Xt)
    last = clf.history[-1]
    assert (last["train_adversarial_loss"] > 0) == adversarial
    assert (last["train_center_loss"] > 0) == center_magnet
    if not (adversarial or center_magnet):  # nothing to train in stage 2: target model == source model
        sd = clf.module_.state_dict()
        assert torch.equal(sd["target_encoder.0.weight"], sd["source_encoder.0.weight"])


def test_n_neighbors_larger_than_source_raises(small_task):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match="n_neighbors=500"):
        skda.MADDAClassifier(n_neighbors=500, **FAST_MADDA).fit(Xs, ys, Xt)


def test_same_seed_same_predictions_packed_and_pickle(small_task):
    import pickle

    Xs, ys, Xt, _ = small_task
    # bit-identical results are promised on CPU only (on CUDA, atomic adds in backward are not reproducible)
    cpu = {**FAST_MADDA, "device": "cpu"}
    a = skda.MADDAClassifier(random_state=1, **cpu).fit(Xs, ys, Xt)
    b = skda.MADDAClassifier(random_state=1, **cpu).fit(np.vstack([Xs, Xt]), np.r_[ys, -np.ones(len(Xt), int)])
    np.testing.assert_array_equal(a.transform(Xt), b.transform(Xt))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(a)).predict_proba(Xt), a.predict_proba(Xt))


@pytest.mark.parametrize("where,width", [("features", 16), ("embedding", 8)])
def test_discriminator_input(small_task, where, width):
    Xs, ys, Xt, _ = small_task
    clf = skda.MADDAClassifier(random_state=0, discriminator_input=where, **{**FAST_MADDA, "max_epochs": 1})
    clf.fit(Xs, ys, Xt)
    assert clf.module_.discriminator[0].in_features == width
    with pytest.raises(ValueError, match="discriminator_input"):
        skda.MADDAClassifier(discriminator_input="logits", **FAST_MADDA).fit(Xs, ys, Xt)


def test_target_model_learning_rate_is_scaled(fitted, small_task):
    """Two time scales: the target model learns at lr * target_lr_scale, the discriminator and the source
    model at lr; a non-positive scale is refused."""
    lr = FAST_MADDA["lr"]
    assert fitted.optimizer_.param_groups[0]["lr"] == pytest.approx(lr)
    assert fitted.discriminator_optimizer_.param_groups[0]["lr"] == pytest.approx(lr)
    assert fitted.target_optimizer_.param_groups[0]["lr"] == pytest.approx(lr * 0.2)
    Xs, ys, Xt, _ = small_task
    clf = skda.MADDAClassifier(random_state=0, target_lr_scale=1.0, **{**FAST_MADDA, "max_epochs": 1}).fit(Xs, ys, Xt)
    assert clf.target_optimizer_.param_groups[0]["lr"] == pytest.approx(lr)
    with pytest.raises(ValueError, match=r"'target_lr_scale' parameter of MADDAClassifier .* \(0.0, inf\)\. Got 0 "):
        skda.MADDAClassifier(target_lr_scale=0, **FAST_MADDA).fit(Xs, ys, Xt)


def test_target_class_shares_and_collapse_warning(fitted, small_task):
    """fit records the share of training target rows per predicted class; one class taking them all (the
    target stage's mode collapse, here forced by a target set of identical rows) raises a ConvergenceWarning."""
    import copy

    from sklearn.exceptions import ConvergenceWarning

    _, _, Xt, _ = small_task
    shares = fitted.target_class_shares_
    assert shares.shape == (3,)
    np.testing.assert_allclose(shares.sum(), 1.0)
    np.testing.assert_allclose(shares, np.bincount(np.searchsorted(fitted.classes_, fitted.predict(Xt)),
                                                    minlength=3) / len(Xt))
    assert shares.max() < 0.99  # this fit did not collapse
    clf = copy.deepcopy(fitted)
    same = torch.as_tensor(np.repeat(Xt[:1], 40, axis=0))
    with pytest.warns(ConvergenceWarning, match=r"100% of the 40 training target samples are predicted as class"):
        clf._check_target_collapse(same)
    np.testing.assert_array_equal(np.sort(clf.target_class_shares_), [0.0, 0.0, 1.0])


def test_source_stage_one_forward_backward_per_step(small_task, monkeypatch):
    """skorch steps every registered optimiser with its closure (three here); the source stage steps only the
    source optimiser, so each step computes the triplet loss and notifies on_grad_computed once."""
    from skorch.callbacks import Callback

    class GradCount(Callback):
        calls = 0

        def on_grad_computed(self, net, named_parameters, **kwargs):
            type(self).calls += 1

    Xs, ys, Xt, _ = small_task
    calls = []
    get_loss = skda.MADDAClassifier.get_loss
    monkeypatch.setattr(skda.MADDAClassifier, "get_loss",
                        lambda self, *a, **k: calls.append(1) or get_loss(self, *a, **k))
    est = skda.MADDAClassifier(random_state=0, **{**FAST_MADDA, "source_epochs": 2, "max_epochs": 0},
                               callbacks=[("grads", GradCount())])
    est.fit(Xs, ys, Xt)
    steps = 2 * est.n_steps_per_epoch_
    assert len(calls) == steps and GradCount.calls == steps
    assert all(s["step"] == steps for s in est.optimizer_.state.values())
    assert not est.target_optimizer_.state and not est.discriminator_optimizer_.state
def test_madda_refuses_source_rows_without_every_class(small_task):
    Xs, ys, Xt, _ = small_task
    clf = make("madda", random_state=0, device="cpu").fit(Xs, ys, Xt)
    before = clf.source_labels_.copy()
    with pytest.raises(ValueError, match=r"no sample of the classes \[2\], which could then never be predicted"):
        clf.partial_fit(Xs[ys < 2], ys[ys < 2], Xt)
    np.testing.assert_array_equal(clf.source_labels_, before)


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
        clf = make("madda", random_state=0, device="cpu", callbacks=[("stop", StopAtEpoch(epoch))], max_epochs=3)
        clf.fit(Xs, ys, Xt)
        assert len(clf.history) == epoch
        assert clf.module_.stage == "target"
        assert clf.source_embeddings_.shape == (len(Xs), 8) and clf.centers_.shape == (3, 8)
        assert clf.predict(Xt).shape == (len(Xt),)


class PickleInSourceStage(Callback):
    """Pickles the net at the end of its first source-stage epoch (what Checkpoint(f_pickle=...) would write)."""

    blob = None

    def on_epoch_end(self, net, **kwargs):
        if net.module_.stage == "source" and self.blob is None:
            import pickle

            self.blob = pickle.dumps(net)


def test_a_refit_in_its_source_stage_has_no_index_of_the_previous_fit(small_task):
    """A callback that pickles (or predicts with) the model during the source stage of a refit on more classes
    found the previous fit's kNN index and centres: class 2 could never be predicted. It now gets a ValueError
    that says the index is built when the source stage ends; the finished fit indexes every class."""
    import pickle

    Xs, ys, Xt, _ = small_task
    two = ys < 2
    snapshot = PickleInSourceStage()
    clf = make("madda", random_state=0, device="cpu").fit(Xs[two], ys[two], Xt)
    assert set(clf.source_labels_) == {0, 1}
    clf.set_params(callbacks=[("snapshot", snapshot)]).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="has no kNN index yet: it is built when the source stage ends"):
        pickle.loads(snapshot.blob).predict_proba(Xt)
    assert set(clf.source_labels_) == {0, 1, 2} and clf.predict_proba(Xt).shape == (len(Xt), 3)


class FailAtFirstBatch(Callback):
    def __init__(self, armed=False):
        self.armed = armed

    def on_batch_begin(self, net, training=None, **kwargs):
        if self.armed and training:
            raise RuntimeError("refused before the first step")


def test_a_partial_fit_refused_before_its_first_step_keeps_the_knn_index(small_task):
    """The weights did not move, so the model stays as it was: its kNN index of the earlier source rows too (the
    call's source rows replaced it, and the predictions changed)."""
    Xs, ys, Xt, _ = small_task
    clf = make("madda", random_state=0, callbacks=[("fail", FailAtFirstBatch())]).fit(Xs, ys, Xt)
    before = clf.predict_proba(Xt)
    clf.set_params(callbacks__fail__armed=True)
    rows = np.r_[0:3, 40:43, 80:83]
    with pytest.raises(RuntimeError, match="refused before the first step"):
        clf.partial_fit(Xs[rows], ys[rows], Xt, epochs=1)
    assert len(clf.source_embeddings_) == len(Xs)
    np.testing.assert_array_equal(clf.predict_proba(Xt), before)


@pytest.mark.parametrize("k", [2.5, True, 0])
def test_madda_checks_n_neighbors_before_training(small_task, k):
    Xs, ys, Xt, _ = small_task
    clf = skda.MADDAClassifier(n_neighbors=k, max_epochs=1, source_epochs=1)
    with pytest.raises(ValueError, match=r"'n_neighbors' parameter of MADDAClassifier must be an int in the range \[1"):
        clf.fit(Xs, ys, Xt)
    assert not clf.__sklearn_is_fitted__()


def _labelled(yt, share=0.2):
    known = np.sort(np.random.RandomState(0).choice(len(yt), int(share * len(yt)), replace=False))
    labels = np.full(len(yt), -1)
    labels[known] = yt[known]
    return labels, known


def test_labelled_target_rows_are_indexed_by_the_target_model(small_task):
    """The kNN index holds the source rows' source-model embeddings and the labelled target rows' target-model
    embeddings (the model that embeds the queries), appended after the source rows."""
    Xs, ys, Xt, yt = small_task
    labels, known = _labelled(yt)
    clf = skda.MADDAClassifier(random_state=0, **FAST_MADDA).fit(Xs, ys, Xt, labels)
    assert clf.source_embeddings_.shape == (len(Xs) + len(known), 8)
    np.testing.assert_allclose(clf.source_embeddings_[len(Xs):], clf.transform(Xt[known]), atol=1e-5)
    np.testing.assert_array_equal(clf.source_labels_[len(Xs):], yt[known])
    source_model = clf.module_.embed_source(torch.as_tensor(Xs)).detach().numpy()
    np.testing.assert_allclose(clf.source_embeddings_[:len(Xs)], source_model, atol=1e-5)
    # so a labelled target row is its own nearest neighbour
    clf.set_params(n_neighbors=1)
    np.testing.assert_array_equal(clf.predict(Xt[known]), yt[known])


def test_train_split_holds_out_source_rows_and_indexes_every_labelled_target_row(small_task):
    """With ``train_split`` the kNN index holds the source rows that trained (source model) and every labelled
    target row (never held out; target model)."""
    from skorch.dataset import ValidSplit
    Xs, ys, Xt, yt = small_task
    labels, known = _labelled(yt, 0.4)
    clf = skda.MADDAClassifier(random_state=0, train_split=ValidSplit(0.25, stratified=True), **FAST_MADDA)
    clf.fit(Xs, ys, Xt, labels)
    pooled = np.concatenate([Xs, Xt[known]])
    kept = clf.train_indices_
    is_target = kept >= len(Xs)
    assert is_target.sum() == len(known) and len(kept) == len(Xs) - len(clf.valid_indices_) + len(known)
    np.testing.assert_allclose(clf.source_embeddings_[is_target], clf.transform(pooled[kept[is_target]]), atol=1e-5)
    source_model = clf.module_.embed_source(torch.as_tensor(pooled[kept[~is_target]])).detach().numpy()
    np.testing.assert_allclose(clf.source_embeddings_[~is_target], source_model, atol=1e-5)


def test_labelled_target_rows_join_every_triplet_batch(small_task, monkeypatch):
    """In the source stage each triplet batch is the source batch plus the labelled target rows (all of them here:
    fewer than ``batch_size``); without labelled rows it is the source batch alone."""
    import skda.madda
    Xs, ys, Xt, yt = small_task
    labels, known = _labelled(yt)
    sizes = []
    real = skda.madda.batch_triplet_loss

    def spy(embeddings, y, margin, generator=None):
        sizes.append((len(y), y.clone()))
        return real(embeddings, y, margin, generator=generator)

    monkeypatch.setattr(skda.madda, "batch_triplet_loss", spy)
    skda.MADDAClassifier(random_state=0, **FAST_MADDA).fit(Xs, ys, Xt)
    batch_size = FAST_MADDA["batch_size"]
    assert sizes and max(n for n, _ in sizes) == batch_size
    sizes.clear()
    skda.MADDAClassifier(random_state=0, **FAST_MADDA).fit(Xs, ys, Xt, labels)
    assert sizes and len(known) < batch_size
    assert max(n for n, _ in sizes) == batch_size + len(known)
    expected = sorted(np.searchsorted([0, 1, 2], yt[known]).tolist())
    assert all(n > len(known) and sorted(y[-len(known):].tolist()) == expected for n, y in sizes)


def test_target_step_takes_its_labelled_rows_from_the_batch(small_task, monkeypatch):
    """With more labelled target rows than ``batch_size``, every target step pulls ``batch_size`` distinct labelled
    target rows (of their own labels; a fresh draw each step) to their centers, and the discriminator's source
    half is the source batch without them."""
    import skda.madda
    Xs, ys, Xt, yt = small_task
    labels, known = _labelled(yt, 0.5)  # 45 labelled rows
    clf = skda.MADDAClassifier(random_state=0, **{**FAST_MADDA, "batch_size": 16})
    pulled, source_halves = [], []
    real_loss, real_input = skda.madda.labelled_center_loss, skda.madda.MADDANetwork.source_adversarial_input

    def spy_loss(embeddings, centers, y):
        with torch.no_grad():
            everyone = clf.module_.embed_target(torch.as_tensor(Xt[known]))
        match = torch.cdist(embeddings.detach(), everyone).argmin(1)  # which labelled row each embedding is
        assert torch.allclose(embeddings.detach(), everyone[match], atol=1e-5)
        assert torch.equal(y, torch.as_tensor(yt[known][match.numpy()]))
        pulled.append(tuple(match.tolist()))
        return real_loss(embeddings, centers, y)

    def spy_input(net, x):
        source_halves.append(len(x))
        return real_input(net, x)

    monkeypatch.setattr(skda.madda, "labelled_center_loss", spy_loss)
    monkeypatch.setattr(skda.madda.MADDANetwork, "source_adversarial_input", spy_input)
    clf.fit(Xs, ys, Xt, labels)
    assert pulled and all(len(p) == len(set(p)) == 16 for p in pulled)
    assert len(set(pulled)) > 1
    assert max(source_halves) == 16


def test_labelled_target_rows_are_pulled_to_their_class_center(small_task, monkeypatch):
    """The target step adds Eq. 4 with the known class's center for the labelled target rows."""
    import skda.madda
    Xs, ys, Xt, yt = small_task
    labels, known = _labelled(yt)
    calls = []
    real = skda.madda.labelled_center_loss

    def spy(embeddings, centers, y):
        calls.append(y.clone())
        return real(embeddings, centers, y)

    monkeypatch.setattr(skda.madda, "labelled_center_loss", spy)
    skda.MADDAClassifier(random_state=0, **FAST_MADDA).fit(Xs, ys, Xt)
    assert calls == []
    skda.MADDAClassifier(random_state=0, **FAST_MADDA).fit(Xs, ys, Xt, labels)
    assert calls and all(sorted(c.tolist()) == sorted(np.searchsorted([0, 1, 2], yt[known]).tolist()) for c in calls)
    calls.clear()
    skda.MADDAClassifier(random_state=0, center_magnet=False, **FAST_MADDA).fit(Xs, ys, Xt, labels)
    assert calls == []
