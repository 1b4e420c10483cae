"""A few labelled target rows (``fit(Xs, ys, Xt, yt)``) in every estimator."""

import numpy as np
import pytest

from .registry import NAMES, make


def _labels(yt, share, seed=0, marker=-1):
    """``yt`` with all but a random ``share`` of the rows replaced by the unlabelled marker."""
    rng = np.random.RandomState(seed)
    known = rng.choice(len(yt), max(1, int(share * len(yt))), replace=False)
    labels = np.full(len(yt), marker)
    labels[known] = yt[known]
    return labels, known


@pytest.mark.parametrize("name", NAMES)
def test_unknown_target_labels_only_give_exactly_the_unsupervised_model(small_task, name):
    Xs, ys, Xt, _ = small_task
    plain = make(name, random_state=0, device="cpu").fit(Xs, ys, Xt).predict_proba(Xt)
    for marker in (-1, -1.0):  # -1.0: a float yt beside integer labels (raised on an empty minimum before)
        unknown = make(name, random_state=0, device="cpu").fit(Xs, ys, Xt, np.full(len(Xt), marker))
        np.testing.assert_array_equal(unknown.predict_proba(Xt), plain)


@pytest.mark.parametrize("name", NAMES)
def test_labelled_target_rows_change_the_fit(small_task, name):
    Xs, ys, Xt, yt = small_task
    labels, _ = _labels(yt, 0.2)
    # the learned features (M-ADDA's kNN votes on this easy task stay the same)
    plain = make(name, random_state=0, device="cpu").fit(Xs, ys, Xt).transform(Xt)
    semi = make(name, random_state=0, device="cpu").fit(Xs, ys, Xt, labels).transform(Xt)
    assert not np.array_equal(semi, plain)


def test_a_class_only_the_target_labels_show_becomes_a_class(small_task):
    Xs, ys, Xt, yt = small_task
    labels, _ = _labels(yt, 0.3)
    clf = make("dann", random_state=0, device="cpu").fit(Xs[ys < 2], ys[ys < 2], Xt, labels)
    assert clf.classes_.tolist() == [0, 1, 2]


@pytest.mark.parametrize("name", NAMES)
def test_train_split_holds_out_source_rows_only(small_task, name):
    """``train_split`` validates on source rows; the labelled target rows always train, also a target-only class
    with a single labelled row (which a stratified split of all labelled rows could not place)."""
    from skorch.dataset import ValidSplit
    Xs, ys, Xt, yt = small_task
    Xs, ys = Xs[ys < 2], ys[ys < 2]
    labels, _ = _labels(yt, 0.2)
    labels[labels == 2] = -1
    labels[np.flatnonzero(yt == 2)[0]] = 2
    n_known = int((labels != -1).sum())
    clf = make(name, random_state=0, device="cpu", train_split=ValidSplit(0.25, stratified=True))
    clf.fit(Xs, ys, Xt, labels)
    assert clf.classes_.tolist() == [0, 1, 2]
    assert len(clf.valid_indices_) == len(Xs) // 4 and (clf.valid_indices_ < len(Xs)).all()
    assert set(range(len(Xs), len(Xs) + n_known)) <= set(clf.train_indices_.tolist())
    assert len(clf.train_indices_) + len(clf.valid_indices_) == len(Xs) + n_known
    assert np.isfinite(clf.history[-1]["valid_loss"])


def test_partial_fit_takes_target_labels(small_task):
    Xs, ys, Xt, yt = small_task
    labels, _ = _labels(yt, 0.2)
    clf = make("dann", random_state=0, device="cpu").partial_fit(Xs, ys, Xt)
    before = clf.predict_proba(Xt)
    clf.partial_fit(Xs, ys, Xt, labels)
    assert clf.predict_proba(Xt).shape == before.shape and not np.array_equal(clf.predict_proba(Xt), before)


def test_bad_target_labels_are_refused_clearly(small_task):
    Xs, ys, Xt, yt = small_task
    with pytest.raises(ValueError, match="yt has 10 labels but the target data Xt has 90 rows"):
        make("dann").fit(Xs, ys, Xt, yt[:10])
    with pytest.raises(ValueError, match="yt labels target rows, but there is no target data"):
        make("source-only").fit(Xs, ys, yt=yt)
    with pytest.raises(ValueError, match="yt holds text labels but the source labels are numeric"):
        make("dann").fit(Xs, ys, Xt, np.where(yt == 0, "a", "?").astype(object))
    with pytest.raises(ValueError, match="Unknown target labels must be the unlabelled marker"):
        make("dann").fit(Xs, ys, Xt, np.where(yt == 0, np.nan, -1.0))
    # None for the unknown labels beside the default marker: named as missing (was "Unknown label type: unknown")
    with pytest.raises(ValueError, match=r"yt has \d+ missing labels .*Unknown target labels must be the unlabelled "
                                         r"marker -1 \(not NaN, None or pd.NA\)"):
        make("dann").fit(Xs, ys, Xt, np.array([v if i % 5 == 0 else None for i, v in enumerate(yt)], dtype=object))
    with pytest.raises(ValueError, match="yt holds boolean labels but the source labels are numeric.*not a mask"):
        make("dann").fit(Xs, ys, Xt, np.zeros(len(Xt), dtype=bool))  # a mask of the labelled rows, by mistake
    names = np.array(["a", "b", "c"])
    as_list = [names[v] if i % 5 == 0 else -1 for i, v in enumerate(yt)]  # numpy turns -1 into "-1"
    with pytest.raises(ValueError, match=r"yt contains the string '-1'.*np.array\(labels, dtype=object\)"):
        make("dann").fit(Xs, names[ys], Xt, as_list)
    with pytest.raises(ValueError, match=r"yt must be 1-D \(one label per target row, unknown ones -1\), got an "
                                         r"array of shape \(90, 2\)"):
        make("dann").fit(Xs, ys, Xt, np.c_[yt, yt])
    # with unlabeled_marker=None no label can be left unknown: said so (was "Unknown label type: unknown")
    with pytest.raises(ValueError, match=r"yt has 18 missing labels \(NaN, None or pd.NA; the first at row 0\), "
                                         "but with unlabeled_marker=None no target label"):
        make("dann", unlabeled_marker=None).fit(Xs, ys, Xt, np.array([v if i % 5 else None
                                                                      for i, v in enumerate(yt)], dtype=object))


def test_target_labels_are_spelled_as_the_source_labels(small_task):
    """A float ``yt`` (marker -1.0) gives the classes of the same integer ``yt``, whatever the integer type of
    ``ys``; 0 / 1 beside the marker label a boolean problem."""
    Xs, ys, Xt, yt = small_task
    as_int = np.full(len(yt), -1)
    as_int[:10], as_int[10:12] = 300, -2  # outside uint8
    for ints in (as_int, as_int.astype(float)):
        clf = make("dann", random_state=0, device="cpu").fit(Xs, ys.astype(np.uint8), Xt, ints)
        assert clf.classes_.tolist() == [-2, 0, 1, 2, 300]
    # text source labels and an object yt of strings beside the -1 marker (the spelling the errors advise): the
    # classes stay text, as without yt (they became object)
    names = np.array(["a", "b", "c"])
    text = np.array([names[v] if i % 5 == 0 else -1 for i, v in enumerate(yt)], dtype=object)
    clf = make("dann", random_state=0, device="cpu", max_epochs=1).fit(Xs, names[ys], Xt, text)
    assert clf.classes_.dtype == names.dtype and clf.predict(Xt).dtype == names.dtype
    positive = ys > 0
    zero_one, _ = _labels((yt > 0).astype(int), 0.2)
    clf = make("dann", random_state=0, device="cpu").fit(Xs, positive, Xt, zero_one)
    assert clf.classes_.dtype == bool and clf.predict(Xt).dtype == bool
    as_objects = np.array([-1 if v == -1 else bool(v) for v in zero_one], dtype=object)
    same = make("dann", random_state=0, device="cpu").fit(Xs, positive, Xt, as_objects)
    np.testing.assert_array_equal(same.predict_proba(Xt), clf.predict_proba(Xt))


def test_five_percent_labelled_target_rows_help_dann_on_the_digits_shift(digits_shift):
    """The embedded digits shift, DANN's defaults but max_epochs=30, 5% of the target labelled at random:
    accuracy on the other target rows rises by at least 3 points (measured: 0.649 -> 0.709 for seed 0, 0.639 ->
    0.703 for seed 1)."""
    from sklearn.preprocessing import StandardScaler

    import skda

    Xs, ys, Xt, yt = digits_shift
    scaler = StandardScaler().fit(np.vstack([Xs, Xt]))
    Xs, Xt = scaler.transform(Xs).astype(np.float32), scaler.transform(Xt).astype(np.float32)
    labels, known = _labels(yt, 0.05)
    rest = np.setdiff1d(np.arange(len(yt)), known)
    params = dict(max_epochs=30, random_state=0, device="cpu")
    plain = skda.DANNClassifier(**params).fit(Xs, ys, Xt).score(Xt[rest], yt[rest])
    semi = skda.DANNClassifier(**params).fit(Xs, ys, Xt, labels).score(Xt[rest], yt[rest])
    assert semi >= plain + 0.03, (plain, semi)


# ------------------------------------------------------------------ packed form with sample_domain
def _packed(Xs, ys, Xt, labels):
    """``(X, y, sample_domain)``: source rows then target rows, skada's convention (1 source, -2 target)."""
    return (np.vstack([Xs, Xt]), np.concatenate([ys, labels]),
            np.concatenate([np.ones(len(Xs), dtype=int), np.full(len(Xt), -2)]))


@pytest.mark.parametrize("name", NAMES)
def test_sample_domain_gives_the_three_array_fit_with_yt(small_task, name):
    Xs, ys, Xt, yt = small_task
    labels, _ = _labels(yt, 0.2)
    X, y, domains = _packed(Xs, ys, Xt, labels)
    direct = make(name, random_state=0, device="cpu").fit(Xs, ys, Xt, labels)
    packed = make(name, random_state=0, device="cpu").fit(X, y, sample_domain=domains)
    np.testing.assert_array_equal(packed.predict_proba(Xt), direct.predict_proba(Xt))
    # partial_fit takes it too, continuing as the three-array partial_fit does
    direct.partial_fit(Xs, ys, Xt, labels)
    packed.partial_fit(X, y, sample_domain=domains)
    np.testing.assert_array_equal(packed.predict_proba(Xt), direct.predict_proba(Xt))


def test_sample_domain_pools_domains_and_keeps_dataframe_columns(small_task):
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, yt = small_task
    labels, _ = _labels(yt, 0.2)
    X, y, domains = _packed(Xs, ys, Xt, labels)
    domains[:10], domains[-10:] = 3, -1  # two source ids and two target ids: pooled, rows keep their order
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    packed = make("dann", random_state=0, device="cpu").fit(frame, y, sample_domain=domains)
    direct = make("dann", random_state=0, device="cpu").fit(Xs, ys, Xt, labels)
    assert packed.feature_names_in_.tolist() == list(frame.columns)
    np.testing.assert_array_equal(packed.predict_proba(frame.iloc[len(Xs):]), direct.predict_proba(Xt))


def test_bad_sample_domain_is_refused_clearly(small_task):
    Xs, ys, Xt, yt = small_task
    X, y, domains = _packed(Xs, ys, Xt, np.full(len(Xt), -1))
    with pytest.raises(ValueError, match="sample_domain has 10 entries but X has 210 rows"):
        make("dann").fit(X, y, sample_domain=domains[:10])
    with pytest.raises(ValueError, match=r"sample_domain must be 1-D \(one domain per row of X\), got shape \(1, "):
        make("dann").fit(X, y, sample_domain=domains[None, :])
    with pytest.raises(ValueError, match="sample_domain is 0 at rows \\[0\\]"):
        make("dann").fit(X, y, sample_domain=np.r_[0, domains[1:]])
    with pytest.raises(ValueError, match="sample_domain must hold integers"):
        make("dann").fit(X, y, sample_domain=np.where(domains > 0, "source", "target"))
    with pytest.raises(ValueError, match="sample_domain must hold integers"):
        make("dann").fit(X, y, sample_domain=domains * 0.5)
    with pytest.raises(ValueError, match="sample_domain must hold integers"):
        make("dann").fit(X, y, sample_domain=np.array([True if d > 0 else -1 for d in domains], dtype=object))
    # an object array of Python ints is the integers it holds (was: refused as not integers)
    np.testing.assert_array_equal(
        make("dann", random_state=0).fit(X, y, sample_domain=domains.astype(object)).predict_proba(Xt),
        make("dann", random_state=0).fit(X, y, sample_domain=domains).predict_proba(Xt))
    with pytest.raises(ValueError, match="marks no source row"):
        make("dann").fit(X, y, sample_domain=-np.abs(domains))
    with pytest.raises(ValueError, match="are source rows \\(sample_domain > 0\\) labelled with the unlabelled"):
        make("dann").fit(X, np.r_[-1, y[1:]], sample_domain=domains)
    with pytest.raises(ValueError, match="do not pass X_target or yt with it"):
        make("dann").fit(Xs, ys, Xt, sample_domain=np.ones(len(Xs), dtype=int))
    with pytest.raises(ValueError, match="no target samples"):
        make("dann").fit(Xs, ys, sample_domain=np.ones(len(Xs), dtype=int))


def test_sample_domain_routed_through_pipeline_and_grid_search(small_task):
    """With scikit-learn's metadata routing on and the request set, a Pipeline and GridSearchCV hand
    sample_domain to the estimator (split per fold by the search): the refitted best model equals the direct
    three-array fit with yt on the scaled data."""
    import sklearn
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xs, ys, Xt, yt = small_task
    labels, _ = _labels(yt, 0.2)
    X, y, domains = _packed(Xs, ys, Xt, labels)
    scaler = StandardScaler().fit(X)
    direct = make("dann", random_state=0, device="cpu", max_epochs=2).fit(
        scaler.transform(Xs), ys, scaler.transform(Xt), labels)
    with sklearn.config_context(enable_metadata_routing=True):
        estimator = make("dann", random_state=0, device="cpu").set_fit_request(sample_domain=True)
        pipe = make_pipeline(StandardScaler(), estimator)
        # every fold holds both domains (shuffled folds); error_score="raise": a fold's misrouted sample_domain
        # (wrong length) would fail the search
        search = GridSearchCV(pipe, {"dannclassifier__max_epochs": [1, 2]}, cv=KFold(3, shuffle=True, random_state=0),
                              error_score="raise").fit(X, y, sample_domain=domains)
        refit = search.best_estimator_ if search.best_params_["dannclassifier__max_epochs"] == 2 else \
            sklearn.base.clone(pipe).set_params(dannclassifier__max_epochs=2).fit(X, y, sample_domain=domains)
        np.testing.assert_array_equal(refit.predict_proba(Xt), direct.predict_proba(scaler.transform(Xt)))
        # the request is needed: scikit-learn's own error otherwise
        with pytest.raises(Exception, match="sample_domain"):
            make_pipeline(StandardScaler(), make("dann")).fit(X, y, sample_domain=domains)


def test_sample_domain_without_routing_follows_scikit_learn(small_task):
    """Routing off: a Pipeline refuses an unprefixed sample_domain (scikit-learn's error) and passes the
    step-prefixed one (its legacy convention) to the estimator."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xs, ys, Xt, yt = small_task
    labels, _ = _labels(yt, 0.2)
    X, y, domains = _packed(Xs, ys, Xt, labels)
    with pytest.raises((TypeError, ValueError), match="sample_domain"):
        make_pipeline(StandardScaler(), make("dann")).fit(X, y, sample_domain=domains)
    pipe = make_pipeline(StandardScaler(), make("dann", random_state=0, device="cpu"))
    pipe.fit(X, y, dannclassifier__sample_domain=domains)
    scaler = StandardScaler().fit(X)
    direct = make("dann", random_state=0, device="cpu").fit(scaler.transform(Xs), ys, scaler.transform(Xt), labels)
    np.testing.assert_array_equal(pipe.predict_proba(Xt), direct.predict_proba(scaler.transform(Xt)))
