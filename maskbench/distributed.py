"""One command on several cooperating processes: the ranks of a ``torchrun`` job.

Under ``torchrun --nproc-per-node N -m maskbench COMMAND ...`` every process runs the same
command. :func:`launched_ranks` reads where a process stands from the variables torchrun
sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); :func:`join_job` opens the process group once per
process (NCCL on CUDA with gloo beside it for Python objects, gloo on the CPU) and
:func:`rank_device` gives each rank its own GPU. The commands then cooperate:

* work is split round-robin (:meth:`Ranks.share`, :func:`gather_in_order`);
* only rank 0 writes shared outputs; what it prepares reaches the others, or its error does,
  through :func:`on_main`;
* training wraps the network for DistributedDataParallel (:func:`wrap_for_ranks`) and feeds
  each rank its slice of every global batch (:class:`RankSlice`).

Failure policy
--------------
A rank that raises ends its process; torchrun's agent sees the exit and stops the other
ranks within a second, so the job ends with that rank's one-line error (exit status 2 for a
user mistake) instead of hanging in a collective. Errors found by rank 0 alone while it
prepares the outputs are sent to every rank, which all stop with the same line. A rank that
hangs without exiting (a dead file system, a stuck GPU), or a dead one without torchrun's
agent (``srun`` starting the ranks itself), is caught by the collectives' timeout,
:data:`TIMEOUT_VARIABLE` seconds (default :data:`DEFAULT_TIMEOUT_S`, 30 min, torch's own
default for gloo): longer than the waits that are part of the work (a training step waits
while rank 0 writes a checkpoint; a round of ``extract`` waits for the slowest video of the
round — raise it for videos that take longer to extract), short enough to give a cluster
allocation back the same hour. Reruns resume exactly as one-process runs do, with any
number of ranks.

SLURM job arrays, the other way to use a cluster (independent tasks, separate outputs, merged
afterwards), need none of this: see :mod:`maskbench.slurm`.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from flow.device import resolve_device
from maskbench.errors import ConfigError, MaskbenchError

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

#: Environment variable with the timeout of collectives, in seconds.
TIMEOUT_VARIABLE = "MASKBENCH_DIST_TIMEOUT"
#: Default timeout of collectives, seconds.
DEFAULT_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in its job.

    Attributes
    ----------
    rank : int
        0 … size − 1; rank 0 writes the shared outputs.
    size : int
        Number of processes (torchrun's world size); 1 without torchrun.
    local_rank : int
        Rank on this machine: the index of this process's GPU.
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the shared outputs (rank 0).

        Returns
        -------
        bool
            True on rank 0.
        """
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process.

        Returns
        -------
        bool
            True when ``size`` > 1.
        """
        return self.size > 1

    def share(self, items: Sequence[ItemT]) -> list[ItemT]:
        """The items of this rank: positions ``rank, rank + size, ...`` (every rank gets the same mix).

        Parameters
        ----------
        items : sequence
            The work, the same on every rank.

        Returns
        -------
        list
            ``items[rank::size]``, in input order; the ranks' lists partition ``items``.
        """
        return list(items[self.rank :: self.size])


def launched_ranks(environ: Mapping[str, str] | None = None) -> Ranks:
    """The ranks torchrun announced in ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; one process when unset.

    Parameters
    ----------
    environ : mapping of str to str, optional
        The environment to read; ``None``: ``os.environ``.

    Returns
    -------
    Ranks
        ``Ranks()`` (rank 0 of 1) when ``WORLD_SIZE`` is unset.

    Raises
    ------
    ConfigError
        Values that are not integers with 0 ≤ RANK < WORLD_SIZE.
    """
    environ = os.environ if environ is None else environ
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    if "WORLD_SIZE" not in environ:
        return Ranks()
    try:
        rank, size, local_rank = (int(environ.get(name, "0")) for name in names)
    except ValueError:
        found = ", ".join(f"{name}={environ.get(name)!r}" for name in names)
        raise ConfigError(f"torchrun's variables must be integers, got {found}") from None
    if not 0 <= rank < size or local_rank < 0:
        raise ConfigError(
            f"need 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0, "
            f"got RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local_rank}"
        )
    return Ranks(rank, size, local_rank)


def quiet_rank() -> bool:
    """Whether this process is a rank other than 0 (it shows no progress bars).

    Returns
    -------
    bool
        False without torchrun.
    """
    return not launched_ranks().main


def collective_timeout(environ: Mapping[str, str] | None = None) -> timedelta:
    """How long a rank waits in a collective for the others (:data:`TIMEOUT_VARIABLE`, seconds).

    Parameters
    ----------
    environ : mapping of str to str, optional
        The environment to read; ``None``: ``os.environ``.

    Returns
    -------
    datetime.timedelta
        :data:`DEFAULT_TIMEOUT_S` when the variable is unset.

    Raises
    ------
    ConfigError
        The variable is not a positive number.
    """
    text = (os.environ if environ is None else environ).get(TIMEOUT_VARIABLE, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"{TIMEOUT_VARIABLE} must be a positive number of seconds, got {text!r}")
    return timedelta(seconds=seconds)


def rank_device(device: str | torch.device | None, ranks: Ranks) -> torch.device:
    """The torch device of this rank: ``device`` resolved, and on CUDA without an index, GPU ``local_rank``.

    Parameters
    ----------
    device : str or torch.device or None
        As ``--device`` takes it (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...); ``None``: CUDA
        when present, else the CPU (:func:`flow.device.resolve_device`).
    ranks : Ranks
        This process's place in its job.

    Returns
    -------
    torch.device
        With a GPU index of its own per rank on a machine's GPUs (``local_rank`` modulo
        their number) when the job has several ranks.

    Raises
    ------
    ConfigError
        CUDA asked for but absent.
    """
    try:
        resolved = resolve_device(device)
    except (ValueError, RuntimeError) as error:
        raise ConfigError(f"--device: {error}") from None
    if resolved.type == "cuda" and resolved.index is None and ranks.distributed:
        return torch.device("cuda", ranks.local_rank % torch.cuda.device_count())
    return resolved


def join_job() -> Ranks:
    """The place of this process in its job; under torchrun, joins the job's process group first.

    The group is opened once per process (later calls reuse it) and closed when the process
    exits. Its backend is NCCL for CUDA tensors with gloo beside it for CPU tensors and Python
    objects, or gloo alone on a machine without CUDA. Collectives give up after
    :func:`collective_timeout`.

    Returns
    -------
    Ranks
        As :func:`launched_ranks` reads them.
    """
    ranks = launched_ranks()
    if ranks.distributed and not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(ranks.local_rank % torch.cuda.device_count())
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=collective_timeout())
        atexit.register(_leave_job)
    return ranks


def _leave_job() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def on_main(function: Callable[[], ResultT], ranks: Ranks) -> ResultT:
    """Run ``function`` on rank 0 only; every rank gets its result, or raises its :class:`MaskbenchError`.

    Parameters
    ----------
    function : callable
        Takes no arguments; its result must be picklable. Other exceptions than
        :class:`MaskbenchError` end rank 0, and with it the job.
    ranks : Ranks
        This process's place in its job.

    Returns
    -------
    object
        ``function()``'s result, the same on every rank.

    Raises
    ------
    MaskbenchError
        The one ``function`` raised on rank 0, raised on every rank.
    """
    if not ranks.distributed:
        return function()
    outcome: list[Any] = [None]
    if ranks.main:
        try:
            outcome = [(True, function())]
        except MaskbenchError as error:
            outcome = [(False, error)]
    dist.broadcast_object_list(outcome, src=0)
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def wait_for_all(ranks: Ranks) -> None:
    """Return when every rank has arrived here.

    Parameters
    ----------
    ranks : Ranks
        This process's place in its job; one process returns at once.
    """
    if ranks.distributed:
        dist.barrier()


def gather_to_main(value: ResultT, ranks: Ranks) -> list[ResultT]:
    """Every rank's ``value``, in rank order, on rank 0 (an empty list on the others).

    Parameters
    ----------
    value : object
        This rank's contribution; picklable.
    ranks : Ranks
        This process's place in its job.

    Returns
    -------
    list
        ``size`` values on rank 0, ``[value]`` in one process, ``[]`` on the other ranks.
    """
    if not ranks.distributed:
        return [value]
    gathered: list[Any] = [None] * ranks.size
    dist.gather_object(value, gathered if ranks.main else None, dst=0)
    return gathered if ranks.main else []


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """Whether ``flag`` is true on some rank (all ranks get the same answer).

    Parameters
    ----------
    flag : bool
        This rank's flag.
    ranks : Ranks
        This process's place in its job.

    Returns
    -------
    bool
        The logical or of the flags of all ranks.
    """
    if not ranks.distributed:
        return flag
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean_over_ranks(values: Mapping[str, float], ranks: Ranks) -> dict[str, float]:
    """The mean of each value over the ranks (every rank must give the same keys).

    Parameters
    ----------
    values : mapping of str to float
        This rank's values, e.g. its loss terms.
    ranks : Ranks
        This process's place in its job.

    Returns
    -------
    dict of str to float
        The same keys; each value averaged over the ranks (in float64).
    """
    if not ranks.distributed or not values:
        return dict(values)
    names = sorted(values)
    summed = torch.tensor([values[name] for name in names], dtype=torch.float64)
    dist.all_reduce(summed)
    return {name: float(total) / ranks.size for name, total in zip(names, summed, strict=True)}


def gather_in_order(
    items: Sequence[ItemT], compute: Callable[[Sequence[ItemT]], Iterable[ResultT]], *, ranks: Ranks, per_rank: int = 1
) -> Iterator[ResultT]:
    """Results of ``compute`` over all items, computed by all ranks, yielded in item order on rank 0.

    Parameters
    ----------
    items : sequence
        The work, the same on every rank.
    compute : callable
        Maps a list of items to their results, in order (may use a process pool).
    ranks : Ranks
        This process's place in its job.
    per_rank : int
        Items each rank computes per round.

    Yields
    ------
    object
        On rank 0, the results of all items, in the order of ``items``; nothing on the
        other ranks.

    Notes
    -----
    The items go in rounds of ``size · per_rank``; rank r computes positions r, r + size, ...
    of a round (so over the whole run it has ``items[r::size]``), then rank 0 collects the
    round and yields it in order. Other ranks yield nothing. One process: ``compute(items)``.
    """
    if not ranks.distributed:
        yield from compute(items)
        return
    round_size = ranks.size * max(1, per_rank)
    for start in range(0, len(items), round_size):
        chunk = items[start : start + round_size]
        gathered = gather_to_main(list(compute(ranks.share(chunk))), ranks)
        for position in range(len(chunk) if ranks.main else 0):
            yield gathered[position % ranks.size][position // ranks.size]


# -- training -----------------------------------------------------------------------------


def rank_batch_size(global_batch: int, ranks: Ranks) -> int:
    """Images per step on each rank: ``global_batch`` ÷ ranks, refused unless it divides.

    Parameters
    ----------
    global_batch : int
        Images per optimiser step over the whole job (``batch_size`` of the training config).
    ranks : Ranks
        This process's place in its job.

    Returns
    -------
    int
        ``global_batch // size``.

    Raises
    ------
    ConfigError
        ``global_batch`` is not a multiple of the number of ranks.
    """
    if global_batch % ranks.size:
        raise ConfigError(
            f"batch_size {global_batch} (the global batch) cannot be split evenly over {ranks.size} processes; "
            f"use a batch size that is a multiple of {ranks.size}, or another --nproc-per-node"
        )
    return global_batch // ranks.size


def wrap_for_ranks(model: nn.Module, device: torch.device, ranks: Ranks) -> nn.Module:
    """``model`` ready for training on every rank: DistributedDataParallel, BatchNorm synchronised on CUDA.

    On CUDA the BatchNorm layers become :class:`torch.nn.SyncBatchNorm`, so their statistics
    are those of the global batch, as in a one-process run (and a resume with another number
    of GPUs trains the same network). On the CPU, where SyncBatchNorm does not run, each rank
    normalises over its own part of the batch. One process: ``model`` unchanged.

    Parameters
    ----------
    model : torch.nn.Module
        The network, already on ``device``.
    device : torch.device
        This rank's device (:func:`rank_device`).
    ranks : Ranks
        This process's place in its job.

    Returns
    -------
    torch.nn.Module
        The wrapped network (``model`` itself in one process); :func:`unwrapped` gives the
        network back.
    """
    if not ranks.distributed:
        return model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return nn.parallel.DistributedDataParallel(model)


def unwrapped(model: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (``model`` itself otherwise).

    Parameters
    ----------
    model : torch.nn.Module
        A network, wrapped by :func:`wrap_for_ranks` or not.

    Returns
    -------
    torch.nn.Module
        The network whose state dict a checkpoint holds.
    """
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class RankSlice(Sampler[ItemT]):
    """The part of each global batch of another sampler that this rank takes.

    The base sampler yields the items of the whole job, ``global_batch`` per step; rank r
    takes positions ``r·b … r·b + b − 1`` of each step (b = ``global_batch`` ÷ size), so the
    ranks' batches of a step together are exactly the one-process batch of that step.

    Parameters
    ----------
    base : torch.utils.data.Sampler
        The sampler of the whole job; must have a length.
    global_batch : int
        Items per step over all ranks; a multiple of the number of ranks.
    ranks : Ranks
        This process's place in its job.

    Raises
    ------
    ConfigError
        ``global_batch`` is not a multiple of the number of ranks (:func:`rank_batch_size`).
    """

    def __init__(self, base: Sampler[ItemT], *, global_batch: int, ranks: Ranks) -> None:
        self.base = base
        self.global_batch = global_batch
        self.ranks = ranks
        self.rank_batch = rank_batch_size(global_batch, ranks)

    def __len__(self) -> int:
        # why the type ignore: Sampler declares no __len__; the samplers given here have one
        steps, rest = divmod(len(self.base), self.global_batch)  # type: ignore[arg-type]
        return steps * self.rank_batch + min(self.rank_batch, max(0, rest - self.ranks.rank * self.rank_batch))

    def __iter__(self) -> Iterator[ItemT]:
        first = self.ranks.rank * self.rank_batch
        for position, item in enumerate(self.base):
            if first <= position % self.global_batch < first + self.rank_batch:
                yield item
