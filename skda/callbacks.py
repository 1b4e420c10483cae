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
    keys : tuple of str
        History keys shown when present (e.g. ``train_domain_accuracy``).
    every : int, default 10
        On a non-terminal stream, print every ``every`` epochs (and the last).
    stream : file, default sys.stdout
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
        self.total_epochs_ = net.planned_epochs() if hasattr(net, "planned_epochs") else net.max_epochs

    def on_epoch_end(self, net, **kwargs):
        stream = self.stream or sys.stdout
        self.epochs_done_ += 1
        total = self.total_epochs_
        row = net.history[-1]
        shown = "  ".join(f"{k.removeprefix('train_')} {row[k]:.3f}" for k in self.keys if k in row)
        width = 20
        filled = int(width * self.epochs_done_ / total)
        text = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] epoch {self.epochs_done_}/{total} "
                f"{time.perf_counter() - self.start_time_:5.1f}s  {shown}")
        interactive = hasattr(stream, "isatty") and stream.isatty()
        if interactive:
            stream.write("\r" + text + ("\n" if self.epochs_done_ >= total else ""))
        elif self.epochs_done_ % self.every == 0 or self.epochs_done_ >= total:
            stream.write(text + "\n")
        stream.flush()
