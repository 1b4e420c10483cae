"""Loss functions of the implemented papers, each a plain function of batch tensors.

Every function names the equation it implements and is unit-tested against a direct numpy
computation on a tiny input (``tests/test_losses.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "NORM_EPS",
    "adjusted_margin_loss",
    "margin_loss",
    "margin_space",
    "affinity_pseudo_labels",
    "batch_hard_triplet_loss",
    "batch_triplet_loss",
    "center_magnet_loss",
    "labelled_center_loss",
    "domain_adversarial_loss",
    "dynamic_margins",
    "entropy_loss",
    "inverse_distance_similarity",
    "multi_sample_contrastive_loss",
    "pairwise_squared_distances",
    "similarity_ratio_selection",
    "triplet_hinge_terms",
]


def domain_adversarial_loss(domain_logits: torch.Tensor, n_source: int) -> torch.Tensor:
    """Domain classification loss L_d of Eq. 9 (Ganin & Lempitsky 2015): binary cross-entropy of ONE
    logit per sample, the first ``n_source`` rows being source (domain 0), the rest target (domain 1).

    Mean over the samples (Eq. 9 sums; the mean only rescales the learning rate).
    """
    labels = torch.ones_like(domain_logits)
    labels[:n_source] = 0.0
    return F.binary_cross_entropy_with_logits(domain_logits, labels)


def pairwise_squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``D[i, j] = ||a_i - b_j||^2`` for all pairs, by one matrix product (clamped at 0).

    The expansion ``||a||^2 - 2 a.b + ||b||^2`` loses precision to cancellation when the points lie far from the
    origin compared with their distances (in float32, about ``1e-7 ||a||^2`` absolute error). On the embeddings
    of skda's fitted networks (squared norms 140-230 on Office-Caltech SURF) the relative error measured is below
    3e-5; centre far-off points before calling it (distances do not change)."""
    d = (a * a).sum(1, keepdim=True) - 2.0 * a @ b.T + (b * b).sum(1).unsqueeze(0)
    return d.clamp_min_(0.0)


def triplet_hinge_terms(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 1.0):
    """All triplet terms of Eq. 1 (Laradji & Babanezhad 2018) in a batch.

    Returns ``(terms, valid)`` of shape (B, B, B): ``terms[a, p, n] = max(||f_a - f_p||^2 - ||f_a - f_n||^2
    + margin, 0)`` with squared Euclidean distances (as in the authors' code), and ``valid[a, p, n]`` true
    when ``p != a`` has the anchor's label and ``n`` has another label.
    """
    d = pairwise_squared_distances(embeddings, embeddings)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye  # (a, p)
    negative = ~same  # (a, n)
    valid = positive.unsqueeze(2) & negative.unsqueeze(1)
    terms = torch.relu(d.unsqueeze(2) - d.unsqueeze(1) + margin)
    return terms, valid


def batch_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 1.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Triplet loss, Eq. 1 of M-ADDA, mined in the batch as in Algorithm 1 and the authors' code.

    Every anchor-positive pair (same label, distinct samples) is used once, with one negative drawn
    uniformly among the negatives whose term is still positive (a pair with none contributes 0).
    Returns the mean over anchor-positive pairs (0 if the batch has none). Vectorised: one (B, B, B)
    tensor, no Python loop over triplets. ``generator`` (on the embeddings' device) makes the draw
    reproducible.
    """
    terms, valid = triplet_hinge_terms(embeddings, labels, margin)
    pairs = valid.any(dim=2)
    if not pairs.any():
        return embeddings.sum() * 0.0
    with torch.no_grad():
        active = valid & (terms > 0)
        scores = torch.rand(terms.shape, generator=generator, device=terms.device)
        scores = scores.masked_fill(~active, -1.0)
        chosen = scores.argmax(dim=2, keepdim=True)
        has_active = active.any(dim=2)
    picked = terms.gather(2, chosen).squeeze(2) * has_active
    return picked[pairs].mean()


def center_magnet_loss(embeddings: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Center-magnet loss, Eq. 4 of M-ADDA: each embedding's squared distance to its nearest center,
    averaged over the batch (Eq. 4 sums over the target set). ``centers`` has one row per class."""
    return pairwise_squared_distances(embeddings, centers).min(dim=1).values.mean()


def labelled_center_loss(embeddings: torch.Tensor, centers: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 4 of M-ADDA for target rows whose label is known: each embedding's squared distance to the center of
    its own class ``labels`` (instead of the nearest center), averaged over the batch."""
    return (embeddings - centers[labels]).pow(2).sum(dim=1).mean()


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margins: torch.Tensor) -> torch.Tensor:
    """Batch-hard triplet loss with a per-class margin, Eq. 4 of MLA-DA (Yin et al. 2021).

    For each anchor i: ``max(max_{y_j = y_i} ||m_i - m_j|| - min_{y_k != y_i} ||m_i - m_k|| + margins[y_i], 0)``
    with Euclidean (not squared) distances; mean over the anchors that have a negative in the batch
    (0 if none has). ``margins`` holds one margin per class.
    """
    d = pairwise_squared_distances(embeddings, embeddings).clamp_min(1e-12).sqrt()
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    hardest_positive = d.masked_fill(~same, 0.0).max(dim=1).values  # the anchor itself (0) is a positive
    hardest_negative = d.masked_fill(same, float("inf")).min(dim=1).values
    has_negative = (~same).any(dim=1)
    if not has_negative.any():
        return embeddings.sum() * 0.0
    terms = torch.relu(hardest_positive - hardest_negative + margins[labels])
    return terms[has_negative].mean()


def dynamic_margins(target_probabilities: torch.Tensor, n_classes: int, base: float, scale: float,
                    reduce: str = "mean") -> torch.Tensor:
    """Per-class margins of Eq. 5 of MLA-DA: ``alpha_c = base + scale * r_c``, where ``r_c`` reduces (mean, as
    the paper says, or sum, as the authors' main script does) the second-largest probability of the target
    samples whose pseudo-label (arg-max) is c; ``r_c = 0`` for a class no target sample is assigned to.
    Computed without gradient; needs 2 or more classes (the second-largest probability)."""
    if target_probabilities.ndim != 2 or target_probabilities.shape[1] < 2:
        raise ValueError(f"dynamic_margins needs probabilities of shape (n, n_classes >= 2), got "
                         f"{tuple(target_probabilities.shape)}.")
    with torch.no_grad():
        top2 = target_probabilities.topk(2, dim=1).values
        pseudo = target_probabilities.argmax(dim=1)
        sums = torch.zeros(n_classes, device=top2.device, dtype=top2.dtype).index_add_(0, pseudo, top2[:, 1])
        if reduce == "mean":
            counts = torch.bincount(pseudo, minlength=n_classes).clamp_min(1)
            sums = sums / counts
        elif reduce != "sum":
            raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}.")
        return base + scale * sums


def entropy_loss(logits: torch.Tensor) -> torch.Tensor:
    """Mean prediction entropy ``-sum_c p_c log p_c`` of the samples (target entropy L_E, Eq. 9 of MLA-DA)."""
    log_p = torch.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()


def inverse_distance_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``phi(a_i, b_j) = 1 / (1 + ||a_i - b_j||)`` for all pairs, Eq. 6 of ILA-DA (Sharma et al. 2021):
    the normalised inverse Euclidean distance, in (0, 1]."""
    return 1.0 / (1.0 + pairwise_squared_distances(a, b).clamp_min(1e-12).sqrt())


def affinity_pseudo_labels(similarity: torch.Tensor, source_labels: torch.Tensor, n_neighbors: int,
                           n_classes: int) -> torch.Tensor:
    """Target pseudo-labels of ILA-DA, Sec. 3.3: the mode of the labels of each target's ``n_neighbors`` most
    similar source samples (ties -> the lowest label). ``similarity`` is (n_source, n_target); no gradient."""
    if int(n_neighbors) < 1:
        raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}.")
    with torch.no_grad():
        k = min(int(n_neighbors), similarity.shape[0])
        neighbours = similarity.topk(k, dim=0).indices  # (k, n_target)
        votes = F.one_hot(source_labels[neighbours], n_classes).sum(dim=0)  # (n_target, n_classes)
        return votes.argmax(dim=1)  # argmax returns the first (lowest) label among ties


def similarity_ratio_selection(similarity: torch.Tensor, source_labels: torch.Tensor,
                               pseudo_labels: torch.Tensor, top_m: int, keep_fraction: float):
    """The similarity ratio test of ILA-DA, Eq. 7, and the selection of confident targets.

    For target j with pseudo-label y^_j, ``Gamma_j = sum of its top_m similarities to like sources (label
    y^_j) / sum of its top_m similarities to unlike sources`` (fewer than ``top_m`` in a set: all of them;
    an empty unlike set gives ``inf``). The ``ceil(keep_fraction * n_target)`` targets with the highest
    ratio (at least one) are kept. Returns ``(ratio, keep)``: (n_target,) floats and a boolean mask.
    No gradient.
    """
    if int(top_m) < 1:
        raise ValueError(f"top_m must be >= 1, got {top_m}.")
    with torch.no_grad():
        like = source_labels.unsqueeze(1) == pseudo_labels.unsqueeze(0)  # (n_source, n_target)
        m = min(int(top_m), similarity.shape[0])
        # similarities are > 0, so zeroing the other set and taking the top m sums the set's top m
        like_sum = similarity.masked_fill(~like, 0.0).topk(m, dim=0).values.sum(dim=0)
        unlike_sum = similarity.masked_fill(like, 0.0).topk(m, dim=0).values.sum(dim=0)
        ratio = like_sum / unlike_sum  # unlike_sum == 0 -> inf (no unlike source at all)
        n_target = similarity.shape[1]
        n_keep = min(n_target, max(1, math.ceil(keep_fraction * n_target - 1e-9)))
        keep = torch.zeros(n_target, dtype=torch.bool, device=similarity.device)
        keep[ratio.topk(n_keep).indices] = True
        return ratio, keep


def multi_sample_contrastive_loss(similarity: torch.Tensor, source_labels: torch.Tensor,
                                  pseudo_labels: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Multi-sample contrastive (MSC) loss, Eq. 4-5 of ILA-DA.

    ``similarity`` (n_source, n_target) holds phi(f_i, f_j) (with gradient). The affinity matrix is
    ``A_ij = +1`` if ``y_i == y^_j``, ``-1`` otherwise, and 0 for the targets not kept by the ratio test.
    Each source sample i is an anchor: ``L_i = -log(sum_{A_ij = 1} e^phi_ij / sum_{A_ij != 0} e^phi_ij)``;
    anchors without a positive or without a negative are skipped; the loss is the mean over the other
    anchors (0, with a gradient of 0, when none is left). No temperature (as in the authors' code).
    """
    like = source_labels.unsqueeze(1) == pseudo_labels.unsqueeze(0)
    positive = like & keep.unsqueeze(0)
    negative = ~like & keep.unsqueeze(0)
    valid = positive.any(dim=1) & negative.any(dim=1)
    if not valid.any():
        return similarity.sum() * 0.0
    exp = similarity.exp()
    pos = (exp * positive).sum(dim=1)
    total = (exp * keep.unsqueeze(0)).sum(dim=1)
    return (total[valid].log() - pos[valid].log()).mean()


# ---------------------------------------------------------------- SDM (Xie et al. 2022)
NORM_EPS = 1e-12  # as torch.nn.functional.normalize


def margin_space(logits: torch.Tensor, normalize: bool) -> torch.Tensor:
    """The class scores c(g(x)) the margin terms see: the logits, L2-normalised over classes if asked."""
    return F.normalize(logits, dim=1, eps=NORM_EPS) if normalize else logits


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "none":
        return per_sample
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")


def _hinges(scores: torch.Tensor, labels: torch.Tensor, margin: float):
    """``(h, z_y)``: ``h[n, i] = [m - z_y + z_i]_+`` for ``i != y`` (0 at ``i == y``), and ``z_y``."""
    z_y = scores.gather(1, labels.view(-1, 1))
    h = torch.relu(margin - z_y + scores)
    h = h.scatter(1, labels.view(-1, 1), 0.0)
    return h, z_y.squeeze(1)


def margin_loss(logits: torch.Tensor, labels: torch.Tensor, margin: float = 1.0, normalize: bool = True,
                reduction: str = "mean") -> torch.Tensor:
    """Maximum-margin loss, Eq. 1 of Xie et al. (2022): ``L_m(x, y) = sum_{i != y} [m - z_y + z_i]_+``.

    ``z`` are the class scores: the logits, L2-normalised over the classes when ``normalize`` (as in the
    authors' code; the paper writes the raw classifier output). Sum over the classes, mean over the batch
    (``reduction="none"`` returns one value per sample).
    """
    h, _ = _hinges(margin_space(logits, normalize), labels, margin)
    return _reduce(h.sum(dim=1), reduction)


def adjusted_margin_loss(logits: torch.Tensor, labels: torch.Tensor, margin: float = 1.0, normalize: bool = True,
                         reduction: str = "mean") -> torch.Tensor:
    """Dynamically adjusted margin loss of SDM-A, Eq. 7 of Xie et al. (2022)::

        L~_m(x, y) = sum_{i != y} alpha_i [m - z_y + z_i]_+  -  z_y,     alpha_i = 1 - (z_y - z_i) / m

    The modulation factor ``alpha_i`` is kept, as the paper writes it (the authors' released code computes it
    and then discards it), and differentiated like the rest of the formula: on an active hinge the term equals
    ``[m - z_y + z_i]_+^2 / m``, whose gradient grows with the rectified margin. ``- z_y`` is the max-logit
    regulariser. With ``normalize`` (default, as in the authors' code) ``z`` are the L2-normalised logits, so
    ``z_y <= 1`` and the loss is bounded below; on raw logits the max-logit term is unbounded below.
    """
    z = margin_space(logits, normalize)
    h, z_y = _hinges(z, labels, margin)
    alpha = 1.0 - (z_y.unsqueeze(1) - z) / margin
    return _reduce((alpha * h).sum(dim=1) - z_y, reduction)
