"""Joining mask stores (e.g. the shards of ``extract --shard K/N``) into one, group by group."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from maskbench.errors import InputError
from maskbench.flow_choice import check_merge_methods
from maskbench.packing import PackedHoles
from maskbench.progress import progress
from maskbench.store import MaskStore


@dataclass
class MergeSummary:
    """Outcome of :func:`merge_stores`, printable with :meth:`to_text`.

    Attributes
    ----------
    store : Path
        The output store.
    groups_copied : int
        Groups (e.g. videos) copied.
    masks_copied : int
        Masks copied.
    duplicates : list of (str, Path)
        Groups skipped because the output already held them, and the store they came from.
    ungrouped : int
        Masks copied that belong to no group (not from ``extract``): a second merge would
        copy them again.
    """

    store: Path
    groups_copied: int = 0
    masks_copied: int = 0
    duplicates: list[tuple[str, Path]] = field(default_factory=list)
    ungrouped: int = 0

    def to_text(self) -> str:
        """Multi-line human summary: what was copied, what was skipped as already there.

        Returns
        -------
        str
            Lines without a final line end: the counts, a line per skipped group, and a
            warning when masks without a group were copied.
        """
        lines = [f"merged {self.masks_copied} masks of {self.groups_copied} groups into {self.store}"]
        if self.duplicates:
            lines.append(f"skipped {len(self.duplicates)} groups already in the output:")
            lines += [f"  {group} (from {source})" for group, source in self.duplicates]
        if self.ungrouped:
            lines.append(f"copied {self.ungrouped} masks without a group; merging them again would duplicate them")
        return "\n".join(lines)


def _copy_masks(source: MaskStore, indices: Sequence[int], target: MaskStore, group: str) -> None:
    """Append the masks of ``source`` at global ``indices``, with their records, to ``target`` as one shard."""
    records = [source.record(index) for index in indices]
    holes = PackedHoles()
    for index in indices:
        holes.add(source[index])
    target.append(
        holes,
        sources=[record.source for record in records],
        frames=[record.frame for record in records],
        extras=[record.extra for record in records],
        group=group,
    )


def merge_stores(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    allow_mixed_methods: bool = False,
    show_progress: bool = True,
) -> MergeSummary:
    """Join mask stores (e.g. the shards of ``extract --shard K/N``) into one.

    Masks are copied group by group (one atomic append each, provenance kept), in the order
    the sources are given; a group the output already holds is skipped and listed, so a
    merge can be rerun after an interruption, or to add new shards.

    Parameters
    ----------
    sources : sequence of path-like
        Mask stores to read.
    out : path-like
        Output store; created when missing, appended to when it exists.
    overwrite : bool
        Empty the output store first.
    allow_mixed_methods : bool
        Allow sources (and output) holding videos extracted with different flow methods or
        occlusion tests; refused by default (:class:`~maskbench.errors.MixedMethodsError`).
    show_progress : bool
        Show a progress bar per source on stderr.

    Returns
    -------
    MergeSummary

    Raises
    ------
    InputError
        When a source is not a mask store, or is the output store itself.
    OutputExistsError
        When ``out`` exists and is not a mask store.
    MixedMethodsError
        When the stores hold masks of different methods and ``allow_mixed_methods`` is False.
    """
    target_path = Path(out)
    opened = [MaskStore.open(path) for path in sources]
    for path in sources:
        if target_path.exists() and Path(path).resolve() == target_path.resolve():
            raise InputError(f"the output store {out} is also a source; choose another --out")
    target = MaskStore.open_output(target_path, overwrite=overwrite)
    check_merge_methods([*opened, target], allow_mixed=allow_mixed_methods)
    summary = MergeSummary(target_path)
    present = target.groups()
    for path, source in zip(sources, opened, strict=True):
        records = source.records()
        # groups of masks, then those of videos that gave none (recorded by empty shards)
        groups = list(dict.fromkeys([*records["group"], *sorted(source.groups())]))
        for group in progress(
            groups, total=len(groups), desc=f"merge {Path(path).name}", unit="group", enabled=show_progress
        ):
            if group and group in present:
                summary.duplicates.append((group, Path(path)))
                continue
            indices = records.index[records["group"] == group].tolist()
            _copy_masks(source, [int(records["index"][i]) for i in indices], target, group)
            present.add(group)
            summary.masks_copied += len(indices)
            summary.groups_copied += bool(group)
            summary.ungrouped += 0 if group else len(indices)
    return summary
