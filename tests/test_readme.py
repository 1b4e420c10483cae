"""The README's quickstart runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_quickstart_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    quickstart = next(b for b in blocks if "load_task" in b)
    namespace = {}
    exec(compile(quickstart, "README quickstart", "exec"), namespace)
    assert namespace["pipe"].predict(namespace["Xt"]).shape == namespace["yt"].shape
