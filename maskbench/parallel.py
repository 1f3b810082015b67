"""Running a function over items in worker processes, results in input order, with progress.

Results never depend on the number of workers: each item carries everything it needs
(including its own seed, see :mod:`maskbench.rng`), and results come back in input order.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import cv2
from tqdm.auto import tqdm

from maskbench.errors import ConfigError
from maskbench.slurm import slurm_array_shard

# mallopt parameters of glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


def progress(iterable: Iterable[ItemT], *, total: int | None, desc: str, unit: str) -> Iterator[ItemT]:
    """A tqdm progress bar on stderr with items/s, the house style for long commands."""
    return iter(tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, smoothing=0.1))


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
        0 or 1 runs in this process; more uses a pool of that many processes (started with
        ``forkserver`` so that no threads or CUDA state are inherited).
    desc, unit : str
        Progress bar label and unit name.
    chunksize : int
        Items handed to a worker at a time.
    """
    if workers <= 1:
        yield from progress(map(function, items), total=len(items), desc=desc, unit=unit)
        return
    context = multiprocessing.get_context("forkserver")
    # import the function's module once in the fork server, not again in every worker (only
    # takes effect when this process has not started its fork server yet)
    module = getattr(getattr(function, "func", function), "__module__", None)
    if module and module != "__main__":
        context.set_forkserver_preload([module])
    with context.Pool(processes=workers, initializer=init_worker) as pool:
        results = pool.imap(function, items, chunksize=chunksize)
        yield from progress(results, total=len(items), desc=desc, unit=unit)


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"K/N"`` (1 ≤ K ≤ N) → (K, N), the part of a job array this process does.

    ``None`` → (1, 1), all of the work; ``"auto"`` → this task's place in a SLURM job array
    (:func:`maskbench.slurm.slurm_array_shard`). Raises :class:`ConfigError` for
    anything else.
    """
    if text is None:
        return 1, 1
    if text.strip() == "auto":
        return slurm_array_shard()
    parts = text.split("/")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise ConfigError(f"--shard must look like K/N (e.g. 3/8), got {text!r}")
    index, count = int(parts[0]), int(parts[1])
    if not 1 <= index <= count:
        raise ConfigError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
    return index, count
