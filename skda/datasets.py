"""Domain-adaptation benchmark tasks.

``load_task(name)`` returns ``(Xs, ys, Xt, yt)`` (float32 features, 0-based int64 labels) for

- ``"digits-shift"``: an embedded task that needs no file (scikit-learn's 8x8 digits, see
  :func:`make_digits_shift`);
- ``"mnist->usps"``, ``"usps->mnist"``: the JDA release of MNIST (2000) vs USPS (1800), 16x16 grey
  (Long et al., ICCV 2013; LeCun et al. 1998; Hull 1994), file ``digits_mnist_usps/MNIST_vs_USPS.mat``;
- Office-Caltech-10 SURF, 12 pairs of ``amazon``, ``caltech``, ``dslr``, ``webcam`` (e.g.
  ``"amazon->webcam"``; Gong et al., CVPR 2012; Saenko et al., ECCV 2010; Griffin et al. 2007),
  files ``office_caltech10_surf/<Domain>_SURF_L10.mat``;
- Amazon reviews, 400-d bag of words, 12 pairs of ``books``, ``dvd``, ``electronics``, ``kitchen``
  (e.g. ``"books->dvd"``; Blitzer et al. 2007; Chen et al., ICML 2012), files
  ``amazon_reviews_400/<domain>_400.mat``.

Names are read case-insensitively with spaces ignored, and a domain may be written by its initial: ``a c d w``
for the Office domains (``"a->w"``, ``"D -> W"``), ``b e k`` for books, electronics and kitchen (``"elec"`` too);
``dvd`` has none, since ``d`` is ``dslr``.

The data folder (:func:`resolve_data_home`) is, as in scikit-learn's ``get_data_home``, the first of

1. the ``data_home`` argument, if given;
2. the ``SKDA_DATA`` environment variable, if set and not empty;
3. the per-user default ``~/skda_data`` (:data:`DEFAULT_DATA_HOME`; ``~`` is the user's home folder).

It holds ``digits_mnist_usps/``, ``office_caltech10_surf/`` and ``amazon_reviews_400/``. skda never
downloads anything and never creates the folder: it only reads files a user put there. A missing file
raises ``FileNotFoundError`` naming the file, the folder used and all three places above (which were
given or set, which were not). In a source checkout the files live in ``../shared/data``; the test suite
(``tests/conftest.py``) and the benchmark scripts set ``SKDA_DATA`` to it unless it is already set.

Preprocessing (``preprocess=True``, the default; ``False`` returns the raw values):

- digits (MNIST/USPS): per-image standardisation, each row minus its mean, divided by its standard
  deviation (no statistic is shared between samples or domains);
- Office-Caltech SURF: each row divided by its sum, then each domain z-scored with its own mean and
  standard deviation per feature (the classic protocol of the JDA/GFK papers);
- Amazon reviews: rows already sum to one; each domain is z-scored with its own statistics.

No preprocessing uses a label, and target statistics come from the (unlabelled) target features only.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["DEFAULT_DATA_HOME", "IMAGE_EXTENSIONS", "list_tasks", "load_image_folder", "load_task", "make_digits_shift",
           "resolve_data_home"]

_OFFICE = {"amazon": "amazon", "caltech": "Caltech10", "dslr": "dslr", "webcam": "webcam"}
_REVIEWS = {"books": "books", "dvd": "dvd", "electronics": "elec", "kitchen": "kitchen"}
_ALIASES = {"a": "amazon", "c": "caltech", "d": "dslr", "w": "webcam", "elec": "electronics",
            "b": "books", "e": "electronics", "k": "kitchen"}

_FAMILY_DIRS = {"digits": "digits_mnist_usps", "office_caltech": "office_caltech10_surf",
                "amazon_reviews": "amazon_reviews_400"}


def list_tasks(family: str | None = None) -> list[str]:
    """Task names, optionally of one family: ``"embedded"``, ``"digits"``, ``"office_caltech"``,
    ``"amazon_reviews"``."""
    tasks = {
        "embedded": ["digits-shift"],
        "digits": ["mnist->usps", "usps->mnist"],
        "office_caltech": [f"{s}->{t}" for s in _OFFICE for t in _OFFICE if s != t],
        "amazon_reviews": [f"{s}->{t}" for s in _REVIEWS for t in _REVIEWS if s != t],
    }
    if family is None:
        return [t for names in tasks.values() for t in names]
    if family not in tasks:
        raise ValueError(f"unknown task family {family!r}; choose from {sorted(tasks)}.")
    return list(tasks[family])


#: The per-user default data folder, used when neither ``data_home`` nor ``$SKDA_DATA`` is given;
#: ``~`` is expanded when the folder is resolved (so it follows ``HOME``).
DEFAULT_DATA_HOME = "~/skda_data"


def resolve_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The folder holding the benchmark files: ``data_home``, else ``$SKDA_DATA`` (if not empty), else
    :data:`DEFAULT_DATA_HOME` (``~/skda_data``). ``~`` is expanded; the folder is neither created nor
    checked (skda downloads nothing)."""
    if data_home is not None:
        return Path(data_home).expanduser()
    if os.environ.get("SKDA_DATA"):
        return Path(os.environ["SKDA_DATA"]).expanduser()
    return Path(DEFAULT_DATA_HOME).expanduser()


def _places_searched(data_home) -> str:
    """The three places :func:`resolve_data_home` consults, each with its state, for an error message."""
    env = os.environ.get("SKDA_DATA")
    default = Path(DEFAULT_DATA_HOME).expanduser()
    if data_home is not None:
        arg = f"given, {str(data_home)!r} (used)"
    else:
        arg = "not given"
    if env:
        state = "ignored: the argument wins" if data_home is not None else "used"
        env_text = f"set to {env!r} ({state})"
    else:
        env_text = "unset" if env is None else "set but empty, so treated as unset"
    default_state = "used" if data_home is None and not env else "not used: only when both are unset"
    return (f"(1) the data_home argument: {arg}; (2) the SKDA_DATA environment variable: {env_text}; "
            f"(3) the per-user default {DEFAULT_DATA_HOME} = {default} ({default_state})")


def _loadmat(data_home, family: str, filename: str, variables: tuple[str, ...]) -> dict:
    """The ``variables`` of the benchmark file ``filename`` of ``family``; a missing file raises
    ``FileNotFoundError`` naming the places searched, an unreadable one or one without these variables
    ``ValueError`` naming the file."""
    from scipy.io import loadmat

    folder = resolve_data_home(data_home)
    path = folder / _FAMILY_DIRS[family] / filename
    if not path.is_file():
        origin = ("the data_home argument" if data_home is not None else
                  "the SKDA_DATA environment variable" if os.environ.get("SKDA_DATA") else
                  "the per-user default")
        missing = "does not exist" if not folder.is_dir() else f"has no {_FAMILY_DIRS[family]}/{filename}"
        raise FileNotFoundError(
            f"benchmark file {_FAMILY_DIRS[family]}/{filename} not found: looked for {path}. The data folder "
            f"{folder} comes from {origin} and {missing}; it is the first of "
            f"{_places_searched(data_home)}. skda downloads nothing: put digits_mnist_usps/, office_caltech10_surf/ "
            "and amazon_reviews_400/ in one of these folders.")
    try:
        mat = loadmat(path)
    except Exception as exc:  # noqa: BLE001 - scipy raises MatReadError, ValueError, OSError by the kind of damage
        raise ValueError(f"cannot read the benchmark file {path}: {exc}") from exc
    missing = [v for v in variables if v not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"the benchmark file {path} has no variable {missing} (it holds {found}); skda reads "
                         f"{list(variables)} from it: is it the file the data README describes?")
    return mat


def _standardize_rows(X):
    X = X - X.mean(axis=1, keepdims=True)
    return X / np.maximum(X.std(axis=1, keepdims=True), 1e-8)


def _zscore(X):
    return (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-8)


def _labels(y, offset=0):
    return np.asarray(y).ravel().astype(np.int64) - offset


def _checked(file, X, y, n_features, n_classes):
    """``(X, y)`` read from the benchmark ``file``, refused (``ValueError`` naming it) unless they are what the data
    README describes: one label per row, ``n_features`` columns, labels ``0 .. n_classes - 1`` (after the offset):
    a file of another release (e.g. 0-based labels, which would become -1, the unlabelled marker) is no silent
    wrong answer."""
    problems = []
    if X.ndim != 2 or X.shape[1] != n_features:
        problems.append(f"features of shape {X.shape[1:]} (expected {n_features} per row)")
    if len(y) != len(X):
        problems.append(f"{len(y)} labels for {len(X)} rows")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        problems.append(f"labels {y.min()}..{y.max()} after skda's offset (expected 0..{n_classes - 1})")
    if problems:
        raise ValueError(f"the benchmark file {file} holds {'; '.join(problems)}: is it the file the data README "
                         "describes?")
    return X, y


def _load_digits_pair(data_home, reverse, preprocess):
    mat = _loadmat(data_home, "digits", "MNIST_vs_USPS.mat", ("X_src", "Y_src", "X_tar", "Y_tar"))
    mnist = _checked("MNIST_vs_USPS.mat (X_src, Y_src)", np.asarray(mat["X_src"], dtype=np.float64).T,
                     _labels(mat["Y_src"], 1), 256, 10)
    usps = _checked("MNIST_vs_USPS.mat (X_tar, Y_tar)", np.asarray(mat["X_tar"], dtype=np.float64).T,
                    _labels(mat["Y_tar"], 1), 256, 10)
    (Xs, ys), (Xt, yt) = (usps, mnist) if reverse else (mnist, usps)
    if preprocess:
        Xs, Xt = _standardize_rows(Xs), _standardize_rows(Xt)
    return Xs, ys, Xt, yt


def _load_office(data_home, domain, preprocess):
    file = f"{_OFFICE[domain]}_SURF_L10.mat"
    mat = _loadmat(data_home, "office_caltech", file, ("fts", "labels"))
    X, y = _checked(file, np.asarray(mat["fts"], dtype=np.float64), _labels(mat["labels"], 1), 800, 10)
    if preprocess:
        X = _zscore(X / np.maximum(X.sum(axis=1, keepdims=True), 1e-12))
    return X, y


def _load_reviews(data_home, domain, preprocess):
    file = f"{_REVIEWS[domain]}_400.mat"
    mat = _loadmat(data_home, "amazon_reviews", file, ("fts", "labels"))
    X, y = _checked(file, np.asarray(mat["fts"], dtype=np.float64), _labels(mat["labels"]), 400, 2)
    if preprocess:
        X = _zscore(X)
    return X, y


def make_digits_shift(random_state=0, angle: float = 20.0):
    """Embedded visual domain shift from ``sklearn.datasets.load_digits`` (no download; deterministic for an int
    ``random_state``).

    The 1797 8x8 digits (pixels scaled to [0, 1]) are split in two halves by a permutation drawn from
    ``random_state`` (int, ``numpy.random.RandomState`` or None, as scikit-learn's ``check_random_state``).
    Source: the first half as is. Target: the second half rotated by ``angle``
    degrees counter-clockwise (``scipy.ndimage.rotate``, bilinear, same size, clipped to [0, 1]) - other
    digits of the same writers, seen by a tilted camera. Labels are the digits 0-9.

    Returns ``(Xs, ys, Xt, yt)`` with 64 float32 features (898 source rows, 899 target rows).
    """
    from scipy import ndimage
    from sklearn.datasets import load_digits

    if isinstance(angle, (bool, np.bool_)) or not isinstance(angle, numbers.Real) or not np.isfinite(angle):
        raise ValueError(f"angle must be a finite number of degrees, got {angle!r}.")
    digits = load_digits()
    X = digits.images.astype(np.float64) / 16.0
    y = digits.target.astype(np.int64)
    order = check_random_state(random_state).permutation(len(X))
    half = len(X) // 2
    src, tgt = order[:half], order[half:]
    Xt = np.clip(ndimage.rotate(X[tgt], angle, axes=(1, 2), reshape=False, order=1), 0.0, 1.0)
    return (X[src].reshape(len(src), 64).astype(np.float32), y[src],
            Xt.reshape(len(tgt), 64).astype(np.float32), y[tgt])


def load_task(name: str, data_home: str | os.PathLike | None = None, *, preprocess: bool = True):
    """Load a task by name (see the module docstring; case, spaces and the initials ``a c d w`` / ``b e k`` are
    accepted, e.g. ``"a->w"``) as ``(Xs, ys, Xt, yt)``.

    ``data_home`` is the folder of the benchmark files, else ``$SKDA_DATA``, else ``~/skda_data`` (see
    :func:`resolve_data_home`); the embedded ``"digits-shift"`` task needs none.
    """
    if not isinstance(name, str):
        raise TypeError(f"load_task takes a task name (str), e.g. 'amazon->caltech' or 'digits-shift'; got "
                        f"{type(name).__name__} {name!r}. skda.datasets.list_tasks() lists them.")
    key = name.strip().lower().replace(" ", "")
    if key == "digits-shift":
        return make_digits_shift()
    if "->" not in key:
        raise ValueError(f"unknown task {name!r}: a task is 'digits-shift' or a pair 'source->target' such as "
                         f"{list_tasks()[1:4]}; skda.datasets.list_tasks() lists them.")
    source, target = (_ALIASES.get(part, part) for part in key.split("->", 1))
    if {source, target} == {"mnist", "usps"}:
        Xs, ys, Xt, yt = _load_digits_pair(data_home, source == "usps", preprocess)
    elif source in _OFFICE and target in _OFFICE and source != target:
        (Xs, ys), (Xt, yt) = _load_office(data_home, source, preprocess), _load_office(data_home, target, preprocess)
    elif source in _REVIEWS and target in _REVIEWS and source != target:
        (Xs, ys), (Xt, yt) = _load_reviews(data_home, source, preprocess), _load_reviews(data_home, target, preprocess)
    else:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}.")
    return Xs.astype(np.float32), ys, Xt.astype(np.float32), yt


#: the file endings (lower case) :func:`load_image_folder` takes for images: the formats skda decodes
#: (``torchvision.io.decode_image``: JPEG, PNG, WebP, GIF); torchvision's ``ImageFolder`` also lists BMP, PPM, PGM
#: and TIFF, which that decoder cannot read
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif")


def load_image_folder(root: str | os.PathLike, *, check: bool = True,
                      extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read the ImageFolder layout, ``root/<class name>/**/<image>``, in which Office-31 and Office-Home are
    distributed (one folder per domain): returns ``(paths, labels, class_names)``.

    ``class_names`` are the sub-folders of ``root``, sorted by name; ``labels[i]`` (int64) indexes them;
    ``paths`` (an array of str) lists, class by class, the files under each class folder (sub-folders included)
    whose name ends with one of ``extensions`` (case-insensitive, with or without the dot; :data:`IMAGE_EXTENSIONS`,
    the formats skda can decode, or a subset of them), sorted: the order and labels of
    ``torchvision.datasets.ImageFolder`` for those formats. Other files are skipped. ``paths`` goes straight into
    :class:`skda.features.ImageFeatures` (or, where an estimator takes file paths, into ``fit``).

    ``check=True`` (default) opens every image with Pillow and checks its header and structure
    (``PIL.Image.verify``, which reads the file but does not decode the pixels: a few ms per image), that its
    format is one skda decodes (not e.g. a BMP named ``.jpg``) and decodes a JPEG's pixels (a file cut short, e.g. by
    an interrupted download, passes ``verify``), and raises ``ValueError`` naming the files that are not readable
    images; ``check=False`` skips this (for large
    folders; a bad file is then named when it is decoded).

    Raises ``FileNotFoundError`` for a missing ``root``, ``NotADirectoryError`` for a file, ``ValueError`` for a
    folder without class folders or with a class folder that holds no image.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"load_image_folder: no folder {str(root)!r}.")
    if not root.is_dir():
        raise NotADirectoryError(f"load_image_folder: {str(root)!r} is a file, not a folder of class folders.")
    class_names = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not class_names:
        raise ValueError(f"load_image_folder: {str(root)!r} holds no class folder; the layout is "
                         "root/<class name>/<image files>.")
    if isinstance(extensions, str):
        extensions = (extensions,)
    if extensions is None:
        extensions = IMAGE_EXTENSIONS
    try:  # any collection of endings (a tuple, a list, a set, an array)
        endings_given = [e for e in extensions]
    except TypeError:
        endings_given = None
    if endings_given is None or not all(isinstance(e, str) for e in endings_given):
        raise TypeError(f"load_image_folder: extensions must be a file ending or a collection of them (e.g. "
                        f"('.jpg', '.png')), got {extensions!r}.")
    extensions = endings_given
    endings = tuple("." + e.lower().lstrip(".") for e in extensions)
    unreadable = [e for e in endings if e not in IMAGE_EXTENSIONS]
    if unreadable:
        raise ValueError(f"load_image_folder: skda decodes image files with torchvision.io.decode_image, which reads "
                         f"{list(IMAGE_EXTENSIONS)}, not {unreadable}; convert those files (e.g. with Pillow) first.")
    paths, labels, empty = [], [], []
    for label, name in enumerate(class_names):
        found = [os.path.join(folder, file) for folder, _, files in sorted(os.walk(root / name, followlinks=True))
                 for file in sorted(files) if file.lower().endswith(endings)]
        if not found:
            empty.append(name)
        paths += found
        labels += [label] * len(found)
    if empty:
        raise ValueError(f"load_image_folder: the class folders {empty} of {str(root)!r} hold no image file (endings "
                         f"{list(endings)}).")
    if check:
        _check_images_readable(paths)
    return np.array(paths, dtype=str), np.array(labels, dtype=np.int64), class_names


#: Pillow's names of the formats torchvision's ``decode_image`` reads (MPO: a JPEG with extra frames, e.g. from cameras)
_DECODED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF")


def _check_images_readable(paths) -> None:
    try:
        from PIL import Image  # a torchvision dependency
    except ImportError as exc:  # pragma: no cover - installed with torchvision
        raise ImportError("load_image_folder(check=True) opens the images with Pillow: pip install skda[vision] "
                          "(or check=False).") from exc

    bad = []
    for path in paths:
        try:
            with Image.open(path) as image:
                kind = image.format
                image.verify()
            if kind not in _DECODED_FORMATS:  # e.g. a BMP or TIFF named .jpg / .png: decode_image cannot read it
                raise ValueError(f"a {kind} file, which torchvision's decode_image does not read")
            if kind in ("JPEG", "MPO"):  # verify does not read a JPEG's pixel data: a file cut short passes it
                with Image.open(path) as image:
                    image.load()
        except Exception as exc:  # noqa: BLE001 - any failure means the file is not a readable image
            bad.append(f"{path} ({type(exc).__name__}: {exc})")
    if bad:
        shown = "; ".join(bad[:10])
        raise ValueError(f"load_image_folder: {len(bad)} of {len(paths)} files are not readable images: {shown}"
                         f"{' ...' if len(bad) > 10 else ''}. Remove or replace them (check=False skips this check).")
