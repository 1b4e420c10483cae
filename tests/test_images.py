"""Image input (arrays and files), streamed batches, augmentation, preprocessing and precision (issue 18 items
1, 2, 3, 7). Tiny: 8x8 images, a few dozen rows, a two-layer CNN, 1-2 epochs."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

import skda
from skda import engine
from skda.metrics import labelled_scorer
from skda.model_selection import DomainStratifiedKFold, pack_domains

try:  # torchvision (skda[vision]) for transforms and files; the array tests run without it
    import torchvision.io as torchvision_io
    from torchvision.transforms import v2
except ImportError:  # pragma: no cover - CI installs it
    torchvision_io = v2 = None
needs_torchvision = pytest.mark.skipif(v2 is None, reason="needs torchvision (pip install skda[vision])")

CNN = dict(module=skda.LeNetFeatureExtractor, module__channels=(4, 8), module__out_features=16, batch_size=16,
           max_epochs=2, random_state=0)
METHOD = {
    "dann": (skda.DANNClassifier, dict(domain_hidden_sizes=(8,))),
    "madda": (skda.MADDAClassifier, dict(source_epochs=1, max_epochs=1, embedding_dim=8,
                                         discriminator_hidden_sizes=(8,), lr=1e-3)),
    "active": (skda.ActiveSelector, dict(strategy="sdm-ag")),
    "ilada": (skda.ILADAClassifier, dict(domain_hidden_sizes=(8,))),
}


def make(name, **overrides):
    cls, params = METHOD[name]
    return cls(**{**CNN, **params, **overrides})


@pytest.fixture(scope="module")
def images():
    """``(Xs, ys, Xt, yt)``: 48 source and 36 target uint8 grey 8x8 images, 3 classes (a bright bar per class:
    row, column, diagonal), the target brighter and noisier."""
    rng = np.random.RandomState(0)
    patterns = np.zeros((3, 8, 8), dtype=np.float32)
    patterns[0, 3:5, :] = 1
    patterns[1, :, 3:5] = 1
    patterns[2][np.eye(8, dtype=bool)] = 1

    def draw(n, shift, noise):
        y = np.arange(n) % 3
        x = 160 * patterns[y] + shift + noise * rng.rand(n, 8, 8) * 60
        return np.clip(x, 0, 255).astype(np.uint8)[:, None], y

    Xs, ys = draw(48, 20, 1.0)
    Xt, yt = draw(36, 50, 1.5)
    return Xs, ys, Xt, yt


def test_uint8_images_are_read_as_floats_in_unit_range(images):
    Xs, ys, Xt, _ = images
    uint8 = make("dann").fit(Xs, ys, Xt)
    floats = make("dann").fit(Xs / np.float32(255), ys, Xt / np.float32(255))
    np.testing.assert_array_equal(uint8.predict_proba(Xt), floats.predict_proba(Xt / np.float32(255)))
    # grey images without a channel axis: the network sees (n, 1, H, W), the same model
    grey = make("dann").fit(Xs[:, 0], ys, Xt[:, 0])
    np.testing.assert_array_equal(grey.predict_proba(Xt[:, 0]), uint8.predict_proba(Xt))
    assert uint8.input_shape_ == (1, 8, 8) and grey.input_shape_ == (8, 8)
    assert grey.network_input_shape_ == (1, 8, 8) and grey.n_features_in_ == 64 and grey.input_kind_ == "images"
    with pytest.raises(ValueError, match="shape"):
        grey.predict(Xt)  # (n, 1, 8, 8) is not the (8, 8) samples of the fit
    # the user's arrays are never modified
    assert Xs.dtype == np.uint8 and Xs.max() > 1


def test_images_of_another_dtype_on_the_255_scale_beside_uint8_images_are_named(images, tmp_path):
    """uint8 images are read as x / 255, any other dtype as given: an int or float copy of the same pixels beside
    uint8 images (the other domain at fit, the data at predict or partial_fit, the other array of pack_domains)
    gets a DataConversionWarning; images of another dtype in [0, 1] are the same data and pass silently."""
    from sklearn.exceptions import DataConversionWarning

    Xs, ys, Xt, _ = images
    with pytest.warns(DataConversionWarning, match=r"X_target holds images that are not uint8, read as given, with "
                                                   r"values in \[\d+, 255\], while X holds uint8 images"):
        make("dann").fit(Xs, ys, Xt.astype(np.int16))
    with pytest.warns(DataConversionWarning, match="X holds images that are not uint8"):
        make("dann").fit(Xs.astype(np.float32), ys, Xt)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataConversionWarning)
        make("dann").fit(Xs, ys, Xt / np.float32(255))  # the same pixels in [0, 1]: no warning
        clf = make("dann").fit(Xs, ys, Xt)
        scaled = clf.predict_proba(Xt / np.float32(255))
    assert clf.uint8_images_ and not make("dann").fit(Xs / np.float32(255), ys, Xt / np.float32(255)).uint8_images_
    mixed = make("dann").fit(Xs, ys, Xt / np.float32(255))  # uint8 in one domain: the network learns x / 255
    assert mixed.uint8_images_
    with pytest.warns(DataConversionWarning, match="X holds images .* while this estimator was fitted on uint8"):
        mixed.predict(Xt.astype(np.float32))
    np.testing.assert_array_equal(scaled, clf.predict_proba(Xt))
    for copy in (Xt.astype(np.int64), Xt.astype(np.float32)):
        with pytest.warns(DataConversionWarning, match="X holds images .* while this estimator was fitted on uint8"):
            clf.predict(copy)
    with warnings.catch_warnings():  # [0, 1] images with noise or interpolation overshoot are on the same scale
        warnings.simplefilter("error", DataConversionWarning)
        noisy = Xt / np.float32(255) + np.random.RandomState(0).normal(0, 0.02, Xt.shape).astype(np.float32)
        clf.predict(noisy)
    with pytest.warns(DataConversionWarning, match="X_target holds images .* fitted on uint8"):
        clf.partial_fit(Xs.astype(np.float32) / 255, ys, Xt.astype(np.float64), epochs=1)
    with pytest.warns(DataConversionWarning) as caught:  # uint8 beside a 0-255 copy: named once, not twice
        clf.partial_fit(Xs, ys, Xt.astype(np.float64), epochs=1)
    assert len([w for w in caught if issubclass(w.category, DataConversionWarning)]) == 1
    clf.save_params(f_params=tmp_path / "p.pt")
    loaded = make("dann").load_params(f_params=tmp_path / "p.pt")
    assert loaded.uint8_images_ is True
    with pytest.warns(DataConversionWarning, match="fitted on uint8"):
        loaded.predict(Xt.astype(np.int64))
    # a warm start continues the network that learnt x / 255: named as partial_fit names it, and still known after
    with pytest.warns(DataConversionWarning, match="X holds images .* fitted on uint8"):
        loaded.set_params(warm_start=True).fit(Xs.astype(np.float32), ys, Xt.astype(np.float32))
    assert loaded.uint8_images_
    # pack_domains reads the two arrays as fit does: the uint8 ones as x / 255
    with pytest.warns(DataConversionWarning, match="Xt holds images that are not uint8.* while Xs holds uint8"):
        pack_domains(Xs, ys, Xt.astype(np.float32))
    X, _ = pack_domains(Xs, ys, Xt / np.float32(255))
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, np.concatenate([Xs / np.float32(255), Xt / np.float32(255)]))


@pytest.mark.parametrize("name", ["dann", "madda", "active", "ilada"])
def test_streamed_and_device_paths_give_identical_predictions(images, name, monkeypatch):
    Xs, ys, Xt, _ = images
    monkeypatch.setattr(engine, "PREDICT_CHUNK_ROWS", 10)  # several prediction chunks, a padded last one
    device = make(name, data_placement="device").fit(Xs, ys, Xt)
    host = make(name, data_placement="host").fit(Xs, ys, Xt)
    assert device.data_placement_ == "device" and host.data_placement_ == "host"
    np.testing.assert_array_equal(device.predict_proba(Xt), host.predict_proba(Xt))
    np.testing.assert_array_equal(device.transform(Xs), host.transform(Xs))
    assert [h["train_loss"] for h in device.history] == [h["train_loss"] for h in host.history]
    if name == "active":
        np.testing.assert_array_equal(device.query(5), host.query(5))


@pytest.mark.parametrize("name", ["dann", "madda"])
def test_labelled_target_images_give_the_same_model_on_both_paths(images, name, monkeypatch):
    """A few labelled target images (``yt``): M-ADDA streams them with the source batches of both stages (never
    one by one through the row source's ``take`` in the training step) and indexes them with its target model;
    host and device paths agree."""
    Xs, ys, Xt, yt = images
    labels = np.full(len(yt), -1)
    labels[::6] = yt[::6]
    device = make(name, data_placement="device").fit(Xs, ys, Xt, labels)
    taken = []
    real_take = skda.images.HostRows.take

    def take(rows, indices, train=True):
        taken.append(train)
        return real_take(rows, indices, train)

    monkeypatch.setattr(skda.images.HostRows, "take", take)
    host = make(name, data_placement="host").fit(Xs, ys, Xt, labels)
    assert True not in taken  # training rows come through the DataLoader (``take`` only probes the input shape)
    np.testing.assert_array_equal(device.predict_proba(Xt), host.predict_proba(Xt))
    assert not np.array_equal(device.transform(Xt), make(name).fit(Xs, ys, Xt).transform(Xt))  # labels count
    if name == "madda":
        np.testing.assert_allclose(host.source_embeddings_[len(Xs):], host.transform(Xt[::6]), atol=1e-5)


def test_flat_rows_streamed_from_host_give_the_model_of_the_device_path(small_task):
    Xs, ys, Xt, _ = small_task
    params = dict(max_epochs=2, module__hidden_sizes=(8,), domain_hidden_sizes=(8,), random_state=0)
    device = skda.DANNClassifier(**params).fit(Xs, ys, Xt)
    host = skda.DANNClassifier(**params, data_placement="host").fit(Xs, ys, Xt)
    np.testing.assert_array_equal(device.predict_proba(Xt), host.predict_proba(Xt))
    assert device.data_placement_ == "device" and device.input_kind_ == "rows"


def _write_pngs(folder, images):
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{i:03d}.png"
        torchvision_io.write_png(torch.from_numpy(np.ascontiguousarray(image)), str(path))
        paths.append(str(path))
    return np.array(paths)


@pytest.fixture(scope="module")
def image_files(images, tmp_path_factory):
    Xs, ys, Xt, yt = images
    folder = tmp_path_factory.mktemp("png")
    (folder / "s").mkdir()
    (folder / "t").mkdir()
    return _write_pngs(folder / "s", Xs), ys, _write_pngs(folder / "t", Xt), yt


@needs_torchvision
def test_image_files_give_the_model_of_the_decoded_array(images, image_files):
    Xs, ys, Xt, _ = images
    Ps, _, Pt, _ = image_files
    arrays = make("dann").fit(Xs, ys, Xt)
    files = make("dann").fit(Ps, ys, list(Pt))  # a list of paths works too
    assert files.input_kind_ == "paths" and files.input_shape_ == (1, 8, 8) and files.data_placement_ == "host"
    np.testing.assert_array_equal(files.predict_proba(Pt), arrays.predict_proba(Xt))
    # a model fitted on files predicts decoded arrays, and the other way round
    np.testing.assert_array_equal(files.predict_proba(Xt), arrays.predict_proba(Pt))
    # DataLoader workers decode the same images
    workers = make("dann", num_workers=1).fit(Ps, ys, Pt)
    np.testing.assert_array_equal(workers.predict_proba(Pt), arrays.predict_proba(Xt))


@needs_torchvision
def test_every_file_reads_on_the_8_bit_colour_scale(images, tmp_path):
    """16-bit PNGs are scaled to 8 bits and alpha channels dropped, so a file reads as the same picture saved
    as 8-bit grey or RGB (estimators and ImageFeatures alike); EXIF orientation is applied."""
    from PIL import Image

    from skda.features import decode_images
    from skda.images import decode_image_file

    grey = images[0][0, 0]
    Image.fromarray(grey).save(tmp_path / "g8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    Image.fromarray(grey).convert("LA").save(tmp_path / "la.png")
    rgb = np.stack([grey, 255 - grey, grey // 2], axis=-1)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    eight = decode_image_file(str(tmp_path / "g8.png"))
    assert eight.dtype == torch.uint8 and eight.shape == (1, 8, 8)
    for name in ("g16", "la"):
        assert torch.equal(decode_image_file(str(tmp_path / f"{name}.png")), eight), name
    assert torch.equal(decode_image_file(str(tmp_path / "rgba.png")), decode_image_file(str(tmp_path / "rgb.png")))
    assert torch.equal(decode_images([str(tmp_path / "g16.png")], in_channels=1)[0], eight)
    clf = make("dann").fit(images[0], images[1], images[2])
    np.testing.assert_array_equal(clf.predict_proba([str(tmp_path / "g16.png")]),
                                  clf.predict_proba([str(tmp_path / "g8.png")]))
    wide = np.zeros((4, 8), dtype=np.uint8)
    wide[0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(wide).save(tmp_path / "turned.jpg", exif=exif, quality=100)
    assert decode_image_file(str(tmp_path / "turned.jpg")).shape == (1, 8, 4)
    assert decode_images([str(tmp_path / "turned.jpg")], in_channels=1)[0].shape == (1, 8, 4)
    for ext in ("gif", "webp"):  # decoders that ignore a colour mode: converted after decoding
        Image.fromarray(rgb).save(tmp_path / f"colour.{ext}")
        assert decode_images([str(tmp_path / f"colour.{ext}")], in_channels=1)[0].shape == (1, 8, 8)
        assert decode_images([str(tmp_path / f"colour.{ext}")], in_channels=3)[0].shape == (3, 8, 8)


@needs_torchvision
def test_a_cmyk_jpeg_reads_as_its_rgb_colours(tmp_path):
    """A CMYK JPEG's 4th channel is black (K), not alpha: read with the file's own channels it lost K and its
    C, M, Y passed for R, G, B (64 of 255 off on average, silently); it now reads as Pillow's RGB, as channels=3."""
    from PIL import Image

    from skda.images import decode_image_file

    cmyk = np.random.default_rng(0).integers(0, 255, (16, 16, 4), dtype=np.uint8)
    cmyk[..., 3] = 128
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    rgb = np.asarray(Image.open(tmp_path / "cmyk.jpg").convert("RGB")).transpose(2, 0, 1).astype(int)
    for channels in (None, 3):
        assert np.abs(decode_image_file(str(tmp_path / "cmyk.jpg"), channels).numpy().astype(int) - rgb).max() <= 1


@needs_torchvision
def test_palette_animated_and_turned_files_read_as_their_first_picture(tmp_path):
    """A palette PNG reads as its colours (not its palette indices), an animated GIF as its first frame, and the
    EXIF orientation of a WebP file is applied as Pillow's ``exif_transpose`` applies it, for all 8 values."""
    from PIL import Image, ImageOps

    from skda.images import decode_image_file

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).quantize(colors=16).save(tmp_path / "palette.png")
    as_rgb = np.asarray(Image.open(tmp_path / "palette.png").convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(decode_image_file(str(tmp_path / "palette.png")).numpy(), as_rgb)
    assert np.array_equal(decode_image_file(str(tmp_path / "palette.png"), channels=3).numpy(), as_rgb)
    frames = [Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    first = np.asarray(Image.open(tmp_path / "moving.gif").convert("RGB")).transpose(2, 0, 1)
    for channels in (None, 3):
        assert np.array_equal(decode_image_file(str(tmp_path / "moving.gif"), channels).numpy(), first)
    assert decode_image_file(str(tmp_path / "moving.gif"), 1).shape == (1, 6, 8)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(rgb).save(tmp_path / f"turned{orientation}.webp", exif=exif.tobytes(), lossless=True)
        shown = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / f"turned{orientation}.webp")).convert("RGB"))
        decoded = decode_image_file(str(tmp_path / f"turned{orientation}.webp"), channels=3).numpy()
        assert np.array_equal(decoded, shown.transpose(2, 0, 1)), orientation


@needs_torchvision
def test_a_failed_read_stops_the_dataloader_workers(images, image_files, tmp_path):
    """An unreadable file in a batch decoded by DataLoader workers: the error names it and the worker processes
    stop at once (not when the exception is garbage collected)."""
    import multiprocessing

    Ps, ys, Pt, _ = image_files
    clf = make("dann", num_workers=1).fit(Ps, ys, Pt)
    before = len(multiprocessing.active_children())
    with pytest.raises(Exception, match="missing.png") as caught:
        clf.predict_proba([*Pt, str(tmp_path / "missing.png")])
    assert caught.value is not None and len(multiprocessing.active_children()) == before


@pytest.mark.parametrize("augment,what", [(lambda image: image[:, :6, :6], r"float32 samples of shape \(1, 6, 6\)"),
                                          (lambda image: image.double(), r"float64 samples of shape \(1, 8, 8\)")])
def test_an_augment_that_changes_the_samples_is_named(images, augment, what):
    """An augment (or preprocess) that changes the sample shape or dtype during training: an error naming them and
    the network's input, not one from inside the network."""
    Xs, ys, Xt, _ = images
    with pytest.raises(ValueError, match=f"training batch after augment and preprocess holds torch.{what}"):
        make("dann", augment=augment).fit(Xs, ys, Xt)


@needs_torchvision
def test_a_pandas_series_of_paths_is_file_input(images, image_files):
    pd = pytest.importorskip("pandas")
    Ps, ys, Pt, _ = image_files
    files = make("dann").fit(pd.Series(Ps), ys, pd.Series(Pt))
    assert files.input_kind_ == "paths"
    np.testing.assert_array_equal(files.predict_proba(pd.Series(Pt)), make("dann").fit(Ps, ys, Pt).predict_proba(Pt))


@needs_torchvision
def test_image_files_in_the_packed_form_and_a_search(image_files):
    Ps, ys, Pt, yt = image_files
    X, y = pack_domains(Ps, ys, Pt)
    search = GridSearchCV(make("dann", max_epochs=1), {"lr": [0.01, 0.02]}, cv=DomainStratifiedKFold(2),
                          scoring=labelled_scorer("accuracy"))
    search.fit(X, y)
    assert search.best_estimator_.predict(Pt).shape == (len(Pt),)
    assert 0 <= search.best_estimator_.score(Pt, yt) <= 1


@needs_torchvision
def test_active_selector_queries_a_pool_of_files(image_files):
    Ps, ys, Pt, _ = image_files
    selector = make("active").fit(Ps, ys, Pt)
    picked = selector.query(4)
    assert len(set(picked.tolist())) == 4 and selector.pool_.dtype == object
    among = selector.query(4, candidates=np.arange(10))
    assert set(among.tolist()) <= set(range(10)) and len(set(among.tolist())) == 4
    scores = selector.informativeness(Pt[:6])
    np.testing.assert_allclose(selector.query(2, candidates=Pt[:6], return_scores=True)[1],
                               np.sort(scores)[::-1][:2])


@needs_torchvision
def test_file_errors_name_the_file_and_the_fix(image_files, tmp_path):
    Ps, ys, Pt, _ = image_files
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.png"):
        make("dann").fit(np.r_[Ps[:-1], [str(broken)]], ys, Pt)
    big = _write_pngs(tmp_path, np.zeros((1, 1, 10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="different shapes.*preprocess"):
        make("dann").fit(np.r_[Ps[:-1], big], ys, Pt)
    with pytest.raises(ValueError, match="data_placement='device' cannot hold image files"):
        make("dann", data_placement="device").fit(Ps, ys, Pt)
    with pytest.raises(ValueError, match="both be image file paths or both arrays"):
        make("dann").fit(Ps, ys, np.zeros((len(Pt), 1, 8, 8), dtype=np.uint8))


def test_strings_given_to_an_estimator_fitted_on_rows_are_not_opened_as_files(small_task):
    """A 1-D array of numbers as text (a CSV column read as strings) is refused as what it is for an estimator
    fitted on flat rows, not read as image file paths ("cannot read the image file '-1.05'"). (An estimator fitted
    on image arrays takes image files: test_image_files_give_the_model_of_the_decoded_array.)"""
    Xs, ys, Xt, _ = small_task
    rows = skda.SourceOnlyClassifier(max_epochs=1, random_state=0).fit(Xs[:, :1], ys, Xt[:, :1])
    with pytest.raises(ValueError, match=r"X is a 1-D list or array of strings, which skda reads as image file paths, "
                                         r"but this estimator was fitted on flat rows of shape \(1,\): pass X as an "
                                         r"array of shape \(n_samples, 1\)"):
        rows.predict(np.array(["-1.05", "0.3"]))


@pytest.mark.parametrize("param,value", [("data_placement", "gpu"), ("num_workers", -1), ("augment", 3),
                                         ("preprocess", "resize"), ("precision", "float16")])
def test_bad_image_parameters_are_refused_by_name(images, param, value):
    Xs, ys, Xt, _ = images
    with pytest.raises(InvalidParameterError, match=param):
        make("dann", **{param: value}).fit(Xs, ys, Xt)


@needs_torchvision
def test_preprocess_is_applied_in_training_and_prediction(images):
    Xs, ys, Xt, _ = images
    resize = v2.Resize((12, 12), antialias=True)
    clf = make("dann", preprocess=resize).fit(Xs, ys, Xt)
    assert clf.input_shape_ == (1, 8, 8) and clf.network_input_shape_ == (1, 12, 12)
    assert clf.module_.feature_extractor.image_shape == (1, 12, 12)  # LeNet sized for the network's input
    # image networks and batches are channels-last (faster convolutions, docs/images.md)
    assert clf.module_.feature_extractor.conv[0].weight.is_contiguous(memory_format=torch.channels_last)
    # prediction preprocesses too: the same as a model given the resized images themselves, without preprocess
    resized = resize(torch.from_numpy(Xs / np.float32(255))).numpy()
    plain = make("dann").fit(resized, ys, resize(torch.from_numpy(Xt / np.float32(255))).numpy())
    np.testing.assert_allclose(clf.predict_proba(Xt),
                               plain.predict_proba(resize(torch.from_numpy(Xt / np.float32(255))).numpy()),
                               rtol=1e-5, atol=1e-6)


@needs_torchvision
def test_augmentation_is_seeded_and_changes_the_training(images, image_files):
    Xs, ys, Xt, _ = images
    augment = v2.RandomAffine(degrees=15, translate=(0.15, 0.15))
    first = make("dann", augment=augment).fit(Xs, ys, Xt)
    again = clone(make("dann", augment=augment)).fit(Xs, ys, Xt)  # clone copies the transform
    plain = make("dann").fit(Xs, ys, Xt)
    np.testing.assert_array_equal(first.predict_proba(Xt), again.predict_proba(Xt))
    assert not np.array_equal(first.predict_proba(Xt), plain.predict_proba(Xt))
    # host placement and files (augmented in the workers) are repeatable too
    Ps, _, Pt, _ = image_files
    for params in (dict(data_placement="host"), dict(num_workers=1)):
        X, T = (Ps, Pt) if "num_workers" in params else (Xs, Xt)
        a = make("dann", augment=augment, **params).fit(X, ys, T)
        b = make("dann", augment=augment, **params).fit(X, ys, T)
        np.testing.assert_array_equal(a.predict_proba(T), b.predict_proba(T))


def test_augmentation_draws_per_image(images):
    """Each image of a batch gets its own random transform (a v2 transform on a whole batch tensor draws one)."""
    Xs, ys, Xt, _ = images
    seen = []

    def record(image):
        seen.append(image.shape)
        return image

    make("dann", augment=record, max_epochs=1).fit(Xs, ys, Xt)
    assert seen and all(shape == (1, 8, 8) for shape in seen)
    assert len(seen) == 2 * 48  # one epoch: 48 source and 48 (recycled) target images


@needs_torchvision
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_batch_random_affine_equals_torchvision_affine_per_image(interpolation):
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    rng = np.random.RandomState(0)
    images = torch.as_tensor(rng.rand(5, 3, 12, 17).astype(np.float32))
    angle = torch.tensor([0.0, 10.0, -7.5, 33.0, 90.0])
    translation = torch.tensor([[0.0, 0.0], [1.0, -2.0], [3.0, 0.0], [-1.0, 1.0], [0.0, 2.0]])
    scale = torch.tensor([1.0, 0.9, 1.1, 1.0, 0.75])
    got = skda.images.BatchRandomAffine(10, interpolation=interpolation).apply(images, angle, translation, scale)
    mode = InterpolationMode.NEAREST if interpolation == "nearest" else InterpolationMode.BILINEAR
    for i in range(len(images)):
        expected = TF.affine(images[i], angle=float(angle[i]), translate=translation[i].tolist(),
                             scale=float(scale[i]), shear=[0.0, 0.0], interpolation=mode)
        np.testing.assert_allclose(got[i].numpy(), expected.numpy(), atol=1e-5)


def test_batch_random_affine_draws_in_range_per_image_and_from_the_seed():
    transform = skda.images.BatchRandomAffine(degrees=(-5, 20), translate=(0.1, 0.25), scale=(0.8, 1.2))
    torch.manual_seed(0)
    angle, translation, scale = transform.sample(2000, height=16, width=30)
    assert angle.min() >= -5 and angle.max() <= 20 and angle.std() > 5
    assert scale.min() >= 0.8 and scale.max() <= 1.2
    np.testing.assert_array_equal(translation, translation.round())
    assert translation[:, 0].abs().max() == 3 and translation[:, 1].abs().max() == 4  # 0.1 * 30, 0.25 * 16
    # identical images in one batch get different transforms; the same seed gives the same batch
    batch = torch.rand(1, 1, 16, 16).expand(8, 1, 16, 16)
    torch.manual_seed(1)
    out = transform(batch)
    assert len({tuple(image.flatten().tolist()) for image in out}) == 8
    torch.manual_seed(1)
    np.testing.assert_array_equal(transform(batch), out)
    assert transform(batch[0]).shape == (1, 16, 16)  # a single image (file workers)
    identity = skda.images.BatchRandomAffine(0)
    np.testing.assert_array_equal(identity(batch), batch)
    # half precision: computed in float32, returned in the images' dtype (was: NaN and moved pixels at 300 x 301)
    large = torch.rand(1, 1, 300, 301)
    for dtype in (torch.bfloat16, torch.float16):
        out = identity(large.to(dtype))
        assert out.dtype == dtype
        torch.testing.assert_close(out, large.to(dtype), rtol=0, atol=0)
    assert skda.images.BatchRandomAffine(np.float32(5)).degrees == (-5.0, 5.0)  # numpy numbers


@pytest.mark.parametrize("kwargs, message", [
    (dict(degrees=-1), "degrees must be non-negative"),
    (dict(degrees=(5, 1)), "degrees must be a finite number or a pair"),
    (dict(degrees=float("inf")), "degrees must be a finite number or a pair"),
    (dict(degrees=float("nan")), "degrees must be non-negative"),
    (dict(degrees=0, translate=(0.1, 2)), "translate must be a pair of fractions"),
    (dict(degrees=0, translate=0.1), "translate must be a pair of fractions"),
    (dict(degrees=0, scale=(0, 1)), "scale must be a pair"),
    (dict(degrees=0, scale=(1, float("inf"))), "scale must be a pair .* of finite positive numbers"),
    (dict(degrees=0, interpolation="cubic"), "interpolation must be 'nearest' or 'bilinear'")])
def test_batch_random_affine_refuses_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        skda.images.BatchRandomAffine(**kwargs)


def test_a_batched_augment_is_called_once_per_batch(images):
    """``augment.batched`` true: one call per training batch of each domain, not one per image; seeded fits repeat."""
    Xs, ys, Xt, _ = images
    calls = []

    class Recorder(skda.images.BatchRandomAffine):
        def forward(self, batch):
            calls.append(tuple(batch.shape))
            return super().forward(batch)

    augment = Recorder(degrees=10, translate=(0.1, 0.1))
    first = make("dann", augment=augment).fit(Xs, ys, Xt)
    assert calls == [(16, 1, 8, 8)] * 12  # 2 epochs of 3 steps, 16 source + 16 target images each
    again = clone(make("dann", augment=augment)).fit(Xs, ys, Xt)  # clone copies the transform
    np.testing.assert_array_equal(first.predict_proba(Xt), again.predict_proba(Xt))
    plain = make("dann").fit(Xs, ys, Xt)
    assert not np.array_equal(first.predict_proba(Xt), plain.predict_proba(Xt))


def test_bfloat16_autocast_on_cpu_trains_and_predicts_float(images):
    Xs, ys, Xt, yt = images
    clf = make("dann", precision="bfloat16", max_epochs=3).fit(Xs, ys, Xt)
    proba = clf.predict_proba(Xt)
    assert proba.dtype == np.float64 and np.allclose(proba.sum(1), 1)
    assert clf.transform(Xt).dtype == np.float32
    madda = make("madda", precision="bfloat16").fit(Xs, ys, Xt)
    assert madda.predict(Xt).shape == (len(Xt),)


@needs_torchvision
@pytest.mark.parametrize("placement", ["device", "host", "files"])
def test_batches_are_prepared_in_float32_under_a_bfloat16_autocast(images, image_files, placement):
    """Augmentation and preprocessing give the same batch inside a caller's bfloat16 autocast (prediction chunks
    and M-ADDA's labelled target rows are prepared there) as outside it (training batches): a RandomAffine would
    otherwise compute its sampling grid in bfloat16 and distort the images."""
    from skda.images import make_row_source
    Xs = np.asarray(image_files[0], dtype=object) if placement == "files" else images[0]
    rows = make_row_source(Xs, device=torch.device("cpu"), placement="host" if placement == "files" else placement,
                           augment=v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                           preprocess=v2.Normalize([0.5], [0.25]))
    index = torch.arange(8)
    torch.manual_seed(0)
    plain = rows.take(index)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = rows.take(index)
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, plain, rtol=0, atol=0)
    assert len(torch.unique(inside)) > 20  # a float image, not one rounded to a few levels


def test_images_with_train_split_and_persistence(images, tmp_path):
    from skorch.dataset import ValidSplit

    Xs, ys, Xt, _ = images
    device = make("dann", train_split=ValidSplit(4, stratified=True), data_placement="device").fit(Xs, ys, Xt)
    host = make("dann", train_split=ValidSplit(4, stratified=True), data_placement="host").fit(Xs, ys, Xt)
    assert device.history[-1]["valid_accuracy"] == host.history[-1]["valid_accuracy"]
    device.save_params(f_params=tmp_path / "p.pt")
    loaded = make("dann", train_split=ValidSplit(4, stratified=True)).load_params(f_params=tmp_path / "p.pt")
    assert loaded.network_input_shape_ == (1, 8, 8) and loaded.input_kind_ == "images"
    np.testing.assert_array_equal(loaded.predict_proba(Xt), device.predict_proba(Xt))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_channels_last_and_bfloat16(images):
    Xs, ys, Xt, yt = images
    clf = make("dann", device="cuda", precision="bfloat16").fit(Xs, ys, Xt)
    conv = clf.module_.feature_extractor.conv[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    host = make("dann", device="cuda", data_placement="host").fit(Xs, ys, Xt)
    assert host.predict(Xt).shape == (len(Xt),)


@needs_torchvision
def test_transforms_as_parameters_work_with_scikit_learn_tools(images):
    """torchvision transforms have a static get_params of their own: get_params(deep=True), clone, set_params and a
    search over another parameter keep working, and the estimator keeps its transform objects."""
    Xs, ys, Xt, _ = images
    augment, resize = v2.RandomAffine(degrees=5), v2.Resize((10, 10), antialias=True)
    clf = make("dann", augment=augment, preprocess=resize, max_epochs=1)
    params = clf.get_params(deep=True)
    assert params["augment"] is augment and params["preprocess"] is resize and clf.augment is augment
    copy = clone(clf)
    assert isinstance(copy.augment, v2.RandomAffine) and copy.augment is not augment
    copy.set_params(augment=None)
    assert copy.augment is None and clf.augment is augment
    X, y = pack_domains(Xs, ys, Xt)
    GridSearchCV(clf, {"lr": [0.01, 0.02]}, cv=DomainStratifiedKFold(2), scoring=labelled_scorer("accuracy")).fit(X, y)


def test_image_files_without_torchvision_name_the_install_command(images, monkeypatch):
    Xs, ys, Xt, _ = images
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision now raises ImportError
    paths = np.array([f"/nonexistent/{i}.png" for i in range(len(ys))])
    with pytest.raises(ImportError, match=r"pip install skda\[vision\]"):
        make("dann").fit(paths, ys, paths[:10])
    # image arrays need no torchvision
    assert make("dann", max_epochs=1).fit(Xs, ys, Xt).predict(Xt).shape == (len(Xt),)


def test_partial_fit_on_images_streams_like_the_device_path(images):
    Xs, ys, Xt, yt = images
    known = np.full(len(yt), -1)
    known[:6] = yt[:6]
    selectors = []
    for placement in ("device", "host"):
        selector = make("active", data_placement=placement, max_epochs=1).fit(Xs, ys, Xt)
        selectors.append(selector.partial_fit(Xs, ys, Xt, yt=known, epochs=1))
    np.testing.assert_array_equal(selectors[0].query(5), selectors[1].query(5))
    with pytest.raises(ValueError, match="shape"):
        selectors[0].partial_fit(Xs[:, :, :4], ys, Xt[:, :, :4], epochs=1)


def _double(batch):
    return batch * 2


def test_preprocess_on_flat_rows_is_applied_in_training_and_prediction(small_task):
    Xs, ys, Xt, _ = small_task
    params = dict(max_epochs=2, module__hidden_sizes=(8,), domain_hidden_sizes=(8,), random_state=0)
    with_preprocess = skda.DANNClassifier(**params, preprocess=_double).fit(Xs, ys, Xt)
    on_doubled = skda.DANNClassifier(**params).fit(2 * Xs, ys, 2 * Xt)
    np.testing.assert_allclose(with_preprocess.predict_proba(Xt), on_doubled.predict_proba(2 * Xt), rtol=1e-6)
    assert with_preprocess.input_kind_ == "rows" and with_preprocess.n_features_in_ == Xs.shape[1]
    # the network was trained on doubled rows: partial_fit does not continue it with another preprocess (it did)
    with_preprocess.set_params(preprocess=None)
    with pytest.raises(ValueError, match=r"\['preprocess'\] changed since the network was built"):
        with_preprocess.partial_fit(Xs, ys, Xt)
    with_preprocess.set_params(preprocess=_double)
    with_preprocess.partial_fit(Xs, ys, Xt)  # the one it was trained with: continues


@needs_torchvision
def test_a_pickled_or_copied_estimator_continues_with_its_preprocess_object(images):
    """A transform object without == (v2.Normalize) through a pickle or a deep copy: partial_fit continues (it was
    refused as "['preprocess'] changed": skorch pickles the network's build record apart from the parameter)."""
    import copy
    import pickle

    Xs, ys, Xt, _ = images
    normalised = make("dann", preprocess=v2.Normalize([0.5], [0.25])).fit(Xs, ys, Xt)
    for twin in (pickle.loads(pickle.dumps(normalised)), copy.deepcopy(normalised)):
        twin.partial_fit(Xs, ys, Xt, epochs=1)
    other = pickle.loads(pickle.dumps(normalised)).set_params(preprocess=v2.Normalize([0.5], [0.5]))
    with pytest.raises(ValueError, match=r"\['preprocess'\] changed"):
        other.partial_fit(Xs, ys, Xt, epochs=1)


@needs_torchvision
def test_images_of_another_size_go_through_a_resizing_preprocess_as_files_do(images, tmp_path):
    """A model fitted on 8x8 arrays with a Resize preprocess predicts 12x12 arrays as it predicts the same images
    as files (the arrays were refused for their size while the files were taken); another channel count is
    refused."""
    Xs, ys, Xt, _ = images
    model = make("dann", preprocess=v2.Resize((10, 10), antialias=True)).fit(Xs, ys, Xt)
    bigger = np.repeat(np.repeat(Xt[:6], 2, axis=2), 2, axis=3)[:, :, :12, :12]
    np.testing.assert_allclose(model.predict_proba(bigger), model.predict_proba(_write_pngs(tmp_path, bigger)),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"has samples of shape \(3, 12, 12\), but DANNClassifier was fitted on "
                                         r"images of shape \(1, 8, 8\)"):
        model.predict(np.repeat(bigger, 3, axis=1))
