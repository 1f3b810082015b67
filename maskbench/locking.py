"""An exclusive lock on a file, shared by every process that writes one output folder.

Two processes that append to one mask store (two ``extract`` runs, or ranks of one job) must
not both take the next shard number, nor both store a video that neither had finished.
:func:`file_lock` holds an advisory ``fcntl.flock`` lock on a lock file for the length of a
``with`` block: the check "is it done already?" and the write that follows happen as one
step. ``flock`` works on local file systems and on NFS (Linux emulates it with POSIX locks);
Lustre needs the ``flock`` mount option.

The lock is re-entrant within a process (a function holding it may call another that takes
it), exclusive between threads and between processes. Where the file system cannot lock,
one :class:`~maskbench.errors.MaskbenchWarning` says so and the block runs unlocked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from maskbench.errors import MaskbenchWarning

#: ``errno`` values of a file system that does not support locks.
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


class _ProcessLock:
    """The lock of one file in this process: a thread lock, and the flock held by the outermost holder."""

    def __init__(self) -> None:
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.handle: IO[bytes] | None = None
        self.pid = os.getpid()


_registry: dict[Path, _ProcessLock] = {}
_registry_guard = threading.Lock()
_warned: set[Path] = set()


def _process_lock(path: Path) -> _ProcessLock:
    """The lock of ``path`` in this process (a fresh one in a forked child: locks are not inherited)."""
    with _registry_guard:
        lock = _registry.get(path)
        if lock is None or lock.pid != os.getpid():
            lock = _registry[path] = _ProcessLock()
        return lock


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created when missing) for the ``with`` block.

    Parameters
    ----------
    path : path-like
        The lock file, e.g. ``STORE/store.lock``; its folder must exist. Its content is
        never read.

    Notes
    -----
    Blocks until the lock is free. A process that dies releases its lock (the kernel closes
    the file), so a crashed writer never leaves a store locked.
    """
    resolved = Path(path).resolve()
    lock = _process_lock(resolved)
    with lock.thread_lock:
        if lock.depth == 0:
            lock.handle = _acquire(resolved)
        lock.depth += 1
        try:
            yield
        finally:
            lock.depth -= 1
            if lock.depth == 0 and lock.handle is not None:
                lock.handle.close()  # closing the file releases the flock
                lock.handle = None


def _acquire(path: Path) -> IO[bytes] | None:
    """Open ``path`` and take its flock; None (after one warning) where the file system has no locks."""
    handle = open(path, "ab")  # noqa: SIM115 - kept open while the lock is held
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    except OSError as error:
        handle.close()
        if error.errno not in _NO_LOCKS:
            raise
        if path not in _warned:
            _warned.add(path)
            warnings.warn(
                f"the file system of {path.parent} cannot lock files ({os.strerror(error.errno)}); "
                "two processes writing there at once are not kept apart",
                MaskbenchWarning,
                stacklevel=4,
            )
        return None
    return handle
