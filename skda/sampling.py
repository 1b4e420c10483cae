"""Paired source/target batch samplers of the engine, and the source validation split.

An epoch is one pass over the larger domain; the samplers draw index batches on the CPU from a
``torch.Generator`` (so the order does not depend on the device) and hand them to the training loop, which
gathers rows from tensors already on the training device.
"""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np
import torch

__all__ = ["ClassBalancedBatchSampler", "PairedBatchSampler", "SourceRowsAppended", "at_most", "split_validation"]


class PairedBatchSampler:
    """Index batches of paired source/target samples for one epoch.

    An epoch is one pass over the larger domain in a random order; the smaller domain is recycled
    (concatenated random permutations) so that every step has ``batch_size`` samples of each domain
    (the last step of an epoch may be smaller, with equal sizes in both domains; a last step of one row is
    merged into the one before, since BatchNorm cannot train on a single row). Permutations are
    drawn on the CPU from ``generator`` (so the order does not depend on the device) and moved to
    ``device`` once per epoch.
    """

    def __init__(self, n_source: int, n_target: int, batch_size: int, generator: torch.Generator,
                 device: torch.device):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if n_source < 1 or n_target < 1:
            raise ValueError(f"paired batches need rows of both domains, got {n_source} source and {n_target} target "
                             "rows.")
        self.n_source, self.n_target = int(n_source), int(n_target)
        self.batch_size = int(batch_size)
        self.generator = generator
        self.device = device
        self.epoch_length = max(self.n_source, self.n_target)

    def __len__(self):
        return len(self._step_bounds())

    def _step_bounds(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of each step's rows in the epoch's order: ``batch_size`` each, the last one smaller; a
        1-row last step (BatchNorm cannot train on one row) joins the one before it."""
        starts = list(range(0, self.epoch_length, self.batch_size))
        bounds = starts[1:] + [self.epoch_length]
        if len(starts) > 1 and self.epoch_length - starts[-1] == 1:
            starts.pop()
            bounds.pop()
            bounds[-1] = self.epoch_length
        return list(zip(starts, bounds))

    def _indices(self, n: int) -> torch.Tensor:
        """A random order of ``range(n)`` repeated (fresh permutation each time) to ``epoch_length``."""
        reps = math.ceil(self.epoch_length / n)
        perms = [torch.randperm(n, generator=self.generator) for _ in range(reps)]
        return torch.cat(perms)[: self.epoch_length]

    def source_indices(self) -> torch.Tensor:
        return self._indices(self.n_source)

    def target_indices(self) -> torch.Tensor:
        return self._indices(self.n_target)

    def __iter__(self):
        src = self.source_indices().to(self.device)
        tgt = self.target_indices().to(self.device)
        for start, stop in self._step_bounds():
            yield src[start:stop], tgt[start:stop]


class ClassBalancedBatchSampler(PairedBatchSampler):
    """Paired index batches whose *source* half is class-balanced; the target half is random.

    Every step draws ``per_class = max(1, batch_size // n_classes)`` source samples of every class (so a
    source batch has ``n_classes * per_class`` rows, every class equally present) and as many random
    target samples. Each class is walked through in its own random order, recycled when exhausted; the
    target domain is recycled like in :class:`PairedBatchSampler`. An epoch has
    ``ceil(max(n_source, n_target) / (n_classes * per_class))`` steps, all full.

    ``labels`` are the encoded source labels ``0 .. n_classes - 1`` (a tensor on any device); ``class_names``
    (optional, one per class) sets ``n_classes`` and names the classes in the error for a class without sample.
    """

    def __init__(self, labels: torch.Tensor, n_target: int, batch_size: int, generator: torch.Generator,
                 device: torch.device, class_names=None):
        labels = torch.as_tensor(labels).cpu()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype.is_complex or len(labels) == 0:
            raise ValueError(f"labels must be a non-empty 1-D tensor of class indices (integers), got shape "
                             f"{tuple(labels.shape)} and dtype {labels.dtype}.")
        labels = labels.long()
        n_named = None if class_names is None else len(class_names)
        if labels.min() < 0 or (n_named is not None and labels.max() >= n_named):
            raise ValueError(f"labels must be class indices in [0, {'n_classes' if n_named is None else n_named}), "
                             f"got values from {int(labels.min())} to {int(labels.max())}.")
        self.counts = torch.bincount(labels, minlength=0 if class_names is None else len(class_names))
        if (self.counts == 0).any():
            missing = torch.nonzero(self.counts == 0).flatten().tolist()
            if class_names is not None:
                missing = [class_names[c] for c in missing]
            raise ValueError(f"class-balanced batches need every class among the labelled rows of each fit or "
                             f"partial_fit call (source rows and labelled target rows); classes {missing} have no "
                             "sample.")
        self.n_classes = len(self.counts)
        self.per_class = max(1, int(batch_size) // self.n_classes)
        self.members = [torch.nonzero(labels == c).flatten() for c in range(self.n_classes)]
        super().__init__(len(labels), n_target, self.n_classes * self.per_class, generator, device)
        self.n_steps = math.ceil(max(self.n_source, self.n_target) / self.batch_size)
        # every step is full: an epoch spans n_steps whole batches of both domains
        self.epoch_length = self.n_steps * self.batch_size

    def source_indices(self) -> torch.Tensor:
        need = self.n_steps * self.per_class
        per_class = []
        for members in self.members:
            reps = math.ceil(need / len(members))
            order = torch.cat([torch.randperm(len(members), generator=self.generator) for _ in range(reps)])
            per_class.append(members[order[:need]])
        # (n_classes, n_steps, per_class) -> step-major: step s holds per_class samples of every class
        stacked = torch.stack(per_class).view(self.n_classes, self.n_steps, self.per_class)
        return stacked.permute(1, 0, 2).reshape(-1)


def at_most(n_rows: int, size: int, generator: torch.Generator) -> torch.Tensor | None:
    """Which of ``n_rows`` rows a step uses when it takes at most ``size`` of them: None (all of them) when
    ``n_rows <= size``, else ``size`` positions drawn without replacement from ``generator``, on the generator's
    device (a fresh draw each call)."""
    if n_rows <= size:
        return None
    return torch.randperm(n_rows, generator=generator, device=generator.device)[:size]


class SourceRowsAppended:
    """A paired batch sampler whose every source index batch is followed by some fixed rows of the source set:
    all of ``rows`` when there are at most ``batch_size`` of them, else ``batch_size`` of them drawn by
    :func:`at_most` from ``generator`` (a fresh draw each step). ``len`` and the target batches are those of
    ``sampler``. M-ADDA uses it (both stages) to put the labelled target rows in every batch; the rows are then
    gathered, streamed and augmented like the rest of the batch.

    ``generator`` lives on the training device (the engine's ``device_generator``) and ``rows`` are moved there
    once per epoch, so that a step copies nothing from the host; the rows drawn therefore depend on the device,
    unlike the wrapped sampler's order."""

    def __init__(self, sampler: PairedBatchSampler, rows: torch.Tensor, batch_size: int,
                 generator: torch.Generator):
        self.sampler, self.rows = sampler, rows
        self.batch_size, self.generator = int(batch_size), generator

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        rows = self.rows.to(self.generator.device)
        for idx_s, idx_t in self.sampler:
            pick = at_most(len(rows), self.batch_size, self.generator)
            yield torch.cat([idx_s, (rows if pick is None else rows[pick]).to(idx_s.device)]), idx_t


def _seeded_splitter(train_split, seed: int):
    """``train_split`` drawing from ``numpy.random.RandomState(seed)`` wherever it would draw from numpy's global
    generator (a copy: the user's splitter keeps its None), so that the split depends on ``seed`` only and other
    threads' use of the global generator neither changes it nor is rewound by it. skorch's ``ValidSplit``: a float
    ``cv`` draws from its ``random_state``, an int ``cv`` (unshuffled k-fold) draws nothing, a splitter object
    (e.g. ``StratifiedShuffleSplit``) from its own ``random_state``. None for any other callable, whose draws skda
    cannot see: the caller then seeds the global generator with ``seed`` for the call and restores it after."""
    from skorch.dataset import ValidSplit

    if type(train_split) is not ValidSplit:  # a subclass or another callable may draw anywhere
        return None
    cv = train_split.cv
    if isinstance(cv, numbers.Integral):
        return train_split
    if isinstance(cv, numbers.Real):
        if train_split.random_state is not None:
            return train_split
        seeded = copy.copy(train_split)
        seeded.random_state = np.random.RandomState(seed)
        return seeded
    if not hasattr(cv, "random_state"):  # e.g. a splitter of skda's or the user's: unknown draws
        return None
    if cv.random_state is not None:
        return train_split
    seeded = copy.copy(train_split)
    seeded.cv = copy.copy(cv)
    seeded.cv.random_state = np.random.RandomState(seed)
    return seeded


def split_validation(train_split, Xs, ys, seed: int, class_names):
    """Indices ``(train, valid)`` of the labelled *source* rows split by ``train_split`` (a skorch
    ``ValidSplit``-like callable), the same rows for the same ``seed`` (:func:`_seeded_splitter`). ``class_names``
    (indexed by the encoded labels ``ys``) name the classes in the error for a training part that lost a class."""
    from skorch.dataset import Dataset

    seeded_split = _seeded_splitter(train_split, seed)
    state = None if seeded_split is not None else np.random.get_state()
    if seeded_split is None:
        np.random.seed(seed)
    else:
        train_split = seeded_split
    try:
        parts = train_split(Dataset(Xs, ys), ys)
    except ValueError as exc:  # the splitter sees the encoded labels 0..k-1: name the classes as the user wrote them
        names = np.asarray(class_names)
        counts = np.bincount(np.asarray(ys, dtype=np.int64), minlength=len(names))
        rare = names[counts[:len(names)] < 2].tolist()
        raise ValueError(f"train_split could not split the labelled source rows: {exc} (the splitter sees the "
                         f"classes as 0..{len(names) - 1}, in the order of classes_ {names.tolist()[:20]}"
                         + (f"; classes with fewer than 2 source rows: {rare}" if rare else "")
                         + ").") from exc
    finally:
        if state is not None:
            np.random.set_state(state)
    if not (isinstance(parts, tuple) and len(parts) == 2 and all(hasattr(p, "indices") for p in parts)):
        got = (f"({', '.join(type(p).__name__ for p in parts)})" if isinstance(parts, tuple)
               else type(parts).__name__)
        raise TypeError("train_split must return (train, valid) subsets of the source rows with an 'indices' "
                        "attribute, as skorch.dataset.ValidSplit does; got "
                        f"{got}. A validation set of other rows (skorch's predefined_split) is not supported: hold "
                        "out source rows with ValidSplit, or score the fitted estimator on your set.")
    train_idx = np.asarray(parts[0].indices, dtype=np.int64)
    valid_idx = np.asarray(parts[1].indices, dtype=np.int64)
    if len(valid_idx) == 0 or len(train_idx) == 0:
        raise ValueError(f"train_split left {len(train_idx)} training and {len(valid_idx)} validation source rows; "
                         "both must be non-empty.")
    missing = np.setdiff1d(np.unique(ys), ys[train_idx])
    if len(missing):
        raise ValueError(f"after train_split the training part has no sample of classes "
                         f"{np.asarray(class_names)[missing].tolist()}; use a stratified split or a smaller "
                         "validation part.")
    return train_idx, valid_idx
