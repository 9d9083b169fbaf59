"""deepgrad.callbacks against a small stand-in model that follows the model's contract
(stop_training, optimizer.learning_rate/iterations/get_state/set_state, get/set_weights,
save/save_weights/load_weights, _initial_epoch_override) and a loop that drives a
CallbackList the way fit does."""

import io
import json
import os
import re

import numpy as np
import pytest

from deepgrad import callbacks as cb


class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate
        self.iterations = 0
        self.momentum = np.zeros(3)

    def get_state(self):
        return {"iterations": self.iterations, "arrays": {"momentum/0": self.momentum.copy()}}

    def set_state(self, state):
        self.iterations = state["iterations"]
        self.momentum = np.array(state["arrays"]["momentum/0"])


class FakeModel:
    """Weights move by -lr * (1 + momentum) each step: the result depends on the whole history."""

    def __init__(self):
        self.weights = [np.arange(3.0), np.ones((2, 2))]
        self.optimizer = FakeOptimizer()
        self.stop_training = False
        self.history = None
        self._initial_epoch_override = None
        self.saved = []

    def train_step(self):
        self.optimizer.momentum = 0.9 * self.optimizer.momentum + 1.0
        self.weights[0] = self.weights[0] - self.optimizer.learning_rate * self.optimizer.momentum
        self.weights[1] = self.weights[1] * (1 - self.optimizer.learning_rate)
        self.optimizer.iterations += 1

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save_weights(self, filepath):
        with open(filepath, "wb") as stream:
            np.savez(stream, *self.weights)
        self.saved.append(("weights", filepath))

    def load_weights(self, filepath):
        with np.load(filepath, allow_pickle=False) as archive:
            self.weights = [archive[f"arr_{i}"] for i in range(len(archive.files))]

    def save(self, filepath):
        self.save_weights(filepath)
        self.saved[-1] = ("model", filepath)


def run_fit(model, callbacks=None, epochs=5, steps=4, verbose=0, val_losses=None, crash_at_epoch=None):
    """Drive a CallbackList as Model.fit does (contract in deepgrad.callbacks' docs)."""
    callback_list = cb.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                                    verbose=verbose, epochs=epochs, steps=steps)
    model.stop_training = False
    model._initial_epoch_override = None
    callback_list.on_train_begin()
    start = model._initial_epoch_override or 0
    logs = {}
    for epoch in range(start, epochs):
        if epoch == crash_at_epoch:
            raise KeyboardInterrupt("simulated crash")
        callback_list.on_epoch_begin(epoch)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            model.train_step()
            batch_logs = {"loss": float(np.sum(model.weights[0]))} if callback_list.wants_batch_logs else None
            callback_list.on_train_batch_end(step, batch_logs)
            if model.stop_training:
                break
        logs = {"loss": 1.0 / (epoch + 1), "accuracy": np.float32(0.5 + epoch / 100)}
        if val_losses is not None:
            logs["val_loss"] = val_losses[epoch]
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return callback_list.history


# --------------------------------------------------------------------------- CallbackList and History

def test_batch_hooks_reach_only_callbacks_that_override_them(tmp_path):
    calls = []

    class Legacy(cb.Callback):
        def on_batch_end(self, batch, logs=None):
            calls.append(("legacy", batch))

    stopper = cb.EarlyStopping()
    checkpoint = cb.ModelCheckpoint(str(tmp_path / "x.deepgrad"))
    only_epoch = cb.CallbackList([stopper, checkpoint], add_history=True, model=FakeModel(),
                                 verbose=2, epochs=1, steps=2)
    assert not only_epoch.wants_batch_logs
    assert not only_epoch.has_hook("on_train_batch_begin") and not only_epoch.has_hook("on_test_batch_end")
    assert only_epoch.has_hook("on_epoch_end")
    lam = cb.LambdaCallback(on_train_batch_begin=lambda batch, logs: calls.append(("lambda", batch)))
    mixed = cb.CallbackList([Legacy(), lam, cb.ModelCheckpoint(str(tmp_path / "x"), save_freq=3)], model=FakeModel())
    assert mixed.wants_batch_logs
    assert len(mixed._listeners["on_train_batch_end"]) == 2  # Legacy and the batch-saving checkpoint
    mixed.on_train_batch_begin(0)
    mixed.on_train_batch_end(7, {})
    assert calls == [("lambda", 0), ("legacy", 7)]
    with pytest.raises(TypeError, match="LambdaCallback"):
        cb.CallbackList([lambda epoch, logs: None])
    with pytest.raises(TypeError, match="unknown hooks"):
        cb.LambdaCallback(on_epoc_end=print)


def test_progbar_needs_batches_only_when_it_redraws():
    plain = cb.CallbackList(None, add_progbar=True, verbose=1, epochs=1, steps=5)  # pytest's stdout: no tty
    assert not plain.wants_batch_logs
    unknown_length = cb.CallbackList(None, add_progbar=True, verbose=2, epochs=1, steps=None)
    assert unknown_length.wants_batch_logs


def test_history_records_epoch_logs_with_keras_keys():
    model = FakeModel()
    history = run_fit(model, epochs=3, val_losses=[0.5, 0.4, 0.3])
    assert history is model.history
    assert history.epoch == [0, 1, 2]
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 4}
    assert history.model is model
    assert history.history["val_loss"] == [0.5, 0.4, 0.3]
    assert history.history["loss"] == pytest.approx([1.0, 0.5, 1 / 3])
    assert type(history.history["accuracy"][0]) is float  # NumPy scalars become Python floats
    assert list(history.history) == ["accuracy", "loss", "val_loss"]


# --------------------------------------------------------------------------- EarlyStopping

def test_early_stopping_patience_messages_and_best_weights(capsys):
    model = FakeModel()
    best = {}

    class RecordWeights(cb.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best[epoch] = self.model.get_weights()

    stopper = cb.EarlyStopping(monitor="val_loss", patience=2, verbose=1, restore_best_weights=True)
    history = run_fit(model, [stopper, RecordWeights()], epochs=10, val_losses=[1.0, 0.8, 0.85, 0.9, 0.1] + [0] * 5)
    assert history.epoch == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 3 and stopper.best_epoch == 1 and stopper.best == 0.8
    out = capsys.readouterr().out
    assert "Epoch 4: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out
    for restored, recorded in zip(model.weights, best[1]):
        assert np.array_equal(restored, recorded)


def test_early_stopping_min_delta_baseline_start_and_auto_mode():
    # improvements smaller than min_delta do not count
    stopper = cb.EarlyStopping(patience=1, min_delta=0.1)
    history = run_fit(FakeModel(), [stopper], epochs=10, val_losses=[1.0, 0.95, 0.92] + [0] * 7)
    assert history.epoch == [0, 1]
    # accuracy-like names are maximized in mode 'auto'
    stopper = cb.EarlyStopping(monitor="accuracy", patience=0)
    history = run_fit(FakeModel(), [stopper], epochs=4)
    assert history.epoch == [0, 1, 2, 3] and stopper.best == pytest.approx(0.53)
    # improvements that miss the baseline do not reset the count: the first setback stops
    losses = [1.0, 0.9, 0.95, 0.94, 0.93, 0.92, 0.91, 0.9, 0.89, 0.88]
    assert run_fit(FakeModel(), [cb.EarlyStopping(patience=2, baseline=0.1)], epochs=10,
                   val_losses=losses).epoch == [0, 1, 2]
    assert run_fit(FakeModel(), [cb.EarlyStopping(patience=2)], epochs=10, val_losses=losses).epoch == [0, 1, 2, 3]
    # epochs before start_from_epoch are not monitored
    stopper = cb.EarlyStopping(patience=0, start_from_epoch=3)
    history = run_fit(FakeModel(), [stopper], epochs=10, val_losses=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert history.epoch == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="'auto', 'min' or 'max'"):
        cb.EarlyStopping(mode="maximum")


def test_missing_monitor_warns_with_available_keys():
    with pytest.warns(UserWarning, match=r"`val_err` which is not available. Available metrics are: accuracy,loss"):
        history = run_fit(FakeModel(), [cb.EarlyStopping(monitor="val_err", patience=5)], epochs=2)
    assert history.epoch == [0, 1]


# --------------------------------------------------------------------------- ModelCheckpoint

def test_model_checkpoint_formats_names_and_saves_best_only(tmp_path, capsys):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}-{val_loss:.2f}.deepgrad")
    checkpoint = cb.ModelCheckpoint(pattern, save_best_only=True, verbose=1)
    run_fit(model, [checkpoint], epochs=4, val_losses=[0.5, 0.7, 0.25, 0.3])
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["model-01-0.50.deepgrad", "model-03-0.25.deepgrad"]
    assert [kind for kind, _ in model.saved] == ["model", "model"]
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from inf to 0.50000, saving model to" in out
    assert "Epoch 2: val_loss did not improve from 0.50000" in out

    every_epoch = cb.ModelCheckpoint(str(tmp_path / "w-{epoch}.weights.npz"), save_weights_only=True)
    model = FakeModel()
    run_fit(model, [every_epoch], epochs=2)
    assert [kind for kind, _ in model.saved] == ["weights", "weights"]
    assert os.path.exists(tmp_path / "w-2.weights.npz")


def test_model_checkpoint_by_batches_threshold_and_errors(tmp_path):
    model = FakeModel()
    run_fit(model, [cb.ModelCheckpoint(str(tmp_path / "b{epoch}-{batch}.npz"), save_freq=3)], epochs=2, steps=4)
    # 8 batches, a save every 3: after batch 3 of epoch 1 and batch 2 of epoch 2 (1-based in names)
    assert sorted(os.listdir(tmp_path)) == ["b1-3.npz", "b2-2.npz"]
    model = FakeModel()
    run_fit(model, [cb.ModelCheckpoint(str(tmp_path / "t.npz"), save_best_only=True, initial_value_threshold=0.2)],
            epochs=3, val_losses=[0.5, 0.3, 0.1])
    assert len(model.saved) == 1
    with pytest.raises(KeyError, match="val_acc"):
        run_fit(FakeModel(), [cb.ModelCheckpoint(str(tmp_path / "{val_acc}.npz"))], epochs=1)
    with pytest.raises(ValueError, match="save_freq"):
        cb.ModelCheckpoint("m.deepgrad", save_freq="batch")


# --------------------------------------------------------------------------- learning rate

def test_reduce_lr_on_plateau_patience_cooldown_and_floor(capsys):
    model = FakeModel()
    reducer = cb.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, cooldown=2, min_lr=0.03, verbose=1)
    history = run_fit(model, [reducer], epochs=7, val_losses=[1.0] * 7)
    # logged before each epoch's decision; no improvement after epoch 0: reduce at epoch 1, cooldown
    # (Keras counts it down first) skips epoch 2, reduce at 3 to the floor 0.03, then nothing more
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03])
    assert model.optimizer.learning_rate == pytest.approx(0.03)
    out = capsys.readouterr().out
    assert out.count("ReduceLROnPlateau") == 2
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.05." in out
    assert "Epoch 4: ReduceLROnPlateau reducing learning rate to 0.03." in out
    with pytest.raises(ValueError, match="factor >= 1.0"):
        cb.ReduceLROnPlateau(factor=2.0)


def test_learning_rate_scheduler_two_and_one_argument_schedules(capsys):
    model = FakeModel()
    history = run_fit(model, [cb.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr, verbose=1)],
                      epochs=3)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05." in capsys.readouterr().out
    history = run_fit(FakeModel(), [cb.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))], epochs=2)
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.02])
    with pytest.raises(ValueError, match="should be a float"):
        run_fit(FakeModel(), [cb.LearningRateScheduler(lambda epoch, lr: "fast")], epochs=1)


# --------------------------------------------------------------------------- logging and stopping

def test_csv_logger_writes_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    run_fit(FakeModel(), [cb.CSVLogger(str(path))], epochs=2)
    rows = path.read_text().splitlines()
    assert rows[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert rows[1].split(",")[0] == "0" and rows[1].split(",")[-2:] == ["NA", "NA"]
    assert float(rows[2].split(",")[2]) == 0.5
    run_fit(FakeModel(), [cb.CSVLogger(str(path), separator=";", append=True)], epochs=1, val_losses=[0.3])
    rows = path.read_text().splitlines()
    assert len(rows) == 4 and rows[3].startswith("0;") and rows[3].endswith(";0.3")


def test_terminate_on_nan_stops_at_the_bad_batch(capsys):
    model = FakeModel()
    model.weights[0] = np.array([np.nan, 0.0, 0.0])  # the loss is NaN from the first batch
    history = run_fit(model, [cb.TerminateOnNaN()], epochs=3)
    assert history.epoch == [0] and model.optimizer.iterations == 1
    assert "Batch 0: Invalid loss, terminating training" in capsys.readouterr().out


def test_lambda_callback_calls_given_functions():
    seen = []
    run_fit(FakeModel(), [cb.LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                                            on_epoch_end=lambda epoch, logs: seen.append(epoch),
                                            on_train_end=lambda logs: seen.append("end"))], epochs=2)
    assert seen == ["begin", 0, 1, "end"]


# --------------------------------------------------------------------------- BackupAndRestore

def test_backup_and_restore_resumes_exactly_after_a_crash(tmp_path):
    backup_dir = tmp_path / "backup"
    reference = FakeModel()
    run_fit(reference, epochs=5)

    crashed = FakeModel()
    with pytest.raises(KeyboardInterrupt):
        run_fit(crashed, [cb.BackupAndRestore(str(backup_dir))], epochs=5, crash_at_epoch=3)
    pointer = json.loads((backup_dir / "latest.json").read_text())
    assert pointer["epoch"] == 3
    assert not any(name.endswith(".partial") for name in os.listdir(backup_dir))
    (backup_dir / "notes.txt").write_text("the user's own file")

    resumed = FakeModel()  # a fresh process: initial weights and optimizer again
    history = run_fit(resumed, [cb.BackupAndRestore(str(backup_dir))], epochs=5)
    assert history.epoch == [3, 4]
    assert resumed.optimizer.iterations == reference.optimizer.iterations == 20
    for got, expected in zip(resumed.weights, reference.weights):
        assert np.allclose(got, expected, rtol=0, atol=1e-12)
    assert np.array_equal(resumed.optimizer.momentum, reference.optimizer.momentum)
    assert os.listdir(backup_dir) == ["notes.txt"]  # only our files are deleted


def test_backup_by_batches_keeps_only_the_latest_complete_folder(tmp_path):
    backup_dir = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        run_fit(FakeModel(), [cb.BackupAndRestore(str(backup_dir), save_freq=3, delete_checkpoint=False)],
                epochs=3, steps=4, crash_at_epoch=2)
    names = sorted(os.listdir(backup_dir))
    assert names == ["backup-2", "latest.json"]  # saves after batches 3 and 6
    pointer = json.loads((backup_dir / "latest.json").read_text())
    assert pointer == {"folder": "backup-2", "epoch": 1, "saves": 2}
    from deepgrad.fileio import Archive

    stored = Archive(backup_dir / "backup-2" / "optimizer.deepgrad").config
    assert stored["state"]["iterations"] == 6
    with pytest.raises(ValueError, match="backup_dir"):
        cb.BackupAndRestore("")


# --------------------------------------------------------------------------- progress display

KERAS_LINE = re.compile(r"^4/4 ━{20} \d+s \d+(us|ms|s)/step - accuracy: 0\.5000 - loss: 1\.0000$")


def test_progress_verbose_1_prints_header_and_final_line_only_when_not_a_terminal(capsys):
    run_fit(FakeModel(), epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert KERAS_LINE.match(lines[1]), lines[1]


def test_progress_verbose_2_and_0(capsys):
    run_fit(FakeModel(), epochs=1, verbose=2, val_losses=[0.25])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1  # a single epoch has no header
    assert re.match(r"^4/4 - \d+s - \d+(us|ms|s)/step - accuracy: 0\.5000 - loss: 1\.0000 - val_loss: 0\.2500$",
                    lines[0]), lines[0]
    run_fit(FakeModel(), epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progbar_redraws_in_place_on_a_terminal_at_a_bounded_rate(monkeypatch):
    monkeypatch.setattr(cb, "_tqdm_class", lambda: None)
    stream = Terminal()
    bar = cb.Progbar(target=1000, stream=stream, interval=3600)  # at most one intermediate redraw
    for step in range(1, 1000):
        bar.update(step, {"loss": 0.5})
    bar.update(1000, {"loss": 0.25, "accuracy": 0.0001})
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    first, final = text.split("\r")[1:]
    assert first.startswith("   1/1000 " + "─" * 20)  # one step done: no segment filled yet, an ETA
    assert final.rstrip().endswith("- accuracy: 1.0000e-04 - loss: 0.2500")
    assert final.startswith("1000/1000 " + "━" * 20)


def test_progbar_with_tqdm_when_installed():
    pytest.importorskip("tqdm")
    stream = Terminal()
    bar = cb.Progbar(target=3, stream=stream, interval=0)
    for step in range(1, 4):
        bar.update(step, {"loss": 0.5})
    assert "3/3" in stream.getvalue() and "loss: 0.5000" in stream.getvalue()


def test_value_and_time_formats():
    assert cb._format_value(0.12345) == "0.1235" and cb._format_value(1e-5) == "1.0000e-05"
    assert cb._format_step_time(0.004, "step") == "4ms/step"
    assert cb._format_step_time(2.0, "step") == "2s/step"
    assert cb._format_step_time(5e-5, "step") == "50us/step"
    assert cb._format_eta(3725) == "1:02:05" and cb._format_eta(75) == "1:15" and cb._format_eta(9.5) == "9s"
