"""skda.nets.TorchvisionBackbone: torchvision classification architectures as skda feature extractors."""

from __future__ import annotations

import sys
import urllib.request

import numpy as np
import pytest
import torch
from sklearn.base import clone

import skda
from tests.registry import ESTIMATORS, NAMES

torchvision = pytest.importorskip("torchvision")
from torchvision import models  # noqa: E402

from skda.nets import TorchvisionBackbone, adapt_input_channels  # noqa: E402


def seeded_model(name, seed=0, **kwargs):
    torch.manual_seed(seed)
    return models.get_model(name, weights=None, **kwargs).eval()


@pytest.mark.parametrize("name,head", [("resnet18", "fc"), ("efficientnet_b0", "classifier.1"),
                                       ("mobilenet_v3_small", "classifier.3"), ("convnext_tiny", "classifier.2"),
                                       ("densenet121", "classifier")])
def test_head_removed_features_feed_the_original_classifier(tmp_path, name, head):
    """Loaded from a state_dict file, the backbone's features passed through the architecture's own last layer
    give exactly the full model's logits: the classifier's last layer, and nothing else, was removed."""
    full = seeded_model(name)
    torch.save(full.state_dict(), tmp_path / "w.pth")
    backbone = TorchvisionBackbone(name, weights=tmp_path / "w.pth").eval()
    assert backbone.head_name == head
    assert backbone.weights_name == str(tmp_path / "w.pth")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        features = backbone(x)
        assert features.shape == (2, backbone.out_features)
        torch.testing.assert_close(full.get_submodule(head)(features), full(x), rtol=1e-4, atol=1e-4)


def test_convolutional_head_removed():
    """squeezenet's classifier is a 1x1 convolution (then ReLU and pooling): it is replaced, 512 channels out."""
    backbone = TorchvisionBackbone("squeezenet1_1").eval()
    assert backbone.head_name == "classifier.1" and backbone.out_features == 512
    assert backbone(torch.rand(2, 3, 64, 64)).shape == (2, 512)


def test_grey_input_adapts_the_first_convolution(tmp_path):
    """in_channels=1 sums the RGB kernels of the first convolution: a grey image gives exactly the features of the
    same image copied into three channels, pretrained weights included; other counts keep that property."""
    torch.save(seeded_model("resnet18").state_dict(), tmp_path / "w.pth")
    rgb = TorchvisionBackbone("resnet18", weights=tmp_path / "w.pth").eval()
    grey = TorchvisionBackbone("resnet18", weights=tmp_path / "w.pth", in_channels=1).eval()
    assert grey.model.conv1.in_channels == 1
    torch.testing.assert_close(grey.model.conv1.weight, rgb.model.conv1.weight.sum(1, keepdim=True))
    # a numpy int (e.g. from a parameter grid) is taken as the int it holds
    grey_np = TorchvisionBackbone("resnet18", weights=tmp_path / "w.pth", in_channels=np.int64(1)).eval()
    assert type(grey_np.in_channels) is int and grey_np.model.conv1.in_channels == 1
    torch.testing.assert_close(grey_np.model.conv1.weight, grey.model.conv1.weight)
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grey(x[:, 0]), grey(x))  # (n, H, W) is taken as one channel
    conv = rgb.model.conv1
    same = torch.rand(1, 1, 16, 16)
    for channels in (2, 5, 6):
        adapted = adapt_input_channels(conv, channels)
        torch.testing.assert_close(adapted(same.expand(-1, channels, -1, -1)), conv(same.expand(-1, 3, -1, -1)),
                                   rtol=1e-4, atol=1e-5)
    six = adapt_input_channels(conv, 6)  # a multiple of 3: the RGB kernels twice, halved
    torch.testing.assert_close(six.weight[:, 3:], conv.weight / 2)


def test_random_init_is_the_architectures_and_seeded():
    torch.manual_seed(3)
    a = TorchvisionBackbone("resnet18")
    torch.manual_seed(3)
    b = TorchvisionBackbone("resnet18")
    assert a.weights_name is None and a.out_features == 512
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, msg=name)


def test_weights_from_a_prepopulated_hub_cache_without_network(tmp_path, monkeypatch):
    """A weights name loads from $TORCH_HOME/hub/checkpoints/<the file name of the weights' URL> with every
    download path disabled; without the file the error says where to put it."""
    def no_network(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = models.ResNet18_Weights.IMAGENET1K_V1
    with pytest.raises(OSError, match=r"Offline, put the file 'resnet18-f37072fd\.pth' at .*torch.hub.checkpoints"):
        TorchvisionBackbone("resnet18", weights="ResNet18_Weights.IMAGENET1K_V1")
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True, exist_ok=True)  # the failed load above made it
    full = seeded_model("resnet18", seed=5)
    torch.save(full.state_dict(), cache / weights.url.rsplit("/", 1)[-1])
    x = torch.rand(2, 3, 32, 32)
    for spelling in ("ResNet18_Weights.IMAGENET1K_V1", "IMAGENET1K_V1", "DEFAULT", weights):
        backbone = TorchvisionBackbone("resnet18", weights=spelling).eval()
        assert backbone.weights_name == "ResNet18_Weights.IMAGENET1K_V1"
        with torch.no_grad():
            torch.testing.assert_close(full.fc(backbone(x)), full(x), rtol=1e-4, atol=1e-4)


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"'resnet19' is not a torchvision classification architecture\. "
                                         r"Did you mean 'resnet18'"):
        TorchvisionBackbone("resnet19")
    with pytest.raises(ValueError, match=r"'ResNet50_Weights.IMAGENET1K_V1' do not belong to the architecture "
                                         r"'resnet18': the weights of 'resnet18' are "
                                         r"\['ResNet18_Weights.IMAGENET1K_V1'\]"):
        TorchvisionBackbone("resnet18", weights="ResNet50_Weights.IMAGENET1K_V1")
    with pytest.raises(ValueError, match="'IMAGENET1K_V9' are not weights of 'resnet18'"):
        TorchvisionBackbone("resnet18", weights="IMAGENET1K_V9")
    with pytest.raises(ValueError, match="are not weights of 'resnet18'"):
        TorchvisionBackbone("resnet18", weights=models.ResNet50_Weights.IMAGENET1K_V1)
    with pytest.raises(FileNotFoundError, match="no such state_dict file"):
        TorchvisionBackbone("resnet18", weights=str(tmp_path / "missing.pth"))
    torch.save(seeded_model("resnet34").state_dict(), tmp_path / "r34.pth")
    with pytest.raises(ValueError, match=r"does not fit this architecture: missing \[\], unexpected \['layer1.2"):
        TorchvisionBackbone("resnet18", weights=tmp_path / "r34.pth")
    torch.save({"not": "tensors"}, tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="does not hold a state_dict"):
        TorchvisionBackbone("resnet18", weights=tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="in_channels must be an int >= 1"):
        TorchvisionBackbone("resnet18", in_channels=0)
    with pytest.raises(ValueError, match=r"takes images \(n, 3, H, W\), got shape \(2, 1, 8, 8\)"):
        TorchvisionBackbone("resnet18")(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="767 values per sample do not make images of shape"):
        TorchvisionBackbone("resnet18", image_shape=(3, 16, 16), n_features_in=767)


def test_state_dict_of_another_head_and_of_a_backbone_loads(tmp_path):
    """A file from a model with another number of classes (its classifier is dropped) and a file saved from a
    TorchvisionBackbone (keys under ``model.``) both load."""
    ten = seeded_model("resnet18", num_classes=10)
    torch.save(ten.state_dict(), tmp_path / "ten.pth")
    backbone = TorchvisionBackbone("resnet18", weights=tmp_path / "ten.pth").eval()
    torch.save(backbone.state_dict(), tmp_path / "backbone.pth")
    again = TorchvisionBackbone("resnet18", weights=tmp_path / "backbone.pth").eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ten.fc(backbone(x)), ten(x), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(again(x), backbone(x))
    # a grey backbone's file (first convolution already one channel) loads into a grey backbone as it is
    grey = TorchvisionBackbone("resnet18", weights=tmp_path / "ten.pth", in_channels=1).eval()
    torch.save(grey.state_dict(), tmp_path / "grey.pth")
    grey_again = TorchvisionBackbone("resnet18", weights=tmp_path / "grey.pth", in_channels=1).eval()
    with torch.no_grad():
        torch.testing.assert_close(grey_again(x[:, :1]), grey(x[:, :1]))


def tiny_images(n=8, seed=0):
    rng = np.random.RandomState(seed)
    ys = np.arange(n) % 2
    Xs = (rng.rand(n, 1, 16, 16) + ys[:, None, None, None]).astype(np.float32)
    Xt = (rng.rand(n, 1, 16, 16) + 0.3 + (np.arange(n) % 2)[:, None, None, None]).astype(np.float32)
    return Xs, ys, Xt


def backbone_estimator(name, **overrides):
    params = {**ESTIMATORS[name].params, "module": TorchvisionBackbone, "module__name": "resnet18",
              "module__in_channels": 1, "max_epochs": 1, "batch_size": 4, "random_state": 0, **overrides}
    if name == "madda":
        params.update(source_epochs=1, n_neighbors=1)
    return ESTIMATORS[name].cls(**params)


@pytest.mark.parametrize("name", NAMES)
def test_resnet18_trains_through_every_estimator(name):
    """A random-init resnet18 with in_channels=1 trains on (n, 1, 16, 16) images through every estimator (and
    ActiveSelector queries with it); its parameters reach the network through module__* routing."""
    Xs, ys, Xt = tiny_images()
    clf = backbone_estimator(name).fit(Xs, ys, Xt)
    network = clf.module_
    backbones = [m for m in network.modules() if isinstance(m, TorchvisionBackbone)]
    assert backbones and all(b.name == "resnet18" and b.in_channels == 1 for b in backbones)
    assert clf.predict(Xt).shape == (len(Xt),)
    assert clf.transform(Xt).shape[0] == len(Xt)
    assert np.isfinite(clf.predict_proba(Xt)).all()
    if name == "active":
        assert len(clf.query(2)) == 2
    twin = clone(clf)
    assert twin.get_params()["module__name"] == "resnet18" and twin.get_params()["module__in_channels"] == 1


def test_flat_rows_with_image_shape_in_a_pipeline():
    """image_shape reshapes flat rows, so the backbone sits behind a StandardScaler in a Pipeline (packed form)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xs, ys, Xt = tiny_images()
    X = np.concatenate([Xs, Xt]).reshape(16, -1)
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    pipe = make_pipeline(StandardScaler(), skda.DANNClassifier(
        module=TorchvisionBackbone, module__name="resnet18", module__in_channels=1, module__image_shape=(1, 16, 16),
        domain_hidden_sizes=(8,), max_epochs=1, batch_size=4, random_state=0))
    pipe.fit(X, y)
    assert pipe.predict(X[8:]).shape == (8,)
    with pytest.raises(ValueError, match="do not make images of shape"):
        skda.DANNClassifier(module=TorchvisionBackbone, module__name="resnet18", module__in_channels=1,
                            module__image_shape=(1, 8, 8), max_epochs=1).fit(X, y)


def test_without_torchvision_every_image_feature_says_how_to_install(monkeypatch, tmp_path):
    """torchvision stays optional for users: without it, each image feature fails with the install command."""
    from skda.features import ImageFeatures, decode_images
    from skda.nets import classification_architectures

    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` raises ImportError
    calls = [lambda: TorchvisionBackbone("resnet18"), lambda: ImageFeatures("resnet18").fit(),
             classification_architectures, lambda: decode_images([str(tmp_path / "a.png")]),
             lambda: skda.DANNClassifier(module=TorchvisionBackbone, module__name="resnet18", max_epochs=1).fit(
                 *tiny_images()[:2], tiny_images()[2])]
    for call in calls:
        with pytest.raises(ImportError, match=r"pip install skda\[vision\]"):
            call()


def test_saved_and_pickled_estimator_with_a_backbone(tmp_path):
    """save_params / load_params into an unfitted estimator and pickling keep a backbone estimator's predictions."""
    import pickle

    Xs, ys, Xt = tiny_images()
    clf = backbone_estimator("dann").fit(Xs, ys, Xt)
    clf.save_params(f_params=tmp_path / "params.pt")
    restored = backbone_estimator("dann").load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(restored.predict_proba(Xt), clf.predict_proba(Xt))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(Xt), clf.predict_proba(Xt))


def test_images_with_other_channels_than_in_channels_name_the_setting():
    pytest.importorskip("torchvision")
    from skda.nets import TorchvisionBackbone

    with pytest.raises(ValueError, match=r"The images have 1 channel\(s\): set in_channels=1 \(module__in_channels=1 "
                                         r"in an estimator"):
        TorchvisionBackbone("resnet18", image_shape=(1, 16, 16))


def test_channels_last_images_are_told_to_transpose_not_to_set_their_height_as_channels():
    """(n, H, W, 3) images: the hint was in_channels=H, which then trained on rows as channels, silently."""
    pytest.importorskip("torchvision")
    import skda

    X = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"channels-last \(3 channels on the last axis\): transpose them to "
                                         r"channels-first, X.transpose\(0, 3, 1, 2\)") as caught:
        skda.SourceOnlyClassifier(module=TorchvisionBackbone, module__name="resnet18", max_epochs=1,
                                  batch_size=4).fit(X, np.arange(8) % 2)
    assert "in_channels=32" not in str(caught.value)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # LeNet's layer sizes from 3-pixel rows
def test_a_network_failing_on_channels_last_images_is_told_to_transpose():
    import skda

    X = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"the images look channels-last, 3 channels on the last axis: skda takes "
                                         r"\(n, C, H, W\), X.transpose\(0, 3, 1, 2\)"):
        skda.SourceOnlyClassifier(module=skda.LeNetFeatureExtractor, max_epochs=1, batch_size=4).fit(
            X, np.arange(8) % 2)


@pytest.mark.parametrize("name,weights_name,size", [("googlenet", "GoogLeNet_Weights.IMAGENET1K_V1", 64),
                                                    ("inception_v3", "Inception_V3_Weights.IMAGENET1K_V1", 80)])
def test_googlenet_and_inception_weights_from_a_file_equal_the_weights_by_name(tmp_path, monkeypatch, name,
                                                                               weights_name, size):
    """torchvision builds googlenet / inception_v3 with its weights with transform_input on: the same weights from
    a state_dict file (the offline route) give the same features (they skipped it before); in_channels other than
    3 is refused with the remedy (an IndexError in the first forward before)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = models.get_weight(weights_name)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    saved = models.get_model(name, weights=None, aux_logits=True, init_weights=True).state_dict()
    torch.save(saved, cache / weights.url.rsplit("/", 1)[-1])  # a pre-filled cache: no download
    torch.save(saved, tmp_path / "file.pth")
    by_name = TorchvisionBackbone(name, weights=weights_name).eval()
    from_file = TorchvisionBackbone(name, weights=tmp_path / "file.pth").eval()
    assert by_name.model.transform_input and from_file.model.transform_input
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(from_file(x), by_name(x))
    for source in (weights_name, tmp_path / "file.pth"):
        with pytest.raises(ValueError, match=rf"{name} with torchvision's transform_input .* in_channels=1 cannot be "
                                             r"adapted: use in_channels=3 .* X.repeat\(3, axis=1\)"):
            TorchvisionBackbone(name, weights=source, in_channels=1)
    # random init: no transform_input, any channel count; its saves load with transform_input=False (the same
    # features), a grey save (first convolution of one channel) as it is
    torch.manual_seed(1)
    random_init = TorchvisionBackbone(name).eval()
    torch.save(random_init.state_dict(), tmp_path / "random.pth")
    reloaded = TorchvisionBackbone(name, weights=tmp_path / "random.pth", transform_input=False).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), random_init(x))
    grey = TorchvisionBackbone(name, in_channels=1)
    torch.save(grey.state_dict(), tmp_path / "grey.pth")
    assert not TorchvisionBackbone(name, weights=tmp_path / "grey.pth", in_channels=1).model.transform_input
    with pytest.raises(ValueError, match="transform_input applies to googlenet and inception_v3 only"):
        TorchvisionBackbone("resnet18", transform_input=True)
