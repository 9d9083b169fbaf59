"""``Model.summary()``: Keras 3's table of layers, output shapes and parameter counts.

In a terminal (or with ``print_fn``) the table is Keras' text; in a Jupyter kernel it is
shown as an HTML table, with the same text as its plain form. :func:`html_table` and
:func:`in_notebook` are also used by ``History`` (deepgrad.callbacks).
"""

from __future__ import annotations

import html
import sys

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


def in_notebook() -> bool:
    """Whether the code runs in a Jupyter kernel (notebook, JupyterLab, Colab, VS Code), where HTML is shown."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


def html_table(headers, rows, caption=None, footer=(), right=()) -> str:
    """An HTML table: ``headers`` and ``rows`` of cell texts (escaped), columns in ``right`` right-aligned.

    ``caption`` goes above the table and each line of ``footer`` below it.
    """
    def cells(tag, texts):
        return "".join(f'<{tag} style="text-align: {"right" if i in right else "left"}">{html.escape(str(text))}'
                       f"</{tag}>" for i, text in enumerate(texts))

    parts = ["<div>"]
    if caption:
        parts.append(f"<p><b>{html.escape(caption)}</b></p>")
    parts.append(f"<table><thead><tr>{cells('th', headers)}</tr></thead><tbody>")
    parts.extend(f"<tr>{cells('td', row)}</tr>" for row in rows)
    parts.append("</tbody></table>")
    parts.extend(f"<p>{html.escape(line)}</p>" for line in footer)
    parts.append("</div>")
    return "\n".join(parts)


class _SummaryTable:
    """What a notebook displays for ``model.summary()``: the HTML table, Keras' text as the plain form."""

    def __init__(self, text, html_text):
        self.text, self.html = text, html_text

    def __repr__(self):
        return self.text

    def _repr_html_(self):
        return self.html


class SummaryText(str):
    """The summary's text, returned by ``model.summary()`` after it was printed or displayed.

    IPython does not show it a second time when ``model.summary()`` ends a cell.
    """

    def _ipython_display_(self):
        pass


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
    ``Output Shape``, ``Param #`` (and ``Connected to`` for graphs that merge). Without
    ``print_fn``, in a Jupyter kernel, the table is displayed as HTML (its plain-text form
    is the same text) and the returned text is not echoed again at the end of the cell.
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
    totals = [f" Total params: {total:,} ({readable_size(total * itemsize)})",
              f" Trainable params: {trainable:,} ({readable_size(trainable * itemsize)})",
              f" Non-trainable params: {non_trainable:,} ({readable_size(non_trainable * itemsize)})"]
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "_state_size", None):
        totals.append(f" Optimizer params: {optimizer._state_size():,}")
    out.extend(totals)
    text = "\n".join(out)
    if print_fn is not None:
        print_fn(text)
        return text
    if in_notebook():
        table = html_table(headers, rows, caption=out[0], footer=[entry.strip() for entry in totals], right=right)
        _display(_SummaryTable(text, table))
    else:
        print(text)
    return SummaryText(text)


def _display(rich):
    """Show ``rich`` as the current notebook cell's output (IPython's display)."""
    from IPython.display import display  # noqa: PLC0415 (present in every Jupyter kernel)

    display(rich)
