"""The course's Keras code runs with only the imports changed (keras -> deepgrad)."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers as keras_optimizers
from deepgrad import regularizers
from deepgrad.callbacks import EarlyStopping
from deepgrad.layers import BatchNormalization, Dense, Flatten
from deepgrad.layers.core import Dropout
from deepgrad.models import Sequential


@pytest.fixture(autouse=True)
def seeded():
    dg.backend.clear_session()
    dg.manual_seed(0)


def _placement_data(n=400):
    rng = np.random.default_rng(0)
    X_scaled = rng.normal(size=(n, 2)).astype(np.float32)
    y = (X_scaled[:, 0] + 0.5 * X_scaled[:, 1] > 0).astype(np.float32)
    return X_scaled, y


def test_regression_model_of_the_course():
    model = Sequential()
    model.add(Dense(7, activation='relu', input_dim=7))
    model.add(Dense(7, activation='relu'))
    model.add(Dense(1, activation='linear'))
    model.summary(print_fn=lambda s: None)
    model.compile(loss='mean_squared_error', optimizer='Adam')
    x = np.random.default_rng(1).normal(size=(64, 7)).astype(np.float32)
    history = model.fit(x, x.sum(axis=1), epochs=3, verbose=0)
    assert len(history.history['loss']) == 3


def test_flatten_classifier_of_the_course():
    model = Sequential()
    model.add(Flatten(input_shape=(28, 28)))
    model.add(Dense(128, activation='relu'))
    model.add(Dense(32, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    text = model.summary(print_fn=lambda s: None)
    assert "Total params: 104,938" in text


@pytest.mark.parametrize("batch_size", [1, 400])
def test_binary_classifier_with_default_optimizer_and_validation_split(batch_size):
    X_scaled, y = _placement_data()
    model = Sequential()
    model.add(Dense(3, activation='sigmoid', input_dim=2))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', metrics=['accuracy'])  # optimizer defaults to rmsprop
    history = model.fit(X_scaled, y, epochs=15, batch_size=batch_size, validation_split=0.2, verbose=0)
    assert model.optimizer.name.lower() == "rmsprop"
    assert set(history.history) == {'loss', 'accuracy', 'val_loss', 'val_accuracy'}
    assert len(history.history['val_loss']) == 15
    # 320 training samples: 320 steps per epoch with batch_size=1, one with 400
    assert model.optimizer.iterations == 15 * (320 if batch_size == 1 else 1)


def test_early_stopping_snippet_with_a_single_callback():
    X_train, y_train = _placement_data(200)
    X_test, y_test = _placement_data(50)
    model = Sequential()
    model.add(Dense(256, input_dim=2, activation='relu'))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    callback = EarlyStopping(
        monitor="val_loss",
        min_delta=0.0001,
        patience=20,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=True,
    )
    history = model.fit(X_train, y_train, validation_data=(X_test, y_test), epochs=3500,
                        callbacks=callback, verbose=0)
    assert len(history.history['loss']) < 3500


def test_weight_initialization_snippets():
    model = Sequential()
    model.add(Dense(10, activation='relu', input_dim=2, kernel_initializer='he_uniform'))
    model.add(Dense(10, activation='relu', kernel_initializer='he_normal'))
    model.add(Dense(10, activation='relu', kernel_initializer='he_normal'))
    model.add(Dense(10, activation='relu', kernel_initializer='he_normal'))
    model.add(Dense(1, activation='sigmoid'))
    initial_weights = model.get_weights()
    initial_weights[0] = np.random.randn(2, 10) * np.sqrt(1 / 2)
    initial_weights[1] = np.zeros(model.get_weights()[1].shape)
    initial_weights[2] = np.random.randn(10, 10) * np.sqrt(1 / 10)
    initial_weights[3] = np.zeros(model.get_weights()[3].shape)
    initial_weights[4] = np.random.randn(10, 10) * np.sqrt(1 / 10)
    initial_weights[5] = np.zeros(model.get_weights()[5].shape)
    initial_weights[6] = np.random.randn(10, 10) * np.sqrt(1 / 10)
    initial_weights[7] = np.zeros(model.get_weights()[7].shape)
    initial_weights[8] = np.random.randn(10, 1) * np.sqrt(1 / 10)
    initial_weights[9] = np.zeros(model.get_weights()[9].shape)
    model.set_weights(initial_weights)
    assert np.allclose(model.get_weights()[8], initial_weights[8].astype(np.float32))


def test_batch_normalization_snippet():
    model = Sequential()
    model.add(Dense(3, activation='relu', input_dim=2))
    model.add(BatchNormalization())
    model.add(Dense(2, activation='relu'))
    model.add(BatchNormalization())
    model.add(Dense(1, activation='sigmoid'))
    text = model.summary(print_fn=lambda s: None)
    assert "Non-trainable params: 10 (40.00 B)" in text


def test_clipping_and_regularization_snippets():
    optimizer = keras_optimizers.SGD(clipvalue=1.0)
    assert optimizer.clipvalue == 1.0
    optimizer = keras_optimizers.SGD(clipnorm=1.0)
    assert optimizer.clipnorm == 1.0
    model = Sequential()
    model.add(Dense(64, input_dim=64,
                    kernel_regularizer=regularizers.l2(0.01)))
    assert len(model.losses) == 1


def test_dropout_snippet_with_keras1_names():
    input_num_units, hidden1_num_units, hidden5_num_units, output_num_units = 784, 50, 50, 10
    model = Sequential([
        Dense(output_dim=hidden1_num_units, input_dim=input_num_units, activation='relu'),
        Dropout(0.25),
        Dense(output_dim=output_num_units, input_dim=hidden5_num_units, activation='softmax'),
    ])
    assert model.count_params() == 784 * 50 + 50 + 50 * 10 + 10


def test_early_stopping_on_validation_error_snippet():
    stopper = EarlyStopping(monitor='val_err', patience=5)
    assert stopper.patience == 5 and stopper.monitor == 'val_err'
