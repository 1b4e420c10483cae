"""skda.features.ImageFeatures (images or files -> backbone features) and skda.datasets.load_image_folder."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import skda
from skda.datasets import load_image_folder

torchvision = pytest.importorskip("torchvision")
from torchvision.io import write_png  # noqa: E402

from skda.features import ImageFeatures  # noqa: E402
from skda.nets import TorchvisionBackbone  # noqa: E402

# torchvision 0.29 deprecates its image encoders (write_png here) in favour of TorchCodec
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")


def grey_images(n=10, size=16, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(n, size, size), dtype=np.uint8)


def test_features_equal_the_backbone_on_scaled_images():
    """uint8 images -> /255 -> the backbone (eval mode, random init seeded by random_state), float32, batched."""
    X = grey_images(10)
    features = ImageFeatures("resnet18", in_channels=1, batch_size=4, device="cpu").fit(X)
    out = features.transform(X)
    assert out.dtype == np.float32 and out.shape == (10, 512) and features.n_features_out_ == 512
    torch.manual_seed(0)
    reference = TorchvisionBackbone("resnet18", in_channels=1).eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(X[:, None]).float() / 255).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    # float images are taken as they are; (n, 1, H, W) and (n, H, W) agree; the caller's array is unchanged
    before = X.copy()
    np.testing.assert_allclose(features.transform(X[:, None].astype(np.float32) / 255), out, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(X, before)
    assert list(features.get_feature_names_out()[:2]) == ["imagefeatures0", "imagefeatures1"]


def test_googlenet_weights_trained_without_transform_input_give_their_features(tmp_path):
    """A googlenet state_dict file is read as torchvision's weights (transform_input on) unless told otherwise:
    transform_input=False gives a file saved from a randomly initialised backbone its own features (0.60 relative
    off before, and no way to say so), and survives pickling (the backbone is rebuilt from it)."""
    torch.manual_seed(3)
    saved = TorchvisionBackbone("googlenet").eval()
    torch.save(saved.state_dict(), tmp_path / "googlenet.pth")
    X = np.random.RandomState(0).rand(4, 3, 32, 32).astype(np.float32)
    with torch.no_grad():
        expected = saved(torch.from_numpy(X)).numpy()
    features = ImageFeatures("googlenet", weights=tmp_path / "googlenet.pth", transform_input=False, device="cpu")
    np.testing.assert_allclose(features.fit(X).transform(X), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(features)).transform(X), expected, rtol=1e-5, atol=1e-5)
    as_torchvision = ImageFeatures("googlenet", weights=tmp_path / "googlenet.pth", device="cpu").fit(X)
    assert as_torchvision.backbone_.model.transform_input
    # a transformer pickled before the parameter existed (no transform_input in its state) was built without it
    old = pickle.loads(pickle.dumps(features))
    del old.__dict__["transform_input"], old.__dict__["backbone_parameters_"]["transform_input"]
    old = pickle.loads(pickle.dumps(old))
    np.testing.assert_allclose(old.transform(X), expected, rtol=1e-5, atol=1e-5)
    assert old.get_params()["transform_input"] is False and clone(old).transform_input is False
    # the backbone is rebuilt from what it was built with at fit, also when name / weights were set after it
    changed = pickle.loads(pickle.dumps(features)).set_params(weights=None)
    del changed.__dict__["transform_input"], changed.__dict__["backbone_parameters_"]["transform_input"]
    changed = pickle.loads(pickle.dumps(changed))
    np.testing.assert_allclose(changed.transform(X), expected, rtol=1e-5, atol=1e-5)


def test_pickle_clone_and_seed():
    """A pickled transformer leaves the backbone out and rebuilds the same one; clone keeps the parameters;
    another random_state draws other weights; the global torch generator is not touched."""
    X = grey_images(4)
    features = ImageFeatures("resnet18", in_channels=1, device="cpu").fit(X)
    state = torch.random.get_rng_state()
    out = features.transform(X)
    blob = pickle.dumps(features)
    assert len(blob) < 10_000  # no weights inside
    np.testing.assert_array_equal(pickle.loads(blob).transform(X), out)
    np.testing.assert_array_equal(clone(features).fit(X).transform(X), out)
    assert not np.allclose(clone(features).set_params(random_state=1).fit(X).transform(X), out)
    assert torch.equal(torch.random.get_rng_state(), state)
    # parameters set after fit wait for the next fit, also across a pickle (its backbone was rebuilt from them),
    # in_channels too (transform read it live and refused the fitted grey input); the device is the one set now
    features.set_params(random_state=1, name="resnet34", in_channels=3, device="cpu")
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(features)).transform(X), out)


def test_preprocess_and_weights(tmp_path, monkeypatch):
    """preprocess is applied to each float batch; 'weights' uses the weights' own transforms (resize, crop,
    normalise), here with weights from a pre-populated hub cache."""
    X = grey_images(3, size=20)
    rgb = np.repeat(X[:, None], 3, axis=1)
    plain = ImageFeatures("resnet18", device="cpu").fit(rgb)
    doubled = ImageFeatures("resnet18", device="cpu", preprocess=lambda batch: batch * 2).fit(rgb)
    np.testing.assert_allclose(doubled.transform(rgb), plain.transform(rgb.astype(np.float32) * 2 / 255),
                               rtol=1e-5, atol=1e-5)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    full = torchvision.models.resnet18().eval()
    torch.save(full.state_dict(), tmp_path / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[-1])
    pretrained = ImageFeatures("resnet18", weights="DEFAULT", preprocess="weights", device="cpu").fit(rgb)
    with torch.no_grad():
        batch = weights.transforms()(torch.from_numpy(rgb).float() / 255)
        assert batch.shape == (3, 3, 224, 224)
        torch.testing.assert_close(full.fc(torch.from_numpy(pretrained.transform(rgb))), full(batch),
                                   rtol=1e-4, atol=1e-4)
    # grey images: the weights' transforms with the mean RGB statistics for the one channel
    grey = ImageFeatures("resnet18", weights="DEFAULT", in_channels=1, preprocess="weights", device="cpu").fit(X)
    with torch.no_grad():
        transforms = weights.transforms()
        transforms.mean, transforms.std = [float(np.mean(transforms.mean))], [float(np.mean(transforms.std))]
        expected = grey.backbone_(transforms(torch.from_numpy(X[:, None]).float() / 255))
    np.testing.assert_allclose(grey.transform(X), expected.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="preprocess='weights' uses the preprocessing of torchvision weights"):
        ImageFeatures("resnet18", preprocess="weights").fit(rgb)
    with pytest.raises(ValueError, match="'preprocess' parameter of ImageFeatures must be"):
        ImageFeatures("resnet18", preprocess="imagenet").fit(rgb)


def test_image_files(tmp_path):
    """A 1-D array of paths: decoded with torchvision.io (grey or RGB as in_channels says), same features as the
    array; files of several sizes need a resizing preprocess; an unreadable file is named."""
    X = grey_images(5)
    paths = []
    for i, image in enumerate(X):
        paths.append(str(tmp_path / f"{i}.png"))
        write_png(torch.from_numpy(image[None]), paths[-1])
    grey = ImageFeatures("resnet18", in_channels=1, batch_size=2, device="cpu").fit(paths)
    np.testing.assert_allclose(grey.transform(np.array(paths)), grey.transform(X), rtol=1e-5, atol=1e-5)
    rgb = ImageFeatures("resnet18", device="cpu").fit(paths)
    np.testing.assert_allclose(rgb.transform(paths), rgb.transform(np.repeat(X[:, None], 3, axis=1)),
                               rtol=1e-5, atol=1e-5)
    write_png(torch.zeros((1, 24, 24), dtype=torch.uint8), str(tmp_path / "big.png"))
    with pytest.raises(ValueError, match="different sizes"):
        grey.transform([paths[0], str(tmp_path / "big.png")])
    from torchvision.transforms import v2

    resize = v2.Resize((16, 16), antialias=True)
    resized = ImageFeatures("resnet18", in_channels=1, preprocess=resize, device="cpu").fit(paths)
    assert resized.transform([paths[0], str(tmp_path / "big.png")]).shape == (2, 512)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"cannot read the image file '.*broken\.png'"):
        grey.transform([paths[0], str(tmp_path / "broken.png")])
    # decoded by a DataLoader worker: the same features, the same errors
    workers = ImageFeatures("resnet18", in_channels=1, batch_size=2, device="cpu", num_workers=1).fit(paths)
    np.testing.assert_array_equal(workers.transform(paths), grey.transform(paths))
    with pytest.raises(ValueError, match=r"cannot read the image file '.*broken\.png'"):
        workers.transform([paths[0], str(tmp_path / "broken.png")])
    # one column of paths, what a ColumnTransformer passes for ["path"]
    import pandas as pd

    np.testing.assert_array_equal(grey.transform(pd.DataFrame({"path": paths})), grey.transform(paths))


def test_file_workers_stop_when_a_file_fails_and_bytes_paths_read_as_paths(tmp_path):
    """After an unreadable file, ImageFeatures' DataLoader workers end with the error (they stayed alive until the
    exception was collected); a numpy bytes array of paths reads as the paths (it was read as "b'...'")."""
    import multiprocessing

    X = grey_images(4)
    paths = []
    for i, image in enumerate(X):
        paths.append(str(tmp_path / f"{i}.png"))
        write_png(torch.from_numpy(image[None]), paths[-1])
    (tmp_path / "broken.png").write_bytes(b"not an image")
    workers = ImageFeatures("resnet18", in_channels=1, batch_size=1, device="cpu", num_workers=2).fit(paths)
    with pytest.raises(ValueError, match="cannot read the image file"):
        workers.transform([*paths, str(tmp_path / "broken.png")])
        # (the exception and its traceback are alive here, in the except block, as in a user's handler)
    assert multiprocessing.active_children() == []
    grey = ImageFeatures("resnet18", in_channels=1, device="cpu").fit(paths)
    np.testing.assert_array_equal(grey.transform(np.array(paths, dtype="S")), grey.transform(paths))


def test_a_batch_the_architecture_cannot_take_is_named():
    with pytest.raises(ValueError, match=r"the squeezenet1_1 backbone failed on a batch of shape \(2, 3, 16, 16\) "
                                         r"\(after preprocess\): .* need a resize"):
        ImageFeatures("squeezenet1_1", device="cpu").fit().transform(np.zeros((2, 3, 16, 16), np.uint8))


def test_features_leave_the_caller_s_torch_state_alone(tmp_path):
    """ImageFeatures builds a float32 backbone under the caller's torch.set_default_dtype(torch.float64) (the
    images are fed as float32), and fit / transform of arrays and files draw nothing from torch's global generator
    (a DataLoader over the files draws its base seed from a generator of its own)."""
    X = grey_images(4)
    paths = []
    for i, image in enumerate(X):
        paths.append(str(tmp_path / f"{i}.png"))
        write_png(torch.from_numpy(image[None]), paths[-1])
    plain = ImageFeatures("resnet18", in_channels=1, device="cpu").fit(X)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        wide = ImageFeatures("resnet18", in_channels=1, device="cpu").fit(X)
        np.testing.assert_array_equal(wide.transform(X), plain.transform(X))
    finally:
        torch.set_default_dtype(previous)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    features = ImageFeatures("resnet18", in_channels=1, batch_size=2, device="cpu").fit(paths)
    features.transform(paths)
    features.transform(X)
    assert torch.equal(torch.get_rng_state(), state)


def test_bad_input():
    features = ImageFeatures("resnet18", in_channels=1, device="cpu")
    with pytest.raises(NotFittedError):
        features.transform(grey_images(2))
    features.fit()
    with pytest.raises(ValueError, match=r"got shape \(2, 256\); reshape flat rows"):
        features.transform(grey_images(2).reshape(2, -1))
    with pytest.raises(ValueError, match=r"the images have 3 channels .* in_channels=1; for channels-last"):
        features.transform(np.zeros((2, 3, 16, 16), np.float32))
    with pytest.raises(ValueError, match="images must be uint8"):
        features.transform(np.zeros((2, 16, 16), np.int64))
    with pytest.raises(ValueError, match="must hold image file paths"):
        features.transform(np.zeros(3))
    broken = grey_images(3).astype(np.float32)
    broken[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"the images \[1\] hold NaN or infinite values"):
        features.transform(broken)
    with pytest.raises(ValueError, match="'resnet19' is not a torchvision classification architecture"):
        ImageFeatures("resnet19").fit()
    with pytest.raises(ValueError, match="'batch_size' parameter of ImageFeatures must be"):
        ImageFeatures("resnet18", batch_size=0).fit()


class CountingFeatures(ImageFeatures):
    """Counts its fits (module level: the count survives joblib's memory, which skips cached calls)."""

    fits = []

    def fit(self, X=None, y=None):
        CountingFeatures.fits.append(len(X))
        return super().fit(X, y)


def test_cached_pipeline_computes_features_once_per_fold(tmp_path):
    """In a Pipeline with memory inside GridSearchCV over a later step, the image features of each fold's training
    rows are computed once (not once per candidate), and the search's result is the uncached one's."""
    X = grey_images(12)
    y = np.arange(12) % 2
    CountingFeatures.fits.clear()

    def search(memory):
        pipe = Pipeline([("features", CountingFeatures("resnet18", in_channels=1, device="cpu")),
                         ("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=200))], memory=memory)
        return GridSearchCV(pipe, {"clf__C": [0.1, 1.0, 10.0]}, cv=2, n_jobs=1).fit(X, y)

    cached = search(str(tmp_path / "cache"))
    assert CountingFeatures.fits == [6, 6, 12]  # 2 folds, then the refit on all rows
    CountingFeatures.fits.clear()
    uncached = search(None)
    assert len(CountingFeatures.fits) == 3 * 2 + 1
    np.testing.assert_array_equal(cached.cv_results_["mean_test_score"], uncached.cv_results_["mean_test_score"])


def test_one_line_pipeline_with_dann():
    """make_pipeline(ImageFeatures, StandardScaler, DANN) in the packed form (target rows labelled -1)."""
    Xs, Xt = grey_images(8, seed=1), grey_images(8, seed=2)
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([np.arange(8) % 2, np.full(8, -1)])
    pipe = make_pipeline(ImageFeatures("resnet18", in_channels=1, device="cpu"), StandardScaler(),
                         skda.DANNClassifier(module__hidden_sizes=(8,), domain_hidden_sizes=(8,), max_epochs=2,
                                             batch_size=4, random_state=0))
    assert pipe.fit(X, y).predict(Xt).shape == (8,)


def write_folder(root, layout):
    for name, count in layout.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            write_png(torch.full((1, 4, 4), i, dtype=torch.uint8), str(root / name / f"{i}.png"))


def test_load_image_folder(tmp_path):
    """Classes sorted by name, files sorted within each class (sub-folders included), other files skipped: the
    order and labels of torchvision's ImageFolder."""
    write_folder(tmp_path / "office", {"mug": 2, "bike": 3, "laptop": 1})
    (tmp_path / "office" / "bike" / "notes.txt").write_text("not an image")
    (tmp_path / "office" / "mug" / "more").mkdir()
    write_png(torch.zeros((3, 4, 4), dtype=torch.uint8), str(tmp_path / "office" / "mug" / "more" / "a.PNG"))
    paths, labels, names = load_image_folder(tmp_path / "office")
    assert names == ["bike", "laptop", "mug"]
    assert labels.dtype == np.int64 and labels.tolist() == [0, 0, 0, 1, 2, 2, 2]
    assert paths.dtype.kind == "U"
    reference = torchvision.datasets.ImageFolder(str(tmp_path / "office"))
    assert reference.classes == names
    assert [(p, c) for p, c in reference.samples] == list(zip(paths.tolist(), labels.tolist()))
    features = ImageFeatures("resnet18", device="cpu").fit(paths)
    assert features.transform(paths).shape == (7, 512)


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_image_folder(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no class folder"):
        load_image_folder(tmp_path / "empty")
    write_folder(tmp_path / "data", {"cat": 1})
    (tmp_path / "data" / "dog").mkdir()
    with pytest.raises(ValueError, match=r"the class folders \['dog'\] .* hold no image file"):
        load_image_folder(tmp_path / "data")
    write_folder(tmp_path / "data", {"dog": 1})
    (tmp_path / "data" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match=r"1 of 3 files are not readable images: .*dog/broken\.jpg"):
        load_image_folder(tmp_path / "data")
    paths, labels, _ = load_image_folder(tmp_path / "data", check=False)
    assert len(paths) == 3
    # formats the decoder cannot read are neither listed nor accepted as extensions
    (tmp_path / "data" / "dog" / "photo.bmp").write_bytes(b"BM")
    assert not any(p.endswith(".bmp") for p in load_image_folder(tmp_path / "data", check=False)[0])
    with pytest.raises(ValueError, match=r"reads \['.jpg'.*not \['.bmp'\]"):
        load_image_folder(tmp_path / "data", extensions=(".png", ".bmp"))
    # an extension may be written with or without its dot
    listed = list(paths)
    assert list(load_image_folder(tmp_path / "data", check=False, extensions=("JPG", "png", ".jpeg"))[0]) == listed
    with pytest.raises(ValueError, match=r"the class folders \['cat'\] .* hold no image file \(endings \['.jpg'\]\)"):
        load_image_folder(tmp_path / "data", check=False, extensions="jpg")  # one extension alone, as a string
    # passed Pillow's verify before, failed when decoded: a BMP named .jpg, a JPEG cut short
    from PIL import Image

    (tmp_path / "data" / "dog" / "broken.jpg").unlink()
    Image.new("RGB", (8, 8)).save(tmp_path / "data" / "dog" / "bitmap.jpg", format="BMP")
    Image.new("RGB", (32, 32), "red").save(tmp_path / "data" / "dog" / "whole.jpg")
    whole = (tmp_path / "data" / "dog" / "whole.jpg").read_bytes()
    (tmp_path / "data" / "dog" / "cut.jpg").write_bytes(whole[:-10])  # its end marker and a few bytes lost
    with pytest.raises(ValueError, match=r"2 of 5 files are not readable images: .*bitmap\.jpg \(ValueError: a BMP "
                                         r"file.*cut\.jpg \(OSError: image file is truncated"):
        load_image_folder(tmp_path / "data")
    # data after a JPEG's end (a phone's motion photo appends a video) is no damage
    (tmp_path / "data" / "dog" / "cut.jpg").write_bytes(whole + bytes(5000))
    (tmp_path / "data" / "dog" / "bitmap.jpg").unlink()
    assert len(load_image_folder(tmp_path / "data")[0]) == 4
    Image.new("RGB", (8, 8)).save(tmp_path / "data" / "dog" / "bitmap.jpg", format="BMP")
    for name in ("bitmap.jpg", "cut.jpg", "whole.jpg"):
        (tmp_path / "data" / "dog" / name).unlink()
    assert list(load_image_folder(tmp_path / "data", extensions=None)[0]) == list(paths[paths != str(
        tmp_path / "data" / "dog" / "broken.jpg")])
    with pytest.raises(TypeError, match="extensions must be a file ending or a collection of them .* got 3"):
        load_image_folder(tmp_path / "data", extensions=3)
    assert list(load_image_folder(tmp_path / "data", extensions={".png", ".jpg"})[0]) == list(
        load_image_folder(tmp_path / "data", extensions=np.array([".png", ".jpg"]))[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_features_match_the_cpu():
    X = grey_images(6)
    on_cpu = ImageFeatures("resnet18", in_channels=1, device="cpu").fit(X).transform(X)
    auto = ImageFeatures("resnet18", in_channels=1).fit(X)
    assert auto.device_.type == "cuda"
    np.testing.assert_allclose(auto.transform(X), on_cpu, rtol=1e-2, atol=1e-2)  # cuDNN may use TF32


def test_out_of_memory_passes_through_unchanged(monkeypatch):
    """A caller that halves the batch on torch's out-of-memory error gets that error, not a shape message."""
    features = ImageFeatures("resnet18", in_channels=1, device="cpu").fit()
    error = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)

    def out_of_memory(batch):
        raise error("simulated")

    monkeypatch.setattr(features, "_backbone", lambda: out_of_memory)
    with pytest.raises(error, match="simulated"):
        features.transform(grey_images(2))
