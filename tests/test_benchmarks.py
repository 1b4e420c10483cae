"""The benchmark scripts' command lines and reports (benchmarks/: run as scripts, their folder on sys.path)."""

import importlib

import numpy as np
import pytest

from skda.datasets import list_tasks

from .conftest import REPO


@pytest.fixture
def bench(monkeypatch):
    """``bench(name)``: the module of ``benchmarks/<name>.py``, imported as the scripts import each other."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    return importlib.import_module


@pytest.mark.parametrize("script", ["reproduce", "bench_negative_transfer", "bench_tabular_defaults"])
def test_a_misspelt_task_name_is_a_usage_error_before_any_run(bench, script, tmp_path, capsys):
    """These scripts filter the families' tasks by the names given: an unknown name was dropped and the report
    written without it (an empty report overwriting docs/results.md for reproduce.py)."""
    with pytest.raises(SystemExit) as stop:
        bench(script).main(["--tasks", "mnist->usp", "--write", str(tmp_path / "report.md"),
                            "--cache", str(tmp_path / "cache")])
    assert stop.value.code == 2
    assert "--tasks mnist->usp: not a task of the families" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()


def test_reproduce_report_only_without_cached_runs_writes_nothing(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        bench("reproduce").main(["--report-only", "--cache", str(tmp_path / "empty"),
                                 "--write", str(tmp_path / "results.md")])
    assert stop.value.code == 2 and "is in the cache" in capsys.readouterr().err
    assert not (tmp_path / "results.md").exists()


def test_tabular_defaults_cache_keeps_runs_with_other_parameters_apart(bench, monkeypatch, tmp_path):
    """A run with ``--params`` is another figure: it is not read from the cache of the default run."""
    module = bench("bench_tabular_defaults")
    calls = []

    def fake_run(method, seed, Xs, ys, Xt, yt, params=None):
        calls.append(params)
        return (0.5 if params else 0.8), 1.0

    monkeypatch.setattr(module, "run_estimator", fake_run)
    monkeypatch.setattr(module, "run_baseline", lambda method, *data: (0.7, 0.1))
    monkeypatch.setattr(module, "load_task", lambda task: (None,) * 4)
    cache = module.Cache(tmp_path / "cache.json")
    task = ["dslr->webcam"]
    default, _ = module.evaluate(["office_caltech"], ["dann"], [0], cache, "defaults", task)
    other, _ = module.evaluate(["office_caltech"], ["dann"], [0], cache, "defaults", task, {"max_epochs": 1})
    again, _ = module.evaluate(["office_caltech"], ["dann"], [0], cache, "defaults", task, {"max_epochs": 1})
    assert calls == [None, {"max_epochs": 1}]  # the third call is read from the cache
    assert default["dann", "dslr->webcam"] == [0.8]
    assert other["dann", "dslr->webcam"] == again["dann", "dslr->webcam"] == [0.5]


def test_accuracy_tables_mark_settings_chosen_with_target_labels(bench):
    """bench_accuracy.py marks, as reproduce.py does, the rows of a configuration chosen with target labels in view
    (variants of the method included) and prints what was chosen once under the table."""
    table = bench("bench_accuracy").table
    scores = {(m, t): [0.9] for m in ("dann", "madda", "madda-center-only", "ilada") for t in ("mnist->usps",)}
    digits = table(scores, ["dann", "madda", "madda-center-only", "ilada"], [0], "digits")
    rows = {line.split(" | ")[0][2:]: line for line in digits.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"dann", "madda †", "madda-center-only †", "ilada †"}
    assert digits.count("† Chosen with target labels in view: M-ADDA's defaults") == 1
    assert digits.count("† Chosen with target labels in view: ILA-DA's MSC weight 2") == 1
    office = table({("ilada", "amazon->dslr"): [0.5]}, ["ilada"], [0], "office_caltech")
    assert "†" not in office  # ILA-DA's digits setting is not the Office configuration


def test_reproduce_report_of_a_subset_of_tasks_does_not_call_its_mean_the_family_mean(bench, tmp_path):
    reproduce = bench("reproduce")
    done = {("amazon_reviews", "books->dvd", "dann", 0): {"accuracy": 0.705, "seconds": 1.0}}
    text, _ = reproduce.report(done, ["amazon_reviews"], ["dann"], [0], tmp_path)
    assert "| mean of these 1 of 12 tasks |" in text and "family mean" not in text
    assert "[0.76]" not in text  # the paper's family figure is not compared with one task
    done = {("amazon_reviews", task, "dann", 0): {"accuracy": 0.705, "seconds": 1.0}
            for task in list_tasks("amazon_reviews")}
    text, summary = reproduce.report(done, ["amazon_reviews"], ["dann"], [0], tmp_path)
    assert "| family mean |" in text and "**0.705** [0.76]" in text
    assert summary["amazon_reviews"]["dann"] == pytest.approx(np.float64(0.705))

