"""A training run for the data-parallel tests: the same script runs in one process or under ``mpiexec -n W``.

Usage: python tests/distributed_worker.py OUT OPTIMIZER:DROPOUT[:bn][,...] [SAMPLES] [BACKUP_DIR]
[FAIL_AT_EPOCH]. Each configuration trains a fresh model (``bn``: with a synchronized BatchNormalization);
rank 0 writes its final weights and History to OUT-OPTIMIZER-DROPOUT[-bn].npz (one launch for several
runs: starting MPI and Python costs more than a run).
"""

import sys

import numpy as np

import deepgrad as dg
from deepgrad import distribution, layers
from deepgrad.callbacks import BackupAndRestore, Callback
from deepgrad.models import Sequential


class FailAt(Callback):
    """Raise at the end of one epoch, on the last rank only (a crash of one process)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        parallel = distribution.active()
        last = parallel is None or parallel.rank == parallel.size - 1
        if epoch == self.epoch and last:
            raise RuntimeError(f"simulated failure at epoch {epoch}")


def train(out, optimizer, dropout, samples, backup_dir, fail_at, normalize=False):
    dg.manual_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((samples, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.3).astype(np.int64) + (x[:, 2] > 0.8)
    hidden = [layers.Dense(16, activation="tanh")]
    if normalize:
        hidden = [layers.Dense(16, use_bias=False), layers.BatchNormalization(synchronized=True),
                  layers.Activation("tanh")]
    model = Sequential([layers.Input((6,)), *hidden, layers.Dropout(dropout), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = []
    if backup_dir is not None:
        callbacks.append(BackupAndRestore(backup_dir))
    if fail_at is not None:
        callbacks.append(FailAt(fail_at))
    history = model.fit(x, y, batch_size=64, epochs=4, validation_split=0.2, verbose=0, callbacks=callbacks)
    if distribution.is_chief():
        weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        logs = {f"h_{k}": np.asarray(v) for k, v in history.history.items()}
        np.savez(f"{out}-{optimizer}-{dropout}{'-bn' if normalize else ''}.npz", **weights, **logs)


def main(argv):
    samples = int(argv[2]) if len(argv) > 2 else 200
    backup_dir = argv[3] if len(argv) > 3 and argv[3] != "-" else None
    fail_at = int(argv[4]) if len(argv) > 4 else None
    distribution.set_distribution(distribution.DataParallel())
    for config in argv[1].split(","):
        optimizer, dropout, *normalize = config.split(":")
        train(argv[0], optimizer, float(dropout), samples, backup_dir, fail_at, normalize == ["bn"])


if __name__ == "__main__":
    main(sys.argv[1:])
