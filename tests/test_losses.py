"""Each loss against a direct numpy computation on a tiny input."""

import numpy as np
import pytest
import torch

from skda.losses import (batch_triplet_loss, center_magnet_loss, labelled_center_loss, pairwise_squared_distances,
                         triplet_hinge_terms)

RNG = np.random.RandomState(0)
EMB = RNG.randn(7, 3).astype(np.float64)
LAB = np.array([0, 1, 0, 2, 1, 0, 2])


def test_pairwise_squared_distances():
    got = pairwise_squared_distances(torch.tensor(EMB), torch.tensor(EMB[:3])).numpy()
    expected = np.array([[np.sum((a - b) ** 2) for b in EMB[:3]] for a in EMB])
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_triplet_terms_match_numpy_loop():
    margin = 1.3
    terms, valid = triplet_hinge_terms(torch.tensor(EMB), torch.tensor(LAB), margin)
    n = len(LAB)
    for a in range(n):
        for p in range(n):
            for q in range(n):
                ok = p != a and LAB[p] == LAB[a] and LAB[q] != LAB[a]
                assert bool(valid[a, p, q]) == ok
                if ok:
                    d_ap = np.sum((EMB[a] - EMB[p]) ** 2)
                    d_an = np.sum((EMB[a] - EMB[q]) ** 2)
                    assert terms[a, p, q].item() == pytest.approx(max(d_ap - d_an + margin, 0.0))


def test_batch_triplet_loss_picks_one_active_negative_per_pair():
    margin = 1.0
    emb = torch.tensor(EMB)
    loss = batch_triplet_loss(emb, torch.tensor(LAB), margin, generator=torch.Generator().manual_seed(0)).item()
    # numpy: for each anchor-positive pair, the chosen negative's term is one of the active terms;
    # the loss is thus bounded by the per-pair min and max of the active terms, averaged over pairs
    lows, highs = [], []
    for a in range(len(LAB)):
        for p in range(len(LAB)):
            if p == a or LAB[p] != LAB[a]:
                continue
            d_ap = np.sum((EMB[a] - EMB[p]) ** 2)
            active = [d_ap - np.sum((EMB[a] - EMB[q]) ** 2) + margin for q in range(len(LAB)) if LAB[q] != LAB[a]]
            active = [t for t in active if t > 0] or [0.0]
            lows.append(min(active))
            highs.append(max(active))
    assert np.mean(lows) - 1e-9 <= loss <= np.mean(highs) + 1e-9
    assert np.mean(lows) < np.mean(highs)  # the bound is not trivially tight: the test can fail


def test_batch_triplet_loss_equals_numpy_loop_given_the_same_draws():
    margin = 1.0
    got = batch_triplet_loss(torch.tensor(EMB), torch.tensor(LAB), margin,
                             generator=torch.Generator().manual_seed(7)).item()
    n = len(LAB)
    scores = torch.rand((n, n, n), generator=torch.Generator().manual_seed(7)).numpy()  # the same uniform draws
    values = []
    for a in range(n):
        for p in range(n):
            if p == a or LAB[p] != LAB[a]:
                continue
            d_ap = np.sum((EMB[a] - EMB[p]) ** 2)
            active = {q: d_ap - np.sum((EMB[a] - EMB[q]) ** 2) + margin for q in range(n) if LAB[q] != LAB[a]}
            active = {q: t for q, t in active.items() if t > 0}
            values.append(active[max(active, key=lambda q: scores[a, p, q])] if active else 0.0)
    assert got == pytest.approx(np.mean(values))


def test_batch_triplet_loss_without_pairs_is_zero_with_gradient():
    emb = torch.randn(3, 2, requires_grad=True)
    loss = batch_triplet_loss(emb, torch.tensor([0, 1, 2]))
    assert loss.item() == 0.0
    loss.backward()
    assert emb.grad is not None


def test_center_magnet_loss_matches_numpy():
    centers = RNG.randn(3, 3)
    got = center_magnet_loss(torch.tensor(EMB), torch.tensor(centers)).item()
    expected = np.mean([min(np.sum((x - c) ** 2) for c in centers) for x in EMB])
    assert got == pytest.approx(expected)


def test_labelled_center_loss_pulls_to_the_own_class_center():
    centers = RNG.randn(3, 3)
    got = labelled_center_loss(torch.tensor(EMB), torch.tensor(centers), torch.tensor(LAB)).item()
    expected = np.mean([np.sum((x - centers[c]) ** 2) for x, c in zip(EMB, LAB)])
    assert got == pytest.approx(expected)
    assert got > center_magnet_loss(torch.tensor(EMB), torch.tensor(centers)).item()  # not the nearest center


def test_mla_da_margins_take_float64_probabilities():
    from skda.losses import dynamic_margins

    probabilities = torch.softmax(torch.randn(6, 3, dtype=torch.float64), dim=1)
    margins = dynamic_margins(probabilities, 3, 0.1, 1.0)
    expected = dynamic_margins(probabilities.float(), 3, 0.1, 1.0)
    assert margins.dtype == torch.float64
    np.testing.assert_allclose(margins.numpy(), expected.numpy(), rtol=1e-6)


def test_helpers_refuse_out_of_range_arguments():
    """Was: NaN ratios with targets still kept (top_m=0), every pseudo-label 0 (n_neighbors=0), torch's "selected
    index k out of range" (one class)."""
    from skda.losses import affinity_pseudo_labels, dynamic_margins, similarity_ratio_selection

    similarity = torch.rand(4, 3)
    source_labels, pseudo_labels = torch.tensor([0, 1, 0, 1]), torch.tensor([0, 1, 1])
    with pytest.raises(ValueError, match="top_m must be >= 1, got 0"):
        similarity_ratio_selection(similarity, source_labels, pseudo_labels, 0, 0.5)
    with pytest.raises(ValueError, match="n_neighbors must be >= 1, got 0"):
        affinity_pseudo_labels(similarity, source_labels, 0, 2)
    with pytest.raises(ValueError, match=r"shape \(n, n_classes >= 2\), got \(3, 1\)"):
        dynamic_margins(torch.ones(3, 1), 1, 1.0, 1.0)
