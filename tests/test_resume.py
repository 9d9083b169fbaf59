"""Reproducible training and exact resume: every random stream follows manual_seed, and
BackupAndRestore brings back the batch position and all random states."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import callbacks
from deepgrad.fileio import ModelFileError
from deepgrad.layers import Dense, Dropout, GaussianNoise
from deepgrad.models import Sequential

RNG = np.random.default_rng(11)
X = RNG.normal(size=(120, 4)).astype(np.float32)
Y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def make_model():
    model = Sequential([Dense(16, activation="relu", input_shape=(4,)), GaussianNoise(0.1), Dropout(0.3),
                        Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


class Crash(callbacks.Callback):
    """Raises after ``at`` training batches in all, as a crash would stop the process."""

    def __init__(self, at):
        super().__init__()
        self.at, self.seen = at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            raise KeyboardInterrupt("simulated crash")


def test_two_runs_after_the_same_seed_repeat_on_the_same_model():
    model = make_model()
    start = model.get_weights()
    results = []
    for _ in range(2):
        model.set_weights(start)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        dg.manual_seed(0)  # the model was built before: its dropout and noise streams follow the seed too
        model.fit(X, Y, batch_size=8, epochs=2, shuffle=True, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_a_seeded_layer_keeps_its_own_stream():
    layer = Dropout(0.5, seed=5)
    first = layer.seed_generator.generator.random(3)
    dg.manual_seed(1)
    assert np.array_equal(Dropout(0.5, seed=5).seed_generator.generator.random(3), first)


def reference_run(epochs=3):
    dg.manual_seed(0)
    model = make_model()
    model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0)
    return model


@pytest.mark.parametrize("save_freq,crash_at", [(4, 22), ("epoch", 20)])
def test_backup_resumes_mid_epoch_bit_for_bit(tmp_path, save_freq, crash_at):
    expected = reference_run()
    dg.manual_seed(0)
    crashed = make_model()
    backup = callbacks.BackupAndRestore(tmp_path / "backup", save_freq=save_freq)
    with pytest.raises(KeyboardInterrupt):
        crashed.fit(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[backup, Crash(crash_at)])
    dg.manual_seed(0)
    resumed = make_model()  # a fresh process: same program, same seed
    history = resumed.fit(X, Y, batch_size=8, epochs=3, verbose=0,
                          callbacks=[callbacks.BackupAndRestore(tmp_path / "backup", save_freq=save_freq)])
    assert resumed.optimizer.iterations == expected.optimizer.iterations == 45  # not 45 + replayed batches
    assert history.epoch == [1, 2]
    for got, want in zip(resumed.get_weights(), expected.get_weights()):
        assert np.array_equal(got, want)


SCRIPT = textwrap.dedent('''
    import os, signal, sys, threading
    import numpy as np
    import deepgrad as dg
    from deepgrad import callbacks
    from deepgrad.layers import Dense, Dropout
    from deepgrad.models import Sequential

    def train(backup_dir=None, kill_at_batch=None, kill_after=None):
        rng = np.random.default_rng(3)
        x = rng.normal(size=(96, 4)).astype(np.float32)
        y = (x[:, 0] > x[:, 1]).astype(np.int64)
        dg.manual_seed(0)
        model = Sequential([Dense(12, activation="relu", input_shape=(4,)), Dropout(0.25),
                            Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        extra = []
        if backup_dir:
            extra.append(callbacks.BackupAndRestore(backup_dir, save_freq=5))
        if kill_at_batch:
            class Kill(callbacks.Callback):
                seen = 0
                def on_train_batch_end(self, batch, logs=None):
                    Kill.seen += 1
                    if Kill.seen == kill_at_batch:
                        os.kill(os.getpid(), signal.SIGKILL)
            extra.insert(int(kill_at_batch) % 2, Kill())
        if kill_after:
            class Timer(callbacks.Callback):
                def on_train_begin(self, logs=None):
                    threading.Timer(kill_after, os.kill, (os.getpid(), signal.SIGKILL)).start()
            extra.append(Timer())
        model.fit(x, y, batch_size=8, epochs=4, callbacks=extra, verbose=0)
        return model

    if __name__ == "__main__":
        backup_dir, kill_at_batch, kill_after, out = sys.argv[1:5]
        model = train(backup_dir, int(kill_at_batch), float(kill_after))
        np.savez(out, *model.get_weights(), iterations=model.optimizer.iterations)
        os._exit(0)  # no waiting for a timer thread
''')


def test_sigkill_at_random_points_then_resume_gives_the_uninterrupted_weights(tmp_path):
    import runpy

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    reference = runpy.run_path(str(script), run_name="reference")["train"]()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    chooser = random.Random(2024)
    backup_dir, out = tmp_path / "backup", tmp_path / "result.npz"
    kills = [(chooser.randint(3, 20), 0.0), (0, chooser.uniform(0.0, 0.05)), (0, 0.0)]
    codes = []
    for kill_at_batch, kill_after in kills:
        run = subprocess.run([sys.executable, str(script), str(backup_dir), str(kill_at_batch), str(kill_after),
                              str(out)], env=env, capture_output=True, text=True, timeout=120)
        codes.append(run.returncode)
        assert run.returncode in (0, -signal.SIGKILL), run.stderr
        if run.returncode == 0:
            break
    assert codes[0] == -signal.SIGKILL
    assert codes[-1] == 0
    with np.load(out) as result:
        assert int(result["iterations"]) == reference.optimizer.iterations == 48
        for i, want in enumerate(reference.get_weights()):
            assert np.array_equal(result[f"arr_{i}"], want)


def crashed_backup(tmp_path):
    dg.manual_seed(0)
    backup = callbacks.BackupAndRestore(tmp_path / "backup", save_freq=4)
    with pytest.raises(KeyboardInterrupt):
        make_model().fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[backup, Crash(9)])
    pointer = tmp_path / "backup" / "latest.json"
    return pointer, tmp_path / "backup" / json.loads(pointer.read_text())["folder"]


def resume(tmp_path):
    make_model().fit(X, Y, batch_size=8, epochs=2, verbose=0,
                     callbacks=[callbacks.BackupAndRestore(tmp_path / "backup", save_freq=4)])


@pytest.mark.parametrize("damage", ["not json", '{"folder": 3}', '["backup-1"]', '{"folder": "backup-2", "epoch": -1}'])
def test_a_damaged_backup_pointer_names_the_file(tmp_path, damage):
    pointer, _ = crashed_backup(tmp_path)
    pointer.write_text(damage)
    with pytest.raises(ModelFileError, match="latest.json"):
        resume(tmp_path)


@pytest.mark.parametrize("member", ["progress.deepgrad", "optimizer.deepgrad"])
def test_a_damaged_backup_archive_names_the_file(tmp_path, member):
    _, folder = crashed_backup(tmp_path)
    data = (folder / member).read_bytes()
    (folder / member).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=member):
        resume(tmp_path)


def test_a_backup_of_another_model_is_refused_with_the_file_named(tmp_path):
    _, folder = crashed_backup(tmp_path)
    from deepgrad.fileio import Archive, write_archive

    archive = Archive(folder / "progress.deepgrad")
    config = archive.config
    archive.close()
    config["progress"]["layers"] = config["progress"]["layers"][:1]  # one random layer fewer
    write_archive(folder / "progress.deepgrad", {"progress": config["progress"]}, {})
    with pytest.raises(ModelFileError, match="progress.deepgrad"):
        resume(tmp_path)
