import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
# The real benchmark files live beside the repository (../shared/data) unless SKDA_DATA says otherwise
# (skda itself would fall back to the per-user default ~/skda_data, which the tests must not depend on).
os.environ.setdefault("SKDA_DATA", str(REPO.parent / "shared" / "data"))
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def digits_shift():
    from skda.datasets import make_digits_shift

    return make_digits_shift()


@pytest.fixture(scope="session")
def small_task():
    """A tiny, easy 3-class problem with a mean shift between domains (fast to fit)."""
    return make_small_task()


def make_small_task():
    """``(Xs, ys, Xt, yt)``: 120 source and 90 target rows of 8 features, 3 classes, target shifted by 0.5."""
    rng = np.random.RandomState(0)
    centers = rng.randn(3, 8).astype(np.float32) * 3
    ys = np.repeat(np.arange(3), 40)
    Xs = centers[ys] + rng.randn(len(ys), 8).astype(np.float32)
    yt = np.repeat(np.arange(3), 30)
    Xt = centers[yt] + 0.5 + rng.randn(len(yt), 8).astype(np.float32)
    return Xs, ys, Xt, yt


