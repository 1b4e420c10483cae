"""skda.metrics: the unsupervised DA scores, the importance weights and the scorers."""

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skda.metrics import (EPS, deep_embedded_validation, density_ratio, dev_scorer, entropy_scorer,
                          importance_weighted_validation, iwcv_scorer, make_unsupervised_scorer, negative_entropy,
                          snd_scorer, soft_neighborhood_density)
from skda.model_selection import DomainStratifiedKFold, pack_domains

from .registry import make

P = np.array([[0.7, 0.2, 0.1],
              [0.1, 0.8, 0.1],
              [0.3, 0.3, 0.4],
              [1.0, 0.0, 0.0],
              [0.25, 0.5, 0.25]])
Y = np.array([0, 1, 0, 0, 2])
W = np.array([0.5, 2.0, 1.0, 0.1, 1.4])


# ------------------------------------------------------------------------------------------- numpy checks
def test_negative_entropy_matches_numpy():
    expected = -np.mean([-sum(p * np.log(p) for p in row if p > 0) for row in P])
    assert negative_entropy(P) == pytest.approx(expected, rel=1e-12)
    assert negative_entropy(np.eye(3)) == 0.0
    assert negative_entropy(np.full((4, 5), 0.2)) == pytest.approx(-np.log(5))


def test_iwcv_matches_numpy():
    correct = (P.argmax(axis=1) == Y).astype(float)          # [1, 1, 0, 1, 0]
    assert importance_weighted_validation(Y, P, W) == pytest.approx((0.5 + 2.0 + 0.1) / 5)
    assert importance_weighted_validation(Y, P, W, normalize=True) == pytest.approx((W * correct).sum() / W.sum())
    logloss = -np.log([0.7, 0.8, 0.3, 1.0, 0.25])
    assert importance_weighted_validation(Y, P, W, metric="log_loss") == pytest.approx(-(W * logloss).mean())
    # the log loss of a row is capped at -log(EPS): a confidently wrong row counts 13.8 nats, not 20.7
    wrong = np.array([[1 - 1e-9, 1e-9], [0.3, 0.7]])
    assert importance_weighted_validation(np.array([1, 1]), wrong, np.ones(2), metric="log_loss") == \
        pytest.approx(-(-np.log(EPS) - np.log(0.7)) / 2)
    # unit weights: plain accuracy; labels via classes=
    assert importance_weighted_validation(np.array(list("abaac")), P, np.ones(5), classes=np.array(list("abc"))) \
        == pytest.approx(0.6)


def test_dev_matches_numpy_formula_of_algorithm_1():
    loss = -np.log(np.clip(P[np.arange(5), Y], EPS, 1))
    weighted = W * loss
    cov = np.sum((weighted - weighted.mean()) * (W - W.mean())) / 4
    var = np.sum((W - W.mean()) ** 2) / 4
    eta = -cov / var
    expected_risk = weighted.mean() + eta * W.mean() - eta
    assert deep_embedded_validation(Y, P, W) == pytest.approx(-expected_risk, rel=1e-12)
    # zero-one loss; equal weights -> eta = 0 -> minus the plain error rate
    assert deep_embedded_validation(Y, P, np.ones(5), loss="zero_one") == pytest.approx(-0.4)
    # constant weights (Var(w) = 0): no control variate, minus the mean weighted loss
    assert deep_embedded_validation(Y, P, np.full(5, 2.0)) == pytest.approx(-(2 * loss).mean())
    # also when rounding leaves Var(w) a hair above 0 (a density-ratio clip gives such weights)
    assert deep_embedded_validation(Y, P, np.full(5, 3e-6)) == pytest.approx(-(3e-6 * loss).mean(), rel=1e-9)
    for weights in (np.zeros(5),):  # no row resembles the target: no estimate, not a perfect score
        with pytest.raises(ValueError, match="weights sum to 0"):
            deep_embedded_validation(Y, P, weights)
        with pytest.raises(ValueError, match="weights sum to 0"):
            importance_weighted_validation(Y, P, weights, metric="log_loss")


def test_snd_matches_direct_loop():
    def direct(probs, tau):
        f = probs / np.linalg.norm(probs, axis=1, keepdims=True)
        total = 0.0
        for i in range(len(f)):
            others = [j for j in range(len(f)) if j != i]
            s = np.array([f[i] @ f[j] / tau for j in others])
            q = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
            total += -(q * np.log(q)).sum()
        return total / len(f)

    assert soft_neighborhood_density(P) == pytest.approx(direct(P, 0.05), rel=1e-10)
    assert soft_neighborhood_density(P, temperature=1.0) == pytest.approx(direct(P, 1.0), rel=1e-10)
    # identical predictions: uniform over the n - 1 neighbours
    assert soft_neighborhood_density(np.tile([[0.2, 0.8]], (6, 1))) == pytest.approx(np.log(5))


def test_snd_blocks_give_the_same_value(monkeypatch):
    probs = np.random.RandomState(0).dirichlet(np.ones(4), size=50)
    whole = soft_neighborhood_density(probs)
    monkeypatch.setattr("skda.metrics.SND_CHUNK_ROWS", 7)
    assert soft_neighborhood_density(probs) == pytest.approx(whole, rel=1e-12)


def test_density_ratio_constant_classifier_gives_unit_weights_and_logistic_recovers_gaussian_ratio():
    rng = np.random.RandomState(0)
    xs, xt = rng.randn(400, 1), rng.randn(600, 1) + 1.0
    w = density_ratio(xs, xt, domain_classifier=DummyClassifier(strategy="prior"))
    np.testing.assert_allclose(w, 1.0, rtol=0.01)
    # N(1, 1) / N(0, 1) = exp(x - 1/2): a logistic model is well specified
    w = density_ratio(xs, xt)
    assert w.shape == (400,) and (w > 0).all()
    assert np.corrcoef(np.log(w), xs[:, 0] - 0.5)[0, 1] > 0.99
    np.testing.assert_allclose(np.log(w), xs[:, 0] - 0.5, atol=0.5)


def test_density_ratio_truncates_at_sqrt_n_times_the_mean():
    rng = np.random.RandomState(0)
    xs, xt = rng.randn(100, 2), rng.randn(100, 2) + 4.0       # barely overlapping domains
    raw = density_ratio(xs, xt, truncate=False)
    cut = density_ratio(xs, xt)
    cap = np.sqrt(100) * raw.mean()
    assert raw.max() > cap                                     # the cap is active here
    np.testing.assert_allclose(cut, np.minimum(raw, cap))


# ------------------------------------------------------------------------------------------------ scorers
@pytest.fixture(scope="module")
def fitted(small_task):
    Xs, ys, Xt, _ = small_task
    X, y = pack_domains(Xs, ys, Xt)
    return make("dann", random_state=0, device="cpu").fit(X, y), X, y


def test_scorers_equal_the_functions_on_the_right_rows(fitted, small_task):
    clf, X, y = fitted
    Xs, ys, Xt, _ = small_task
    order = np.random.RandomState(1).permutation(len(X))  # interleaved domains
    X, y = X[order], y[order]
    assert entropy_scorer(clf, X, y) == pytest.approx(negative_entropy(clf.predict_proba(Xt)))
    assert snd_scorer(clf, X, y) == pytest.approx(soft_neighborhood_density(clf.predict_proba(Xt)))
    src = y != -1
    w_in = density_ratio(X[src], X[~src])
    assert iwcv_scorer(clf, X, y) == pytest.approx(
        importance_weighted_validation(y[src], clf.predict_proba(X[src]), w_in, classes=clf.classes_))
    w_feat = density_ratio(clf.transform(X[src]), clf.transform(X[~src]))
    assert dev_scorer(clf, X, y) == pytest.approx(
        deep_embedded_validation(y[src], clf.predict_proba(X[src]), w_feat, classes=clf.classes_))
    custom = make_unsupervised_scorer("iwcv", features="learned", metric="log_loss", normalize=True)
    assert custom(clf, X, y) == pytest.approx(importance_weighted_validation(
        y[src], clf.predict_proba(X[src]), w_feat, metric="log_loss", normalize=True, classes=clf.classes_))


def test_sparse_packed_data_gives_the_scores_of_the_dense_data(fitted, small_task):
    """pack_domains stacks sparse matrices into CSR; the scorers and density_ratio take them (they raised on
    len() of a sparse matrix) and give the dense data's values."""
    import scipy.sparse as sp

    clf, X, y = fitted
    Xs, ys, Xt, _ = small_task
    X_sparse, y_sparse = pack_domains(sp.csr_matrix(Xs), ys, sp.coo_matrix(Xt))
    assert sp.issparse(X_sparse) and X_sparse.format == "csr"
    np.testing.assert_array_equal(X_sparse.toarray(), X)
    np.testing.assert_array_equal(y_sparse, y)
    for scorer in (iwcv_scorer, dev_scorer, snd_scorer, entropy_scorer):
        assert scorer(clf, X_sparse, y) == pytest.approx(scorer(clf, X, y), rel=1e-6)
    np.testing.assert_allclose(density_ratio(sp.csr_matrix(Xs), sp.csr_matrix(Xt)), density_ratio(Xs, Xt))
    with pytest.raises(ValueError, match="needs at least 2 source and 2 target rows, got 0 and 90"):
        density_ratio(np.zeros((0, Xs.shape[1])), Xt)  # was: a reshape error


def test_scorers_on_a_pipeline_and_with_a_string_marker(small_task):
    Xs, ys, Xt, _ = small_task
    names = np.array(["cat", "dog", "emu"])
    X, y = pack_domains(Xs, names[ys], Xt, unlabeled_marker="?")
    pipe = Pipeline([("scale", StandardScaler()),
                     ("dann", make("dann", random_state=0, device="cpu", unlabeled_marker="?"))])
    pipe.fit(X, y)
    assert entropy_scorer(pipe, X, y) == pytest.approx(negative_entropy(pipe.predict_proba(Xt)))
    for scorer in (iwcv_scorer, dev_scorer, snd_scorer):
        assert np.isfinite(scorer(pipe, X, y))


def test_gridsearch_with_unsupervised_scorers_and_domain_stratified_kfold(small_task):
    Xs, ys, Xt, _ = small_task
    X, y = pack_domains(Xs, ys, Xt)
    search = GridSearchCV(make("dann", random_state=0, device="cpu"), {"lr": [0.003, 0.03]},
                          cv=DomainStratifiedKFold(3, shuffle=True, random_state=0), error_score="raise",
                          scoring={"snd": snd_scorer, "dev": dev_scorer, "iwcv": iwcv_scorer,
                                   "entropy": entropy_scorer}, refit="snd").fit(X, y)
    for name in ("snd", "dev", "iwcv", "entropy"):
        scores = search.cv_results_[f"mean_test_{name}"]
        assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert search.best_params_["lr"] == [0.003, 0.03][int(np.argmax(search.cv_results_["mean_test_snd"]))]
    assert search.predict(Xt).shape == (len(Xt),)
    scores = cross_val_score(make("dann", random_state=0, device="cpu"), X, y,
                             cv=DomainStratifiedKFold(2), scoring=entropy_scorer)
    assert scores.shape == (2,) and np.all(np.isfinite(scores)) and np.all(scores <= 0)


# ------------------------------------------------------------------------------------------------- errors
def test_scorers_refuse_data_without_target_or_source_rows(fitted, small_task):
    clf, _, _ = fitted
    Xs, ys, Xt, _ = small_task
    for scorer in (entropy_scorer, snd_scorer, iwcv_scorer, dev_scorer):
        with pytest.raises(ValueError, match=r"needs unlabelled target rows \(y == -1\)"):
            scorer(clf, Xs, ys)
    for scorer in (iwcv_scorer, dev_scorer):
        with pytest.raises(ValueError, match="needs labelled source rows"):
            scorer(clf, Xt, np.full(len(Xt), -1))
        with pytest.raises(ValueError, match="needs labelled source rows"):
            scorer(clf, Xt, None)
    assert entropy_scorer(clf, Xt, None) == pytest.approx(negative_entropy(clf.predict_proba(Xt)))
    with pytest.raises(ValueError, match="at least 2 target rows"):
        snd_scorer(clf, np.vstack([Xs, Xt[:1]]), np.r_[ys, -1])
    with pytest.raises(ValueError, match="at least 2 source and 2 target rows"):
        dev_scorer(clf, np.vstack([Xs[:1], Xt]), np.r_[ys[:1], np.full(len(Xt), -1)])


def test_function_and_parameter_errors(fitted):
    clf, X, y = fitted
    with pytest.raises(ValueError, match="must sum to 1"):
        negative_entropy(np.array([[2.0, -1.0], [3.0, 0.5]]) + 1)
    with pytest.raises(ValueError, match="negative values"):
        soft_neighborhood_density(np.array([[1.5, -0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="2-D"):
        negative_entropy(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        soft_neighborhood_density(P, temperature=0)
    with pytest.raises(ValueError, match="not among the classes"):
        importance_weighted_validation(np.array([0, 7]), P[:2], np.ones(2), classes=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="column indices"):
        deep_embedded_validation(np.array([0, 3]), P[:2], np.ones(2))
    with pytest.raises(ValueError, match="unknown metric"):
        importance_weighted_validation(Y, P, W, metric="f1")
    with pytest.raises(ValueError, match="non-negative"):
        deep_embedded_validation(Y, P, -W)
    # finite weights whose sums or variances overflow float64 (a NaN score before)
    huge = np.full(len(Y), 1e160)
    for function in (importance_weighted_validation, deep_embedded_validation):
        with pytest.raises(ValueError, match=r"weights are too large to average \(up to 1e\+160"):
            function(Y, P, huge)
    assert importance_weighted_validation(Y, P, np.full(len(Y), 1e150), normalize=True) == pytest.approx(
        importance_weighted_validation(Y, P, np.ones(len(Y)), normalize=True))
    with pytest.raises(ValueError, match="unknown unsupervised scorer 'acc'"):
        make_unsupervised_scorer("acc")
    with pytest.raises(ValueError, match="features must be 'input' or 'learned'"):
        make_unsupervised_scorer("dev", features="pixels")(clf, X, y)
    with pytest.raises(ValueError, match="does not support sample_weight"):
        entropy_scorer(clf, X, y, sample_weight=np.ones(len(y)))


@pytest.mark.parametrize("name,params,match", [
    ("snd", {"temperature": -1}, "temperature must be a positive finite number"),
    ("dev", {"loss": "bogus"}, "loss must be 'log_loss' or 'zero_one'"),
    ("iwcv", {"metric": "bogus"}, "metric must be 'accuracy' or 'log_loss'"),
    ("iwcv", {"cv": 1}, "cv must be an int >= 2"),
    ("dev", {"features": "pixels"}, "features must be 'input' or 'learned'"),
])
def test_scorer_settings_are_checked_when_the_scorer_is_made(name, params, match):
    """A misconfigured scorer fails where it is made, not as NaN for every candidate of a search."""
    with pytest.raises(ValueError, match=match):
        make_unsupervised_scorer(name, **params)


def test_importance_weighted_validation_with_classes_in_column_order_not_sorted():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    y = np.array(["b", "a", "a"])  # column 0 is "b", column 1 is "a"
    got = importance_weighted_validation(y, probabilities, np.ones(3), classes=np.array(["b", "a"]))
    assert got == pytest.approx(np.mean([True, True, False]))
    same = importance_weighted_validation(np.array([0, 1, 1]), probabilities, np.ones(3))
    assert got == pytest.approx(same)


@pytest.mark.parametrize("cv", [2.9, 1, True])
def test_density_ratio_takes_an_int_number_of_folds(cv):
    rng = np.random.RandomState(0)
    with pytest.raises(ValueError, match="cv must be an int >= 2"):
        density_ratio(rng.randn(20, 3), rng.randn(20, 3) + 1, cv=cv)


def test_snd_temperature_must_be_a_number_not_a_bool():
    from skda.metrics import soft_neighborhood_density

    with pytest.raises(ValueError, match="temperature must be a positive number"):
        soft_neighborhood_density(np.full((4, 2), 0.5), temperature=True)


def test_a_class_missing_from_a_training_fold_stops_the_search(small_task):
    """A source class with fewer rows than folds: the IWCV / DEV scores of that fold cannot be computed for any
    candidate, so the search stops with the reason (skda's ScoringSetupError; NaN for every candidate and the
    first one chosen before)."""
    Xs, ys, Xt, _ = small_task
    ys = ys.copy()
    ys[0] = ys.max() + 1  # one row of a class
    X, y = pack_domains(Xs, ys, Xt)
    for scorer in (iwcv_scorer, dev_scorer):
        search = GridSearchCV(make("dann", random_state=0, device="cpu", max_epochs=1), {"lr": [0.003, 0.03]},
                              cv=DomainStratifiedKFold(3), scoring=scorer)
        with pytest.raises(ValueError, match=r"no score, because y_true has labels \[3\] that are not among the "
                                             r"classes the model was fitted on .* at least n_splits source rows"):
            search.fit(X, y)


def test_a_search_fitted_with_sample_weight_warns_and_scores_without_weights_with_unsupervised_scorers(small_task):
    """scikit-learn asks each scorer whether it takes sample_weight (an AttributeError inside a multi-metric
    dict before): the unsupervised scorers do not, so the search warns and scores them unweighted."""
    from sklearn.linear_model import LogisticRegression

    from skda import SourceClassifier
    from skda.metrics import labelled_scorer

    Xs, ys, Xt, _ = small_task
    X, y = pack_domains(Xs, ys, Xt)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    cv = DomainStratifiedKFold(3)
    plain = GridSearchCV(SourceClassifier(LogisticRegression()), {"estimator__C": [0.1, 1.0]}, cv=cv,
                         scoring={"iwcv": iwcv_scorer, "accuracy": labelled_scorer("accuracy")},
                         refit="iwcv").fit(X, y)
    with pytest.warns(UserWarning, match="does not support sample_weight"):
        weighted = GridSearchCV(SourceClassifier(LogisticRegression()), {"estimator__C": [0.1, 1.0]}, cv=cv,
                                scoring={"iwcv": iwcv_scorer, "accuracy": labelled_scorer("accuracy")},
                                refit="iwcv").fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(weighted.cv_results_["split0_test_iwcv"], plain.cv_results_["split0_test_iwcv"])
    assert np.all(np.isfinite(weighted.cv_results_["mean_test_accuracy"]))


def test_scorers_read_the_marker_of_the_model_inside_a_fitted_search(small_task):
    """A fitted search of an estimator with another marker scores as its best estimator does (its target rows
    were read as labelled source rows of class -99)."""
    from sklearn.model_selection import GridSearchCV

    from skda.metrics import iwcv_scorer, snd_scorer
    from skda.model_selection import DomainStratifiedKFold, pack_domains
    Xs, ys, Xt, _ = small_task
    X, y = pack_domains(Xs, ys, Xt, unlabeled_marker=-99)
    search = GridSearchCV(make("dann", random_state=0, max_epochs=1, unlabeled_marker=-99), {"lr": [1e-3]},
                          cv=DomainStratifiedKFold(2, unlabeled_marker=-99)).fit(X, y)
    for scorer in (iwcv_scorer, snd_scorer):
        assert scorer(search, X, y) == scorer(search.best_estimator_, X, y)


def test_input_feature_scorers_on_image_file_paths_stop_the_search_naming_the_learned_features():
    """File paths are not features a density ratio can be estimated on: IWCV / DEV on the input refuse them
    (ScoringSetupError, the search stops) instead of a plain conversion error (NaN for every candidate, the
    first one chosen)."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    from skda.metrics import ScoringSetupError

    class PathModel(ClassifierMixin, BaseEstimator):  # an image estimator fitted on file paths, as skda's can be
        unlabeled_marker = -1

        def __init__(self, c=0):
            self.c = c

        def fit(self, X, y):
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, X):
            return np.tile([0.3 + 0.1 * self.c, 0.7 - 0.1 * self.c], (len(X), 1))

    X = np.array([f"img_{i}.png" for i in range(60)], dtype=object)
    y = np.r_[np.tile([0, 1], 20), -np.ones(20, int)]
    with pytest.raises(ScoringSetupError, match="image file paths are not numbers, or use features='learned'"):
        iwcv_scorer(PathModel().fit(X, y), X, y)
    with pytest.raises(ValueError, match="image file paths are not numbers, or use features='learned'"):
        GridSearchCV(PathModel(), {"c": [0, 1, 2]}, cv=DomainStratifiedKFold(3), scoring=iwcv_scorer).fit(X, y)


def test_input_feature_density_ratios_keep_float64_precision():
    """The weights of IWCV on the input are estimated on the rows in float64: a column with a large offset
    (a unix timestamp) keeps its spread, and the score equals the formula on the float64 rows."""
    from sklearn.linear_model import LogisticRegression

    from skda import SourceClassifier

    rng = np.random.default_rng(0)
    Xs = np.c_[1.7e9 + rng.normal(0, 50, 200), rng.normal(size=200)]
    Xt = np.c_[1.7e9 + rng.normal(150, 50, 100), rng.normal(size=100)]
    ys = (Xs[:, 1] > 0).astype(int)
    X, y = pack_domains(Xs, ys, Xt)
    model = SourceClassifier(LogisticRegression()).fit(X, y)
    correct = model.predict_proba(Xs).argmax(1) == ys
    expected = importance_weighted_validation(ys, model.predict_proba(Xs), density_ratio(Xs, Xt))
    assert expected == pytest.approx(np.mean(density_ratio(Xs, Xt) * correct))
    assert iwcv_scorer(model, X, y) == pytest.approx(expected, abs=1e-9)
