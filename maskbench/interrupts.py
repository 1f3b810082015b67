"""Ctrl-C in long commands: finish the write in hand, then stop with a note of what is kept.

Every long command (``extract``, ``build-testset``, ``score``, ``train``) writes its outputs
atomically (:func:`maskbench.files.atomic_path`), and every atomic write runs inside
:func:`finish_before_interrupt`: a Ctrl-C that arrives during the write is held until the
file is complete and renamed into place, then raised. A second Ctrl-C interrupts at once
(for a write that hangs). Commands that know what they kept raise :class:`Interrupted`; the
command line prints its one line and exits with status 130 (128 + SIGINT, as shells report
it).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Interrupted(KeyboardInterrupt):
    """Ctrl-C after the work in hand was saved.

    Parameters
    ----------
    kept : str
        What is saved, as a clause (``"results of 32 of 36 pairs in results/"``).
    resume_arguments : list of str, optional
        Arguments of the same command that continue the work (``["--out", "run", "--resume"]``);
        None: running the same command again continues it.
    """

    def __init__(self, kept: str, *, resume_arguments: list[str] | None = None) -> None:
        super().__init__(kept)
        self.kept = kept
        self.resume_arguments = resume_arguments


@contextlib.contextmanager
def interrupt_requested() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C into a flag that the caller polls; a second one interrupts at once.

    Outside the main thread (where Python cannot install signal handlers) the flag is never set
    and Ctrl-C behaves as usual.

    Yields
    ------
    threading.Event
        Set by the first Ctrl-C during the block; the previous SIGINT handler is back after the
        block (and after that first Ctrl-C).
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        """Set the flag and put the previous handler back, so that a second Ctrl-C interrupts.

        Parameters
        ----------
        signum : int
            ``signal.SIGINT``.
        frame : frame or None
            The interrupted stack frame (unused).
        """
        requested.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def finish_before_interrupt() -> Iterator[None]:
    """Hold a Ctrl-C until the block has finished, then raise :class:`KeyboardInterrupt`."""
    with interrupt_requested() as requested:
        yield
    if requested.is_set():
        raise KeyboardInterrupt
