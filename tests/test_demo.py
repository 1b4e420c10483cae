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


@pytest.mark.parametrize("argv,message", [(["--epochs", "0"], "--epochs must be >= 1, got 0"),
                                          (["--seed", "-1"], "--seed must be in [0, 2**32 - 1], got -1"),
                                          (["--seed", str(2**32)], f"--seed must be in [0, 2**32 - 1], got {2**32}")])
def test_demo_refuses_bad_arguments_with_its_usage(capsys, argv, message):
    from skda.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("usage: skda demo")
