"""Data-parallel training on MPI: two ranks train to the weights of one process, failures abort, backups resume."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepgrad import distribution

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "distributed_worker.py"


class FakeComm:
    """Rank and size only (what the batch arithmetic needs)."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size


def test_one_process_distribution_changes_nothing():
    parallel = distribution.DataParallel(comm=FakeComm(0, 1))
    assert not parallel.parallel and parallel.is_chief
    previous = distribution.get_distribution()
    with parallel.scope():
        assert distribution.get_distribution() is parallel
        assert distribution.active() is None and distribution.is_chief()
    assert distribution.get_distribution() is previous
    with pytest.raises(TypeError, match="DataParallel"):
        distribution.set_distribution("data_parallel")


@pytest.mark.parametrize("count", [64, 35, 3])
def test_ranks_split_a_batch_as_array_split_does(count):
    parts = [distribution.DataParallel(comm=FakeComm(rank, 3)).part(count) for rank in range(3)]
    expected = np.array_split(np.arange(count), 3)
    assert [np.arange(count)[a:b].tolist() for a, b in parts] == [e.tolist() for e in expected]


def test_sharded_generator_keeps_this_ranks_rows_of_the_global_draw():
    full = np.random.default_rng(5).random((10, 4), dtype=np.float32)
    mine = distribution.ShardedGenerator(np.random.default_rng(5), (10, 4, 7)).random((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(mine, full[4:7])
    flips = distribution.ShardedGenerator(np.random.default_rng(6), (10, 0, 3)).uniform(0, 1, size=3)
    np.testing.assert_array_equal(flips, np.random.default_rng(6).uniform(0, 1, size=10)[:3])
    # a draw that is not batch-shaped passes through
    other = distribution.ShardedGenerator(np.random.default_rng(7), (10, 0, 3)).random((5,))
    np.testing.assert_array_equal(other, np.random.default_rng(7).random((5,)))


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install 'deepgrad[mpi]')")
    launcher = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if launcher is None:
        pytest.skip("no mpiexec found (the mpich wheel brings one)")
    return launcher


def _run(tmp_path, name, configs, *args, ranks=None, check=True):
    out = tmp_path / name
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    command = [sys.executable, str(WORKER), str(out), configs, *map(str, args)]
    if ranks:
        command = [_mpiexec(), "-n", str(ranks)] + command
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def _weights(tmp_path, name, config):
    optimizer, dropout, *normalize = config.split(":")
    with np.load(tmp_path / f"{name}-{optimizer}-{float(dropout)}{'-bn' if normalize else ''}.npz") as data:
        return {k: data[k] for k in data.files}


CONFIGS = ["sgd:0.0", "sgd:0.3", "adam:0.0", "adam:0.3", "adam:0.3:bn"]  # bn: BatchNormalization(synchronized=True)


@pytest.mark.slow
def test_two_ranks_train_to_the_weights_of_one_process(tmp_path):
    _mpiexec()
    # 204 samples: 163 after the validation split, so the last global batch of 35 splits 18 / 17
    _run(tmp_path, "single", ",".join(CONFIGS), 204)
    _run(tmp_path, "double", ",".join(CONFIGS), 204, ranks=2)
    for config in CONFIGS:
        one, two = _weights(tmp_path, "single", config), _weights(tmp_path, "double", config)
        assert one.keys() == two.keys()
        for key in one:  # the weights, and the History's global loss and metrics
            np.testing.assert_allclose(two[key], one[key], rtol=1e-5, atol=1e-6, err_msg=f"{config} {key}")
    # the runs differ from each other: equality above is not a property of any two runs
    plain, dropped = (_weights(tmp_path, "single", c)["w0"] for c in ("adam:0.0", "adam:0.3"))
    assert not np.allclose(plain, dropped)


@pytest.mark.slow
def test_a_failing_rank_aborts_the_job_and_a_restart_resumes_from_the_backup(tmp_path):
    _mpiexec()
    backup = tmp_path / "backup"
    failed = _run(tmp_path, "failed", "adam:0.3", 204, backup, 1, ranks=2, check=False)
    assert failed.returncode != 0
    # the reason is on the first line, so it survives a launcher that drops the rest when the job aborts
    assert "rank 1 of 2 failed (RuntimeError: simulated failure at epoch 1)" in failed.stderr
    _run(tmp_path, "resumed", "adam:0.3", 204, backup, ranks=2)
    _run(tmp_path, "uninterrupted", "adam:0.3", 204)
    one, two = _weights(tmp_path, "uninterrupted", "adam:0.3"), _weights(tmp_path, "resumed", "adam:0.3")
    for key in ("w0", "w1", "w2", "w3"):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-5, atol=1e-6, err_msg=key)
