"""One data path: generators and PyDataset train, validate, evaluate and predict as arrays do."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import callbacks, optimizers
from deepgrad.layers import Dense, Dropout
from deepgrad.models import Sequential
from deepgrad.models.data_adapter import DataExhaustedWarning
from deepgrad.utils import PyDataset

RNG = np.random.default_rng(7)
X = RNG.normal(size=(64, 3)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
BATCH = 16


@pytest.fixture(autouse=True)
def fresh_names():
    dg.backend.clear_session()
    dg.manual_seed(0)


def make_model(dropout=False):
    layers = [Dense(8, activation="relu", input_shape=(3,))]
    if dropout:
        layers.append(Dropout(0.25))
    layers.append(Dense(2, activation="softmax"))
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def twin_models():
    first = make_model()
    second = make_model()
    second.set_weights(first.get_weights())
    return first, second


def batches_forever(n=None):
    n = len(X) if n is None else n
    while True:
        for start in range(0, n, BATCH):
            yield X[start:start + BATCH], Y[start:start + BATCH]


class Batches(PyDataset):
    def __init__(self, x=X, y=Y, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.epochs_ended = 0
        self.requested = []

    def __len__(self):
        return len(self.x) // BATCH

    def __getitem__(self, index):
        self.requested.append(index)
        part = slice(index * BATCH, (index + 1) * BATCH)
        return self.x[part], self.y[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, sorted(logs)))


def assert_same_weights(a, b):
    for got, expected in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(got, expected)


def test_generator_trains_through_fit_exactly_as_the_same_array_batches(capsys):
    arrays, streamed = twin_models()
    reference = arrays.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, validation_data=(X[:32], Y[:32]),
                           verbose=0)
    recorder = Recorder()
    history = streamed.fit(batches_forever(), steps_per_epoch=4, epochs=2, validation_data=batches_forever(32),
                           validation_steps=2, callbacks=[recorder], verbose=1)
    assert_same_weights(streamed, arrays)
    assert history.history.keys() == reference.history.keys()
    assert np.allclose(history.history["loss"], reference.history["loss"])
    assert np.allclose(history.history["val_loss"], reference.history["val_loss"])
    assert [e[:2] for e in recorder.events if e[0] == "batch"] == [("batch", i) for i in range(4)] * 2
    assert recorder.events[-1] == ("epoch_end", 1, ["accuracy", "loss", "val_accuracy", "val_loss"])
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "4/4" in out and "val_loss" in out


def test_pydataset_trains_validates_and_calls_on_epoch_end():
    arrays, streamed = twin_models()
    arrays.fit(X, Y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    dataset = Batches(workers=2, use_multiprocessing=False, max_queue_size=4)
    validation = Batches(X[:32], Y[:32])
    history = streamed.fit(dataset, epochs=3, shuffle=False, validation_data=validation, verbose=0)
    assert_same_weights(streamed, arrays)
    assert dataset.epochs_ended == 3 and validation.epochs_ended == 3
    assert len(history.history["val_loss"]) == 3
    assert dataset.workers == 2 and dataset.max_queue_size == 4 and dataset.num_batches == 4


def test_pydataset_batch_order_is_shuffled_each_epoch_from_the_seed():
    orders = []
    for _ in range(2):
        dg.manual_seed(3)
        dataset = Batches()
        make_model().fit(dataset, epochs=3, verbose=0)
        orders.append(dataset.requested[1:])  # the first request builds the model
    assert orders[0] == orders[1]
    epochs = [orders[0][i:i + 4] for i in range(0, 12, 4)]
    assert all(sorted(e) == [0, 1, 2, 3] for e in epochs)
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]


def test_evaluate_and_predict_accept_generators_and_pydatasets():
    model = make_model()
    model.fit(X, Y, epochs=1, verbose=0)
    expected = model.evaluate(X, Y, batch_size=BATCH, verbose=0)
    assert np.allclose(model.evaluate(Batches(), verbose=0), expected)
    assert np.allclose(model.evaluate(batches_forever(), steps=4, verbose=0), expected)
    predicted = model.predict(X)
    assert np.allclose(model.predict(Batches()), predicted)
    assert np.allclose(model.predict((x for x, _ in batches_forever()), steps=2), predicted[:32])


def test_generator_of_weighted_batches_and_multiple_inputs_as_lists():
    weights = np.linspace(0.5, 1.5, len(X)).astype(np.float32)

    def weighted():
        for start in range(0, len(X), BATCH):
            part = slice(start, start + BATCH)
            yield X[part], Y[part], weights[part]

    arrays, streamed = twin_models()
    arrays.fit(X, Y, sample_weight=weights, batch_size=BATCH, shuffle=False, verbose=0)
    streamed.fit(weighted(), verbose=0)
    assert_same_weights(streamed, arrays)


def test_a_finite_generator_ends_training_with_a_warning_when_it_runs_out():
    def one_pass():
        yield from ((X[i:i + BATCH], Y[i:i + BATCH]) for i in range(0, len(X), BATCH))

    model = make_model()
    with pytest.warns(DataExhaustedWarning, match="ran out"):
        history = model.fit(one_pass(), epochs=3, verbose=0)
    assert history.epoch == [0]
    assert model.optimizer.iterations == 4


def test_batch_sources_refuse_arguments_that_their_batches_carry():
    model = make_model()
    with pytest.raises(ValueError, match="do not pass y"):
        model.fit(batches_forever(), Y, steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="do not pass batch_size"):
        model.fit(Batches(), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="do not pass validation_split"):
        model.fit(Batches(), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="workers"):
        Batches(workers=0)
    with pytest.raises(ValueError, match="x, \\(x, y\\) or \\(x, y, sample_weight\\)"):
        model.fit(((X, Y, None, None) for _ in range(3)), verbose=0)


def test_find_learning_rate_takes_a_generator():
    model = make_model()
    before = model.get_weights()
    result = optimizers.find_learning_rate(model, batches_forever(), None, steps=12, end=1.0)
    assert len(result.raw_losses) >= 4 and np.all(np.isfinite(result.raw_losses[:4]))
    assert_same_weights(model, type("W", (), {"get_weights": lambda self: before})())


def test_class_weight_applies_to_pydataset_batches_as_to_arrays():
    arrays, streamed = twin_models()
    arrays.fit(X, Y, batch_size=BATCH, shuffle=False, class_weight={1: 4.0}, verbose=0)
    streamed.fit(Batches(), shuffle=False, class_weight={1: 4.0}, verbose=0)
    assert_same_weights(streamed, arrays)
