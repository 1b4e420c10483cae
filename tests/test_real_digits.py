"""DANN adapts for real: on the JDA MNIST/USPS files it beats the source-only baseline.

Documented configuration (the same as benchmarks/bench_digits_dann.py): per-image standardisation,
LeNetFeatureExtractor, estimator defaults, 30 epochs, seed 0. Takes about 1.5 minutes on 2 CPU cores.
"""

import pytest

import skda
from skda.datasets import load_task


@pytest.mark.slow
@pytest.mark.parametrize("task,floor,margin", [("mnist->usps", 0.80, 0.03), ("usps->mnist", 0.65, 0.10)])
def test_dann_beats_source_only_on_real_digits(task, floor, margin):
    Xs, ys, Xt, yt = load_task(task)
    kw = dict(module=skda.LeNetFeatureExtractor, max_epochs=30, random_state=0)
    source_only = skda.SourceOnlyClassifier(**kw).fit(Xs, ys, Xt).score(Xt, yt)
    dann = skda.DANNClassifier(**kw).fit(Xs, ys, Xt).score(Xt, yt)
    assert dann >= floor, (task, dann, source_only)
    assert dann >= source_only + margin, (task, dann, source_only)
