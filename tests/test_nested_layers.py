"""A layer built from layers (assigned to its attributes) owns their weights, as in Keras."""

import numpy as np

import deepgrad as dg
from deepgrad.layers import Dense, Dropout, Input, Layer
from deepgrad.models import Sequential, load_model


class _Block(Layer):
    """Two Dense layers held as attributes, a third in a list."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = Dense(units, activation="relu")
        self.stack = [Dropout(0.0), Dense(units)]

    def call(self, inputs):
        return self.stack[1](self.stack[0](self.inner(inputs)))

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config


def _model():
    dg.manual_seed(0)
    return Sequential([Input(shape=(3,)), _Block(4), Dense(1)])


def test_a_layer_holding_layers_counts_trains_and_saves_their_weights(tmp_path):
    model = _model()
    block = model.layers[0]
    assert block._sublayers() == [block.inner, *block.stack]
    # (3*4 + 4) + (4*4 + 4) in the block, 4 + 1 in the head: the block's weights were invisible before
    assert model.count_params() == 41 and len(model.trainable_weights) == 6
    x = np.random.default_rng(0).random((32, 3), dtype=np.float32)
    before = block.inner.kernel.numpy().copy()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x.sum(axis=1, keepdims=True), epochs=2, verbose=0)
    assert np.abs(block.inner.kernel.numpy() - before).max() > 0
    path = tmp_path / "block.deepgrad"
    model.save(path)
    loaded = load_model(path, custom_objects={"_Block": _Block})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_freezing_a_layer_freezes_the_layers_it_holds():
    model = _model()
    model.layers[0].trainable = False
    assert model.count_params() == 41 and len(model.trainable_weights) == 2
