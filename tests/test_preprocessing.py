"""skda.preprocessing: CORAL (Sun, Feng & Saenko 2016, Algorithm 1) and SourceClassifier on packed data."""

import numpy as np
import pytest
import scipy.linalg
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import skda
from skda.model_selection import pack_domains
from skda.preprocessing import CORAL, SourceClassifier


def _domains(seed=0, n_source=60, n_target=50, n_features=4):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(n_source, n_features)) @ rng.normal(size=(n_features, n_features))
    Xt = rng.normal(size=(n_target, n_features)) @ rng.normal(size=(n_features, n_features)) + 0.5
    ys = (Xs[:, 0] + 0.3 * rng.normal(size=n_source) > 0).astype(int)
    return Xs, ys, Xt


def _by_hand(Xs, Xt, lam=1.0):
    """Algorithm 1 of the paper, with scipy's matrix square root."""
    Cs = np.cov(Xs, rowvar=False) + lam * np.eye(Xs.shape[1])
    Ct = np.cov(Xt, rowvar=False) + lam * np.eye(Xs.shape[1])
    return Xs @ np.linalg.inv(scipy.linalg.sqrtm(Cs)).real @ scipy.linalg.sqrtm(Ct).real


@pytest.mark.parametrize("lam", [1.0, 0.1])
def test_coral_recolours_source_rows_exactly_and_passes_target_rows(lam):
    Xs, ys, Xt = _domains()
    X, y = pack_domains(Xs, ys, Xt)
    rows = np.random.default_rng(1).permutation(len(X))  # the two domains interleaved
    out = CORAL(regularization=lam).fit_transform(X[rows], y[rows])
    source = y[rows] != -1
    expected = np.empty_like(out)
    expected[source] = _by_hand(Xs, Xt, lam)[rows[source]]
    expected[~source] = X[rows][~source]
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(out[~source], X[rows][~source])


def test_coral_three_array_form_and_transform_rules():
    Xs, ys, Xt = _domains()
    coral = CORAL()
    out = coral.fit_transform(Xs, ys, X_target=Xt)
    np.testing.assert_allclose(out, _by_hand(Xs, Xt), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(coral.transform_source(Xs), out, rtol=1e-12)
    np.testing.assert_array_equal(coral.transform(Xt), Xt)  # new data is target data: unchanged
    assert coral.transform(Xt) is not Xt
    # ys is optional in the three-array form; the matrix only depends on the domains
    np.testing.assert_allclose(CORAL().fit(Xs, X_target=Xt).transform_matrix_, coral.transform_matrix_)
    # the re-coloured regularised source covariance is the regularised target covariance: A^T C_s A = C_t
    Cs = np.cov(Xs, rowvar=False) + np.eye(4)
    A = coral.transform_matrix_
    np.testing.assert_allclose(A.T @ Cs @ A, np.cov(Xt, rowvar=False) + np.eye(4), rtol=1e-8, atol=1e-8)


def test_coral_does_not_modify_its_input():
    Xs, ys, Xt = _domains()
    X, y = pack_domains(Xs, ys, Xt)
    before = X.copy()
    CORAL().fit_transform(X, y)
    np.testing.assert_array_equal(X, before)


def test_pipeline_coral_logreg_equals_doing_it_by_hand():
    Xs, ys, Xt = _domains(n_features=5)
    X, y = pack_domains(Xs, ys, Xt)
    pipe = make_pipeline(StandardScaler(), CORAL(), SourceClassifier(LogisticRegression())).fit(X, y)

    scaler = StandardScaler().fit(X)  # fitted on both domains
    Zs, Zt = scaler.transform(Xs), scaler.transform(Xt)
    by_hand = LogisticRegression().fit(_by_hand(Zs, Zt), ys)
    np.testing.assert_array_equal(pipe.predict(Xt), by_hand.predict(Zt))
    np.testing.assert_allclose(pipe.predict_proba(Xt), by_hand.predict_proba(Zt), rtol=1e-6)
    np.testing.assert_allclose(pipe[-1].estimator_.coef_, by_hand.coef_, rtol=1e-6)
    assert list(pipe.classes_) == [0, 1]  # the marker is not a class


def test_coral_warns_when_its_pipeline_ends_in_a_classifier_that_learns_the_marker():
    """Pipeline(CORAL(), LogisticRegression()) on packed data hands the marker to LogisticRegression, which learns
    it as a class (classes_ [-1 0 1], target rows predicted -1; silent before): a warning names the wrapper.
    Classifiers that take packed labels get none: SourceClassifier, skda's estimators (also in a search) and
    scikit-learn's semi-supervised ones."""
    import warnings

    from sklearn.model_selection import GridSearchCV
    from sklearn.semi_supervised import SelfTrainingClassifier

    import skda

    Xs, ys, Xt = _domains(n_features=5)
    X, y = pack_domains(Xs, ys, Xt)
    with pytest.warns(UserWarning, match=r"CORAL was fitted on packed labels \(target rows labelled -1\) in a "
                                         r"Pipeline that ends in LogisticRegression, .*SourceClassifier"):
        blind = make_pipeline(StandardScaler(), CORAL(), LogisticRegression()).fit(X, y)
    assert -1 in blind.classes_  # what the warning is about
    with pytest.warns(UserWarning, match="in a Pipeline that ends in LogisticRegression"):  # CORAL in an inner one
        make_pipeline(make_pipeline(StandardScaler(), CORAL()), LogisticRegression()).fit(X, y)
    with pytest.warns(UserWarning, match="in a Pipeline that ends in LogisticRegression"):  # beside sample_domain
        make_pipeline(CORAL(), LogisticRegression()).fit(X, y, coral__sample_domain=np.where(y == -1, -1, 1))
    dann = skda.DANNClassifier(module__hidden_sizes=(8,), max_epochs=1, random_state=0)
    for last in (SourceClassifier(LogisticRegression()), SelfTrainingClassifier(LogisticRegression()), dann,
                 GridSearchCV(dann, {"lr": [0.01]}, cv=2)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            warnings.filterwarnings("ignore", message=".*(collapsed|SelfTrainingClassifier).*")
            make_pipeline(CORAL(), last).fit(X, y)
    with warnings.catch_warnings():  # the three-array form hands the classifier no marker
        warnings.simplefilter("error", UserWarning)
        CORAL().fit(Xs, ys, X_target=Xt)
        # a pipeline whose last step is "passthrough" or None (an AttributeError from is_classifier before)
        for last in ("passthrough", None):
            Pipeline([("coral", CORAL()), ("last", last)]).fit(X, y)
    # a classifier that follows scikit-learn's protocol without subclassing BaseEstimator (was skipped in dc4697d)
    from sklearn.utils import ClassifierTags, Tags, TargetTags

    class Duck:
        def __sklearn_tags__(self):
            return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                        classifier_tags=ClassifierTags())

        def get_params(self, deep=True):
            return {}

        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

    with pytest.warns(UserWarning, match="in a Pipeline that ends in Duck"):
        Pipeline([("coral", CORAL()), ("duck", Duck())]).fit(X, y)

    class BrokenTags(Duck):
        def __sklearn_tags__(self):
            raise TypeError("broken tags")

    Pipeline([("coral", CORAL()), ("broken", BrokenTags())]).fit(X, y)  # the warning's check does not fail the fit
    # a search step: its template decides, also on a refit after it picked a classifier that takes packed labels
    search = GridSearchCV(Pipeline([("clf", LogisticRegression())]),
                          {"clf": [SourceClassifier(LogisticRegression()), LogisticRegression()]}, cv=2)
    pipe = Pipeline([("coral", CORAL()), ("search", search)])
    for _ in range(2):
        with pytest.warns(UserWarning, match="in a Pipeline that ends in LogisticRegression"):
            pipe.fit(X, y)


def test_coral_with_sample_domain_counts_labelled_target_rows_as_target():
    """sample_domain (routed through a Pipeline) tells the domains apart: target rows with a known label are
    target rows (in the target covariance, not re-coloured), and the classifier learns from them raw."""
    import sklearn

    Xs, ys, Xt = _domains(n_features=5)
    yt = (Xt[:, 0] > 0.5).astype(int)
    known = np.arange(len(Xt)) % 5 == 0
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.where(known, yt, -1)])
    domains = np.r_[np.ones(len(Xs), dtype=int), -np.ones(len(Xt), dtype=int)]
    out = CORAL().fit_transform(X, y, sample_domain=domains)
    np.testing.assert_allclose(out[:len(Xs)], _by_hand(Xs, Xt), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(out[len(Xs):], Xt)
    np.testing.assert_allclose(CORAL().fit(X, y, sample_domain=domains).transform_matrix_,
                               CORAL().fit(Xs, X_target=Xt).transform_matrix_)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(CORAL().set_fit_request(sample_domain=True), SourceClassifier(LogisticRegression()))
        pipe.fit(X, y, sample_domain=domains)
    by_hand = LogisticRegression().fit(np.concatenate([_by_hand(Xs, Xt), Xt[known]]), np.r_[ys, yt[known]])
    np.testing.assert_allclose(pipe[-1].estimator_.coef_, by_hand.coef_, rtol=1e-6)
    with pytest.raises(ValueError, match="sample_domain is 0 at rows"):
        CORAL().fit(X, y, sample_domain=np.zeros(len(X), dtype=int))


def test_source_classifier_drops_target_rows_and_sample_weights_with_them():
    Xs, ys, Xt = _domains()
    X, y = pack_domains(Xs, ys, Xt)
    weights = np.r_[np.linspace(0.5, 2, len(Xs)), np.full(len(Xt), 100.0)]
    clf = SourceClassifier(LogisticRegression()).fit(X, y, sample_weight=weights)
    plain = LogisticRegression().fit(Xs, ys, sample_weight=weights[:len(Xs)])
    np.testing.assert_allclose(clf.estimator_.coef_, plain.coef_, rtol=1e-6)
    assert list(clf.classes_) == [0, 1] and clf.n_features_in_ == 4
    assert clf.score(X, y) == plain.score(Xs, ys)  # scores the labelled rows only
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.score(X, y[:-5])  # was: the labelled rows among the first ones scored silently
    # a string marker and string labels
    y_text = np.where(y == -1, "unknown", np.where(y == 1, "pos", "neg")).astype(object)
    clf_text = SourceClassifier(LogisticRegression(), unlabeled_marker="unknown").fit(X, y_text)
    assert set(clf_text.classes_) == {"neg", "pos"}
    assert clf.get_params()["estimator__C"] == 1.0 and clone(clf).estimator is not clf.estimator


def test_source_classifier_exposes_only_the_methods_of_its_estimator():
    from sklearn.svm import LinearSVC

    Xs, ys, Xt = _domains()
    X, y = pack_domains(Xs, ys, Xt)
    svc = SourceClassifier(LinearSVC()).fit(X, y)
    assert hasattr(svc, "decision_function") and not hasattr(svc, "predict_proba")


@pytest.mark.parametrize("make_data,message", [
    (lambda Xs, ys, Xt: (Xs, ys), "at least 2 target rows"),
    (lambda Xs, ys, Xt: pack_domains(Xs[:1], ys[:1], Xt), "at least 2 source rows"),
    (lambda Xs, ys, Xt: (Xs, None), "needs to know the target rows"),
    (lambda Xs, ys, Xt: (np.where(np.arange(len(Xs))[:, None] == 3, np.nan, Xs), np.r_[ys[:-5], [-1] * 5]), "NaN"),
    # finite values whose covariance overflows float64 ("Eigenvalues did not converge" before)
    (lambda Xs, ys, Xt: pack_domains(Xs * 1e160, ys, Xt), r"the source covariance overflows float64 \(feature "
                                                            r"values up to .*e\+160\): standardise the features"),
    (lambda Xs, ys, Xt: pack_domains(Xs, ys, Xt * 1e160), "the target covariance overflows float64"),
])
def test_coral_errors(make_data, message):
    Xs, ys, Xt = _domains()
    with pytest.raises(ValueError, match=message):
        CORAL().fit(*make_data(Xs, ys, Xt))


def test_coral_more_errors():
    Xs, ys, Xt = _domains()
    X, y = pack_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="X_target was also given"):
        CORAL().fit(X, y, X_target=Xt)
    with pytest.raises(ValueError, match="same features"):
        CORAL().fit(Xs, ys, X_target=Xt[:, :3])
    with pytest.raises(ValueError, match="regularization"):
        CORAL(regularization=0).fit(X, y)
    fitted = CORAL().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        fitted.transform(Xt[:, :3])
    with pytest.raises(ValueError, match="no labelled source row"):
        SourceClassifier(LogisticRegression()).fit(Xt, np.full(len(Xt), -1))
    with pytest.raises(ValueError, match="at least 2 target rows .*rows with a negative sample_domain"):
        CORAL().fit(X, y, sample_domain=np.r_[np.ones(len(X) - 1, dtype=int), -1])


def test_coral_transform_matrix_names_too_few_rows_and_nan_before_an_overflow():
    """The public function, called directly: 1 row or a NaN made its covariance NaN, reported as an overflow."""
    from skda.preprocessing import coral_transform_matrix

    Xs, ys, Xt = _domains()
    with pytest.raises(ValueError, match=r"needs at least 2 source rows of a 2-D array .* got shape \(1, 4\)"):
        coral_transform_matrix(Xs[:1], Xt)
    with pytest.raises(ValueError, match="the target rows hold NaN or infinite values"):
        coral_transform_matrix(Xs, np.where(np.arange(len(Xt))[:, None] == 0, np.nan, Xt))
    with pytest.raises(ValueError, match="the source covariance overflows float64"):
        coral_transform_matrix(Xs * 1e160, Xt)
    with pytest.raises(ValueError, match="the source rows have 4 features and the target rows 3"):
        coral_transform_matrix(Xs, Xt[:, :3])
    for bad in (-2, 0, "1", np.nan, np.inf, True):  # -2 gave a finite, meaningless matrix
        with pytest.raises(ValueError, match=f"regularization must be a real number > 0 .*got {bad!r}"):
            coral_transform_matrix(Xs, Xt, regularization=bad)


def test_coral_refuses_target_columns_in_another_order():
    import pandas as pd

    Xs, ys, Xt = _domains()
    columns = ["a", "b", "c", "d"]
    source, target = pd.DataFrame(Xs, columns=columns), pd.DataFrame(Xt, columns=columns)
    with pytest.raises(ValueError, match=r"X_target has the columns \['d', 'c', 'b', 'a'\], but X has \['a', 'b'"):
        CORAL().fit(source, ys, X_target=target[columns[::-1]])
    np.testing.assert_allclose(CORAL().fit_transform(source, ys, X_target=target), _by_hand(Xs, Xt), rtol=1e-9)


def test_a_coral_refit_that_fails_leaves_the_fitted_transform_as_it_was():
    """A refit refused for its target columns or its target rows keeps the previous fit (its feature names had
    become the refused call's, so the fitted transform refused its own columns)."""
    import pandas as pd

    Xs, ys, Xt = _domains()
    frame = lambda X, p: pd.DataFrame(X, columns=[f"{p}{i}" for i in range(X.shape[1])])  # noqa: E731
    coral = CORAL().fit(frame(Xs, "a"), ys, X_target=frame(Xt, "a"))
    before = coral.transform(frame(Xt, "a"))
    with pytest.raises(ValueError, match="X_target has the columns"):
        coral.fit(frame(Xs, "b"), ys, X_target=frame(Xt, "c"))
    with pytest.raises(ValueError, match="at least 2 target rows"):
        coral.fit(np.c_[Xs, Xs], ys, X_target=np.c_[Xt, Xt][:1])
    assert list(coral.feature_names_in_) == [f"a{i}" for i in range(Xs.shape[1])] and coral.n_features_in_ == 4
    np.testing.assert_array_equal(coral.transform(frame(Xt, "a")), before)


def test_coral_is_finite_when_a_covariance_is_positive_definite_only_up_to_rounding():
    Xs, ys, Xt = _domains()
    X, y = pack_domains(Xs, ys, Xt)
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(60, 4)), rng.normal(size=(50, 4)) + 0.5
    for regularization in (1e-10, 1e-16):  # collinear features: a covariance singular up to rounding
        collinear = [np.c_[a, a[:, 0] + a[:, 1]] * 1e4 for a in (source, target)]
        out = CORAL(regularization=regularization).fit_transform(collinear[0], X_target=collinear[1])
        assert np.isfinite(out).all()
    # a regularised covariance is untouched: the paper's transform, as before
    np.testing.assert_allclose(CORAL().fit_transform(X, y)[:len(Xs)], _by_hand(Xs, Xt), rtol=1e-9, atol=1e-9)


def test_source_classifier_takes_what_scikit_learn_classifiers_take():
    """Lists, sparse matrices of any format, list-valued sample weights: as LogisticRegression takes them."""
    import scipy.sparse as sparse

    Xs, ys, Xt = _domains()
    X, y = pack_domains(Xs, ys, Xt)
    expected = LogisticRegression().fit(Xs, ys).coef_
    for data in (X.tolist(), sparse.coo_matrix(X), sparse.csr_matrix(X)):
        clf = SourceClassifier(LogisticRegression()).fit(data, y, sample_weight=[1.0] * len(y))
        np.testing.assert_allclose(clf.estimator_.coef_, expected, rtol=1e-4, atol=1e-6)
        assert clf.score(data, y) == LogisticRegression().fit(Xs, ys).score(Xs, ys)


class _SourceAsTargetCORAL(CORAL):
    """For scikit-learn's checks (fully labelled data): with no target rows, the source doubles as the target,
    which makes the transform the identity, as ``transform`` is."""

    def _split(self, X, y, X_target, sample_domain=None):
        if X_target is None and sample_domain is None:
            X = self._check_X(X, "X", reset=True)
            return X, X, None
        return super()._split(X, y, X_target, sample_domain)


@parametrize_with_checks([_SourceAsTargetCORAL(unlabeled_marker=None),
                          SourceClassifier(LogisticRegression(), unlabeled_marker=None)])
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_lazy_names():
    assert skda.SourceClassifier is SourceClassifier
    assert skda.preprocessing.CORAL is CORAL


def test_every_module_the_docs_name_is_an_attribute_in_a_fresh_process():
    """``skda.optim.MomentumSGD`` (the user guide) and the other submodules resolve without importing them first."""
    import subprocess
    import sys

    names = ["active", "coral", "engine", "layers", "losses", "optim", "sampling", "validation"]
    code = f"import skda\nfor name in {names!r}:\n    getattr(skda, name)\nskda.optim.MomentumSGD\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_user_guide_coral_example_runs():
    """The user guide's CORAL block runs; on the digits shift both linear baselines clear a floor."""
    import re
    from pathlib import Path

    guide = (Path(__file__).parent.parent / "docs" / "index.md").read_text()
    section = guide[guide.index("## Linear baselines"):]
    section = section[:section.index("\n## ", 1)]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    namespace = {}
    exec(compile(block, "docs/index.md Linear baselines block", "exec"), namespace)
    Xt, yt = namespace["Xt"], namespace["yt"]
    assert namespace["coral"].score(Xt, yt) > 0.5 and namespace["source_lr"].score(Xt, yt) > 0.5
    assert list(namespace["coral"].classes_) == list(range(10))
