import numpy as np
import pytest

from skda import datasets
from skda.datasets import list_tasks, load_task, make_digits_shift, resolve_data_home


def test_task_lists():
    assert list_tasks("digits") == ["mnist->usps", "usps->mnist"]
    assert len(list_tasks("office_caltech")) == 12
    assert len(list_tasks("amazon_reviews")) == 12
    assert "amazon->webcam" in list_tasks("office_caltech") and "books->dvd" in list_tasks("amazon_reviews")
    with pytest.raises(ValueError, match="unknown task family"):
        list_tasks("imagenet")


@pytest.mark.parametrize("task,shapes,n_classes", [
    ("mnist->usps", ((2000, 256), (1800, 256)), 10),
    ("usps->mnist", ((1800, 256), (2000, 256)), 10),
    ("amazon->webcam", ((958, 800), (295, 800)), 10),
    ("C->D", ((1123, 800), (157, 800)), 10),
    ("books->kitchen", ((2000, 400), (1999, 400)), 2),
])
def test_real_tasks_load_with_zero_based_labels(task, shapes, n_classes):
    Xs, ys, Xt, yt = load_task(task)
    assert (Xs.shape, Xt.shape) == shapes
    assert Xs.dtype == np.float32 and ys.dtype == np.int64
    assert sorted(np.unique(ys)) == list(range(n_classes)) == sorted(np.unique(yt))
    assert np.isfinite(Xs).all() and np.isfinite(Xt).all()


def test_digits_preprocessing_is_per_image_standardisation():
    Xs, _, Xt, _ = load_task("mnist->usps")
    np.testing.assert_allclose(Xs.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(Xt.std(axis=1), 1, atol=1e-4)
    raw, _, _, _ = load_task("mnist->usps", preprocess=False)
    assert raw.min() >= 0 and raw.max() <= 1


def test_surf_preprocessing_zscores_each_domain():
    Xs, _, Xt, _ = load_task("webcam->dslr")
    for X in (Xs, Xt):
        np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-4)


def test_usps_mnist_is_the_swap_of_mnist_usps():
    a = load_task("mnist->usps")
    b = load_task("usps->mnist")
    np.testing.assert_array_equal(a[0], b[2])
    np.testing.assert_array_equal(a[3], b[1])


def test_missing_folder_names_file_and_folder(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as err:
        load_task("mnist->usps", data_home=tmp_path)
    msg = str(err.value)
    assert "digits_mnist_usps/MNIST_vs_USPS.mat" in msg and str(tmp_path) in msg and "SKDA_DATA" in msg
    monkeypatch.setenv("SKDA_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="dslr_SURF_L10.mat"):
        load_task("dslr->webcam")


def test_data_home_resolution_order_argument_then_env_then_per_user_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SKDA_DATA", str(tmp_path / "env"))
    assert resolve_data_home(tmp_path / "arg") == tmp_path / "arg"  # the argument wins over SKDA_DATA
    assert resolve_data_home() == tmp_path / "env"  # then SKDA_DATA
    monkeypatch.setenv("SKDA_DATA", "")  # empty counts as unset
    assert resolve_data_home() == tmp_path / "home" / "skda_data"
    monkeypatch.delenv("SKDA_DATA")  # then the per-user default, never the source checkout's ../shared/data
    assert resolve_data_home() == tmp_path / "home" / "skda_data"
    assert "shared" not in str(resolve_data_home())
    monkeypatch.setattr(datasets, "DEFAULT_DATA_HOME", str(tmp_path / "elsewhere"))  # the default is overridable
    assert resolve_data_home() == tmp_path / "elsewhere"


def test_per_user_default_folder_is_read_when_nothing_is_set(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "skda_data" / "office_caltech10_surf").mkdir(parents=True)
    real = resolve_data_home() / "office_caltech10_surf"  # conftest points SKDA_DATA at ../shared/data
    for domain in ("amazon", "webcam"):
        (home / "skda_data" / "office_caltech10_surf" / f"{domain}_SURF_L10.mat").symlink_to(
            real / f"{domain}_SURF_L10.mat")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SKDA_DATA")
    Xs, ys, Xt, yt = load_task("amazon->webcam")
    assert (Xs.shape, Xt.shape) == ((958, 800), (295, 800))
    assert not (home / "skda_data" / "digits_mnist_usps").exists()  # nothing is created or downloaded


def test_missing_folder_error_names_the_three_places_and_which_were_unset(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SKDA_DATA")
    with pytest.raises(FileNotFoundError) as err:
        load_task("mnist->usps")
    msg = str(err.value)
    assert "data_home argument: not given" in msg and "SKDA_DATA environment variable: unset" in msg
    assert f"per-user default ~/skda_data = {tmp_path / 'home' / 'skda_data'} (used)" in msg
    assert "does not exist" in msg and str(tmp_path / "home" / "skda_data" / "digits_mnist_usps") in msg
    monkeypatch.setenv("SKDA_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as err:
        load_task("mnist->usps", data_home=tmp_path / "arg")
    msg = str(err.value)
    assert f"data_home argument: given, {str(tmp_path / 'arg')!r} (used)" in msg
    assert f"SKDA_DATA environment variable: set to {str(tmp_path / 'env')!r} (ignored" in msg
    assert "per-user default ~/skda_data" in msg and "(not used" in msg


def test_task_names_take_initials_case_and_spaces():
    expected = load_task("dslr->webcam")
    for name in ("d->w", " D -> W ", "DSLR->w"):
        for got, want in zip(load_task(name), expected):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(load_task("e->k")[0], load_task("elec->kitchen")[0])
    with pytest.raises(ValueError, match="unknown task 'b->d'"):  # d is dslr, dvd has no initial
        load_task("b->d")


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task"):
        load_task("mnist->svhn")
    with pytest.raises(ValueError, match=r"a task is 'digits-shift' or a pair 'source->target' such as \['mnist"):
        load_task("digits_shift")
    with pytest.raises(TypeError, match="load_task takes a task name \\(str\\).*got NoneType None"):
        load_task(None)


def test_a_damaged_benchmark_file_is_named(tmp_path):
    from scipy.io import savemat

    folder = tmp_path / "office_caltech10_surf"
    folder.mkdir()
    savemat(folder / "amazon_SURF_L10.mat", {"X": np.ones((3, 800))})
    (folder / "webcam_SURF_L10.mat").write_bytes(b"")
    with pytest.raises(ValueError, match=r"amazon_SURF_L10.mat has no variable \['fts', 'labels'\] \(it holds \['X'"):
        load_task("amazon->webcam", data_home=tmp_path)
    with pytest.raises(ValueError, match=r"cannot read the benchmark file .*webcam_SURF_L10.mat"):
        load_task("webcam->amazon", data_home=tmp_path)


def test_a_benchmark_file_with_other_contents_is_named(tmp_path):
    """Readable files of another release: 0-based labels (class 0 would become -1, the unlabelled marker), another
    feature count, a label per row missing: refused, naming the file (they loaded silently before)."""
    from scipy.io import savemat

    folder = tmp_path / "office_caltech10_surf"
    folder.mkdir()
    savemat(folder / "amazon_SURF_L10.mat", {"fts": np.ones((6, 800)), "labels": np.arange(6)[:, None]})
    savemat(folder / "webcam_SURF_L10.mat", {"fts": np.ones((6, 700)), "labels": np.arange(1, 6)[:, None]})
    with pytest.raises(ValueError, match=r"amazon_SURF_L10.mat holds labels -1..4 after skda's offset \(expected "
                                         r"0..9\)"):
        load_task("amazon->webcam", data_home=tmp_path)
    with pytest.raises(ValueError, match=r"webcam_SURF_L10.mat holds features of shape \(700,\) \(expected 800 per "
                                         r"row\); 5 labels for 6 rows"):
        load_task("webcam->amazon", data_home=tmp_path)


def test_embedded_task_is_deterministic_and_needs_no_file(monkeypatch):
    monkeypatch.setenv("SKDA_DATA", "/nonexistent")
    a, b = make_digits_shift(), load_task("digits-shift")
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    Xs, ys, Xt, yt = a
    assert Xs.shape == (898, 64) and Xt.shape == (899, 64) and Xs.dtype == np.float32
    assert sorted(np.unique(ys)) == list(range(10))
    for x, y in zip(make_digits_shift(np.random.RandomState(0)), a):  # a RandomState, as scikit-learn takes one
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(make_digits_shift(angle=np.int64(20))[2], Xt)  # any real number of degrees
    for angle in (np.nan, np.inf, "20", None, True):  # nan gave an all-zero target, "20" a ufunc TypeError
        with pytest.raises(ValueError, match="angle must be a finite number of degrees"):
            make_digits_shift(angle=angle)


def test_data_folder_message_names_skda_data_and_expands_the_home_directory(tmp_path, monkeypatch):
    from skda.datasets import load_task, resolve_data_home

    monkeypatch.setenv("SKDA_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="comes from the SKDA_DATA environment variable"):
        load_task("mnist->usps")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SKDA_DATA", "~/data")
    assert resolve_data_home() == tmp_path / "data"
    assert resolve_data_home("~/other") == tmp_path / "other"
