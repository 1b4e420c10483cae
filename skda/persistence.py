"""Plain-data encoding of fitted attributes for ``save_params`` / ``load_params`` (readable with
``torch.load(..., weights_only=True)``), and the optimiser copies that pickles carry."""

from __future__ import annotations

import copy
import threading

import numpy as np
import torch

__all__ = ["FITTED_STATE_KEY"]


#: The key of the fitted attributes in a file written by ``DomainAdaptationNet.save_params(f_params=...)``
#: (remove it, ``state.pop(FITTED_STATE_KEY)``, to load the rest into a bare torch module).
FITTED_STATE_KEY = "_skda_fitted_state"


#: set while ``DomainAdaptationNet.__deepcopy__`` takes the state (kept per thread)
_COPYING = threading.local()


def _pop_params_file(f_params, kwargs):
    """skorch's ``f_module`` is another name for ``f_params``."""
    f_module = kwargs.pop("f_module", None)
    if f_params is not None and f_module is not None:
        raise TypeError("called with both f_params and f_module, please choose one")
    return f_module if f_params is None else f_params


def _without_state(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """A shallow copy of ``optimizer`` (same class, defaults and parameter groups) with an empty state."""
    clone = copy.copy(optimizer)
    clone.state = type(optimizer.state)(dict) if hasattr(optimizer.state, "default_factory") else {}
    return clone


_PLAIN = (bool, int, float, str, type(None))


def _encode_value(name, value):
    """A fitted attribute as something ``torch.load(weights_only=True)`` reads: arrays of numbers become tensors,
    arrays of text lists with their dtype, numpy scalars Python numbers."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufc":
            return {"ndarray": torch.from_numpy(np.ascontiguousarray(value)).clone()}
        if value.dtype == object:  # numpy scalars among the objects (e.g. np.str_ paths or labels) as Python values
            value = np.frompyfunc(lambda v: v.item() if isinstance(v, np.generic) else v, 1, 1)(value).astype(object)
        items = value.tolist()
        flat = np.asarray(value, dtype=object).ravel().tolist()
        if all(isinstance(v, _PLAIN) and not isinstance(v, np.generic) for v in flat):
            return {"ndarray": items, "dtype": value.dtype.str}
    elif isinstance(value, np.generic):
        return value.item()
    elif isinstance(value, tuple) and all(isinstance(v, _PLAIN + (np.generic,)) for v in value):
        return tuple(v.item() if isinstance(v, np.generic) else v for v in value)
    elif isinstance(value, _PLAIN):
        return value
    raise TypeError(f"save_params cannot store the fitted attribute {name}={value!r} as plain data (tensors, lists, "
                    "numbers, text); save the whole estimator with joblib.dump instead.")


def _decode_value(value):
    if isinstance(value, dict) and "ndarray" in value:
        data = value["ndarray"]
        if isinstance(data, torch.Tensor):
            return data.cpu().numpy()
        return np.array(data, dtype=np.dtype(value["dtype"]))
    return value
