"""The record of a training run, ``RUN/run.json``, and the settings a resume may change.

``run.json`` holds what a run *is*: architecture, model options, data paths and the whole
configuration it trains with (``steps`` is the step it was asked to reach, updated by every
call), plus the step and phase it has reached. ``--resume`` and ``--finetune`` continue with
exactly these settings; a user may change only the keys of :data:`CHANGEABLE_ON_RESUME`,
which decide how the work is carried out (workers, checkpoint cadence, the VGG-16 file's
location, where to stop), never what the network learns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from maskbench.errors import ConfigError, InputError
from maskbench.files import write_text_atomic

#: File name of the record in a run folder.
RUN_RECORD = "run.json"
#: Configuration keys a resumed run may change; every other key must keep its recorded value.
CHANGEABLE_ON_RESUME: frozenset[str] = frozenset(
    {
        "workers",
        "vgg16_weights",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "sample_every",
        "sample_count",
        "steps",
        "finetune_steps",
    }
)


def read_run_record(run: str | Path) -> dict[str, Any]:
    """The record of a run folder.

    Parameters
    ----------
    run : path-like
        The run folder.

    Returns
    -------
    dict
        ``RUN/run.json`` as read: as written, ``arch``, ``model_config``, ``images``,
        ``masks``, ``config``, ``step``, ``phase`` and ``world_size``; only ``config`` (a
        dict) is checked here.

    Raises
    ------
    InputError
        When ``run.json`` is missing or is not a JSON object with a ``config``.
    """
    path = Path(run) / RUN_RECORD
    if not path.is_file():
        raise InputError(f"{run} has no {RUN_RECORD} to continue from; start a new run without --resume/--finetune")
    try:
        record = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not valid JSON ({error}); the run folder is damaged") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise InputError(f"{path} does not record the run's configuration; the run folder is damaged")
    return record


def write_run_record(run: str | Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` atomically.

    Parameters
    ----------
    run : path-like
        The run folder; it must exist.
    record : dict
        JSON-serialisable values (see :func:`maskbench.training_run.record_run`); written
        indented by 2, with a final newline.
    """
    write_text_atomic(Path(run) / RUN_RECORD, json.dumps(record, indent=2) + "\n")


def _same(recorded: Any, requested: Any) -> bool:
    """Equal as JSON values (tuples and lists alike, 1 and 1.0 alike)."""
    return json.loads(json.dumps(recorded)) == json.loads(json.dumps(requested))


def refuse_changed_settings(recorded: dict[str, Any], requested: dict[str, Any], *, run: str | Path) -> None:
    """Raise :class:`ConfigError` when ``requested`` changes a recorded key that a resume must keep.

    Parameters
    ----------
    recorded : dict
        The run's configuration (``run.json``'s ``config``).
    requested : dict
        Keys the user asks for (a ``--config`` file, command-line options, or a whole config).
    run : path-like
        The run folder, for the message.

    Raises
    ------
    ConfigError
        Listing every changed key with its recorded and requested values.
    """
    changed = [
        f"{key} {recorded[key]!r} -> {value!r}"
        for key, value in requested.items()
        if key in recorded and key not in CHANGEABLE_ON_RESUME and not _same(recorded[key], value)
    ]
    if changed:
        raise ConfigError(
            f"run {run} keeps the settings it was started with, but this call changes {'; '.join(changed)}; "
            "drop those options/keys to continue it, or start a new run with another --out"
        )
