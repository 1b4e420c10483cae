"""The documentation site builds (strict: broken links, missing pages or API objects fail) and the examples run."""

import subprocess
import sys

import pytest

from .conftest import REPO


def test_docs_site_builds(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("DANNClassifier", "ILADAClassifier", "multi_sample_contrastive_loss", "plot_embedding"):
        assert name in api


def test_plot_example_runs(tmp_path):
    pytest.importorskip("matplotlib")
    result = subprocess.run([sys.executable, "examples/plot_dann_digits_shift.py", "--out", str(tmp_path), "--epochs",
                             "5"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dann_curves.png").stat().st_size > 0 and (tmp_path / "dann_embedding.png").stat().st_size > 0


def test_torchvision_example_runs():
    """examples/torchvision_digits.py (the Images page's example): a ResNet-18 through DANN and ImageFeatures + DANN
    in a Pipeline, on the real digits (SKDA_DATA, set by conftest), one epoch each."""
    pytest.importorskip("torchvision")
    result = subprocess.run([sys.executable, "examples/torchvision_digits.py", "--epochs", "1"], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for line in ("DANN, ResNet-18 backbone: USPS (target) accuracy", "ImageFeatures + StandardScaler + DANN: USPS"):
        assert line in result.stdout
