"""CUDA: training on the GPU by default, and a CUDA-trained model loading on a CPU-only machine.

Skipped without CUDA (CI has no GPU); run on a GPU machine with ``python -m pytest -q tests/test_cuda.py``.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from .registry import NAMES, make

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

@pytest.mark.parametrize("name", NAMES)
def test_auto_device_trains_on_cuda_and_cpu_only_machine_loads_it(small_task, name, tmp_path):
    Xs, ys, Xt, _ = small_task
    clf = make(name, random_state=0).fit(Xs, ys, Xt)
    assert clf.device_.type == "cuda"
    assert next(clf.module_.parameters()).is_cuda
    expected = clf.predict_proba(Xt)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "Xt.npy", Xt)
    code = (
        "import pickle, numpy as np, torch; assert not torch.cuda.is_available(); "
        f"clf = pickle.loads(open(r'{tmp_path / 'model.pkl'}', 'rb').read()); "
        "assert clf.device_.type == 'cpu'; "
        f"np.save(r'{tmp_path / 'proba.npy'}', clf.predict_proba(np.load(r'{tmp_path / 'Xt.npy'}')))"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # same interpreter and import path, no GPU visible
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), expected, rtol=1e-4, atol=1e-5)
