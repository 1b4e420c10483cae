"""Active domain adaptation (SDM, Xie et al. 2022): losses and scores against numpy / autograd, the selector's
query contract, budgets, the active loop."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch import nn

import skda
import skda.optim
from skda.active import (BATCH_QUERIES, CLUE_ITERATIONS, STRATEGIES, badge_gradient_factors, badge_select, clue_select,
                         entropy_query_score, gradient_consistency, least_confidence_query_score,
                         margin_loss_logit_gradient, margin_query_score, sdm_g_query_score)
from skda.losses import adjusted_margin_loss, margin_loss

from .registry import make

RNG = np.random.RandomState(0)
LOGITS = RNG.randn(6, 4) * 2.0
LABELS = np.array([0, 3, 1, 1, 2, 0])


def _np_scores(logits, normalize):
    return logits / np.linalg.norm(logits, axis=1, keepdims=True) if normalize else logits


def _np_softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------- losses
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_margin_loss_eq1_matches_numpy(normalize, margin):
    z = _np_scores(LOGITS, normalize)
    expected = np.array([sum(max(0.0, margin - z[n, y] + z[n, i]) for i in range(4) if i != y)
                         for n, y in enumerate(LABELS)])
    got = margin_loss(torch.tensor(LOGITS), torch.tensor(LABELS), margin, normalize, reduction="none").numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert margin_loss(torch.tensor(LOGITS), torch.tensor(LABELS), margin, normalize).item() == pytest.approx(
        expected.mean())
    assert expected.min() < expected.max() and (expected > 0).any()  # the input exercises active and idle hinges


@pytest.mark.parametrize("normalize", [True, False])
def test_adjusted_margin_loss_eq7_matches_direct_computation(normalize):
    margin = 1.0
    z = _np_scores(LOGITS, normalize)
    expected = []
    for n, y in enumerate(LABELS):
        total = 0.0
        for i in range(4):
            if i != y:
                alpha = 1.0 - (z[n, y] - z[n, i]) / margin
                total += alpha * max(0.0, margin - z[n, y] + z[n, i])
        expected.append(total - z[n, y])
    got = adjusted_margin_loss(torch.tensor(LOGITS), torch.tensor(LABELS), margin, normalize, reduction="none")
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)
    # the modulation is really there (the released code drops it): Eq. 7 != Eq. 1 - z_y
    unmodulated = margin_loss(torch.tensor(LOGITS), torch.tensor(LABELS), margin, normalize, reduction="none").numpy()
    assert not np.allclose(got.numpy(), unmodulated - z[np.arange(6), LABELS])


def test_adjusted_margin_loss_gradient_is_that_of_the_formula():
    logits = torch.tensor(LOGITS, requires_grad=True)
    adjusted_margin_loss(logits, torch.tensor(LABELS), 1.0, normalize=False, reduction="sum").backward()
    # d/dz_i of (m - z_y + z_i)^2 / m on an active hinge is 2 h_i / m; d/dz_y = -sum_i 2 h_i / m - 1
    h = np.maximum(0.0, 1.0 - LOGITS[np.arange(6), LABELS][:, None] + LOGITS)
    h[np.arange(6), LABELS] = 0.0
    expected = 2 * h
    expected[np.arange(6), LABELS] = -2 * h.sum(axis=1) - 1.0
    np.testing.assert_allclose(logits.grad.numpy(), expected, atol=1e-12)


def test_loss_reduction_is_checked():
    with pytest.raises(ValueError, match="reduction"):
        margin_loss(torch.tensor(LOGITS), torch.tensor(LABELS), reduction="avg")


# ---------------------------------------------------------------------------------------------- query scores
def test_query_scores_match_numpy():
    p = _np_softmax(LOGITS)
    top = np.sort(p, axis=1)[:, ::-1]
    np.testing.assert_allclose(margin_query_score(torch.tensor(p)).numpy(), 1.0 - (top[:, 0] - top[:, 1]))
    np.testing.assert_allclose(entropy_query_score(torch.tensor(p)).numpy(), -(p * np.log(p)).sum(axis=1))
    np.testing.assert_allclose(least_confidence_query_score(torch.tensor(p)).numpy(), 1.0 - p.max(axis=1))
    one_hot = torch.eye(3, dtype=torch.float64)
    np.testing.assert_allclose(entropy_query_score(one_hot).numpy(), 0.0)  # 0 log 0 = 0
    np.testing.assert_allclose(margin_query_score(one_hot).numpy(), 0.0)


@pytest.mark.parametrize("normalize", [True, False])
def test_margin_loss_logit_gradient_matches_autograd(normalize):
    logits = torch.tensor(LOGITS, requires_grad=True)
    margin_loss(logits, torch.tensor(LABELS), 1.0, normalize, reduction="sum").backward()
    got = margin_loss_logit_gradient(torch.tensor(LOGITS), torch.tensor(LABELS), 1.0, normalize)
    np.testing.assert_allclose(got.numpy(), logits.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("normalize", [True, False])
def test_sdm_g_gradient_term_matches_autograd_on_a_tiny_network(normalize):
    """Eq. 8-9 by brute force: autograd through the last layer of a tiny network, w.r.t. its input f."""
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(5, 7), nn.ReLU()).double()
    head = nn.Linear(7, 4).double()
    x = torch.randn(9, 5, dtype=torch.float64)
    f = body(x).detach().requires_grad_(True)
    z = head(f)
    p = torch.softmax(z, dim=1)
    top_p, top_i = p.topk(2, dim=1)
    q = 1.0 - (top_p[:, 0] - top_p[:, 1])
    (grad_q,) = torch.autograd.grad(q.sum(), f, retain_graph=True)
    (grad_l1,) = torch.autograd.grad(margin_loss(z, top_i[:, 0], 1.0, normalize, "sum"), f, retain_graph=True)
    (grad_l2,) = torch.autograd.grad(margin_loss(z, top_i[:, 1], 1.0, normalize, "sum"), f, retain_graph=True)
    grad_l = top_p[:, :1].detach() * grad_l1 + top_p[:, 1:].detach() * grad_l2  # Eq. 9
    expected = torch.nn.functional.cosine_similarity(grad_l, grad_q, dim=1)
    assert (grad_l.norm(dim=1) > 0).all()  # no degenerate row: the comparison is meaningful
    got = gradient_consistency(z.detach(), head.weight.detach(), 1.0, normalize)
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), atol=1e-10)
    assert got.min() < 0 < got.max() or got.std() > 0.01  # not a constant
    full = sdm_g_query_score(z.detach(), head.weight.detach(), 0.01, 1.0, normalize)
    np.testing.assert_allclose(full.numpy(), (q + 0.01 * expected).detach().numpy(), atol=1e-10)


def test_gradient_consistency_is_zero_for_a_zero_gradient():
    # margin saturated for both candidate labels is impossible, but a zero weight matrix kills every gradient
    got = gradient_consistency(torch.tensor(LOGITS), torch.zeros(4, 3, dtype=torch.float64))
    np.testing.assert_array_equal(got.numpy(), 0.0)


# ---------------------------------------------------------------------------------------------- the selector
@pytest.fixture(scope="module")
def fitted(small_task):
    """SDM-AG fitted with 10 of the 90 target samples labelled."""
    Xs, ys, Xt, yt = small_task
    known = np.full(len(Xt), -1)
    labelled = np.arange(0, 90, 9)
    known[labelled] = yt[labelled]
    return make("active", random_state=0).fit(Xs, ys, Xt, known), labelled


def test_fit_puts_labelled_target_rows_in_the_training_set(small_task, fitted):
    Xs, ys, Xt, yt = small_task
    sel, labelled = fitted
    assert sel.n_labeled_target_ == 10
    np.testing.assert_array_equal(np.flatnonzero(sel.labeled_mask_), labelled)
    assert sel.history[-1]["train_batch_count"] == -(-(len(Xs) + 10) // 32)  # one epoch = 130 labelled rows
    assert sel.pool_.dtype == np.float32 and sel.pool_.shape == Xt.shape and not np.shares_memory(sel.pool_, Xt)
    source_only = make("active", random_state=0).fit(Xs, ys, Xt)
    assert source_only.n_labeled_target_ == 0
    assert source_only.history[-1]["train_batch_count"] == -(-len(Xs) // 32)


def test_cross_entropy_warm_up_is_the_source_only_baseline(small_task):
    """No labelled target sample + a CE strategy: the engine trains exactly as SourceOnlyClassifier (an epoch is
    one pass over the larger of the labelled set and the pool)."""
    Xs, ys, Xt, _ = small_task
    sel = make("active", strategy="margin", random_state=4).fit(Xs[::3], ys[::3], Xt)
    ref = make("source-only", random_state=4).fit(Xs[::3], ys[::3], Xt)
    assert sel.history[-1]["train_batch_count"] == -(-len(Xt) // 32)  # the pool (90) is the larger set
    np.testing.assert_array_equal(sel.predict_proba(Xt), ref.predict_proba(Xt))


def test_predict_predict_proba_score(small_task, fitted):
    _, _, Xt, yt = small_task
    sel, _ = fitted
    assert sel.predict(Xt).shape == (len(Xt),) and list(sel.classes_) == [0, 1, 2]
    proba = sel.predict_proba(Xt)
    assert proba.shape == (len(Xt), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert 0.0 <= sel.score(Xt, yt) <= 1.0


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_query_returns_unlabelled_distinct_indices_most_informative_first(small_task, fitted, strategy):
    sel, labelled = fitted
    sel = pickle.loads(pickle.dumps(sel)).set_params(strategy=strategy)
    idx, scores = sel.query(30, return_scores=True)
    assert idx.shape == (30,) and scores.shape == (30,) and idx.dtype.kind == "i"
    assert len(np.unique(idx)) == 30
    assert not np.isin(idx, labelled).any()
    batch = STRATEGIES[strategy][1] in BATCH_QUERIES  # CLUE / BADGE: selection order, not score order
    assert batch or np.all(np.diff(scores) <= 0)
    every = sel.query(80)  # the whole unlabelled pool
    assert sorted(every) == sorted(set(range(90)) - set(labelled))
    if strategy != "random":
        all_scores = sel.informativeness(sel.pool_)
        np.testing.assert_allclose(scores, all_scores[idx], rtol=1e-6)
    if strategy != "random" and not batch:
        unlabelled = np.setdiff1d(np.arange(90), labelled)
        assert scores[-1] >= np.sort(all_scores[unlabelled])[::-1][29] - 1e-7


def test_query_scores_are_eq3_on_the_model_probabilities(small_task, fitted):
    sel, _ = fitted
    sel = pickle.loads(pickle.dumps(sel)).set_params(strategy="sdm-a")
    idx, scores = sel.query(5, return_scores=True)
    p = sel.predict_proba(sel.pool_[idx]).astype(np.float64)
    top = np.sort(p, axis=1)[:, ::-1]
    np.testing.assert_allclose(scores, 1.0 - (top[:, 0] - top[:, 1]), atol=1e-6)


def test_query_changes_nothing(fitted):
    sel, _ = fitted
    pool, mask = sel.pool_.copy(), sel.labeled_mask_.copy()
    state = {k: v.clone() for k, v in sel.module_.state_dict().items()}
    n_history = len(sel.history)
    first = sel.query(7, return_scores=True)
    second = sel.query(7, return_scores=True)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(sel.pool_, pool)
    np.testing.assert_array_equal(sel.labeled_mask_, mask)
    assert len(sel.history) == n_history
    assert all(torch.equal(state[k], v) for k, v in sel.module_.state_dict().items())


def test_random_strategy_is_reproducible_and_seeded(small_task):
    Xs, ys, Xt, _ = small_task
    a = make("active", strategy="random", random_state=1, max_epochs=1).fit(Xs, ys, Xt)
    b = make("active", strategy="random", random_state=1, max_epochs=1).fit(Xs, ys, Xt)
    c = make("active", strategy="random", random_state=2, max_epochs=1).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(a.query(10), b.query(10))
    assert not np.array_equal(a.query(10), c.query(10))


def test_budget_as_count_or_fraction_of_the_whole_target_set(fitted):
    sel, _ = fitted
    assert len(sel.query(0.1)) == 9  # 10% of the 90 target samples (labelled ones count in the total)
    assert len(sel.query(np.float32(0.5))) == 45
    assert len(sel.query(np.int64(3))) == 3
    assert len(sel.query(0.001)) == 1  # at least one
    assert len(sel.query(80)) == 80


@pytest.mark.parametrize("budget,error,match", [
    (81, ValueError, "asks for 81 samples but only 80 of the 90 target samples are unlabelled"),
    (1.0, ValueError, "asks for 90 samples but only 80"),
    (0, ValueError, "budget must be positive, got 0"),
    (-3, ValueError, "budget must be positive, got -3"),
    (0.0, ValueError, r"must be in \(0, 1\], got 0.0"),
    (-0.2, ValueError, r"must be in \(0, 1\], got -0.2"),
    (1.5, ValueError, r"fraction of the whole target set \(90 samples\) and must be in \(0, 1\], got 1.5"),
    (float("nan"), ValueError, r"must be in \(0, 1\]"),
    (True, TypeError, "budget must be an int count or a float fraction"),
    ("10", TypeError, "budget must be an int count or a float fraction"),
    (None, TypeError, "budget must be an int count or a float fraction"),
])
def test_bad_budgets_raise_clear_errors(fitted, budget, error, match):
    sel, _ = fitted
    with pytest.raises(error, match=match):
        sel.query(budget)


def test_input_errors(small_task):
    Xs, ys, Xt, yt = small_task
    with pytest.raises(ValueError, match="unknown strategy 'sdm-x'"):
        make("active", strategy="sdm-x").fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="yt has 89 labels but the target data Xt has 90 rows"):
        make("active").fit(Xs, ys, Xt, yt[:89])
    with pytest.raises(ValueError, match="needs the target pool"):
        make("active").fit(Xs, ys)
    with pytest.raises(ValueError, match="X_target has sample shape"):
        make("active").fit(Xs, ys, Xt[:, :5])
    with pytest.raises(NotFittedError, match="not fitted"):
        skda.ActiveSelector().query(3)
    sel = make("active", max_epochs=1, random_state=0).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        sel.set_params(strategy="nope").query(3)


def test_packed_form_float_labels_and_user_arrays_untouched(small_task):
    Xs, ys, Xt, yt = small_task
    known = np.full(len(Xt), -1.0)  # a float yt with integer labels
    known[:6] = yt[:6]
    copies = [a.copy() for a in (Xs, ys, Xt, known)]
    sel = make("active", random_state=0).fit(Xs, ys, Xt, known)
    assert sel.classes_.dtype.kind == "i" and sel.n_labeled_target_ == 6
    sel.query(4), sel.predict(Xt), sel.score(Xt, yt)
    for a, b in zip((Xs, ys, Xt, known), copies):
        np.testing.assert_array_equal(a, b)
    packed = make("active", random_state=0).fit(np.vstack([Xs, Xt]),
                                                            np.concatenate([ys, np.full(len(Xt), -1)]))
    np.testing.assert_array_equal(packed.pool_, Xt)
    assert packed.n_labeled_target_ == 0


@pytest.mark.parametrize("strategy,term", [("margin", None), ("sdm", margin_loss), ("sdm-ag", adjusted_margin_loss)])
def test_training_loss_follows_the_strategy(small_task, strategy, term):
    Xs, ys, Xt, _ = small_task
    sel = make("active", strategy=strategy, random_state=0, max_epochs=1).fit(Xs, ys, Xt)
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 1, 2, 2, 1])
    expected = nn.functional.cross_entropy(logits, labels)
    if term is not None:
        expected = expected + term(logits, labels, 1.0, True)
    got = sel.get_loss({"source_logits": logits}, labels)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    assert ("train_margin_loss" in sel.history[-1]) == (term is not None)


def test_params_clone_and_partial_fit(small_task):
    Xs, ys, Xt, yt = small_task
    sel = make("active", strategy="sdm-g", margin=0.5, gradient_weight=0.1, random_state=0)
    params = clone(sel).get_params()
    assert params["strategy"] == "sdm-g" and params["margin"] == 0.5 and params["gradient_weight"] == 0.1
    known = np.full(len(Xt), -1)
    sel.partial_fit(Xs, ys, Xt, known)  # not fitted: fits
    n_epochs = len(sel.history)
    known[:20] = yt[:20]
    sel.partial_fit(Xs, ys, Xt, known, epochs=2)
    assert len(sel.history) == n_epochs + 2 and sel.n_labeled_target_ == 20
    assert not np.isin(sel.query(10), np.arange(20)).any()


# ---------------------------------------------------------------------------------------------- protocol
def test_active_learning_loop(small_task):
    Xs, ys, Xt, yt = small_task
    sel = make("active", strategy="sdm-ag", random_state=0)
    acc = skda.active_learning_loop(sel, Xs, ys, Xt, yt, rounds=3, budget=0.05, round_epochs=1)
    assert acc.shape == (4,) and np.all((0 <= acc) & (acc <= 1))
    assert sel.n_labeled_target_ == 3 * 5  # 5% of 90 = 4.5 -> 5 per round
    assert acc[-1] == pytest.approx(sel.score(Xt, yt))
    # the same protocol from a copy of a fitted warm-up model, without refitting
    warm = make("active", strategy="margin", random_state=0).fit(Xs, ys, Xt)
    acc2 = skda.active_learning_loop(pickle.loads(pickle.dumps(warm)), Xs, ys, Xt, yt, rounds=2, budget=4,
                                     fit_initial=False)
    assert acc2.shape == (3,) and acc2[0] == pytest.approx(warm.score(Xt, yt))


def test_active_learning_loop_buys_new_labels_beside_those_known_before(small_task):
    """With ``fit_initial=False`` the rows labelled in ``yt_initial`` are known labels the selector was not
    fitted with: the rounds buy other rows."""
    Xs, ys, Xt, yt = small_task
    warm = make("active", strategy="entropy", random_state=0).fit(Xs, ys, Xt)
    known = warm.query(5)
    yt_initial = np.full(len(Xt), -1)
    yt_initial[known] = yt[known]
    skda.active_learning_loop(warm, Xs, ys, Xt, yt, rounds=2, budget=5, round_epochs=1, yt_initial=yt_initial,
                              fit_initial=False)
    assert warm.n_labeled_target_ == 15 and warm.labeled_mask_[known].all()


def test_active_learning_loop_checks_yt_initial_as_fit_checks_yt(small_task):
    Xs, ys, Xt, yt = small_task
    nan_unknown = np.full(len(Xt), np.nan)
    nan_unknown[:3] = yt[:3]
    with pytest.raises(ValueError, match=r"yt has 87 missing labels \(NaN, None or pd.NA; the first at row 3\)"):
        skda.active_learning_loop(make("active"), Xs, ys, Xt, yt, rounds=0, yt_initial=nan_unknown)
    text = np.array(["a", "b", "c"])
    other_marker = np.full(len(Xt), "?")
    other_marker[:3] = text[yt[:3]]
    with pytest.raises(ValueError, match="yt holds text labels but the source labels are numeric"):
        skda.active_learning_loop(make("active"), Xs, ys, Xt, yt, rounds=0, yt_initial=other_marker)


def test_an_interrupted_round_stops_the_loop(small_task, monkeypatch):
    """Ctrl-C during a round (skorch's partial_fit ends quietly): the loop stops with an error that keeps the
    finished rounds, instead of recording the cut round and going on."""
    Xs, ys, Xt, yt = small_task
    calls = {"n": 0}
    original = skda.ActiveSelector.run_single_epoch

    def interrupt_in_round_2(self, *args, **kwargs):
        if kwargs.get("prefix") == "train" and self.__dict__.get("labeled_mask_") is not None \
                and self.labeled_mask_.sum() == 10:
            calls["n"] += 1
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(skda.ActiveSelector, "run_single_epoch", interrupt_in_round_2)
    selector = make("active", random_state=0)
    with pytest.raises(skda.ActiveLearningRoundError, match="round 2 of 3 failed .KeyboardInterrupt") as info:
        skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=3, budget=5, round_epochs=2)
    assert calls["n"] == 1 and info.value.round == 2 and info.value.accuracies.shape == (2,)


def test_active_learning_loop_errors(small_task):
    Xs, ys, Xt, yt = small_task
    sel = make("active")
    with pytest.raises(ValueError, match="must label every target sample"):
        skda.active_learning_loop(sel, Xs, ys, Xt, yt[:10])
    with pytest.raises(ValueError, match="contain the unlabelled marker -1"):
        skda.active_learning_loop(sel, Xs, ys, Xt, np.where(yt == 0, -1, yt))
    with pytest.raises(ValueError, match="rounds must be an int >= 0"):
        skda.active_learning_loop(sel, Xs, ys, Xt, yt, rounds=-1)
    with pytest.raises(ValueError, match="fit_initial=False needs a selector already fitted"):
        skda.active_learning_loop(sel, Xs, ys, Xt, yt, fit_initial=False)
    fitted = make("active").fit(Xs, ys, Xt[::-1])  # the same rows in another order: other rows would be bought
    with pytest.raises(ValueError, match="fit_initial=False needs a selector already fitted on this target pool "
                                         r"\(the same rows in the same order"):
        skda.active_learning_loop(fitted, Xs, ys, Xt, yt, fit_initial=False)
    with pytest.raises(TypeError, match="selector must be an ActiveSelector"):
        skda.active_learning_loop(skda.SourceOnlyClassifier(), Xs, ys, Xt, yt)
    with pytest.raises(ValueError, match="2 rounds of 54 queries need 108 unlabelled target samples; only 90"):
        skda.active_learning_loop(sel, Xs, ys, Xt, yt, rounds=2, budget=0.6, round_epochs=1)


def test_active_learning_loop_with_a_class_the_source_lacks(small_task):
    """The oracle may reveal a class the source lacks: declared with classes=, the loop learns it; undeclared,
    the failing round raises an error that keeps the finished rounds and says what to pass."""
    Xs, ys, Xt, yt = small_task
    src = ys < 2  # the source lacks class 2; the target holds it
    sel = make("active", strategy="margin", random_state=0)
    acc = skda.active_learning_loop(sel, Xs[src], ys[src], Xt, yt, rounds=3, budget=0.1, round_epochs=1,
                                    classes=[0, 1, 2])
    assert acc.shape == (4,) and sel.classes_.tolist() == [0, 1, 2]

    # undeclared: 27 random queries among 90 rows, 30 of class 2, reveal it in round 1
    order = np.arange(len(yt))
    sel = make("active", strategy="random", random_state=0)
    with pytest.raises(skda.ActiveLearningRoundError, match=r"round 1 of 3 failed.*revealed classes \[2\].*"
                                                            "classes=<every class>") as info:
        skda.active_learning_loop(sel, Xs[src], ys[src], Xt[order], yt[order], rounds=3, budget=0.3,
                                  round_epochs=1)
    error = info.value
    assert error.round == 1 and error.accuracies.shape == (1,)  # the initial fit's accuracy is kept
    assert error.accuracies[0] == pytest.approx(sel.score(Xt[order], yt[order]))
    assert (error.labels == -1).all() and isinstance(error.__cause__, ValueError)


def test_active_learning_loop_keeps_finished_rounds_when_a_later_round_fails(small_task, monkeypatch):
    Xs, ys, Xt, yt = small_task
    sel = make("active", strategy="margin", random_state=0)
    calls = {"n": 0}
    original = skda.ActiveSelector.partial_fit

    def fail_in_round_3(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise MemoryError("simulated")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(skda.ActiveSelector, "partial_fit", fail_in_round_3)
    with pytest.raises(skda.ActiveLearningRoundError, match="round 3 of 5 failed .MemoryError: simulated") as info:
        skda.active_learning_loop(sel, Xs, ys, Xt, yt, rounds=5, budget=5, round_epochs=1)
    assert info.value.accuracies.shape == (3,)  # initial fit + rounds 1 and 2
    assert (info.value.labels != -1).sum() == 10 == sel.n_labeled_target_  # labels of the 2 finished rounds


@pytest.mark.slow
def test_sdm_ag_two_rounds_beat_source_only_on_real_office_caltech():
    """dslr->webcam SURF (157 source, 295 target rows), the benchmark's Office configuration (MLP 256-256, 50
    warm-up epochs, rounds of 2% with 2 epochs each; source-only with the active protocol's SGD 0.01), seed 0: two
    rounds (12 target labels) lift SDM-AG well above the no-query source-only model (benchmark: about +0.10). A
    few seconds on CPU."""
    from skda.datasets import load_task

    Xs, ys, Xt, yt = load_task("dslr->webcam")
    office = {"module__hidden_sizes": (256, 256)}  # benchmarks/config.py's FORMER_MLP
    source_only = skda.SourceOnlyClassifier(max_epochs=50, optimizer=skda.optim.MomentumSGD, lr=0.01, random_state=0,
                                            **office).fit(Xs, ys, Xt).score(Xt, yt)
    sel = skda.ActiveSelector(strategy="sdm-ag", max_epochs=50, random_state=0, **office)
    acc = skda.active_learning_loop(sel, Xs, ys, Xt, yt, rounds=2, budget=0.02, round_epochs=2)
    assert sel.n_labeled_target_ == 12
    assert acc[-1] >= source_only + 0.04, (acc, source_only)


# ---------------------------------------------------------------------------------------------- CLUE and BADGE
def _np_clue(x, w, count, uniforms, iterations):
    """CLUE written plainly: weighted sampling init, Lloyd on the full distance matrix, greedy nearest rows."""
    n = len(x)
    e = -np.log(uniforms)
    keys = [(e[i] / w[i] if w[i] > 0 else np.inf, e[i], i) for i in range(n)]
    centres = x[[i for _, _, i in sorted(keys)[:count]]].copy()
    for _ in range(iterations):
        dist = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        assign = dist.argmin(axis=1)
        for k in range(count):
            mass = w[assign == k].sum()
            if mass > 0:
                centres[k] = (w[assign == k, None] * x[assign == k]).sum(axis=0) / mass
    dist = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    mass = np.array([w[dist.argmin(axis=1) == k].sum() for k in range(count)])
    order = sorted(range(count), key=lambda k: (-mass[k], k))
    chosen = []
    for k in order:
        free = [i for i in np.argsort(dist[:, k], kind="stable") if i not in chosen]
        chosen.append(free[0])
    return np.array(chosen), np.array(order)


def _np_badge(a, h, count, uniforms):
    """BADGE written plainly: the (n, C*d) gradient embeddings formed, k-means++ seeding by inverse CDF."""
    g = (a[:, :, None] * h[:, None, :]).reshape(len(a), -1)
    chosen = [int(np.argmax((g ** 2).sum(axis=1)))]
    d2 = ((g - g[chosen[0]]) ** 2).sum(axis=1)
    for t in range(1, count):
        d2[chosen] = 0.0
        cdf = np.cumsum(d2)
        j = int(np.searchsorted(cdf, uniforms[t - 1] * cdf[-1], side="right"))
        chosen.append(j)
        d2 = np.minimum(d2, ((g - g[j]) ** 2).sum(axis=1))
    return np.array(chosen)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clue_select_matches_a_direct_computation(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(20, 4)) + 3 * rng.normal(size=4) for _ in range(4)])  # 4 blobs
    w = rng.random(80) * 2
    w[:5] = 0.0  # zero-entropy rows: never drawn before a positive-weight row, never move a centre
    u = 1.0 - rng.random(80)
    for count, iterations in [(7, CLUE_ITERATIONS), (3, 2), (80, 1)]:
        chosen, order = clue_select(torch.tensor(x), torch.tensor(w), count, u, iterations)
        want, want_order = _np_clue(x, w, count, u, iterations)
        np.testing.assert_array_equal(chosen.numpy(), want)
        np.testing.assert_array_equal(order.numpy(), want_order)
    assert sorted(clue_select(torch.tensor(x), torch.tensor(w), 80, u)[0].tolist()) == list(range(80))


def test_clue_select_with_duplicate_rows_takes_distinct_rows():
    x = np.repeat(np.eye(3), 15, axis=0)  # 3 distinct points, 15 copies each: more collisions than kept neighbours
    chosen, _ = clue_select(torch.tensor(x), torch.ones(45, dtype=torch.float64), 40, np.linspace(0.01, 1, 45))
    assert len(set(chosen.tolist())) == 40


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_badge_select_matches_a_direct_computation(seed):
    rng = np.random.default_rng(seed)
    logits = torch.tensor(rng.normal(size=(70, 4)) * 2)
    a = badge_gradient_factors(logits)
    np.testing.assert_allclose(a.numpy(), torch.softmax(logits, 1).numpy() - np.eye(4)[logits.argmax(1).numpy()])
    h = np.abs(rng.normal(size=(70, 6)))
    u = rng.random(69)
    for count in (1, 10, 70):
        got = badge_select(a, torch.tensor(h), count, u)
        np.testing.assert_array_equal(got.numpy(), _np_badge(a.numpy(), h, count, u))
    # the gradient embedding is that of the cross-entropy at the predicted label w.r.t. the last layer's weight
    layer = nn.Linear(6, 4, bias=False).double()
    feats = torch.tensor(h[:1], requires_grad=False)
    out = layer(feats)
    F_loss = nn.functional.cross_entropy(out, out.argmax(1))
    F_loss.backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(),
                               np.outer(badge_gradient_factors(out.detach())[0].numpy(), h[0]), atol=1e-12)


def test_badge_select_takes_half_precision_features():
    """bfloat16 / float16 features (a network run in bfloat16) are read as float32 (numpy has no bfloat16)."""
    rng = np.random.default_rng(0)
    a = badge_gradient_factors(torch.tensor(rng.normal(size=(20, 3))))
    h = torch.tensor(rng.normal(size=(20, 5)), dtype=torch.float32)
    u = rng.random(19)
    for half in (torch.bfloat16, torch.float16):
        np.testing.assert_array_equal(badge_select(a, h.to(half), 6, u),
                                      badge_select(a, h.to(half).float(), 6, u))


def test_badge_select_when_every_distance_is_zero():
    h = np.ones((12, 3))
    a = badge_gradient_factors(torch.zeros(12, 2) + torch.tensor([1.0, 0.0]))  # same embedding for all rows
    got = badge_select(a, torch.tensor(h), 12, np.full(11, 0.5)).numpy()
    np.testing.assert_array_equal(got, np.arange(12))  # the first maximum, then the lowest unpicked rows


def test_badge_select_with_duplicate_float32_embeddings_takes_the_lowest_unpicked_rows_once_all_are_picked():
    """Duplicates of a pick are at distance 0 also when float32 rounding leaves noise in the products: once every
    distinct embedding is picked, the lowest unpicked rows follow (they were drawn from the noise)."""
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(3, 16)).astype(np.float32)
    h = np.tile(distinct, (10, 1))  # row i is distinct point i % 3
    a = badge_gradient_factors(torch.tensor(np.tile(rng.normal(size=(3, 4)), (10, 1))))
    got = badge_select(a, torch.tensor(h), 8, rng.random(7)).numpy()
    assert sorted(got[:3] % 3) == [0, 1, 2]
    np.testing.assert_array_equal(got[3:], [i for i in range(30) if i not in got[:3]][:5])


@pytest.mark.parametrize("strategy", ["clue", "badge"])
def test_selector_batch_strategies_run_on_the_model_embeddings(small_task, fitted, strategy):
    sel, labelled = fitted
    sel = pickle.loads(pickle.dumps(sel)).set_params(strategy=strategy)
    idx, scores = sel.query(12, return_scores=True)
    unlabelled = np.setdiff1d(np.arange(90), labelled)
    net = sel.module_
    with torch.no_grad():
        h = net.features(torch.from_numpy(sel.pool_[unlabelled]))
        logits = net.classify(h)
    rng = sel._query_generator(len(unlabelled), strategy)
    if strategy == "clue":
        weights = entropy_query_score(torch.softmax(logits.double(), 1))
        want = clue_select(h, weights, 12, 1.0 - rng.random(len(unlabelled)))[0].numpy()
        np.testing.assert_allclose(scores, weights.numpy()[want], rtol=1e-5)
    else:
        want = badge_select(badge_gradient_factors(logits), h, 12, rng.random(11)).numpy()
    np.testing.assert_array_equal(idx, unlabelled[want])
    np.testing.assert_array_equal(sel.query(12), idx)  # reproducible
    other = make("active", random_state=5, strategy=strategy, device="cpu").fit(*small_task[:3])
    assert len(set(other.query(12))) == 12


# ---------------------------------------------------------------------------------------------- candidates
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_candidate_queries_are_pool_queries_restricted_to_the_candidates(fitted, strategy):
    sel, labelled = fitted
    sel = pickle.loads(pickle.dumps(sel)).set_params(strategy=strategy)
    unlabelled = np.flatnonzero(~sel.labeled_mask_)
    full, full_scores = sel.query(80, return_scores=True)
    for cands in (None, unlabelled, unlabelled[::-1].tolist(), ~sel.labeled_mask_):
        idx, scores = sel.query(20, candidates=cands, return_scores=True)
        np.testing.assert_array_equal(idx, full[:20] if STRATEGIES[strategy][1] not in BATCH_QUERIES
                                      else sel.query(20))
        np.testing.assert_allclose(scores, sel.query(20, return_scores=True)[1])
    subset = np.random.RandomState(3).permutation(unlabelled)[:25]
    idx, scores = sel.query(10, candidates=subset, return_scores=True)
    assert set(idx) <= set(subset) and len(set(idx)) == 10
    np.testing.assert_array_equal(sel.query(10, candidates=np.sort(subset)), idx)  # the order given is irrelevant
    mask = np.zeros(90, dtype=bool)
    mask[subset] = True
    np.testing.assert_array_equal(sel.query(10, candidates=mask), idx)
    np.testing.assert_array_equal(sel.query(10, candidates=pd.Series(mask)), idx)  # pandas: the same forms
    np.testing.assert_array_equal(sel.query(10, candidates=pd.Series(subset)), idx)
    if STRATEGIES[strategy][1] in BATCH_QUERIES:  # the batch is selected among the candidates only
        new, new_scores = sel.query(10, candidates=sel.pool_[np.sort(subset)], return_scores=True)
        np.testing.assert_array_equal(np.sort(subset)[new], idx)
        np.testing.assert_allclose(new_scores, scores)
    else:  # the pool's ranking, restricted
        keep = np.isin(full, subset)
        np.testing.assert_array_equal(idx, full[keep][:10])
        np.testing.assert_allclose(scores, full_scores[keep][:10])
    if strategy != "random":  # new samples: indices into them, scores as the pool's
        new, new_scores = sel.query(5, candidates=sel.pool_[subset], return_scores=True)
        assert new.max() < 25
        np.testing.assert_allclose(new_scores, sel.informativeness(sel.pool_[subset])[new], rtol=1e-6)
        if STRATEGIES[strategy][1] not in BATCH_QUERIES:
            np.testing.assert_array_equal(subset[new], idx[:5])


def test_new_sample_candidates_budgets_and_the_random_strategy(small_task, fitted):
    _, _, Xt, _ = small_task
    sel, _ = fitted
    fresh = np.random.RandomState(7).randn(40, Xt.shape[1])
    idx = sel.query(0.25, candidates=fresh)  # a fraction of the candidates
    assert len(idx) == 10 and idx.max() < 40
    sel_r = pickle.loads(pickle.dumps(sel)).set_params(strategy="random")
    np.testing.assert_array_equal(sel_r.query(5, candidates=fresh), sel_r.query(5, candidates=fresh))
    assert len(sel.query(0.1, candidates=np.flatnonzero(~sel.labeled_mask_)[:20])) == 9  # of the whole pool (90)
    with pytest.raises(ValueError, match="asks for 21 samples but only 20 candidates were given"):
        sel.query(21, candidates=np.flatnonzero(~sel.labeled_mask_)[:20])
    with pytest.raises(ValueError, match="asks for 41 samples but only 40 candidate samples were given"):
        sel.query(41, candidates=fresh)


@pytest.mark.parametrize("candidates,error,match", [
    (lambda s: [0, 1, 9], ValueError, r"candidates \[0, 9\] are labelled target samples"),
    (lambda s: [1, 2, 90], ValueError, r"candidates \[90\] are out of range: indices into pool_ must be in \[0, 90\)"),
    (lambda s: [1, -1], ValueError, r"candidates \[-1\] are out of range"),
    (lambda s: [1, 2, 2, 3, 3], ValueError, r"candidates has duplicate indices \[2, 3\]"),
    (lambda s: np.array([1.0, 2.0]), TypeError, "1-D candidates are indices into pool_ and must be integers"),
    (lambda s: np.ones(89, dtype=bool), ValueError, r"boolean candidates mask must have one entry per pool row \(90\)"),
    (lambda s: 3, ValueError, "candidates must be None, a 1-D array of indices"),
    (lambda s: s.pool_[:, :-1], ValueError, "candidates has 7 features, but ActiveSelector is expecting 8"),
    (lambda s: s.pool_[:4, :, None], ValueError, r"candidates has sample shape \(8, 1\)"),
    (lambda s: [], ValueError, "asks for 3 samples but only 0 candidates were given"),
    (lambda s: np.where(~s.labeled_mask_), TypeError, r"a tuple of index arrays .* pass np.where\(mask\)\[0\]"),
])
def test_bad_candidates_raise_clear_errors(fitted, candidates, error, match):
    sel, _ = fitted
    with pytest.raises(error, match=match):
        sel.query(3, candidates=candidates(sel))


def test_active_selector_refuses_nan_as_an_unknown_target_label(small_task):
    Xs, ys, Xt, _ = small_task
    yt = np.full(len(Xt), np.nan)
    yt[:3] = [0, 1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's own cast of NaN while checking
        with pytest.raises(ValueError, match=r"yt has 87 missing labels .*unlabelled marker -1 \(not NaN"):
            skda.ActiveSelector(max_epochs=1, device="cpu").fit(Xs, ys, Xt, yt)
    yt_list = ["cat"] + [-1] * (len(Xt) - 1)  # np.asarray makes the -1 entries "-1"
    with pytest.raises(ValueError, match="numpy turns -1 into the text"):
        skda.ActiveSelector(max_epochs=1, device="cpu").fit(Xs, np.array(["cat", "dog", "emu"])[ys], Xt, yt_list)


def _fitted_selector(small_task, **params):
    Xs, ys, Xt, _ = small_task
    return make("active", random_state=0, strategy="margin", **params).fit(Xs, ys, Xt)


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
    sel = make("active", random_state=0, strategy="margin").fit(Xs, ys, Xt, labels)
    assert sel.n_labeled_target_ == 6
    accuracies = skda.active_learning_loop(
        make("active", random_state=0, strategy="margin", unlabeled_marker="?"), Xs, ys, Xt, yt,
        rounds=2, budget=3, round_epochs=1)
    assert accuracies.shape == (3,)


def test_text_target_labels_with_numeric_source_labels_raise_clearly(small_task):
    Xs, ys, Xt, yt = small_task
    labels = np.full(len(Xt), -1, dtype=object)
    labels[:3] = ["0", "1", "2"]
    with pytest.raises(ValueError, match="spelled as the source labels"):
        make("active").fit(Xs, ys, Xt, labels)


@pytest.mark.parametrize("rounds, budget, n_target, match", [(2, 0, 90, "positive"), (5, 6, 20, "5 rounds of 6"),
                                                             (1, 1.5, 90, "fraction")])
def test_active_learning_loop_checks_the_budget_before_training(small_task, monkeypatch, rounds, budget, n_target,
                                                                match):
    Xs, ys, Xt, yt = small_task
    sel = make("active", random_state=0)
    monkeypatch.setattr(type(sel), "fit", lambda *a, **k: pytest.fail("trained before checking the budget"))
    with pytest.raises(ValueError, match=match):
        skda.active_learning_loop(sel, Xs, ys, Xt[:n_target], yt[:n_target], rounds=rounds, budget=budget)


@pytest.mark.parametrize("params, match", [({"margin": 0.0}, "margin"), ({"margin": float("nan")}, "margin"),
                                           ({"margin": -1}, "margin"), ({"gradient_weight": float("nan")},
                                                                        "gradient_weight")])
def test_active_selector_checks_its_hyper_parameters(small_task, params, match):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=match):
        make("active", strategy="sdm-ag", **params).fit(Xs, ys, Xt)


def test_active_learning_loop_refuses_a_marker_that_marks_nothing(small_task):
    Xs, ys, Xt, yt = small_task
    with pytest.raises(ValueError, match="None marks none"):
        skda.active_learning_loop(make("active", unlabeled_marker=None), Xs, ys, Xt, yt)


# ------------------------------------------------------------------ active DA with any learner
def _bought_labels(selector, yt, marker=-1):
    labels = np.full(len(yt), marker, dtype=object if isinstance(marker, str) else yt.dtype)
    labels[selector.labeled_mask_] = yt[selector.labeled_mask_]
    return labels


def test_learner_is_fitted_on_the_labels_the_selector_bought(small_task):
    Xs, ys, Xt, yt = small_task
    plain = make("active", random_state=0)
    expected = skda.active_learning_loop(plain, Xs, ys, Xt, yt, rounds=2, budget=5, round_epochs=1)
    selector, learner = make("active", random_state=0), make("ilada", random_state=0)
    accuracies = skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=2, budget=5, round_epochs=1,
                                           learner=learner)
    # the selector's own model and its queries are those of the loop without a learner
    np.testing.assert_array_equal(accuracies, expected)
    np.testing.assert_array_equal(selector.labeled_mask_, plain.labeled_mask_)
    assert selector.labeled_mask_.sum() == 10
    direct = make("ilada", random_state=0).fit(Xs, ys, Xt, _bought_labels(selector, yt))
    np.testing.assert_array_equal(learner.predict_proba(Xt), direct.predict_proba(Xt))


def test_learner_uses_its_own_unlabelled_marker(small_task):
    Xs, ys, Xt, yt = small_task
    selector, learner = make("active", random_state=0), make("dann", random_state=0, unlabeled_marker="?")
    skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=1, budget=6, round_epochs=1, learner=learner)
    direct = make("dann", random_state=0, unlabeled_marker="?").fit(Xs, ys, Xt, _bought_labels(selector, yt, "?"))
    np.testing.assert_array_equal(learner.predict_proba(Xt), direct.predict_proba(Xt))


def test_learner_gets_the_labels_of_yt_initial_as_given(small_task, monkeypatch):
    """The labels known before the first round are those of ``yt_initial`` for the learner as for the selector,
    even where the oracle's ``yt`` says otherwise (e.g. an initial labelling redone later)."""
    Xs, ys, Xt, yt = small_task
    seen = {}
    monkeypatch.setattr(skda.active, "fit_learner", lambda learner, Xs, ys, Xt, yt: seen.setdefault("yt", yt))
    yt_initial = np.full(len(Xt), -1)
    yt_initial[:4] = (yt[:4] + 1) % 3  # four initial labels that differ from the oracle's
    skda.active_learning_loop(make("active", strategy="margin", random_state=0), Xs, ys, Xt, yt, rounds=1, budget=5,
                              round_epochs=1, yt_initial=yt_initial, learner=make("dann"))
    np.testing.assert_array_equal(seen["yt"][:4], yt_initial[:4])
    assert (seen["yt"] != -1).sum() == 9


def test_classes_cannot_add_a_class_to_a_selector_fitted_before(small_task):
    Xs, ys, Xt, yt = small_task
    src = ys < 2
    warm = make("active", random_state=0).fit(Xs[src], ys[src], Xt)
    with pytest.raises(ValueError, match=r"classes holds \[2\], which the selector was not fitted with"):
        skda.active_learning_loop(warm, Xs[src], ys[src], Xt, yt, rounds=1, budget=5, fit_initial=False,
                                  classes=[0, 1, 2])
    assert warm.n_labeled_target_ == 0  # refused before any round
    skda.active_learning_loop(warm, Xs[src], ys[src], Xt, np.minimum(yt, 1), rounds=1, budget=5, round_epochs=1,
                              fit_initial=False, classes=[0, 1])


@pytest.mark.parametrize("routing", [False, True])
def test_pipeline_learner_is_fitted_in_the_packed_form_with_sample_domain(small_task, routing):
    import sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xs, ys, Xt, yt = small_task
    with sklearn.config_context(enable_metadata_routing=routing):
        final = make("dann", random_state=0)
        if routing:
            final.set_fit_request(sample_domain=True)
        # nested: the routing-off parameter name goes down both pipelines
        pipe = make_pipeline(StandardScaler(), make_pipeline(StandardScaler(), final))
        selector = make("active", random_state=0)
        skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=1, budget=6, round_epochs=1, learner=pipe)
    X = np.vstack([Xs, Xt])
    scaled = StandardScaler().fit_transform(StandardScaler().fit_transform(X))
    direct = make("dann", random_state=0).fit(scaled[:len(Xs)], ys, scaled[len(Xs):], _bought_labels(selector, yt))
    np.testing.assert_array_equal(pipe.predict_proba(Xt), direct.predict_proba(scaled[len(Xs):]))


def test_bad_learners_are_refused_before_any_training(small_task):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xs, ys, Xt, yt = small_task
    selector = make("active", random_state=0)
    with pytest.raises(TypeError, match="learner must be an skda estimator .* got LogisticRegression"):
        skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=1, budget=5, learner=LogisticRegression())
    with pytest.raises(TypeError, match="got Pipeline ending in LogisticRegression"):
        skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=1, budget=5,
                                  learner=make_pipeline(StandardScaler(), LogisticRegression()))
    with pytest.raises(ValueError, match="the learner marks the target labels not bought"):
        skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=1, budget=5,
                                  learner=make("dann", unlabeled_marker=None))
    with sklearn.config_context(enable_metadata_routing=True):  # a final estimator that does not request it
        with pytest.raises(ValueError, match=r"does not request it; call DANNClassifier\(...\)"
                                             r".set_fit_request\(sample_domain=True\)"):
            skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=1, budget=5,
                                      learner=make_pipeline(StandardScaler(), make("dann")))
    assert not selector.__sklearn_is_fitted__()


def test_a_failed_learner_fit_keeps_the_rounds(small_task, monkeypatch):
    Xs, ys, Xt, yt = small_task
    learner = make("dann", random_state=0)
    monkeypatch.setattr(type(learner), "fit", lambda self, *a, **k: (_ for _ in ()).throw(MemoryError("simulated")))
    selector = make("active", random_state=0)
    with pytest.raises(skda.ActiveLearningRoundError, match="fitting the learner on the labels bought failed "
                                                            r"\(MemoryError: simulated\)") as info:
        skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=2, budget=5, round_epochs=1, learner=learner)
    assert info.value.round is None and info.value.accuracies.shape == (3,)
    assert (info.value.labels != -1).sum() == 10 == selector.n_labeled_target_


def test_pipeline_learner_takes_sparse_inputs_and_one_dataframe(small_task):
    import pandas as pd
    import scipy.sparse as sparse
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xs, ys, Xt, yt = small_task
    labels = np.full(len(Xt), -1)
    labels[:6] = yt[:6]
    columns = [f"c{i}" for i in range(10, 18)]
    scaled = StandardScaler().fit_transform(np.vstack([Xs, Xt]))
    direct = make("source-only", random_state=0).fit(scaled[:len(Xs)], ys, scaled[len(Xs):], labels)
    for source, target in [(pd.DataFrame(Xs, columns=columns), Xt), (Xs, pd.DataFrame(Xt, columns=columns))]:
        pipe = skda.active.fit_learner(make_pipeline(StandardScaler(), make("source-only", random_state=0)),
                                       source, ys, target, labels)
        assert list(pipe[0].feature_names_in_) == columns
        np.testing.assert_array_equal(pipe[-1].predict_proba(pipe[0].transform(pd.DataFrame(Xt, columns=columns))),
                                      direct.predict_proba(pipe[0].transform(pd.DataFrame(Xt, columns=columns))))
    with pytest.raises(ValueError, match="Xs and Xt are DataFrames with different columns"):
        skda.active.fit_learner(make_pipeline(StandardScaler(), make("source-only")), pd.DataFrame(Xs), ys,
                                pd.DataFrame(Xt, columns=columns), labels)
    selector = make("active", random_state=0)
    pipe = make_pipeline(StandardScaler(with_mean=False), make("dann", random_state=0))
    skda.active_learning_loop(selector, sparse.csr_matrix(Xs), ys, sparse.csr_matrix(Xt), yt, rounds=1, budget=5,
                              round_epochs=1, learner=pipe)
    assert selector.n_labeled_target_ == 5 and pipe.predict(sparse.csr_matrix(Xt)).shape == (len(Xt),)


def test_pipeline_learner_routes_sample_domain_to_every_step_that_takes_it(small_task):
    """A CORAL step before the final estimator counts the bought target rows as target rows (their labels do not
    make them source rows), with metadata routing off (every such step gets ``<path>__sample_domain``) and on."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skda.preprocessing import CORAL

    Xs, ys, Xt, yt = small_task
    Xt = Xt * np.linspace(0.3, 3.0, Xt.shape[1])  # a covariance shift, so that the rows CORAL counts matter
    labels = np.full(len(Xt), -1)
    labels[::4] = yt[::4]
    expected = CORAL().fit(Xs, ys, X_target=Xt).transform_matrix_  # every target row is a target row
    pipe = skda.active.fit_learner(make_pipeline(CORAL(), make_pipeline(StandardScaler(), make(
        "source-only", random_state=0))), Xs, ys, Xt, labels)
    np.testing.assert_allclose(pipe[0].transform_matrix_, expected)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = skda.active.fit_learner(make_pipeline(
            CORAL().set_fit_request(sample_domain=True),
            make("source-only", random_state=0).set_fit_request(sample_domain=True)), Xs, ys, Xt, labels)
        np.testing.assert_allclose(pipe[0].transform_matrix_, expected)
        with pytest.raises(ValueError, match=r"step 'coral' \(CORAL\) takes sample_domain but does not request "
                                             r"it; call CORAL\(...\).set_fit_request\(sample_domain=True\)"):
            skda.active.fit_learner(make_pipeline(
                CORAL(), make("source-only").set_fit_request(sample_domain=True)), Xs, ys, Xt, labels)


def test_source_classifier_learner_trains_on_the_source_and_the_labels_bought(small_task):
    """A scikit-learn classifier behind skda.SourceClassifier (alone or after CORAL) is a learner: it is fitted on
    the source rows and the bought target rows (the others carry the marker and are dropped)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from skda.preprocessing import CORAL

    Xs, ys, Xt, yt = small_task
    labels = np.full(len(Xt), -1)
    labels[::4] = yt[::4]
    known = labels != -1
    direct = LogisticRegression().fit(np.vstack([Xs, Xt[known]]), np.r_[ys, labels[known]])
    learner = skda.active.fit_learner(skda.SourceClassifier(LogisticRegression()), Xs, ys, Xt, labels)
    np.testing.assert_allclose(learner.predict_proba(Xt), direct.predict_proba(Xt))
    pipe = skda.active.fit_learner(make_pipeline(CORAL(), skda.SourceClassifier(LogisticRegression())),
                                   Xs, ys, Xt, labels)
    np.testing.assert_allclose(pipe[0].transform_matrix_, CORAL().fit(Xs, ys, X_target=Xt).transform_matrix_)
    selector = make("active", random_state=0)
    skda.active_learning_loop(selector, Xs, ys, Xt, yt, rounds=1, budget=5, round_epochs=1,
                              learner=skda.SourceClassifier(LogisticRegression()))
    assert selector.n_labeled_target_ == 5


def test_oracle_labels_with_nan_are_refused_before_any_training(small_task):
    Xs, ys, Xt, yt = small_task
    oracle = yt.astype(float)
    oracle[3] = np.nan
    selector = make("active", random_state=0)
    with pytest.raises(ValueError, match="the oracle labels yt contain NaN"):
        skda.active_learning_loop(selector, Xs, ys, Xt, oracle, rounds=1, budget=5)
    assert not selector.__sklearn_is_fitted__()
    # labels fit takes are taken: an object array of ints
    skda.active_learning_loop(selector, Xs, ys, Xt, yt.astype(object), rounds=1, budget=5, round_epochs=1)
    assert selector.n_labeled_target_ == 5


def test_a_coral_step_inside_a_column_transformer_needs_metadata_routing(small_task):
    """A FeatureUnion or ColumnTransformer passes fit parameters on only with metadata routing: without it a CORAL
    step there counted the bought target rows as source rows, silently; now refused, and right with routing on."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    from skda.preprocessing import CORAL

    Xs, ys, Xt, yt = small_task
    Xt = Xt * np.linspace(0.3, 3.0, Xt.shape[1])
    labels = np.full(len(Xt), -1)
    labels[::4] = yt[::4]
    columns = list(range(Xs.shape[1]))

    with pytest.raises(ValueError, match=r"step 'columntransformer__coral' \(CORAL\) takes sample_domain .* inside "
                                         r"a FeatureUnion or ColumnTransformer"):
        skda.active.fit_learner(make_pipeline(ColumnTransformer([("coral", CORAL(), columns)]),
                                              make("source-only", random_state=0)), Xs, ys, Xt, labels)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = skda.active.fit_learner(make_pipeline(
            ColumnTransformer([("coral", CORAL().set_fit_request(sample_domain=True), columns)]),
            make("source-only", random_state=0).set_fit_request(sample_domain=True)), Xs, ys, Xt, labels)
    np.testing.assert_allclose(pipe[0].named_transformers_["coral"].transform_matrix_,
                               CORAL().fit(Xs, ys, X_target=Xt).transform_matrix_)


def test_a_column_transformer_given_as_a_tuple_is_walked_as_a_list():
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    from skda.active import _sample_domain_steps
    from skda.preprocessing import CORAL

    listed = ColumnTransformer([("coral", CORAL(), [0, 1])])
    paired = ColumnTransformer((("coral", CORAL(), [0, 1]),))
    for transformer in (listed, paired):
        [(path, step, by_name)] = _sample_domain_steps(make_pipeline(transformer, make("source-only")))[:1]
        assert path == ("columntransformer", "coral") and isinstance(step, CORAL) and not by_name
