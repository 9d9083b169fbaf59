"""TensorBoard logging: event files that TensorBoard reads, written with tensorboard's own writer.

:class:`SummaryWriter` writes scalars, histograms, images and a layer graph to one
directory through ``tensorboard.summary.writer.event_file_writer.EventFileWriter`` and
the ``tensorboard.compat.proto`` messages (``pip install deepgrad[tensorboard]``; neither
TensorFlow nor PyTorch is needed). :class:`TensorBoardHooks` is the logic of Keras's
``TensorBoard`` callback, exposed as :class:`deepgrad.callbacks.TensorBoard`:

* ``log_dir/train`` and ``log_dir/validation`` runs, as Keras writes them: per epoch
  ``epoch_loss``, ``epoch_<metric>`` (the ``val_`` logs go to the validation run without
  their prefix), ``epoch_learning_rate`` and, with ``write_steps_per_second``,
  ``epoch_steps_per_second``; with ``update_freq='batch'`` or an integer N, ``batch_<name>``
  every N training batches at the global batch step;
* every ``histogram_freq`` epochs, a histogram of each weight (``<layer>/<weight>/histogram``)
  and, with ``write_images``, the weight as an image (``<layer>/<weight>/image``: a
  convolution kernel as a grid of its filters, a matrix as one grey image);
* with ``write_graph``, the graph of layers (TensorBoard's Graphs tab);
* with ``gradient_monitor=`` a :class:`deepgrad.diagnostics.GradientMonitor` that is also
  in the fit's callbacks, its per-layer statistics as ``gradients/<layer>/<quantity>``.

``profile_batch``, ``embeddings_freq`` and ``embeddings_metadata`` are accepted for
Keras's signature; deepgrad writes no profiler traces or embedding projections.
"""

from __future__ import annotations

import math
import os
import struct
import time
import zlib

import numpy as np

from . import backend


def _tensorboard():
    try:
        from tensorboard.compat.proto import event_pb2, graph_pb2, node_def_pb2, summary_pb2  # noqa: PLC0415
        from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: PLC0415
    except ImportError:
        raise ImportError("TensorBoard logging needs the tensorboard package: pip install 'deepgrad[tensorboard]' "
                          "(or pip install tensorboard).") from None
    return EventFileWriter, event_pb2, graph_pb2, node_def_pb2, summary_pb2


def png_bytes(image) -> bytes:
    """A PNG file of ``image``, (height, width) or (height, width, 1 | 3 | 4) uint8, with no image library."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = image[:, :, None]
    height, width, channels = image.shape
    color = {1: 0, 3: 2, 4: 6}[channels]  # grey, RGB, RGBA
    rows = b"".join(b"\x00" + image[r].tobytes() for r in range(height))  # filter type 0 on every row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def weight_image(weight) -> np.ndarray:
    """A weight as a uint8 grey image scaled to its own min..max.

    A matrix (in, out) is shown as it is; a convolution kernel (*kernel_size, in, out)
    as a grid of its ``out`` filters, each the (kh, kw) slice of its first input channel
    (1-d kernels as one row per filter), one pixel of padding between them.
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim > 2:
        filters = np.moveaxis(w.reshape(w.shape[:-2] + (-1, w.shape[-1]))[..., 0, :], -1, 0)  # (out, *kernel)
        if filters.ndim == 2:
            filters = filters[:, None, :]
        filters = filters.reshape(filters.shape[0], filters.shape[1], -1)
        count, kh, kw = filters.shape
        cols = math.ceil(math.sqrt(count))
        rows = math.ceil(count / cols)
        grid = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan)
        for i, f in enumerate(filters):
            r, c = divmod(i, cols)
            grid[r * (kh + 1):r * (kh + 1) + kh, c * (kw + 1):c * (kw + 1) + kw] = f
        w = grid
    low, high = np.nanmin(w), np.nanmax(w)
    scaled = (w - low) / (high - low) if high > low else np.zeros_like(w)
    return np.nan_to_num(scaled * 255, nan=0).round().astype(np.uint8)


class SummaryWriter:
    """Writes TensorBoard summaries to one event file in ``log_dir`` (created if missing).

    ``scalar(tag, value, step)``, ``histogram(tag, values, step, bins=30)``,
    ``image(tag, array, step)`` and ``graph(model)``; ``flush()``/``close()``.
    """

    def __init__(self, log_dir, flush_secs=120):
        EventFileWriter, self._event_pb2, self._graph_pb2, self._node_def_pb2, self._summary_pb2 = _tensorboard()
        os.makedirs(log_dir, exist_ok=True)
        self.log_dir = str(log_dir)
        self._writer = EventFileWriter(self.log_dir, flush_secs=flush_secs)

    def _write(self, step, summary=None, graph_def=None):
        event = self._event_pb2.Event(wall_time=time.time(), step=int(step))
        if summary is not None:
            event.summary.CopyFrom(summary)
        if graph_def is not None:
            event.graph_def = graph_def
        self._writer.add_event(event)

    def scalar(self, tag, value, step):
        """One point of the curve ``tag``."""
        value = self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
        self._write(step, self._summary_pb2.Summary(value=[value]))

    def histogram(self, tag, values, step, bins=30):
        """The distribution of ``values`` in ``bins`` equal-width buckets (TensorBoard's Histograms tab)."""
        values = np.asarray(values, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size == 0:
            return
        counts, edges = np.histogram(values, bins=bins)
        proto = self._summary_pb2.HistogramProto(
            min=float(values.min()), max=float(values.max()), num=float(values.size), sum=float(values.sum()),
            sum_squares=float(np.dot(values, values)), bucket_limit=edges[1:].tolist(), bucket=counts.tolist())
        value = self._summary_pb2.Summary.Value(tag=tag, histo=proto)
        self._write(step, self._summary_pb2.Summary(value=[value]))

    def image(self, tag, array, step):
        """An image: uint8 (height, width[, 1 | 3 | 4]) or floats in [0, 1]."""
        array = np.asarray(array)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
        height, width = array.shape[:2]
        channels = 1 if array.ndim == 2 else array.shape[2]
        image = self._summary_pb2.Summary.Image(height=height, width=width, colorspace=channels,
                                                encoded_image_string=png_bytes(array))
        value = self._summary_pb2.Summary.Value(tag=tag, image=image)
        self._write(step, self._summary_pb2.Summary(value=[value]))

    def graph(self, model):
        """The model's layers as graph nodes (op = layer class), edges from the layers that feed them."""
        nodes = []
        for name, op, inputs in _layer_graph(model):
            node = self._node_def_pb2.NodeDef(name=name, op=op, input=inputs)
            nodes.append(node)
        self._write(0, graph_def=self._graph_pb2.GraphDef(node=nodes).SerializeToString())

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


def _layer_graph(model):
    """[(layer name, class name, names of the layers feeding it)] in model order."""
    nodes = getattr(model, "_nodes", None)
    if nodes is None:  # Sequential (or a subclassed model): each layer feeds the next
        previous, graph = [], []
        for layer in model.layers:
            graph.append((layer.name, type(layer).__name__, previous))
            previous = [layer.name]
        return graph
    graph = [(t.layer.name, type(t.layer).__name__, []) for t in model.inputs]
    seen = {name for name, _, _ in graph}
    for node in nodes:
        layer = node.layer
        inputs = [t.layer.name for t in node.inputs]
        if layer.name in seen:  # a shared layer called again: one node, more inputs
            graph = [(n, op, ins + [i for i in inputs if i not in ins]) if n == layer.name else (n, op, ins)
                     for n, op, ins in graph]
            continue
        seen.add(layer.name)
        graph.append((layer.name, type(layer).__name__, inputs))
    return graph


def _check_frequency(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"TensorBoard: {name} must be a non-negative integer (0 = never), got {name}={value!r}.")
    return int(value)


def _learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    rate = getattr(optimizer, "learning_rate", None)
    if rate is None:
        return None
    if callable(rate):  # a schedule: its value at the current step
        rate = rate(getattr(optimizer, "iterations", 0))
    try:
        return float(rate)
    except (TypeError, ValueError):
        return None


class TensorBoardHooks:
    """What :class:`deepgrad.callbacks.TensorBoard` does at each hook (module docstring: what is written where)."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None, gradient_monitor=None):
        super().__init__()
        _tensorboard()  # a missing package is reported when the callback is created, not after an epoch
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = _check_frequency("histogram_freq", histogram_freq)
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch":
            update_freq = _check_frequency("update_freq", update_freq)
        self.update_freq = update_freq
        self.profile_batch = profile_batch
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self.gradient_monitor = gradient_monitor
        self._writers = {}
        self._global_batch = 0
        self._monitor_epochs_written = 0
        if update_freq == "epoch" or update_freq == 0:
            self._unused_hooks = frozenset({"on_train_batch_begin", "on_train_batch_end"})

    def _writer(self, run):
        if run not in self._writers:
            self._writers[run] = SummaryWriter(os.path.join(self.log_dir, run))
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self._global_batch = 0
        self._monitor_epochs_written = 0
        if self.write_graph and self.model is not None:
            self._writer("train").graph(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_batches = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._global_batch += 1
        self._epoch_batches = getattr(self, "_epoch_batches", 0) + 1
        if self._global_batch % self.update_freq:
            return
        writer = self._writer("train")
        for name, value in (logs or {}).items():
            if np.isscalar(value) or np.ndim(value) == 0:
                writer.scalar(f"batch_{name}", value, self._global_batch)
        if self.write_steps_per_second and hasattr(self, "_batch_start"):
            elapsed = time.perf_counter() - self._batch_start
            if elapsed > 0:
                writer.scalar("batch_steps_per_second", 1.0 / elapsed, self._global_batch)

    def on_epoch_end(self, epoch, logs=None):
        train, validation = self._writer("train"), None
        for name, value in (logs or {}).items():
            if not (np.isscalar(value) or np.ndim(value) == 0):
                continue
            if name.startswith("val_"):
                validation = validation or self._writer("validation")
                validation.scalar(f"epoch_{name[4:]}", value, epoch)
            elif name != "learning_rate":
                train.scalar(f"epoch_{name}", value, epoch)
        rate = (logs or {}).get("learning_rate", _learning_rate(self.model))
        if rate is not None:
            train.scalar("epoch_learning_rate", rate, epoch)
        steps = self._epoch_batches or (self.params or {}).get("steps")
        if self.write_steps_per_second and steps and hasattr(self, "_epoch_start"):
            train.scalar("epoch_steps_per_second", steps / max(time.perf_counter() - self._epoch_start, 1e-12), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(train, epoch)
        self._log_gradient_monitor(train)
        for writer in self._writers.values():
            writer.flush()

    def _log_weights(self, writer, epoch):
        for layer in _leaf_layers(self.model):
            for weight in layer.weights:
                tag = f"{layer.name}/{weight.name}"
                values = backend.to_numpy(weight.data)
                writer.histogram(f"{tag}/histogram", values, epoch)
                if self.write_images and values.ndim >= 2:
                    writer.image(f"{tag}/image", weight_image(values), epoch)

    def _log_gradient_monitor(self, writer):
        monitor = self.gradient_monitor
        if monitor is None:
            return
        epochs = list(monitor.epochs)
        for k in range(self._monitor_epochs_written, len(epochs)):
            for layer_name, quantities in monitor.records.items():
                for quantity, values in quantities.items():
                    if k < len(values) and values[k] is not None and math.isfinite(values[k]):
                        writer.scalar(f"gradients/{layer_name}/{quantity}", values[k], epochs[k])
        self._monitor_epochs_written = len(epochs)

    def on_train_end(self, logs=None):
        if self._writers:
            self._log_gradient_monitor(self._writer("train"))  # a monitor listed after this callback
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _leaf_layers(model):
    """The layers that hold weights themselves, nested models and wrappers opened (in model order)."""
    leaves, stack = [], list(model.layers)
    while stack:
        layer = stack.pop(0)
        inner = layer._sublayers()
        if inner:
            stack[:0] = inner
        else:
            leaves.append(layer)
    return leaves
