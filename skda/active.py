"""Active domain adaptation: Select-by-Distinctive-Margin (SDM; Xie et al., CVPR 2022) and the classic
uncertainty baselines, on the shared training engine.

The losses and query scores of the paper are plain functions of batch tensors (each names its equation
and is unit-tested against a direct numpy computation in ``tests/test_active.py``):

- :func:`margin_loss`, Eq. 1;  :func:`adjusted_margin_loss`, Eq. 7 (SDM-A);
- :func:`margin_query_score`, Eq. 2-3;  :func:`gradient_consistency` / :func:`sdm_g_query_score`, Eq. 8-9
  (SDM-G), in closed form over the whole pool;
- :func:`entropy_query_score`, :func:`least_confidence_query_score` (baselines).

:class:`ActiveSelector` trains on the labelled set (source + the target samples labelled so far) and
answers ``query(budget)``; :func:`active_learning_loop` runs the query -> label -> train protocol and, given a
``learner`` (any skda estimator, :class:`skda.SourceClassifier`, or a Pipeline ending in one), trains it on the
labels bought (:func:`fit_learner`).
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples

from .engine import DomainAdaptationNet, PairedBatchSampler, TrainingInterruptedWarning, check_finite_output
from .images import RowSource, is_path_array
from .layers import ClassifierNetwork, MLPFeatureExtractor
from .optim import MomentumSGD
from .losses import NORM_EPS, adjusted_margin_loss, margin_loss, margin_space
from .params import choices, real
from .preprocessing import SourceClassifier
from .validation import (check_features, check_target_labels, final_estimator, is_int_at_least, missing_labels,
                         numeric_labels, split_domains, uint8_images_as_float, unlabeled_mask)

__all__ = [
    "ActiveLearningRoundError",
    "STRATEGIES",
    "ActiveSelector",
    "active_learning_loop",
    "fit_learner",
    "badge_gradient_factors",
    "badge_select",
    "clue_select",
    "entropy_query_score",
    "gradient_consistency",
    "least_confidence_query_score",
    "margin_loss_logit_gradient",
    "margin_query_score",
    "sdm_g_query_score",
]

#: strategy -> (training loss, query score). "ce": cross-entropy only; "margin": CE + Eq. 1;
#: "adjusted": CE + Eq. 7. Query: "margin" Eq. 3, "gradient" Eq. 8-9, "entropy", "least-confidence", "random",
#: "clue" (Prabhu et al. 2021, :func:`clue_select`), "badge" (Ash et al. 2020, :func:`badge_select`).
STRATEGIES = {
    "sdm": ("margin", "margin"),
    "sdm-a": ("adjusted", "margin"),
    "sdm-g": ("margin", "gradient"),
    "sdm-ag": ("adjusted", "gradient"),
    "margin": ("ce", "margin"),
    "entropy": ("ce", "entropy"),
    "least-confidence": ("ce", "least-confidence"),
    "random": ("ce", "random"),
    "clue": ("ce", "clue"),
    "badge": ("ce", "badge"),
}
#: query kinds that select a diverse batch (the order is the selection order, not a score order)
BATCH_QUERIES = ("clue", "badge")

# ---------------------------------------------------------------------------------------------- query scores
def margin_query_score(probabilities: torch.Tensor) -> torch.Tensor:
    """Margin sampling, Eq. 3 of Xie et al. (2022): ``Q(x) = 1 - (p_1* - p_2*)`` on the softmax
    probabilities (Eq. 2), ``1*`` and ``2*`` the two most probable classes. In [0, 1]; higher = more
    informative."""
    top2 = probabilities.topk(2, dim=1).values
    return 1.0 - (top2[:, 0] - top2[:, 1])


def entropy_query_score(probabilities: torch.Tensor) -> torch.Tensor:
    """Entropy sampling baseline: ``-sum_c p_c log p_c`` (0 log 0 = 0); higher = more informative."""
    return -torch.special.xlogy(probabilities, probabilities).sum(dim=1)


def least_confidence_query_score(probabilities: torch.Tensor) -> torch.Tensor:
    """Least-confidence baseline: ``1 - max_c p_c``; higher = more informative."""
    return 1.0 - probabilities.max(dim=1).values


def margin_loss_logit_gradient(logits: torch.Tensor, labels: torch.Tensor, margin: float = 1.0,
                               normalize: bool = True) -> torch.Tensor:
    """``d L_m(x_n, y_n) / d z_n`` of the margin loss Eq. 1 for every row, in closed form (no autograd).

    On the scores ``u`` the hinge gives ``+1`` on each active class ``i != y`` and ``-(number active)`` on
    ``y``; through the normalisation ``u = z / ||z||`` the Jacobian ``(I - u u^T) / ||z||`` applies.
    """
    labels = labels.view(-1, 1)
    u = margin_space(logits, normalize)
    active = (margin - u.gather(1, labels) + u) > 0
    active = active.scatter(1, labels, False).to(logits.dtype)
    grad = active.scatter(1, labels, -active.sum(dim=1, keepdim=True))
    if normalize:
        norm = logits.norm(dim=1, keepdim=True).clamp_min(NORM_EPS)
        grad = (grad - u * (u * grad).sum(dim=1, keepdim=True)) / norm
    return grad


def gradient_consistency(logits: torch.Tensor, weight: torch.Tensor, margin: float = 1.0,
                         normalize: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """Cosine term of SDM-G, Eq. 8-9 of Xie et al. (2022): ``cos(grad_f L^_m(x), grad_f Q(x))`` per row.

    ``f`` is the input of the last linear layer (``z = W f + b``, ``weight`` = W of shape (C, D)), so
    ``grad_f = W^T grad_z`` and everything is closed form:

    - ``grad_z Q = -p_1* (e_1* - p) + p_2* (e_2* - p)`` (Eq. 3 through the softmax, Eq. 2);
    - ``grad_z L^_m = p_1* grad_z L_m(x, 1*) + p_2* grad_z L_m(x, 2*)`` (Eq. 9, the label-free estimate, with
      the margin loss of Eq. 1 on the same scores as training, see :func:`margin_loss_logit_gradient`);
    - inner products in feature space through the Gram matrix ``W W^T`` (C x C), so a pool of N rows costs
      O(N C^2 + C^2 D), not O(N C D).

    A zero gradient (e.g. ``L_m`` saturated for both labels) gives a cosine of 0.
    """
    p = torch.softmax(logits, dim=1)
    top_p, top_i = p.topk(2, dim=1)
    p1, p2 = top_p[:, :1], top_p[:, 1:]
    grad_q = (p1 - p2) * p
    grad_q = grad_q.scatter_add(1, top_i, torch.cat([-p1, p2], dim=1))
    grad_l = (p1 * margin_loss_logit_gradient(logits, top_i[:, 0], margin, normalize)
              + p2 * margin_loss_logit_gradient(logits, top_i[:, 1], margin, normalize))
    gram = weight @ weight.T
    grad_l_gram = grad_l @ gram
    dot = (grad_l_gram * grad_q).sum(dim=1)
    norm_l = (grad_l_gram * grad_l).sum(dim=1).clamp_min(0.0).sqrt()
    norm_q = ((grad_q @ gram) * grad_q).sum(dim=1).clamp_min(0.0).sqrt()
    return (dot / (norm_l.clamp_min(eps) * norm_q.clamp_min(eps))).clamp(-1.0, 1.0)


def sdm_g_query_score(logits: torch.Tensor, weight: torch.Tensor, gradient_weight: float = 0.01,
                      margin: float = 1.0, normalize: bool = True) -> torch.Tensor:
    """SDM-G query, Eq. 8: ``Q~(x) = Q(x) + lambda * cos(grad_f L^_m(x), grad_f Q(x))`` (lambda = 0.01 in
    the paper). See :func:`gradient_consistency`."""
    q = margin_query_score(torch.softmax(logits, dim=1))
    return q + gradient_weight * gradient_consistency(logits, weight, margin, normalize)


# ---------------------------------------------------------------------------------------------- batch selection
#: Lloyd iterations of CLUE's weighted K-means (fixed: no convergence test, so the cost is known in advance)
CLUE_ITERATIONS = 8
#: candidates kept per centre by CLUE's nearest-candidate pass (more are looked for only on a collision)
_CLUE_NEAREST = 10
#: cells (rows x centres) of one distance block of CLUE; 4M float32 = 16 MB
_DISTANCE_BLOCK_CELLS = 1 << 22


def _row_blocks(n, *widths):
    rows = max(1, _DISTANCE_BLOCK_CELLS // max(*widths, 1))
    return range(0, n, rows), rows


def clue_select(embedding: torch.Tensor, weights: torch.Tensor, count: int, uniforms,
                iterations: int = CLUE_ITERATIONS):
    """CLUE (Prabhu et al., ICCV 2021): uncertainty-weighted K-means on the embeddings, K = ``count``; the
    candidate nearest each centre is selected. Returns ``(indices, order)`` as int64 tensors: the selected rows,
    in selection order (centres by decreasing total weight of their final cluster).

    - ``embedding`` (n, d): the features before the classifier; ``weights`` (n,) >= 0: the predictive entropy;
    - init: ``count`` distinct rows drawn with probability proportional to ``weights`` without replacement
      (Efraimidis-Spirakis keys ``-log(u_i) / w_i``, smallest first, ``u = uniforms`` (n,) in (0, 1]; zero-weight
      rows only after every positive-weight row, by their ``-log u``);
    - ``iterations`` Lloyd steps: assign each row to its nearest centre (squared Euclidean), move each centre to
      the weighted mean of its rows (a centre whose rows weigh 0 stays put);
    - then each centre, heaviest cluster first, takes its nearest row not taken by a heavier one.

    Distances are computed in row blocks of ``_DISTANCE_BLOCK_CELLS`` cells: memory beyond the inputs is one block
    plus the (count, d) centres.
    """
    n, d = embedding.shape
    device, dtype = embedding.device, embedding.dtype
    w = weights.to(device=device, dtype=torch.float64).clamp_min(0.0)
    e = -np.log(np.asarray(uniforms, dtype=np.float64))  # Exp(1) draws
    w_host = w.cpu().numpy()
    with np.errstate(divide="ignore"):
        keys = np.where(w_host > 0, e / np.where(w_host > 0, w_host, 1.0), np.inf)
    init = np.lexsort((np.arange(n), e, keys))[:count]
    centres = embedding[torch.from_numpy(init).to(device)].clone()
    starts, rows = _row_blocks(n, count, d)
    sq_norm = (embedding * embedding).sum(dim=1)
    assign = torch.empty(n, dtype=torch.int64, device=device)
    rows_index = torch.arange(n, device=device)
    for _ in range(iterations):
        c_norm = (centres * centres).sum(dim=1)
        for s in starts:
            assign[s:s + rows] = torch.addmm(c_norm, embedding[s:s + rows], centres.T, alpha=-2.0).argmin(dim=1)
        # weighted sums per cluster: a sparse (count, n) x (n, d) product
        members = torch.sparse_coo_tensor(torch.stack([assign, rows_index]), w.to(dtype), (count, n),
                                          is_coalesced=False, check_invariants=False)
        sums = torch.sparse.mm(members, embedding).to(torch.float64)
        mass = torch.bincount(assign, weights=w, minlength=count)
        moved = mass > 0
        centres[moved] = (sums[moved] / mass[moved, None]).to(dtype)
    # final pass: cluster masses under the final centres and the nearest rows of each centre
    c_norm = (centres * centres).sum(dim=1)
    keep = min(_CLUE_NEAREST, n)
    best_d = torch.full((keep, count), math.inf, dtype=dtype, device=device)
    best_i = torch.zeros((keep, count), dtype=torch.int64, device=device)
    mass = torch.zeros(count, dtype=torch.float64, device=device)
    for s in starts:
        x = embedding[s:s + rows]
        dist = torch.addmm(c_norm, x, centres.T, alpha=-2.0).add_(sq_norm[s:s + rows, None])
        mass += torch.bincount(dist.argmin(dim=1), weights=w[s:s + rows], minlength=count)
        k = min(keep, len(x))
        blk_d, blk_i = dist.topk(k, dim=0, largest=False)
        cand_d = torch.cat([best_d, blk_d])
        cand_i = torch.cat([best_i, blk_i + s])
        best_d, pos = cand_d.topk(keep, dim=0, largest=False, sorted=True)
        best_i = cand_i.gather(0, pos)
    # heaviest cluster first (ties: lower centre index)
    order = np.lexsort((np.arange(count), -mass.cpu().numpy()))
    nearest = best_i.T.cpu().numpy()
    taken = np.zeros(n, dtype=bool)
    chosen = np.empty(count, dtype=np.int64)
    for rank, k in enumerate(order):  # one step per selected sample, O(keep) each
        free = nearest[k][~taken[nearest[k]]]
        if len(free):
            pick = int(free[0])
        else:  # every kept neighbour taken (duplicate rows): nearest free row, one pass
            dist = ((embedding - centres[k]) ** 2).sum(dim=1)
            dist[torch.from_numpy(taken).to(device)] = math.inf
            pick = int(dist.argmin())
        taken[pick] = True
        chosen[rank] = pick
    return torch.from_numpy(chosen), torch.from_numpy(order)


def badge_gradient_factors(logits: torch.Tensor):
    """``a = p - onehot(argmax p)`` (float64), the class factor of BADGE's gradient embedding
    ``g = a (x) h``: the gradient of the cross-entropy at the predicted label w.r.t. the last layer's weight."""
    p = torch.softmax(logits.to(torch.float64), dim=1)
    return p.scatter_add(1, p.argmax(dim=1, keepdim=True), -torch.ones_like(p[:, :1]))


def badge_select(a: torch.Tensor, h: torch.Tensor, count: int, uniforms) -> torch.Tensor:
    """BADGE (Ash et al., ICLR 2020): k-means++ seeding on the gradient embeddings ``g_i = a_i (x) h_i``
    (``a`` (n, C) from :func:`badge_gradient_factors`, ``h`` (n, d) the features before the classifier; the
    bias is left out, as in the authors' code). Returns the ``count`` selected rows in selection order (int64).

    The first row has the largest ``||g||`` (authors' code; first maximum); then pick t >= 1 is drawn with
    probability ``D2_i / sum D2`` (``D2_i`` the squared distance of ``g_i`` to the nearest pick so far) by inverse
    CDF with ``uniforms[t - 1]`` in [0, 1): the first row (in index order) whose cumulative ``D2`` exceeds
    ``u * sum D2``. Once every remaining ``D2`` is 0 (duplicate embeddings: a squared distance within rounding noise,
    1e-5 of ``||g_i||^2 + ||g_j||^2`` for float32 features, 1e-12 for float64, counts as 0), the lowest unpicked
    index is taken.

    ``g`` (n, C*d) is never formed: ``||g_i - g_j||^2 = ||a_i||^2 ||h_i||^2 + ||a_j||^2 ||h_j||^2
    - 2 (a_i . a_j)(h_i . h_j)``. After each pick j, a row whose lower bound ``||g_i||^2 + ||g_j||^2
    - 2 |a_i . a_j| ||h_i|| ||h_j||`` is already >= its ``D2_i`` cannot get closer and is skipped; the others
    compute ``h_i . h_j``. Rows are stored grouped by predicted class (the rows that pass the bound are mostly
    the pick's class), so that product is mostly one contiguous matrix-vector product. The selection runs on the
    CPU in single-threaded numpy (one pick at a time: small vector operations, for which a thread pool's
    start-up costs more than the work).
    """
    n = len(h)
    a = a.detach().to("cpu", torch.float64).numpy()
    h = h.detach().to("cpu", torch.float32 if h.dtype in (torch.float16, torch.bfloat16) else h.dtype).numpy()
    uniforms = np.asarray(uniforms, dtype=np.float64)
    chosen = np.empty(count, dtype=np.int64)
    # rows grouped by predicted class (argmin of a: the -1 + p entry), stable
    label = a.argmin(axis=1)
    perm = np.argsort(label, kind="stable")
    group = np.searchsorted(label[perm], np.arange(a.shape[1] + 1))  # class c: rows group[c]:group[c+1]
    block = max(1, _DISTANCE_BLOCK_CELLS // max(h.shape[1], 1))
    hs = h[perm]  # contiguous copy in grouped order
    position = np.empty(n, dtype=np.int64)
    position[perm] = np.arange(n)
    h_sq = np.einsum("ij,ij->i", hs, hs).astype(np.float64)[position]  # original order
    alpha = (a * a).sum(axis=1) * h_sq  # ||g||^2
    h_norm = np.sqrt(h_sq)
    d2 = np.full(n, np.inf)
    lhs = np.empty(n)
    j = int(alpha.argmax())
    for t in range(count):
        chosen[t] = j
        if t == count - 1:
            break
        ad = np.einsum("ij,j->i", a, a[j])
        hj = hs[position[j]]
        if t == 0:
            rows = np.arange(n)
        else:
            np.abs(ad, out=lhs)
            lhs *= h_norm
            lhs *= -2.0 * h_norm[j]
            lhs += alpha
            rows = np.flatnonzero(lhs < d2 - alpha[j])
        if len(rows):
            pos = position[rows]
            hd = np.empty(len(rows))
            lo, hi = group[label[j]], group[label[j] + 1]
            inside = (pos >= lo) & (pos < hi)
            if 4 * np.count_nonzero(inside) >= hi - lo:  # the pick's class: one contiguous product
                hd[inside] = np.einsum("ij,j->i", hs[lo:hi], hj)[pos[inside] - lo]
            else:
                inside[:] = False
            outside = ~inside
            if outside.any():
                for s in range(0, int(outside.sum()), block):
                    sel = np.flatnonzero(outside)[s:s + block]
                    hd[sel] = np.einsum("ij,j->i", hs[pos[sel]], hj)
            new = alpha[rows] + alpha[j] - 2.0 * ad[rows] * hd
            # a duplicate of a pick is at distance 0: the products leave rounding noise (float32 features: of a
            # relative size well below 1e-5), which would make duplicates drawable
            new[new <= (1e-5 if hs.dtype != np.float64 else 1e-12) * (alpha[rows] + alpha[j])] = 0.0
            d2[rows] = np.minimum(d2[rows], new)
        d2[j] = 0.0
        cdf = np.cumsum(d2)
        total = cdf[-1]
        if total > 0.0:
            j = int(np.searchsorted(cdf, uniforms[t] * total, side="right"))
            if j >= n or d2[j] == 0.0:  # u * total rounded up to the total: the last row with mass
                j = int(np.flatnonzero(d2 > 0.0)[-1])
        else:
            free = np.ones(n, dtype=bool)
            free[chosen[:t + 1]] = False
            j = int(np.flatnonzero(free)[0])
    return torch.from_numpy(chosen)


# ---------------------------------------------------------------------------------------------- estimator
def _check_strategy(strategy):
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {list(STRATEGIES)}.")
    return STRATEGIES[strategy]


class ActiveSelector(DomainAdaptationNet):
    """Active domain adaptation by Select-by-Distinctive-Margin (Xie et al., CVPR 2022) and baselines.

    The model (feature extractor + linear classifier, as :class:`skda.SourceOnlyClassifier`) is trained on the
    *labelled set*: the labelled source samples plus the target samples labelled so far (no unlabelled target
    sample is used in training, as in the paper). ``query(budget)`` returns the indices of the most informative
    unlabelled target samples; an oracle labels them, they join the labelled set, training continues.

    Strategies (``strategy``; the rows of the paper's Table 3 and the classic baselines):

    | strategy | training loss | query score (higher = queried first) |
    |---|---|---|
    | ``"sdm"`` | CE + margin loss, Eq. 1 | Q(x) = 1 - (p_1* - p_2*), Eq. 3 |
    | ``"sdm-a"`` | CE + adjusted margin loss, Eq. 7 | Q(x), Eq. 3 |
    | ``"sdm-g"`` | CE + margin loss, Eq. 1 | Q(x) + lambda cos(grad_f L^_m, grad_f Q), Eq. 8-9 |
    | ``"sdm-ag"`` (default) | CE + adjusted margin loss, Eq. 7 | Eq. 8-9 |
    | ``"margin"`` | CE (the paper's "Baseline") | Q(x), Eq. 3 |
    | ``"entropy"`` | CE | prediction entropy |
    | ``"least-confidence"`` | CE | 1 - max_c p_c |
    | ``"random"`` | CE | uniform random order |
    | ``"clue"`` | CE | CLUE: entropy-weighted K-means on the features, nearest per centre (:func:`clue_select`) |
    | ``"badge"`` | CE | BADGE: k-means++ seeding on last-layer gradient embeddings (:func:`badge_select`) |

    The cross-entropy and the margin term have weight 1 (authors' code). The margin terms (Eq. 1, Eq. 7 and the
    loss gradient of Eq. 9) are computed on L2-normalised logits (``normalize_logits=True``, authors' code: it
    bounds the max-logit term of Eq. 7); cross-entropy and the probabilities of Eq. 2-3 use the raw logits.
    Eq. 7 is implemented as written, with the modulation factor alpha_i (the released code drops it). The
    gradient term of SDM-G uses the closed form of :func:`gradient_consistency` over the whole pool in
    ``PREDICT_CHUNK_ROWS``-row chunks: one forward pass, no autograd, no loop over samples.

    Parameters
    ----------
    module : nn.Module class or instance, default MLPFeatureExtractor
        The feature extractor (default ``hidden_sizes="auto"``: one hidden layer of
        ``clip(n_features // 4, 32, 256)`` units).
    strategy : str, default "sdm-ag"
        One of ``STRATEGIES`` (table above). May be changed with ``set_params`` after ``fit``: ``query`` uses
        the current value.
    margin : float, default 1.0
        m of Eq. 1 and Eq. 7 (paper: 1).
    gradient_weight : float, default 0.01
        lambda of Eq. 8 (paper: 0.01).
    normalize_logits : bool, default True
        Compute the margin terms on L2-normalised logits (authors' code).

    Other Parameters
    ----------------
    **kwargs
        The engine's parameters (:class:`skda.engine.DomainAdaptationNet`), here with this meaning:

        - ``lr`` (default 0.01, the paper's): the optimiser's (``optimizer``, default SGD with momentum 0.9,
          :class:`skda.optim.MomentumSGD`) learning rate,
          annealed within each ``fit`` / ``partial_fit`` call as in :class:`skda.SourceOnlyClassifier`
          (``lr_annealing`` callback; ``callbacks__lr_annealing=None`` for the paper's constant rate);
        - ``max_epochs`` (default 50): epochs of ``fit``. An epoch is one pass over the larger of the labelled set
          and the target pool (the engine's convention; the paper's epoch is a pass over the labelled set): with
          a cross-entropy strategy and no labelled target sample, ``fit`` trains exactly as
          :class:`skda.SourceOnlyClassifier` given the same ``optimizer``, ``lr`` and ``max_epochs`` (same seed,
          same model; SourceOnlyClassifier's own defaults are the tabular recipe, Adam 1e-3 for 500 steps).
          Unlabelled target samples never enter the loss;
        - ``batch_size`` (default 64): labelled samples per step (paper: 72);
        - ``random_state``: seeds initialisation, batch order and the ``"random"``, CLUE and BADGE draws.

    Attributes
    ----------
    pool_ : ndarray of shape (n_target, ...)
        A copy of ``Xt``, the query pool: float32 rows, images in their dtype (uint8 stays uint8), or the image
        file paths.
    labeled_mask_ : ndarray of bool, shape (n_target,)
        The target samples labelled at the last ``fit`` / ``partial_fit``.
    n_labeled_target_ : int
        Their number.
    query_seed_ : int
        Seed of the ``"random"`` strategy's draws.

    Notes
    -----
    Other parameters and attributes: see :class:`skda.engine.DomainAdaptationNet`.

    ``fit(Xs, ys, Xt, yt=None)``: ``Xt`` is the target pool; ``yt`` (same length, optional) holds the target
    labels known so far, ``unlabeled_marker`` (default -1) for unknown ones. The packed form ``fit(X, y)`` takes
    the rows marked unlabelled as the pool (none labelled; ``query`` then returns indices into that pool, the
    packed ``X``'s unlabelled rows in their order, not into ``X``). ``partial_fit(Xs, ys, Xt, yt, epochs=k)`` continues
    training (``epochs`` defaults to ``max_epochs``) on the updated labelled set without re-initialising.

    ``query(budget, candidates=None, return_scores=False)``: indices into ``Xt`` of the ``budget`` unlabelled
    target samples with the highest score, most informative first (ties: lower index first; ``"clue"`` and
    ``"badge"`` select a diverse batch and return it in selection order, with per-sample scores: entropy, gradient
    embedding norm). ``candidates``: indices into ``Xt`` (or a mask) to query among, or new samples (then indices
    into them); see :meth:`query`. ``budget`` is an int count >= 1 or a
    float fraction in (0, 1] *of the whole target set* (labelled and unlabelled: the paper's "1% of the target
    data"), rounded to the nearest integer and at least 1. A budget above the number of unlabelled samples, zero
    or negative raises ``ValueError``. ``query`` is a pure function of the fitted model: it changes nothing
    (the ``"random"`` order is drawn from a generator seeded by ``query_seed_`` and the number of labelled target
    samples).

    Design choices the paper leaves open (protocol of :func:`active_learning_loop`): ``fit`` is the warm-up
    (``max_epochs`` epochs on the source; the paper warms up for 10 epochs); then each round: query, label,
    ``partial_fit`` for ``round_epochs`` (default 2: the paper queries every 2 epochs) on the enlarged labelled
    set - a *warm start*, not a refit, with the learning-rate annealing restarted - and the accuracy is measured
    on all the target samples (labelled ones included, as the paper does).
    """

    requires_target = False
    #: ``query`` needs the pool and its labelled mask (see ``save_params``)
    fitted_attributes = (*DomainAdaptationNet.fitted_attributes, "pool_", "labeled_mask_", "n_labeled_target_",
                         "query_seed_")
    _parameter_constraints = {
        "strategy": [choices(*STRATEGIES)],
        "margin": [real(0, None, closed="neither")],
        "gradient_weight": [real(0)],
        "normalize_logits": ["boolean"],
    }

    def __init__(self, module=MLPFeatureExtractor, *, strategy="sdm-ag", margin=1.0, gradient_weight=0.01,
                 normalize_logits=True, optimizer=MomentumSGD, lr=0.01, max_epochs=50, **kwargs):
        # the active protocol keeps SGD 0.01 and counted epochs (its rounds are epochs of partial_fit), not the
        # tabular recipe of the other estimators (Adam 1e-3, max_epochs="auto")
        super().__init__(module, optimizer=optimizer, lr=lr, max_epochs=max_epochs, **kwargs)
        self._store_parameters(locals())

    def build_network(self, feature_extractor, n_features):
        return ClassifierNetwork(feature_extractor, n_features, len(self.classes_))

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, X_target=None, yt=None, classes=None, *, sample_domain=None, **fit_params):
        """Fit on the labelled set: ``(X, y)`` (source) plus the rows of ``X_target`` whose ``yt`` is not the
        unlabelled marker. ``X_target`` becomes the query pool ``pool_``. ``classes``: every class the target may
        reveal (needed when the source lacks some, so that later rounds may label them), as in ``partial_fit``.
        ``sample_domain``: the packed form with a domain per row, as in :meth:`skda.DANNClassifier.fit` (the pool
        is then the rows with a negative domain)."""
        _check_strategy(self.strategy)
        self._fit(X, y, X_target, classes=classes, target_labels=yt, sample_domain=sample_domain, **fit_params)
        self.query_seed_ = self._seed(offset=1)
        return self

    def partial_fit(self, X, y=None, X_target=None, yt=None, classes=None, *, sample_domain=None, **fit_params):
        """Continue training (``epochs=k`` fit parameter, default ``max_epochs``) on the labelled set built from
        the new ``yt`` (or the packed form with ``sample_domain``), without re-initialising; fits from scratch if
        not fitted."""
        _check_strategy(self.strategy)
        first_fit = not self.__sklearn_is_fitted__()
        self._partial_fit(X, y, X_target, classes=classes, target_labels=yt, sample_domain=sample_domain,
                          **fit_params)
        if first_fit:
            self.query_seed_ = self._seed(offset=1)
        return self

    def _validate_for_fit(self, X, y, X_target, min_classes=2, target_labels=None):
        """Validate; return the labelled set (source rows and the labelled target rows) as the engine's source,
        and the pool with its labelled mask as the state that ``_train`` stores."""
        Xs, ys, Xt = split_domains(X, y, X_target, unlabeled_marker=self.unlabeled_marker, require_target=False,
                                   min_classes=min_classes)
        if Xt is None:
            raise ValueError("ActiveSelector needs the target pool: fit(Xs, ys, Xt, yt=None) with Xt the target "
                             f"samples, or the packed form with target rows labelled {self.unlabeled_marker!r}.")
        known, y_known = check_target_labels(target_labels, len(Xt), ys, self.unlabeled_marker)
        pool = np.array(Xt, copy=True, order="C")  # float32 rows, uint8 / float32 images or file paths
        # stored by ``_train``, once the engine's checks (feature count, classes, names) have passed: a call
        # that raises leaves the pool and the labelled mask of the previous fit
        state = {"pool": pool, "known": known, "n_labeled_target": int(known.sum())}
        # no target tensor goes to the engine (the network never sees unlabelled rows); the pool only sets the
        # epoch length, in ``batch_sampler``
        if not known.any():
            return Xs, ys, None, state
        return np.concatenate([Xs, pool[known]]), np.concatenate([ys, y_known]), None, state

    def _train(self, Xs, ys, Xt, seed, state, **fit_params):
        # the sampler reads the new pool during training; a training failure restores the previous one
        previous = {name: self.__dict__[name] for name in ("pool_", "labeled_mask_", "n_labeled_target_")
                    if name in self.__dict__}
        pool, known = state["pool"], state["known"]
        self.pool_, self.labeled_mask_, self.n_labeled_target_ = pool, known, int(known.sum())
        try:
            return super()._train(Xs, ys, Xt, seed, state, **fit_params)
        except BaseException:
            for name in ("pool_", "labeled_mask_", "n_labeled_target_"):
                self.__dict__.pop(name, None)
            self.__dict__.update(previous)
            raise

    def batch_sampler(self, ys, n_target, generator):
        """The engine's paired sampler with the epoch length of the labelled set vs the pool (one pass over the
        larger), without copying the pool to the device or gathering target batches."""
        return PairedBatchSampler(len(ys), len(self.pool_), self.batch_size, generator, self.device_)

    #: The two parts of the loss that the strategies with a margin term record (``train_`` and ``valid_``)
    margin_loss_parts = ("cross_entropy", "margin_loss")

    def _trains_with_margin(self) -> bool:
        kind = STRATEGIES.get(self.strategy, ("ce",))[0] if isinstance(self.strategy, str) else "ce"
        return kind != "ce"

    @property
    def validation_metrics(self):
        """What the source validation split records each epoch: the engine's ``valid_loss`` and
        ``valid_accuracy``, plus, for the strategies that train with a margin term, its two parts
        (``valid_cross_entropy``, ``valid_margin_loss``), so that callbacks monitoring them are checked as the
        engine's are (:meth:`check_callbacks`)."""
        extra = tuple(f"valid_{part}" for part in self.margin_loss_parts) if self._trains_with_margin() else ()
        return (*DomainAdaptationNet.validation_metrics, *extra)

    def check_callbacks(self):
        """The engine's checks, plus: a callback monitoring a part of the margin term's loss (``train_`` or
        ``valid_`` ``cross_entropy`` / ``margin_loss``) under a strategy that trains with cross-entropy alone,
        which records neither (skorch raised a KeyError after the first epoch)."""
        super().check_callbacks()
        if self._trains_with_margin():
            return
        parts = {f"{prefix}_{part}" for prefix in ("train", "valid") for part in self.margin_loss_parts}
        for name, callback in self.callbacks_:
            monitor = getattr(callback, "monitor", None)
            if isinstance(monitor, str) and monitor in parts:
                raise ValueError(
                    f"callback {name!r} monitors {monitor!r}, which strategy={self.strategy!r} does not record: it "
                    "trains with cross-entropy alone (the SDM strategies, 'sdm', 'sdm-a', 'sdm-g', 'sdm-ag', add the "
                    "margin term and record its parts); monitor train_loss or valid_loss.")

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Cross-entropy plus the strategy's margin term (Eq. 1 or Eq. 7), both weight 1."""
        logits = y_pred["source_logits"]
        ce = self.criterion_(logits, y_true)
        kind, _ = _check_strategy(self.strategy)
        if kind == "ce":
            return ce
        fn = margin_loss if kind == "margin" else adjusted_margin_loss
        extra = fn(logits, y_true, self.margin, self.normalize_logits)
        self.log_metrics(cross_entropy=ce, margin_loss=extra)
        return ce + extra

    # ------------------------------------------------------------------ query
    def _random_scores(self, n):
        rng = np.random.default_rng([self.query_seed_, int(self.labeled_mask_.sum()), n])
        return rng.random(n)

    def _query_generator(self, n, kind):
        """The generator of a batch strategy's draws over ``n`` candidates: a function of the fit (seed, number
        labelled), the number of candidates and the strategy, so that a query is reproducible."""
        return np.random.default_rng([self.query_seed_, int(self.labeled_mask_.sum()), n,
                                      1 + BATCH_QUERIES.index(kind)])

    def _forward(self, X: torch.Tensor):
        """``(h, logits)``: the features before the classifier and the logits, one chunked forward pass."""
        net = self.module_

        def fn(x):
            h = net.features(x)
            return torch.cat([h, net.classify(h)], dim=1)

        out = check_finite_output(self.apply_in_chunks(X, fn))
        d = out.shape[1] - len(self.classes_)
        return out[:, :d], out[:, d:]

    def _score_tensor(self, X: torch.Tensor) -> np.ndarray:
        """Informativeness of the rows of the (validated) float32 tensor ``X`` under ``strategy``."""
        _, kind = _check_strategy(self.strategy)
        if kind == "random":
            return self._random_scores(len(X))
        net = self.module_
        score = {"margin": margin_query_score, "entropy": entropy_query_score,
                 "least-confidence": least_confidence_query_score}.get(kind)

        if score is not None:
            def fn(x):
                return score(torch.softmax(net.classify(net.features(x)), dim=1))
        elif kind == "clue":
            def fn(x):
                return entropy_query_score(torch.softmax(net.classify(net.features(x)).to(torch.float64), dim=1))
        elif kind == "badge":
            def fn(x):
                h = net.features(x)
                a = badge_gradient_factors(net.classify(h))
                return a.norm(dim=1) * h.to(torch.float64).norm(dim=1)
        else:
            weight = net.label_classifier.weight.detach()

            def fn(x):
                return sdm_g_query_score(net.classify(net.features(x)), weight, self.gradient_weight, self.margin,
                                         self.normalize_logits)

        return check_finite_output(self.apply_in_chunks(X, fn).cpu().numpy().astype(np.float64))

    def informativeness(self, X):
        """The query score of each row of ``X`` under ``strategy`` (higher = queried first), shape (n,). For
        ``"clue"``: the predictive entropy (CLUE's sample weight); for ``"badge"``: the norm of the gradient
        embedding, ``||p - onehot(argmax p)|| ||h||``; for ``"random"``: seeded uniform draws over the rows of
        ``X`` (the same ``X`` size, the same draws), not the draws ``query`` made over the unlabelled pool."""
        self._check_fitted()
        self._check_feature_names(X, reset=False)
        return self._score_tensor(self._prediction_rows(X))

    def _candidate_indices(self, candidates):
        """Validated pool indices (sorted) of index / mask candidates."""
        arr = np.asarray(candidates)
        n = len(self.pool_)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise ValueError(f"a boolean candidates mask must have one entry per pool row ({n}), got "
                                 f"{arr.shape[0]}.")
            idx = np.flatnonzero(arr)
        elif arr.size == 0:
            idx = np.empty(0, dtype=np.intp)
        elif arr.dtype.kind in "iu":
            idx = arr.astype(np.intp)
        else:
            raise TypeError(f"1-D candidates are indices into pool_ and must be integers (or a boolean mask over "
                            f"pool_), got dtype {arr.dtype}. Pass new samples as a 2-D array (one row per "
                            "sample).")
        bad = idx[(idx < 0) | (idx >= n)]
        if len(bad):
            raise ValueError(f"candidates {bad[:5].tolist()}{' ...' if len(bad) > 5 else ''} are out of range: "
                             f"indices into pool_ must be in [0, {n}) (negative indices are refused).")
        idx = np.sort(idx)
        dup = np.unique(idx[1:][idx[1:] == idx[:-1]])
        if len(dup):
            raise ValueError(f"candidates has duplicate indices {dup[:5].tolist()}{' ...' if len(dup) > 5 else ''}; "
                             "each pool row may be proposed once.")
        labelled = idx[self.labeled_mask_[idx]]
        if len(labelled):
            raise ValueError(f"candidates {labelled[:5].tolist()}{' ...' if len(labelled) > 5 else ''} are labelled "
                             "target samples (labeled_mask_); query proposes unlabelled samples only. Score any "
                             "rows with informativeness(pool_[indices]).")
        return idx

    def query(self, budget, candidates=None, return_scores=False):
        """Indices of the ``budget`` most informative unlabelled samples, most informative first (batch strategies
        ``"clue"`` / ``"badge"``: in selection order); with ``return_scores`` also their scores, in the same order.
        Changes nothing in the estimator.

        ``candidates``: None (default), the unlabelled rows of ``pool_`` (the ``Xt`` of the last fit), indices
        into ``pool_``; a 1-D integer array of indices into ``pool_`` (or a boolean mask over it): query among those
        rows only, indices into ``pool_`` returned (labelled rows, duplicates and out-of-range indices refused);
        a 2-D array of new samples: query among them, indices into ``candidates`` returned.

        ``budget``: an int count, or a float fraction in (0, 1] of the whole target set ``pool_`` (for new-sample
        candidates: of ``candidates``)."""
        self._check_fitted()
        _, kind = _check_strategy(self.strategy)
        if isinstance(candidates, tuple) and len(candidates) and all(isinstance(c, np.ndarray) and c.ndim == 1
                                                                     for c in candidates):
            raise TypeError("candidates is a tuple of index arrays (what np.where(mask) and mask.nonzero() return); "
                            "pass np.where(mask)[0] or the boolean mask itself.")
        pool = self._validated_prediction_rows(self.pool_)
        if candidates is None or (not sp.issparse(candidates) and np.ndim(candidates) == 1
                                  and not is_path_array(candidates)):  # e.g. a pandas Series of indices
            unlabelled = np.flatnonzero(~self.labeled_mask_)
            index = unlabelled if candidates is None else self._candidate_indices(candidates)
            what = None if candidates is None else f"but only {len(index)} candidates were given"
            count = _budget_count(budget, len(self.pool_), len(index), what)
            if len(index) == len(self.pool_):
                X = pool
            else:
                X = pool.subset(index) if isinstance(pool, RowSource) else pool[torch.from_numpy(index)]
        else:
            if np.ndim(candidates) == 0:
                raise ValueError("candidates must be None, a 1-D array of indices into pool_ (or a boolean mask), "
                                 f"or a 2-D array of new samples; got {candidates!r}.")
            self._check_feature_names(candidates, reset=False)
            X = self._prediction_rows(candidates, name="candidates")
            index = unlabelled = None
            count = _budget_count(budget, len(X), len(X), f"but only {len(X)} candidate samples were given")
        if kind in BATCH_QUERIES:
            order, scores = self._select_batch(X, count, kind)
        else:
            if kind == "random" and index is not None:  # the draws of the whole unlabelled pool, then restricted
                scores = np.empty(len(self.pool_))
                scores[unlabelled] = self._random_scores(len(unlabelled))
                scores = scores[index]
            else:
                scores = self._score_tensor(X)
            order = np.argsort(-scores, kind="stable")[:count]  # ties: lower index first
            scores = scores[order]
        indices = order if index is None else index[order]
        return (indices, scores) if return_scores else indices

    def _select_batch(self, X, count, kind):
        """``(order, scores)`` of a batch strategy over the rows of ``X``: selected rows in selection order and
        their per-sample score (CLUE: entropy; BADGE: gradient-embedding norm)."""
        rng = self._query_generator(len(X), kind)
        h, logits = self._forward(X)
        if kind == "clue":
            weights = entropy_query_score(torch.softmax(logits.to(torch.float64), dim=1))
            order, _ = clue_select(h, weights, count, 1.0 - rng.random(len(X)))
            scores = weights
        else:
            a = badge_gradient_factors(logits)
            order = badge_select(a, h, count, rng.random(max(count - 1, 0)))
            scores = a.norm(dim=1) * h.to(torch.float64).norm(dim=1)
        order = order.numpy()
        return order, scores[torch.from_numpy(order).to(scores.device)].cpu().numpy()


def _budget_count(budget, n_target, n_unlabeled, candidates=None):
    """The number of samples a ``budget`` (int count or float fraction of the whole target set) asks for."""
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, numbers.Real):
        raise TypeError(f"budget must be an int count or a float fraction of the target set, got {budget!r}.")
    if isinstance(budget, numbers.Integral):
        count = int(budget)
        if count <= 0:
            raise ValueError(f"budget must be positive, got {count}.")
    else:
        budget = float(budget)
        if not 0.0 < budget <= 1.0:
            raise ValueError(
                f"a float budget is a fraction of the whole target set ({n_target} samples) and must be in "
                f"(0, 1], got {budget}; pass an int for a count of samples.")
        count = max(1, int(math.floor(budget * n_target + 0.5)))
    if count > n_unlabeled:
        if candidates is not None:
            raise ValueError(f"budget {budget!r} asks for {count} samples {candidates}.")
        raise ValueError(f"budget {budget!r} asks for {count} samples but only {n_unlabeled} of the "
                         f"{n_target} target samples are unlabelled.")
    return count


# ---------------------------------------------------------------------------------------------- protocol
def _unknown_labels(yt, marker):
    if yt.dtype.kind in "biuf" and isinstance(marker, numbers.Number) and not isinstance(marker, bool):
        return np.full(len(yt), marker, dtype=np.result_type(yt.dtype, np.asarray(marker).dtype))
    labels = np.empty(len(yt), dtype=object)
    labels[:] = [marker] * len(yt)
    return labels


def _check_learner(learner):
    """``learner``: an skda estimator, :class:`skda.SourceClassifier`, or a scikit-learn Pipeline whose last step is
    one, with an unlabelled marker; with metadata routing on, every step that takes ``sample_domain`` requests it."""
    final = final_estimator(learner)
    if not isinstance(final, (DomainAdaptationNet, SourceClassifier)):
        raise TypeError(f"learner must be an skda estimator (e.g. skda.DANNClassifier), skda.SourceClassifier or a "
                        f"Pipeline ending in one, got {type(learner).__name__}" + (
                            "" if final is learner else f" ending in {type(final).__name__}") + ".")
    if final.unlabeled_marker is None:
        raise ValueError("the learner marks the target labels not bought with its unlabeled_marker, and None marks "
                         "none; set its unlabeled_marker to e.g. -1 or '?'.")
    steps = _sample_domain_steps(learner) if hasattr(learner, "steps") else []
    if not _metadata_routing_on():
        nested = [(path, step) for path, step, by_name in steps if not by_name]
        if nested:
            path, step = nested[0]
            raise ValueError(
                f"the Pipeline learner's step {'__'.join(path)!r} ({type(step).__name__}) takes sample_domain (which "
                "rows are target rows, also those with a bought label) but sits inside a FeatureUnion or "
                "ColumnTransformer, which passes fit parameters on only with scikit-learn's metadata routing: turn "
                "it on (sklearn.set_config(enable_metadata_routing=True)) and call "
                f"{type(step).__name__}(...).set_fit_request(sample_domain=True).")
    else:
        for path, step, _ in steps:
            if "sample_domain" not in step.get_metadata_routing().consumes(method="fit", params={"sample_domain"}):
                raise ValueError(
                    f"with metadata routing on, the Pipeline learner is fitted with sample_domain routed to every "
                    f"step that takes it, and its step {'__'.join(path)!r} ({type(step).__name__}) takes "
                    f"sample_domain but does not request it; call {type(step).__name__}(...)"
                    ".set_fit_request(sample_domain=True) on it (or turn routing off).")
    return final


def _sample_domain_steps(estimator, path=(), by_name=True):
    """``(path, step, by_name)`` for every step of a (nested) Pipeline, FeatureUnion or ColumnTransformer whose
    ``fit`` takes ``sample_domain`` (skda's estimators and :class:`skda.preprocessing.CORAL`): those that must be
    told which rows are target rows, as a bought target label would otherwise make its row a source row for them.
    ``by_name``: reached through Pipelines only, so ``<path>__sample_domain`` routes it without metadata routing
    (a FeatureUnion or ColumnTransformer passes fit parameters on only with metadata routing on)."""
    if hasattr(estimator, "steps"):
        children = [(name, step, by_name) for name, step in estimator.steps]
    elif hasattr(estimator, "transformer_list"):  # FeatureUnion
        children = [(name, step, False) for name, step in estimator.transformer_list]
    elif hasattr(estimator, "transformers") and isinstance(estimator.transformers, (list, tuple)):  # ColumnTransformer
        children = [(name, step, False) for name, step, *_ in estimator.transformers]
    else:
        fit = getattr(estimator, "fit", None)
        takes = fit is not None and "sample_domain" in inspect.signature(fit).parameters
        return [(path, estimator, by_name)] if takes else []
    return [found for name, step, through in children for found in _sample_domain_steps(step, (*path, name), through)]


def _metadata_routing_on() -> bool:
    import sklearn

    return bool(sklearn.get_config().get("enable_metadata_routing", False))


def fit_learner(learner, Xs, ys, Xt, yt):
    """Fit ``learner`` (an skda estimator, :class:`skda.SourceClassifier`, or a scikit-learn Pipeline ending in one)
    from scratch on the labelled source ``(Xs, ys)`` and the target pool ``Xt`` with the labels bought so far ``yt``
    (one per row of ``Xt``, unknown ones the learner's ``unlabeled_marker``). Returns the fitted learner.

    An skda estimator is fitted in the three-array form ``learner.fit(Xs, ys, Xt, yt)``. A Pipeline (or a
    SourceClassifier) is fitted in the packed form, so that every step sees both domains: ``X = [Xs; Xt]``, ``y =
    [ys; yt]``, and ``sample_domain`` (1 for the source rows, -1 for the target rows) for every step whose ``fit``
    takes it (skda's estimators, :class:`skda.preprocessing.CORAL`; a bought label would make its row a source row
    for them otherwise), handed over as scikit-learn routes fit parameters: ``pipe.fit(X, y, sample_domain=...)``
    when metadata routing is on (``sklearn.set_config(enable_metadata_routing=True)``; those steps must then
    request it: ``set_fit_request(sample_domain=True)``, else ``ValueError`` before any training), else ``pipe.fit(X,
    y, <step>__sample_domain=...)`` for each of them (``outer__inner__sample_domain`` in nested pipelines). A
    SourceClassifier drops the rows that carry the marker: it trains on the source and the bought target rows."""
    _check_learner(learner)
    if not hasattr(learner, "steps") and not isinstance(learner, SourceClassifier):
        return learner.fit(Xs, ys, Xt, yt)
    X = _stack_domains(Xs, Xt)
    ys, yt = np.asarray(ys), np.asarray(yt)
    y = np.concatenate([ys, yt]) if ys.dtype.kind == yt.dtype.kind else np.concatenate(
        [ys.astype(object), yt.astype(object)])
    domains = np.concatenate([np.ones(len(ys), dtype=np.int64), np.full(len(yt), -1, dtype=np.int64)])
    steps = _sample_domain_steps(learner) if hasattr(learner, "steps") else []
    if not steps:
        return learner.fit(X, y)
    if _metadata_routing_on():
        return learner.fit(X, y, sample_domain=domains)
    return learner.fit(X, y, **{"__".join([*path, "sample_domain"]): domains for path, _, _ in steps})


def _stack_domains(Xs, Xt):
    """The source rows, then the target rows, as one input: a DataFrame when either is one (the other takes its
    columns; two DataFrames must have the same columns), a sparse matrix when either is sparse, else an array."""
    if hasattr(Xs, "iloc") or hasattr(Xt, "iloc"):
        import pandas as pd

        columns = (Xs if hasattr(Xs, "iloc") else Xt).columns
        if hasattr(Xs, "iloc") and hasattr(Xt, "iloc") and not Xs.columns.equals(Xt.columns):
            raise ValueError(f"Xs and Xt are DataFrames with different columns ({list(Xs.columns)[:5]} ... vs "
                             f"{list(Xt.columns)[:5]} ...); give both domains the same columns, in the same order.")

        def frame(X):
            if hasattr(X, "iloc"):
                return X
            X = X.toarray() if sp.issparse(X) else np.asarray(X)
            if X.ndim != 2 or X.shape[1] != len(columns):
                raise ValueError(f"one domain is a DataFrame of {len(columns)} columns, the other has shape "
                                 f"{X.shape}; give both domains the same columns.")
            return pd.DataFrame(X, columns=columns)

        return pd.concat([frame(Xs), frame(Xt)], ignore_index=True)
    if sp.issparse(Xs) or sp.issparse(Xt):
        return sp.vstack([sp.csr_matrix(Xs), sp.csr_matrix(Xt)], format="csr")
    return np.concatenate([np.asarray(Xs), np.asarray(Xt)])


class ActiveLearningRoundError(RuntimeError):
    """A round of :func:`active_learning_loop` failed. The rounds finished before it are kept: ``accuracies``
    (index 0 the initial fit, index r round r) and ``labels`` (the target labels revealed so far, unknown ones
    the unlabelled marker); a ``partial_fit`` that refused its input left the selector as the last finished round
    left it. ``round`` is the failed
    round (1-based; None when the learner's fit after the last round failed); the original exception is the
    ``__cause__``."""

    def __init__(self, message, *, round, accuracies, labels):
        super().__init__(message)
        self.round = round
        self.accuracies = accuracies
        self.labels = labels


def _is_pool_of(selector, Xt):
    """Whether ``Xt``, read as fit reads it, holds the rows of the fitted selector's ``pool_`` in the same order (a
    pool of other rows or in another order would have the queried indices bought on other rows)."""
    pool = selector.pool_
    if _num_samples(Xt) != len(pool):
        return False
    rows = check_features(Xt, name="Xt")
    if rows.dtype != pool.dtype:  # uint8 images beside float ones at fit: the pool holds them as x / 255
        rows = uint8_images_as_float(rows)
    return rows.shape == pool.shape and np.array_equal(rows, pool)


def active_learning_loop(selector, Xs, ys, Xt, yt, *, rounds=5, budget=0.01, round_epochs=2, yt_initial=None,
                         fit_initial=True, classes=None, learner=None):
    """Run the active domain adaptation protocol with an oracle and return the target accuracy per round.

    1. ``selector.fit(Xs, ys, Xt, yt_initial)`` (skipped with ``fit_initial=False``: the selector is then already
       fitted on this ``Xt``, e.g. a copy of a shared warm-up model);
    2. ``rounds`` times: ``idx = selector.query(budget)``; the oracle reveals ``yt[idx]``;
       ``selector.partial_fit(Xs, ys, Xt, labels_so_far, epochs=round_epochs)`` (warm start);
    3. with a ``learner``: after the last round, ``fit_learner(learner, Xs, ys, Xt, labels_bought)``: the learner
       is fitted from scratch on the source and every target label bought (those of ``yt_initial`` included, as
       given there), the other target rows unlabelled. The selector chooses; the learner is the model you keep.

    The paper's protocol is 5 rounds of 1% of the target (``rounds=5, budget=0.01``), queried every 2 epochs.
    The budget is checked before any training: ``rounds`` queries of ``budget`` must fit in the target samples
    unlabelled at the start (``ValueError`` otherwise).

    Parameters
    ----------
    selector : ActiveSelector
        Fitted in place.
    Xs : array-like
        Source samples.
    ys : array-like
        Source labels.
    Xt : array-like
        The target pool.
    yt : array-like
        The oracle: the true label of every target sample.
    rounds : int, default 5
        Query rounds.
    budget : int or float, default 0.01
        Per round: a count, or a fraction of the whole target set (see :meth:`ActiveSelector.query`).
    round_epochs : int, default 2
        Epochs of ``partial_fit`` after each query.
    yt_initial : array-like or None
        Target labels known before the first round (``unlabeled_marker`` for unknown ones).
    fit_initial : bool, default True
        False: skip the warm-up fit (the selector must already be fitted on ``Xt``).
    classes : array-like or None
        Every class the oracle may reveal, passed to the initial fit. Needed when the target holds a class the
        source lacks (otherwise the round that reveals it fails). With ``fit_initial=False`` it must hold only
        classes the selector was fitted with (``ValueError`` otherwise).
    learner : skda estimator, skda.SourceClassifier, Pipeline ending in one, or None
        Fitted in place after the last round (see :func:`fit_learner`: three arrays for an estimator, the packed
        form with ``sample_domain`` for a Pipeline). Checked before any training.

    Raises
    ------
    ActiveLearningRoundError
        When a round fails or is interrupted (Ctrl-C, which skorch's ``partial_fit`` would otherwise swallow), or
        the learner's fit fails (its cause chained); it carries the accuracies and labels of the finished rounds.

    Returns
    -------
    ndarray of shape (rounds + 1,): accuracy on ALL the target samples (labelled ones included, as in the
    paper) after the initial fit (index 0, no query yet) and after each round (index r), of the selector's own
    model (score the learner yourself). The labels queried are ``selector.labeled_mask_``.
    """
    if not hasattr(selector, "query") or not hasattr(selector, "partial_fit"):
        raise TypeError(f"selector must be an ActiveSelector (query + partial_fit), got {type(selector).__name__}.")
    learner_marker = None if learner is None else _check_learner(learner).unlabeled_marker
    if not is_int_at_least(rounds, 0):
        raise ValueError(f"rounds must be an int >= 0, got {rounds!r}.")
    if not is_int_at_least(round_epochs, 1):
        raise ValueError(f"round_epochs must be an int >= 1, got {round_epochs!r}.")
    yt = column_or_1d(np.asarray(yt), warn=False)
    n_target = _num_samples(Xt)
    if len(yt) != n_target:
        raise ValueError(f"the oracle labels yt ({len(yt)}) must label every target sample ({n_target}).")
    marker = selector.unlabeled_marker
    if marker is None:
        raise ValueError("active_learning_loop marks the unknown target labels with the selector's "
                         "unlabeled_marker, and None marks none; set unlabeled_marker to e.g. -1 or '?'.")
    if unlabeled_mask(yt, marker).any():
        raise ValueError(f"the oracle labels yt contain the unlabelled marker {marker!r}: the oracle must know "
                         "every target label.")
    missing = missing_labels(yt)
    if missing.any():  # before any training, not at the first score
        raise ValueError(f"the oracle labels yt contain NaN, None or pd.NA (at {int(missing.sum())} rows); the oracle "
                         "must know every target label.")
    try:  # as fit checks labels (continuous values), on the labels as fit reads them (e.g. an object array of ints)
        check_classification_targets(numeric_labels(yt))
    except ValueError as exc:
        raise ValueError(f"the oracle labels yt are not class labels ({exc}).") from None
    labels = _unknown_labels(yt, marker)
    if yt_initial is not None:
        # the checks of fit's yt (NaN or another marker is no class), spelled as the oracle's labels
        known, y_known = check_target_labels(column_or_1d(np.asarray(yt_initial), warn=False), n_target, yt, marker)
        labels[known] = y_known
    if not fit_initial:
        if not (selector.__sklearn_is_fitted__() and _is_pool_of(selector, Xt)):
            raise ValueError("fit_initial=False needs a selector already fitted on this target pool (the same rows "
                             "in the same order: the rows it ranks are the rows whose labels are bought).")
        missing = [] if classes is None else np.setdiff1d(np.asarray(classes), selector.classes_).tolist()
        if missing:  # classes is passed to the initial fit only: the fitted selector cannot learn new ones
            raise ValueError(f"classes holds {missing}, which the selector was not fitted with; with "
                             "fit_initial=False classes cannot add a class (fit the selector with classes=...).")
        labels[selector.labeled_mask_] = yt[selector.labeled_mask_]
    if rounds:  # check the budget before any training, not after the warm-up or in a late round
        n_unlabeled = int(unlabeled_mask(labels, marker).sum())
        count = _budget_count(budget, n_target, n_unlabeled)
        if rounds * count > n_unlabeled:
            raise ValueError(f"{rounds} rounds of {count} queries need {rounds * count} unlabelled target samples; "
                             f"only {n_unlabeled} of the {n_target} are unlabelled. Lower rounds or budget.")
    if fit_initial:
        selector.fit(Xs, ys, Xt, labels, classes=classes)
    accuracies = [selector.score(Xt, yt)]
    for r in range(1, rounds + 1):
        # among the rows not labelled yet (also those of yt_initial that a selector fitted before does not know)
        idx = selector.query(budget, candidates=unlabeled_mask(labels, marker))
        revealed = labels.copy()
        revealed[idx] = yt[idx]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                selector.partial_fit(Xs, ys, Xt, revealed, epochs=round_epochs)
            _reissue(caught)
            if any(issubclass(w.category, TrainingInterruptedWarning) for w in caught):
                raise KeyboardInterrupt(f"the training of round {r} was interrupted")
        except (Exception, KeyboardInterrupt) as exc:
            unknown = np.setdiff1d(np.unique(yt[idx]), selector.classes_)
            hint = (f" The oracle revealed classes {unknown.tolist()} that the selector was not fitted with: pass "
                    "classes=<every class> to active_learning_loop." if len(unknown) else
                    " The selector keeps the weights of the interrupted round's last step." if
                    isinstance(exc, KeyboardInterrupt) else "")
            raise ActiveLearningRoundError(
                f"active learning round {r} of {rounds} failed ({type(exc).__name__}: {exc}).{hint} The {r - 1} "
                "finished round(s) are kept in this error's accuracies and labels (a partial_fit that refuses its "
                "input leaves the selector as the last finished round left it).", round=r,
                accuracies=np.asarray(accuracies), labels=labels) from exc
        labels = revealed
        accuracies.append(selector.score(Xt, yt))
    if learner is not None:
        bought = ~unlabeled_mask(labels, marker)
        learner_labels = _unknown_labels(yt, learner_marker)
        learner_labels[bought] = labels[bought]  # those of yt_initial as given, the bought ones the oracle's
        try:
            fit_learner(learner, Xs, ys, Xt, learner_labels)
        except Exception as exc:
            raise ActiveLearningRoundError(
                f"fitting the learner on the labels bought failed ({type(exc).__name__}: {exc}). The {rounds} "
                "finished round(s) are kept in this error's accuracies and labels: fit the learner on them with "
                "skda.active.fit_learner once the cause is mended.", round=None, accuracies=np.asarray(accuracies),
                labels=labels) from exc
    return np.asarray(accuracies)


def _reissue(caught):
    """Warn again the warnings recorded by ``warnings.catch_warnings(record=True)`` (through the caller's
    filters), but the training interruptions, which the loop turns into an error."""
    for w in caught:
        if not issubclass(w.category, TrainingInterruptedWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
