"""Image features from a torchvision backbone, as a scikit-learn transformer: the "precomputed features" workflow.

    make_pipeline(ImageFeatures("resnet50", weights="DEFAULT", preprocess="weights"), StandardScaler(),
                  skda.DANNClassifier())

torchvision is an optional dependency (``pip install skda[vision]``), imported when the transformer is fitted.
"""

from __future__ import annotations


import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import TransformerTags

from .images import (check_image_input, decode_image_file, float_image_batch, images_as_float, is_path_array,
                     ordered_batches)
from .nets import TorchvisionBackbone, _is_state_dict_path, resolve_torchvision_weights
from .params import check_parameters, choices, count, device_constraint
from .runtime import check_device_available, resolve_device, seeded

__all__ = ["ImageFeatures", "decode_images"]


def decode_images(paths, in_channels: int = 3) -> list[torch.Tensor]:
    """Decode image files into uint8 tensors ``(in_channels, H, W)`` (grey for one channel, RGB for three; EXIF
    orientation applied; 16-bit files scaled to 8 bits): :func:`skda.images.decode_image_file`. A file that cannot
    be read or decoded raises ``ValueError`` naming it."""
    if in_channels not in (1, 3):
        raise ValueError(f"image files decode to 1 (grey) or 3 (RGB) channels; in_channels={in_channels}.")
    return [decode_image_file(path, in_channels) for path in paths]


class _DecodedBatches(torch.utils.data.Dataset):
    """A ``DataLoader`` dataset whose item ``i`` is the ``i``-th batch of ``batch_size`` image files: decoded,
    converted to float and preprocessed one by one, then stacked (in a worker process when ``num_workers > 0``)."""

    def __init__(self, paths, batch_size, in_channels, preprocess):
        self.paths, self.batch_size, self.in_channels, self.preprocess = paths, batch_size, in_channels, preprocess

    def __len__(self):
        return -(-len(self.paths) // self.batch_size)

    def __getitem__(self, index):
        chunk = self.paths[index * self.batch_size:(index + 1) * self.batch_size]
        return float_image_batch(decode_images(chunk, self.in_channels), chunk, self.preprocess)


class ImageFeatures(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Features of images from a torchvision classification backbone (its classifier removed): a scikit-learn
    transformer for the precomputed-feature workflow.

    ``transform`` takes images ``(n, H, W)`` or ``(n, C, H, W)`` (channels first; uint8, scaled to [0, 1], or
    float, taken as they are) or a 1-D array of image file paths (decoded with ``torchvision.io``, grey or RGB as
    ``in_channels`` says), and returns ``(n, d)`` float32 features (resnet18: 512, resnet50: 2048), computed in
    batches of ``batch_size`` without gradient, in eval mode, on ``device``. ``fit`` learns nothing: it builds
    the backbone (checking ``name`` and ``weights``, loading the weights), so a bad name fails at fit.

    Parameters
    ----------
    name : str
        A torchvision classification architecture (see :class:`skda.nets.TorchvisionBackbone`).
    weights : None, str or path, default None
        As :class:`skda.nets.TorchvisionBackbone`: a torchvision weights name (``"DEFAULT"``,
        ``"ResNet50_Weights.IMAGENET1K_V2"``; read from ``$TORCH_HOME/hub/checkpoints``, downloaded there when
        online), a path to a ``state_dict`` file, or None (random initialisation, seeded by ``random_state``).
    in_channels : int, default 3
        Channels of the images (1 for grey: the first convolution sums the RGB kernels).
    batch_size : int, default 64
        Images per forward pass (memory is bounded by one batch, plus the output).
    device : "auto", "cpu", "cuda", torch.device, default "auto"
        "auto": CUDA when available. The resolved device is ``device_``.
    num_workers : int, default 0
        ``DataLoader`` worker processes that decode and preprocess image files, a batch each, while the backbone
        runs on the previous one (the features do not depend on it); 0: in the calling process. Arrays are not
        affected.
    preprocess : None, callable or "weights", default None
        Applied to every batch of float images in [0, 1] (uint8 input) before the backbone: a callable such as
        ``torchvision.transforms.v2.Compose([Resize(224), Normalize(mean, std)])``; ``"weights"``: the weights'
        own preprocessing (``weights.transforms()``: resize, centre crop, ImageNet normalisation; with
        ``in_channels`` other than 3, every channel is normalised with the mean of the RGB means and of the RGB
        standard deviations, e.g. 0.449 / 0.226 for grey images). Image files are
        preprocessed one by one (so files of different sizes can be resized to one); arrays a batch at a time.
        None: nothing (the images must have one size).
    random_state : int >= 0 or None, default 0
        Seeds the random initialisation when ``weights=None`` (without touching the global torch generator), so
        that the transformer gives the same features after pickling or cloning (None: 0; an int, not a
        ``RandomState``, because an unpickled transformer rebuilds its backbone and must draw the same weights).
    transform_input : None, True or False, default None
        googlenet and inception_v3 only, as :class:`skda.nets.TorchvisionBackbone`: torchvision's re-normalisation
        of the RGB channels inside the model (None: on with torchvision's weights, by name or from a state_dict
        file in its layout; False for a file of weights trained without it).

    Attributes
    ----------
    device_, n_features_out_ (d), backbone_ (the :class:`~skda.nets.TorchvisionBackbone`, in eval mode; pickles
    leave it out and rebuild it on first use from ``backbone_parameters_``, the name, weights, channels, seed and
    ``transform_input`` of the fit, on ``device`` as set then, so cached pipeline steps stay small and the other
    parameters set after fit wait for the next fit).

    Notes
    -----
    With ``Pipeline(memory=...)`` the features of the training rows are computed once per distinct training set
    (e.g. once per fold in a ``GridSearchCV`` over the later steps); the features of the rows that are scored or
    predicted are computed at each ``transform``.
    """

    _parameter_constraints = {  # weights are checked when the backbone is built
        "name": [str],
        "in_channels": [count(1)],
        "batch_size": [count(1)],
        "device": [device_constraint()],
        "num_workers": [count(0)],
        "preprocess": [None, callable, choices("weights")],
        "random_state": [None, count(0)],
        "transform_input": [None, "boolean"],
    }

    def __init__(self, name, weights=None, in_channels=3, batch_size=64, device="auto", preprocess=None,
                 random_state=0, num_workers=0, transform_input=None):
        self.name = name
        self.weights = weights
        self.in_channels = in_channels
        self.batch_size = batch_size
        self.device = device
        self.num_workers = num_workers
        self.preprocess = preprocess
        self.random_state = random_state
        self.transform_input = transform_input

    # ------------------------------------------------------------------ building
    def _build_parameters(self) -> dict:
        """What the backbone is built from (recorded at fit as ``backbone_parameters_``; the device is not: a
        transformer unpickled on another machine builds on ``device`` as set now)."""
        return {"name": self.name, "weights": self.weights, "in_channels": self.in_channels,
                "random_state": self.random_state, "transform_input": self.transform_input}

    def _fitted(self, name):
        """The value of ``name`` (name, weights, in_channels) the backbone was built with at fit."""
        return self.__dict__.get("backbone_parameters_", {}).get(name, getattr(self, name))

    def _build(self, parameters):
        seed = 0 if parameters["random_state"] is None else parameters["random_state"]
        check_device_available(self.device)
        device = resolve_device(self.device)
        with seeded(int(seed), device):  # as the estimators' fits: the lock, float32, the caller's RNG restored
            backbone = TorchvisionBackbone(parameters["name"], weights=parameters["weights"],
                                           in_channels=parameters["in_channels"],
                                           transform_input=parameters["transform_input"])
        return backbone.eval().to(device), device

    def _preprocessor(self):
        if self.preprocess == "weights":
            channels = self._fitted("in_channels")
            transforms = resolve_torchvision_weights(self._fitted("name"), self._fitted("weights")).transforms()
            if channels != len(transforms.mean):  # e.g. grey images: each channel gets the mean statistics
                mean, std = float(np.mean(transforms.mean)), float(np.mean(transforms.std))
                transforms.mean, transforms.std = [mean] * channels, [std] * channels
            return transforms
        return self.preprocess

    def fit(self, X=None, y=None):
        """Build the backbone (load its weights); ``X`` and ``y`` are ignored. Returns ``self``."""
        check_parameters(self)
        if self.preprocess == "weights" and (self.weights is None or _is_state_dict_path(self.weights)):
            raise ValueError("preprocess='weights' uses the preprocessing of torchvision weights: give weights as a "
                             f"torchvision weights name (e.g. 'DEFAULT'), not {self.weights!r}; or pass a callable.")
        parameters = self._build_parameters()
        self.backbone_, self.device_ = self._build(parameters)
        self.backbone_parameters_ = parameters
        self.n_features_out_ = int(self.backbone_.out_features)
        return self

    @property
    def _n_features_out(self):  # scikit-learn's hook of ClassNamePrefixFeaturesOutMixin
        return self.n_features_out_

    def _backbone(self):
        if "n_features_out_" not in self.__dict__:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first (it "
                                 "builds the backbone).")
        if self.__dict__.get("backbone_") is None:  # unpickled: rebuilt from the parameters of the fit
            parameters = self.__dict__.get("backbone_parameters_") or self._build_parameters()
            self.backbone_, self.device_ = self._build(parameters)
        return self.backbone_

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("backbone_", None)
        return state

    def __setstate__(self, state):
        # a transformer pickled before transform_input existed built a googlenet / inception_v3 from a state_dict
        # file without it: rebuilt so, its features are the ones it gave (and its parameters are complete)
        def legacy(parameters):  # each from its own name and weights (those set after fit may differ)
            return (False if parameters.get("name") in ("googlenet", "inception_v3")
                    and _is_state_dict_path(parameters.get("weights")) else None)

        if "transform_input" not in state:
            state = {**state, "transform_input": legacy(state)}
            built = state.get("backbone_parameters_")
            if built is not None and "transform_input" not in built:
                state["backbone_parameters_"] = {"transform_input": legacy(built), **built}
        self.__dict__.update(state)

    def __sklearn_is_fitted__(self):
        return "n_features_out_" in self.__dict__

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=[])
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags

    # ------------------------------------------------------------------ transform
    def _check_images(self, X):
        """Return ``("paths", X)`` or ``("images", X)`` with X an array (n, C, H, W) of uint8 or finite floats. One
        column of paths (a one-column DataFrame, what a ``ColumnTransformer`` passes for ``["path"]``) is taken as
        the paths."""
        if hasattr(X, "to_numpy"):
            X = X.to_numpy()
        X = np.asarray(X)
        if X.ndim == 2 and X.shape[1] == 1 and is_path_array(X[:, 0]):
            X = X[:, 0]
        if X.ndim == 1:
            if not is_path_array(X):
                raise ValueError(f"a 1-D X must hold image file paths (str), got dtype {X.dtype}.")
            return "paths", check_image_input(X)  # path strings (bytes decoded), as the estimators read them
        if X.ndim == 3:
            X = X[:, None]
        if X.ndim != 4:
            raise ValueError(f"ImageFeatures takes images (n, H, W) or (n, C, H, W) or a 1-D array of image file "
                             f"paths, got shape {X.shape}; reshape flat rows to images first.")
        if X.shape[1] != self._fitted("in_channels"):
            raise ValueError(f"the images have {X.shape[1]} channels (axis 1, channels first), the backbone takes "
                             f"in_channels={self._fitted('in_channels')}; for channels-last images use "
                             "X.transpose(0, 3, 1, 2).")
        if not (X.dtype == np.uint8 or X.dtype.kind == "f"):
            raise ValueError(f"images must be uint8 (0-255) or float, got dtype {X.dtype}.")
        if len(X) == 0:
            raise ValueError("X holds no image.")
        if X.dtype.kind == "f" and not np.isfinite(X).all():
            bad = np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1))
            raise ValueError(f"the images {bad[:5].tolist()}{' ...' if len(bad) > 5 else ''} hold NaN or infinite "
                             "values.")
        return "images", X

    def transform(self, X):
        """Features ``(n, n_features_out_)`` float32 of the images or image files ``X``."""
        network = self._backbone()
        kind, X = self._check_images(X)
        preprocess = self._preprocessor()
        device = self.device_
        out = np.empty((len(X), self.n_features_out_), dtype=np.float32)
        if kind == "paths":
            # in order, seeded by a generator of its own (not torch's global one); the workers stop when a file fails
            dataset = _DecodedBatches(X, self.batch_size, self._fitted("in_channels"), preprocess)
            batches = ordered_batches(dataset, range(len(dataset)), self.num_workers, device, seed=0)
        else:
            batches = (torch.from_numpy(np.ascontiguousarray(X[start:start + self.batch_size]))
                       for start in range(0, len(X), self.batch_size))
        start = 0
        with torch.inference_mode():
            for batch in batches:
                if kind == "paths":
                    batch = batch.to(device, non_blocking=True)
                else:
                    batch = images_as_float(batch.to(device))
                    if preprocess is not None:
                        batch = preprocess(batch)
                out[start:start + len(batch)] = self._forward(network, batch).float().cpu().numpy()
                start += len(batch)
        return out

    def _forward(self, network, batch):
        """The backbone on one preprocessed batch (a hook for subclasses, e.g. to count calls). A batch the
        architecture cannot take (images too small for its pooling, a ViT's fixed size) raises ``ValueError``."""
        try:
            return network(batch)
        except getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError):  # the caller may halve the batch
            # (torch.OutOfMemoryError since torch 2.5, torch.cuda's before): not a shape error
            raise
        except (RuntimeError, AssertionError) as exc:  # torch's shape errors; torchvision's ViT asserts its size
            raise ValueError(
                f"the {self._fitted('name')} backbone failed on a batch of shape {tuple(batch.shape)} (after "
                f"preprocess): {str(exc).strip()[:300]}. Images too small for its layers need a resize (e.g. "
                "preprocess='weights', or torchvision.transforms.v2.Resize); ViTs take 224x224.") from exc

