"""The TensorBoard callback writes event files that TensorBoard's own reader reads back.

The event files are read with ``tensorboard.backend.event_processing.event_accumulator.
EventAccumulator``, the reader behind TensorBoard's scalars, histograms, images and graphs.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import callbacks, layers
from deepgrad.diagnostics import GradientMonitor
from deepgrad.models import Sequential

pytest.importorskip("tensorboard", reason="the TensorBoard callback writes through the tensorboard package")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from deepgrad.tensorboard import SummaryWriter, png_bytes, weight_image


def _read(run_dir):
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6, 6, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.float32)[:, None]
    return x, y


def _model():
    model = Sequential([layers.Input((6, 6, 1)), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                        layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_epoch_scalars_histograms_images_and_graph_are_read_back(tmp_path):
    dg.manual_seed(0)
    x, y = _data()
    model = _model()
    board = callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=1, write_images=True,
                                  write_steps_per_second=True)
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[board])

    train = _read(tmp_path / "train")
    tags = train.Tags()
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_steps_per_second"} <= set(tags["scalars"])
    losses = [event.value for event in train.Scalars("epoch_loss")]
    np.testing.assert_allclose(losses, history.history["loss"], rtol=1e-6)
    assert [event.step for event in train.Scalars("epoch_loss")] == [0, 1, 2]
    np.testing.assert_allclose([e.value for e in train.Scalars("epoch_learning_rate")], 0.001, rtol=1e-6)

    conv = model.layers[0]
    histogram_tag = f"{conv.name}/kernel/histogram"
    assert histogram_tag in tags["histograms"]
    assert f"{model.layers[2].name}/bias/histogram" in tags["histograms"]
    histograms = train.Histograms(histogram_tag)
    assert [h.step for h in histograms] == [0, 1, 2]
    last = histograms[-1].histogram_value
    kernel = conv.kernel.data
    assert last.num == kernel.size and last.min == pytest.approx(kernel.min()) and last.max == pytest.approx(
        kernel.max())
    assert sum(last.bucket) == kernel.size

    assert f"{conv.name}/kernel/image" in tags["images"]
    image = train.Images(f"{conv.name}/kernel/image")[-1]
    assert (image.height, image.width) == (7, 7)  # 4 filters of 3x3 in a 2x2 grid, 1 pixel apart
    assert train.Graph() is not None and [node.op for node in train.Graph().node] == ["Conv2D", "Flatten", "Dense"]

    validation = _read(tmp_path / "validation")
    assert {"epoch_loss", "epoch_accuracy"} <= set(validation.Tags()["scalars"])
    np.testing.assert_allclose([e.value for e in validation.Scalars("epoch_loss")], history.history["val_loss"],
                               rtol=1e-6)


def test_histogram_freq_and_update_freq_choose_when_to_write(tmp_path):
    dg.manual_seed(1)
    x, y = _data()
    model = _model()
    board = callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=2, update_freq=2, write_graph=False)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[board])
    train = _read(tmp_path / "train")
    assert [h.step for h in train.Histograms(f"{model.layers[0].name}/kernel/histogram")] == [0, 2]
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8, 10, 12]  # 4 batches an epoch, every 2nd
    assert not (tmp_path / "validation").exists()
    assert not train.Tags()["images"]


def test_gradient_monitor_statistics_are_written(tmp_path):
    dg.manual_seed(2)
    x, y = _data()
    model = _model()
    monitor = GradientMonitor(sample_every=1)
    board = callbacks.TensorBoard(log_dir=tmp_path, gradient_monitor=monitor)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[board, monitor])  # the monitor after: still all
    train = _read(tmp_path / "train")
    dense = model.layers[2].name
    written = train.Scalars(f"gradients/{dense}/grad_norm")
    assert [e.step for e in written] == [0, 1]
    np.testing.assert_allclose([e.value for e in written], monitor.records[dense]["grad_norm"], rtol=1e-6)
    assert f"gradients/{model.layers[0].name}/dead_fraction" in train.Tags()["scalars"]


def test_keras_arguments_are_accepted_and_bad_frequencies_refused(tmp_path):
    board = callbacks.TensorBoard(log_dir=tmp_path, profile_batch=(2, 3), embeddings_freq=1,
                                  embeddings_metadata=None, update_freq="batch")
    assert board.update_freq == 1 and isinstance(board, callbacks.Callback)
    with pytest.raises(ValueError, match="histogram_freq must be a non-negative integer"):
        callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=-1)
    with pytest.raises(ValueError, match="update_freq"):
        callbacks.TensorBoard(log_dir=tmp_path, update_freq="often")


def test_summary_writer_writes_what_the_reader_finds(tmp_path):
    writer = SummaryWriter(tmp_path)
    writer.scalar("a", 1.5, 3)
    writer.histogram("h", np.arange(10.0), 3, bins=5)
    writer.image("img", np.linspace(0, 1, 12).reshape(3, 4), 3)
    writer.close()
    read = _read(tmp_path)
    assert read.Scalars("a")[0].value == 1.5 and read.Scalars("a")[0].step == 3
    assert list(read.Histograms("h")[0].histogram_value.bucket) == [2, 2, 2, 2, 2]
    assert (read.Images("img")[0].height, read.Images("img")[0].width) == (3, 4)


def test_png_bytes_decode_to_the_image():
    image = (np.arange(24).reshape(4, 6) * 10).astype(np.uint8)
    data = png_bytes(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    stream = io.BytesIO(data[8:])
    chunks = {}
    while True:
        length = int.from_bytes(stream.read(4), "big")
        kind = stream.read(4)
        chunks[kind] = stream.read(length)
        stream.read(4)
        if kind == b"IEND":
            break
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(4, 7)
    np.testing.assert_array_equal(raw[:, 1:], image)


def test_weight_image_tiles_filters_and_scales_to_bytes():
    kernel = np.arange(3 * 3 * 2 * 5, dtype=np.float32).reshape(3, 3, 2, 5)
    grid = weight_image(kernel)
    assert grid.shape == (7, 11) and grid.dtype == np.uint8  # 5 filters in 2 rows of 3
    assert grid.max() == 255
    assert weight_image(np.ones((4, 3))).shape == (4, 3)
