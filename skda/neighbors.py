"""k-nearest-neighbour voting on the training device, in chunks (never a full query x key matrix)."""

from __future__ import annotations

import torch

__all__ = ["knn_vote"]

#: Upper bound on the cells of one (queries x keys) distance block: 2**24 float32 = 64 MiB.
MAX_BLOCK_CELLS = 2**24


def knn_vote(queries: torch.Tensor, keys: torch.Tensor, key_labels: torch.Tensor, n_neighbors: int,
             n_classes: int) -> torch.Tensor:
    """Vote shares of the ``n_neighbors`` nearest keys (Euclidean) of each query: (n_queries, n_classes).

    ``key_labels`` are integers in ``[0, n_classes)``. The arg-max of a row is the mode label, ties going
    to the lower label (as ``scipy.stats.mode`` and scikit-learn's ``KNeighborsClassifier``). Distances are
    computed for blocks of queries at most ``MAX_BLOCK_CELLS`` cells large.
    """
    if not 1 <= n_neighbors <= len(keys):
        raise ValueError(f"n_neighbors={n_neighbors} must be between 1 and the number of source samples "
                         f"({len(keys)}).")
    rows = max(1, MAX_BLOCK_CELLS // max(1, len(keys)))
    # queries and keys moved by the keys' mean (distances do not change), so that ||k||^2 - 2 q.k does not lose
    # the distances to cancellation when the points lie far from the origin
    centre = keys.mean(0, keepdim=True)
    keys, queries = keys - centre, queries - centre
    key_norms = (keys * keys).sum(1)
    out = torch.empty((len(queries), n_classes), dtype=torch.float32, device=queries.device)
    ones = torch.ones((1, 1), dtype=torch.float32, device=queries.device)
    for start in range(0, len(queries), rows):
        q = queries[start:start + rows]
        # ||q||^2 is the same for every key of a row: ranking needs only ||k||^2 - 2 q.k
        scores = torch.addmm(key_norms.unsqueeze(0), q, keys.T, alpha=-2.0)
        idx = scores.topk(n_neighbors, dim=1, largest=False, sorted=False).indices
        votes = torch.zeros((len(q), n_classes), dtype=torch.float32, device=queries.device)
        votes.scatter_add_(1, key_labels[idx], ones.expand(len(q), n_neighbors))
        out[start:start + rows] = votes / n_neighbors
    return out
