"""Worker pools, batches and shards: how maskbench splits work, in one place.

This is the only module of ours that creates a process pool (DataLoader workers and torchrun
are the libraries' own). Results never depend on the number of workers: each item carries
everything it needs (including its own seed, see :mod:`maskbench.rng`), and results come
back in input order. A :class:`Shard` is the part of a job array one process does.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.pool import Pool
from types import TracebackType
from typing import NamedTuple, TypeVar

import cv2

from maskbench.errors import ConfigError
from maskbench.progress import progress
from maskbench.slurm import slurm_array_shard

# mallopt parameters of glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


def init_worker() -> None:
    """Make a pool worker a good one-core citizen.

    * Ctrl-C is left to the main process, which stops the pool and says what is kept
      (:mod:`maskbench.interrupts`); workers print no tracebacks of their own.
    * OpenCV's own threads are turned off: the pool already runs one process per core, and
      extra threads only compete for the same cores.
    * glibc returns freed memory to the system and maps large arrays afresh by default, so a
      loop that allocates the same few MiB arrays again and again page-faults on every one
      (in ``build-testset`` a third of the CPU time went to the kernel). Large blocks are
      kept in the heap instead (at most 64 MiB held back per worker). Skipped off glibc.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, 16 * 2**20)
        mallopt(_M_TRIM_THRESHOLD, 64 * 2**20)


class WorkerPool:
    """Map functions over items in this process or in one pool of processes kept open.

    Use it as a context manager; the pool starts on the first :meth:`map` with more than one
    worker and is stopped on exit (terminated, so that Ctrl-C never waits for queued work).

    Parameters
    ----------
    workers : int
        0 or 1 runs in this process; more starts that many processes (``forkserver``, so that
        no threads or CUDA state are inherited).
    one_core : bool
        Start each worker with :func:`init_worker` (one OpenCV thread, Ctrl-C left to the
        main process, large arrays kept in the heap). False for workers that choose their own
        threads, e.g. the flow of ``extract``.
    """

    def __init__(self, workers: int, *, one_core: bool = True) -> None:
        self.workers = workers
        self.one_core = one_core
        self._pool: Pool | None = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def map(
        self, function: Callable[[ItemT], ResultT], items: Sequence[ItemT], *, chunksize: int = 1
    ) -> Iterator[ResultT]:
        """``function(item)`` for every item, lazily and in input order.

        Parameters
        ----------
        function : callable
            A picklable, module-level function (or a ``functools.partial`` of one).
        items : sequence
            Its inputs.
        chunksize : int
            Items handed to a worker at a time.

        Returns
        -------
        iterator
            The results, in the order of ``items``.
        """
        if self.workers <= 1:
            return map(function, items)
        if self._pool is None:
            self._pool = self._start(function)
        return self._pool.imap(function, items, chunksize=chunksize)

    def _start(self, function: Callable) -> Pool:
        context = multiprocessing.get_context("forkserver")
        # import the function's module once in the fork server, not again in every worker
        # (only takes effect when this process has not started its fork server yet)
        module = getattr(getattr(function, "func", function), "__module__", None)
        if module and module != "__main__":
            context.set_forkserver_preload([module])
        return context.Pool(processes=self.workers, initializer=init_worker if self.one_core else None)

    def close(self) -> None:
        """Stop the pool's processes (nothing if none were started)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


def map_ordered(
    function: Callable[[ItemT], ResultT],
    items: Sequence[ItemT],
    *,
    workers: int,
    desc: str,
    unit: str,
    chunksize: int = 4,
) -> Iterator[ResultT]:
    """Yield ``function(item)`` for every item, in order, with a progress bar.

    Parameters
    ----------
    function : callable
        A picklable, module-level function.
    items : sequence
        Its inputs.
    workers : int
        0 or 1 runs in this process; more uses a :class:`WorkerPool` of that many processes.
    desc, unit : str
        Progress bar label and unit name.
    chunksize : int
        Items handed to a worker at a time.

    Yields
    ------
    object
        The results, in the order of ``items``.
    """
    with WorkerPool(workers) as pool:
        yield from progress(pool.map(function, items, chunksize=chunksize), total=len(items), desc=desc, unit=unit)


def batches(items: Iterable[ItemT], size: int) -> Iterator[list[ItemT]]:
    """Consecutive lists of ``size`` items (the last one may be shorter).

    Parameters
    ----------
    items : iterable
        Any items; consumed lazily.
    size : int
        Items per batch, at least 1.

    Yields
    ------
    list
        The batches, in order.
    """
    batch: list[ItemT] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Shard(NamedTuple):
    """Part ``index`` of ``count`` (1 ≤ index ≤ count) of a job split over a job array.

    A plain ``(index, count)`` tuple; ``Shard(1, 1)`` is all of the work.
    """

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """``"K/N"`` (1 ≤ K ≤ N) → ``Shard(K, N)``.

        Parameters
        ----------
        text : str or None
            ``"K/N"``; ``None`` or ``"1/1"`` for all of the work; ``"auto"`` for this task's
            place in a SLURM job array (:func:`maskbench.slurm.slurm_array_shard`).

        Returns
        -------
        Shard

        Raises
        ------
        ConfigError
            For anything else, or K outside 1 … N.
        """
        if text is None:
            return cls(1, 1)
        if text.strip() == "auto":
            return cls(*slurm_array_shard())
        parts = text.split("/")
        if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
            raise ConfigError(f"--shard must look like K/N (e.g. 3/8), got {text!r}")
        index, count = int(parts[0]), int(parts[1])
        if not 1 <= index <= count:
            raise ConfigError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
        return cls(index, count)

    def select(self, items: Sequence[ItemT], position: Callable[[int, ItemT], int] | None = None) -> list[ItemT]:
        """The items of this shard: those whose position q has q mod count = index − 1.

        Parameters
        ----------
        items : sequence
            All items, in the order every shard agrees on.
        position : callable, optional
            ``position(i, item)`` → the item's position q; by default its index i in ``items``.

        Returns
        -------
        list
            This shard's items, in input order; the ``count`` shards partition ``items``.
        """
        place = position or (lambda number, _item: number)
        return [item for number, item in enumerate(items) if place(number, item) % self.count == self.index - 1]
