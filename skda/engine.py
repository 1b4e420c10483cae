"""The one training engine every skda estimator runs on.

:class:`DomainAdaptationNet` is a :class:`skorch.NeuralNet` (so callbacks, history, ``module__`` /
``optimizer__`` / ``callbacks__`` parameter routing, ``clone`` and pickling work as in skorch) whose
training loop draws *paired* source/target mini-batches by index from tensors that are already on the
training device: no ``Dataset.__getitem__`` per sample, no host<->device copy per batch, one host copy
of the batch losses per epoch.

A method (DANN, ...) is a subclass that provides

- ``build_network(feature_extractor, n_features)``: the ``nn.Module`` trained as ``module_``; it must
  have ``features(x)``, ``classify(features)`` and ``forward(source, target)`` returning a dict;
- ``get_loss(y_pred, y_true, X, training)``: the method's objective on one paired batch;
- optionally ``_default_callbacks`` (schedules; skorch's property, see below) and
  ``batch_sampler(ys, n_target, generator)``.
"""

from __future__ import annotations

import contextlib
import difflib
import copy
import fnmatch
import inspect
import pickle
import warnings
from types import MappingProxyType

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import TransformerTags, _safe_indexing, column_or_1d
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from skorch import NeuralNet
from skorch.exceptions import SkorchException
from torch import nn

from .images import RowSource, device_fits, is_path_array, make_row_source, read_only_array_ok
from .layers import MLPFeatureExtractor, check_network_output
from .optim import LRAnnealing, takes_foreach
from .params import (callback_list, check_parameters, check_unused_skorch_parameters, choices, count, device_constraint,
                     marker_constraint, real)
from .persistence import (_COPYING, FITTED_STATE_KEY, _decode_value, _encode_value, _pop_params_file,
                          _without_state)
from .runtime import (TrainingRun, autocast_off, caller_stacklevel, check_device_available, device_parameter_resolved,
                      resolve_device, same_value, seeded)
from .sampling import ClassBalancedBatchSampler, PairedBatchSampler, split_validation
from .validation import (check_features, check_image_scale, check_sklearn_scoring, check_target_labels,
                         check_x_target_not_routed_past_pipeline, is_int_at_least, labelled_score_rows,
                         numeric_labels, restored_on_error, score_without_labelled_rows, split_domains,
                         split_sample_domain, unlabeled_mask,
                         warn_if_the_pipeline_ends_in_a_classifier_blind_to_the_marker)

__all__ = ["FITTED_STATE_KEY", "ClassBalancedBatchSampler", "DomainAdaptationNet", "PairedBatchSampler",
           "TrainingInterruptedWarning", "resolve_device"]

#: Rows per forward pass in predict / transform.
PREDICT_CHUNK_ROWS = 1024
#: Fewer rows than this in a prediction chunk are padded to it (copies of the first row), so that a row's result does
#: not depend on how many rows are predicted with it: BLAS takes another summation path for small matrices (a
#: float32 rounding apart; measured: 1 to 3 rows on one 2-core Xeon, up to 15 rows on another). A BLAS may also
#: choose its path by the row count beyond this (seen with 800 -> 256 linear layers below 128 rows), so results
#: are equal to a float32 rounding, bit for bit only where the BLAS keeps one path.
MIN_CHUNK_ROWS = 16
#: ``fit`` warns when this share (or more) of the training target rows is predicted as one class
COLLAPSE_SHARE = 0.99
#: Optimisation steps of a fit (or a ``partial_fit`` call) when ``max_epochs="auto"`` (the default): the epochs are
#: ``ceil(AUTO_STEPS / steps per epoch)``. Chosen on source validation accuracy alone
#: (docs/results_tabular_defaults.md):
#: a fixed number of steps rather than of epochs, since an epoch is one pass over the larger domain and small
#: sources would get few steps.
AUTO_STEPS = 500


def auto_epochs(steps_per_epoch: int, steps: int = AUTO_STEPS) -> int:
    """The epochs of a ``max_epochs="auto"`` fit: ``ceil(steps / steps_per_epoch)``, at least 1."""
    return max(1, -(-int(steps) // max(1, int(steps_per_epoch))))


def _declare_inherited_parameters(cls):
    """Give ``cls.__init__`` a signature (PEP 362 ``__signature__``) that names, after the class's own
    parameters, those it passes on to its parent through ``**kwargs``, with the parent's defaults (the parent's
    signature, itself declared so, down to skorch's ``NeuralNet``). Each estimator's ``__init__`` declares only
    the parameters it adds (skorch's ``NeuralNetClassifier`` style); scikit-learn reads a parameter's default
    from the ``__init__`` signature (its repr shows the parameters that differ from their defaults, its checks
    compare them) and offers no other hook for it. Nothing else reads the signature: skorch lists parameters
    from the instance."""
    init = cls.__dict__.get("__init__")
    if init is None:
        return
    parent_init = next(klass.__dict__["__init__"] for klass in cls.__mro__[1:] if "__init__" in klass.__dict__)
    own = inspect.signature(init)
    names = set(own.parameters)
    inherited = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                 for p in inspect.signature(parent_init).parameters.values()
                 if p.name not in names and p.default is not inspect.Parameter.empty
                 and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)]
    regular = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    var_keyword = [p for p in own.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    init.__signature__ = own.replace(parameters=[*regular, *inherited, *var_keyword])


def _check_declared_classes(classes, ys, marker):
    """``partial_fit``'s ``classes`` on the first call: sorted unique labels that include every label of ``ys``
    and not the unlabelled ``marker`` (which would become a class no row trains and the model could predict)."""
    if np.ndim(classes) != 1:
        raise ValueError(f"classes must be a 1-D array of the class labels, got an array of shape "
                         f"{np.shape(classes)}.")
    classes = column_or_1d(np.asarray(classes), warn=False)
    if unlabeled_mask(classes, marker).any():
        raise ValueError(
            f"classes holds the unlabelled marker {marker!r}, the label of the target rows, not a class. Pass the "
            "source classes (e.g. np.unique(ys)); scikit-learn's learning_curve(exploit_incremental_learning=True) "
            "passes np.unique(y) of packed labels, marker included: use exploit_incremental_learning=False there.")
    classes = np.unique(classes)
    check_classification_targets(classes)
    if len(classes) < 2:
        raise ValueError(f"classes must hold at least 2 classes, got {classes.tolist()}.")
    unknown = np.setdiff1d(np.unique(ys), classes)
    if len(unknown):
        raise ValueError(f"the labels {unknown.tolist()} are not among classes={classes.tolist()}.")
    return classes


def _same_build_value(recorded, current) -> bool:
    """``same_value``, or for objects without ``==`` that a pickle or a deep copy made distinct (skorch pickles the
    ``module_*`` attributes apart, so the record loses its identity with the parameter): for a module instance the
    same class, ``repr`` and equal weights; for others (a torchvision transform) the same pickled bytes (objects
    holding tensors or sets may then count as changed: the refusal errs on the safe side)."""
    if same_value(recorded, current):
        return True
    if isinstance(recorded, nn.Module) and type(recorded) is type(current):  # tensors pickle with their storage ids
        ours, theirs = recorded.state_dict(), current.state_dict()
        return (repr(recorded) == repr(current) and ours.keys() == theirs.keys()
                and all(torch.equal(ours[k], theirs[k]) for k in ours))
    try:
        return pickle.dumps(recorded) == pickle.dumps(current)
    except Exception:  # noqa: BLE001 - unpicklable (a lambda): only identity or == can tell
        return False


#: The optimiser state entries torch's optimisers keep with their parameter's shape (others, e.g. Adafactor's
#: factored row_var / col_var or a scalar step, have other shapes)
_PER_PARAMETER_STATE = frozenset({"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg",
                                  "acc_delta", "sum", "grad_avg", "exp_inf", "ax", "prev", "step_size"})


def check_finite_output(out, name="X"):
    """``out`` (a numpy array or tensor with one row per row of ``name``), or ``ValueError`` naming the rows whose
    output is NaN or inf: finite inputs whose values overflow the network (far outside the training range), or
    weights that are not finite. A NaN probability would otherwise be predicted as ``classes_[0]``."""
    finite = np.isfinite(out) if isinstance(out, np.ndarray) else torch.isfinite(out)
    if bool(finite.all()):
        return out
    rows = np.flatnonzero(~np.asarray(finite.reshape(len(out), -1).all(1).tolist(), dtype=bool))
    raise ValueError(
        f"the network's output is not finite (NaN or inf) for {len(rows)} of {len(out)} rows of {name} (rows "
        f"{rows[:5].tolist()}{' ...' if len(rows) > 5 else ''}), although {name} is finite: their values are "
        "probably far outside the range the network was trained on (preprocess them as the training data), or the "
        "network's weights are not finite.")


class TrainingInterruptedWarning(UserWarning):
    """A fit stopped by ``KeyboardInterrupt`` (Ctrl-C) during an epoch: skorch ends the fit quietly; skda warns
    with this category (the model keeps the weights of the last step taken), and
    :func:`skda.active.active_learning_loop` turns it into an error that stops the loop."""


#: How to watch the source validation accuracy, whose best skda does not record itself
_ACCURACY_MONITOR_ADVICE = (
    "EarlyStopping: monitor='valid_accuracy', lower_is_better=False. Checkpoint (which reads its monitor as a yes/no "
    "flag): list skorch's PassthroughScoring(name='valid_accuracy', lower_is_better=False) before it, which records "
    "valid_accuracy_best, and monitor 'valid_accuracy_best'")


def _copied_module_values(values: dict) -> dict:
    """The ``module__*`` values as a fit passes them to the module class: deep-copied together (as scikit-learn's
    ``clone`` copies parameters; one copy, so that an object given in two values stays one object and tied weights
    stay tied), so that a network, tensor or array among them (a pretrained backbone, also inside a list) is never
    trained in place and every fit starts from the same weights. A value that cannot be copied is an error naming
    it."""
    try:
        return copy.deepcopy(values)
    except Exception as exc:
        for key, value in values.items():  # which one
            try:
                copy.deepcopy(value)
            except Exception as failure:
                hint = (" (a tensor computed from others cannot be copied: pass tensor.detach())"
                        if isinstance(value, torch.Tensor) and value.grad_fn is not None else "")
                raise ValueError(f"module__{key} is copied for each fit, so that your object is never trained in "
                                 f"place, and copying it failed: {failure}{hint}") from failure
        raise ValueError(f"the module__ values are copied for each fit, and copying them failed: {exc}") from exc


class DomainAdaptationNet(ClassifierMixin, TransformerMixin, ClassNamePrefixFeaturesOutMixin, NeuralNet):
    """Base estimator: a skorch ``NeuralNet`` trained on paired source/target batches.

    Not used directly: see :class:`skda.DANNClassifier` and :class:`skda.SourceOnlyClassifier`.

    The defaults are a recipe for tabular data (Adam 1e-3 annealed, 500 optimisation steps, the MLP's
    ``hidden_sizes="auto"``), chosen on source validation accuracy alone, without any target row or label
    (docs/index.md, "Default recipe"; docs/results_tabular_defaults.md). Image-like data (e.g. LeNet on digits)
    use documented configurations (benchmarks/config.py).

    Parameters
    ----------
    module : nn.Module class or instance, default :class:`skda.layers.MLPFeatureExtractor`
        The feature extractor G_f. A class is instantiated at fit with the ``module__*`` parameters; if
        its constructor has an ``n_features_in`` argument that was not set, it receives the number of
        input values per sample (as the network sees it); for images, an unset ``image_shape`` argument receives
        the network's sample shape ``(C, H, W)``. An instance is deep-copied at fit (your object is never trained
        in place; the estimator holds it beside its trained copy, and pickles carry both), and so are the
        ``module__*`` values (e.g. a pretrained backbone given as one; they must be copyable). Its
        output, one row of floating-point features per sample, is flattened; its size is found with one forward
        pass.
    criterion : loss class, default ``nn.CrossEntropyLoss``
        The label loss on source samples (takes logits and integer labels).
    optimizer : optimiser class, default ``torch.optim.Adam``
        (:class:`skda.optim.MomentumSGD` is the DANN paper's SGD with momentum 0.9.) torch's optimisers that take
        ``foreach`` are built with ``foreach=True`` (same values, less time per step on the CPU) unless
        ``optimizer__foreach``, ``optimizer__fused`` or ``optimizer__differentiable`` is given.
    lr : float, default 1e-3
        A finite number >= 0 (0 leaves the weights unchanged: accepted, e.g. to test a pipeline). Annealed within
        each fit (``lr_annealing``).
    max_epochs : int or "auto", default "auto"
        Epochs; an epoch is one pass over the larger of the two domains. ``"auto"``: ``AUTO_STEPS`` (500)
        optimisation steps per fit (or ``partial_fit`` call), i.e. ``ceil(500 / steps per epoch)`` epochs.
    batch_size : int, default 64
        Samples *per domain* in each step (a step sees ``batch_size`` source and ``batch_size`` target
        samples).
    device : "auto", "cpu", "cuda", torch.device, default "auto"
        "auto" trains on CUDA when available. The resolved device is ``device_`` after fit.
    random_state : int, RandomState or None
        Seeds weight initialisation, dropout and batch order. Same seed, same predictions on CPU. On CUDA some
        kernels (atomic adds in backward passes, cuDNN's algorithm choice) are not bit-reproducible, so two fits
        with the same seed agree only up to float rounding, which training can amplify (one digits fit: 0.83
        vs 0.88 target accuracy for the same seed).
    unlabeled_marker : None, str or finite number, default -1
        In the packed form ``fit(X, y)``, rows with this label are the unlabelled target domain.
    train_split : None or skorch ``ValidSplit``-like callable, default None
        None trains on all labelled source rows. ``skorch.dataset.ValidSplit(0.2, stratified=True)`` holds out
        20% of the *source* rows (labelled target rows, ``yt``, always train) and scores them after every epoch:
        ``valid_loss`` (the label loss) and ``valid_accuracy`` in the history, monitored by skorch's
        ``EarlyStopping`` / ``Checkpoint`` (``callbacks=[EarlyStopping(patience=5)]``). M-ADDA records
        ``valid_loss`` (its triplet loss) only.
    verbose : int, default 0
        1 prints skorch's per-epoch table; see also :class:`skda.callbacks.TrainingProgress`.
    backbone_lr_scale : float >= 0, default 1.0
        The feature extractor's learning rate is ``lr * backbone_lr_scale``, the rest of the network's (label
        classifier, domain classifier, ...) ``lr``: the papers fine-tune a pretrained backbone at 0.1 (0: frozen,
        its batch-norm layers kept in eval mode so that their running statistics stay too).
        A shorthand for ``optimizer__param_groups=[("feature_extractor.*", {"lr_scale": 0.1})]`` (patterns
        ``backbone_parameters``); groups of ``optimizer__param_groups`` take precedence. A group may give
        ``"lr_scale"`` (its rate is the optimiser's ``lr`` times it; it follows ``set_params(lr=...)``) or, as
        in skorch, an absolute ``"lr"``. Every schedule (the default annealing, skorch's ``LRScheduler``) scales
        each group from its own base rate.
    data_placement : "auto", "device" or "host", default "auto"
        Where the training data live (docs/images.md). "device": the whole arrays on the training device, batches
        gathered by index there (uint8 images stay uint8). "host": the arrays stay in host memory; each paired
        batch is gathered there (by ``DataLoader`` workers when ``num_workers > 0``), pinned and copied to CUDA
        without blocking. "auto": "host" for image files and for arrays that take more than a quarter of a CUDA
        device's memory (``skda.images.DEVICE_MEMORY_SHARE``), else "device" (always on the CPU). Both draw the
        same paired index batches: without augmentation they give the same model for the same seed (except M-ADDA
        on flat rows with more labelled target rows than ``batch_size``: docs/images.md). Resolved in
        ``data_placement_``. Prediction always reads images and files chunk by chunk from the host.
    num_workers : int, default 0
        ``DataLoader`` worker processes for host batches and image files (decoding, augmentation and preprocessing
        of files run in them); 0: in the calling process.
    preprocess : callable or None, default None
        A deterministic transform applied in training and prediction alike (e.g. ``v2.Resize((28, 28))``,
        ``v2.Normalize(...)``): to each batch ``(n, C, H, W)`` of image arrays on the device, to each decoded image
        of files; after ``augment``. Part of the network's input: ``partial_fit`` and warm starts refuse to continue
        a network trained with another one (a new ``preprocess`` set on a fitted estimator is used by its
        predictions at once; fit again).
    augment : callable or None, default None
        A (random) transform applied to each training image (``(C, H, W)``, float) of both domains, every step,
        before ``preprocess`` (e.g. a ``torchvision.transforms.v2`` transform); never at prediction. One whose
        attribute ``batched`` is true (:class:`skda.images.BatchRandomAffine`) is called once per batch
        ``(n, C, H, W)`` instead and draws per image itself. Its random draws come from torch's generator, seeded by
        ``random_state`` (same seed, same model on CPU).
    precision : "float32" or "bfloat16", default "float32"
        "bfloat16" runs training steps and prediction under ``torch.autocast`` with bfloat16 (for CUDA GPUs with
        bfloat16 units; allowed on the CPU, where it is usually slower). Outputs stay float32 / float64.
    **kwargs
        skorch-routed parameters: ``module__*``, ``optimizer__*``, ``criterion__*``, ``callbacks__*``.

    Attributes
    ----------
    classes_, n_features_in_ (flat rows: the number of columns; images and files: the values of one sample),
    input_shape_ (one sample as given; files: one decoded, preprocessed image), input_kind_ ("rows", "images" or
    "paths"), uint8_images_ (whether the training images of either domain were uint8 arrays, read as x / 255 in
    [0, 1]: images of another dtype with values outside [0, 1] then get a ``DataConversionWarning`` at predict and
    partial_fit; not checked for a model fitted on float images only),
    network_input_shape_ (one sample as the network sees it), data_placement_, device_, module_,
    optimizer_, history_ (skorch ``history``),
    training_progress_ (fraction of the current fit's steps done: the ``p`` of the schedules),
    target_class_shares_ (after a fit with target rows: the share of them predicted as each class; when one
    class takes 99% or more of at least 10 rows, ``fit`` warns with a ``ConvergenceWarning`` that the
    adaptation has probably collapsed),
    train_indices_, valid_indices_, validation_seed_ (with ``train_split``: the source rows trained on and held
    out, and the seed of that split, which ``partial_fit`` and warm-start fits keep so that, on the same rows, the
    held-out rows stay the same).
    """

    #: skorch's bookkeeping before the net is initialised (read-only: skorch assigns new values, never mutates these)
    history_ = None
    virtual_params_ = MappingProxyType({})

    @property
    def initialized_(self):
        """skorch's flag, kept in the private ``_initialized`` so that ``__init__`` sets no public attribute but
        parameters. Absent until skorch's ``__init__`` sets it: skorch's ``__setattr__`` tells its own
        ``__init__`` from later assignments by this attribute's absence (``hasattr(self, 'initialized_')``,
        skorch 1.x's NeuralNet.__setattr__)."""
        try:
            return self.__dict__["_initialized"]
        except KeyError:
            raise AttributeError("initialized_") from None

    @initialized_.setter
    def initialized_(self, value):
        self.__dict__["_initialized"] = value
    #: the state of the fit in progress (:class:`skda.runtime.TrainingRun`), None outside training
    training_run_ = None

    #: The entries of the network's output (``skda.layers.NetworkOutput``) the method's loss reads from a paired
    #: batch, checked on the first training step of each fit.
    required_outputs = ("source_logits",)
    #: The network's methods (and modules) the estimator calls, checked when the network is built: ``features`` and
    #: ``classify`` for predict / transform; a method adds what its training uses (DANN: ``gradient_reversal``).
    required_network_methods = ("features", "classify")

    #: Whether a default ``lr_annealing`` callback anneals the learning rate within each fit (DANN's schedule,
    #: :class:`skda.optim.LRAnnealing`; ``callbacks__lr_annealing=None`` turns it off).
    anneals_learning_rate = True
    #: Name patterns (``fnmatch``, on ``module_.named_parameters()``) of the feature extractor's parameters in the
    #: method's network: the parameters ``backbone_lr_scale`` scales.
    backbone_parameters = ("feature_extractor.*",)

    #: The method's own parameters that ``build_network`` reads (besides ``module``, ``module__*`` and
    #: ``compile``): changing one after a fit makes ``partial_fit`` / ``warm_start`` refuse to continue the
    #: network built with the former value.
    network_parameters: tuple[str, ...] = ()
    #: The parameters (besides ``lr``, ``optimizer`` and ``optimizer__*``) that set the optimisers' groups or rates:
    #: a new value on a fitted estimator rebuilds the optimisers at once (``set_params``).
    learning_rate_parameters: tuple[str, ...] = ("backbone_lr_scale",)
    #: Whether the method's loss reads ``criterion_`` (the label loss): a method that does not (M-ADDA: triplet and
    #: adversarial losses, kNN prediction) refuses a ``criterion`` or ``criterion__*`` value it would ignore.
    uses_criterion: bool = True
    #: Whether fit needs target samples (False only for the source-only baseline).
    requires_target = True
    #: Whether ``predict_proba`` is the softmax of a label classifier's logits (``decision_function`` exists).
    predicts_from_logits = True
    #: The checked parameters and their valid values (scikit-learn's constraint objects, see :mod:`skda.params`);
    #: a subclass lists only the parameters it adds. Checked before every ``fit`` / ``partial_fit``.
    _parameter_constraints = {
        "module": [callable],
        "criterion": [callable],
        "optimizer": [callable],
        "lr": [real(0)],
        "max_epochs": [count(0), choices("auto")],
        "batch_size": [count(1)],
        "device": [device_constraint()],
        # scikit-learn's "random_state" constraint, without True (read as 1)
        "random_state": [None, count(0, 2**32 - 1), np.random.RandomState],
        "unlabeled_marker": marker_constraint(),
        "train_split": [None, callable],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "callbacks": [None, callback_list(), choices("disable")],
        "compile": ["boolean"],
        "torch_load_kwargs": [None, dict],
        "backbone_lr_scale": [real(0)],
        "data_placement": [choices("auto", "device", "host")],
        "num_workers": [count(0)],
        "preprocess": [None, callable],
        "augment": [None, callable],
        "precision": [choices("float32", "bfloat16")],
    }

    def __init__(self, module=MLPFeatureExtractor, *, criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam,
                 lr=1e-3, max_epochs="auto", batch_size=64, device="auto", random_state=None, unlabeled_marker=-1,
                 train_split=None, verbose=0, backbone_lr_scale=1.0, data_placement="auto", num_workers=0,
                 preprocess=None, augment=None, precision="float32", **kwargs):
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr, max_epochs=max_epochs,
                         batch_size=batch_size, device=device, train_split=train_split, verbose=verbose, **kwargs)
        self.random_state = random_state
        self.unlabeled_marker = unlabeled_marker
        self.backbone_lr_scale = backbone_lr_scale
        self.data_placement = data_placement
        self.num_workers = num_workers
        self.preprocess = preprocess
        self.augment = augment
        self.precision = precision
        # skorch's __init__ sets these two to their empty values; the class defaults below hold them instead, so
        # that __init__ stores parameters only (scikit-learn's convention); skorch assigns instance values when
        # it initialises the net
        for name in ("history_", "virtual_params_"):
            if not self.__dict__.get(name, True):
                del self.__dict__[name]

    # ------------------------------------------------------------------ sklearn plumbing
    def __setattr__(self, name, value):
        # ``augment`` / ``preprocess`` may hold torchvision transforms, which are ``nn.Module`` instances: skorch's
        # ``__setattr__`` would refuse them outside ``initialize`` (or register them as networks to train and move
        # to the device). They are plain parameters, applied to batches; stored as such.
        if name in ("augment", "preprocess"):
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    @contextlib.contextmanager
    def _transforms_hidden(self):
        """Inside, ``augment`` and ``preprocess`` read None; yields their values. scikit-learn's
        ``get_params(deep=True)`` and ``clone`` call ``get_params`` on every parameter value that has one, and
        torchvision's transforms have a static ``get_params`` of another meaning (their random draw), which fails
        so; around those two calls the transforms are set aside and put back (the estimator is otherwise
        unchanged). Not thread-safe: another thread reading the estimator meanwhile would see None."""
        transforms = {name: self.__dict__.get(name) for name in ("augment", "preprocess")}
        try:
            for name in transforms:
                object.__setattr__(self, name, None)
            yield transforms
        finally:
            for name, value in transforms.items():
                object.__setattr__(self, name, value)

    def get_params(self, deep=True):
        if not deep:
            return super().get_params(deep=False)
        if self.__dict__.get("augment") is None and self.__dict__.get("preprocess") is None:
            params, transforms = super().get_params(deep=True), {}
        else:
            with self._transforms_hidden() as transforms:
                params = super().get_params(deep=True)
        return {**self._callback_values_set(params), **transforms}

    def _callback_values_set(self, params):
        """``params`` (skorch's deep ``get_params``) with the ``callbacks__<name>[__<param>]`` values set on this
        estimator: skorch lists a default callback's parameters from a fresh instance (``_default_callbacks``),
        which would report e.g. ``callbacks__grl_schedule__gamma`` at its default after it was set; a default
        callback replaced by an instance lists that instance's parameters; a callback set to None lists none; with
        ``callbacks="disable"`` (none runs) only the ``callbacks__*`` values stored on the estimator are listed."""
        set_here = {k: v for k, v in vars(self).items() if k.startswith("callbacks__")}
        if isinstance(self.callbacks, str) and self.callbacks == "disable":  # the values stored, none of skorch's
            return {**{k: v for k, v in params.items() if not k.startswith("callbacks__")}, **set_here}
        replaced = {k: v for k, v in set_here.items() if k.count("__") == 1 and v is not None}
        disabled = [k + "__" for k, v in set_here.items() if v is None and k.count("__") == 1]
        dropped = tuple(disabled) + tuple(k + "__" for k, v in replaced.items() if hasattr(v, "get_params"))
        params = {k: v for k, v in params.items() if not k.startswith(dropped)} if dropped else params
        for name, callback in replaced.items():
            if hasattr(callback, "get_params"):
                params.update({f"{name}__{k}": v for k, v in callback.get_params().items()})
        return {**params, **set_here}

    def __sklearn_clone__(self):
        # scikit-learn's own clone (its public hook), with the transforms deep-copied as clone copies any object
        # without scikit-learn's get_params (see _transforms_hidden)
        if self.__dict__.get("augment") is None and self.__dict__.get("preprocess") is None:
            return super().__sklearn_clone__()
        with self._transforms_hidden() as transforms:
            new = super().__sklearn_clone__()
        for name, value in transforms.items():
            object.__setattr__(new, name, copy.deepcopy(value))
        return new

    def _get_param_names(self):
        # skorch lists every instance attribute not ending in "_" as a parameter (its override of scikit-learn's
        # private method, the one place parameters are listed; there is no public hook): private bookkeeping
        # (``_params_to_validate``, ``_initialized``) is not a parameter
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _declare_inherited_parameters(cls)

    def __repr__(self, N_CHAR_MAX=700):
        # scikit-learn's repr (the parameters that differ from their defaults), not skorch's (the module only)
        return BaseEstimator.__repr__(self, N_CHAR_MAX=N_CHAR_MAX)

    def set_params(self, **params):
        """Set parameters (scikit-learn's ``set_params`` with skorch's routing of ``module__*``, ``optimizer__*``,
        ``callbacks__*``, ...).

        On a fitted estimator, new ``module`` / ``module__*`` / ``compile`` values are stored and take effect when
        the next ``fit`` builds the network; until then the fitted network keeps predicting (skorch would rebuild
        an untrained network at once while the estimator still counts as fitted). ``partial_fit`` and
        ``warm_start`` fits refuse to continue a network built with other values, or on another ``device`` than
        the one it is on (``"auto"`` continues there). A new ``criterion`` or
        ``criterion__*`` value and a new callback list take effect at once; the optimisers keep their state (they
        are rebuilt only for a criterion with parameters of its own, which they then train).

        Learning rates: a new ``lr`` (or ``optimizer__lr``) on a fitted estimator sets every parameter group that
        has an ``lr_scale`` (the groups of ``backbone_lr_scale`` and the rest of the network) to the rate a fresh
        fit would start from (``optimizer__lr`` when it is set, else ``lr``) times its scale, in every optimiser
        (skorch alone writes the one rate into every group of ``optimizer_``). A new ``optimizer``,
        ``optimizer__param_groups``, ``backbone_lr_scale`` or another of the method's ``learning_rate_parameters``
        (M-ADDA's ``target_lr_scale``) rebuilds the optimisers at once (their state, e.g. momentum, restarts), so
        that ``partial_fit`` and warm starts use it; the ``optimizer`` or ``criterion`` class, a ``criterion__*``
        value or a learning-rate scale already set rebuilds nothing (``set_params(**get_params())`` keeps the
        optimisers' state, unless ``optimizer__param_groups`` is set: given again, it rebuilds them); another
        ``optimizer__<option>`` (e.g. ``weight_decay``) is written into every group of every optimiser. Every
        ``optimizer__*`` value is stored as a parameter (``get_params``, ``clone`` and the next ``fit`` use it), as
        on an unfitted estimator.
        A default callback set to None (``callbacks__lr_annealing=None``) is dropped at once; any ``callbacks__*``
        value on a fitted estimator re-initialises the callbacks, which check their values then.

        A call that fails (e.g. a callback refused) leaves a fitted estimator's parameters and state as they were.
        """
        if not self.__sklearn_is_fitted__():
            return self._apply_params(params)
        with self._unchanged_on_error():
            return self._apply_params(params)

    @contextlib.contextmanager
    def _unchanged_on_error(self, weights=False):
        """Inside, the estimator may change; if the block raises, it is put back as it was: its attributes, the
        optimisers' states and group options (torch replaces a loaded state; skorch writes options into the groups in
        place), the callbacks' parameters (skorch sets those in place, on the user's callback objects) and, with
        ``weights``, the network's weights (``load_state_dict`` copies into them in place; kept in host memory)."""
        before = dict(self.__dict__)
        module = getattr(self, "module_", None)
        saved_weights = ({k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
                         if weights and module is not None else None)
        optimizers = [(optimizer, optimizer.state, [dict(group) for group in optimizer.param_groups])
                      for optimizer in (getattr(self, name + "_", None) for name in self._optimizers)
                      if optimizer is not None]
        callbacks = []
        for _, callback in getattr(self, "callbacks_", None) or []:
            try:
                callbacks.append((callback, callback.get_params(deep=False)))
            except Exception:  # noqa: BLE001 - a callback without get_params keeps what it has
                pass
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            if saved_weights is not None:
                module.load_state_dict(saved_weights)
            for optimizer, state, groups in optimizers:
                optimizer.state, optimizer.param_groups = state, groups
            for callback, values in callbacks:
                try:  # a callback that refuses its own values back must not hide the error, nor stop the others
                    callback.set_params(**values)
                except Exception:  # noqa: BLE001, S112
                    continue
            raise

    def _apply_params(self, params):
        """The body of :meth:`set_params`."""
        params = dict(params)
        disabled = params.get("callbacks", self.callbacks)
        callback_values = sorted(k for k, v in params.items() if k.startswith("callbacks__")
                                 and not (k in vars(self) and same_value(vars(self)[k], v)))  # (stored ones pass)
        if isinstance(disabled, str) and disabled == "disable":
            if callback_values:
                raise ValueError(f"callbacks='disable' runs no callback, so {callback_values} has nothing to set; "
                                 "set callbacks to a list (or None) first.")
            # the values stored already (set_params(**get_params())): kept for when callbacks are enabled again
            params = {k: v for k, v in params.items() if not k.startswith("callbacks__")}
        if self.__sklearn_is_fitted__():
            # the rates are written into the optimisers now: checked first (a negative rate trained by gradient
            # ascent at the next partial_fit; a string failed inside the rescaling arithmetic)
            check_parameters(self, {k: v for k, v in params.items()
                                    if k in ("lr", "optimizer__lr", *self.learning_rate_parameters)})
            # the optimiser and criterion classes and the learning-rate scales already set rebuild nothing: skorch
            # would re-initialise the criterion and with it the optimisers' state (Adam's moments), so
            # set_params(**get_params()) keeps a fitted estimator's training state. (lr, callbacks and
            # optimizer__param_groups keep their effect when set again: a rate reset, a re-initialisation, a
            # rebuild from a list edited in place.)
            stateless = ("optimizer", "criterion", *(k for k in self.learning_rate_parameters if "__" not in k))
            params = {k: v for k, v in params.items()
                      if not ((k in stateless or k.startswith("criterion__")) and k in vars(self)
                              and same_value(vars(self)[k], v))}
            for key in [k for k in params if k.split("__", 1)[0] in ("iterator_train", "iterator_valid", "dataset")]:
                # stored; the next fit or partial_fit refuses them by name (skorch's set_params on an initialised
                # net fails with "Something went wrong, please open an issue")
                setattr(self, key, params.pop(key))
        requested = {k: params.pop(k) for k in ("optimizer__param_groups", *self.learning_rate_parameters)
                     if k in params}
        regroup = dict(requested)
        for key, value in requested.items():
            # stored, not sent through skorch: on a fitted net skorch takes ``optimizer__param_groups`` for an option
            # of every existing group (its virtual ``optimizer__*`` setter) and never stores the new value
            setattr(self, key, value)
            if "__" in key:
                self._params_to_validate = {*self._params_to_validate, key}
        if "train_split" in params:  # stored first: callbacks set in the same call are checked against it
            self.train_split = params.pop("train_split")
        if "callbacks" in params and not any(k.startswith("callbacks__") for k in params):
            # a new callback list is stored (skorch would build it now, raising for a bad value inside set_params on
            # an unfitted estimator; the parameter checks before fit name it); a fitted one rebuilds its callbacks
            # now, since partial_fit and warm starts do not initialise again
            self.callbacks = params.pop("callbacks")
            if self.__sklearn_is_fitted__():
                self.initialize_callbacks()
        fitted = self.__sklearn_is_fitted__()
        if fitted and "optimizer" in params and same_value(params["optimizer"], self.optimizer):
            del params["optimizer"]  # the same class: nothing to rebuild (its options below are written as usual)
        if fitted and "optimizer" in params:
            # a new optimiser class on a fitted estimator: stored and every optimiser rebuilt with it (skorch's
            # set_params fails here, leaving the value stored and the old optimiser training)
            self.optimizer = params.pop("optimizer")
            regroup["optimizer"] = self.optimizer
            for key in [k for k in params if k.startswith("optimizer__")]:  # its options: stored for the rebuild
                setattr(self, key, params.pop(key))
                self._params_to_validate = {*self._params_to_validate, key}
        options = {k: v for k, v in params.items() if k.startswith("optimizer__") and k != "optimizer__lr"}
        if fitted:
            # skorch writes an optimizer__<option> set on an initialised net into the optimiser's groups but does not
            # store it, so get_params, clone and the next fit would lose it: stored here, as on an unfitted net
            for key in [k for k in params if k.startswith("optimizer__")]:
                setattr(self, key, params[key])
                self._params_to_validate = {*self._params_to_validate, key}
        deferred = {k: v for k, v in params.items() if k.split("__", 1)[0] in ("module", "compile")}
        # a new criterion (or its options) on a fitted estimator: stored and built below; skorch would rebuild every
        # optimiser too (a criterion may have parameters), losing their state (Adam's moments, the rate reached)
        if fitted and not self.uses_criterion:  # (unfitted: refused by the checks before fit, after the types')
            self._refuse_criterion_values(params)
        new_criterion = fitted and any(k.split("__", 1)[0] == "criterion" for k in params)
        if new_criterion:
            deferred.update({k: v for k, v in params.items() if k.split("__", 1)[0] == "criterion"})
        # skorch re-initialises a changed criterion (or callbacks) at once and moves it to net.device, which must
        # then be the resolved device, not "auto"
        # ("device" set to "auto" / None again, e.g. set_params(**get_params()), is stored after the call)
        auto_device = "device" in params and (params["device"] is None or same_value(params["device"], "auto"))
        new_device = params.pop("device") if fitted and auto_device else self.device
        resolved = (device_parameter_resolved(self, self.device_) if fitted and "device" not in params
                    else contextlib.nullcontext())
        with resolved:
            super().set_params(**{k: v for k, v in params.items() if k not in deferred})
        if fitted and auto_device:
            self.device = new_device
        if fitted and not regroup:
            # skorch writes an optimizer__<option> into the groups of optimizer_ only; the method's other
            # optimisers (M-ADDA's target model and discriminator) take it too
            for name in self._optimizers:
                if name != "optimizer":
                    for group in getattr(self, name + "_").param_groups:
                        group.update({k[len("optimizer__"):]: v for k, v in options.items()})
        if fitted and any(k.startswith("callbacks__") for k in params):
            # e.g. callbacks__lr_annealing=None: the next partial_fit runs without it; callbacks__<name>__<param>:
            # the callbacks check their values now (partial_fit does not initialise them again)
            self.initialize_callbacks()
        if deferred and fitted:
            self.initialized_ = False  # skorch then only stores the values (its documented uninitialised path)
            try:
                super().set_params(**deferred)
            finally:
                self.initialized_ = True
        elif deferred:
            super().set_params(**deferred)
        if new_criterion:
            self.initialize_criterion()
            if isinstance(self.criterion_, torch.nn.Module):
                self.criterion_ = self.criterion_.to(self.device_)
                if any(True for _ in self.criterion_.parameters()):  # the optimisers take its parameters
                    regroup["criterion"] = self.criterion
        if fitted and regroup:
            self.initialize_optimizer()
        elif fitted and ("lr" in params or "optimizer__lr" in params):
            # the rate a fresh fit would start from: optimizer__lr overrides lr (skorch's rule)
            self._rescale_param_groups(self.__dict__.get("optimizer__lr", self.lr))
        return self

    def _rescale_param_groups(self, lr):
        """Set every optimiser group that has an ``lr_scale`` to ``lr * lr_scale``."""
        for name in self._optimizers:
            for group in getattr(self, name + "_").param_groups:
                if "lr_scale" in group:
                    group["lr"] = lr * group["lr_scale"]

    def get_params_for_optimizer(self, prefix, named_parameters):
        """skorch's hook that turns ``<prefix>__*`` parameters into an optimiser's arguments ``(groups,), kwargs``,
        with skorch's ``param_groups`` rule (a list of ``(name pattern, options)``; the first pattern that
        matches a parameter's name takes it; the unmatched parameters form the last group) and two additions:
        a group's options may give ``"lr_scale"`` instead of ``"lr"`` (its rate: the optimiser's ``lr`` times
        it), and ``backbone_lr_scale != 1`` appends ``(pattern, {"lr_scale": backbone_lr_scale})`` for each of
        ``backbone_parameters``. Every group without an absolute ``"lr"`` records its ``lr_scale`` (1 for the
        unmatched parameters), which ``set_params(lr=...)`` reads.

        torch's optimisers that take ``foreach`` get ``foreach=True`` unless ``<prefix>__foreach`` (or ``fused``,
        ``differentiable``) is set: the
        multi-tensor update, which torch picks by itself on CUDA only, computes the same values on the CPU with
        fewer Python calls per step (what a small tabular network's step time is mostly made of)."""
        kwargs = self.get_params_for(prefix)
        if (not {"foreach", "fused", "differentiable"} & set(kwargs)
                and takes_foreach(getattr(self, prefix, None))):  # fused / differentiable exclude foreach
            kwargs["foreach"] = True
        specs = list(kwargs.pop("param_groups", None) or [])
        if self.backbone_lr_scale != 1:
            specs += [(pattern, {"lr_scale": self.backbone_lr_scale}) for pattern in self.backbone_parameters]
        lr = kwargs.setdefault("lr", self.lr)
        remaining = list(named_parameters)
        groups = []
        for spec in specs:
            if not (isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[1], dict)):
                raise ValueError(f"{prefix}__param_groups takes (name pattern, options dict) pairs, got {spec!r}.")
            pattern, options = spec
            if "lr" in options and "lr_scale" in options:
                raise ValueError(f"{prefix}__param_groups: the group {pattern!r} gives both 'lr' and 'lr_scale'; "
                                 "give one (lr_scale: a factor of the optimiser's lr).")
            taken = [p for name, p in remaining if fnmatch.fnmatchcase(name, pattern)]
            if not taken:
                continue
            remaining = [(name, p) for name, p in remaining if not fnmatch.fnmatchcase(name, pattern)]
            group = {"params": taken, **options}
            if "lr_scale" in group:
                group["lr"] = lr * group["lr_scale"]
            groups.append(group)
        if remaining:
            groups.append({"params": [p for _, p in remaining], "lr_scale": 1.0})
        return (groups,), kwargs

    def _store_parameters(self, arguments: dict):
        """Store a subclass's ``__init__`` arguments (its ``locals()``) unchanged as attributes, scikit-learn's
        rule for parameters; ``module`` and ``**kwargs`` went to the parent's ``__init__`` already."""
        for name, value in arguments.items():
            if name not in ("self", "module", "kwargs", "__class__"):
                setattr(self, name, value)

    def _module_build_params(self) -> dict:
        """The values the network is built from: ``module``, the ``module__*`` parameters, ``compile``,
        ``preprocess`` (what its input is) and the method's ``network_parameters``."""
        return {"module": self.module, "compile": self.compile, "preprocess": self.preprocess,
                **{f"module__{k}": v for k, v in self.get_params_for("module").items()},
                **{name: getattr(self, name) for name in self.network_parameters}}

    def _check_continued_image_scale(self, X, X_target, Xs, Xt):
        """A network that learnt uint8 images as x / 255, continued (``partial_fit``, warm start) on images of
        another dtype read as given (``Xs``, ``Xt`` validated from ``X``, ``X_target``): warn when they are far
        outside [0, 1] (:func:`check_image_scale`)."""
        if getattr(self, "uint8_images_", False) and not any(getattr(a, "dtype", None) == np.uint8
                                                              for a in (X, X_target)):
            # (uint8 beside other images: split_domains named the other array already)
            for rows, name in ((Xs, "X"), (Xt, "X_target")):
                if rows is not None:
                    check_image_scale(rows, name=name, reference="this estimator was fitted on")

    def _check_device_unchanged(self):
        """``partial_fit`` / ``warm_start`` continue the fitted network on the device it is on (``device_``): refuse
        a ``device`` set since to another one (it would be reported by ``get_params`` and not used). ``"auto"``
        continues on ``device_`` (e.g. a model trained on the CPU, unpickled on a CUDA machine)."""
        if self.device is None or (isinstance(self.device, str) and self.device == "auto"):
            return
        requested = resolve_device(self.device)
        current = next(self.module_.parameters(), torch.empty(0, device=self.device_)).device  # with its index
        if requested.type == "cuda" and requested.index is None and torch.cuda.is_available():
            requested = torch.device("cuda", torch.cuda.current_device())  # where "cuda" puts new tensors
        if requested.type != current.type or (requested.type != "cpu" and requested.index != current.index):
            raise ValueError(
                f"device={self.device!r} was set after the network was trained on {str(current)!r}; partial_fit and "
                f"warm starts continue on the device the network is on: set device={str(current)!r} (or 'auto') "
                "again, or fit anew on the new device.")

    def _check_module_unchanged(self):
        """``partial_fit`` / ``warm_start`` continue the fitted network: refuse when ``module``, a ``module__*``
        value or one of the method's ``network_parameters`` was changed (``set_params``) since that network was
        built."""
        built = getattr(self, "module_params_", None)
        if built is None:
            return
        now = self._module_build_params()
        # a network parameter the record lacks (an estimator pickled before it was recorded) is not a change
        compared = [k for k in set(built) | set(now)
                    if k in built or k not in (*self.network_parameters, "preprocess")]
        changed = sorted(k for k in compared if not _same_build_value(built.get(k), now.get(k)))
        if changed:
            raise ValueError(f"{changed} changed since the network was built, so the fitted network cannot be "
                             "continued; fit from scratch (fit with warm_start=False) to build the new network.")

    # skorch's hook for a subclass's default callbacks is the ``_default_callbacks`` property (NeuralNetClassifier
    # extends it the same way): ``get_default_callbacks`` returns it, and ``get_params(deep=True)`` reads it before
    # the callbacks are initialised, so a schedule added here is visible as ``callbacks__<name>__*`` at once.
    @property
    def _default_callbacks(self):
        callbacks = super()._default_callbacks
        return [*callbacks, ("lr_annealing", LRAnnealing())] if self.anneals_learning_rate else callbacks

    #: What the source validation split (``train_split``) records in the history each epoch, for callbacks to monitor
    validation_metrics = ("valid_loss", "valid_accuracy")

    def initialize_callbacks(self):
        """skorch's callbacks, refusing those that cannot work on skda's paired source/target tensors
        (:meth:`check_callbacks`); ``callbacks="disable"``: none (skorch reads that value in its private
        ``_initialize_callbacks`` only, which ``set_params`` on a fitted estimator and ``partial_fit`` do not call)."""
        if isinstance(self.callbacks, str) and self.callbacks == "disable":
            self.callbacks_ = []
            return self
        super().initialize_callbacks()
        self.check_callbacks()
        return self

    def check_callbacks(self):
        """Refuse callbacks (``callbacks_``) that cannot work here: skorch's ``ProgressBar`` and scoring callbacks
        (they read a skorch Dataset), a monitor of a value the validation split records (:attr:`validation_metrics`)
        without ``train_split``, skorch's classifier's ``valid_acc`` names (skda records ``valid_accuracy``), and
        ``callbacks__<name>__*`` values that name no callback of this estimator (ignored otherwise). Other keys (a
        method's or a callback's own values) are the user's to name: one that the first epoch does not record (a
        misspelling such as ``valid_los``, Keras's ``val_loss``) is named, with the recorded values, at that
        epoch's end (skorch raised a bare KeyError). Run when the callbacks are initialised and before every
        ``partial_fit`` / warm start (``set_params`` may have changed ``train_split`` since)."""
        from skorch.callbacks import ProgressBar
        from skorch.callbacks.scoring import ScoringBase

        for name, callback in self.callbacks_:
            if isinstance(callback, ProgressBar):
                raise TypeError(f"callback {name!r}: skorch's ProgressBar cannot follow skda's training loop (it "
                                "counts the batches of a skorch Dataset); use skda.callbacks.TrainingProgress.")
            if isinstance(callback, ScoringBase):
                raise TypeError(
                    f"callback {name!r}: skorch's {type(callback).__name__} scores a skorch Dataset of the training "
                    "data, which skda's paired source/target tensors are not, so it would record nothing. Use "
                    "train_split=skorch.dataset.ValidSplit(...) (valid_loss and valid_accuracy are recorded each "
                    "epoch) or score the fitted estimator.")
            monitor = getattr(callback, "monitor", None)
            if not isinstance(monitor, str):
                continue
            split_values = (*self.validation_metrics, "valid_loss_best")  # skorch records valid_loss_best too
            if monitor in split_values and self.train_split is None:
                # skorch would raise a KeyError on the history at the first epoch's end
                raise ValueError(
                    f"callback {name!r} monitors {monitor!r}, which is recorded only with a source validation split: "
                    "pass train_split=skorch.dataset.ValidSplit(0.2, stratified=True) (skda's default is None: "
                    "every labelled source row trains), or monitor a train_* value.")
            if monitor in ("valid_acc", "valid_acc_best"):
                # skorch's classifier names: a KeyError after the first epoch otherwise. Other names may be a
                # method's or a callback's own: one missing at the first epoch's end is named then
                # (_name_missing_monitors)
                raise ValueError(
                    f"callback {name!r} monitors {monitor!r}, which {type(self).__name__} does not record: its source "
                    f"validation split records {list(split_values)}"
                    + (f" (skorch's classifier calls the accuracy valid_acc, skda valid_accuracy). "
                       f"{_ACCURACY_MONITOR_ADVICE}" if "valid_accuracy" in split_values
                       else "; monitor 'valid_loss' (lower is better).")
                    + ("" if self.train_split is not None else " (Both need train_split.)"))
        names = {name for name, _ in self.callbacks_}
        unknown = sorted(key for key in vars(self) if key.startswith("callbacks__") and key.count("__") >= 2
                         and key.split("__")[1] not in names)
        if unknown and not (isinstance(self.callbacks, str) and self.callbacks == "disable"):
            # (with callbacks="disable" the stored values wait for the callbacks to be enabled again)
            raise ValueError(f"{unknown} name no callback of this {type(self).__name__}: its callbacks are "
                             f"{sorted(names)}. (A misspelt name would change nothing; a search over it would vary "
                             "nothing.)")

    @property
    def _n_features_out(self):  # scikit-learn's private hook of ClassNamePrefixFeaturesOutMixin (sklearn >= 1.2)
        """Width of ``transform``'s output (for ``get_feature_names_out``), found with one forward pass."""
        self._check_fitted()
        probe = torch.zeros((1, *self._network_input_shape()), dtype=torch.float32)
        return int(self.apply_in_chunks(probe, self._feature_map).shape[1])

    def _network_input_shape(self) -> tuple:
        """The shape of one sample as the network sees it (images: float ``(C, H, W)`` after ``preprocess``)."""
        shape = self.__dict__.get("network_input_shape_")
        return tuple(self.input_shape_ if shape is None else shape)

    def _autocast(self):
        """The ``precision`` context of the forward passes: bfloat16 autocast on ``device_``'s type, or autocast
        switched off (float32), also when the caller runs skda inside an autocast region of its own: ``precision``
        alone decides, so the same seed gives the same model and predictions."""
        if self.precision == "bfloat16":
            return torch.autocast(self.device_.type, dtype=torch.bfloat16)
        return autocast_off(self.device_.type)

    def _feature_map(self, x):
        """What ``transform`` computes on a batch: the learned features G_f(x)."""
        return self.module_.features(x)

    def __sklearn_is_fitted__(self):
        return bool(getattr(self, "initialized_", False)) and hasattr(self, "classes_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        # ``transform`` returns the learned features (float32), so sklearn treats the estimators as
        # transformers too
        tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])
        tags.input_tags.sparse = True  # densified when small (skda.validation.MAX_DENSIFIED_CELLS)
        tags.input_tags.allow_nan = False
        return tags

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator.")

    # ------------------------------------------------------------------ device
    def initialize(self):
        """Resolve ``device`` ("auto") into ``device_`` and initialise skorch's components on it.

        The network is built from the data (its input size is the sample shape, its output the number of
        classes), so ``initialize()`` needs a fit first; to restore a saved model, see ``load_params``."""
        if not hasattr(self, "input_shape_") or not hasattr(self, "classes_"):
            raise NotFittedError(
                f"{type(self).__name__} builds its network from the training data (sample shape, classes), so "
                "initialize() cannot build it before a fit. To restore a model saved with save_params(f_params=...), "
                "call load_params(f_params=...) on the unfitted estimator (no initialize() needed): the file holds the "
                "classes, the input shape and everything predict needs. Or save and load the whole fitted estimator "
                "with joblib.dump / joblib.load (or pickle).")
        self.device_ = resolve_device(self.device)
        with device_parameter_resolved(self, self.device_):
            super().initialize()
        return self

    def __getstate__(self):
        # Pickles (joblib.dump, pickle) leave out the optimisers' state (momentum buffers, Adam's moments: one or
        # two more copies of every weight): the optimisers are pickled with their parameter groups
        # (hyper-parameters, current learning rate) and an empty state, so warm_start / partial_fit after
        # unpickling work, restarting that state. No public skorch hook serves (``trim_for_prediction`` drops the
        # optimisers, and training with them); skorch's __getstate__ packs its instance's ``__dict__``, so it runs
        # on a shell of this estimator whose ``__dict__`` is a copy with the stateless optimisers: the estimator
        # itself is never changed (a pickle taken in another thread, e.g. during a fit, leaves that fit alone).
        # A pickle taken during training (e.g. Checkpoint(f_pickle=...)) does not carry the running fit's state.
        # Objects that hold an optimiser themselves (skorch's LRScheduler callback: its torch scheduler) pickle it
        # with its state (documented in the user guide's Persistence section).
        if getattr(_COPYING, "keep_optimizer_state", False):
            return self._without_training_run(super().__getstate__())
        stateless = {key: _without_state(value) for key, value in list(self.__dict__.items())
                     if isinstance(value, torch.optim.Optimizer) and len(value.state)}
        if not stateless:
            return self._without_training_run(super().__getstate__())
        shell = type(self).__new__(type(self))
        shell.__dict__.update({**self.__dict__, **stateless})
        return self._without_training_run(super(DomainAdaptationNet, shell).__getstate__())

    @staticmethod
    def _without_training_run(state):
        state.pop("training_run_", None)
        return state

    def __deepcopy__(self, memo):
        # a copy in memory (copy.deepcopy) keeps the optimisers' state; only pickles leave it out
        _COPYING.keep_optimizer_state = True
        try:
            state = self.__getstate__()
        finally:
            _COPYING.keep_optimizer_state = False
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(state, memo))
        return new

    def __setstate__(self, state):
        if "initialized_" in state:  # a pickle made before the flag moved to ``_initialized``
            state["_initialized"] = state.pop("initialized_")
        requested = state.get("device")
        if requested is None or requested == "auto":
            # load onto the device it was trained on, or the CPU when that is not available here
            state["device"] = str(state.get("device_", "cpu"))
        super().__setstate__(state)
        if requested is None or requested == "auto":
            self.device_ = resolve_device(self.device)
            self.device = requested
        elif "device_" in state:
            self.device_ = torch.device(self.device)

    # ------------------------------------------------------------------ persistence
    #: Fitted attributes that ``save_params(f_params=...)`` stores beside the weights (those present) and
    #: ``load_params`` restores (those absent from the file are removed): everything predict / transform /
    #: score need besides the network, and the seed of the source validation split (so that ``partial_fit`` after a
    #: load holds out the same rows). Methods with more fitted state extend it.
    fitted_attributes = ("classes_", "input_shape_", "n_features_in_", "feature_names_in_", "target_class_shares_",
                         "network_input_shape_", "input_kind_", "uint8_images_", "validation_seed_")

    def save_params(self, f_params=None, f_optimizer=None, f_criterion=None, f_history=None, use_safetensors=False,
                    **kwargs):
        """skorch's ``save_params``; the ``f_params`` file also holds the fitted attributes (``classes_``, the
        input shape, feature names, M-ADDA's kNN index, ...) under the key ``FITTED_STATE_KEY``, as plain
        tensors / lists / numbers, so that ``load_params(f_params=...)`` restores a working model into an
        unfitted estimator and the file loads with ``torch.load(..., weights_only=True)``.

        With ``use_safetensors=True`` only the weights are written (safetensors stores tensors only): such a
        file loads into an estimator that is already fitted on the same problem, not into an unfitted one."""
        f_params = _pop_params_file(f_params, kwargs)
        if any(f is not None for f in (f_params, f_optimizer, f_criterion, f_history, *kwargs.values())):
            self._check_fitted()  # skda's NotFittedError for every file (skorch's says to call initialize())
        if f_params is not None and not use_safetensors:
            state = self.module_.state_dict()
            state[FITTED_STATE_KEY] = self._fitted_state()
            torch.save(state, f_params)
            f_params = None
        return super().save_params(f_params=f_params, f_optimizer=f_optimizer, f_criterion=f_criterion,
                                   f_history=f_history, use_safetensors=use_safetensors, **kwargs)

    def load_params(self, f_params=None, f_optimizer=None, f_criterion=None, f_history=None, checkpoint=None,
                    use_safetensors=False, **kwargs):
        """skorch's ``load_params`` (e.g. ``checkpoint=`` a ``Checkpoint``), mapping the weights to ``device_``.

        An ``f_params`` file written by ``save_params`` restores the whole fitted model, also into an unfitted
        estimator built with the same parameters (``DANNClassifier(**same).load_params(f_params=...)``, no
        ``initialize()`` or fit needed): the fitted attributes (``classes_``, ``input_shape_``,
        ``feature_names_in_``, ...) are set from the file, the network is (re)built for them when needed and
        the weights are loaded. Files are read with ``torch.load(..., weights_only=True)`` (unless
        ``torch_load_kwargs`` says otherwise). A file of bare weights (safetensors, or from another source)
        loads only into a fitted estimator; an unfitted one raises ``NotFittedError``. Returns ``self``."""
        f_params = _pop_params_file(f_params, kwargs)
        with self._unchanged_on_error(weights=True), \
                device_parameter_resolved(self, getattr(self, "device_", None) or resolve_device(self.device)):
            if checkpoint is not None:
                files = self._checkpoint_files(checkpoint)
                explicit = dict(f_params=f_params, f_optimizer=f_optimizer, f_criterion=f_criterion,
                                f_history=f_history, **kwargs)
                files.update({k: v for k, v in explicit.items() if v})  # explicit files win, as in skorch
                files.pop("f_pickle", None)
                f_params, f_optimizer = files.pop("f_params", None), files.pop("f_optimizer", None)
                f_criterion, f_history = files.pop("f_criterion", None), files.pop("f_history", None)
                kwargs = files
            if f_params is not None and not use_safetensors:
                self._load_params_file(f_params)
                f_params = None
            elif not self.__sklearn_is_fitted__() and any(
                    v is not None for v in (f_params, f_optimizer, f_criterion, *kwargs.values())):
                raise NotFittedError(
                    f"This {type(self).__name__} is not fitted: it builds its network from the data, so a file of bare "
                    "weights (safetensors) or an optimizer / criterion state cannot be loaded before the network "
                    "exists. Load an f_params file written by save_params (without use_safetensors) first, or "
                    "use joblib.dump / joblib.load for the whole estimator.")
            optimizer_files = f_optimizer is not None or any(
                key.startswith("f_") and value is not None for key, value in kwargs.items())
            super().load_params(f_params=f_params, f_optimizer=f_optimizer, f_criterion=f_criterion,
                                f_history=f_history, use_safetensors=use_safetensors, **kwargs)
            if optimizer_files:
                self._check_optimizer_states()
            return self

    def _check_optimizer_states(self):
        """After loading optimiser files: every state entry torch keeps per parameter (``exp_avg``,
        ``momentum_buffer``, ...) must have its parameter's shape (torch's ``load_state_dict`` does not check, and the
        next step failed inside torch), else ``ValueError`` (``load_params`` then puts the estimator back as it
        was)."""
        for name in self._optimizers:
            optimizer = getattr(self, name + "_", None)
            if optimizer is None:
                continue
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    for key, value in optimizer.state.get(parameter, {}).items():
                        if (key in _PER_PARAMETER_STATE and torch.is_tensor(value)
                                and value.shape != parameter.shape):
                            raise ValueError(
                                f"the optimizer state loaded into {name}_ does not fit this {type(self).__name__}'s "
                                f"network (its {key!r} has shape {tuple(value.shape)} for a parameter of shape "
                                f"{tuple(parameter.shape)}): it was saved by an estimator with another network or "
                                "data; the estimator is left as it was.")

    def _checkpoint_files(self, checkpoint):
        """The files of skorch's ``Checkpoint`` (names formatted from its history, as skorch's ``load_params``
        does), its history loaded first."""
        from skorch.history import History

        if checkpoint.f_history is not None:
            self.history = History.from_file(checkpoint.f_history_)
        elif not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"load_params(checkpoint=...) into an unfitted {type(self).__name__} needs the checkpoint's history "
                "file (f_history) to find its files; pass f_params=... (the checkpoint's params file) instead.")
        return dict(checkpoint.get_formatted_files(self))

    def _load_params_file(self, f_params):
        """Load an ``f_params`` file: restore the fitted attributes it holds (building the network for them when
        the estimator has none or one for another problem), then the weights."""
        load_kwargs = self.torch_load_kwargs if self.torch_load_kwargs is not None else {"weights_only": True}
        state = torch.load(f_params, map_location=self.device, **load_kwargs)
        fitted = state.pop(FITTED_STATE_KEY, None) if isinstance(state, dict) else None
        if fitted is None:
            if not self.__sklearn_is_fitted__():
                raise NotFittedError(
                    f"This file holds bare weights, without the fitted attributes skda writes with save_params "
                    f"(classes, input shape, ...): it can only be loaded into a {type(self).__name__} already fitted "
                    "on the same problem. Save with skda's save_params(f_params=...), or with joblib.dump.")
            try:
                self.module_.load_state_dict(state)
            except RuntimeError as exc:  # torch's size mismatch / missing keys, as for skda's own files below
                raise ValueError(f"the weights in this file do not fit this {type(self).__name__}'s network: "
                                 f"torch: {str(exc).strip()[:500]}") from exc
            return
        values = self._decode_fitted_state(fitted)
        same_network = (self.__sklearn_is_fitted__() and tuple(values["input_shape_"]) == tuple(self.input_shape_)
                        and len(values["classes_"]) == len(self.classes_)
                        and all(same_value(v, getattr(self, "module_params_", {}).get(k))  # no module__* change pending
                                for k, v in self._module_build_params().items()))
        # (a refused load leaves the estimator as it was: load_params runs this under _unchanged_on_error)
        for name in self.fitted_attributes:
            if name in values:
                setattr(self, name, values[name])
            elif name in self.__dict__:
                delattr(self, name)
        if not same_network:
            # the random initial weights are replaced below: draw them without touching the global RNG
            with seeded(0, resolve_device(self.device)):
                self.initialize()
        try:
            self._load_network_state(state, values)
        except RuntimeError as exc:  # torch's size mismatch / missing keys, named as the parameters that cause it
            raise ValueError(
                f"the weights in this file do not fit this {type(self).__name__}'s network: it was saved by an "
                "estimator built with other network parameters (module__*, domain_hidden_sizes, ...); build "
                f"this one with the same parameters. torch: {str(exc).strip()[:500]}") from exc

    def _load_network_state(self, state_dict, values):
        """Load the weights into ``module_`` (methods whose network has other state than weights extend this)."""
        self.module_.load_state_dict(state_dict)

    def _fitted_state(self) -> dict:
        """The fitted attributes as values that ``torch.load(weights_only=True)`` reads (tensors, lists, numbers,
        text), with the estimator's class name."""
        out = {"estimator": type(self).__name__, "attributes": {}}
        for name in self.fitted_attributes:
            if name in self.__dict__:
                out["attributes"][name] = _encode_value(name, self.__dict__[name])
        return out

    def _decode_fitted_state(self, fitted) -> dict:
        if fitted.get("estimator") != type(self).__name__:
            raise ValueError(f"this file was saved by a {fitted.get('estimator')}, not a {type(self).__name__}: load "
                             f"it into a {fitted.get('estimator')} built with the same parameters.")
        return {name: _decode_value(value) for name, value in fitted["attributes"].items()}

    # ------------------------------------------------------------------ networks
    def build_network(self, feature_extractor: nn.Module, n_features: int) -> nn.Module:
        """Return the method's network around ``feature_extractor`` (output size ``n_features``)."""
        raise NotImplementedError

    def _make_feature_extractor(self) -> nn.Module:
        kwargs = self.get_params_for("module")
        if isinstance(self.module, nn.Module):
            if kwargs:
                raise ValueError(
                    f"module__ parameters {sorted(kwargs)} were given but module is an instance; pass the "
                    "module class instead so they can be used.")
            return copy.deepcopy(self.module)
        if not callable(self.module):
            raise TypeError(f"module must be a torch.nn.Module class or instance, got {self.module!r}.")
        kwargs = _copied_module_values(kwargs)
        try:
            accepts_size = "n_features_in" in inspect.signature(self.module).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins without signature
            accepts_size = False
        shape = self._network_input_shape()
        if accepts_size and "n_features_in" not in kwargs:
            kwargs["n_features_in"] = int(np.prod(shape))
        try:
            accepts_image_shape = "image_shape" in inspect.signature(self.module).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins without signature
            accepts_image_shape = False
        if accepts_image_shape and "image_shape" not in kwargs and len(shape) == 3:
            kwargs["image_shape"] = shape  # images: e.g. LeNetFeatureExtractor sized for them
        return self.module(**kwargs)

    def initialize_module(self):
        features = self._make_feature_extractor()
        with torch.no_grad():
            was_training = features.training
            features.eval()
            param = next(features.parameters(), None)  # probe where the module lives (an instance may be on CUDA)
            probe = torch.zeros((2, *self._network_input_shape()), dtype=torch.float32,
                                device=param.device if param is not None else "cpu")
            try:
                output = features(probe)
            except Exception as exc:
                dtypes = sorted({str(p.dtype) for p in features.parameters()} - {"torch.float32"})
                hint = (f" (skda feeds float32 batches, the module's parameters are {dtypes}: convert it with "
                        ".float())") if dtypes else ""
                if probe.ndim == 4 and probe.shape[-1] in (1, 3, 4) and probe.shape[1] not in (1, 3, 4):
                    hint += (f" (the images look channels-last, {probe.shape[-1]} channels on the last axis: skda "
                             "takes (n, C, H, W), X.transpose(0, 3, 1, 2))")
                raise ValueError(
                    f"the feature extractor failed on input of shape {tuple(probe.shape)} "
                    f"(the shape of X){hint}: {exc}") from exc
            if not (isinstance(output, torch.Tensor) and output.is_floating_point() and output.ndim >= 2
                    and len(output) == len(probe)):
                got = (f"a {output.dtype} tensor of shape {tuple(output.shape)}" if isinstance(output, torch.Tensor)
                       else f"a {type(output).__name__}")
                raise ValueError(
                    f"the feature extractor must return one row of floating-point features per sample (a tensor of "
                    f"shape (n_samples, ...)); on a batch of {len(probe)} samples of shape "
                    f"{tuple(probe.shape[1:])} it returned {got}.")
            n_features = int(output.flatten(1).shape[1])
            features.train(was_training)
        network = self.build_network(features, n_features)
        missing = [name for name in self.required_network_methods if not callable(getattr(network, name, None))]
        if missing:
            raise TypeError(f"{type(self).__name__}.build_network returned a {type(network).__name__} without "
                            f"{missing}, which the estimator calls (predict / transform: features and classify; see "
                            "skda.layers.NetworkOutput).")
        if probe.ndim == 4:  # image batches are channels-last (skda.images): convolutions run faster so
            network = network.to(memory_format=torch.channels_last)
        self.module_ = network
        self.module_params_ = self._module_build_params()
        return self

    def _set_training(self, training=True):
        """skorch sets train/eval mode on every module before every step, a walk over the whole module tree;
        skip it when the last call already set this mode on this network (``fit_loop`` forgets the mode at its
        start, so each fit begins with skorch's full walk). The mode is noted on the network, so the estimator's
        ``__dict__`` does not change at predict.

        An override of skorch's private ``_set_training``: skorch calls it from ``train_step`` /
        ``evaluation_step`` and offers no public hook to skip the walk (it cost ~40% of a small network's step
        on CPU, docs/results_speed.md)."""
        net = self.module_
        if net.__dict__.get("_skda_mode") == training and net.training == training:
            return
        super()._set_training(training)
        if training:
            for layer in self._frozen_batch_norm_layers():
                layer.eval()
        net.__dict__["_skda_mode"] = training

    def _frozen_batch_norm_layers(self):
        """The batch-norm layers of the network whose parameters every optimiser holds at a rate of 0
        (``backbone_lr_scale=0``, a group's ``"lr_scale": 0`` or ``"lr": 0``): :meth:`_set_training` keeps them in
        eval mode while the rest trains, so that a frozen backbone's running statistics stay as loaded too (in
        train mode they would follow every training batch: the features of a "frozen" backbone would move). A layer
        without parameters of its own (``affine=False``) goes with the parameters of the nearest module around it
        that has some (e.g. the frozen feature extractor)."""
        frozen = {id(param) for name in self._optimizers if getattr(self, name + "_", None) is not None
                  for group in getattr(self, name + "_").param_groups
                  if group.get("lr_scale", 1) == 0 or ("lr_scale" not in group and group.get("lr") == 0)
                  for param in group["params"]}
        if not frozen:
            return []
        modules = dict(self.module_.named_modules())
        layers = []
        # torch's _BatchNorm: the base class of BatchNorm1d/2d/3d, their lazy forms and SyncBatchNorm
        for name, layer in modules.items():
            if not isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                continue
            params = list(layer.parameters(recurse=False))
            owner = name
            while not params and owner:  # the nearest enclosing module with parameters
                owner = owner.rpartition(".")[0]
                params = list(modules[owner].parameters())
            if params and all(id(param) in frozen for param in params):
                layers.append(layer)
        return layers

    # ------------------------------------------------------------------ fit
    def _validate_for_fit(self, X, y, X_target, min_classes=2, target_labels=None):
        """Validate the fit data; return ``(Xs, ys, Xt, state)``, where ``state`` (a dict) holds what a method
        validated beyond the arrays and receives back in ``_train`` (ActiveSelector: its pool and which rows of
        it are labelled), so that a call that fails later leaves the estimator as it was.

        Labelled target rows (``target_labels``, the ``yt`` of ``fit``) join the labelled rows ``(Xs, ys)`` that
        the supervised part of the method's objective sees; every target row stays in ``Xt`` for the adaptation
        terms (where the labelled ones then count on both sides, see :meth:`fit`). ``state["n_labeled_target"]``
        counts them."""
        Xs, ys, Xt = split_domains(X, y, X_target, unlabeled_marker=self.unlabeled_marker,
                                   require_target=self.requires_target, min_classes=min_classes)
        if target_labels is None:
            return Xs, ys, Xt, {}
        if Xt is None:
            raise ValueError("yt labels target rows, but there is no target data: pass X_target (the rows yt "
                             f"labels) or the packed form with target rows labelled {self.unlabeled_marker!r}.")
        known, y_known = check_target_labels(target_labels, len(Xt), ys, self.unlabeled_marker)
        if known.any():
            Xs, ys = np.concatenate([Xs, Xt[known]]), np.concatenate([ys, y_known])
        return Xs, ys, Xt, {"n_labeled_target": int(known.sum())}

    def _seed(self, offset=0):
        if self.random_state is None:
            return int(np.random.randint(0, 2**31 - 1))
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.randint(0, 2**31 - 1))
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1)) + offset

    def fit(self, X, y=None, X_target=None, yt=None, *, sample_domain=None, **fit_params):
        """Fit on labelled source data and unlabelled target data.

        Either ``fit(Xs, ys, Xt)`` (three arrays) or the packed ``fit(X, y)`` where target rows have
        ``y == unlabeled_marker`` (default -1), which lets a ``Pipeline`` fit its preprocessing on both
        domains. Re-initialises the network unless ``warm_start=True`` (then the classes and the sample shape
        must be those of the previous fit). A DataFrame's column names are kept in ``feature_names_in_`` and
        checked at predict time, as in scikit-learn.

        ``yt`` (optional, one label per target row, unknown ones ``unlabeled_marker``): a few labelled target
        rows. They join the labelled source rows in the method's supervised objective (cross-entropy; M-ADDA's
        triplet stage, kNN index and a pull to their class's center; ILA-DA's contrastive anchors), while every
        target row keeps feeding the adaptation terms. Since they join the source half of each step's batch, the
        terms that compare the two halves count them on both sides: DANN / CDAN's domain classifier (ILA-DA,
        MLA-DA too) sees them labelled "source" there and "target" in the target half, and Deep CORAL's source
        covariance includes them (M-ADDA's discriminator only when its source sampler draws them, not the copies
        appended to every batch). A ``yt`` of unknown labels only gives the same model as no ``yt``.

        ``sample_domain`` (packed form only, skada's convention): one integer per row of ``X``, positive for a
        source row, negative for a target row. Then a target row's ``y`` is its label if known, else
        ``unlabeled_marker``: ``fit(X, y, sample_domain=d)`` is ``fit(X[d > 0], y[d > 0], X[d < 0], y[d < 0])``.
        Under scikit-learn's metadata routing (``sklearn.set_config(enable_metadata_routing=True)``) a
        ``Pipeline`` or a search passes it to this estimator once requested: ``set_fit_request(sample_domain=True)``;
        a search splits it with the rows of each fold.
        """
        self._check_epochs(fit_params)  # before the call: e.g. classes= would collide with _fit's own argument
        return self._fit(X, y, X_target, classes=None, target_labels=yt, sample_domain=sample_domain, **fit_params)

    def _fit(self, X, y, X_target, classes=None, target_labels=None, sample_domain=None, **fit_params):
        self._check_epochs(fit_params)
        self._check_params()
        check_x_target_not_routed_past_pipeline(type(self).__name__, X_target)
        if sample_domain is not None:
            X, y, X_target, target_labels = split_sample_domain(X, y, sample_domain, self.unlabeled_marker,
                                                                X_target=X_target, yt=target_labels)
        # partial_fit's first call with declared classes may hold fewer than two of them (scikit-learn's
        # incremental convention); a plain fit must see two classes
        Xs, ys, Xt, state = self._validate_for_fit(X, y, X_target, min_classes=2 if classes is None else 1,
                                                   target_labels=target_labels)
        new_classes = np.unique(ys) if classes is None else _check_declared_classes(classes, ys, self.unlabeled_marker)
        keep_network = bool(self.warm_start and getattr(self, "initialized_", False) and self.__sklearn_is_fitted__())
        input_kind, input_shape, network_shape = self._describe_input(Xs)
        if keep_network:
            self._check_same_problem(new_classes, input_shape)
            self._check_module_unchanged()
            self._check_device_unchanged()
            self._check_continued_image_scale(X, X_target, Xs, Xt)
        with restored_on_error(self, ("feature_names_in_", "n_features_in_")):  # X_target's names may be refused
            self._check_feature_names(X, reset=not keep_network)
            self._check_target_feature_names(X_target)
        if not keep_network:  # from here on the previous fit is gone: until initialize() succeeds, not fitted
            self.initialized_ = False
            for name in self.fit_records:
                self.__dict__.pop(name, None)
        # a warm start keeps the fitted classes_ (equal values, checked above), spelled as before: float or bool
        # labels of the same values do not turn an int model's predictions into floats (as partial_fit)
        self.classes_ = self.classes_ if keep_network else new_classes
        self.input_kind_ = input_kind
        # uint8 images in either domain: the network learns pixels as x / 255 (the other domain's float images too);
        # a warm start keeps what the network learnt before
        self.uint8_images_ = bool(input_kind == "images" and (Xs.dtype == np.uint8 or any(
            getattr(rows, "dtype", None) == np.uint8 for rows in (X, X_target)))) or bool(
            keep_network and self.__dict__.get("uint8_images_", False))
        self.input_shape_ = input_shape
        self.network_input_shape_ = network_shape
        self.n_features_in_ = int(Xs.shape[1]) if input_kind == "rows" else int(np.prod(input_shape))
        y_encoded = np.searchsorted(self.classes_, ys)
        seed = self._seed()
        if keep_network:  # a warm start holds out the rows it held out before (as partial_fit), whatever the seed
            state = {**state, "validation_seed": self.__dict__.get("validation_seed_")}
        with seeded(seed, resolve_device(self.device)):
            if not keep_network:
                self.initialize()
            try:
                self._train(Xs, y_encoded, Xt, seed, state, **fit_params)
            except BaseException as exc:
                # a fresh network that failed to train is not a fitted model, nor the earlier one; a KeyboardInterrupt
                # after training steps (e.g. in a callback's on_train_end) keeps the trained network, as skorch does
                interrupted_after_steps = isinstance(exc, KeyboardInterrupt) and any(
                    row.get("batches") for row in self.history)
                if not keep_network and not interrupted_after_steps:
                    self.initialized_ = False
                    for name in self.fit_records:
                        self.__dict__.pop(name, None)
                raise
        return self

    def _describe_input(self, X):
        """``(input_kind_, input_shape_, network_input_shape_)`` of validated fit data: "rows" (2-D or > 4-D
        arrays), "images" (3-D / 4-D arrays) or "paths" (image files; their input shape is the network's: one
        decoded, preprocessed image); the network's sample shape is found by converting (and preprocessing) the
        first sample as training does."""
        kind = "paths" if X.dtype == object else "images" if X.ndim in (3, 4) else "rows"
        if kind == "rows" and self.preprocess is None:
            return kind, tuple(X.shape[1:]), tuple(X.shape[1:])
        first = make_row_source(X[:1], device=torch.device("cpu"), placement="host", preprocess=self.preprocess)
        network_shape = tuple(first.take(torch.arange(1), train=False).shape[1:])
        return kind, network_shape if kind == "paths" else tuple(X.shape[1:]), network_shape

    def _placement(self, Xs, Xt) -> str:
        """``data_placement`` resolved for the training arrays: "device" or "host" (see the class docstring)."""
        paths = Xs.dtype == object
        if self.data_placement == "device":
            if paths:
                raise ValueError("data_placement='device' cannot hold image files: they are decoded batch by batch "
                                 "by DataLoader workers. Use data_placement='auto' or 'host', or pass the decoded "
                                 "images as an array.")
            return "device"
        if paths or self.data_placement == "host":
            return "host"
        nbytes = Xs.nbytes + (0 if Xt is None else Xt.nbytes)
        return "device" if device_fits(nbytes, self.device_) else "host"

    def _training_rows(self, X, placement):
        """The training data ``X`` (validated) as the training loop reads it: a tensor on ``device_`` (flat rows on
        the device without preprocessing or augmentation: batches gathered by index, as always), else a
        :class:`skda.images.RowSource`."""
        if (placement == "device" and X.dtype != object and X.ndim not in (3, 4) and self.preprocess is None
                and self.augment is None):
            return torch.as_tensor(X, device=self.device_)
        return make_row_source(X, device=self.device_, placement=placement, preprocess=self.preprocess,
                               augment=self.augment, num_workers=self.num_workers)

    def _prediction_rows(self, X, name="X"):
        """Validate ``X`` for prediction against the fitted input; return what ``apply_in_chunks`` reads."""
        kind = getattr(self, "input_kind_", "rows")
        if kind == "rows" and is_path_array(X):  # a column of numbers read as text would be opened as files
            # (an estimator fitted on image arrays predicts image files: they decode to the same images)
            raise ValueError(
                f"{name} is a 1-D list or array of strings, which skda reads as image file paths, but this estimator "
                f"was fitted on flat rows of shape {self.input_shape_}: pass {name} as an array of shape "
                f"(n_samples, {', '.join(map(str, self.input_shape_))}).")
        # images through a preprocess (e.g. a Resize) may have another height and width, as image files may
        resized = kind == "images" and self.preprocess is not None
        check_shape = None if kind == "paths" or resized else self.input_shape_
        X = check_features(X, name=name, input_shape=check_shape, estimator_name=type(self).__name__)
        fitted = tuple(self.input_shape_)
        if resized and not is_path_array(X) and (X.ndim != len(fitted) + 1 or X.shape[1:-2] != fitted[:-2]):
            raise ValueError(f"{name} has samples of shape {X.shape[1:]}, but {type(self).__name__} was fitted on "
                             f"images of shape {fitted}: another height and width go through its preprocess, not "
                             "another number of channels or axes.")
        if getattr(self, "uint8_images_", False):
            check_image_scale(X, name=name, reference="this estimator was fitted on")
        return self._validated_prediction_rows(X, name)

    def _validated_prediction_rows(self, X, name="X"):
        """Validated data as ``apply_in_chunks`` reads it: flat rows without ``preprocess`` as a CPU tensor (moved
        chunk by chunk, as always); images and files as a host :class:`skda.images.RowSource` (converted,
        preprocessed, decoded chunk by chunk: memory bounded by the chunk)."""
        if X.dtype != object and X.ndim not in (3, 4) and self.preprocess is None:
            if tuple(X.shape[1:]) != self._network_input_shape():
                raise ValueError(f"{name} has sample shape {tuple(X.shape[1:])}, but this estimator's network takes "
                                 f"samples of shape {self._network_input_shape()}.")
            with read_only_array_ok(X):  # e.g. from pandas: only read, chunks are copied before any module sees them
                return torch.from_numpy(X)
        return make_row_source(X, device=self.device_, placement="host", preprocess=self.preprocess,
                               num_workers=self.num_workers)

    def _check_params(self):
        """Check the hyper-parameters against ``_parameter_constraints`` merged along the MRO
        (:func:`skda.params.check_parameters`); called before every ``fit`` and ``partial_fit``, so that a value
        changed by ``set_params`` between calls is checked too. An override must call ``super()._check_params()``."""
        check_parameters(self)
        check_unused_skorch_parameters(self)
        check_device_available(self.device)
        criterion = self.criterion if isinstance(self.criterion, type) else type(self.criterion)
        if not self.uses_criterion:
            self._refuse_criterion_values({"criterion": self.criterion, **{
                f"criterion__{k}": v for k, v in self.get_params_for("criterion").items()}})
        if criterion is nn.NLLLoss:  # (a subclass may take logits itself)
            raise ValueError(f"criterion={criterion.__name__}: skda's criterion takes the network's logits (skorch's "
                             "NeuralNetClassifier feeds NLLLoss log-probabilities; skda does not), so NLLLoss would "
                             "be unbounded below. Use torch.nn.CrossEntropyLoss (the default), which takes logits.")
        if self.__sklearn_is_fitted__() and getattr(self, "callbacks_", None) is not None:
            self.check_callbacks()  # partial_fit and warm starts keep the callbacks: train_split may have changed

    def _refuse_criterion_values(self, params):
        """A method that reads no criterion (``uses_criterion`` False) refuses a ``criterion`` other than the
        default or a ``criterion__*`` value other than the default's among ``params`` (it would be ignored,
        silently; the default's own values, e.g. ``reduction="mean"`` in a grid shared by several estimators,
        pass)."""
        defaults = {k: p.default for k, p in inspect.signature(nn.CrossEntropyLoss).parameters.items()}
        default_instance = nn.CrossEntropyLoss()

        def is_default_criterion(value):
            return value is nn.CrossEntropyLoss or (type(value) is nn.CrossEntropyLoss and all(
                same_value(getattr(value, k, None), getattr(default_instance, k, None))
                for k in ("weight", "ignore_index", "reduction", "label_smoothing")))

        given = sorted(k for k, v in params.items() if (k == "criterion" and not is_default_criterion(v)) or (
            k.startswith("criterion__") and not (k[len("criterion__"):] in defaults
                                                 and same_value(defaults[k[len("criterion__"):]], v))))
        if given:
            raise ValueError(f"{type(self).__name__} trains no label criterion (its losses and prediction rule are its "
                             f"own), so {given} would be ignored"
                             + ("; weight classes by resampling the source rows." if "criterion__weight" in given
                                or getattr(params.get("criterion"), "weight", None) is not None else "."))

    def _check_epochs(self, fit_params):
        """The only fit parameter besides ``yt`` and ``sample_domain`` (named in the signatures) is ``epochs``, an
        integer >= 0 (0: no training step); others (e.g. ``sample_weight``) raise ``TypeError``. ``max_epochs`` and
        the other epoch parameters are in ``_parameter_constraints``."""
        unknown = sorted(set(fit_params) - {"epochs"})
        if "sample_weight" in unknown:
            raise TypeError(
                f"{type(self).__name__}.fit does not support sample_weight: every labelled source row weighs the "
                "same in skda's losses. Resample the source rows by weight instead" + (
                    ", or weight the classes with criterion__weight=torch.tensor([...]) (one weight per class, in "
                    "the order of classes_)." if self.uses_criterion else "."))
        if unknown:
            raise TypeError(f"{type(self).__name__}.fit got unexpected fit parameter(s) {unknown}; the fit "
                            "parameters are yt, sample_domain and epochs (partial_fit).")
        value = fit_params.get("epochs")
        if value is not None and not is_int_at_least(value, 0):
            raise ValueError(f"epochs must be an integer >= 0, got {value!r}.")

    def _check_same_problem(self, classes, input_shape):
        """``warm_start`` keeps the network: refuse (before changing anything) data it cannot take."""
        if not np.array_equal(classes, self.classes_):
            raise ValueError(f"warm_start=True keeps the fitted network, whose output has one unit per class of the "
                             f"previous fit {self.classes_.tolist()}; this fit's labels have the classes "
                             f"{classes.tolist()}. Set warm_start=False to fit from scratch.")
        if tuple(input_shape) != tuple(self.input_shape_):
            raise ValueError(f"warm_start=True keeps the fitted network, built for samples of shape "
                             f"{tuple(self.input_shape_)}; this fit's samples have shape {tuple(input_shape)}. Set "
                             "warm_start=False to fit from scratch.")

    def _check_feature_names(self, X, *, reset):  # shadows BaseEstimator's private helper of this name (sklearn 1.6+)
        """scikit-learn's column-name bookkeeping: ``reset`` records a DataFrame's column names in
        ``feature_names_in_`` (removes it for other input); otherwise names that differ from the fitted ones
        raise ``ValueError`` and a missing or unexpected set of names warns."""
        validate_data(self, X, y="no_validation", reset=reset, skip_check_array=True, ensure_2d=False)

    def _check_target_feature_names(self, X_target):
        """A DataFrame ``X_target`` must have the columns of ``X`` (the fitted ``feature_names_in_``), in the same
        order: ``ValueError`` naming ``X_target`` otherwise; beside an ``X`` without column names it warns."""
        if not hasattr(X_target, "columns"):
            return
        named = all(isinstance(column, str) for column in X_target.columns)  # scikit-learn records string names only
        if named != hasattr(self, "feature_names_in_"):
            which = ("X_target has column names but X has none" if named else
                     "X has column names but X_target has none (its columns are not all strings)")
            warnings.warn(f"{which}: the target columns cannot be checked against the source ones; give both domains "
                          "the same column names (or both as arrays).", UserWarning, stacklevel=caller_stacklevel())
            return
        if not named:
            return
        try:
            self._check_feature_names(X_target, reset=False)
        except ValueError:
            columns, fitted = list(X_target.columns), list(self.feature_names_in_)
            raise ValueError(f"X_target has the columns {columns[:6]}{' ...' if len(columns) > 6 else ''}, but X has "
                             f"{fitted[:6]}{' ...' if len(fitted) > 6 else ''}: source and target must have the same "
                             "columns, in the same order.") from None

    def partial_fit(self, X, y=None, X_target=None, yt=None, classes=None, *, sample_domain=None, **fit_params):
        """Train ``max_epochs`` more epochs without re-initialising (fits from scratch if not fitted).

        ``classes``: every class of the whole problem (needed on the first call when its labels do not hold
        them all, as in scikit-learn's incremental estimators); later calls may only repeat it. Each call runs
        its own schedules (the annealed learning rate, DANN's reversal coefficient): they restart from p = 0
        (p = the fraction of this call's steps), so repeated short calls are not one long ``fit``. ``yt`` and
        ``sample_domain``: as in ``fit``.
        """
        return self._partial_fit(X, y, X_target, classes=classes, target_labels=yt, sample_domain=sample_domain,
                                 **fit_params)

    def _partial_fit(self, X, y, X_target, classes=None, target_labels=None, sample_domain=None, **fit_params):
        if not self.__sklearn_is_fitted__():
            return self._fit(X, y, X_target, classes=classes, target_labels=target_labels,
                             sample_domain=sample_domain, **fit_params)
        self._check_epochs(fit_params)
        self._check_params()
        self._check_module_unchanged()
        self._check_device_unchanged()
        check_x_target_not_routed_past_pipeline(type(self).__name__, X_target)
        if sample_domain is not None:
            X, y, X_target, target_labels = split_sample_domain(X, y, sample_domain, self.unlabeled_marker,
                                                                X_target=X_target, yt=target_labels)
        # classes_ are known since the first call: a chunk may hold one class
        Xs, ys, Xt, state = self._validate_for_fit(X, y, X_target, min_classes=1, target_labels=target_labels)
        self._check_feature_names(X, reset=False)
        self._check_target_feature_names(X_target)
        if getattr(self, "input_kind_", "rows") != "paths":
            check_features(Xs, name="X", input_shape=self.input_shape_, estimator_name=type(self).__name__)
        self._check_continued_image_scale(X, X_target, Xs, Xt)
        _, _, network_shape = self._describe_input(Xs)
        if network_shape != self._network_input_shape():
            raise ValueError(f"X gives network inputs of shape {network_shape}, but this estimator's network takes "
                             f"{self._network_input_shape()}.")
        if classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes={np.unique(np.asarray(classes)).tolist()} differs from the classes of the "
                             f"first fit {self.classes_.tolist()}; they cannot change between partial_fit calls.")
        unknown = np.setdiff1d(np.unique(ys), self.classes_)
        if len(unknown):
            raise ValueError(f"partial_fit got labels {unknown.tolist()} not seen in the first fit "
                             f"(classes_ = {self.classes_.tolist()}); declare every class with partial_fit(..., "
                             "classes=...) on the first call.")
        seed = self._seed(offset=len(self.history))
        # the same source validation split as the calls before (also with random_state None or a RandomState)
        state = {**state, "validation_seed": self.__dict__.get("validation_seed_")}
        with seeded(seed, self.device_):
            self._train(Xs, np.searchsorted(self.classes_, ys), Xt, seed, state, **fit_params)
        return self

    #: What a training call records about itself (the source validation split, the target class shares): set anew
    #: by every call; kept from the earlier call when one is refused before its first step and continued the
    #: earlier network (partial_fit, warm start); dropped when a fresh fit fails.
    fit_records = ("train_indices_", "valid_indices_", "validation_seed_", "target_class_shares_")

    def _train(self, Xs, ys, Xt, seed, state, **fit_params):
        """Train on validated arrays (``ys`` encoded) from ``seed``; ``state`` is what ``_validate_for_fit``
        returned beside them."""
        device = self.device_
        self.data_placement_ = placement = self._placement(Xs, Xt)
        data = {"source": self._training_rows(Xs, placement),
                "target": None if Xt is None else self._training_rows(Xt, placement)}
        # _validate_for_fit appended the labelled target rows after the source rows
        first_target = len(Xs) - state.get("n_labeled_target", 0)
        # of an earlier fit: this call sets them anew (or has none); put back if it fails before its first step
        earlier = {name: self.__dict__.pop(name) for name in self.fit_records if name in self.__dict__}
        run = None
        try:
            if self.train_split is not None:
                split_seed = state.get("validation_seed")
                self.validation_seed_ = self._seed() % 2**32 if split_seed is None else split_seed
                data["valid"], ys = self._split_validation(Xs, ys, data["source"], device, n_source=first_target)
                if isinstance(data["source"], RowSource):
                    data["source"] = data["source"].subset(self.train_indices_)
                else:
                    data["source"] = data["source"][torch.as_tensor(self.train_indices_, device=device)]
            if fit_params.get("epochs") is None and self.max_epochs == "auto":
                n_target = len(data["source"]) if Xt is None else len(Xt)
                fit_params = {**fit_params, "epochs": self.auto_epochs(ys, n_target)}
            self.training_run_ = run = TrainingRun.start(seed, device, fit_params.get("epochs"))
            positions = (np.arange(first_target, len(Xs)) if self.train_split is None
                         else np.flatnonzero(self.train_indices_ >= first_target))
            self.training_run_.labelled_target_rows = torch.as_tensor(positions, dtype=torch.long, device=device)
            try:
                NeuralNet.partial_fit(self, data, torch.as_tensor(ys, dtype=torch.long, device=device), **fit_params)
            except FloatingPointError:  # a diverged loss: the weights cannot be trusted, also after a partial_fit
                self.initialized_ = False
                raise
            finally:
                self.training_run_ = None
        except BaseException:
            if run is None or run.step == 0:  # refused before training (e.g. by the batch sampler)
                for name in self.fit_records:
                    self.__dict__.pop(name, None)
                self.__dict__.update(earlier)
            raise
        self._check_finite_weights()
        if data["target"] is not None:
            self._check_target_collapse(data["target"])

    def auto_epochs(self, ys, n_target: int) -> int:
        """The epochs of a ``max_epochs="auto"`` call: ``AUTO_STEPS`` steps of this estimator's batch sampler on
        ``len(ys)`` labelled rows and ``n_target`` target rows."""
        sampler = self.batch_sampler(torch.as_tensor(ys, dtype=torch.long), n_target, torch.Generator())
        return auto_epochs(len(sampler))

    def _check_finite_weights(self):
        """After training: NaN or infinite weights (a diverged fit, e.g. a learning rate too large) make the
        estimator unfitted and raise ``FloatingPointError``; a model that predicts from them is never returned."""
        params = [p for p in self.module_.parameters()]
        if not params or bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            return
        names = [name for name, p in self.module_.named_parameters() if not torch.isfinite(p).all()]
        self.initialized_ = False
        raise FloatingPointError(
            f"training left non-finite weights in {names[:3]}{' ...' if len(names) > 3 else ''}: it diverged. "
            f"Lower the learning rate (lr={self.lr}) or standardise the features; the estimator is not fitted.")

    # ------------------------------------------------------------------ collapse check
    def _target_class_scores(self, xt: torch.Tensor) -> torch.Tensor:
        """Per-class scores (argmax = the prediction) of the target rows ``xt``, on ``device_``."""
        net = self.module_
        return self.apply_in_chunks(xt, lambda x: net.classify(net.features(x)))

    def _collapse_hint(self) -> str:
        """What the collapse warning advises (a method with more levers names them)."""
        return "try another learning rate or random_state"

    def _check_target_collapse(self, xt: torch.Tensor):
        """Record the share of the training target rows predicted as each class (``target_class_shares_``) and
        warn (``ConvergenceWarning``) when one class takes ``COLLAPSE_SHARE`` or more of at least 10 rows: a
        collapse of the adaptation (e.g. every target feature pulled into one source cluster), visible without
        any target label."""
        n_classes = len(self.classes_)
        predicted = self._target_class_scores(xt).argmax(1)
        self.target_class_shares_ = (torch.bincount(predicted, minlength=n_classes).double() / len(xt)).cpu().numpy()
        top = int(self.target_class_shares_.argmax())
        if len(xt) >= 10 and n_classes > 1 and self.target_class_shares_[top] >= COLLAPSE_SHARE:
            label = self.classes_[top]
            label = label.item() if isinstance(label, np.generic) else label  # any dtype, object labels too
            warnings.warn(
                f"{type(self).__name__}: {self.target_class_shares_[top]:.0%} of the {len(xt)} training target samples "
                f"are predicted as class {label!r}; the adaptation has probably collapsed. "
                f"Unless the target data really hold one class, {self._collapse_hint()}.",
                ConvergenceWarning, stacklevel=caller_stacklevel())

    def _split_validation(self, Xs, ys, xs, device, n_source):
        """Hold out part of the labelled *source* data with ``train_split`` (e.g. skorch's
        ``ValidSplit(0.2, stratified=True)``): the network trains on the rest and the held-out rows are scored
        after every epoch (``valid_loss``, ``valid_accuracy`` in the history), which is what skorch's
        ``EarlyStopping`` and ``Checkpoint`` monitor. Only the first ``n_source`` rows (the source rows) are split;
        the labelled target rows after them always train (a few precious labels, possibly of a class the source
        lacks). Returns ``((x_valid, y_valid), y_train)``."""
        train_idx, valid_idx = split_validation(self.train_split, Xs[:n_source], ys[:n_source],
                                                self.validation_seed_, self.classes_)
        train_idx = np.concatenate([train_idx, np.arange(n_source, len(ys))])
        self.train_indices_, self.valid_indices_ = train_idx, valid_idx
        valid_idx_t = torch.as_tensor(valid_idx, device=device)
        valid_rows = xs.subset(valid_idx) if isinstance(xs, RowSource) else xs[valid_idx_t]
        return (valid_rows, torch.as_tensor(ys[valid_idx], dtype=torch.long, device=device)), ys[train_idx]

    def validation_step(self, batch, **fit_params):
        """Loss (the method's label loss, no adaptation term) and accuracy on a held-out source batch."""
        self._set_training(False)
        x, y = batch
        with torch.no_grad():
            y_pred = self.infer(x, **fit_params)
            loss = self.get_loss(y_pred, y, X=x, training=False)
            if "source_logits" in y_pred:
                self.log_metrics(accuracy=(y_pred["source_logits"].argmax(1) == y).float().mean())
        return {"loss": loss, "y_pred": y_pred}

    def planned_epochs(self) -> int:
        """Epochs the running (or next) fit will take: ``partial_fit(..., epochs=k)``'s ``k``, else
        ``max_epochs`` (for progress displays)."""
        requested = None if self.training_run_ is None else self.training_run_.epochs
        if requested is None and self.max_epochs == "auto":
            raise ValueError("max_epochs='auto' is resolved when the fit starts (from the data's size).")
        return self.max_epochs if requested is None else int(requested)

    def batch_sampler(self, ys: torch.Tensor, n_target: int, generator: torch.Generator) -> PairedBatchSampler:
        """The sampler of paired index batches (override for e.g. class-balanced source batches)."""
        return PairedBatchSampler(len(ys), n_target, self.batch_size, generator, self.device_)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """Train for ``epochs`` (default ``max_epochs``) on tensors ``X = {"source", "target"}``, ``y``."""
        fit_params.pop("_routing_method", None)
        xs, xt = X["source"], X["target"]
        run = self.training_run_
        sampler = self.batch_sampler(y, len(xs) if xt is None else len(xt), run.generator)
        epochs = self.max_epochs if epochs is None else epochs
        self.n_steps_per_epoch_ = len(sampler)
        run.step, run.total_steps = 0, max(1, epochs * len(sampler))
        self.training_progress_ = 0.0

        def batches():
            if isinstance(xs, RowSource):  # images, files, host data: batches from the same index pairs
                pairs = list(sampler)
                run.loaders_started += 1
                streamed = xs.paired_batches(pairs, xt, seed=run.seed * 1_000_003 + run.loaders_started)
                for (idx_s, _), (batch_s, batch_t) in zip(pairs, streamed):
                    self._check_prepared_batch(batch_s, batch_t)
                    self.training_progress_ = run.step / run.total_steps
                    yield {"source": batch_s, "target": batch_t}, y[idx_s]
                    run.step += 1
                return
            for idx_s, idx_t in sampler:
                self.training_progress_ = run.step / run.total_steps
                inputs = {"source": xs[idx_s], "target": None if xt is None else xt[idx_t]}
                yield inputs, y[idx_s]
                run.step += 1

        valid = X.get("valid")

        def valid_batches():
            xv, yv = valid
            if isinstance(xv, RowSource):
                for start, x in xv.chunks(PREDICT_CHUNK_ROWS):
                    yield {"source": x, "target": None}, yv[start:start + len(x)]
                return
            for start in range(0, len(yv), PREDICT_CHUNK_ROWS):
                chunk = slice(start, start + PREDICT_CHUNK_ROWS)
                yield {"source": xv[chunk], "target": None}, yv[chunk]

        for epoch in range(epochs):
            # every epoch's first step sets every module's mode again (_set_training), so that a group frozen or
            # unfrozen by a callback during the fit has its batch-norm layers in the mode its rate asks for
            self.module_.__dict__["_skda_mode"] = None
            try:
                self.notify("on_epoch_begin", dataset_train=X, dataset_valid=valid)
                self.run_single_epoch(batches(), training=True, prefix="train", step_fn=self.train_step,
                                      **fit_params)
                if valid is not None:
                    self.run_single_epoch(valid_batches(), training=False, prefix="valid",
                                          step_fn=self.validation_step, **fit_params)
            except BaseException as exc:
                # the history keeps whole epochs only; a partial_fit keeps the weights of the last step taken
                self._drop_unfinished_epoch()
                if isinstance(exc, KeyboardInterrupt):
                    self._warn_interrupted(epoch, epochs)
                raise  # Ctrl-C: skorch's fit ends the training quietly (its documented behaviour)
            try:
                self.notify("on_epoch_end", dataset_train=X, dataset_valid=valid)
            except (KeyError, SkorchException, ValueError) as exc:  # Checkpoint / LRScheduler wrap the KeyError
                self._name_missing_monitors(exc)
                raise
            self._warn_on_unscaled_group_rates()
        self.training_progress_ = 1.0
        return self

    def _warn_on_unscaled_group_rates(self):
        """At an epoch's end: warn when a schedule set the rates of an optimiser's relative groups (those with an
        ``lr_scale``: ``backbone_lr_scale``, ``optimizer__param_groups``, the unmatched parameters) out of their
        scales, e.g. ``OneCycleLR`` / ``CyclicLR`` given one ``max_lr`` / ``base_lr``, which they write into every
        group (a frozen group, scale 0, then trains), or a floor for every group (``CosineAnnealingLR``'s
        ``eta_min``, which lifts a frozen group too; ``ReduceLROnPlateau``'s ``min_lr``). Every schedule that only
        multiplies the groups' own rates (the annealing, ``StepLR``, ``ExponentialLR``, ``LambdaLR``,
        ``CosineAnnealingLR`` with ``eta_min=0``, ...) keeps rate / scale equal across them."""
        for name in self._optimizers:
            optimizer = getattr(self, name + "_", None)
            scaled = [group for group in getattr(optimizer, "param_groups", ()) if "lr_scale" in group]
            ratios = [group["lr"] / group["lr_scale"] for group in scaled if group["lr_scale"] > 0]
            frozen_trains = any(group["lr_scale"] == 0 and group["lr"] != 0 for group in scaled)
            if frozen_trains or (ratios and max(ratios) - min(ratios) > 1e-6 * max(abs(r) for r in ratios)):
                warnings.warn(
                    f"a learning-rate schedule set the rates of {name}'s parameter groups regardless of their "
                    f"scales {[group['lr_scale'] for group in scaled]} (backbone_lr_scale / optimizer__param_groups)"
                    + ("; a group at scale 0 (frozen) now trains" if frozen_trains else "") + ". A schedule's "
                    "single max_lr / base_lr (OneCycleLR, CyclicLR) or floor (eta_min, min_lr) applies to every "
                    "group: give a list, one value per group, or a floor of 0.",
                    UserWarning, stacklevel=2)

    def _name_missing_monitors(self, error):
        """After a ``KeyError`` (or skorch's ``Checkpoint`` / ``LRScheduler`` wrapping one) in the callbacks at an
        epoch's end: when it is the history's lookup of a value a callback monitors and this epoch did not record (a
        misspelling, Keras's ``val_loss``, a value the method records only in training, or one a callback records
        after the callback that reads it), a ``ValueError`` naming it and the recorded values (skorch names only
        the key). Any other error passes unchanged."""
        # Checkpoint copies the KeyError's text into its SkorchException; LRScheduler chains the KeyError
        lookup = error if isinstance(error, (KeyError, SkorchException)) else error.__cause__
        if lookup is None:
            return
        recorded = sorted(key for key in self.history[-1] if key != "batches")
        text = str(lookup.args[0]) if lookup.args else str(lookup)
        for name, callback in self.callbacks_:
            monitor = getattr(callback, "monitor", None)
            if isinstance(monitor, str) and monitor not in self.history[-1] and f"Key {monitor!r}" in text:
                split_values = [*self.validation_metrics, "valid_loss_best"]
                split_near = difflib.get_close_matches(monitor, split_values, n=1, cutoff=0.6)
                order = "a value a callback of yours records must be recorded by a callback listed before the one " \
                        "that reads it"
                if self.train_split is None and split_near:  # a validation value: the split, not a train_* value
                    advice = (f"validation values such as {split_near[0]!r} are recorded only with a source "
                              "validation split: pass train_split=skorch.dataset.ValidSplit(0.2, stratified=True); "
                              f"else, {order}")
                elif monitor == "valid_accuracy_best" and "valid_accuracy" in split_values:
                    advice = f"skda records valid_accuracy but not its best. {_ACCURACY_MONITOR_ADVICE}"
                else:  # the closest recorded name of the same kind (train_ / valid_) as the one written
                    kind = next((prefix for prefix in ("train_", "valid_") if monitor.startswith(prefix)), "")
                    near = difflib.get_close_matches(monitor, [k for k in recorded if k.startswith(kind)], n=1,
                                                     cutoff=0.6)
                    advice = f"{f'did you mean {near[0]!r}? ' if near else ''}{order}"
                raise ValueError(
                    f"callback {name!r} monitors {monitor!r}, which {type(self).__name__} did not record in epoch "
                    f"{len(self.history)} (recorded: {recorded}): {advice}.") from error

    def _check_prepared_batch(self, *batches):
        """A training batch after ``augment`` and ``preprocess`` must be float32 samples of the network's input
        shape (``network_input_shape_``: one sample converted and preprocessed without augmentation); else a
        ``ValueError`` that names the two, instead of an error from inside the network."""
        shape = self._network_input_shape()
        for batch in batches:
            if batch is not None and (tuple(batch.shape[1:]) != shape or batch.dtype != torch.float32):
                raise ValueError(
                    f"a training batch after augment and preprocess holds {batch.dtype} samples of shape "
                    f"{tuple(batch.shape[1:])}, but the network takes float32 samples of shape {shape} (one sample "
                    "converted and preprocessed, without augmentation). augment must keep each image's shape and "
                    "dtype, and preprocess must return float32 images of one shape.")

    def _drop_unfinished_epoch(self):
        """An epoch stopped by an error or ``KeyboardInterrupt`` (Ctrl-C): remove its unfinished history row (it has
        no ``train_loss``), so that the history holds only whole epochs. (skorch's ``EarlyStopping`` stops
        *between* epochs and is not affected.)"""
        if len(self.history) and "train_loss" not in self.history[-1]:
            self.history.pop()

    def _warn_interrupted(self, epoch, epochs):
        """Ctrl-C inside an epoch: say that the fit stopped early (skorch ends it quietly)."""
        warnings.warn(
            f"{type(self).__name__}: training was interrupted (KeyboardInterrupt) during epoch {epoch + 1} of "
            f"{epochs}; the model keeps the weights of the last step taken and the history its {epoch} complete "
            "epoch(s) of this call.", TrainingInterruptedWarning, stacklevel=caller_stacklevel())

    def log_metrics(self, **values):
        """Record per-batch scalars (0-d tensors, kept on the device) from ``get_loss``; they are copied to
        the host once per epoch and stored in the history as ``<prefix>_<name>`` (``train_`` or ``valid_``; batch
        and epoch mean)."""
        records = None if self.training_run_ is None else self.training_run_.batch_records
        if records is not None:
            records[-1].update({k: v.detach() for k, v in values.items()})

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        run = self.training_run_
        run.batch_records = records = []
        sizes = []
        loss_key = f"{prefix}_loss"
        try:
            for batch in iterator:
                self.notify("on_batch_begin", batch=batch, training=training)
                records.append({})
                with self._autocast():
                    step = step_fn(batch, **fit_params)
                records[-1]["loss"] = loss = step["loss"].detach()
                # a callback's on_batch_end finds the batch loss where skorch puts it; a 0-d tensor on the device
                # until the epoch ends (no host copy per step), then a float like every other history entry
                self.history.record_batch(loss_key, loss)
                sizes.append(len(batch[1]))
                self.notify("on_batch_end", batch=batch, training=training, **step)
        except BaseException:
            for entry in self.history[-1]["batches"]:  # a failed epoch leaves plain numbers in the history too
                if isinstance(entry.get(loss_key), torch.Tensor):
                    entry[loss_key] = float(entry[loss_key])
            raise
        finally:
            run.batch_records = None
        self.history.record(prefix + "_batch_count", len(records))
        if not records:
            return
        names = list(dict.fromkeys(["loss", *(k for r in records for k in r)]))  # "loss" first
        nan = torch.tensor(float("nan"), device=records[0]["loss"].device)
        table = torch.stack([torch.stack([r.get(k, nan).float() for k in names]) for r in records]).cpu().numpy()
        epoch_batches = self.history[-1]["batches"][-len(records):]
        for row, size, entry in zip(table, sizes, epoch_batches):
            entry[prefix + "_batch_size"] = size
            for name, value in zip(names, row):
                entry[f"{prefix}_{name}"] = float(value)
        losses = table[:, 0]
        if not np.all(np.isfinite(losses)):
            bad = int(np.flatnonzero(~np.isfinite(losses))[0])
            if training and bad == 0 and len(self.history) == 1:  # no update has been made yet
                raise FloatingPointError(
                    f"the training loss is {losses[0]} at the first batch of the fit, before any update (so not a "
                    "divergence the learning rate could cause): the network's output or the loss is not finite for "
                    "these inputs. Check the module's forward (e.g. a log or a division of values that can be 0 or "
                    "negative) and the input values.")
            raise FloatingPointError(
                f"the training loss became {losses[bad]} at epoch {len(self.history)}, batch {bad + 1}: training "
                f"diverged. Lower the learning rate (lr={self.lr}) or standardise the features.")
        weights = np.asarray(sizes, dtype=float)
        for j, name in enumerate(names[1:], start=1):
            column = table[:, j]
            ok = np.isfinite(column)
            if ok.any():
                self.history.record(f"{prefix}_{name}", float(np.average(column[ok], weights=weights[ok])))

    def infer(self, x, **fit_params):
        """The network's forward pass on a batch (``{"source": ..., "target": ...}`` in training); the output of
        a fit's first training step is checked against the network contract (:class:`skda.layers.NetworkOutput`,
        the entries ``required_outputs`` names)."""
        if not isinstance(x, dict):
            return self.module_(x, **fit_params)
        output = self.module_(**x, **fit_params)
        run = self.training_run_
        if run is not None and not run.output_checked and x.get("target") is not None:
            check_network_output(output, self.required_outputs, type(self.module_).__name__)
            run.output_checked = True
        return output

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Label loss on the source logits; methods add their adaptation terms."""
        return self.criterion_(y_pred["source_logits"], y_true)

    # ------------------------------------------------------------------ prediction
    def _map_batches(self, X, fn, to_numpy=True):
        """Apply ``fn`` to ``X`` (validated) in chunks on ``device_`` in eval mode; return a numpy array
        (or the concatenated tensor on ``device_`` with ``to_numpy=False``), checked by :func:`check_finite_output`."""
        self._check_fitted()
        check_sklearn_scoring(X, self.unlabeled_marker)  # refuse a scikit-learn scorer given packed labels
        self._check_feature_names(X, reset=False)
        return check_finite_output(self.apply_in_chunks(self._prediction_rows(X), fn, to_numpy=to_numpy))

    def apply_in_chunks(self, X, fn, *, to_numpy=False):
        """``fn`` over ``PREDICT_CHUNK_ROWS``-row chunks of the tensor ``X`` (moved chunk by chunk to
        ``device_``) or of a :class:`skda.images.RowSource` (images, files: converted, preprocessed, decoded chunk
        by chunk; no augmentation), in eval mode without gradient and under the ``precision`` autocast (bfloat16
        results are returned as float32), written into one output allocated at the first chunk: a
        tensor on ``device_``, or with ``to_numpy=True`` a numpy array on the host filled chunk by chunk. Memory
        beyond the output is one chunk's (no list of chunk results to concatenate). A chunk of fewer than
        ``MIN_CHUNK_ROWS`` rows is padded to that many (its results cut back), so that a row's result does not
        depend on the number of rows predicted with it.

        On the CPU each chunk is a copy: ``X`` may share memory with the caller's array (``torch.from_numpy``),
        and a module with an in-place first operation (e.g. ``nn.ReLU(inplace=True)``) would change it."""
        self._set_training(False)
        if isinstance(X, RowSource):  # fresh tensors on the device, converted (and preprocessed) chunk by chunk
            copy_chunks = False
            chunks = X.chunks(PREDICT_CHUNK_ROWS) if len(X) else [
                (0, torch.zeros((0, *self._network_input_shape()), device=self.device_))]
        else:
            copy_chunks = self.device_.type == "cpu" and X.device.type == "cpu"
            chunks = ((start, X[start:start + PREDICT_CHUNK_ROWS].to(self.device_, non_blocking=True))
                      for start in range(0, max(len(X), 1), PREDICT_CHUNK_ROWS))
        network_shape = self._network_input_shape()

        def padded(x):
            if 0 < len(x) < MIN_CHUNK_ROWS:
                return torch.cat([x, x[:1].expand(MIN_CHUNK_ROWS - len(x), *x.shape[1:])])
            return x.clone() if copy_chunks else x

        out = None
        with torch.no_grad(), self._autocast():
            for start, x in chunks:
                if isinstance(X, RowSource) and tuple(x.shape[1:]) != network_shape:
                    raise ValueError(f"X gives network inputs of shape {tuple(x.shape[1:])} (after conversion and "
                                     f"preprocess), but this estimator's network takes {network_shape}.")
                rows = len(x)
                part = fn(padded(x))[:rows]
                if part.dtype in (torch.bfloat16, torch.float16):  # precision="bfloat16": results in float32
                    part = part.float()
                if to_numpy:
                    part = part.cpu().numpy()
                if out is None:
                    shape = (len(X), *part.shape[1:])
                    out = (np.empty(shape, dtype=part.dtype) if to_numpy
                           else torch.empty(shape, dtype=part.dtype, device=part.device))
                out[start:start + len(part)] = part
        return out

    def predict_proba(self, X):
        """Class probabilities (softmax of the label classifier, float64), columns ordered as ``classes_``."""
        self._check_fitted()
        net = self.module_
        # float64 like scikit-learn's classifiers: rounding a float32 softmax can order two rows unlike their logits
        return self._map_batches(X, lambda x: torch.softmax(net.classify(net.features(x)).double(), dim=1))

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities (log-softmax of the label classifier), columns ordered as
        ``classes_``."""
        self._check_fitted()
        net = self.module_
        return self._map_batches(X, lambda x: torch.log_softmax(net.classify(net.features(x)).double(), dim=1))

    @available_if(lambda est: est.predicts_from_logits)
    def decision_function(self, X):
        """The label classifier's logits, shape (n_samples, n_classes), columns ordered as ``classes_``; with two
        classes, scikit-learn's binary convention: one column, ``logit(classes_[1]) - logit(classes_[0])``, shape
        (n_samples,), positive where ``classes_[1]`` is predicted."""
        self._check_fitted()
        net = self.module_
        logits = self._map_batches(X, lambda x: net.classify(net.features(x)).double())
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict(self, X):
        """Predicted labels (values of ``classes_``)."""
        self._check_fitted()
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def fit_transform(self, X, y=None, X_target=None, **fit_params):
        """``fit(X, y, X_target)``, then the learned features of ``X`` (all its rows, source and target). As a
        transformer on packed labels inside a Pipeline that ends in a classifier without an unlabelled marker (e.g.
        ``LogisticRegression``), it warns: that classifier gets the same labels and learns the marker as a class."""
        features = self.fit(X, y, X_target, **fit_params).transform(X)
        if X_target is None:
            warn_if_the_pipeline_ends_in_a_classifier_blind_to_the_marker(self, y, self.unlabeled_marker)
        return features

    def transform(self, X):
        """The learned features G_f(X), shape (n_samples, n_features_out)."""
        self._check_fitted()
        return self._map_batches(X, self._feature_map)

    def score(self, X, y, sample_weight=None):
        """Accuracy on the labelled rows of ``(X, y)``; rows with ``y == unlabeled_marker`` are ignored."""
        y, rows = labelled_score_rows(X, y, sample_weight, self.unlabeled_marker)
        if rows is None:
            return score_without_labelled_rows(self.unlabeled_marker)
        # a DataFrame (pandas, polars) keeps its column names down to predict (checked there); other input is
        # validated here
        X = _safe_indexing(X, rows) if hasattr(X, "columns") else check_features(X, name="X")[rows]
        sw = None if sample_weight is None else np.asarray(sample_weight)[rows]
        return super().score(X, numeric_labels(y[rows]), sample_weight=sw)


_declare_inherited_parameters(DomainAdaptationNet)
