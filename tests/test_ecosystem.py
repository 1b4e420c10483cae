"""Every estimator in the scikit-learn ecosystem: Pipeline, GridSearchCV, RandomizedSearchCV, cross_val_score,
clone, pickle and joblib round trips (identical predictions after reload), with packed data."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skda

from .registry import ESTIMATORS, make

BASE = dict(random_state=0, device="cpu")
CV = StratifiedKFold(2, shuffle=True, random_state=0)  # stratified on packed labels: both domains per fold


@pytest.fixture(scope="module")
def packed(small_task):
    Xs, ys, Xt, _ = small_task
    return np.vstack([Xs, Xt]), np.r_[ys, -np.ones(len(Xt), dtype=int)]


@pytest.fixture(params=list(ESTIMATORS))
def case(request):
    param, values = ESTIMATORS[request.param].search
    return make(request.param, **BASE), param, values


def test_pipeline_and_cross_val_score(case, packed):
    estimator, _, _ = case
    scores = cross_val_score(make_pipeline(StandardScaler(), estimator), *packed, cv=CV)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))


def test_grid_and_randomized_search(case, packed):
    estimator, param, values = case
    grid = GridSearchCV(estimator, {param: values}, cv=CV).fit(*packed)
    assert grid.best_params_[param] in values and len(grid.cv_results_["params"]) == 2
    rand = RandomizedSearchCV(estimator, {param: values}, n_iter=2, cv=CV, random_state=0).fit(*packed)
    assert rand.best_params_[param] in values
    assert rand.best_estimator_.predict(packed[0]).shape == (len(packed[0]),)


def test_clone_pickle_joblib_round_trip(case, packed, tmp_path):
    estimator, param, values = case
    cloned = clone(estimator.set_params(**{param: values[0]}))
    assert cloned.get_params()[param] == values[0] and not hasattr(cloned, "classes_")
    fitted = cloned.fit(*packed)
    expected = fitted.predict_proba(packed[0])
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(packed[0]), expected)
    joblib.dump(fitted, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict_proba(packed[0]), expected)
    # the same seed refits to the same model
    np.testing.assert_array_equal(clone(fitted).fit(*packed).predict_proba(packed[0]), expected)


def test_set_output_pandas_and_feature_names_out(case, packed):
    pd = pytest.importorskip("pandas")
    estimator, _, _ = case
    pipe = make_pipeline(StandardScaler(), estimator).set_output(transform="pandas")
    pipe.fit(*packed)
    features = pipe.transform(packed[0])
    prefix = type(estimator).__name__.lower()
    assert isinstance(features, pd.DataFrame) and len(features) == len(packed[0])
    assert list(features.columns) == [f"{prefix}{i}" for i in range(features.shape[1])]
    assert list(pipe[-1].get_feature_names_out()) == list(features.columns)
    np.testing.assert_array_equal(features.to_numpy(), pipe[-1].transform(pipe[0].transform(packed[0])))
    assert pipe.predict(packed[0]).shape == (len(packed[0]),)  # prediction is not a transform: unchanged


def test_repr_shows_the_parameters_that_differ_from_their_defaults():
    clf = skda.DANNClassifier(lr=0.05, max_epochs=3, adversarial_weight=0.3)
    assert repr(clf) == "DANNClassifier(adversarial_weight=0.3, lr=0.05, max_epochs=3)"
    assert repr(skda.SourceOnlyClassifier()) == "SourceOnlyClassifier()"
    assert repr(skda.ILADAClassifier(module__hidden_sizes=(8,), verbose=1)) == (
        "ILADAClassifier(module__hidden_sizes=(8,), verbose=1)")
    pipe = repr(make_pipeline(StandardScaler(), skda.DANNClassifier(lr=0.05)))
    assert "DANNClassifier(lr=0.05)" in pipe and "iterator_train" not in pipe and "dataset" not in pipe


def test_x_target_given_through_a_pipeline_is_refused_with_a_pointer_to_the_packed_form(small_task):
    Xs, ys, Xt, _ = small_task
    pipe = make_pipeline(StandardScaler(), make("dann", **BASE))
    with pytest.raises(ValueError, match="X_target reached DANNClassifier as a fit parameter of a Pipeline.*"
                                         "standardscaler.*pack_domains"):
        pipe.fit(Xs, ys, dannclassifier__X_target=Xt)
    # with nothing before the estimator there is nothing to skip
    make_pipeline("passthrough", make("dann", **BASE)).fit(Xs, ys, dannclassifier__X_target=Xt)
    # nested: the outer pipeline's scaler is skipped too (was: accepted, Xt reaching DANN unscaled)
    outer = make_pipeline(StandardScaler(), make_pipeline(make("dann", **BASE)))
    with pytest.raises(ValueError, match=r"X_target reached DANNClassifier .*\['standardscaler'\]"):
        outer.fit(Xs, ys, pipeline__dannclassifier__X_target=Xt)
    # the estimator as a first, transforming step: nothing before it (was: refused, naming itself)
    from sklearn.linear_model import LogisticRegression

    from skda.preprocessing import SourceClassifier

    first = make_pipeline(make("dann", **BASE), SourceClassifier(LogisticRegression()))
    first.fit(Xs, ys, dannclassifier__X_target=Xt)
    np.testing.assert_array_equal(first[0].transform(Xs), make("dann", **BASE).fit(Xs, ys, Xt).transform(Xs))


def test_x_target_routed_past_a_scaler_to_coral_or_adaptation_check_is_refused(small_task):
    """skda's other steps that take X_target check it as the estimators do (was: CORAL and AdaptationCheck fitted
    on an unscaled target beside a scaled source, silently)."""
    from sklearn.linear_model import LogisticRegression

    from skda.model_selection import AdaptationCheck
    from skda.preprocessing import CORAL

    Xs, ys, Xt, _ = small_task
    pipelines = {"coral__X_target": make_pipeline(StandardScaler(), CORAL(), LogisticRegression()),
                 "adaptationcheck__X_target": make_pipeline(StandardScaler(), AdaptationCheck(make("dann", **BASE)))}
    for key, pipe in pipelines.items():
        step = pipe[1]
        with pytest.raises(ValueError, match=f"X_target reached {type(step).__name__} as a fit parameter of a "
                                             r"Pipeline.*\['standardscaler'\]"):
            pipe.fit(Xs, ys, **{key: Xt})
    make_pipeline(CORAL(), LogisticRegression()).fit(Xs, ys, coral__X_target=Xt)  # nothing before it: fine


def test_a_meta_estimator_that_makes_the_target_rows_itself_fits_in_a_pipeline(small_task):
    """AdaptationCheck splits the packed rows it is given (already scaled) and passes X_target itself: not a
    parameter routed past the scaler (was: refused)."""
    from skda.model_selection import AdaptationCheck, pack_domains

    Xs, ys, Xt, _ = small_task
    X, y = pack_domains(Xs, ys, Xt)
    pipe = make_pipeline(StandardScaler(), AdaptationCheck(make("dann", **BASE), random_state=0)).fit(X, y)
    alone = AdaptationCheck(make("dann", **BASE), random_state=0).fit(StandardScaler().fit_transform(X), y)
    np.testing.assert_array_equal(pipe.predict(Xt), alone.predict(StandardScaler().fit(X).transform(Xt)))


def test_polars_dataframes_keep_their_column_names(small_task):
    """polars frames (scikit-learn's other DataFrame): score and the sample_domain form keep the column names, so a
    frame with its columns reordered is refused as predict refuses it (score scored it silently and sample_domain
    dropped the names before); pack_domains stacks two of them by name."""
    pl = pytest.importorskip("polars")
    from skda.model_selection import pack_domains

    Xs, ys, Xt, yt = small_task
    columns = [f"c{i}" for i in range(Xs.shape[1])]
    frame_s, frame_t = pl.DataFrame(Xs, schema=columns), pl.DataFrame(Xt, schema=columns)
    X, y = pack_domains(frame_s, ys, frame_t.select(columns[::-1]))
    assert isinstance(X, pl.DataFrame) and X.columns == columns
    np.testing.assert_array_equal(X.to_numpy(), np.r_[Xs, Xt])
    domains = np.r_[np.ones(len(Xs), int), -np.ones(len(Xt), int)]
    for fitted in (make("dann", random_state=0).fit(X, y),
                   make("dann", random_state=0).fit(X, y, sample_domain=domains)):
        assert list(fitted.feature_names_in_) == columns
        with pytest.raises(ValueError, match="Feature names must be in the same order"):
            fitted.score(frame_t.select(columns[::-1]), yt)
        assert fitted.score(frame_t, yt) == pytest.approx(np.mean(fitted.predict(Xt) == yt))
    import pandas as pd
    with pytest.raises(TypeError, match="Xs is a polars DataFrame and Xt a pandas one"):
        pack_domains(frame_s, ys, pd.DataFrame(Xt, columns=columns))
