"""Scripts written for Keras 3, in the style of its documentation's examples, run on deepgrad with only their
imports changed (``import keras`` -> ``import deepgrad as keras``)."""

import pytest

SEQUENTIAL_MLP = '''
import keras
import numpy as np

keras.utils.set_random_seed(42)
x_train = np.random.random((600, 20)).astype("float32")
y_train = keras.utils.to_categorical((x_train[:, :10].sum(axis=1) > x_train[:, 10:].sum(axis=1)).astype(int),
                                     num_classes=2)
x_test, y_test = x_train[-100:], y_train[-100:]

model = keras.Sequential(
    [
        keras.Input(shape=(20,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(2, activation="softmax"),
    ]
)
model.summary()
sgd = keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])
callbacks = [
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
    keras.callbacks.CSVLogger("training_log.csv"),
]
history = model.fit(x_train[:-100], y_train[:-100], epochs=8, batch_size=32, validation_split=0.2,
                    callbacks=callbacks, verbose=0)
score = model.evaluate(x_test, y_test, batch_size=32, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
'''

TWO_INPUTS = '''
import keras
import numpy as np
from keras import layers

numeric_input = keras.Input(shape=(16,), name="numeric")
extra_input = keras.Input(shape=(8,), name="extra")
x = layers.Dense(32, activation="relu")(numeric_input)
y = layers.Dense(16, activation="relu")(extra_input)
merged = layers.Concatenate()([x, y])
merged = layers.Dropout(0.1)(merged)
outputs = layers.Dense(1, activation="sigmoid")(merged)
model = keras.Model(inputs=[numeric_input, extra_input], outputs=outputs, name="two_inputs")
model.summary()
keras.utils.plot_model(model, "two_inputs.png", show_shapes=True)

rng = np.random.default_rng(0)
numeric = rng.normal(size=(512, 16)).astype("float32")
extra = rng.normal(size=(512, 8)).astype("float32")
labels = (numeric[:, :1] + extra[:, :1] > 0).astype("float32")
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss=keras.losses.BinaryCrossentropy(),
              metrics=[keras.metrics.BinaryAccuracy(name="acc")])
history = model.fit([numeric, extra], labels, batch_size=64, epochs=6, validation_split=0.2, verbose=0)
test_scores = model.evaluate([numeric, extra], labels, verbose=0)
print("Test accuracy:", test_scores[1])
config = model.get_config()
reconstructed = keras.Model.from_config(config)
reconstructed.set_weights(model.get_weights())
np.testing.assert_allclose(model.predict([numeric, extra], verbose=0),
                           reconstructed.predict([numeric, extra], verbose=0), rtol=1e-6)
'''

CUSTOM_LAYER = '''
import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="Examples")
class Linear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def rms_error(y_true, y_pred):
    return ops.sqrt(ops.mean(ops.square(y_true - y_pred), axis=-1))


keras.utils.set_random_seed(1337)
x = np.random.normal(size=(256, 4)).astype("float32")
y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]])).astype("float32")

linear_layer = Linear(4)
assert linear_layer.weights == []
assert tuple(linear_layer(x[:2]).shape) == (2, 4)
assert len(linear_layer.weights) == 2

model = keras.Sequential([keras.Input(shape=(4,)), Linear(16), keras.layers.Activation("relu"), Linear(1)])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=rms_error, metrics=["mae"])
history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
print("loss:", history.history["loss"][0], "->", history.history["loss"][-1])
assert keras.saving.get_custom_objects()["Examples>Linear"] is Linear
restored = keras.Sequential.from_config(model.get_config())
restored.set_weights(model.get_weights())
np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
'''


def run_with_deepgrad(script, folder, monkeypatch):
    """Run a Keras script with only its imports of ``keras`` pointed at deepgrad; returns its globals."""
    lines = []
    for line in script.splitlines():
        if line == "import keras":
            line = "import deepgrad as keras"
        elif line.startswith("from keras import "):
            line = line.replace("from keras import ", "from deepgrad import ", 1)
        lines.append(line)
    changed = [a for a, b in zip(script.splitlines(), lines) if a != b]
    assert changed and all("keras" in line and "import" in line for line in changed)
    monkeypatch.chdir(folder)
    namespace = {"__name__": "__main__"}
    exec(compile("\n".join(lines), "keras_example", "exec"), namespace)  # the test's own scripts, not input
    return namespace


@pytest.fixture(autouse=True)
def _forget_registered_examples():
    import deepgrad

    yield
    deepgrad.saving.get_custom_objects().pop("Examples>Linear", None)


def test_a_sequential_mlp_with_callbacks(tmp_path, monkeypatch, capsys):
    namespace = run_with_deepgrad(SEQUENTIAL_MLP, tmp_path, monkeypatch)
    assert namespace["score"][1] > 0.8
    assert (tmp_path / "training_log.csv").read_text().startswith("epoch,")
    assert "Total params: 5,634" in capsys.readouterr().out


def test_a_functional_model_with_two_inputs_and_concatenate(tmp_path, monkeypatch):
    namespace = run_with_deepgrad(TWO_INPUTS, tmp_path, monkeypatch)
    assert namespace["test_scores"][1] > 0.85
    assert (tmp_path / "two_inputs.png").stat().st_size > 1000


def test_a_custom_layer_with_add_weight_and_keras_ops(tmp_path, monkeypatch):
    namespace = run_with_deepgrad(CUSTOM_LAYER, tmp_path, monkeypatch)
    losses = namespace["history"].history["loss"]
    assert losses[-1] < 0.3 * losses[0]
    assert isinstance(namespace["restored"].layers[0], namespace["Linear"])
