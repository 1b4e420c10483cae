import pytest

from skda.__main__ import demo, main


def test_demo_runs_and_reports_both_accuracies(capsys):
    res = demo(epochs=2, verbose=True)
    out = capsys.readouterr().out
    assert set(res) == {"source-only", "DANN"}
    assert all(0.0 <= v <= 1.0 for v in res.values())
    assert "target accuracy" in out and "DANN - source-only" in out


def test_cli_parses_demo(capsys):
    assert main(["demo", "--epochs", "1"]) == 0
    assert "DANN" in capsys.readouterr().out


def test_cli_help_and_version_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom skda.__main__ import main\nfor argv in (['--help'], ['demo', '--help'], ['--version']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "demo" in out.stdout and "--epochs EPOCHS  training epochs" in out.stdout
    import skda

    assert f"skda {skda.__version__}" in out.stdout


def test_demo_refuses_zero_epochs(capsys):
    from skda.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "--epochs must be >= 1, got 0" in capsys.readouterr().err
