"""The main job: ``deepgrad demo`` runs the course end to end and reaches its figures."""

import os

import pytest

from deepgrad import demo


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    pytest.importorskip("matplotlib")
    output_dir = tmp_path_factory.mktemp("demo")
    return demo.run(seed=0, output_dir=str(output_dir)), output_dir


@pytest.mark.slow
def test_demo_reaches_the_course_figures(results):
    figures, _ = results
    assert figures["neuron_output"] == pytest.approx(2.2, rel=1e-6)
    for gate in ("and", "or", "nand", "nor"):
        assert figures[f"perceptron_{gate}_accuracy"] == 1.0
    assert figures["perceptron_xor_accuracy"] < 1.0
    assert figures["tensor_mlp_accuracy"] >= 0.95
    assert figures["keras_digits_accuracy"] >= 0.97
    assert figures["xor_accuracy"] == 1.0
    assert figures["sine_mse"] < 1e-3
    assert figures["vanishing_detected"] and not figures["vanishing_after_fix"]


@pytest.mark.slow
def test_demo_writes_every_plot(results):
    figures, output_dir = results
    written = sorted(os.listdir(output_dir))
    assert len(written) == figures["plots"] >= 10
    assert all(name.endswith(".png") and os.path.getsize(output_dir / name) > 5000 for name in written)


def test_demo_command_line_entry(tmp_path, capsys, monkeypatch):
    from deepgrad import cli

    calls = []
    monkeypatch.setattr(demo, "run", lambda seed, output_dir: calls.append((seed, output_dir)))
    assert cli.main(["demo", "--seed", "3", "--output-dir", str(tmp_path)]) == 0
    assert calls == [(3, str(tmp_path))]
