"""Keras 3's optimizer interface: ``optimizer.variables`` (iterations, learning rate, slots),
``learning_rate`` as a variable (``.value``/``.assign``) that still reads as a float, and
``exclude_from_weight_decay``. Keras is the reference where installed."""

from __future__ import annotations

import copy
import json
import pickle

import keras_reference
import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.layers import Dense, Input
from deepgrad.models import Sequential
from deepgrad.optimizers import schedules

keras = keras_reference.keras  # the fixture


def _tensor(values, name):
    return dg.Tensor(np.array(values, dtype=np.float32), requires_grad=True, name=name)  # a copy


def test_variables_list_iterations_learning_rate_then_slots():
    w, b = _tensor([[1.0, 2.0]], "kernel"), _tensor([0.5], "bias")
    adam = optimizers.Adam(learning_rate=0.1)
    assert [v.name for v in adam.variables] == ["iteration", "learning_rate"]
    adam.apply([np.ones((1, 2), np.float32), np.ones(1, np.float32)], [w, b])
    names = [v.name for v in adam.variables]
    assert names == ["iteration", "learning_rate", "kernel_momentum", "kernel_velocity", "bias_momentum",
                     "bias_velocity"]
    assert int(adam.variables[0].value) == 1 and adam.variables[1].numpy() == np.float32(0.1)
    assert adam.variables[2].shape == (1, 2)
    np.testing.assert_allclose(adam.variables[2].numpy(), 0.1 * np.ones((1, 2)))  # (1 - beta_1) g
    adam.variables[2].assign(np.zeros((1, 2)))  # writes the optimizer's own state
    np.testing.assert_array_equal(adam._state_of(w)["momentum"], 0.0)
    adam.variables[0].assign(7)
    assert adam.iterations == 7
    assert adam.state_variables == [w, b]


def test_variable_count_matches_keras(keras):
    for name, kwargs in [("SGD", {"momentum": 0.9}), ("SGD", {}), ("Adam", {}), ("RMSprop", {}), ("Adagrad", {})]:
        mine = getattr(optimizers, name)(**kwargs)
        theirs = getattr(keras.optimizers, name)(**kwargs)
        weights = [keras.Variable(np.ones((2, 3), np.float32)), keras.Variable(np.ones(3, np.float32))]
        theirs.build(weights)
        mine.build([_tensor(np.ones((2, 3)), "a"), _tensor(np.ones(3), "b")])
        assert len(mine.variables) == len(theirs.variables), (name, kwargs)


def test_learning_rate_is_a_float_with_a_variable_interface():
    sgd = optimizers.SGD(learning_rate=0.01)
    rate = sgd.learning_rate
    assert isinstance(rate, float) and float(rate) == 0.01 and rate == 0.01 and rate * 2 == 0.02
    rate.assign(0.5)
    assert sgd.learning_rate == 0.5 and rate.value == 0.5 and float(sgd.learning_rate.numpy()) == 0.5
    sgd.learning_rate.assign(np.float32(0.25))
    assert sgd.learning_rate.value == 0.25
    assert json.loads(json.dumps({"lr": sgd.learning_rate})) == {"lr": 0.25}
    assert type(pickle.loads(pickle.dumps(sgd.learning_rate))) is float
    assert type(copy.deepcopy(sgd.learning_rate)) is float
    other = optimizers.SGD(learning_rate=sgd.learning_rate)  # a plain float is kept, not the view
    sgd.learning_rate = 0.1
    assert other.learning_rate == 0.25
    scheduled = optimizers.SGD(learning_rate=schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5))
    scheduled.iterations = 2
    assert scheduled.learning_rate.value == pytest.approx(0.25)
    with pytest.raises(TypeError, match="not settable"):
        scheduled.learning_rate.assign(0.1)


def test_exclude_from_weight_decay_by_list_and_by_name():
    w, b, gamma = _tensor([[1.0, 2.0]], "kernel"), _tensor([1.0], "bias"), _tensor([1.0], "gamma")
    opt = optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[gamma], var_names=["bias"])
    zeros = [np.zeros_like(v.data) for v in (w, b, gamma)]
    opt.apply(zeros, [w, b, gamma])
    np.testing.assert_allclose(w.data, [[0.95, 1.9]])  # decayed: w (1 - lr wd)
    np.testing.assert_array_equal(b.data, [1.0])
    np.testing.assert_array_equal(gamma.data, [1.0])
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["kernel"])


def test_exclude_from_weight_decay_on_the_flat_parameter_buffer():
    model = Sequential([Input((3,)), Dense(2, kernel_initializer="ones",
                                        bias_initializer="ones")])
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=1.0)
    opt.exclude_from_weight_decay(var_names=["bias"])
    model.compile(optimizer=opt, loss="mse")
    x = np.zeros((4, 3), np.float32)
    y = model.predict(x, verbose=0)  # zero inputs: the kernel gradient is 0; the bias gradient too
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    kernel, bias = (np.asarray(v.data) for v in model.layers[-1].weights)
    np.testing.assert_allclose(kernel, 0.9 * np.ones((3, 2)), rtol=1e-6)
    np.testing.assert_allclose(bias, np.ones(2), rtol=1e-6)


def test_weight_decay_exclusion_matches_keras(keras):
    values = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    grads = np.array([[0.1, 0.2], [-0.3, 0.4]], np.float32)
    mine_w, mine_b = _tensor(values, "kernel"), _tensor(values[0], "bias")
    theirs_w = keras.Variable(values, name="kernel")
    theirs_b = keras.Variable(values[0], name="bias")
    mine, theirs = optimizers.AdamW(learning_rate=0.1), keras.optimizers.AdamW(learning_rate=0.1)
    mine.exclude_from_weight_decay(var_names=["bias"])
    theirs.exclude_from_weight_decay(var_names=["bias"])
    for _ in range(3):
        mine.apply([grads, grads[0]], [mine_w, mine_b])
        theirs.apply([keras.ops.convert_to_tensor(grads), keras.ops.convert_to_tensor(grads[0])],
                     [theirs_w, theirs_b])
    np.testing.assert_allclose(mine_w.data, keras.ops.convert_to_numpy(theirs_w.value), rtol=1e-5)
    np.testing.assert_allclose(mine_b.data, keras.ops.convert_to_numpy(theirs_b.value), rtol=1e-5)
