"""scikit-learn tools that do not know the unlabelled marker (issue "never a silent wrong answer", rows 2-4):
cross_val_predict's label encoding, scikit-learn's scorer names, and the weighted scorers on a Pipeline with a
ColumnTransformer. Each either gives the labelled-row / correct answer (skda's tools) or refuses clearly."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.model_selection import cross_val_predict as sk_cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skda import metrics
from skda.metrics import density_ratio, iwcv_scorer, make_unsupervised_scorer
from skda.model_selection import DomainStratifiedKFold, pack_domains

from .registry import make



@pytest.fixture(scope="module")
def packed(small_task):
    Xs, ys, Xt, _ = small_task
    return pack_domains(Xs, ys, Xt)


def dann(**params):
    return make("dann", random_state=0, **params)


# ---------------------------------------------------------------------------------------- row 2
@pytest.mark.parametrize("make", [lambda: make("source-only", random_state=0), dann],
                         ids=["source-only", "dann"])
def test_sklearn_cross_val_predict_proba_is_refused(packed, make):
    # before: SourceOnly returned (n, K + 1) columns (target rows trained as a class); DANN said "no target samples"
    X, y = packed
    with pytest.raises(ValueError, match="label-encodes y.*skda.model_selection.cross_val_predict"):
        sk_cross_val_predict(make(), X, y, cv=DomainStratifiedKFold(3), method="predict_proba")


@pytest.mark.parametrize("wrapper", ["voting", "bagging", "stacking", "one-vs-rest", "one-vs-one"])
@pytest.mark.parametrize("name", ["source-only", "dann"])
def test_wrappers_that_label_encode_y_are_refused_on_packed_data(packed, wrapper, name):
    """They turn the marker into a class before the skda estimator sees y (was: a source-only model trained on
    the target rows as class -1, DANN said "no target samples")."""
    from sklearn.ensemble import BaggingClassifier, StackingClassifier, VotingClassifier
    from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier

    X, y = packed
    estimator = make(name, random_state=0)
    meta = {"voting": lambda: VotingClassifier([("m", estimator)], voting="soft"),
            "bagging": lambda: BaggingClassifier(estimator, n_estimators=2, random_state=0),
            "stacking": lambda: StackingClassifier([("m", estimator)], cv=2),
            "one-vs-rest": lambda: OneVsRestClassifier(estimator),
            "one-vs-one": lambda: OneVsOneClassifier(estimator)}[wrapper]
    with pytest.raises(ValueError, match=f"{type(meta()).__name__} label-encodes y before fitting .* marker -1"):
        meta().fit(X, y)
    if wrapper.startswith("one-vs"):  # their partial_fit too (was: classes_ [-1 0 1 2], target rows predicted -1)
        with pytest.raises(ValueError, match=f"{type(meta()).__name__} label-encodes y before fitting .* marker -1"):
            meta().partial_fit(X, y, classes=np.unique(y))


def test_permutation_test_score_on_packed_labels_is_refused(packed):
    """Without groups that keep the domains apart it shuffles the marker with the labels: about half the source
    rows became target rows and the other way round in every permuted fit (a null that mixes the domains, before),
    also with scoring=None. groups=(y == -1) permutes within the domains and is accepted."""
    from sklearn.model_selection import permutation_test_score

    X, y = packed
    for scoring in (None, metrics.labelled_scorer("accuracy")):
        for groups in (None, np.arange(len(y)) % 2):  # no groups; groups that mix the domains
            with pytest.raises(ValueError, match=r"permutation_test_score shuffles the labels of y across its "
                                                 r"groups, the unlabelled marker -1 .*groups=\(y == -1\)"):
                permutation_test_score(dann(), X, y, groups=groups, cv=DomainStratifiedKFold(2), n_permutations=2,
                                       scoring=scoring, random_state=0)
    # permuted within the domains (what the message advises): the marker stays on the target rows
    score, permuted, _ = permutation_test_score(dann(), X, y, groups=(y == -1), cv=DomainStratifiedKFold(2),
                                                n_permutations=2, random_state=0)
    assert np.isfinite(score) and np.isfinite(permuted).all()


def test_validation_curve_with_a_sklearn_scorer_warns_why_every_score_is_nan(packed):
    """validation_curve turns fit errors into NaN without scikit-learn's "fits failed" warning: the refusal is
    also a warning there, so the NaN scores do not come silently."""
    from sklearn.model_selection import validation_curve

    X, y = packed
    with pytest.warns(UserWarning, match="validation_curve: every fit fails.*labelled_scorer"):
        _, test_scores = validation_curve(dann(), X, y, param_name="lr", param_range=[0.01, 0.02],
                                          cv=DomainStratifiedKFold(2), scoring="accuracy")
    assert np.isnan(test_scores).all()
    _, labelled = validation_curve(dann(), X, y, param_name="lr", param_range=[0.01, 0.02],
                                   cv=DomainStratifiedKFold(2), scoring=metrics.labelled_scorer("accuracy"))
    assert np.isfinite(labelled).all()


@pytest.mark.parametrize("how", ["cross-validated", "cross-validated, one model", "frozen"])
def test_calibration_on_packed_labels_is_refused_and_on_labelled_rows_works(packed, small_task, how):
    """CalibratedClassifierCV fits its calibrators on every label of y: on packed data the marker would become a
    calibrated class (one probability column too many)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    X, y = packed
    if how == "frozen":
        calibrated = CalibratedClassifierCV(FrozenEstimator(dann().fit(X, y)))
    else:
        calibrated = CalibratedClassifierCV(dann(), cv=DomainStratifiedKFold(2), ensemble=how == "cross-validated")
    with pytest.raises(ValueError, match="CalibratedClassifierCV fits its calibrators on every label of y"):
        calibrated.fit(X, y)
    Xs, ys, Xt, _ = small_task
    held_out = CalibratedClassifierCV(FrozenEstimator(dann().fit(X, y))).fit(Xs[::2], ys[::2])
    assert held_out.classes_.tolist() == [0, 1, 2] and held_out.predict_proba(Xt).shape == (len(Xt), 3)


def test_a_wrapper_s_classifier_score_on_packed_labels_is_refused(packed, small_task):
    """scikit-learn's ClassifierMixin.score of a wrapper around a fitted skda model (the calibration recipe above,
    FixedThresholdClassifier) compares every label with the predictions: on packed labels the target rows would
    count as misses (0.44 for 0.73 before). On labelled rows it scores as usual."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    X, y = packed
    Xs, ys, Xt, _ = small_task
    model = dann().fit(X, y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(model)).fit(Xs[::2], ys[::2])
    with pytest.raises(ValueError, match=r"CalibratedClassifierCV.score \(scikit-learn's ClassifierMixin.score, "
                                         r"around a skda model\) would score the target rows .*labelled_scorer"):
        calibrated.score(X, y)
    labelled = y != -1
    assert calibrated.score(X[labelled], y[labelled]) == pytest.approx(
        np.mean(calibrated.predict(X[labelled]) == y[labelled]))
    binary = y[labelled] < 2
    Xb, yb = X[labelled][binary], y[labelled][binary]
    threshold = FixedThresholdClassifier(FrozenEstimator(dann().fit(np.r_[Xb, Xt], np.r_[yb, [-1] * len(Xt)])))
    threshold.fit(Xb, yb)
    with pytest.raises(ValueError, match="FixedThresholdClassifier.score"):
        threshold.score(np.r_[Xb, Xt], np.r_[yb, [-1] * len(Xt)])


def test_wrappers_of_fitted_models_fitted_on_packed_labels_are_refused(packed, small_task):
    """Fitted skda models behind FrozenEstimator (their fit never reaches skda's checks) combined by a wrapper that
    label-encodes packed labels: the marker takes a class's place, so VotingClassifier read every prediction one
    class off (soft and hard: target accuracy 0.0 for 0.72 of the model alone), cross_val_predict shifted the
    probability columns by one, and StackingClassifier failed later with a feature-count error. Fitted on the
    labelled rows, the voting averages the models' probabilities."""
    from sklearn.ensemble import StackingClassifier, VotingClassifier
    from sklearn.frozen import FrozenEstimator

    X, y = packed
    Xs, ys, Xt, _ = small_task
    a, b = dann().fit(X, y), make("dann", random_state=1).fit(X, y)
    for voting in ("soft", "hard"):
        combined = VotingClassifier([("a", FrozenEstimator(a)), ("b", FrozenEstimator(b))], voting=voting).fit(X, y)
        with pytest.raises(ValueError, match="VotingClassifier was fitted on packed labels"):
            combined.predict(Xt)
    with pytest.raises(ValueError, match=r"cross_val_predict\(method='predict_proba'\) label-encodes y"):
        sk_cross_val_predict(FrozenEstimator(a), X, y, cv=DomainStratifiedKFold(3), method="predict_proba")
    with pytest.raises(ValueError, match=r"StackingClassifier label-encodes y .*\(FrozenEstimator\) on the "
                                         r"labelled rows"):
        StackingClassifier([("a", FrozenEstimator(a))], final_estimator=LogisticRegression()).fit(X, y)
    labelled = y != -1
    combined = VotingClassifier([("a", FrozenEstimator(a)), ("b", FrozenEstimator(b))], voting="soft")
    combined.fit(X[labelled], y[labelled])
    np.testing.assert_allclose(combined.predict_proba(Xt), (a.predict_proba(Xt) + b.predict_proba(Xt)) / 2,
                               rtol=1e-6)


def test_multioutput_score_on_packed_labels_is_refused(packed):
    """MultiOutputClassifier's own score counted the target rows of packed 2-D labels as misses (0.47 for 0.82)."""
    from sklearn.multioutput import MultiOutputClassifier

    X, y = packed
    Y = np.c_[y, np.where(y == -1, -1, (y + 1) % 3)]
    model = MultiOutputClassifier(dann()).fit(X, Y)
    with pytest.raises(ValueError, match="MultiOutputClassifier.score .* would score the target rows"):
        model.score(X, Y)
    labelled = y != -1
    expected = np.mean(np.all(model.predict(X[labelled]) == Y[labelled], axis=1))
    assert model.score(X[labelled], Y[labelled]) == pytest.approx(expected)


def test_a_skda_transformer_before_a_classifier_blind_to_the_marker_warns(packed, small_task):
    """A skda estimator as a transformer (its learned features) on packed labels, in a Pipeline, FeatureUnion or
    ColumnTransformer ending in LogisticRegression: the classifier gets the same labels and learns the marker as a
    class (target rows predicted -1, silent before), as after CORAL. Ending in a skda estimator or
    SourceClassifier, or in the three-array form, no warning."""
    from sklearn.pipeline import make_union

    from skda import SourceClassifier

    X, y = packed
    Xs, ys, Xt, _ = small_task
    for blind in (make_pipeline(dann(), LogisticRegression()),
                  make_pipeline(make_pipeline(StandardScaler(), dann()), LogisticRegression()),
                  make_pipeline(make_union(dann(), "passthrough"), LogisticRegression()),
                  make_pipeline(ColumnTransformer([("features", dann(), list(range(X.shape[1])))]),
                                LogisticRegression())):
        with pytest.warns(UserWarning, match=r"DANNClassifier was fitted on packed labels \(target rows labelled "
                                             r"-1\) in a Pipeline that ends in LogisticRegression"):
            blind.fit(X, y)
        assert -1 in blind.classes_  # what the warning is about
    for last in (SourceClassifier(LogisticRegression()), make("source-only", random_state=0)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            warnings.filterwarnings("ignore", message=".*collapsed.*")
            make_pipeline(dann(), last).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*collapsed.*")
        dann().fit_transform(Xs, ys, Xt)


def source_lr():
    """CORAL + LogisticRegression on the source rows, one of the benchmarks' baselines."""
    from skda.preprocessing import CORAL, SourceClassifier
    return make_pipeline(StandardScaler(), CORAL(), SourceClassifier(LogisticRegression(max_iter=200)))


def test_source_classifier_is_refused_by_label_blind_tools_and_scored_by_labelled_scorer(packed):
    """SourceClassifier (a scikit-learn classifier on the source rows of packed data, here behind CORAL) gets the
    estimators' refusals, and the labelled-row figures from skda's tools and from its own ``score``."""
    from skda.preprocessing import SourceClassifier

    X, y = packed
    cv = DomainStratifiedKFold(3)
    with pytest.raises(ValueError, match="label-encodes y.*skda.model_selection.cross_val_predict"):
        sk_cross_val_predict(SourceClassifier(LogisticRegression(max_iter=200)), X, y, cv=cv,
                             method="predict_proba")
    with pytest.raises(ValueError, match="marker -1"):
        cross_val_score(source_lr(), X, y, cv=cv, scoring="accuracy")
    fitted = source_lr().fit(X, y)
    with pytest.raises(ValueError, match="labelled_scorer"):
        get_scorer("accuracy")(fitted, X, y)
    labelled = y != -1
    by_tool = cross_val_score(source_lr(), X, y, cv=cv, scoring=metrics.labelled_scorer("accuracy"))
    by_score = cross_val_score(source_lr(), X, y, cv=cv)
    np.testing.assert_allclose(by_tool, by_score)
    assert get_scorer("accuracy")(fitted, X[labelled], y[labelled].astype(int)) == fitted.score(X, y)


def test_sklearn_cross_val_predict_still_works_without_the_marker(small_task):
    Xs, ys, Xt, _ = small_task  # three-array form: y fully labelled, so the encoding is harmless
    proba = sk_cross_val_predict(dann(), Xs, ys, cv=3, method="predict_proba", params={"X_target": Xt})
    assert proba.shape == (len(Xs), 3)


def test_skda_cross_val_predict_on_packed_data(packed):
    from skda.model_selection import cross_val_predict

    X, y = packed
    cv = DomainStratifiedKFold(3)
    proba = cross_val_predict(dann(), X, y, cv=cv, method="predict_proba")
    assert proba.shape == (len(X), 3)  # the source classes only
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    labels = cross_val_predict(dann(), X, y, cv=cv)
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))  # same seeds, same fold models
    # the fold model's own predictions, placed at its test rows
    train, test = next(cv.split(X, y))
    model = dann().fit(X[train], y[train])
    np.testing.assert_allclose(proba[test], model.predict_proba(X[test]), atol=1e-6)


def test_skda_cross_val_predict_takes_sklearns_cv_forms(packed):
    """An int is DomainStratifiedKFold(int), None is 5 of those folds, an iterable of (train, test) pairs is used
    as given; other values are refused with the forms accepted (was: AttributeError "'int' object has no
    attribute 'split'" for cv=1 or None)."""
    from skda.model_selection import cross_val_predict

    X, y = packed
    by_splitter = cross_val_predict(dann(), X, y, cv=DomainStratifiedKFold(3))
    np.testing.assert_array_equal(cross_val_predict(dann(), X, y, cv=3), by_splitter)
    np.testing.assert_array_equal(cross_val_predict(dann(), X, y, cv=list(DomainStratifiedKFold(3).split(X, y))),
                                  by_splitter)
    np.testing.assert_array_equal(cross_val_predict(dann(), X, y, cv=None),
                                  cross_val_predict(dann(), X, y, cv=DomainStratifiedKFold(5)))
    for cv in (1, 0, -2):
        with pytest.raises(ValueError, match=r"cv must be an int >= 2 \(the number of folds\), a splitter or an "):
            cross_val_predict(dann(), X, y, cv=cv)
    for cv in (1.0, 2.5, True, "5"):
        with pytest.raises(TypeError, match=r"cv must be an int >= 2 \(the number of folds\), a splitter or an "):
            cross_val_predict(dann(), X, y, cv=cv)


def test_skda_cross_val_predict_subsets_per_row_fit_parameters(small_task):
    """``params`` with one value per row (``sample_domain``) are cut to each fold's training rows, as scikit-learn
    does: the fold models equal fits on the packed fold rows with their slice of sample_domain."""
    from skda.model_selection import cross_val_predict

    Xs, ys, Xt, yt = small_task
    X = np.concatenate([Xs, Xt])
    labels = np.where(np.arange(len(Xt)) % 5 == 0, yt, -1)
    y = np.concatenate([ys, labels])
    domains = np.r_[np.ones(len(Xs), dtype=int), -np.ones(len(Xt), dtype=int)]
    cv = DomainStratifiedKFold(3)
    proba = cross_val_predict(dann(), X, y, cv=cv, method="predict_proba", params={"sample_domain": domains})
    train, test = next(cv.split(X, y))
    model = dann().fit(X[train], y[train], sample_domain=domains[train])
    np.testing.assert_allclose(proba[test], model.predict_proba(X[test]), atol=1e-6)


def test_skda_cross_val_predict_aligns_columns_with_string_labels(small_task):
    from skda.model_selection import cross_val_predict

    Xs, ys, Xt, _ = small_task
    names = np.array(["cat", "dog", "emu"])[ys]
    X, y = pack_domains(Xs, names, Xt)  # object y: strings and the number -1
    proba = cross_val_predict(dann(), X, y, cv=3, method="predict_proba")
    assert proba.shape == (len(X), 3)
    assert set(cross_val_predict(dann(), X, y, cv=3)) <= {"cat", "dog", "emu"}


def test_skda_cross_val_predict_refuses_binary_decision_functions_of_a_multiclass_problem(small_task):
    """Folds trained on two of three classes give one logit difference each, for different pairs: refused, as
    scikit-learn does (was: a 1-D result mixing the pairs); predict_proba fills the missing class instead."""
    from skda.model_selection import cross_val_predict

    Xs, _, Xt, _ = small_task
    ys = np.r_[np.zeros(len(Xs) - 2, dtype=int), 1, 2]  # classes 1 and 2: one source row each
    X, y = pack_domains(Xs, ys, Xt)
    cv = list(DomainStratifiedKFold(2).split(X, y))
    with pytest.raises(ValueError, match=r"Only 2 classes \(\[0, [12]\]\) in a training fold, but 3 in the data"):
        cross_val_predict(dann(), X, y, cv=cv, method="decision_function")
    proba = cross_val_predict(dann(), X, y, cv=cv, method="predict_proba")
    assert proba.shape == (len(X), 3)


# ---------------------------------------------------------------------------------------- row 3
@pytest.mark.parametrize("name", ["accuracy", "f1_macro", "balanced_accuracy", "neg_log_loss", "roc_auc_ovr"])
def test_sklearn_scorer_names_are_refused_on_packed_data(packed, name):
    # before: deflated accuracy / F1 / balanced accuracy, NaN log loss and AUC
    X, y = packed
    with pytest.raises(ValueError, match="labelled_scorer"):
        cross_val_score(dann(), X, y, cv=DomainStratifiedKFold(3), scoring=name)


def test_sklearn_scorer_refused_in_a_search_and_when_called_directly(packed):
    X, y = packed
    search = GridSearchCV(dann(), {"lr": [0.01, 0.02]}, cv=DomainStratifiedKFold(2), scoring=["accuracy", "f1_macro"],
                          refit=False)
    with pytest.raises(ValueError, match="marker -1"):
        search.fit(X, y)
    model = dann().fit(X, y)
    with pytest.raises(ValueError, match="labelled_scorer"):
        get_scorer("accuracy")(model, X, y)
    in_pipeline = make_pipeline(StandardScaler(), dann()).fit(X, y)
    with pytest.raises(ValueError, match="labelled_scorer"):
        get_scorer("neg_log_loss")(in_pipeline, X, y)
    labelled = y != -1
    assert get_scorer("accuracy")(model, X[labelled], y[labelled].astype(int)) == model.score(X, y)


@pytest.mark.parametrize("name", ["accuracy", "f1_macro", "balanced_accuracy", "neg_log_loss", "roc_auc_ovr"])
def test_labelled_scorer_scores_the_labelled_rows(packed, name):
    X, y = packed
    model = make_pipeline(StandardScaler(), dann()).fit(X, y)
    labelled = y != -1
    expected = get_scorer(name)(model, X[labelled], y[labelled].astype(int))
    assert np.isfinite(expected)
    assert metrics.labelled_scorer(name)(model, X, y) == pytest.approx(expected)


def test_labelled_scorer_in_cross_val_score_matches_score(packed):
    X, y = packed
    cv = DomainStratifiedKFold(3)
    plain = cross_val_score(dann(), X, y, cv=cv)  # estimator.score: accuracy on the labelled rows
    np.testing.assert_allclose(cross_val_score(dann(), X, y, cv=cv, scoring=metrics.labelled_scorer("accuracy")), plain)
    log_loss = cross_val_score(dann(), X, y, cv=cv, scoring=metrics.labelled_scorer("neg_log_loss"))
    assert np.isfinite(log_loss).all() and (log_loss < 0).all()


# ---------------------------------------------------------------------------------------- row 4
@pytest.fixture(scope="module")
def frame_task(small_task):
    Xs, ys, Xt, _ = small_task
    rng = np.random.RandomState(1)
    cols = [f"x{i}" for i in range(Xs.shape[1])]
    dfs, dft = pd.DataFrame(Xs, columns=cols), pd.DataFrame(Xt, columns=cols)
    dfs["colour"] = rng.choice(["red", "green"], len(dfs))
    dft["colour"] = rng.choice(["red", "green", "blue"], len(dft))
    X, y = pack_domains(dfs, ys, dft)
    return X, y, cols


def column_pipeline(cols, **params):
    encode = ColumnTransformer([("num", StandardScaler(), cols),
                                ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["colour"])])
    return make_pipeline(encode, dann(**params))


def test_iwcv_on_a_column_transformer_pipeline_uses_its_encoded_features(frame_task):
    # before: "could not convert string to float" (density ratios on the raw DataFrame)
    X, y, cols = frame_task
    pipe = column_pipeline(cols).fit(X, y)
    score = iwcv_scorer(pipe, X, y)
    assert np.isfinite(score)
    features = pipe[:-1].transform(X)
    source = y != -1
    w = density_ratio(features[source], features[~source])
    proba = pipe.predict_proba(X[source])
    expected = np.mean(w * (pipe.classes_[proba.argmax(1)] == y[source].astype(int)))
    assert score == pytest.approx(expected)
    assert np.isfinite(make_unsupervised_scorer("dev", features="input")(pipe, X, y))


def test_grid_search_with_iwcv_on_a_column_transformer_pipeline(frame_task):
    # before: every candidate NaN and best_params_ the first one
    X, y, cols = frame_task
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "Scoring failed" warning
        search = GridSearchCV(column_pipeline(cols), {"dannclassifier__lr": [0.01, 0.05]},
                              cv=DomainStratifiedKFold(2), scoring=iwcv_scorer, refit=False).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_a_search_where_skda_scorers_cannot_score_fails_loudly(packed):
    # test folds without target rows: the scorers cannot score any candidate. Before: NaN for every candidate
    # (warnings only) and best_params_ the first candidate.
    X, y = packed
    source, target = np.flatnonzero(y != -1), np.flatnonzero(y == -1)
    cv = [(np.r_[source[1::2], target], source[::2]), (np.r_[source[::2], target], source[1::2])]
    for scoring in (iwcv_scorer, {"iwcv": iwcv_scorer, "acc": metrics.labelled_scorer("accuracy")}):
        search = GridSearchCV(dann(), {"lr": [0.01, 0.05]}, cv=cv, scoring=scoring, refit=False)
        with pytest.raises(ValueError, match="needs unlabelled target rows"):
            search.fit(X, y)
    # error_score="raise" and a direct call raise the scorer's own error
    with pytest.raises(ValueError, match="needs unlabelled target rows"):
        GridSearchCV(dann(), {"lr": [0.01]}, cv=cv, scoring=iwcv_scorer, error_score="raise").fit(X, y)


@pytest.mark.parametrize("model", ["dann", "pipeline", "source classifier", "adaptation check"])
def test_a_search_whose_test_folds_hold_no_labelled_row_fails_loudly_with_scoring_none(packed, model):
    """scoring=None scores with the estimator's score (accuracy on the labelled rows): a test fold of target rows
    only cannot be scored by any candidate, so the search stops (before: NaN for every candidate, warnings only,
    best_params_ the first candidate), as labelled_scorer("accuracy") makes it stop."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    from skda.metrics import ScoringSetupError
    from skda.model_selection import AdaptationCheck
    from skda.preprocessing import SourceClassifier

    X, y = packed
    source, target = np.flatnonzero(y != -1), np.flatnonzero(y == -1)
    cv = [(np.r_[source, target[::2]], target[1::2])]
    estimator, grid = {"dann": (dann(), {"lr": [0.01, 0.05]}),
                       "pipeline": (make_pipeline(StandardScaler(), dann()), {"dannclassifier__lr": [0.01, 0.05]}),
                       "source classifier": (SourceClassifier(LogisticRegression()), {"estimator__C": [0.1, 1.0]}),
                       "adaptation check": (AdaptationCheck(dann(), random_state=0), {"tolerance": [0.0, 0.01]}),
                       }[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AdaptationCheck's verdicts on a tiny task
        with pytest.raises(ValueError, match="score needs labelled rows: every label equals the unlabelled marker -1"):
            GridSearchCV(estimator, grid, cv=cv, refit=False).fit(X, y)
    fitted = clone(estimator).fit(X, y) if model != "adaptation check" else None
    if fitted is not None:
        with pytest.raises(ScoringSetupError, match="score needs labelled rows"):  # a direct call raises
            fitted.score(X[target], y[target])
    if model == "dann":  # a user's estimator whose own score calls skda's gets the error too (error_score: NaN)
        from sklearn.base import BaseEstimator, ClassifierMixin
        from sklearn.model_selection import cross_val_score

        class Percent(ClassifierMixin, BaseEstimator):
            def __init__(self, inner=None):
                self.inner = inner

            def fit(self, X, y):
                self.inner_ = clone(self.inner).fit(X, y)
                self.classes_ = self.inner_.classes_
                return self

            def predict(self, X):
                return self.inner_.predict(X)

            def score(self, X, y):
                return 100 * self.inner_.score(X, y)

        with pytest.warns(UserWarning, match="score needs labelled rows"):
            assert np.isnan(cross_val_score(Percent(estimator), X, y, cv=cv)).all()
    if model == "dann":  # a scorer of the user's that calls score gets the error itself (error_score: NaN)
        with pytest.warns(UserWarning, match="score needs labelled rows"):
            search = GridSearchCV(estimator, grid, cv=cv, refit=False,
                                  scoring=lambda model, X, y: float(model.score(X, y))).fit(X, y)
        assert np.isnan(search.cv_results_["mean_test_score"]).all()


def test_scorer_refuses_non_numeric_input_features_clearly(frame_task):
    X, y, cols = frame_task
    pipe = make_pipeline(ColumnTransformer([("num", StandardScaler(), cols)], remainder="drop"), dann()).fit(X, y)
    raw = make_pipeline(dann())  # a one-step Pipeline: its final step's input is the raw DataFrame
    assert np.isfinite(iwcv_scorer(pipe, X, y))
    with pytest.raises(ValueError, match="features='input'.*not usable numbers"):
        iwcv_scorer.weights(raw, X[y != -1], X[y == -1])


def test_classifier_chain_on_packed_labels_is_refused_and_multioutput_is_not(packed):
    """ClassifierChain trains each later link with the marker as a feature of the target rows and predicts with
    predicted labels there (13% of a link's target predictions changed by it, silently before);
    MultiOutputClassifier hands each skda model one packed column and is accepted."""
    from sklearn.multioutput import ClassifierChain, MultiOutputClassifier

    X, y = packed
    Y = np.c_[y, np.where(y == -1, -1, (y + 1) % 3)]
    with pytest.raises(ValueError, match="ClassifierChain feeds each link the labels of the links before it"):
        ClassifierChain(dann(), order=[0, 1]).fit(X, Y)
    labelled = y != -1
    chain = ClassifierChain(make("source-only", random_state=0), order=[0, 1]).fit(X[labelled], Y[labelled])
    assert chain.predict(X).shape == Y.shape
    assert not (MultiOutputClassifier(dann()).fit(X, Y).predict(X) == -1).any()


def test_sklearn_cross_val_predict_in_workers_with_sample_domain_warns(small_task):
    """In a worker (n_jobs=2) scikit-learn's cross_val_predict label-encodes y out of skda's sight; with
    sample_domain the encoded marker made the target rows labelled rows of a class, silently (74% predicted as
    it): the fit now warns as it does for packed labels without sample_domain."""
    import joblib
    import sklearn
    from sklearn.model_selection import KFold

    Xs, ys, Xt, _ = small_task
    X, y = np.r_[Xs, Xt], np.r_[ys, -np.ones(len(Xt), int)]
    domains = np.r_[np.ones(len(Xs), int), -np.ones(len(Xt), int)]
    with sklearn.config_context(enable_metadata_routing=True), joblib.parallel_backend("threading", n_jobs=2):
        with pytest.warns(UserWarning, match=r"fit under cross_val_predict\(method='predict_proba'\) in a worker"):
            sk_cross_val_predict(dann().set_fit_request(sample_domain=True), X, y, method="predict_proba",
                                 cv=KFold(2, shuffle=True, random_state=0), params={"sample_domain": domains},
                                 n_jobs=2)


@pytest.mark.parametrize("wrapper", ["voting", "bagging"])
def test_label_encoding_wrappers_in_workers_warn(packed, wrapper):
    """With n_jobs=2 a wrapper's fit (which refuses packed labels in the calling process) is out of the worker's
    sight and y arrives encoded: a source-only model trained the target rows as one more class, silently (-1
    predicted for target rows). The fit in the worker now warns."""
    import joblib
    from sklearn.ensemble import BaggingClassifier, VotingClassifier

    X, y = packed
    model = {"voting": lambda: VotingClassifier([("a", make("source-only", random_state=0)),
                                                 ("b", make("source-only", random_state=1))], n_jobs=2),
             "bagging": lambda: BaggingClassifier(make("source-only", random_state=0), n_estimators=2, n_jobs=2,
                                                  random_state=0)}[wrapper]()
    with joblib.parallel_backend("threading", n_jobs=2):
        with pytest.warns(UserWarning, match=r"in a worker: scikit-learn's wrappers .* label-encode y .* if y was "
                                             r"packed \(target rows marked -1\) the marker became a class"):
            model.fit(X, y)
    labelled = y != -1
    with warnings.catch_warnings():  # a plain supervised problem in the calling process: no warning
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*collapsed.*")
        VotingClassifier([("a", make("source-only", random_state=0))]).fit(X[labelled], y[labelled])
