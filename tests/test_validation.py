"""Bad input gives a clear error; user data is never changed."""

import numpy as np
import pytest
import scipy.sparse as sp
from torch import nn

import skda
from skda.model_selection import pack_domains
from skda.params import UNCHECKED_PARAMETERS, check_parameters, parameter_constraints
from skda.validation import unlabeled_mask

from .registry import CLASSES, make


@pytest.fixture
def data(small_task):
    return small_task


def fit(Xs, ys, Xt=None, **kw):
    return make("dann", random_state=0, **kw).fit(Xs, ys, Xt)


def test_feature_count_mismatch(data):
    Xs, ys, Xt, _ = data
    with pytest.raises(ValueError, match="X_target has sample shape"):
        fit(Xs, ys, Xt[:, :5])
    clf = fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="X has 5 features, but DANNClassifier is expecting 8 features"):
        clf.predict(Xt[:, :5])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf(data, bad):
    Xs, ys, Xt, _ = data
    Xbad = Xs.copy()
    Xbad[3, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        fit(Xbad, ys, Xt)
    Xtbad = Xt.copy()
    Xtbad[0, 0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        fit(Xs, ys, Xtbad)


def test_empty_and_label_problems(data):
    Xs, ys, Xt, _ = data
    with pytest.raises(ValueError, match="0 sample"):
        fit(Xs[:0], ys[:0], Xt)
    with pytest.raises(ValueError, match="0 sample"):
        fit(Xs, ys, Xt[:0])
    with pytest.raises(ValueError, match="at least 2"):
        fit(Xs, np.zeros_like(ys), Xt)
    with pytest.raises(ValueError, match="same length"):
        fit(Xs, ys[:-1], Xt)
    with pytest.raises(ValueError, match="no labelled source"):
        fit(Xs, np.full(len(ys), -1))
    with pytest.raises(ValueError, match=r"no target samples: pass X_target, or use the packed form with target rows "
                                         r"labelled -1"):
        fit(Xs, ys)  # packed form without a single -1 row
    with pytest.raises(ValueError, match=r"no target samples: pass X_target \(with unlabeled_marker=None no label "
                                         r"marks a target row"):
        skda.DANNClassifier(unlabeled_marker=None, max_epochs=1).fit(Xs, ys)
    with pytest.raises(ValueError, match="Unknown label type"):
        fit(Xs, ys + 0.5, Xt)


def test_string_features_and_bad_module(data):
    Xs, ys, Xt, _ = data
    with pytest.raises(TypeError, match="cannot be converted to numbers"):
        fit(np.array([["a", "b"]] * len(ys)), ys, np.array([["a", "b"]] * 4))
    with pytest.raises(ValueError, match="feature extractor failed"):
        fit(Xs.reshape(len(Xs), 2, 4), ys, Xt.reshape(len(Xt), 2, 4))  # 3-D input, default MLP


def test_a_dataframe_text_column_is_named_as_an_array_of_text_is(data):
    """A DataFrame with a text column: skda's TypeError naming the array and the column, as for an array of text
    (scikit-learn's bare ValueError before, naming neither); an object column of numbers still converts."""
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, _ = data
    frame_s, frame_t = pd.DataFrame(Xs).add_prefix("f"), pd.DataFrame(Xt).add_prefix("f")
    frame_t["f2"] = np.where(Xt[:, 2] > 0, "hi", "lo")
    with pytest.raises(TypeError, match=r"X_target has columns that cannot be converted to numbers: \['f2'\] "
                                        r"\(could not convert string to float: '(hi|lo)'\); encode non-numeric"):
        fit(frame_s, ys, frame_t)
    numbers = pd.DataFrame(Xt).add_prefix("f")
    frame_t["f2"] = pd.Series(Xt[:, 2], dtype=object)
    np.testing.assert_array_equal(fit(frame_s, ys, frame_t).predict(frame_t),
                                  fit(frame_s, ys, numbers).predict(numbers))


def test_sparse_input_is_densified(data):
    Xs, ys, Xt, _ = data
    dense = fit(Xs, ys, Xt).predict_proba(Xt)
    sparse = fit(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt)).predict_proba(sp.csr_matrix(Xt))
    np.testing.assert_allclose(dense, sparse, rtol=1e-6)
    # pandas sparse columns too (was: refused, advising a .toarray() that DataFrames lack)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame.sparse.from_spmatrix
    from_frames = fit(frame(sp.csr_matrix(Xs)), ys, frame(sp.csr_matrix(Xt))).predict_proba(frame(sp.csr_matrix(Xt)))
    np.testing.assert_allclose(from_frames, dense, rtol=1e-6)
    mixed = pd.DataFrame(Xs).astype({0: pd.SparseDtype(float, 0.0)})  # one sparse column among dense ones
    np.testing.assert_array_equal(skda.validation.check_features(mixed), Xs.astype(np.float32))


def test_sparse_input_beyond_the_densified_cell_limit_is_refused(monkeypatch):
    import skda.validation as validation

    pd = pytest.importorskip("pandas")
    monkeypatch.setattr(validation, "MAX_DENSIFIED_CELLS", 10)
    matrix = sp.csr_matrix(np.eye(4))
    with pytest.raises(ValueError, match=r"X is a sparse matrix of shape \(4, 4\) \(16 cells\).*up to 10 cells"):
        validation.check_features(matrix)
    with pytest.raises(ValueError, match=r"X_target is a DataFrame with sparse columns of shape \(4, 4\)"):
        validation.check_features(pd.DataFrame.sparse.from_spmatrix(matrix), name="X_target")
    assert validation.check_features(sp.csr_matrix(np.eye(3))).shape == (3, 3)  # 9 cells: densified


def test_torch_tensors_are_read_as_their_values(data):
    """Tensors that need grad or hold bfloat16 / float16 values are detached and read as float32 (numpy()
    raised on them)."""
    import torch

    Xs, ys, Xt, _ = data
    clf = fit(Xs, ys, Xt)
    expected = clf.predict_proba(Xt)
    xt = torch.from_numpy(np.ascontiguousarray(Xt, dtype=np.float32))
    np.testing.assert_array_equal(clf.predict_proba(xt.clone().requires_grad_()), expected)
    half = xt.bfloat16()
    np.testing.assert_array_equal(clf.predict_proba(half), clf.predict_proba(half.float().numpy()))


def test_source_only_accepts_packed_and_plain(data):
    Xs, ys, Xt, yt = data
    a = skda.SourceOnlyClassifier(random_state=0, max_epochs=3).fit(Xs, ys).predict(Xt)
    b = skda.SourceOnlyClassifier(random_state=0, max_epochs=3).fit(np.vstack([Xs, Xt]),
                                                                    np.r_[ys, -np.ones(len(Xt), int)]).predict(Xt)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- hyper-parameters (skda.params)
ESTIMATORS = CLASSES
NAN, INF = float("nan"), float("inf")
#: parameter -> values that must be refused (wrong type, NaN, inf, negative, fractional count), for every
#: estimator that has the parameter
BAD_VALUES = {
    "module": [5, "mlp"],
    "criterion": [5, "cross-entropy"],
    "optimizer": [5, "sgd"],
    "lr": [NAN, INF, -0.01, "0.01", True, None],
    "max_epochs": [NAN, -1, 2.5, "3", True],
    "batch_size": [NAN, 0, -1, 16.5, "16", True],
    "device": ["gpu", 5, NAN],
    "random_state": [-1, 2.5, "0", NAN],
    "unlabeled_marker": [NAN, INF, [-1]],
    "train_split": [0.2, "valid"],
    "verbose": [-1, 0.5, "1", NAN],
    "warm_start": ["yes", 1, NAN, None],
    "callbacks": ["early-stopping", 5, NAN, (("x", None),), [1], ["progress"], [("x", None)], [("x", 5)]],
    "compile": ["yes", 1, None],
    "torch_load_kwargs": ["weights_only", ["weights_only", False]],
    "domain_hidden_sizes": [(8, 0), (-8,), (8.5,), 8, "8", (True,)],
    "adversarial_weight": [NAN, INF, -1, "1"],
    "embedding_dim": [NAN, 0, -4, 4.5, "4"],
    "discriminator_hidden_sizes": [(0,), 8, (8.5,)],
    "discriminator_input": ["logits", 1, None],
    "margin": [NAN, INF, -1, "1"],
    "n_neighbors": [NAN, 0, -1, 2.5, True, "2"],
    "adversarial": ["yes", 1, None],
    "center_magnet": ["yes", 1, None],
    "center_weight": [NAN, INF, -0.1, "1"],
    "source_epochs": [NAN, -1, 1.5, "1"],
    "target_lr_scale": [NAN, INF, 0, -0.2, "0.2"],
    "gamma": [NAN, INF, -0.1, "0.1"],
    "entropy_weight": [NAN, INF, -0.1, "0.1"],
    "margin_scale": [NAN, INF, -1, "1"],
    "margin_mode": ["static", 1],
    "metric_hidden": [NAN, 0, 8.5, "8"],
    "metric_dim": [NAN, 0, 4.5, "4"],
    "classifier_hidden": [NAN, 0, 8.5, "8"],
    "classifier_dropout": [NAN, 1.0, -0.1, "0.5"],
    "base": ["mcd", 1, None],
    "msc_weight": [NAN, INF, -1, "1"],
    "mu": [NAN, 0, 1.5, -0.5, "0.5"],
    "warmup_steps": [NAN, -1, 2.5, "10"],
    "strategy": ["sdm-x", 1, None],
    "gradient_weight": [NAN, INF, -0.01, "0.01"],
    "normalize_logits": ["yes", 1, None],
}


#: refused by every kind of constraint (numbers, booleans, choices, sizes): the values tried for a parameter that
#: BAD_VALUES does not list (e.g. one a newly added method declares)
ANY_CONSTRAINT_REFUSES = [NAN, "1", [1]]


def _bad_cases():
    for cls in ESTIMATORS:
        for name in sorted(parameter_constraints(cls)):
            for value in BAD_VALUES.get(name, ANY_CONSTRAINT_REFUSES):
                yield pytest.param(cls, name, value, id=f"{cls.__name__}-{name}-{value!r}")


@pytest.mark.parametrize("cls,name,value", list(_bad_cases()))
def test_bad_hyper_parameter_is_refused_before_training(data, cls, name, value):
    Xs, ys, Xt, _ = data
    clf = cls(device="cpu", max_epochs=1)
    clf.set_params(**{name: value})  # accepted at construction / set_params (scikit-learn convention)...
    with pytest.raises((ValueError, TypeError), match=rf"\b{name}\b"):  # ...refused at fit, naming it
        clf.fit(Xs, ys, Xt)
    assert not getattr(clf, "initialized_", False)  # no network was built


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("lr", [NAN, INF, -INF])
def test_nan_or_inf_lr_is_refused(data, cls, lr):
    """Before: fit returned and predict_proba was NaN everywhere."""
    Xs, ys, Xt, _ = data
    with pytest.raises(ValueError, match=rf"The 'lr' parameter of {cls.__name__} must be a float in the range"):
        cls(device="cpu", max_epochs=1, lr=lr).fit(Xs, ys, Xt)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_partial_fit_checks_parameters_set_after_fit(data, cls):
    Xs, ys, Xt, _ = data
    clf = make(cls, device="cpu", random_state=0, max_epochs=1).fit(Xs, ys, Xt)
    before = clf.predict_proba(Xt)
    with pytest.raises(ValueError, match="'lr' parameter"):  # a rate is written into the optimisers at once
        clf.set_params(lr=float("nan"))
    clf.set_params(batch_size=0)
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        clf.partial_fit(Xs, ys, Xt)
    np.testing.assert_array_equal(clf.predict_proba(Xt), before)  # nothing trained


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_every_parameter_is_checked_or_documented_as_skorchs(cls):
    params = set(cls().get_params(deep=False))
    constrained = set(parameter_constraints(cls))
    assert constrained <= params  # no constraint for a parameter the estimator does not have
    assert params - constrained == set(UNCHECKED_PARAMETERS)  # every checked parameter is tried above (_bad_cases)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_subclass_constraints_include_their_parents(cls):
    merged = parameter_constraints(cls)
    for parent in cls.__mro__[1:]:
        if "_parameter_constraints" in parent.__dict__:
            inherited = parameter_constraints(parent)
            assert all(merged[name] is inherited[name] for name in inherited), parent
            # a class lists only the parameters it adds
            assert not set(cls.__dict__.get("_parameter_constraints", {})) & set(inherited)
    assert {"lr", "max_epochs", "batch_size"} <= set(merged)
    assert ("domain_hidden_sizes" in merged) == issubclass(cls, skda.DANNClassifier)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_documented_edge_values_are_accepted(cls):
    import torch

    good = {"lr": 0, "max_epochs": np.int64(0), "batch_size": np.int64(1), "device": torch.device("cpu"),
            "random_state": np.random.RandomState(0), "unlabeled_marker": "?", "verbose": True,
            "warm_start": np.bool_(True), "train_split": None}
    extra = {"domain_hidden_sizes": [], "adversarial_weight": 0, "margin": 0.5, "n_neighbors": np.int32(1),
             "source_epochs": 0, "target_lr_scale": np.float32(0.5), "margin_scale": None, "classifier_hidden": None,
             "classifier_dropout": 0.0, "mu": 1, "warmup_steps": None, "gradient_weight": 0, "center_weight": 0}
    params = cls().get_params()
    check_parameters(cls(**good, **{k: v for k, v in extra.items() if k in params}))
    check_parameters(cls(lr=np.float32(0.1), unlabeled_marker=None, device="cuda:1", random_state=3))


@pytest.mark.parametrize("build", [
    lambda ys, n: np.r_[ys, -np.ones(n, dtype=int)],          # numpy turns -1 into "-1"
    lambda ys, n: np.array(list(ys) + [-1] * n),
    lambda ys, n: np.r_[ys, -np.ones(n)],                    # "-1.0"
])
def test_a_marker_turned_into_text_by_numpy_raises_instead_of_becoming_a_class(small_task, build):
    Xs, ys, Xt, _ = small_task
    y = build(np.array(["cat", "dog", "emu"])[ys], len(Xt))
    assert y.dtype.kind == "U"
    X = np.vstack([Xs, Xt])
    for est in (make("dann", random_state=0, device="cpu"),
                skda.SourceOnlyClassifier(random_state=0, device="cpu", max_epochs=1)):
        with pytest.raises(ValueError, match="numpy turns -1 into the text"):
            est.fit(X, y)
    # the documented ways out: pack_domains keeps the number; a marker spelled as in y; marker None
    Xp, yp = pack_domains(Xs, np.array(["cat", "dog", "emu"])[ys], Xt)
    fitted = make("dann", random_state=0, device="cpu", max_epochs=1).fit(Xp, yp)
    assert fitted.classes_.tolist() == ["cat", "dog", "emu"]
    marker = str(y[-1])
    assert unlabeled_mask(y, marker).sum() == len(Xt)
    assert not unlabeled_mask(y, None).any()


def test_string_labels_without_a_spelled_marker_are_untouched():
    assert not unlabeled_mask(np.array(["a", "-2"]), -1).any()
    assert unlabeled_mask(np.array(["a", -1], dtype=object), -1).tolist() == [False, True]


class InPlaceReLUFirst(nn.Module):
    def __init__(self, n_features_in=8, hidden_sizes=(16,)):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(n_features_in, hidden_sizes[0]), nn.ReLU())

    def forward(self, x):
        return self.net(x)


def test_a_module_with_an_in_place_first_operation_leaves_the_caller_s_arrays_alone(small_task):
    Xs, ys, Xt, _ = small_task
    Xs, Xt = np.ascontiguousarray(Xs, dtype=np.float32), np.ascontiguousarray(Xt, dtype=np.float32)
    xs_copy, xt_copy = Xs.copy(), Xt.copy()
    assert (Xt < 0).any()
    # fit ends with a prediction on Xt (collapse check)
    clf = make("dann", random_state=0, device="cpu", module=InPlaceReLUFirst).fit(Xs, ys, Xt)
    clf.predict(Xt)
    clf.transform(Xs)
    np.testing.assert_array_equal(Xs, xs_copy)
    np.testing.assert_array_equal(Xt, xt_copy)


@pytest.mark.parametrize("params,fit_params,match", [
    ({"max_epochs": -1}, {},
     r"'max_epochs' parameter of DANNClassifier must be an int in the range \[0, inf\) or a str among "
     r"\{'auto'\}\. Got -1 "),
    ({"max_epochs": 2.5}, {},
     r"'max_epochs' parameter of DANNClassifier must be an int in the range \[0, inf\) or a str among "
     r"\{'auto'\}\. Got 2.5"),
    ({}, {"epochs": -2}, "epochs must be an integer >= 0, got -2"),
])
def test_negative_or_fractional_epochs_raise(small_task, params, fit_params, match):
    Xs, ys, Xt, _ = small_task
    with pytest.raises(ValueError, match=match):
        make("dann", random_state=0, device="cpu", **params).fit(Xs, ys, Xt, **fit_params)
    with pytest.raises(ValueError, match=r"'source_epochs' parameter of MADDAClassifier must be an int in"):
        make("madda", source_epochs=-1).fit(Xs, ys, Xt)


@pytest.mark.parametrize("cls,params,match", [
    (skda.ILADAClassifier, {"n_neighbors": 0}, r"'n_neighbors' parameter of ILADAClassifier must be an int in"),
    (skda.ILADAClassifier, {"base": "nope"}, "'base' parameter of ILADAClassifier must be a str among"),
    (skda.MLADAClassifier, {"margin_mode": "bogus"}, "'margin_mode' parameter of MLADAClassifier must be a str among"),
])
def test_parameters_set_between_calls_are_checked_by_partial_fit(small_task, cls, params, match):
    Xs, ys, Xt, _ = small_task
    clf = make(cls, random_state=0, device="cpu", max_epochs=1).fit(Xs, ys, Xt)
    clf.set_params(**params)
    with pytest.raises(ValueError, match=match):
        clf.partial_fit(Xs, ys, Xt)


@pytest.mark.parametrize("how", ["float NaN", "Int64 NA", "str NaN", "object None", "string NA"])
def test_packed_labels_left_missing_the_pandas_way_name_the_marker(data, how):
    """Target rows whose packed label is missing (NaN, None, pandas' NA) instead of the marker: the error says to
    mark them (before: "Input y contains NaN" or "y mixes label types ['NoneType', 'str']")."""
    import pandas as pd

    Xs, ys, Xt, _ = data
    labelled = np.arange(len(Xs) + len(Xt)) < len(Xs)
    words = np.where(np.r_[ys, ys[:len(Xt)]] == 1, "yes", "no")
    y = {"float NaN": np.where(labelled, np.r_[ys, ys[:len(Xt)]], np.nan),
         "Int64 NA": pd.Series(np.r_[ys, ys[:len(Xt)]], dtype="Int64").where(labelled),
         "str NaN": pd.Series(words).where(labelled),
         "object None": np.where(labelled, words.astype(object), None),
         "string NA": pd.Series(words, dtype="string").where(labelled)}[how]
    with pytest.raises(ValueError, match=rf"y has {len(Xt)} missing labels \(NaN, None or pd.NA; the first at row "
                                         rf"{len(Xs)}\); .* mark the target rows with the unlabelled marker -1"):
        make("dann").fit(np.r_[Xs, Xt], y)
    from sklearn.linear_model import LogisticRegression

    from skda.preprocessing import CORAL, SourceClassifier
    for model in (CORAL(), SourceClassifier(LogisticRegression())):
        with pytest.raises(ValueError, match="missing labels"):
            model.fit(np.r_[Xs, Xt], y)


def test_a_nan_marker_is_refused_everywhere(data):
    """No label equals NaN, so a NaN marker marks no row (CORAL said "0 rows labelled nan" of 40; pack_domains built
    a y no estimator takes): refused as the estimators refuse it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils._param_validation import InvalidParameterError

    from skda.preprocessing import CORAL, SourceClassifier

    Xs, ys, Xt, _ = data
    X = np.r_[Xs, Xt]
    y = np.r_[ys.astype(float), np.full(len(Xt), np.nan)]
    with pytest.raises(InvalidParameterError, match="'unlabeled_marker' parameter of pack_domains must be an "
                                                    "instance of 'str' or a finite number. Got nan"):
        pack_domains(Xs, ys.astype(float), Xt, unlabeled_marker=np.nan)
    for model in (CORAL(unlabeled_marker=np.nan), SourceClassifier(LogisticRegression(), unlabeled_marker=np.nan),
                  make("dann", unlabeled_marker=np.nan)):
        with pytest.raises(InvalidParameterError, match=r"'unlabeled_marker' parameter of \w+ must be .* a finite "
                                                        "number. Got nan"):
            model.fit(X, y)


def test_a_missing_source_label_is_named_as_one(data):
    """In the three-array form (and among the sample_domain source rows) a missing label is a source row's: the
    advice to mark target rows with the marker (which X_target then refuses) was wrong there."""
    Xs, ys, Xt, _ = data
    ys = ys.astype(float)
    ys[5] = np.nan
    with pytest.raises(ValueError, match="row 5 is a source row, and every source row needs its label"):
        make("dann").fit(Xs, ys, Xt)
    X, y = np.r_[Xs, Xt], np.r_[ys, np.full(len(Xt), np.nan)]
    domains = np.r_[np.ones(len(Xs), int), -np.ones(len(Xt), int)]
    with pytest.raises(ValueError, match="row 5 is a source row"):
        make("dann").fit(X, y, sample_domain=domains)
    y[5] = 0.0
    with pytest.raises(ValueError, match="mark the target rows whose label is unknown with the unlabelled marker -1"):
        make("dann").fit(X, y, sample_domain=domains)


def test_flags_seeds_temperatures_and_markers_are_checked_alike_everywhere(data):
    """Values sibling classes refuse were taken elsewhere: random_state=True read as 1, CORAL's regularization=True,
    shuffle="no" and truncate / normalize strings read as true, an infinite SND temperature, a NaN marker in the
    scorers and the splitter (which then found no target row)."""
    from sklearn.utils._param_validation import InvalidParameterError

    from skda.metrics import DEVScorer, IWCVScorer, SNDScorer
    from skda.model_selection import DomainStratifiedKFold
    from skda.preprocessing import CORAL

    Xs, ys, Xt, _ = data
    with pytest.raises(InvalidParameterError, match="'random_state' parameter of DANNClassifier"):
        make("dann", random_state=True).fit(Xs, ys, Xt)
    with pytest.raises(InvalidParameterError, match="'regularization' parameter of CORAL"):
        CORAL(regularization=True).fit(Xs, ys, X_target=Xt)
    with pytest.raises(TypeError, match="shuffle must be True or False, got 'no'"):
        DomainStratifiedKFold(3, shuffle="no")
    with pytest.raises(TypeError, match="truncate must be True or False"):
        DEVScorer(truncate="no")
    with pytest.raises(TypeError, match="normalize must be True or False"):
        IWCVScorer(normalize=np.nan)
    with pytest.raises(ValueError, match="temperature must be a positive finite number"):
        SNDScorer(temperature=np.inf)
    for make_it in (lambda: IWCVScorer(unlabeled_marker=np.nan),
                    lambda: DomainStratifiedKFold(unlabeled_marker=np.nan)):
        with pytest.raises(InvalidParameterError, match="'unlabeled_marker' parameter of .* a finite number"):
            make_it()
    make("dann", random_state=np.random.RandomState(0), max_epochs=1).fit(Xs, ys, Xt)


def test_a_seed_beyond_numpy_s_range_names_random_state(data):
    from sklearn.utils._param_validation import InvalidParameterError

    from skda.metrics import density_ratio, importance_weighted_validation

    Xs, ys, Xt, _ = data
    with pytest.raises(InvalidParameterError, match="'random_state' parameter of DANNClassifier"):
        make("dann", random_state=2**32).fit(Xs, ys, Xt)
    with pytest.raises(TypeError, match="truncate must be True or False"):
        density_ratio(Xs, Xt, truncate="no")
    with pytest.raises(TypeError, match="normalize must be True or False"):
        importance_weighted_validation(ys, np.full((len(ys), 3), 1 / 3), np.ones(len(ys)), normalize="no")
