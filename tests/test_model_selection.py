"""skda.model_selection: DomainStratifiedKFold keeps both domains in every fold; pack_domains stacks the
domains without converting the unlabelled marker or the labels."""

import numpy as np
import pytest
from sklearn.model_selection import KFold

from skda.model_selection import DomainStratifiedKFold, pack_domains
from skda.validation import unlabeled_mask


def test_domain_stratified_kfold_keeps_domains_and_classes_in_every_fold():
    ys = np.r_[np.repeat([0, 1, 2], [20, 9, 4]), [3, 3]]        # class 3 has 2 rows < n_splits
    y = np.r_[ys, np.full(13, -1)]
    order = np.random.RandomState(0).permutation(len(y))
    y = y[order]
    X = np.zeros((len(y), 2))
    for shuffle, seed in [(False, None), (True, 0)]:
        cv = DomainStratifiedKFold(4, shuffle=shuffle, random_state=seed)
        splits = list(cv.split(X, y))
        assert len(splits) == cv.get_n_splits() == 4
        tests = np.concatenate([test for _, test in splits])
        np.testing.assert_array_equal(np.sort(tests), np.arange(len(y)))  # a partition
        sizes = [len(test) for _, test in splits]
        assert max(sizes) - min(sizes) <= 1
        for train, test in splits:
            assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(y)
            for part in (train, test):
                assert (y[part] == -1).any() and (y[part] != -1).any()
            assert {0, 1, 2} <= set(y[test]) and {0, 1, 2, 3} <= set(y[train])
            assert sum(y[test] == -1) in (3, 4)                  # 13 target rows over 4 folds
    a = [t for _, t in DomainStratifiedKFold(4, shuffle=True, random_state=0).split(X, y)]
    b = [t for _, t in DomainStratifiedKFold(4, shuffle=True, random_state=0).split(X, y)]
    c = [t for _, t in DomainStratifiedKFold(4, shuffle=True, random_state=1).split(X, y)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b)) and not all(np.array_equal(u, v) for u, v in zip(a, c))


def test_plain_kfold_can_leave_a_fold_without_target_rows_and_the_splitter_does_not():
    y = np.r_[np.tile([0, 1], 30), np.full(20, -1)]                # target rows last, as pack_domains puts them
    X = np.zeros((len(y), 1))
    assert any(not (y[test] == -1).any() for _, test in KFold(4).split(X, y))
    assert all((y[test] == -1).any() for _, test in DomainStratifiedKFold(4).split(X, y))


def test_domain_stratified_kfold_string_marker_and_errors():
    y = np.array(["a", "b"] * 6 + ["?"] * 4, dtype=object)
    folds = list(DomainStratifiedKFold(2, unlabeled_marker="?").split(np.zeros((16, 1)), y))
    assert all(set(y[test]) == {"a", "b", "?"} for _, test in folds)
    with pytest.raises(ValueError, match="needs y"):
        next(DomainStratifiedKFold(2).split(np.zeros((4, 1))))
    with pytest.raises(ValueError, match="at least 3 source and 3 target rows"):
        next(DomainStratifiedKFold(3).split(np.zeros((8, 1)), np.r_[[0, 1, 0, 1, 0, 1], [-1, -1]]))
    with pytest.raises(ValueError, match="n_splits must be an integer >= 2"):
        DomainStratifiedKFold(1)
    with pytest.raises(ValueError, match="shuffle=True"):
        DomainStratifiedKFold(3, random_state=0)


def test_pack_domains():
    X, y = pack_domains(np.ones((3, 2)), [0, 1, 0], np.zeros((2, 2)))
    assert X.shape == (5, 2) and y.tolist() == [0, 1, 0, -1, -1]
    with pytest.raises(ValueError, match="sample shape"):
        pack_domains(np.ones((3, 2)), [0, 1, 0], np.zeros((2, 3)))


@pytest.mark.parametrize("ys,marker,dtype_kind", [
    (np.array([0, 1, 0]), -1, "i"),
    (np.array([0.0, 1.0, 0.0]), -1, "f"),
    (np.array([True, False, True]), -1, "O"),        # was: -1 cast to True
    (np.array([0, 1, 0], dtype=np.uint8), -1, "O"),  # was: OverflowError
    (np.array([0, 1, 0]), 0.5, "O"),                 # was: 0.5 cast to class 0
    (np.array(["a", "b", "a"]), -1, "O"),
])
def test_pack_domains_never_converts_the_marker(ys, marker, dtype_kind):
    X, y = pack_domains(np.zeros((3, 2)), ys, np.ones((2, 2)), unlabeled_marker=marker)
    assert y.dtype.kind == dtype_kind
    assert list(y[:3]) == list(ys)
    assert all(v == marker and type(v) is not bool for v in y[3:])
    assert unlabeled_mask(y, marker).tolist() == [False] * 3 + [True] * 2


def test_pack_domains_aligns_dataframe_columns_by_name():
    pd = pytest.importorskip("pandas")
    Xs = pd.DataFrame({"age": [30, 40, 50], "income": [1e3, 2e3, 3e3]})
    Xt = pd.DataFrame({"income": [4e3, 5e3], "age": [60, 70]})
    X, y = pack_domains(Xs, [0, 1, 0], Xt)
    assert list(X.columns) == ["age", "income"]
    np.testing.assert_array_equal(X.to_numpy()[3:], [[60, 4e3], [70, 5e3]])
    np.testing.assert_array_equal(y, [0, 1, 0, -1, -1])
    with pytest.raises(ValueError, match="different columns"):
        pack_domains(Xs, [0, 1, 0], Xt.rename(columns={"age": "Age"}))


def test_pack_domains_refuses_a_source_label_equal_to_the_marker_and_takes_column_labels():
    with pytest.raises(ValueError, match="contains the unlabelled marker -1"):
        pack_domains(np.zeros((3, 1)), np.array([0, -1, 1]), np.zeros((2, 1)))
    np.testing.assert_array_equal(pack_domains(np.zeros((3, 1)), np.array([[0], [2], [1]]), np.zeros((2, 1)))[1],
                                  [0, 2, 1, -1, -1])


def test_domain_stratified_kfold_refuses_nan_source_labels():
    y = np.r_[np.repeat([0.0, 1.0], 4), np.nan, np.full(6, -1.0)]
    X = np.zeros((len(y), 2))
    with pytest.raises(ValueError, match="not class labels.*not NaN"):
        list(DomainStratifiedKFold(n_splits=2).split(X, y))


def test_pack_domains_refuses_repeated_column_names():
    import pandas as pd

    frame = pd.DataFrame(np.ones((3, 3)), columns=["a", "a", "b"])
    with pytest.raises(ValueError, match=r"Xs has duplicated column names \['a'\]"):
        pack_domains(frame, [0, 1, 0], frame)
    with pytest.raises(ValueError, match=r"Xt has duplicated column names \['b'\]"):
        pack_domains(pd.DataFrame(np.ones((3, 3)), columns=["a", "b", "c"]), [0, 1, 0],
                     pd.DataFrame(np.ones((2, 3)), columns=["a", "b", "b"]))


def test_pack_domains_takes_dataframe_subclasses_wide_frames_and_refuses_a_none_marker():
    import time

    import pandas as pd

    class Frame(pd.DataFrame):  # e.g. geopandas' GeoDataFrame
        @property
        def _constructor(self):
            return Frame

    X, y = pack_domains(Frame(np.ones((3, 2)), columns=["a", "b"]), [0, 1, 0], Frame(np.zeros((2, 2)),
                                                                                     columns=["b", "a"]))
    assert list(X.columns) == ["a", "b"] and y.tolist() == [0, 1, 0, -1, -1]
    wide = pd.DataFrame(np.ones((2, 20_000), np.float32), columns=[f"c{i}" for i in range(20_000)])
    start = time.perf_counter()
    pack_domains(wide, [0, 1], wide)
    assert time.perf_counter() - start < 5  # the duplicate check was quadratic in the columns (5 s at 16,000)
    with pytest.raises(ValueError, match="'unlabeled_marker' parameter of pack_domains must be an instance of 'str' "
                                         "or a finite number. Got None"):
        pack_domains(np.ones((3, 2)), [0, 1, 0], np.zeros((2, 2)), unlabeled_marker=None)


def test_pack_domains_stacks_polars_columns_of_different_number_types():
    pl = pytest.importorskip("polars")
    X, _ = pack_domains(pl.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}), [0, 1], pl.DataFrame({"a": [0.5], "b": [2.0]}))
    assert X["a"].to_list() == [1.0, 2.0, 0.5]
