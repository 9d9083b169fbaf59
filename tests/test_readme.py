"""The README's Python examples run as written."""

import os
import re

import pytest

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def _python_blocks():
    with open(README, encoding="utf-8") as stream:
        return re.findall(r"```python\n(.*?)```", stream.read(), flags=re.S)


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the examples may save files
    exec(compile(_python_blocks()[index], f"README.md example {index + 1}", "exec"), {})
    assert capsys.readouterr().out
