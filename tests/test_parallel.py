"""Searches in parallel: joblib processes (n_jobs) and a dask cluster through joblib's dask backend give the
same results as a serial search (CPU training is deterministic for a given random_state)."""

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV, StratifiedKFold


from .registry import make

GRID = {"adversarial_weight": [0.5, 1.0], "lr": [0.01, 0.05]}


def packed_search(n_jobs=None):
    # stratifying on the packed labels keeps target rows (-1) and every class in every fold
    return GridSearchCV(make("dann", random_state=0, device="cpu"), GRID,
                        cv=StratifiedKFold(2, shuffle=True, random_state=0), n_jobs=n_jobs)


@pytest.fixture(scope="module")
def packed(small_task):
    Xs, ys, Xt, _ = small_task
    return np.vstack([Xs, Xt]), np.r_[ys, -np.ones(len(Xt), dtype=int)]


@pytest.fixture(scope="module")
def serial(packed):
    return packed_search().fit(*packed)


def test_joblib_processes_match_serial(packed, serial):
    parallel = packed_search(n_jobs=2).fit(*packed)
    np.testing.assert_allclose(parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])
    assert parallel.best_params_ == serial.best_params_


def test_dask_cluster_matches_serial(packed, serial):
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    with cluster:
        with distributed.Client(cluster):
            with parallel_backend("dask"):
                search = packed_search(n_jobs=-1).fit(*packed)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])
    assert search.best_params_ == serial.best_params_
    assert search.best_estimator_.predict(packed[0]).shape == (len(packed[0]),)
