"""Runtime helpers of the engine: device resolution, seeded fits, warnings that point at the user's call.

Nothing here knows about domain adaptation; :mod:`skda.engine` uses it around every fit and prediction.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch

__all__ = ["TrainingRun", "caller_stacklevel", "device_parameter_resolved", "resolve_device", "same_value", "seeded"]


def resolve_device(device) -> torch.device:
    """``"auto"`` (or None) -> CUDA when available, else CPU; anything else -> ``torch.device(device)``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_device_available(device) -> None:
    """Refuse, before any training, a ``device`` this machine does not have (``"cuda"`` without CUDA, ``"mps"``
    without MPS), instead of torch's error from deep inside the first step. ``"auto"`` / None always resolve."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return
    kind = torch.device(device).type
    available = {"cuda": torch.cuda.is_available,
                 "mps": lambda: hasattr(torch.backends, "mps") and torch.backends.mps.is_available()}.get(kind)
    if available is not None and not available():
        raise ValueError(f"device={device!r}, but this machine has no {kind.upper()} device available to torch; use "
                         "device='auto' (CUDA when available, else the CPU) or device='cpu'.")


#: torch's default generator is process-global: seeded fits in threads of one process (dask workers with
#: several threads, joblib's threading backend) take turns, so that each is reproducible.
_SEEDED_LOCK = threading.RLock()


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the function calling this one point at the first frame
    outside the skda package (the user's ``fit`` / ``partial_fit`` call, however deep skda's own calls go)."""
    package = os.path.dirname(os.path.abspath(__file__))  # skda/
    frame, level = sys._getframe(2), 2  # 1: the function that warns; 2: its caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def autocast_off(device_type: str):
    """A context that switches off a caller's autocast region on ``device_type`` (float32 forward passes), or
    nothing where torch has no autocast for that device type (e.g. ``mps`` before torch 2.5, whose
    ``torch.autocast`` raises for it even when disabled)."""
    available = getattr(getattr(torch, "amp", None), "is_autocast_available", None)
    try:
        supported = available(device_type) if available is not None else device_type in ("cpu", "cuda")
    except RuntimeError:  # a device type this torch does not know
        supported = False
    return torch.autocast(device_type, enabled=False) if supported else nullcontext()


@contextmanager
def float32_default_dtype():
    """torch's default floating dtype is float32 inside (skda's networks and the tensors it makes are float32, as
    the data it feeds them, whatever ``torch.set_default_dtype`` the caller set); the caller's is restored
    afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch's global generators inside, restore the caller's RNG state afterwards, with torch's default
    dtype float32 (:func:`float32_default_dtype`). Holds a process-wide lock: fits running in several threads of
    one process run one after the other (use processes to parallelise, e.g. joblib's default loky backend or dask
    workers with ``processes=True``). torch has one global generator and one default dtype per process: code of the
    caller's that draws from the generator in another thread while a fit runs shares the fit's seeded stream
    (neither is then reproducible, and the generator is put back afterwards as if those draws had not happened),
    and sees float32 as the default dtype until the fit ends."""
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        devices = [index]
    else:
        devices = []
    with _SEEDED_LOCK, torch.random.fork_rng(devices=devices), float32_default_dtype():
        # Only the generators restored afterwards are seeded (torch.manual_seed would reseed every GPU's).
        torch.default_generator.manual_seed(seed)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield



def same_value(a, b) -> bool:
    """``a`` and ``b`` are the same parameter value (identity, or ``==`` where it gives one truth value)."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):  # e.g. arrays or tensors of several values
        return False


@dataclass
class TrainingRun:
    """The state of one ``fit`` / ``partial_fit`` call while it trains (``DomainAdaptationNet.training_run_``,
    None outside training): skorch hands its callbacks only the net, so what a schedule, a method's loss or a
    progress display needs to know about the running call is read here, in one place, and dropped when the
    call ends.

    - ``generator``: draws the batch order, on the CPU (the order does not depend on the device);
    - ``device_generator``: random numbers inside a step (e.g. triplet mining), on the training device (the
      same generator on the CPU), so that no random tensor crosses host->device per step;
    - ``epochs``: the epochs this call runs when ``partial_fit(..., epochs=k)`` asked for ``k`` (None: the
      estimator's ``max_epochs``);
    - ``step`` / ``total_steps``: optimisation steps taken so far and planned in this call;
    - ``labelled_target_rows``: which training source rows are labelled target rows (``yt``).
    """

    generator: torch.Generator
    device_generator: torch.Generator
    epochs: int | None = None
    step: int = 0
    total_steps: int = 1
    #: whether the network's output of this call's first training step was checked (``NetworkOutput``)
    output_checked: bool = False
    #: what a method keeps for the steps of this call (M-ADDA: its class centres on the training device)
    method_state: dict = field(default_factory=dict)
    #: the running epoch's per-batch scalars (``log_metrics``), copied to the history when the epoch ends
    batch_records: list | None = None
    #: the seed of this call (streamed batches seed their ``DataLoader`` workers from it and ``loaders_started``)
    seed: int = 0
    #: the streamed epochs started in this call (a ``DataLoader`` each)
    loaders_started: int = 0
    #: positions, among this call's training source rows, of the labelled target rows (``yt``) that joined them
    #: (a long tensor on the training device; empty when ``yt`` labels none). A method that treats them apart
    #: from the source rows (M-ADDA) reads them here.
    labelled_target_rows: torch.Tensor | None = None

    @classmethod
    def start(cls, seed: int, device: torch.device, epochs: int | None = None) -> TrainingRun:
        generator = torch.Generator().manual_seed(seed)
        device_generator = (generator if device.type == "cpu"
                            else torch.Generator(device=device).manual_seed(seed))
        return cls(generator, device_generator, epochs, seed=seed)


@contextmanager
def device_parameter_resolved(net, device: torch.device):
    """Inside, the net's ``device`` parameter holds the resolved ``device`` (skorch moves modules and loads
    weights to ``net.device``, and knows no ``"auto"``); afterwards it holds what the user set again."""
    requested = net.device
    net.device = device
    try:
        yield
    finally:
        net.device = requested
