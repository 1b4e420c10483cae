"""skda.model_selection.check_negative_transfer: the label-free negative-transfer signal."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

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


def test_no_flag_when_the_models_agree_on_almost_every_target_row():
    """Two models that disagree on at most ``tolerance`` of the target rows cannot differ by more in accuracy."""
    Xs, ys, Xt, _ = _shifted_task()
    # flipped only at the very top of x_1: few target rows differ, but the weighted source rows there do
    adapted = RuleClassifier(flip_above=float(np.quantile(Xt[:, 1], 0.995)))
    report = check_negative_transfer(adapted, RuleClassifier(), Xs, ys, Xt, criterion="either", tolerance=0.01,
                                     warn=False)
    assert 1 - report.target_agreement <= 0.01 and not report.flagged
    assert report.iwcv_drop > 0 or report.source_drop > 0  # a criterion alone would have had something to show
