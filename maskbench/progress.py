"""Progress bars: one house style for every long command.

Bars go to stderr (tqdm) with items per second, and only the main process of a torchrun job
shows them, so N ranks do not print N bars.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

from maskbench.distributed import quiet_rank

ItemT = TypeVar("ItemT")
#: The type of a bar from :func:`progress_bar` (for annotations of functions that advance one).
ProgressBar = tqdm


def progress_bar(*, total: int | None, desc: str, unit: str, enabled: bool = True) -> ProgressBar:
    """A tqdm bar to advance by hand with ``bar.update(n)``; use it as a context manager.

    Parameters
    ----------
    total : int or None
        Number of units of the whole job (None: unknown, no percentage).
    desc, unit : str
        Label in front of the bar, and the name of one unit (``"frame"``, ``"pair"``).
    enabled : bool
        False hides the bar; it is always hidden on ranks other than 0.

    Returns
    -------
    tqdm.tqdm
        The bar (a no-op when hidden).
    """
    disable = not enabled or quiet_rank()
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, smoothing=0.1, disable=disable)


def progress(
    iterable: Iterable[ItemT], *, total: int | None, desc: str, unit: str, enabled: bool = True
) -> Iterator[ItemT]:
    """Iterate ``iterable`` with a progress bar that advances one unit per item.

    Parameters
    ----------
    iterable : iterable
        The items, passed through unchanged.
    total : int or None
        Number of items (None: unknown, no percentage), as in :func:`progress_bar`.
    desc, unit : str
        Label in front of the bar, and the name of one item (``"frame"``, ``"pair"``).
    enabled : bool
        False hides the bar; it is always hidden on ranks other than 0.

    Yields
    ------
    object
        The items of ``iterable``, in order.
    """
    bar = progress_bar(total=total, desc=desc, unit=unit, enabled=enabled)
    with bar:
        for item in iterable:
            yield item
            bar.update(1)
