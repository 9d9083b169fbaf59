"""``plot_model``: a drawing of a model's layer graph (Keras 3's ``keras.utils.plot_model``).

Each layer is a box (its name and class, and on request its input and output shapes,
parameter count, dtype, activation and trainability); arrows follow the data from the
inputs to the outputs, branches and merges included. With Graphviz's ``dot`` program
on the PATH the graph is laid out by Graphviz (:func:`model_to_dot` gives its DOT
text); otherwise matplotlib draws it, one row per depth in the graph. Without either,
the error names the extra to install.

>>> # plot_model(model, "model.png", show_shapes=True)   # or "model.svg"
"""

from __future__ import annotations

import os
import shutil
import subprocess

from . import activations
from .layers.base import layer_classes
from .layers.core import InputLayer
from .models.summary import _shape_text
from .plot import _pyplot

__all__ = ["model_to_dot", "plot_model"]


def _output_shape(layer):
    if isinstance(layer, InputLayer):
        return (None,) + tuple(layer.shape)
    if layer._inbound:
        return layer.output_shape
    return layer.last_output_shape


def _graph(model):
    """(layers, edges): the layers in model order and (source index, target index) pairs."""
    if isinstance(model, layer_classes()["Functional"]):
        layers = list(model.layers)
        index = {id(layer): k for k, layer in enumerate(layers)}
        edges = []
        for node in model._nodes:
            for t in node.parents():
                edge = (index[id(t.layer)], index[id(node.layer)])
                if edge not in edges:
                    edges.append(edge)
        return layers, edges
    layers = [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    return layers, [(k, k + 1) for k in range(len(layers) - 1)]


def _label(layer, source_shapes, options) -> list:
    """The lines of one layer's box."""
    kind = type(layer).__name__
    lines = [f"{layer.name} ({kind})" if options["show_layer_names"] else kind]
    if options["show_shapes"]:
        if not isinstance(layer, InputLayer):
            inputs = source_shapes or [layer.input_shape_built]
            lines.append("input: " + ", ".join(_shape_text(s) for s in inputs))
        lines.append("output: " + _shape_text(_output_shape(layer)))
    if options["show_param_counts"] and not isinstance(layer, InputLayer):
        lines.append(f"params: {layer.count_params():,}")
    if options["show_dtype"]:
        lines.append(f"dtype: {layer.dtype}")
    if options["show_layer_activations"] and callable(getattr(layer, "activation", None)):
        lines.append(f"activation: {activations.serialize(layer.activation)}")
    if options["show_trainable"]:
        lines.append("trainable" if layer.trainable else "frozen")
    return lines


def _labels(model, options):
    layers, edges = _graph(model)
    sources = {k: [] for k in range(len(layers))}
    for a, b in edges:
        sources[b].append(_output_shape(layers[a]))
    return [_label(layer, sources[k], options) for k, layer in enumerate(layers)], edges


def _check_built(model):
    if not getattr(model, "built", False) or not model.layers:
        raise ValueError(f"plot_model: model {model.name!r} is not built yet; build it (call it on data or give "
                         "its first layer an input shape) before plotting.")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
                 show_layer_activations=False, show_trainable=False, show_param_counts=True, dpi=200) -> str:
    """The Graphviz DOT text of the model's layer graph (one box per layer, one arrow per connection)."""
    _check_built(model)
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                   show_param_counts=show_param_counts)
    labels, edges = _labels(model, options)
    lines = [f'digraph "{model.name}" {{', f'  graph [rankdir={rankdir}, dpi={int(dpi)}];',
             '  node [shape=box, style="rounded,filled", fillcolor="#e8eef7", fontname="Helvetica"];']
    for k, label in enumerate(labels):
        text = "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in label)
        lines.append(f'  n{k} [label="{text}"];')
    lines += [f"  n{a} -> n{b};" for a, b in edges]
    lines.append("}")
    return "\n".join(lines)


def _depths(count, edges):
    """The depth of each node: the length of the longest path reaching it from a source."""
    depth = [0] * count
    for _ in range(count):  # edges point forward in model order, so this settles in one pass or a few
        changed = False
        for a, b in edges:
            if depth[b] < depth[a] + 1:
                depth[b], changed = depth[a] + 1, True
        if not changed:
            break
    # a node feeding only deeper nodes moves down to just above its first consumer (a second
    # input then sits beside the branch it joins, and its arrow crosses no box)
    for k in reversed(range(count)):
        consumers = [depth[b] for a, b in edges if a == k]
        if consumers:
            depth[k] = min(consumers) - 1
    return depth


def _draw(labels, edges, rankdir, title):
    """A matplotlib figure of the graph: rows (or columns for rankdir='LR') by depth."""
    plt = _pyplot()
    depth = _depths(len(labels), edges)
    rows = {}
    for k, d in enumerate(depth):
        rows.setdefault(d, []).append(k)
    width = max(len(line) for label in labels for line in label) * 0.09 + 0.4
    height = max(len(label) for label in labels) * 0.22 + 0.25
    step_across, step_down = width + 0.5, height + 0.6
    position = {}
    for d, ks in rows.items():
        for i, k in enumerate(ks):
            offset = (i - (len(ks) - 1) / 2) * step_across
            position[k] = (offset, -d * step_down) if rankdir == "TB" else (d * (width + 0.8), -offset * 0.6)
    xs = [p[0] for p in position.values()]
    ys = [p[1] for p in position.values()]
    span_x = max(xs) - min(xs) + width + 0.5
    span_y = max(ys) - min(ys) + height + 0.5
    fig, ax = plt.subplots(figsize=(max(span_x, 3.0), max(span_y, 1.5)))
    boxes = [ax.text(*position[k], "\n".join(label), ha="center", va="center", fontsize=9, family="monospace",
                     bbox=dict(boxstyle="round,pad=0.4", facecolor="#e8eef7", edgecolor="#34495e"))
             for k, label in enumerate(labels)]
    for a, b in edges:
        # the arrow runs centre to centre, clipped at both boxes' outlines when drawn
        ax.annotate("", xy=position[b], xytext=position[a], zorder=3,
                    arrowprops=dict(arrowstyle="-|>", color="#34495e", patchA=boxes[a].get_bbox_patch(),
                                    patchB=boxes[b].get_bbox_patch(), shrinkA=2, shrinkB=2))
    ax.set_xlim(min(xs) - width / 2 - 0.25, max(xs) + width / 2 + 0.25)
    ax.set_ylim(min(ys) - height / 2 - 0.25, max(ys) + height / 2 + 0.25)
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               show_param_counts=True, engine="auto", **kwargs):
    """Draw the model's layer graph to ``to_file`` (PNG, SVG or PDF by its extension) and return the path.

    Keras 3's arguments: ``show_shapes`` (input and output shapes), ``show_dtype``,
    ``show_layer_names``, ``rankdir`` ('TB' top to bottom, 'LR' left to right),
    ``show_layer_activations``, ``show_trainable``, ``dpi``; deepgrad adds
    ``show_param_counts`` (on by default). ``engine`` is 'graphviz' (needs the ``dot``
    program), 'matplotlib' (``pip install 'deepgrad[plot]'``) or 'auto' (Graphviz when
    present, else matplotlib). A nested model is drawn as one box (``expand_nested`` is
    accepted and not applied); other Keras keyword arguments (``splines``, ...) are accepted.
    """
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR', got {rankdir!r}.")
    if engine not in ("auto", "graphviz", "matplotlib"):
        raise ValueError(f"plot_model: engine must be 'auto', 'graphviz' or 'matplotlib', got {engine!r}.")
    _check_built(model)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1].lstrip(".").lower() or "png"
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                   show_param_counts=show_param_counts)
    dot = shutil.which("dot") if engine != "matplotlib" else None
    if engine == "graphviz" and dot is None:
        raise ImportError("plot_model(engine='graphviz') needs Graphviz's `dot` program on the PATH "
                          "(e.g. apt install graphviz); engine='matplotlib' needs pip install 'deepgrad[plot]'.")
    if dot is not None:
        source = model_to_dot(model, rankdir=rankdir, dpi=dpi, **options)
        subprocess.run([dot, f"-T{extension}", "-o", to_file], input=source.encode(), check=True)
        return to_file
    try:
        plt = _pyplot()
    except ImportError:
        raise ImportError("plot_model needs Graphviz (the `dot` program: apt install graphviz) or matplotlib "
                          "(pip install 'deepgrad[plot]'); neither is installed.") from None
    labels, edges = _labels(model, options)
    fig = _draw(labels, edges, rankdir, model.name)
    try:
        with plt.rc_context({"svg.fonttype": "none"}):  # SVG text stays text (searchable, selectable)
            fig.savefig(to_file, dpi=dpi, bbox_inches="tight", format=extension)
    finally:
        plt.close(fig)
    return to_file
