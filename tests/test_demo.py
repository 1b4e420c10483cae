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
