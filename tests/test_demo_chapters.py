"""``deepgrad demo --list`` and ``deepgrad demo CHAPTER``: the course's longer chapters, run from their examples."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepgrad import cli, demo

ROOT = Path(__file__).resolve().parents[1]


def test_list_names_every_chapter_and_the_example_it_runs(capsys):
    assert cli.main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    for name, (filename, description) in demo.CHAPTERS.items():
        assert f"  {name} " in out and description in out and filename in out
    assert str(ROOT / "examples" / "apparel_classifier.py") in out  # from a checkout: its examples/ folder
    assert list(demo.CHAPTERS) == ["cnn", "text", "autoencoder", "gan"]


def test_an_unknown_chapter_is_a_usage_error_listing_the_chapters(capsys):
    assert cli.main(["demo", "gans"]) == 2
    err = capsys.readouterr().err
    assert "unknown chapter 'gans'; the chapters are cnn, text, autoencoder, gan" in err


def test_options_that_belong_to_the_tour_or_to_a_chapter(capsys):
    assert cli.main(["demo", "cnn", "--seed", "1"]) == 2
    assert "--seed applies to the quick tour" in capsys.readouterr().err
    assert cli.main(["demo", "--quick"]) == 2
    assert "--quick shortens a chapter" in capsys.readouterr().err


def _stub_chapter(folder, monkeypatch):
    """Chapter 'cnn' runs a stub example in ``folder`` that reports what it was given."""
    folder.mkdir()
    (folder / "apparel_classifier.py").write_text(
        "import os, sys\nfrom pathlib import Path\nimport deepgrad\n"
        "output = Path(sys.argv[sys.argv.index('--output') + 1])\n"
        "(output / 'figure.png').write_bytes(b'png')\n"
        "print('quick', os.environ.get('DEEPGRAD_EXAMPLE_QUICK'), 'backend', os.environ.get('MPLBACKEND'))\n"
        "sys.exit(int(os.environ.get('STUB_EXIT', '0')))\n")
    monkeypatch.setattr(demo, "example_folders", lambda: [str(folder)])
    monkeypatch.delenv("DEEPGRAD_EXAMPLE_QUICK", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)


def test_a_chapter_runs_its_example_with_the_figures_in_its_folder(tmp_path, monkeypatch, capfd):
    _stub_chapter(tmp_path / "examples", monkeypatch)
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the script still imports this deepgrad
    assert cli.main(["demo", "cnn", "--quick", "--output-dir", str(tmp_path / "out")]) == 0
    out = capfd.readouterr().out
    assert (tmp_path / "out" / "cnn" / "figure.png").read_bytes() == b"png"
    assert "quick 1 backend Agg" in out and "(quick setting)" in out and "chapter cnn finished" in out

    assert cli.main(["demo", "cnn", "--output-dir", str(tmp_path / "out")]) == 0
    assert "quick None" in capfd.readouterr().out  # the full setting unless asked
    monkeypatch.setenv("DEEPGRAD_EXAMPLE_QUICK", "1")
    assert cli.main(["demo", "cnn", "--output-dir", str(tmp_path / "out")]) == 0
    assert "quick 1" in capfd.readouterr().out  # the environment variable alone asks too

    monkeypatch.setenv("STUB_EXIT", "3")
    assert cli.main(["demo", "cnn", "--output-dir", str(tmp_path / "out")]) == 1
    captured = capfd.readouterr()
    assert "FAILED (exit status 3)" in captured.out and "deepgrad: error: chapter cnn failed" in captured.err


def test_a_chapter_without_its_example_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "example_folders", lambda: [str(tmp_path / "nowhere")])
    assert cli.main(["demo", "gan", "--output-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "chapter 'gan' runs the example gan_mnist.py, which this installation does not have" in err
    assert str(tmp_path / "nowhere") in err and "source repository" in err
    assert cli.main(["demo", "--list"]) == 0
    assert "gan_mnist.py: not installed" in capsys.readouterr().out


def test_examples_are_looked_for_in_the_checkout_then_in_the_package():
    package = Path(demo.__file__).resolve().parent
    assert demo.example_folders() == [str(ROOT / "examples"), str(package / "examples")]


def test_a_built_wheel_carries_the_examples(tmp_path):
    """setup.py's build step copies examples/*.py into the package, where an installed deepgrad finds them."""
    pytest.importorskip("setuptools")
    from setuptools.dist import Distribution

    spec = importlib.util.spec_from_file_location("deepgrad_setup", ROOT / "setup.py")
    setup_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup_module)  # not __main__: defines the command without running setup()
    command = setup_module.BuildPyWithExamples(Distribution({"name": "deepgrad", "packages": []}))
    command.build_lib = str(tmp_path)
    command.ensure_finalized()
    command.run()
    copied = sorted(path.name for path in (tmp_path / "deepgrad" / "examples").iterdir())
    assert copied == sorted(path.name for path in (ROOT / "examples").glob("*.py"))
    assert "apparel_classifier.py" in copied and "sentiment_sst2.py" in copied


@pytest.mark.slow
def test_the_cnn_chapter_runs_from_the_command_line(shared_data, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), DEEPGRAD_EXAMPLE_QUICK="1")
    result = subprocess.run([sys.executable, "-m", "deepgrad", "demo", "cnn", "--output-dir", str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "chapter cnn finished" in result.stdout and "test accuracy" in result.stdout
    for name in ("history.png", "confusion_matrix.png", "misclassified.png"):
        assert (tmp_path / "cnn" / name).stat().st_size > 5000, name
