"""What made a store or a split: the maskbench version and the full configuration.

New defaults must never silently change a cited split. Every video that ``extract`` appends
to a store records :func:`provenance` of its run (in the store shard), and every split's
``meta.json`` records the version and the configuration of its build. When a later run
continues a store or rebuilds a split with another version or configuration,
:func:`difference_note` says so in one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from maskbench import __version__
from maskbench.config import config_as_dict

#: Settings that change how fast or where a run goes (which device, which shard, whether it
#: may join a store of another method), never what it writes.
RUN_ONLY_KEYS: frozenset[str] = frozenset(
    {"workers", "batch_size", "threads", "device", "shard", "allow_mixed_methods"}
)


def provenance(config: Any) -> dict[str, Any]:
    """The provenance record of a run: maskbench's version and its configuration.

    Parameters
    ----------
    config : dataclass
        The run's configuration dataclass (e.g. :class:`~maskbench.testset_config.TestsetConfig`).

    Returns
    -------
    dict
        ``{"maskbench": version, "config": {key: value}}``: the version string and every
        field of ``config`` as :func:`maskbench.config.config_as_dict` gives it (JSON-ready),
        without :data:`RUN_ONLY_KEYS`.
    """
    settings = {key: value for key, value in config_as_dict(config).items() if key not in RUN_ONLY_KEYS}
    return {"maskbench": __version__, "config": settings}


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Names that differ between two :func:`provenance` records.

    Parameters
    ----------
    recorded : dict
        The record of an earlier run.
    current : dict
        The record of this run.

    Returns
    -------
    list of str
        ``"maskbench"`` first when the versions differ, then the configuration keys whose
        values differ (sorted; a key missing on one side differs; :data:`RUN_ONLY_KEYS` never
        count). Empty when the records agree.
    """
    changed = ["maskbench"] if recorded.get("maskbench") != current.get("maskbench") else []
    old, new = recorded.get("config", {}), current.get("config", {})
    keys = sorted((set(old) | set(new)) - RUN_ONLY_KEYS)
    return changed + [key for key in keys if old.get(key) != new.get(key)]


def difference_note(what: str, recorded: Iterable[dict[str, Any]], current: dict[str, Any]) -> str | None:
    """One line when any recorded provenance differs from the current one, else None.

    Parameters
    ----------
    what : str
        What the records belong to, e.g. ``"the store raw.store"``.
    recorded : iterable of dict
        :func:`provenance` records of earlier runs.
    current : dict
        The current run's record.

    Returns
    -------
    str or None
        E.g. ``"note: the split split/ was made by maskbench 0.1.0 with other settings
        (maskbench, close_radius); this run uses maskbench 0.2.0 and the current settings"``.
    """
    changed: list[str] = []
    versions: set[str] = set()
    for record in recorded:
        for name in differences(record, current):
            if name not in changed:
                changed.append(name)
        versions.add(str(record.get("maskbench", "an unknown version")))
    if not changed:
        return None
    made = ", ".join(sorted(versions))
    return (
        f"note: {what} was made by maskbench {made} with other settings ({', '.join(changed)}); "
        f"this run uses maskbench {current['maskbench']} and the current settings"
    )
