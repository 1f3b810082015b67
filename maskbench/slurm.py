"""SLURM job arrays: ``--shard auto`` is this array task's part of the work.

A job array (``sbatch --array=0-15 script.sh``) runs the same script as independent tasks;
each learns its place from variables that SLURM sets. ``extract`` and ``score`` turn them into
``--shard K/N`` (:func:`maskbench.parallel.Shard.parse`); each task writes its own output and
``merge-stores`` / ``report`` join them afterwards. (``torchrun`` jobs, whose processes
cooperate on one output, are :mod:`maskbench.distributed`.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from maskbench.errors import ConfigError


def slurm_array_shard(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(K, N)`` of this SLURM array task: its place in the array and the array's size.

    ``K = (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP + 1`` and
    ``N = SLURM_ARRAY_TASK_COUNT``, so ``--array=0-7``, ``1-8`` and ``100-114:2`` all work.

    Parameters
    ----------
    environ : mapping of str to str, optional
        The environment to read; ``None``: ``os.environ``.

    Returns
    -------
    K, N : int
        1 ≤ K ≤ N, as :class:`maskbench.parallel.Shard` takes them.

    Raises
    ------
    ConfigError
        Not in a job array, or an array that is not one evenly spaced range (``--array=1,5,6``).
    """
    environ = os.environ if environ is None else environ
    names = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT")
    missing = [name for name in names if name not in environ]
    if missing:
        raise ConfigError(
            f"--shard auto needs {', '.join(missing)} (set in the tasks of 'sbatch --array'); "
            "outside a job array give --shard K/N"
        )
    try:
        task, first, count = (int(environ[name]) for name in names)
        step = int(environ.get("SLURM_ARRAY_TASK_STEP", "1") or "1")
    except ValueError:
        raise ConfigError(
            f"--shard auto: SLURM's variables are not integers ({', '.join(f'{n}={environ[n]!r}' for n in names)})"
        ) from None
    offset, misaligned = divmod(task - first, step) if step > 0 else (-1, 1)
    last = environ.get("SLURM_ARRAY_TASK_MAX")
    if (
        misaligned
        or not 0 <= offset < count
        or (last is not None and last.isdigit() and int(last) != first + (count - 1) * step)
    ):
        raise ConfigError(
            f"--shard auto: task {task} of an array {first}..{last} of {count} tasks (step {step}) "
            "is not one evenly spaced range; give --shard K/N explicitly"
        )
    return offset + 1, count
