"""Property-based: random shapes, dtypes and label sets give a clean result or a documented error."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from .registry import NAMES, make

DOCUMENTED = (ValueError, TypeError, NotFittedError, FloatingPointError)  # FloatingPointError: diverged


@st.composite
def problems(draw):
    n_source = draw(st.integers(1, 12))
    n_target = draw(st.integers(0, 8))
    n_features = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.int8]))
    scale = draw(st.sampled_from([1.0, 1e3]))
    rng = np.random.RandomState(draw(st.integers(0, 1000)))
    Xs = (rng.randn(n_source, n_features) * scale).astype(dtype)
    Xt = (rng.randn(n_target, n_features) * scale).astype(dtype)
    kind = draw(st.sampled_from(["int", "str", "float-int", "single"]))
    n_classes = draw(st.integers(1, 4))
    ys = rng.randint(0, n_classes, size=n_source)
    if kind == "str":
        ys = np.array(["a", "b", "c", "d"])[ys]
    elif kind == "float-int":
        ys = ys.astype(float)
    elif kind == "single":
        ys = np.zeros(n_source, dtype=int)
    if draw(st.booleans()) and n_source > 0:
        Xs = Xs.astype(np.float64)
        Xs[rng.randint(n_source), 0] = draw(st.sampled_from([np.nan, np.inf, 0.0]))
    return Xs, ys, Xt


#: one epoch in batches of 4, so that the tiny problems still run several (and partial) batches
TINY = dict(max_epochs=1, batch_size=4, random_state=0)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.sampled_from(["three-array", "packed"]), st.sampled_from(sorted(NAMES)))
def test_fit_predict_clean_or_documented_error(problem, form, name):
    Xs, ys, Xt = problem
    copies = [a.copy() for a in (Xs, ys, Xt)]
    clf = make(name, **TINY)
    try:
        if form == "packed":
            marker = "?" if ys.dtype.kind == "U" else -1
            y = np.concatenate([ys.astype(object), np.full(len(Xt), marker, dtype=object)])
            clf.set_params(unlabeled_marker=marker).fit(np.vstack([Xs, Xt]), y)
        else:
            clf.fit(Xs, ys, Xt)
    except DOCUMENTED as err:
        assert str(err)  # a message that says something
        return
    finally:
        for a, b in zip((Xs, ys, Xt), copies):
            np.testing.assert_array_equal(a, b)  # never modified in place
    proba = clf.predict_proba(Xt)
    assert proba.shape == (len(Xt), len(clf.classes_))
    assert np.all(np.isfinite(proba))
    assert set(clf.predict(Xt)) <= set(clf.classes_)
