"""skda.model_selection.check_negative_transfer: the label-free negative-transfer signal."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from skda.metrics import density_ratio
from skda.model_selection import (NegativeTransferReport, NegativeTransferWarning, check_negative_transfer,
                                  pack_domains)


class RuleClassifier(ClassifierMixin, BaseEstimator):
    """A 'fitted' classifier given by a rule: the class is ``x_0 > 0``, flipped where ``x_1 > flip_above``."""

    def __init__(self, flip_above=np.inf):
        self.flip_above = flip_above
        self.classes_ = np.array([0, 1])

    def predict(self, X):
        X = np.asarray(X)
        label = (X[:, 0] > 0).astype(int)
        return np.where(X[:, 1] > self.flip_above, 1 - label, label)


def _shifted_task(seed=0):
    """Covariate shift: the labelling rule ``x_0 > 0`` holds in both domains; the target sits at large ``x_1``."""
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(400, 2))
    Xt = rng.normal(size=(300, 2)) * [1.0, 0.5] + [0.0, 1.5]
    return Xs, (Xs[:, 0] > 0).astype(int), Xt, (Xt[:, 0] > 0).astype(int)


def test_flags_an_adapted_model_that_is_wrong_where_the_target_lies():
    Xs, ys, Xt, yt = _shifted_task()
    correct, wrong_on_target = RuleClassifier(), RuleClassifier(flip_above=1.0)
    # the truth (target labels, for the test only): the 'adapted' model is far worse on the target ...
    assert wrong_on_target.score(Xt, yt) < correct.score(Xt, yt) - 0.3
    # ... which the importance weights see although most source rows do not (x_1 > 1 for 16% of them)
    with pytest.warns(NegativeTransferWarning, match="adaptation likely hurt.*importance-weighted"):
        report = check_negative_transfer(wrong_on_target, correct, Xs, ys, Xt)
    assert isinstance(report, NegativeTransferReport) and report.flagged and report.criterion == "iwcv"
    assert report.source_accuracy["source_only"] == 1.0
    weights = density_ratio(Xs, Xt, random_state=0)
    expected = np.average(wrong_on_target.predict(Xs) == ys, weights=weights)
    assert report.iwcv_accuracy["adapted"] == pytest.approx(expected)
    assert report.iwcv_drop > report.source_drop > 0
    assert report.target_agreement == pytest.approx(np.mean(wrong_on_target.predict(Xt) == correct.predict(Xt)))
    assert report.effective_sample_size == pytest.approx(weights.sum() ** 2 / (weights ** 2).sum())


def test_does_not_flag_an_adapted_model_that_helps_or_changes_nothing():
    Xs, ys, Xt, _ = _shifted_task()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NegativeTransferWarning)
        helps = check_negative_transfer(RuleClassifier(), RuleClassifier(flip_above=1.0), Xs, ys, Xt)
        same = check_negative_transfer(RuleClassifier(), RuleClassifier(), Xs, ys, Xt, criterion="either")
    assert not helps.flagged and helps.iwcv_drop < -0.1 and helps.reasons == []
    assert not same.flagged and same.target_agreement == 1.0 and same.iwcv_drop == 0.0


def test_packed_form_and_criteria():
    Xs, ys, Xt, _ = _shifted_task()
    adapted, base = RuleClassifier(flip_above=1.0), RuleClassifier()
    X, y = pack_domains(Xs, ys, Xt)
    packed = check_negative_transfer(adapted, base, X, y, warn=False)
    three = check_negative_transfer(adapted, base, Xs, ys, Xt, warn=False)
    assert packed.iwcv_accuracy == three.iwcv_accuracy and packed.source_accuracy == three.source_accuracy
    # a tolerance above the held-out source drop: the 'source' criterion stays silent, 'either' still fires
    tolerance = three.source_drop + 0.01
    assert not check_negative_transfer(adapted, base, Xs, ys, Xt, criterion="source", tolerance=tolerance,
                                       warn=False).flagged
    either = check_negative_transfer(adapted, base, Xs, ys, Xt, criterion="either", tolerance=tolerance, warn=False)
    assert either.flagged and len(either.reasons) == 1


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(criterion="dev"), ValueError, "criterion must be one of"),
    (dict(tolerance=1.5), ValueError, "tolerance"),
])
def test_bad_settings(kwargs, error, message):
    Xs, ys, Xt, _ = _shifted_task()
    with pytest.raises(error, match=message):
        check_negative_transfer(RuleClassifier(), RuleClassifier(), Xs, ys, Xt, **kwargs)


def test_bad_data():
    Xs, ys, Xt, _ = _shifted_task()
    X, y = pack_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="unlabelled target rows"):
        check_negative_transfer(RuleClassifier(), RuleClassifier(), Xs, ys)
    with pytest.raises(ValueError, match="X_target was also given"):
        check_negative_transfer(RuleClassifier(), RuleClassifier(), X, y, Xt)
    with pytest.raises(TypeError, match="fitted classifier"):
        check_negative_transfer(object(), RuleClassifier(), Xs, ys, Xt)
    with pytest.raises(ValueError, match="NaN"):
        check_negative_transfer(RuleClassifier(), RuleClassifier(), np.where(Xs > 2, np.nan, Xs), ys, Xt)
    # labels the models never predict (other spelling, other values): was an accuracy of 0 for both, not flagged
    for labels, shown in ((ys.astype(str), r"\['0', '1'\]"), (ys + 5, r"\[5, 6\]")):
        with pytest.raises(ValueError, match=f"y holds labels {shown} that the adapted model does not predict"):
            check_negative_transfer(RuleClassifier(), RuleClassifier(), Xs, labels, Xt)


def test_no_flag_when_the_models_agree_on_almost_every_target_row():
    """Two models that disagree on at most ``tolerance`` of the target rows cannot differ by more in accuracy."""
    Xs, ys, Xt, _ = _shifted_task()
    # flipped only at the very top of x_1: few target rows differ, but the weighted source rows there do
    adapted = RuleClassifier(flip_above=float(np.quantile(Xt[:, 1], 0.995)))
    report = check_negative_transfer(adapted, RuleClassifier(), Xs, ys, Xt, criterion="either", tolerance=0.01,
                                     warn=False)
    assert 1 - report.target_agreement <= 0.01 and not report.flagged
    assert report.iwcv_drop > 0 or report.source_drop > 0  # a criterion alone would have had something to show


class RuleEstimator(RuleClassifier):
    """RuleClassifier with a fit that learns nothing (for AdaptationCheck): its rule is its 'trained' model."""

    def fit(self, X, y, X_target=None):
        self.fitted_rows_ = len(X)
        return self


def test_adaptation_check_falls_back_to_source_only_when_flagged():
    from skda.model_selection import AdaptationCheck

    Xs, ys, Xt, yt = _shifted_task()
    check = AdaptationCheck(RuleEstimator(flip_above=1.0), source_only=RuleEstimator(), fallback=True,
                            random_state=0)
    with pytest.warns(NegativeTransferWarning):
        check.fit(Xs, ys, Xt)
    assert check.report_.flagged and check.best_estimator_ is check.source_only_
    assert check.adapted_.fitted_rows_ == check.source_only_.fitted_rows_ == 320  # 80% of the 400 source rows
    np.testing.assert_array_equal(check.predict(Xt), RuleEstimator().predict(Xt))
    assert check.score(Xt, yt) == 1.0
    # without fallback the adapted model predicts, flagged or not; a model that helps is kept and not flagged
    with pytest.warns(NegativeTransferWarning):
        kept = AdaptationCheck(RuleEstimator(flip_above=1.0), source_only=RuleEstimator(), random_state=0)
        kept.fit(Xs, ys, Xt)
    assert kept.best_estimator_ is kept.adapted_
    with warnings.catch_warnings():
        warnings.simplefilter("error", NegativeTransferWarning)
        helps = AdaptationCheck(RuleEstimator(), source_only=RuleEstimator(flip_above=1.0), fallback=True,
                                random_state=0).fit(*pack_domains(Xs, ys, Xt))
    assert not helps.report_.flagged and helps.best_estimator_ is helps.adapted_


@pytest.mark.parametrize("params, message", [(dict(tolerance=5.0), "tolerance must be a number in"),
                                             (dict(criterion="target"), "criterion must be one of")])
def test_adaptation_check_refuses_bad_settings_before_fitting_and_keeps_the_previous_fit(params, message):
    from skda.model_selection import AdaptationCheck

    Xs, ys, Xt, _ = _shifted_task()
    check = AdaptationCheck(RuleEstimator(), source_only=RuleEstimator(), random_state=0).fit(Xs, ys, Xt)
    adapted, best = check.adapted_, check.best_estimator_
    with pytest.raises(ValueError, match=message):
        check.set_params(**params).fit(Xs[:200], ys[:200], Xt)
    # was: adapted_ and source_only_ replaced by the failed refit's models, best_estimator_ still the old one
    assert check.adapted_ is adapted and check.best_estimator_ is best and adapted.fitted_rows_ == 320


def test_adaptation_check_with_a_real_dann_and_its_source_only_twin(small_task):
    import skda
    from skda.model_selection import AdaptationCheck, source_only_twin

    Xs, ys, Xt, yt = small_task
    dann = skda.DANNClassifier(module__hidden_sizes=(16,), domain_hidden_sizes=(8,), max_epochs=3, batch_size=16,
                               lr=0.05, adversarial_weight=0.5, callbacks__grl_schedule__gamma=5.0,
                               random_state=0, device="cpu")
    twin = source_only_twin(dann)
    assert type(twin) is skda.SourceOnlyClassifier
    params = twin.get_params(deep=False)
    assert params["module__hidden_sizes"] == (16,) and params["lr"] == 0.05 and params["max_epochs"] == 3
    assert "adversarial_weight" not in params and "callbacks__grl_schedule__gamma" not in params
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        check = AdaptationCheck(dann, random_state=0).fit(Xs, ys, Xt)
    assert isinstance(check.source_only_, skda.SourceOnlyClassifier)
    assert isinstance(check.report_, NegativeTransferReport) and 0 <= check.report_.target_agreement <= 1
    np.testing.assert_array_equal(check.predict(Xt), check.best_estimator_.predict(Xt))
    assert check.predict_proba(Xt).shape == (len(Xt), 3) and list(check.classes_) == [0, 1, 2]
    with pytest.raises(ValueError, match="validation_fraction"):
        AdaptationCheck(dann, validation_fraction=1.0).fit(Xs, ys, Xt)
    with pytest.raises(TypeError, match="pass the source-only model yourself"):
        source_only_twin(RuleEstimator())


def test_adaptation_check_fits_each_model_as_it_takes_the_domains(small_task):
    """source_only may be any classifier (was: Xt passed as LogisticRegression's sample_weight, a TypeError for
    SourceClassifier and Pipelines); a Pipeline as the adapted model gets the packed rows; the check's
    unlabeled_marker is its estimator's, so skda's scorers find the target rows of packed data."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import skda
    from skda.metrics import labelled_scorer
    from skda.model_selection import AdaptationCheck, DomainStratifiedKFold, pack_domains

    Xs, ys, Xt, _ = small_task
    dann = skda.DANNClassifier(module__hidden_sizes=(8,), domain_hidden_sizes=(8,), max_epochs=2, random_state=0,
                               device="cpu")
    X, y = pack_domains(Xs, ys, Xt)
    for source_only in (LogisticRegression(), skda.SourceClassifier(LogisticRegression()),
                        make_pipeline(StandardScaler(), LogisticRegression())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NegativeTransferWarning)
            check = AdaptationCheck(dann, source_only=source_only, random_state=0).fit(X, y)
        expected = clone(source_only).fit(*_source_fit_rows(check, Xs, ys))
        np.testing.assert_array_equal(check.source_only_.predict(Xt), expected.predict(Xt))
    pipe = make_pipeline(StandardScaler(), dann)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        check = AdaptationCheck(pipe, source_only=make_pipeline(StandardScaler(), LogisticRegression()),
                                random_state=0).fit(X, y)
    assert check.adapted_[-1].classes_.tolist() == [0, 1, 2]
    marked = AdaptationCheck(clone(dann).set_params(unlabeled_marker=99), random_state=0)
    assert marked.unlabeled_marker == 99 and AdaptationCheck(pipe).unlabeled_marker == -1
    X99, y99 = pack_domains(Xs, ys, Xt, unlabeled_marker=99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        scores = cross_val_score(marked, X99, y99, cv=DomainStratifiedKFold(2, unlabeled_marker=99),
                                 scoring=labelled_scorer("accuracy"), error_score="raise")
    assert np.all((0 <= scores) & (scores <= 1))
    # a search of a skda estimator is fitted on the packed rows with the marker inside it (it got the source rows
    # only: "no target samples")
    from sklearn.model_selection import GridSearchCV
    search = GridSearchCV(clone(dann).set_params(unlabeled_marker=-99), {"lr": [1e-2]}, cv=2, error_score="raise")
    X99, y99 = pack_domains(Xs, ys, Xt, unlabeled_marker=-99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        check = AdaptationCheck(search, source_only=LogisticRegression(), random_state=0).fit(X99, y99)
    assert check.adapted_.best_estimator_.classes_.tolist() == [0, 1, 2]


def _source_fit_rows(check, Xs, ys):
    """The source rows AdaptationCheck fitted its models on (its stratified split, redone)."""
    from sklearn.model_selection import train_test_split

    Xs_fit, _, ys_fit, _ = train_test_split(Xs, ys, test_size=check.validation_fraction, stratify=ys,
                                            random_state=check.random_state)
    return Xs_fit, ys_fit


@pytest.mark.parametrize("form", ["packed", "three arrays"])
def test_adaptation_check_keeps_dataframe_columns(small_task, form):
    """On DataFrames both models record the column names; predicting with other columns is refused, as by the
    estimator alone."""
    import pandas as pd

    import skda
    from skda.model_selection import AdaptationCheck, pack_domains

    Xs, ys, Xt, _ = small_task
    columns = [f"f{i}" for i in range(Xs.shape[1])]
    frame_s, frame_t = pd.DataFrame(Xs, columns=columns), pd.DataFrame(Xt, columns=columns)
    dann = skda.DANNClassifier(module__hidden_sizes=(8,), domain_hidden_sizes=(8,), max_epochs=2, random_state=0,
                               device="cpu")
    check = AdaptationCheck(dann, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        if form == "packed":
            X, y = pack_domains(Xs, ys, Xt)
            check.fit(pd.DataFrame(X, columns=columns), y)
        else:
            check.fit(frame_s, ys, frame_t)
    assert list(check.feature_names_in_) == columns == list(check.source_only_.feature_names_in_)
    np.testing.assert_array_equal(check.predict(frame_t), check.adapted_.predict(frame_t))
    with pytest.raises(ValueError, match="feature names"):
        check.predict(frame_t[columns[::-1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        assert not hasattr(check.fit(Xs, ys, Xt), "feature_names_in_")


def test_report_fired_recomputes_the_flag_for_any_criterion():
    Xs, ys, Xt, _ = _shifted_task()
    report = check_negative_transfer(RuleClassifier(flip_above=1.0), RuleClassifier(), Xs, ys, Xt, warn=False)
    assert report.fired() == ["iwcv"] and report.flagged
    assert report.fired("either") == ["iwcv", "source"]
    assert report.fired("source", tolerance=report.source_drop + 0.01) == []
    with pytest.raises(ValueError, match="criterion"):
        report.fired("dev")


def test_adaptation_check_falling_back_to_a_scikit_learn_classifier_scores_the_labelled_rows(small_task):
    """With fallback=True the chosen model may be a plain scikit-learn classifier, which knows no marker: the
    check's score leaves the target rows of packed data out (0.55 for 0.93 before), and a scikit-learn scorer
    given packed labels is refused as for skda estimators."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import get_scorer

    import skda
    from skda.metrics import labelled_scorer
    from skda.model_selection import AdaptationCheck

    Xs, ys, Xt, yt = small_task
    dann = skda.DANNClassifier(module__hidden_sizes=(8,), domain_hidden_sizes=(8,), max_epochs=2, random_state=0,
                               device="cpu")
    X, y = pack_domains(Xs, ys, Xt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        check = AdaptationCheck(dann, source_only=LogisticRegression(), fallback=True, tolerance=0.0,
                                criterion="either", random_state=0).fit(X, y)
    check.best_estimator_ = check.source_only_  # the fallback, whichever way the tiny check went
    labelled = y != -1
    expected = np.mean(check.source_only_.predict(X[labelled]) == y[labelled])
    assert check.score(X, y) == pytest.approx(expected)
    assert check.score(X[labelled], y[labelled]) == pytest.approx(expected)
    assert labelled_scorer("accuracy")(check, X, y) == pytest.approx(expected)
    with pytest.raises(ValueError, match="scikit-learn's scorer .* would score the target rows"):
        get_scorer("accuracy")(check, X, y)
    with pytest.raises(ValueError, match="score needs labelled rows"):
        check.score(Xt, np.full(len(Xt), -1))


def test_text_columns_encoded_by_the_pipeline_are_checked_on_the_encoded_rows(small_task):
    """Density ratios are estimated on the adapted model's final-step input (a ColumnTransformer's encoding), as
    skda's IWCV scorer does: a DataFrame with a text column gives a report (a numpy 'could not convert string to
    float' after both fits before)."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import skda
    from skda.model_selection import AdaptationCheck

    Xs, ys, Xt, _ = small_task
    def frame(X):
        return (pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "colour": np.where(X[:, 2] > 0, "red", "blue")}))
    Ds, Dt = frame(Xs), frame(Xt)

    def encoded(final):
        return make_pipeline(ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                                                ("cat", OneHotEncoder(), ["colour"])], sparse_threshold=0), final)

    dann = skda.DANNClassifier(module__hidden_sizes=(8,), domain_hidden_sizes=(8,), max_epochs=2, random_state=0,
                               device="cpu")
    X, y = pack_domains(Ds, ys, Dt)
    adapted = encoded(clone(dann)).fit(X, y)
    base = encoded(skda.SourceClassifier(LogisticRegression())).fit(X, y)
    report = check_negative_transfer(adapted, base, Ds, ys, Dt, warn=False)
    features = adapted[:-1].transform
    expected = density_ratio(features(Ds).astype(np.float32), features(Dt).astype(np.float32), random_state=0)
    correct = adapted.predict(Ds) == ys
    assert report.iwcv_accuracy["adapted"] == pytest.approx(np.average(correct, weights=expected))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        check = AdaptationCheck(encoded(clone(dann)), source_only=encoded(skda.SourceClassifier(LogisticRegression())),
                                random_state=0).fit(Ds, ys, Dt)
    assert check.predict(Dt).shape == (len(Dt),)


def test_adaptation_check_has_transform_only_when_the_chosen_model_has_one(small_task):
    """With a scikit-learn classifier as the fallback chosen, the check has no transform, so skda's DEV scorer says
    features='learned' needs one (an AttributeError from inside the fallback before)."""
    from sklearn.linear_model import LogisticRegression

    import skda
    from skda.metrics import dev_scorer
    from skda.model_selection import AdaptationCheck

    Xs, ys, Xt, _ = small_task
    dann = skda.DANNClassifier(module__hidden_sizes=(8,), domain_hidden_sizes=(8,), max_epochs=2, random_state=0,
                               device="cpu")
    check = AdaptationCheck(dann, source_only=LogisticRegression(), random_state=0)
    assert hasattr(check, "transform")  # before fit: the estimator's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        check.fit(Xs, ys, Xt)
    assert hasattr(check, "transform")
    check.best_estimator_ = check.source_only_
    assert not hasattr(check, "transform")
    X, y = pack_domains(Xs, ys, Xt)
    from skda.validation import ScoringSetupError
    with pytest.raises(ScoringSetupError, match="features='learned' needs an estimator with transform"):
        dev_scorer(check, X, y)
