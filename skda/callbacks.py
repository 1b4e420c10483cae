"""skorch callbacks provided by skda (the schedules live in :mod:`skda.optim`)."""

from __future__ import annotations

import sys
import time

from skorch.callbacks import Callback

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
    every : int, default 10
        On a non-terminal stream, print every ``every`` epochs and the last one run (also when the fit stops
        early, e.g. with ``EarlyStopping``).
    stream : file or None, default None
        Where to write; None: ``sys.stdout`` as it is at each write (so pytest's capture and redirections see it).
    """

    def __init__(self, label="", keys=("train_loss", "train_label_loss", "train_domain_accuracy"), every=10,
                 stream=None):
        self.label = label
        self.keys = keys
        self.every = every
        self.stream = stream

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
            stream = self.stream or sys.stdout
            stream.write(self.pending_ or "\n")
            stream.flush()
            self.pending_ = None

    def _show(self, net, epochs_done, final):
        stream = self.stream or sys.stdout
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


def _interactive(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()
