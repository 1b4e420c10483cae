"""Image input and the batch sources of the engine: image arrays, image files, streamed batches.

Flat 2-D rows never come here: the engine trains on them as before (whole tensors on the device, batches
gathered by index). Images come as

- arrays ``(n, H, W)`` (grey, one channel added: the network sees ``(n, 1, H, W)``) or ``(n, C, H, W)``, of
  dtype uint8 (converted batch by batch to float32 in [0, 1], ``x / 255``) or any other numeric dtype (used
  as float32, values unchanged);
- a 1-D array (or list) of image file paths, decoded with ``torchvision.io.decode_image`` (grey images have
  one channel, colour images three; uint8 pixels to [0, 1] as above).

A :class:`RowSource` hands the engine the network's input batches of such data: ``take(indices)`` for the
training steps (the paired index batches of the engine's sampler), ``chunks()`` for prediction. Where the
rows live is the estimator's ``data_placement``:

- :class:`DeviceRows`: the whole array on the training device (uint8 stays uint8 there), batches gathered by
  index on the device;
- :class:`HostRows`: the array stays in host memory; each batch is gathered on the host (by ``DataLoader``
  workers when ``num_workers > 0``), pinned and copied to a CUDA device without blocking;
- :class:`FileRows`: image files decoded (and preprocessed, augmented) by ``DataLoader`` workers.

Both the device and the host paths convert and preprocess a batch with the same operations on the training
device, so without augmentation they give the same batches, hence the same model for the same seed.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from contextlib import contextmanager, nullcontext

import numpy as np
import torch

__all__ = ["DEVICE_MEMORY_SHARE", "BatchRandomAffine", "DeviceRows", "FileRows", "HostRows", "RowSource",
           "check_image_input", "decode_image_file", "device_fits", "images_as_float", "is_path_array",
           "make_row_source", "require_torchvision"]

#: ``data_placement="auto"`` keeps arrays on a CUDA device when they take at most this share of its memory
DEVICE_MEMORY_SHARE = 0.25

_VISION_HINT = "pip install skda[vision] (or pip install torchvision)"


def require_torchvision(what: str):
    """Import torchvision, or raise ``ImportError`` saying which feature needs it and how to install it."""
    try:
        import torchvision
    except ImportError as exc:
        raise ImportError(f"{what} needs torchvision: {_VISION_HINT}.") from exc
    return torchvision


def is_path_array(X) -> bool:
    """Whether ``X`` is a 1-D sequence of file paths (text, bytes or ``os.PathLike``; a pandas Series of them too),
    the image-file input form."""
    if hasattr(X, "iloc") and getattr(X, "ndim", 2) == 1:
        X = X.to_numpy()
    if hasattr(X, "iloc") or hasattr(X, "toarray"):
        return False
    if isinstance(X, (list, tuple)):
        return len(X) > 0 and all(isinstance(v, (str, bytes, os.PathLike)) for v in X)
    if not isinstance(X, np.ndarray) or X.ndim != 1:
        return False
    if X.dtype.kind in "US":
        return True
    return X.dtype.kind == "O" and len(X) > 0 and all(isinstance(v, (str, bytes, os.PathLike)) for v in X)


def check_image_input(X, name="X"):
    """Image file input as a 1-D object array of path strings (an empty list refused); ``None`` when ``X`` is not
    a list of paths (arrays go through :func:`skda.validation.check_features`, which keeps uint8 images uint8)."""
    if is_path_array(X):
        paths = np.array([str(os.fspath(v)) if not isinstance(v, bytes) else v.decode() for v in X], dtype=object)
        if len(paths) == 0:
            raise ValueError(f"{name} is an empty list of image paths.")
        return paths
    return None


def images_as_float(batch: torch.Tensor) -> torch.Tensor:
    """A batch of images as the network sees it, a new tensor: uint8 -> float32 in [0, 1]; other dtypes float32;
    a grey batch ``(n, H, W)`` gets its channel axis ``(n, 1, H, W)``."""
    if batch.ndim == 3:
        batch = batch.unsqueeze(1)
    # a fresh tensor in one memory format (channels-last for image batches): how the rows were gathered (on the
    # device, on the host, by a worker) leaves other strides on size-1 axes, and kernels pick their summation
    # order and speed by strides
    layout = torch.channels_last if batch.ndim == 4 else torch.contiguous_format
    out = torch.empty(batch.shape, dtype=torch.float32, device=batch.device, memory_format=layout).copy_(batch)
    return out.div_(255.0) if batch.dtype == torch.uint8 else out


def decode_image_file(path: str, channels: int | None = None) -> torch.Tensor:
    """One image file as a uint8 tensor ``(C, H, W)`` (``torchvision.io.decode_image``, EXIF orientation applied):
    ``channels`` None keeps the file's colour (grey C=1, colour C=3; an alpha channel is dropped; a palette PNG
    reads as its colours and a CMYK JPEG as RGB, C=3), 1 reads it grey, 3 as RGB. 16-bit files (PNG) are scaled to 8
    bits, so that every file reads on the same 0-255 scale. An animated GIF reads as its first frame. An unreadable
    file raises ``ValueError`` naming it."""
    io = require_torchvision("Reading image files").io
    modes = {None: io.ImageReadMode.UNCHANGED, 1: io.ImageReadMode.GRAY, 3: io.ImageReadMode.RGB}
    if channels not in modes:
        raise ValueError(f"image files decode to 1 (grey) or 3 (RGB) channels; got channels={channels}.")
    path = str(path)
    mode = modes[channels]
    if channels is None and _is_palette_png(path):  # unchanged, its pixels would be indices into the palette
        mode = io.ImageReadMode.RGB
    if path.lower().endswith((".webp", ".gif")):  # their decoders ignore a colour mode: converted below
        mode = io.ImageReadMode.UNCHANGED
    with warnings.catch_warnings():
        # torchvision 0.29 announces that its decoders move to TorchCodec, once per call: not the user's concern
        warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities",
                                category=DeprecationWarning)
        try:
            image = io.decode_image(path, mode=mode, apply_exif_orientation=True)
        except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError / OSError / ValueError by format
            raise ValueError(f"cannot read the image file {path!r}: {exc}") from exc
    if image.ndim == 4:  # an animated GIF: (frames, C, H, W)
        image = image[0]
    if path.lower().endswith(".webp"):  # torchvision's WebP decoder ignores apply_exif_orientation
        image = _exif_oriented(image, _exif_orientation(path))
    if image.shape[0] == 4 and channels is None and _is_jpeg(path):
        # a CMYK JPEG: its 4th channel is black (K), not alpha; read as RGB, as channels=3 (and Pillow) read it
        return decode_image_file(path, channels=3)
    if image.shape[0] in (2, 4):  # grey + alpha, RGB + alpha: the colour channels
        image = image[:image.shape[0] - 1]
    if image.dtype != torch.uint8:  # e.g. uint16 from a 16-bit PNG
        from torchvision.transforms.v2.functional import to_dtype
        image = to_dtype(image, torch.uint8, scale=True)
    if channels == 1 and image.shape[0] == 3:
        from torchvision.transforms.v2.functional import rgb_to_grayscale
        image = rgb_to_grayscale(image)
    elif channels == 3 and image.shape[0] == 1:
        image = image.expand(3, -1, -1).clone()
    return image


def _is_jpeg(path: str) -> bool:
    """Whether ``path`` is a JPEG file (its first bytes: the SOI marker)."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\xff\xd8"
    except OSError:
        return False


def _is_palette_png(path: str) -> bool:
    """Whether ``path`` is a PNG file whose pixels index a palette (IHDR colour type 3)."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return False  # the decoder names the unreadable file
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and head[25] == 3


def _exif_orientation(path: str) -> int:
    """The EXIF orientation tag (1-8) of an image file, 1 when it has none (read with Pillow, torchvision's
    dependency)."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            orientation = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - unreadable metadata: the picture as stored
        return 1
    return orientation if orientation in range(1, 9) else 1


def _exif_oriented(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """``image`` ``(C, H, W)`` turned as EXIF ``orientation`` says it is to be displayed (as Pillow's
    ``ImageOps.exif_transpose``)."""
    h, w = -2, -1
    turns = {1: lambda x: x,
             2: lambda x: x.flip(w),
             3: lambda x: x.flip(h, w),
             4: lambda x: x.flip(h),
             5: lambda x: x.transpose(h, w),
             6: lambda x: torch.rot90(x, -1, (h, w)),
             7: lambda x: x.transpose(h, w).flip(h, w),
             8: lambda x: torch.rot90(x, 1, (h, w))}
    return turns[orientation](image).contiguous()


def device_fits(nbytes: int, device: torch.device) -> bool:
    """``data_placement="auto"``'s rule for arrays: always on the CPU (the arrays are in host memory already);
    on CUDA when they take at most ``DEVICE_MEMORY_SHARE`` of the device's total memory."""
    if device.type != "cuda":
        return True
    index = torch.cuda.current_device() if device.index is None else device.index
    return nbytes <= DEVICE_MEMORY_SHARE * torch.cuda.get_device_properties(index).total_memory


def _stack(images, paths):
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise ValueError(f"the images {list(paths)[:4]} ... have different sizes (different shapes {sorted(shapes)}); "
                         "give a preprocess that makes them one shape (e.g. torchvision.transforms.v2.Compose(["
                         "v2.RGB(), v2.Resize((224, 224))])).")
    return torch.stack(images)


def float_image_batch(images, paths, preprocess=None, augment=None) -> torch.Tensor:
    """Decoded uint8 images ``(C, H, W)`` of the files ``paths`` -> one float batch: each image converted to [0, 1],
    augmented (when ``augment`` is given) and preprocessed one by one (files may differ in size until
    ``preprocess`` resizes them), then stacked; images of different shapes raise ``ValueError`` naming the files."""
    out = []
    with batch_preparation_precision("cpu"):
        for image in images:
            image = images_as_float(image.unsqueeze(0))[0]
            if augment is not None:
                image = augment(image)
            if preprocess is not None:
                image = preprocess(image)
            out.append(image)
    return _stack(out, paths)


def batch_preparation_precision(device_type: str):
    """The context every batch is prepared in (float conversion, augmentation, preprocessing): autocast off on
    ``device_type``, so batches are float32 whatever the estimator's ``precision``. Training batches are prepared
    outside the ``precision`` autocast, prediction chunks and M-ADDA's labelled target rows inside it; under
    bfloat16 autocast an affine augmentation would compute its sampling grid in bfloat16 and distort the images."""
    return torch.autocast(device_type, enabled=False)


def _augment_images(augment, batch: torch.Tensor) -> torch.Tensor:
    """``augment`` on a batch ``(n, C, H, W)``: one call when it is batched (``augment.batched`` true: it draws
    its random parameters per image itself, e.g. :class:`BatchRandomAffine`), else one call per image (a
    ``torchvision.transforms.v2`` transform given a batch would draw one set of parameters for all of it)."""
    if getattr(augment, "batched", False):
        return augment(batch)
    return torch.stack([augment(image) for image in batch])


def _is_finite_pair(value) -> bool:
    """Whether ``value`` is a pair of finite real numbers."""
    return (isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)
                    for v in value))


class BatchRandomAffine(torch.nn.Module):
    """A random affine transform drawn for each image of a batch, applied to the whole batch in one call.

    The distribution of ``torchvision.transforms.v2.RandomAffine(degrees, translate, scale)`` (no shear): per
    image an angle uniform in ``degrees`` (a number d: ``(-d, d)``), a translation of ``round(u * translate[0] *
    W)`` and ``round(v * translate[1] * H)`` pixels with u, v uniform in (-1, 1), a scale uniform in ``scale``;
    about the image centre, the uncovered area filled with 0. For given parameters each image equals
    ``torchvision.transforms.v2.functional.affine(image, angle, translate, scale, shear=0)`` (tested), but the
    whole batch is one ``affine_grid`` + ``grid_sample`` instead of one transform call per image: no per-image
    Python on the training step. The random numbers come from torch's generator of the batch's device (skda seeds
    it from ``random_state`` for a fit).

    ``batched = True`` tells skda's ``augment`` to call it once per batch ``(n, C, H, W)``; it also takes a single
    image ``(C, H, W)`` (in ``DataLoader`` workers for image files).

    Parameters
    ----------
    degrees : float or (float, float)
    translate : (float, float) or None, default None (fractions of the width and the height)
    scale : (float, float) or None, default None
    interpolation : "nearest" (default, as torchvision's RandomAffine) or "bilinear"
    """

    batched = True

    def __init__(self, degrees, translate=None, scale=None, interpolation="nearest"):
        super().__init__()
        if isinstance(degrees, numbers.Real) and not isinstance(degrees, (bool, np.bool_)):
            if not degrees >= 0:
                raise ValueError(f"degrees must be non-negative when it is a single number, got {degrees}.")
            degrees = (-float(degrees), float(degrees))
        if not _is_finite_pair(degrees) or degrees[0] > degrees[1]:
            raise ValueError(f"degrees must be a finite number or a pair (min, max), got {degrees}.")
        degrees = tuple(float(d) for d in degrees)
        if translate is not None and (not _is_finite_pair(translate) or not all(0 <= t <= 1 for t in translate)):
            raise ValueError(f"translate must be a pair of fractions in [0, 1] or None, got {translate}.")
        if scale is not None and (not _is_finite_pair(scale) or not 0 < scale[0] <= scale[1]):
            raise ValueError(f"scale must be a pair (min, max) of finite positive numbers or None, got {scale}.")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}.")
        self.degrees, self.translate, self.scale, self.interpolation = degrees, translate, scale, interpolation

    def extra_repr(self):
        return (f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"interpolation={self.interpolation!r}")

    def sample(self, n: int, height: int, width: int, device=None):
        """``(angle, translation, scale)`` of ``n`` images: degrees ``(n,)``, whole pixels ``(n, 2)`` as (x, y),
        factors ``(n,)``, drawn from torch's generator of ``device``."""
        def uniform(low, high, *shape):
            return torch.empty(*shape, device=device).uniform_(low, high)

        angle = uniform(*self.degrees, n)
        translation = torch.zeros(n, 2, device=device)
        if self.translate is not None:
            limits = torch.tensor([self.translate[0] * width, self.translate[1] * height], device=device)
            translation = torch.round(uniform(-1.0, 1.0, n, 2) * limits)
        scale = torch.ones(n, device=device) if self.scale is None else uniform(*self.scale, n)
        return angle, translation, scale

    def apply(self, images: torch.Tensor, angle, translation, scale) -> torch.Tensor:
        """The batch ``(n, C, H, W)`` (float) transformed with the given per-image parameters (see ``sample``)."""
        n, _, height, width = images.shape
        # the grid in float32 at least: half-precision pixel coordinates (149.5 in bfloat16) move the samples,
        # and grid_sample on half inputs gave NaN pixels; the result is cast back to the images' dtype
        out_dtype, device = images.dtype, images.device
        dtype = torch.promote_types(out_dtype, torch.float32)
        images = images.to(dtype)
        rot = torch.deg2rad(angle.to(device=device, dtype=torch.float64))
        scale = scale.to(device=device, dtype=torch.float64)
        tx, ty = translation.to(device=device, dtype=torch.float64).unbind(1)
        # the inverse map output pixel -> input pixel, in pixel units about the centre (torchvision's
        # _get_inverse_affine_matrix without shear)
        m0, m1 = torch.cos(rot) / scale, torch.sin(rot) / scale
        m3, m4 = -torch.sin(rot) / scale, torch.cos(rot) / scale
        theta = torch.stack([torch.stack([m0, m1, -(m0 * tx + m1 * ty)], 1),
                             torch.stack([m3, m4, -(m3 * tx + m4 * ty)], 1)], 1).to(dtype)  # (n, 2, 3)
        xs = torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, width, device=device, dtype=dtype)
        ys = torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, height, device=device, dtype=dtype)
        base = torch.stack([xs.expand(height, width), ys.unsqueeze(1).expand(height, width),
                            torch.ones(height, width, device=device, dtype=dtype)], -1).reshape(1, -1, 3)
        half = torch.tensor([0.5 * width, 0.5 * height], device=device, dtype=dtype)
        grid = (base.expand(n, -1, -1).bmm(theta.transpose(1, 2)) / half).reshape(n, height, width, 2)
        return torch.nn.functional.grid_sample(images, grid, mode=self.interpolation, padding_mode="zeros",
                                               align_corners=False).to(out_dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        single = images.ndim == 3
        batch = images.unsqueeze(0) if single else images
        out = self.apply(batch, *self.sample(len(batch), batch.shape[-2], batch.shape[-1], batch.device))
        return out[0] if single else out


class _Pipeline:
    """The per-batch work of a row source on the training device: float conversion, ``augment`` (each image its own
    random draw, training batches only), ``preprocess`` (on the batch), channels-last memory format for 4-D
    batches."""

    def __init__(self, device, preprocess=None, augment=None):
        self.device = device
        self.preprocess = preprocess
        self.augment = augment

    def finish(self, batch: torch.Tensor, train: bool, converted=False) -> torch.Tensor:
        if not converted:
            with batch_preparation_precision(self.device.type):
                batch = images_as_float(batch)
                if train and self.augment is not None:
                    batch = _augment_images(self.augment, batch)
                if self.preprocess is not None:
                    batch = self.preprocess(batch)
        if batch.ndim == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch


class RowSource:
    """Rows of image data the engine reads batches from (see the module docstring)."""

    #: whether the decoding, preprocessing and augmentation run on the host (files) rather than the device
    converted_on_host = False

    def __init__(self, n_rows: int, pipeline: _Pipeline, num_workers: int = 0):
        self.n_rows = int(n_rows)
        self.pipeline = pipeline
        self.num_workers = int(num_workers)

    def __len__(self):
        return self.n_rows

    @property
    def device(self):
        return self.pipeline.device

    def take(self, indices: torch.Tensor, train: bool = True) -> torch.Tensor:
        """The network's input batch of the rows ``indices``, on the device."""
        raise NotImplementedError

    def paired_batches(self, pairs, target: RowSource | None, seed: int):
        """``(source batch, target batch or None)`` on the device for each ``(idx_s, idx_t)`` of ``pairs`` (the
        index batches of one epoch, in order)."""
        for idx_s, idx_t in pairs:
            yield self.take(idx_s), None if target is None else target.take(idx_t)

    def chunks(self, chunk_rows: int):
        """``(start, batch)``: the rows in order, ``chunk_rows`` at a time, as fresh tensors on the device (not
        sharing memory with the caller's data), without augmentation."""
        for start in range(0, self.n_rows, chunk_rows):
            yield start, self.take(torch.arange(start, min(start + chunk_rows, self.n_rows)), train=False)

    def subset(self, indices) -> RowSource:
        raise NotImplementedError


class DeviceRows(RowSource):
    """The whole array as a tensor on the device; batches gathered by index there."""

    def __init__(self, tensor: torch.Tensor, pipeline: _Pipeline):
        super().__init__(len(tensor), pipeline)
        self.tensor = tensor

    def take(self, indices, train=True):
        return self.pipeline.finish(self.tensor[indices.to(self.tensor.device)], train)

    def subset(self, indices):
        return DeviceRows(self.tensor[torch.as_tensor(indices, device=self.tensor.device)], self.pipeline)


class _IndexedArray(torch.utils.data.Dataset):
    """A ``DataLoader`` dataset whose items are whole batches: item ``(idx_s, idx_t)`` (CPU index tensors) ->
    the rows of the source and target arrays (``None`` for a missing target)."""

    def __init__(self, source: np.ndarray, target: np.ndarray | None):
        self.source, self.target = source, target

    def __getitem__(self, pair):
        idx_s, idx_t = pair
        xs = torch.from_numpy(self.source[idx_s.numpy()])
        xt = None if self.target is None or idx_t is None else torch.from_numpy(self.target[idx_t.numpy()])
        return xs, xt


class _DecodedFiles(torch.utils.data.Dataset):
    """A ``DataLoader`` dataset whose items are whole batches of decoded image files: item ``(idx_s, idx_t)``
    -> the float images of both domains, (training) augmented and preprocessed, one by one, in the worker."""

    def __init__(self, source, target, preprocess, augment, train):
        self.source, self.target = source, target
        self.preprocess, self.augment, self.train = preprocess, augment, train

    def images(self, paths):
        return float_image_batch([decode_image_file(path) for path in paths], paths, self.preprocess,
                                 self.augment if self.train else None)

    def __getitem__(self, pair):
        idx_s, idx_t = pair
        xs = self.images(self.source[idx_s.numpy()])
        xt = None if self.target is None or idx_t is None else self.images(self.target[idx_t.numpy()])
        return xs, xt


def ordered_batches(dataset, items, num_workers, device, seed):
    """The batches of a ``DataLoader`` over ``items`` (each one whole batch), in order, pinned for CUDA. Its own
    generator seeds the workers (torch's global generator is not drawn from, so the training's random numbers do
    not depend on the placement). The worker processes stop when the batches end, are abandoned or fail."""
    loader = torch.utils.data.DataLoader(
        dataset, sampler=items, batch_size=None, num_workers=num_workers, pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(int(seed) % 2**63))
    iterator = iter(loader)
    try:
        yield from iterator
    finally:
        # An error raised in a worker (e.g. an unreadable file) keeps the iterator alive through the exception's
        # traceback (its frames hold it), and with it the worker processes until the exception is gone. The
        # multiprocessing iterator has no public method to stop its workers now; _shutdown_workers is what its
        # own __del__ calls.
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


class HostRows(RowSource):
    """The array stays in host memory; batches are gathered there (in ``DataLoader`` workers when
    ``num_workers > 0``), pinned and copied to a CUDA device without blocking, converted on the device."""

    def __init__(self, array: np.ndarray, pipeline: _Pipeline, num_workers: int = 0):
        super().__init__(len(array), pipeline, num_workers)
        self.array = array

    def _to_device(self, batch):
        if self.device.type == "cuda":
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch

    def take(self, indices, train=True):
        return self.pipeline.finish(self._to_device(torch.from_numpy(self.array[indices.cpu().numpy()])), train)

    def paired_batches(self, pairs, target, seed):
        pairs = [(s.cpu(), None if t is None else t.cpu()) for s, t in pairs]
        dataset = _IndexedArray(self.array, None if target is None else target.array)
        for xs, xt in ordered_batches(dataset, pairs, self.num_workers, self.device, seed):
            xs = self.pipeline.finish(xs.to(self.device, non_blocking=True), True)
            if xt is not None:
                xt = target.pipeline.finish(xt.to(self.device, non_blocking=True), True)
            yield xs, xt

    def chunks(self, chunk_rows):
        for start in range(0, self.n_rows, chunk_rows):
            batch = torch.from_numpy(np.array(self.array[start:start + chunk_rows]))  # a copy, never the caller's
            yield start, self.pipeline.finish(self._to_device(batch), False)

    def subset(self, indices):
        return HostRows(self.array[np.asarray(indices)], self.pipeline, self.num_workers)


class FileRows(RowSource):
    """Image files, decoded, converted to float, preprocessed (per image) and augmented (per image, training)
    by ``DataLoader`` workers (``num_workers``; 0: in the calling process); batches pinned and copied to a CUDA
    device without blocking."""

    converted_on_host = True

    def __init__(self, paths: np.ndarray, pipeline: _Pipeline, num_workers: int = 0):
        require_torchvision("Image file input")
        super().__init__(len(paths), pipeline, num_workers)
        self.paths = paths

    def _dataset(self, target, train):
        p = self.pipeline
        return _DecodedFiles(self.paths, None if target is None else target.paths, p.preprocess, p.augment, train)

    def _finish(self, batch):
        return self.pipeline.finish(batch.to(self.device, non_blocking=True), False, converted=True)

    def take(self, indices, train=True):
        xs, _ = self._dataset(None, train)[(indices.cpu(), None)]
        return self._finish(xs)

    def paired_batches(self, pairs, target, seed):
        pairs = [(s.cpu(), None if t is None else t.cpu()) for s, t in pairs]
        for xs, xt in ordered_batches(self._dataset(target, True), pairs, self.num_workers, self.device, seed):
            yield self._finish(xs), None if xt is None else self._finish(xt)

    def chunks(self, chunk_rows):
        items = [(torch.arange(s, min(s + chunk_rows, self.n_rows)), None) for s in range(0, self.n_rows, chunk_rows)]
        loader = ordered_batches(self._dataset(None, False), items, self.num_workers, self.device, 0)
        for (idx, _), (xs, _) in zip(items, loader):
            yield int(idx[0]), self._finish(xs)

    def subset(self, indices):
        return FileRows(self.paths[np.asarray(indices)], self.pipeline, self.num_workers)


def make_row_source(X, *, device, placement, preprocess=None, augment=None, num_workers=0) -> RowSource:
    """The :class:`RowSource` of validated image input ``X`` (an image array or a path array) for
    ``placement`` "device" or "host" (already resolved)."""
    pipeline = _Pipeline(device, preprocess, augment)
    if X.dtype == object:
        return FileRows(X, pipeline, num_workers)
    if placement == "device":
        with read_only_array_ok(X):
            return DeviceRows(torch.as_tensor(X, device=device), pipeline)
    return HostRows(X, pipeline, num_workers)


def read_only_array_ok(array):
    """A context that silences torch's warning for a read-only numpy ``array`` given to ``torch.from_numpy`` /
    ``as_tensor`` (its rows are only read: batches are copies); for a writeable array (the usual case) nothing, so
    that the process's warning filters are not touched (``warnings.catch_warnings`` is not thread-safe)."""
    if getattr(getattr(array, "flags", None), "writeable", True):
        return nullcontext()
    return _read_only_warning_ignored()


@contextmanager
def _read_only_warning_ignored():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        yield
