"""skorch callbacks provided by skda (the schedules live in :mod:`skda.optim`)."""

from __future__ import annotations

import sys
import time

from skorch.callbacks import Callback

from .validation import is_int_at_least

__all__ = ["TrainingProgress"]


class TrainingProgress(Callback):
    """One-line progress display for long fits: epoch count, elapsed time and the last epoch's losses.

    Rewrites its line in place on a terminal; prints one line per ``every`` epochs otherwise.

    Parameters
    ----------
    label : str, default ""
        Text shown in front of the bar (e.g. the estimator's name).
    keys : tuple of str, default ("train_loss", "train_label_loss", "train_domain_accuracy")
        History keys shown when present.
    every : int >= 1, default 10
        On a non-terminal stream, print every ``every`` epochs and the last one run (also when the fit stops
        early, e.g. with ``EarlyStopping``). Checked when the estimator builds its callbacks.
    stream : file, "stdout", "stderr" or None, default None
        Where to write. None or "stdout": ``sys.stdout`` as it is at each write (so pytest's capture and
        redirections see it); "stderr": ``sys.stderr`` likewise. The names keep the estimator clonable
        (``clone``, ``GridSearchCV``, ``cross_val_score``) and picklable; a file object given directly must
        survive ``copy.deepcopy`` to be cloned (``sys.stderr`` itself does not; a fitted estimator holding it
        still pickles, the stream stored by name).
    """

    def __init__(self, label="", keys=("train_loss", "train_label_loss", "train_domain_accuracy"), every=10,
                 stream=None):
        self.label = label
        self.keys = keys
        self.every = every
        self.stream = stream

    def initialize(self):
        if not is_int_at_least(self.every, 1):
            raise ValueError(f"TrainingProgress: every must be an int >= 1 (print every `every` epochs), "
                             f"got {self.every!r}")
        if isinstance(self.stream, str) and self.stream not in ("stdout", "stderr"):
            raise ValueError(f"TrainingProgress: stream must be a file, 'stdout', 'stderr' or None, "
                             f"got {self.stream!r}")
        return super().initialize()

    def _stream(self):
        if self.stream is None or isinstance(self.stream, str):
            return getattr(sys, self.stream or "stdout")
        return self.stream

    def __getstate__(self):
        # the interpreter's standard streams cannot be pickled (nor deep-copied by clone): store them by name
        state = self.__dict__.copy()
        for name in ("stdout", "stderr"):
            if state.get("stream") is getattr(sys, name):
                state["stream"] = _StandardStream(name)
        return state

    def __setstate__(self, state):
        if isinstance(state.get("stream"), _StandardStream):
            state = {**state, "stream": getattr(sys, state["stream"].name)}
        self.__dict__.update(state)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.start_time_ = time.perf_counter()
        self.epochs_done_ = 0
        self.history_start_ = len(net.history)
        # the epochs this fit will run: ``partial_fit(..., epochs=k)`` included (``planned_epochs``)
        self.total_epochs_ = max(1, net.planned_epochs() if hasattr(net, "planned_epochs") else net.max_epochs)
        self.pending_ = None  # the last line, when it has not been ended (terminal) or printed (other streams)

    def on_epoch_end(self, net, **kwargs):
        self._show(net, self.epochs_done_ + 1, final=False)

    def on_train_end(self, net, **kwargs):
        """A fit that stops early (e.g. ``EarlyStopping``, which may stop it before this callback sees the last
        epoch) still shows its last epoch and ends its line."""
        run = len(net.history) - getattr(self, "history_start_", len(net.history))
        if run > self.epochs_done_:
            self._show(net, run, final=True)
        elif self.pending_ is not None:
            stream = self._stream()
            stream.write(self.pending_ or "\n")
            stream.flush()
            self.pending_ = None

    def _show(self, net, epochs_done, final):
        stream = self._stream()
        self.epochs_done_ = epochs_done
        total = self.total_epochs_
        row = net.history[-1]
        shown = "  ".join(f"{k.removeprefix('train_')} {row[k]:.3f}" for k in self.keys
                          if k in row and isinstance(row[k], (int, float)))
        width = 20
        filled = min(width, int(width * epochs_done / total))
        text = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] epoch {epochs_done}/{total} "
                f"{time.perf_counter() - self.start_time_:5.1f}s  {shown}")
        done = final or epochs_done >= total
        if _interactive(stream):
            stream.write("\r" + text + ("\n" if done else ""))
            self.pending_ = None if done else ""
        elif epochs_done % self.every == 0 or done:
            stream.write(text + "\n")
            self.pending_ = None
        else:
            self.pending_ = text + "\n"
        stream.flush()


class _StandardStream:
    """``sys.stdout`` / ``sys.stderr`` by name, in a pickled ``TrainingProgress``."""

    def __init__(self, name):
        self.name = name


def _interactive(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()
