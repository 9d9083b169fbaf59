"""The Layer contract: the hooks a new layer overrides, and what the framework does with them."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import activations
from deepgrad.diagnostics import explain_step
from deepgrad.layers import Dense, Input, Layer, Softmax
from deepgrad.models import Model, Sequential


class Scaled(Layer):
    """A new layer written only against the contract: a = f(x * w + c), weights named w and c."""

    builds = 0

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def build(self, input_shape):
        type(self).builds += 1
        self.w = self.add_weight(input_shape[1:], "ones", name="w")
        self.c = self.add_weight(input_shape[1:], "zeros", name="c")

    def pre_activation(self, inputs, training=False):
        return inputs * self.w + self.c

    def call(self, inputs, training=None, mask=None):
        return self.activation(self.pre_activation(inputs))

    def kernel_and_bias(self):
        return self.w, self.c


def test_declared_input_shape_builds_each_layer_of_a_sequential_once():
    Scaled.builds = 0
    model = Sequential([Scaled("relu", input_shape=(3,)), Scaled(), Scaled("sigmoid")])
    assert model.built and Scaled.builds == 3
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3), dtype=np.float32), np.ones((4, 3), dtype=np.float32), epochs=1, verbose=0)
    model.predict(np.ones((2, 3), dtype=np.float32), verbose=0)
    assert Scaled.builds == 3


def test_a_layer_with_a_declared_shape_is_built_by_the_base_class():
    layer = Scaled(input_shape=(4,))
    assert layer.built and layer.input_shape_built == (None, 4) and layer.w.shape == (4,)
    assert Scaled(input_dim=2).w.shape == (2,)


def test_output_activation_is_the_one_query_of_the_pre_activation_contract():
    assert Dense(2).output_activation() is activations.get("linear")
    assert Scaled("softmax").output_activation() is activations.get("softmax")
    assert Layer().output_activation() is None
    with pytest.raises(TypeError, match="does not expose a pre-activation"):
        Layer().pre_activation(dg.Tensor(np.zeros((1, 2), dtype=np.float32)))
    # a softmax over another axis than the last is not the softmax fused cross-entropy assumes
    layer = Softmax(axis=1)
    layer(np.zeros((1, 2, 3), dtype=np.float32))
    assert layer.output_activation() is None
    assert Softmax().output_activation() is activations.get("softmax")


def test_a_new_layer_gets_fused_cross_entropy_through_the_contract():
    dg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    model = Sequential([Scaled("softmax", input_shape=(3,))])
    model.compile("sgd", "categorical_crossentropy")
    state = model._state([y])
    assert state.fused[0] is not None
    expected = -np.mean(np.sum(y * np.log(model.predict(x, verbose=0)), axis=1))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_plots_and_step_traces_ask_the_layer_for_its_kernel_and_bias():
    from deepgrad import plot

    model = Sequential([Scaled("tanh", input_shape=(2,), name="scaled")])
    model.compile("sgd", "mse")
    (name, values), = plot._kernels(model)
    assert name == "Scaled layer 1 (scaled): kernel 2" and np.array_equal(values, np.ones(2, dtype=np.float32))
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    trace = explain_step(model, x, np.zeros((1, 2), dtype=np.float32), learning_rate=0.1, apply=True)
    step = trace.layers[0]
    assert step.activation == "tanh" and step.dL_dz is not None
    assert np.allclose(model.layers[0].w.numpy(), step.W_new) and not np.allclose(step.W_new, 1.0)


def test_functional_logits_path_keeps_the_activation_of_outputs_without_a_fused_loss():
    dg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    inputs = Input(shape=(4,))
    model = Model(inputs, [Dense(3, activation="softmax")(inputs), Dense(1, activation="sigmoid")(inputs)])
    model.compile("sgd", loss=["categorical_crossentropy", "mse"])
    ya = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    yb = np.ones((8, 1), dtype=np.float32)
    pa, pb = model.predict(x, verbose=0)
    expected = -np.mean(np.sum(ya * np.log(pa), axis=1)) + np.mean((pb - 1) ** 2)
    assert model.evaluate(x, [ya, yb], verbose=0) == pytest.approx(expected, rel=1e-5)


def test_the_contract_is_written_on_the_base_class():
    for hook in ("build", "call", "compute_output_shape", "pre_activation", "output_activation",
                 "kernel_and_bias", "get_config"):
        assert getattr(Layer, hook).__doc__, hook
    assert "mask" in Layer.call.__code__.co_varnames
