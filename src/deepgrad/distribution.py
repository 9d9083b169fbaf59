"""Data-parallel training over the processes of an MPI job, in Keras 3's distribution vocabulary.

A script that trains with ``fit`` becomes data-parallel with two lines::

    from deepgrad import distribution
    distribution.set_distribution(distribution.DataParallel())

and a launch by ``mpiexec -n 4 python train.py`` (``pip install 'deepgrad[mpi]'`` brings
``mpi4py`` and the MPICH wheel with its ``mpiexec``). Run as ``python train.py``, the same
script trains in one process exactly as without those lines; ``with DataParallel().scope():``
limits the distribution to a block.

What each of the W processes (ranks) does in ``fit``:

* every rank starts from rank 0's weights (one broadcast of each weight array);
* every rank shuffles with the same seeded generator, so all see the same global batches,
  and each takes its contiguous part of every global batch of B samples (``np.array_split``:
  parts differ by at most one sample);
* after the backward pass, one ``Allreduce`` over the optimizer's flat gradient buffer
  (deepgrad keeps all trainable weights in one contiguous array) sums the ranks' gradients,
  each first scaled by its share n_r / B of the batch:

      g = sum_r (n_r / B) g_r = (1/B) sum over the global batch of the per-sample gradients

  which is the gradient one process computes on the whole batch, for even and uneven
  batches alike; every rank then applies the same optimizer update;
* random layers (Dropout, GaussianNoise, augmentation) draw their numbers for the whole
  global batch from the same seeded stream on every rank and keep their own rows, so each
  rank's masks differ and together they are the masks of a one-process run: training on
  W ranks ends with the weights of training in one process, to float32 rounding;
* the loss and metric sums are added over the ranks before they are logged, so ``History``,
  the progress bar and every callback see the global values and decide alike on every
  rank (EarlyStopping, ReduceLROnPlateau, TerminateOnNaN); validation is sharded and
  reduced the same way;
* only rank 0 prints progress and writes files (ModelCheckpoint, BackupAndRestore, CSV
  logs); all ranks read a backup when they resume.

A global batch with fewer samples than ranks (only a last, partial batch can be one) is
skipped on every rank, with a warning: the W-rank run then leaves out those few samples
where a one-process run trains on them. An uncaught exception on one rank aborts the whole
job (``MPI_Abort``) after printing the rank and the error, so a failure never leaves the
others waiting in a collective. BatchNormalization normalises each rank's part of the batch
with that part's statistics and the moving statistics are averaged over the ranks once per
epoch; with ``synchronized=True`` (Keras's argument) it uses the statistics of the whole
global batch, and training again equals one process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
import warnings

import numpy as np

_CURRENT = None
_ABORT_GRACE_SECONDS = 0.5
_LAUNCH_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS")


def _launched_size() -> int:
    """The number of processes an MPI launcher says it started (1 when none did)."""
    for name in _LAUNCH_VARIABLES:
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 1


def _world():
    """mpi4py's COMM_WORLD, or None when mpi4py is missing and no launcher started several processes."""
    try:
        from mpi4py import MPI  # noqa: PLC0415 - optional dependency
    except ImportError:
        if _launched_size() > 1:
            raise ImportError("this script runs under an MPI launcher with several processes, but mpi4py is not "
                              "installed: pip install 'deepgrad[mpi]'.") from None
        return None
    return MPI.COMM_WORLD


class DataParallel:
    """Data parallelism: the model replicated on every process, each global batch split between them.

    ``DataParallel(devices=None, comm=None)``: Keras 3's name and first argument (``devices``
    is accepted for compatibility; the processes are those of the MPI job). ``comm`` is an
    mpi4py communicator (default ``MPI.COMM_WORLD``). Without mpi4py and outside an MPI
    launch it is a one-process distribution that changes nothing. See the module docstring
    for what happens in each step.
    """

    def __init__(self, devices=None, comm=None):
        self.devices = devices
        self.comm = comm if comm is not None else _world()
        self.rank = 0 if self.comm is None else int(self.comm.Get_rank())
        self.size = 1 if self.comm is None else int(self.comm.Get_size())
        self.batch = None  # (global size, start, stop) of the batch being trained on
        self._hook_installed = False

    @property
    def is_chief(self) -> bool:
        """True on rank 0, the process that prints and writes files."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        """True when there is more than one process."""
        return self.size > 1

    @contextlib.contextmanager
    def scope(self):
        """``with distribution.scope():`` makes it the current distribution inside the block."""
        previous = get_distribution()
        set_distribution(self)
        try:
            yield self
        finally:
            set_distribution(previous)

    # ---------------------------------------------------------------- batches
    def part(self, count) -> tuple:
        """(start, stop) of this rank's rows in a global batch of ``count`` samples (``np.array_split`` sizes)."""
        base, extra = divmod(int(count), self.size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def shard(self, index):
        """This rank's part of a global batch's ``index`` (a slice or an index array); records the batch share."""
        count = (index.stop - index.start) if isinstance(index, slice) else len(index)
        start, stop = self.part(count)
        self.batch = (count, start, stop)
        if isinstance(index, slice):
            return slice(index.start + start, index.start + stop)
        return index[start:stop]

    def finish_batch(self) -> None:
        """Forget the batch share once its step is done (random draws outside a step are not split)."""
        self.batch = None

    # ---------------------------------------------------------------- collectives
    def allreduce(self, array):
        """Sum ``array`` over all ranks, in place (a contiguous NumPy array); returns it."""
        if self.parallel:
            from mpi4py import MPI  # noqa: PLC0415

            self.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
        return array

    def broadcast(self, array, root=0):
        """Overwrite ``array`` (contiguous, in place) with rank ``root``'s values."""
        if self.parallel:
            self.comm.Bcast(array, root=root)
        return array

    def sum_values(self, values):
        """Element-wise sum over the ranks of a list of numbers (float64)."""
        total = np.asarray(values, dtype=np.float64).reshape(-1).copy()
        return self.allreduce(total)

    def average_gradients(self, gradients):
        """g = sum_r (n_r / B) g_r over the ranks, for a list of gradient arrays, in one Allreduce.

        One array (the flat gradient buffer) is reduced in place; several are packed into one
        buffer, reduced, and written back into each. Outside a sharded training batch each
        rank's gradient counts 1 / W.
        """
        if not self.parallel or not gradients:
            return gradients
        share = (self.batch[2] - self.batch[1]) / self.batch[0] if self.batch else 1.0 / self.size
        if len(gradients) == 1 and gradients[0].flags.c_contiguous and isinstance(gradients[0], np.ndarray):
            flat = gradients[0]
            flat *= share
            self.allreduce(flat)
            return gradients
        flat = np.concatenate([np.asarray(g, dtype=np.float64).reshape(-1) for g in gradients]) * share
        self.allreduce(flat)
        offset = 0
        for g in gradients:
            g[...] = flat[offset:offset + g.size].reshape(g.shape)
            offset += g.size
        return gradients

    # ---------------------------------------------------------------- failures
    def install_abort_hook(self) -> None:
        """Make an uncaught exception on any rank print the rank and the error, then abort the whole job."""
        if not self.parallel or self._hook_installed:
            return
        previous = sys.excepthook
        comm, rank = self.comm, self.rank

        def abort_job(kind, error, trace):
            # The reason goes on the first line and everything in one write: the launcher forwards output
            # asynchronously and may drop what is still in flight when Abort tears the job down.
            reason = "".join(traceback.format_exception_only(kind, error)).strip()
            message = (f"deepgrad: rank {rank} of {self.size} failed ({reason}); aborting every rank.\n"
                       + "".join(traceback.format_exception(kind, error, trace)))
            sys.stderr.write(message)
            sys.stderr.flush()
            time.sleep(_ABORT_GRACE_SECONDS)  # lets the launcher forward the message before the job dies
            comm.Abort(1)
            previous(kind, error, trace)

        sys.excepthook = abort_job
        self._hook_installed = True

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, size={self.size})"


def set_distribution(value) -> None:
    """Make ``value`` (a :class:`DataParallel`, or None for one process) the distribution ``fit`` uses."""
    global _CURRENT
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution expects a DataParallel distribution or None, got {value!r}.")
    _CURRENT = value
    if value is not None:
        value.install_abort_hook()


def get_distribution():
    """The current distribution (None when training runs in one process)."""
    return _CURRENT


def active():
    """The current distribution when it spans several processes, else None."""
    return _CURRENT if _CURRENT is not None and _CURRENT.parallel else None


def is_chief() -> bool:
    """True unless this process is a rank other than 0 of a data-parallel job (the one that prints and writes)."""
    current = active()
    return current is None or current.is_chief


class ShardedGenerator:
    """A random generator that draws batch-shaped samples for the whole global batch and keeps this rank's rows.

    Wraps a layer's NumPy generator during data-parallel training: a draw whose first axis is
    this rank's batch size is made at the global batch size and sliced, so every rank's
    stream advances as one process's does and the rows it keeps are the ones a one-process
    run would give its samples. Draws of any other shape pass through unchanged.
    """

    def __init__(self, generator, batch):
        self._generator = generator
        self._count, self._start, self._stop = batch

    def _draw(self, method, shape_name, args, kwargs):
        shape = kwargs.get(shape_name, args[0] if args and method in ("random", "standard_normal") else None)
        local = self._stop - self._start
        if shape is None:
            return getattr(self._generator, method)(*args, **kwargs)
        dims = (shape,) if np.isscalar(shape) else tuple(shape)
        if not dims or dims[0] != local:
            return getattr(self._generator, method)(*args, **kwargs)
        full = (self._count,) + dims[1:]
        if shape_name in kwargs:
            kwargs = dict(kwargs, **{shape_name: full})
        else:
            args = (full,) + tuple(args[1:])
        return getattr(self._generator, method)(*args, **kwargs)[self._start:self._stop]

    def random(self, *args, **kwargs):
        return self._draw("random", "size", args, kwargs)

    def standard_normal(self, *args, **kwargs):
        return self._draw("standard_normal", "size", args, kwargs)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._draw("uniform", "size", (), {"low": low, "high": high, "size": size})

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self._draw("normal", "size", (), {"loc": loc, "scale": scale, "size": size})

    def integers(self, low, high=None, size=None, **kwargs):
        return self._draw("integers", "size", (), dict(kwargs, low=low, high=high, size=size))

    def __getattr__(self, name):
        return getattr(self._generator, name)


def layer_generator(generator):
    """``generator``, or its :class:`ShardedGenerator` while a data-parallel training batch runs."""
    current = active()
    if current is None or current.batch is None:
        return generator
    return ShardedGenerator(generator, current.batch)


def warn_skipped_batch(count, size) -> None:
    """The warning for a global batch with fewer samples than ranks (skipped on every rank)."""
    warnings.warn(f"a batch of {count} samples cannot be split between {size} ranks; it is skipped on every rank "
                  "(choose a batch size and data size with at least one sample per rank).", stacklevel=3)
