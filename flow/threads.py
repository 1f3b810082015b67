"""How many CPU threads the flow computations should use, given what else runs on the machine.

Torch's CPU operations split every tensor operation over a pool of threads that wait for
each other at the end of the operation. When other processes keep some cores busy, the
threads that land on a busy core are descheduled and every other thread waits for them, so
TV-L1 with one thread per core ran about 10× slower on a 2-core machine with one busy core
(``bench/optical_flow.py --threads-under-load``). With one thread per *free* core it slows only by the
share of the cores that is taken. :func:`free_cores` counts those cores and
:func:`cpu_threads` sets torch's and OpenCV's thread counts for a block of code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import torch

_PROC_STAT = Path("/proc/stat")
#: How long :func:`busy_cores` watches the CPU counters, seconds.
SAMPLE_SECONDS = 0.25


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it), at least 1.

    Returns
    -------
    int
        ≥ 1; where there is no affinity (macOS, Windows), :func:`os.cpu_count`.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def busy_cores(*, sample_seconds: float = SAMPLE_SECONDS) -> float:
    """How many cores are busy now, ≥ 0 (call it before starting work: it counts this process too).

    On Linux: the busy share of all CPU time during ``sample_seconds`` (from ``/proc/stat``)
    times the number of CPUs, so a load that started a moment ago counts. Elsewhere: the
    1-minute load average (:func:`os.getloadavg`), or 0 where there is none (Windows).

    Parameters
    ----------
    sample_seconds : float
        How long to watch the counters on Linux, seconds (the call sleeps that long).

    Returns
    -------
    float
        Busy cores, in [0, CPUs] on Linux; the load average (may exceed the CPUs) elsewhere.
    """
    if _PROC_STAT.is_file():
        before, cpus = _cpu_times()
        time.sleep(sample_seconds)
        after, _ = _cpu_times()
        total = sum(after) - sum(before)
        idle = (after[3] + after[4]) - (before[3] + before[4])  # idle + iowait
        return max(0.0, (total - idle) / total) * cpus if total > 0 else 0.0
    try:
        return max(0.0, os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def free_cores(*, busy: float | None = None) -> int:
    """Usable cores minus the busy ones (rounded to the nearest core), at least 1.

    Parameters
    ----------
    busy : float or None
        Cores taken by other work; ``None`` measures it now (:func:`busy_cores`).

    Returns
    -------
    int
        In [1, :func:`usable_cores`].
    """
    taken = busy_cores() if busy is None else busy
    return max(1, usable_cores() - round(taken))


@contextmanager
def cpu_threads(count: int) -> Iterator[int]:
    """Run a block with ``count`` torch intra-op threads and ``count`` OpenCV threads.

    The previous thread counts are restored on exit (also after an exception).

    Parameters
    ----------
    count : int
        Threads, ≥ 1.

    Yields
    ------
    int
        ``count``.

    Raises
    ------
    ValueError
        When ``count`` < 1.
    """
    if count < 1:
        raise ValueError(f"thread count must be at least 1, got {count}")
    torch_before = torch.get_num_threads()
    opencv_before = cv2.getNumThreads()
    torch.set_num_threads(count)
    cv2.setNumThreads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(torch_before)
        cv2.setNumThreads(opencv_before)


def _cpu_times() -> tuple[list[int], int]:
    """The aggregate ``cpu`` line of /proc/stat and the number of CPUs it sums over.

    The line's values are ticks of user, nice, system, idle, iowait, ...; the CPUs are
    counted from the ``cpuN`` lines.
    """
    lines = _PROC_STAT.read_text().splitlines()
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return [int(value) for value in lines[0].split()[1:]], max(1, cpus)
