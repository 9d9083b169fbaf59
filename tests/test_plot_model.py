"""plot_model: the layer graph with shapes and parameter counts, by matplotlib or Graphviz, and a clear
message when neither is there."""

import os
import stat
import sys

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import model_plot


def two_branch_model():
    dg.manual_seed(0)
    a, b = dg.Input((4,), name="left"), dg.Input((3,), name="right")
    merged = dg.layers.Concatenate(name="join")([dg.layers.Dense(5, activation="relu", name="hidden")(a), b])
    return dg.Model([a, b], dg.layers.Dense(1, name="out")(merged), name="branches")


@pytest.fixture
def no_graphviz(monkeypatch):
    monkeypatch.setattr(model_plot.shutil, "which", lambda name: None)


def test_the_graph_lists_every_layer_once_and_every_connection(no_graphviz):
    layers, edges = model_plot._graph(two_branch_model())
    names = [layer.name for layer in layers]
    assert sorted(names) == ["hidden", "join", "left", "out", "right"]
    named = sorted((names[a], names[b]) for a, b in edges)
    assert named == [("hidden", "join"), ("join", "out"), ("left", "hidden"), ("right", "join")]
    sequential = dg.Sequential([dg.Input((2,)), dg.layers.Dense(3), dg.layers.Dense(1)])
    layers, edges = model_plot._graph(sequential)
    assert len(layers) == 2 and edges == [(0, 1)]


def test_svg_holds_the_names_shapes_and_parameter_counts(tmp_path, no_graphviz):
    path = dg.utils.plot_model(two_branch_model(), tmp_path / "m.svg", show_shapes=True, show_layer_names=True,
                               show_layer_activations=True, show_dtype=True, show_trainable=True)
    text = open(path).read()
    assert text.startswith("<?xml")
    for expected in ("hidden (Dense)", "join (Concatenate)", "input: (None, 5), (None, 3)", "output: (None, 8)",
                     "params: 25", "params: 9", "activation: relu", "dtype: float32", "trainable"):
        assert expected in text, expected


def test_png_is_written_left_to_right_and_top_down(tmp_path, no_graphviz):
    model = dg.Sequential([dg.Input((6,)), dg.layers.Dense(4), dg.layers.Dropout(0.1), dg.layers.Dense(2)])
    for rankdir in ("TB", "LR"):
        path = dg.utils.plot_model(model, str(tmp_path / f"m_{rankdir}.png"), show_shapes=True, rankdir=rankdir,
                                   dpi=50)
        with open(path, "rb") as stream:
            assert stream.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="rankdir must be 'TB' or 'LR'"):
        dg.utils.plot_model(model, tmp_path / "x.png", rankdir="BT")


def test_graphviz_is_used_when_its_dot_program_is_present(tmp_path, monkeypatch):
    if sys.platform.startswith("win"):
        pytest.skip("the stand-in dot program is a shell script")
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\n# stand-in for Graphviz: keep the DOT text it was given\ncat > "$3"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(model_plot.shutil, "which", lambda name: str(fake) if name == "dot" else None)
    path = dg.utils.plot_model(two_branch_model(), tmp_path / "g.png", show_shapes=True)
    dot = open(path).read()
    assert dot.startswith('digraph "branches"') and "rankdir=TB" in dot
    assert dot.count("->") == 4 and "output: (None, 8)" in dot and "params: 25" in dot
    assert model_plot.model_to_dot(two_branch_model(), show_layer_names=True).count("Concatenate") == 1


def test_without_matplotlib_or_graphviz_the_error_names_what_to_install(tmp_path, monkeypatch, no_graphviz):
    def missing():
        raise ImportError("no matplotlib")

    monkeypatch.setattr(model_plot, "_pyplot", missing)
    with pytest.raises(ImportError, match=r"deepgrad\[plot\].*neither is installed"):
        dg.utils.plot_model(two_branch_model(), tmp_path / "m.png")
    with pytest.raises(ImportError, match="needs Graphviz's `dot` program"):
        dg.utils.plot_model(two_branch_model(), tmp_path / "m.png", engine="graphviz")
    assert not os.path.exists(tmp_path / "m.png")


def test_an_unbuilt_model_is_a_clear_error(tmp_path, no_graphviz):
    model = dg.Sequential([dg.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built yet"):
        dg.utils.plot_model(model, tmp_path / "m.png")
    model(np.zeros((1, 3), dtype=np.float32))
    assert os.path.exists(dg.utils.plot_model(model, tmp_path / "m.png", dpi=40))
