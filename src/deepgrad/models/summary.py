"""``Model.summary()``: Keras 3's table of layers, output shapes and parameter counts."""

from __future__ import annotations

from ..layers.base import layer_classes
from ..layers.core import InputLayer


def readable_size(n_bytes: float) -> str:
    """Bytes in Keras' units: ``160.00 B``, ``1.23 KB``, ``2.50 MB`` (powers of 1024)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    size, unit = float(n_bytes), 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:.2f} {units[unit]}"


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def _rows(model):
    functional = isinstance(model, layer_classes()["Functional"])
    rows = []
    connections = functional and any(len(node.inputs) > 1 for node in model._nodes)
    for layer in model.layers:
        if isinstance(layer, InputLayer) and not functional:
            continue
        if isinstance(layer, InputLayer):
            shape = (None,) + layer.shape
        elif layer._inbound:
            shape = layer.output_shape
        else:
            shape = layer.last_output_shape
        row = [f"{layer.name} ({type(layer).__name__})", _shape_text(shape), f"{layer.count_params():,}"]
        if connections:
            sources = [f"{t.layer.name}[{0 if t.node is None else t.layer._inbound.index(t.node)}][0]"
                       for node in layer._inbound[:1] for t in node.inputs]
            row.append(", ".join(sources) if sources else "-")
        rows.append(row)
    return rows, connections


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False):
    """Print (through ``print_fn``, default ``print``) the summary table of ``model``.

    Returns the text as well. Column layout follows Keras 3: ``Layer (type)``,
    ``Output Shape``, ``Param #`` (and ``Connected to`` for graphs that merge).
    """
    rows, connections = _rows(model)
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connections else [])
    widths = [33, 24, 15] + ([30] if connections else [])
    if line_length:
        scale = line_length / (sum(widths) + len(widths) + 1)
        widths = [max(8, int(w * scale)) for w in widths]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell) + 2)
    right = {2}

    def line(cells):
        parts = []
        for i, (cell, width) in enumerate(zip(cells, widths)):
            inner = width - 2
            parts.append(" " + (cell.rjust(inner) if i in right else cell.ljust(inner)) + " ")
        return parts

    out = [f'Model: "{model.name}"']
    out.append("┏" + "┳".join("━" * w for w in widths) + "┓")
    out.append("┃" + "┃".join(line(headers)) + "┃")
    out.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    for k, row in enumerate(rows):
        out.append("│" + "│".join(line(row)) + "│")
        if k < len(rows) - 1:
            out.append("├" + "┼".join("─" * w for w in widths) + "┤")
    out.append("└" + "┴".join("─" * w for w in widths) + "┘")
    trainable = sum(w.size for w in model.trainable_weights)
    non_trainable = sum(w.size for w in model.non_trainable_weights)
    itemsize = model.dtype.itemsize
    total = trainable + non_trainable
    out.append(f" Total params: {total:,} ({readable_size(total * itemsize)})")
    out.append(f" Trainable params: {trainable:,} ({readable_size(trainable * itemsize)})")
    out.append(f" Non-trainable params: {non_trainable:,} ({readable_size(non_trainable * itemsize)})")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "_state_size", None):
        out.append(f" Optimizer params: {optimizer._state_size():,}")
    text = "\n".join(out)
    (print_fn or print)(text)
    return text
