"""Image backbones from torchvision, usable as the feature extractor (``module=``) of every skda estimator.

torchvision is an optional dependency (``pip install skda[vision]``); this module imports it when a backbone is
built, so ``import skda.nets`` works without it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .validation import is_int_at_least

__all__ = ["TorchvisionBackbone", "adapt_input_channels", "classification_architectures",
           "resolve_torchvision_weights"]

#: endings taken as a path to a local ``state_dict`` file rather than a torchvision weights name
_STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")


def import_torchvision():
    """``torchvision``, or an ``ImportError`` that says how to install it (:func:`skda.images.require_torchvision`)."""
    from .images import require_torchvision

    return require_torchvision("Image backbones and image features (TorchvisionBackbone, ImageFeatures)")


def classification_architectures() -> list[str]:
    """The names of torchvision's classification architectures (``torchvision.models.list_models`` of the
    ``torchvision.models`` module: resnet18, convnext_tiny, efficientnet_b0, vit_b_16, ...)."""
    models = import_torchvision().models
    return sorted(models.list_models(module=models))


def _check_architecture(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be the name of a torchvision classification architecture (a str such as "
                        f"'resnet18'), got {name!r}.")
    known = classification_architectures()
    if name not in known:
        close = difflib.get_close_matches(name.lower(), known, n=5, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"{name!r} is not a torchvision classification architecture.{hint} The names are "
                         "skda.nets.classification_architectures() (torchvision.models.list_models).")
    return name


def _is_state_dict_path(weights) -> bool:
    if isinstance(weights, os.PathLike):
        return True
    return isinstance(weights, str) and (os.sep in weights or "/" in weights or os.path.exists(weights)
                                         or weights.lower().endswith(_STATE_DICT_SUFFIXES))


def resolve_torchvision_weights(name: str, weights):
    """The torchvision weights enum member that ``weights`` names for the architecture ``name``: a member
    (``ResNet18_Weights.IMAGENET1K_V1``), its full name ``"ResNet18_Weights.IMAGENET1K_V1"``, its short name
    ``"IMAGENET1K_V1"`` or ``"DEFAULT"`` (the architecture's recommended weights). Raises ``ValueError`` for
    weights of another architecture or an unknown name, listing the architecture's weights."""
    models = import_torchvision().models
    enum = models.get_model_weights(name)
    available = [f"{enum.__name__}.{member}" for member in enum.__members__ if member != "DEFAULT"]
    choices = f"the weights of {name!r} are {available} (or 'DEFAULT'), or give a path to a state_dict file"
    if isinstance(weights, enum):
        return weights
    if not isinstance(weights, str):
        raise ValueError(f"weights={weights!r} are not weights of {name!r}: {choices}.")
    member = weights
    if "." in weights:
        enum_name, member = weights.rsplit(".", 1)
        if enum_name != enum.__name__:
            raise ValueError(f"weights={weights!r} do not belong to the architecture {name!r}: {choices}.")
    if member not in enum.__members__:
        raise ValueError(f"weights={weights!r} are not weights of {name!r}: {choices}.")
    return enum[member]


def _head_path(model: nn.Module, n_classes: int) -> tuple[str, nn.Module]:
    """The dotted name and module of the classifier's last layer: the last ``nn.Linear`` with ``n_classes``
    outputs (resnet ``fc``, convnext / efficientnet / vgg ``classifier.<i>``, vit ``heads.head``, swin
    ``head``, ...), or the last 1x1 ``nn.Conv2d`` with ``n_classes`` outputs (squeezenet)."""
    found = None
    for path, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == n_classes:
            found = (path, module)
        elif (isinstance(module, nn.Conv2d) and module.out_channels == n_classes
              and tuple(module.kernel_size) == (1, 1)):
            found = (path, module)
    if found is None:
        raise ValueError(f"found no classifier layer with {n_classes} outputs in {type(model).__name__}: "
                         "TorchvisionBackbone cannot remove its head.")
    return found


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attribute = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attribute, new)


def adapt_input_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` taking ``in_channels`` input channels, its kernels derived from the (RGB) ones so that
    the layer's output is unchanged for an image whose channels are all equal: one channel gets the sum of the
    RGB kernels (a grey image gives what the same image copied into R, G and B gives); a multiple of 3 repeats
    the RGB kernels, scaled by ``3 / in_channels`` (timm's rule); any other count gives every channel the sum of
    the RGB kernels divided by ``in_channels``."""
    if conv.groups != 1:
        raise ValueError(f"cannot change the input channels of a grouped first convolution ({conv}).")
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    1, conv.bias is not None, conv.padding_mode, device=conv.weight.device,
                    dtype=conv.weight.dtype)
    with torch.no_grad():
        weight = conv.weight
        old_channels = weight.shape[1]
        if in_channels % old_channels == 0:
            repeated = weight.repeat(1, in_channels // old_channels, 1, 1) * (old_channels / in_channels)
        else:
            repeated = weight.sum(dim=1, keepdim=True).expand(-1, in_channels, -1, -1) / in_channels
        new.weight.copy_(repeated)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def _first_conv_path(model: nn.Module) -> str:
    for path, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return path
    raise ValueError(f"{type(model).__name__} has no nn.Conv2d whose input channels could be changed.")


def _load_state_dict_file(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights={str(path)!r}: no such state_dict file (a weights name such as "
                                "'ResNet18_Weights.IMAGENET1K_V1' or 'DEFAULT' is not a path).")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):  # a training checkpoint
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{str(path)!r} does not hold a state_dict (a dict of tensors, as torch.save("
                         "model.state_dict(), path) writes).")
    return state


class TorchvisionBackbone(nn.Module):
    """A torchvision classification architecture without its classifier: images in, pooled features out.

    ``forward(x)`` takes float images ``(n, in_channels, H, W)`` (``(n, H, W)`` when ``in_channels=1``; flat rows
    ``(n, C*H*W)`` when ``image_shape`` is given) and returns ``(n, out_features)``: the features the
    architecture's classifier read (resnet18: 512, resnet50: 2048, convnext_tiny: 768, efficientnet_b0: 1280,
    vit_b_16: 768). The last layer of the classifier (the ``nn.Linear`` with one output per ImageNet class:
    resnet ``fc``, convnext / efficientnet / vgg / mobilenet ``classifier[-1]``, vit ``heads.head``, ...) is
    replaced by ``nn.Identity``; layers before it (convnext's LayerNorm, vgg's fc6-fc7) stay.

    Parameters (as ``module__name``, ``module__weights``, ... on an estimator with ``module=TorchvisionBackbone``)
    ----------
    name : str
        A torchvision classification architecture (``skda.nets.classification_architectures()``).
    weights : None, str, path or torchvision weights enum member, default None
        None: random initialisation (the architecture's own). A torchvision weights name,
        ``"ResNet18_Weights.IMAGENET1K_V1"``, ``"IMAGENET1K_V1"`` or ``"DEFAULT"``: torchvision loads it from its
        cache, ``$TORCH_HOME/hub/checkpoints/<file name of the weights' URL>`` (``~/.cache/torch`` without
        ``TORCH_HOME``), downloading it there first when it is missing and the machine is online; offline, copy
        the file there. A path (str or ``os.PathLike``) to a file written by ``torch.save(model.state_dict())``
        for this architecture: the classifier's weights in it are ignored (any number of classes), every other
        weight must be there; a file saved from a ``TorchvisionBackbone`` with ``in_channels`` channels (its first
        convolution already adapted) loads as it is.
    in_channels : int, default 3
        Input channels. With another count (1 for grey images) the first convolution is replaced by one taking
        ``in_channels`` channels, its kernels derived from the (pretrained or initial) RGB kernels by
        :func:`adapt_input_channels`: for one channel the sum of the RGB kernels, so a grey image gives the
        features of the same image copied into three channels.
    transform_input : None, True or False, default None
        googlenet and inception_v3 only: torchvision's re-normalisation of the 3 RGB channels inside the model,
        which its ImageNet weights expect. None: as torchvision builds them, on with weights by name, off at random
        initialisation; a state_dict file is read as torchvision's weights (on) unless its first convolution takes
        another number of channels than 3. A file of weights trained without it (e.g. saved from a randomly
        initialised backbone): ``transform_input=False``.
    image_shape : None or tuple (C, H, W), default None
        Reshape flat rows ``(n, C*H*W)`` to images (so the backbone can sit behind a ``StandardScaler`` or take
        the flat rows of today's estimators); None accepts images only.
    n_features_in : int or None
        Filled in by the estimators (values per sample); checked against ``image_shape`` when both are given.

    Notes
    -----
    Some architectures need a minimum or fixed image size: the ViTs take 224 x 224 only; resnets work from
    16 x 16 up. The ImageNet weights expect images normalised as their ``transforms()`` say (mean / std per RGB
    channel).

    Attributes
    ----------
    model : the torchvision model, classifier removed
    out_features : int, the feature dimension
    head_name : str, the dotted name of the removed layer (``"fc"``, ``"classifier.2"``, ``"heads.head"``)
    weights_name : str or None, the loaded weights (enum name or file path)
    """

    def __init__(self, name: str, weights=None, in_channels: int = 3, image_shape: Sequence[int] | None = None,
                 n_features_in: int | None = None, transform_input: bool | None = None):
        super().__init__()
        models = import_torchvision().models
        name = _check_architecture(name)
        if not is_int_at_least(in_channels, 1):
            raise ValueError(f"in_channels must be an int >= 1, got {in_channels!r}.")
        in_channels = int(in_channels)  # a numpy int (e.g. from a parameter grid) as a Python int
        if image_shape is not None:
            image_shape = tuple(int(v) for v in image_shape)
            if len(image_shape) == 2:
                image_shape = (1, *image_shape)
            if len(image_shape) != 3 or image_shape[0] != in_channels:
                hint = ""
                if len(image_shape) == 3 and image_shape[-1] in (1, 3, 4) and image_shape[0] not in (1, 3, 4):
                    hint = (f" The images look channels-last ({image_shape[-1]} channels on the last axis): "
                            "transpose them to channels-first, X.transpose(0, 3, 1, 2).")
                elif len(image_shape) == 3:
                    hint = (f" The images have {image_shape[0]} channel(s): set in_channels={image_shape[0]} "
                            f"(module__in_channels={image_shape[0]} in an estimator; the first layer is adapted to "
                            "it).")
                raise ValueError(f"image_shape must be (C, H, W) with C = in_channels = {in_channels}, got "
                                 f"{image_shape}.{hint}")
            if n_features_in is not None and int(n_features_in) != image_shape[0] * image_shape[1] * image_shape[2]:
                raise ValueError(f"TorchvisionBackbone: {n_features_in} values per sample do not make images of "
                                 f"shape {image_shape}; set module__image_shape.")
        self.image_shape = image_shape
        self.in_channels = in_channels
        state_dict = None
        if weights is None:
            enum_weights, self.weights_name = None, None
        elif _is_state_dict_path(weights):
            state_dict = _load_state_dict_file(weights)
            enum_weights, self.weights_name = None, os.fspath(weights)
        else:
            enum_weights = resolve_torchvision_weights(name, weights)
            self.weights_name = f"{type(enum_weights).__name__}.{enum_weights.name}"
        model = self._build(models, name, enum_weights)
        if transform_input not in (None, True, False):
            raise ValueError(f"transform_input must be None, True or False, got {transform_input!r}.")
        if transform_input is not None and not hasattr(model, "transform_input"):
            raise ValueError(f"transform_input applies to googlenet and inception_v3 only, not to {name}.")
        if hasattr(model, "transform_input"):
            if transform_input is None and state_dict is not None:
                # torchvision builds googlenet / inception_v3 with its weights with transform_input on (the ImageNet
                # weights expect it: a re-normalisation of the 3 RGB channels inside the model); a file is read as
                # those weights (the offline route gives the features of the weights given by name), unless its
                # first convolution takes another number of channels (a grey backbone's save)
                saved_conv = next((v for k, v in state_dict.items()
                                   if k.removeprefix("model.") == _first_conv_path(model) + ".weight"), None)
                transform_input = saved_conv is None or saved_conv.shape[1] == 3
            if transform_input is not None:
                model.transform_input = transform_input
        if getattr(model, "transform_input", False) and in_channels != 3:
            raise ValueError(
                f"{name} with torchvision's transform_input (on with its weights) re-normalises 3 RGB channels inside "
                f"the model, so in_channels={in_channels} cannot be adapted: use in_channels=3 and give the images "
                "three channels (grey images: X.repeat(3, axis=1)), or transform_input=False for weights trained "
                "without it.")
        n_classes = len(enum_weights.meta["categories"]) if enum_weights is not None else 1000
        head_name, head = _head_path(model, n_classes)
        conv_path = _first_conv_path(model)
        adapted = False
        if state_dict is not None:
            if state_dict and all(k.startswith("model.") for k in state_dict):  # saved from a TorchvisionBackbone
                state_dict = {k[len("model."):]: v for k, v in state_dict.items()}
            saved_conv = state_dict.get(conv_path + ".weight")
            if in_channels != 3 and saved_conv is not None and saved_conv.shape[1] == in_channels:
                # a file of this backbone with its first convolution already taking in_channels (e.g. saved grey)
                _replace(model, conv_path, adapt_input_channels(model.get_submodule(conv_path), in_channels))
                adapted = True
            self._load(model, state_dict, head_name)
        if hasattr(model, "aux_logits"):  # googlenet / inception_v3: no auxiliary classifiers
            model.aux_logits = False
            for aux in ("AuxLogits", "aux1", "aux2"):
                if getattr(model, aux, None) is not None:
                    setattr(model, aux, None)
        self.out_features = int(head.in_features if isinstance(head, nn.Linear) else head.in_channels)
        _replace(model, head_name, nn.Identity())
        self.head_name = head_name
        if in_channels != 3 and not adapted:
            _replace(model, conv_path, adapt_input_channels(model.get_submodule(conv_path), in_channels))
        self.name = name
        self.model = model

    @staticmethod
    def _build(models, name, enum_weights):
        if enum_weights is None:
            kwargs = {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
            return models.get_model(name, weights=None, **kwargs)
        try:
            return models.get_model(name, weights=enum_weights)
        except OSError as exc:  # URLError, ConnectionError, ... : offline without the file in the cache
            cache = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(enum_weights.url)
            raise OSError(f"could not load the weights {type(enum_weights).__name__}.{enum_weights.name}: {exc}. "
                          f"Offline, put the file {enum_weights.url.rsplit('/', 1)[-1]!r} at {str(cache)!r} "
                          "(torchvision's cache, under $TORCH_HOME), or pass weights=<path to a state_dict "
                          "file>.") from exc

    @staticmethod
    def _load(model, state_dict, head_name):
        """Load a state_dict file's weights (keys without a TorchvisionBackbone's ``model.`` prefix): the
        classifier's are dropped (the head is removed anyway, and a file of another number of classes loads too);
        every other weight of the model must be in the file."""
        head_prefix = head_name + "."
        kept = {k: v for k, v in state_dict.items() if not k.startswith(head_prefix)}
        try:
            result = model.load_state_dict(kept, strict=False)
        except RuntimeError as exc:
            raise ValueError(f"the state_dict file does not fit {type(model).__name__}: {exc}") from exc
        missing = [k for k in result.missing_keys if not k.startswith(head_prefix)]
        # googlenet / inception_v3 files hold auxiliary classifiers, which the backbone does not have
        unexpected = [k for k in result.unexpected_keys if not k.startswith(("AuxLogits.", "aux1.", "aux2."))]
        if missing or unexpected:
            raise ValueError(
                f"the state_dict file does not fit this architecture: missing {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                f"{' ...' if len(unexpected) > 5 else ''}.")

    def forward(self, x):
        if x.ndim == 2 and self.image_shape is not None:
            x = x.reshape(len(x), *self.image_shape)
        elif x.ndim == 3 and self.in_channels == 1:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"TorchvisionBackbone({self.name!r}) takes images (n, {self.in_channels}, H, W), got shape "
                f"{tuple(x.shape)}; for flat rows set image_shape (module__image_shape=(C, H, W)), for another "
                "number of channels in_channels.")
        return self.model(x).flatten(1)

    def extra_repr(self):
        return (f"name={self.name!r}, weights={self.weights_name!r}, in_channels={self.in_channels}, "
                f"out_features={self.out_features}")
