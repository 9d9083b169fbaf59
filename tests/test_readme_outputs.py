"""The README's tour prints what its comment promises."""

import os
import re

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def test_tour_prints_what_its_comment_says(tmp_path, monkeypatch, capsys):
    with open(README, encoding="utf-8") as stream:
        tour = re.findall(r"```python\n(.*?)```", stream.read(), flags=re.S)[0]
    promised = [line.split("#", 1)[1].strip() for line in tour.splitlines()
                if line.startswith("print(") and "#" in line]
    assert promised, "the tour's print line lost its comment"
    monkeypatch.chdir(tmp_path)
    exec(compile(tour, "README.md tour", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[:len(promised)] == promised
