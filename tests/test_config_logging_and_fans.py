"""Keras 3 behaviours around training: callbacks' messages through Python's logging after
``config.disable_interactive_logging()``, ``compute_fans``/``VarianceScaling`` with input and
output axes, and ``regularizers.get('l1l2')``. Keras is the reference where installed."""

from __future__ import annotations

import logging

import keras_reference
import numpy as np
import pytest

from deepgrad import callbacks, config, initializers, regularizers
from deepgrad.layers import Dense, Input
from deepgrad.models import Sequential

keras = keras_reference.keras  # the fixture


@pytest.fixture
def logging_disabled():
    config.disable_interactive_logging()
    yield
    config.enable_interactive_logging()


def _fit_with_early_stopping():
    model = Sequential([Input((2,)), Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer="sgd", loss="mse")
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100.0, verbose=1)
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=100.0, verbose=1)
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=5, verbose=0, callbacks=[stop, reduce])


def test_callback_messages_print_by_default(capsys, caplog):
    assert config.is_interactive_logging_enabled()
    with caplog.at_level(logging.INFO, logger="deepgrad"):
        _fit_with_early_stopping()
    out = capsys.readouterr().out
    assert "early stopping" in out and "ReduceLROnPlateau reducing learning rate" in out
    assert not [r for r in caplog.records if r.name == "deepgrad"]


def test_callback_messages_go_to_logging_when_interactive_logging_is_disabled(capsys, caplog, logging_disabled):
    assert not config.is_interactive_logging_enabled()
    with caplog.at_level(logging.INFO, logger="deepgrad"):
        _fit_with_early_stopping()
    assert "early stopping" not in capsys.readouterr().out
    messages = [r.getMessage() for r in caplog.records if r.name == "deepgrad" and r.levelno == logging.INFO]
    assert any("early stopping" in m for m in messages)
    assert any("ReduceLROnPlateau reducing learning rate" in m for m in messages)


def test_print_msg_without_line_break(capsys):
    config.print_msg("a", line_break=False)
    config.print_msg("b")
    assert capsys.readouterr().out == "ab\n"


def test_compute_fans_with_axes():
    assert initializers.compute_fans((3, 4, 5), input_axes=[0], output_axes=[1, 2]) == (3, 20)
    assert initializers.compute_fans((3, 4, 5)) == (12, 15)  # the convolution rule without axes
    with pytest.raises(ValueError, match="input_axes"):
        initializers.compute_fans((3, 4), input_axes=[0], output_axes=[5])


def test_compute_fans_matches_keras(keras):
    from keras.src.initializers.random_initializers import compute_fans  # noqa: PLC0415

    for shape, axes in [((3, 4, 5), ([0], [1, 2])), ((2, 3, 4, 5), ([0, 1, 2], [3])), ((7,), (None, None)),
                        ((), (None, None)), ((3, 3, 8, 16), (None, None))]:
        assert initializers.compute_fans(shape, *axes) == compute_fans(shape, *axes)


def test_variance_scaling_with_axes_and_keras_arguments():
    init = initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal", seed=1,
                                        input_axes=[0], output_axes=[1, 2])
    assert init.variance((30, 40, 50)) == pytest.approx(2.0 / 2000)
    restored = initializers.VarianceScaling.from_config(init.get_config())
    assert restored.input_axes == [0] and restored.output_axes == [1, 2]
    assert "input_axes" not in initializers.VarianceScaling().get_config()
    with pytest.raises(ValueError, match="both input_axes and output_axes"):
        initializers.VarianceScaling(input_axes=[0])
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0.0)


def test_variance_scaling_config_matches_keras_keys(keras):
    theirs = keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform",
                                                input_axes=[0], output_axes=[1])
    mine = initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform",
                                        input_axes=[0], output_axes=[1])
    assert set(mine.get_config()) == set(theirs.get_config())


def test_regularizers_get_l1l2():
    obj = regularizers.get("l1l2")
    assert isinstance(obj, regularizers.L1L2) and obj.get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    with pytest.raises(ValueError):
        regularizers.get("typo")
