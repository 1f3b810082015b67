"""Occlusion masks from a collection of videos into a mask store: the resumable, sharded run.

This is how Liu et al. (2018, section 3.2) made their irregular holes: the regions of a frame
that have no correspondence in the next frame (occlusions) and those of the next frame that
have none in this one (disocclusions), found with optical flow and a forward-backward check
(Sundaram, Brox and Keutzer 2010) on consecutive video frames. The pipeline, module by module:

* :mod:`maskbench.video` reads the frame pairs of a video at the working size;
* :mod:`maskbench.video_masks` turns them into cleaned, filtered masks
  (:func:`~maskbench.video_masks.extract_video`), with the pair check of :mod:`maskbench.junk`
  and the clean-up and filters of :mod:`maskbench.cleanup`;
* this module runs that over every video of a collection (:func:`maskbench.video.find_videos`)
  with :func:`extract_videos`, and appends the kept masks of each video to a
  :class:`~maskbench.store.MaskStore` in ONE append (one atomic shard) whose group is the
  video's key (:func:`video_key`), with the maskbench version and the run's configuration
  (:func:`maskbench.provenance.provenance`); :class:`~maskbench.extract_summary.ExtractSummary`
  says what it did;
* :func:`maskbench.merging.merge_stores` joins the stores of a sharded run (``shard = "K/N"``).

Because each video is one atomic shard named by its key, a rerun skips finished videos and
an interrupted run loses at most the videos in progress, never duplicating one. Processes
writing one store at once take turns under the store's lock (:meth:`MaskStore.exclusive`):
a video that another process stored while this one extracted it is not stored again.
Under ``torchrun`` the ranks share the videos and rank 0 writes them in the order of a
one-process run (:func:`maskbench.distributed.gather_in_order`), so the store is the same.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import torch

from flow.device import resolve_device
from flow.threads import cpu_threads, free_cores
from maskbench.distributed import Ranks, gather_in_order, join_job, on_main, rank_device
from maskbench.errors import ConfigError, InputError, MaskbenchWarning
from maskbench.extract_config import ExtractConfig
from maskbench.extract_summary import ExtractSummary
from maskbench.flow_choice import (
    AUTO_METHOD,
    check_one_method,
    method_tag,
    resolve_flow_method,
    slow_cpu_notice,
    video_group,
)
from maskbench.packing import PackedHoles
from maskbench.parallel import Shard, WorkerPool
from maskbench.progress import ProgressBar, progress_bar
from maskbench.provenance import difference_note, provenance
from maskbench.store import MaskStore
from maskbench.video import VideoSource, find_videos, frame_count
from maskbench.video_masks import VideoMasks, extract_video


def resolve_method(config: ExtractConfig) -> tuple[ExtractConfig, torch.device]:
    """``config`` with ``method = "auto"`` resolved for ``config.device``, and the torch device to use.

    The device is resolved (and a missing CUDA device refused) only where it matters: for
    ``"auto"`` and the torch methods; the OpenCV methods always get the CPU.

    Parameters
    ----------
    config : ExtractConfig

    Returns
    -------
    config : ExtractConfig
        With ``method`` one of :data:`flow.FLOW_METHODS`.
    device : torch.device
        Where the flow runs: ``config.device`` resolved for a torch method, else the CPU.

    Raises
    ------
    ConfigError
        When ``config.device`` names a CUDA device and there is none.
    """
    try:
        resolved = resolve_device(config.device) if config.method == AUTO_METHOD or config.runs_on_torch else None
    except (ValueError, RuntimeError) as error:
        raise ConfigError(f"--device: {error}") from None
    if resolved is not None:
        method = resolve_flow_method(config.method, cpu_method=config.cpu_method, device=resolved)
        config = dataclasses.replace(config, method=method)
    return config, resolved if config.runs_on_torch and resolved is not None else torch.device("cpu")


def video_key(video: VideoSource, config: ExtractConfig) -> str:
    """Group name of a video's shard in the store: its name plus the flow and occlusion methods.

    The same video extracted with another method is another group (stores refuse such a mix
    unless allowed: :func:`maskbench.flow_choice.check_one_method`); the clean-up settings
    are not part of the key (use a new store to change them).

    Parameters
    ----------
    video : VideoSource
    config : ExtractConfig
        With ``method`` resolved (not ``"auto"``).

    Returns
    -------
    str
        E.g. ``"clips/a.mp4::dis+range+median"``.
    """
    return video_group(video.name, method_tag(config.method, config.occlusion_method))


@dataclass(frozen=True)
class _Run:
    """What every step of one :func:`extract_videos` call shares."""

    config: ExtractConfig  # method resolved
    device: torch.device
    ranks: Ranks
    output: MaskStore
    record: dict[str, Any]  # provenance of the run, stored with every video
    summary: ExtractSummary


def _extract_in_worker(task: tuple[VideoSource, ExtractConfig]) -> VideoMasks:
    """Worker-process entry: one video, on the CPU, one thread (the workers are the parallelism)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    video, config = task
    return extract_video(video, config, device=torch.device("cpu"))


def _results_in_order(
    videos: Sequence[VideoSource], run: _Run, pool: WorkerPool, bar: ProgressBar
) -> Iterator[VideoMasks]:
    """Extract each video, in order: in this process (on ``run.device``) or one worker process per video."""
    if pool.workers <= 1:
        for video in videos:
            bar.set_postfix_str(video.name, refresh=False)
            yield extract_video(video, run.config, device=run.device, on_frames=bar.update)
        return
    for result in pool.map(_extract_in_worker, [(video, run.config) for video in videos]):
        bar.update(result.frames_read)
        yield result


def _store_result(run: _Run, video: VideoSource, result: VideoMasks) -> None:
    """Append a video's masks as one shard, unless another process stored it meanwhile (under the store's lock)."""
    key = video_key(video, run.config)
    extras = [
        {"method": run.config.method, "occlusion": run.config.occlusion_method, "kind": kind}
        for kind in result.mask_kinds
    ]
    with run.output.exclusive():
        if key in run.output.groups():
            run.summary.already_done.append(video.name)
            return
        if len(result.holes) or result.error is None:  # a readable video without masks is done too
            run.output.append(
                result.holes,
                sources=[video.name] * len(result.holes),
                frames=result.mask_frames,
                extras=extras,
                group=key,
                provenance=run.record,
            )
            run.summary.hole_counts += result.holes.hole_pixels()
    result.holes = PackedHoles()
    run.summary.results.append(result)


def _extract_and_store(run: _Run, todo: Sequence[VideoSource], *, show_progress: bool) -> None:
    """Extract the videos to do (shared among the ranks of a torchrun job) and store them in order."""
    config = run.config
    total = sum(frame_count(video) for video in todo)
    threads = config.threads or free_cores()
    if config.method == "tvl1" and run.device.type == "cpu" and todo:
        notice = slow_cpu_notice(
            frames=total, working_size=config.working_size, threads=threads, cpu_method=config.cpu_method
        )
        warnings.warn(notice, MaskbenchWarning, stacklevel=3)
    workers = 0 if config.runs_on_torch else config.workers  # torch flows are batched here, on the device
    with (
        cpu_threads(threads),
        progress_bar(total=total, desc="extract", unit="frame", enabled=show_progress and run.ranks.main) as bar,
        WorkerPool(workers, one_core=False) as pool,  # the workers choose their own threads
    ):
        results = gather_in_order(
            todo, lambda share: _results_in_order(share, run, pool, bar), ranks=run.ranks, per_rank=max(1, workers)
        )
        # strict=False: ranks other than 0 get no results (gather_in_order yields nothing there), so
        # their loop is meant to end at once; on rank 0 there is one result per video
        for position, (video, result) in enumerate(zip(todo, results, strict=False)):
            if position % run.ranks.size:  # extracted by another rank (rank 0 shows all the work)
                bar.update(result.frames_read)
            _store_result(run, video, result)
            if result.frames_read != result.announced:  # headers can be wrong: fix the bar's total
                bar.total += result.frames_read - result.announced
                bar.refresh()


def _refuse_nothing_usable(todo: Sequence[VideoSource], summary: ExtractSummary, ranks: Ranks) -> None:
    """Raise :class:`InputError` when videos were tried and none gave usable frame pairs."""
    if not todo or not ranks.main or summary.usable or summary.already_done:
        return
    failed = [(result.name, result.error or result.unrelated) for result in summary.results]
    reasons = "; ".join(f"{name}: {why}" for name, why in failed[:3])
    more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
    what = "could be read" if not summary.read else "could be read or gave usable frame pairs"
    raise InputError(f"none of the {len(todo)} videos {what}: {reasons}{more}")


def extract_videos(
    videos: str | os.PathLike,
    store: str | os.PathLike,
    *,
    config: ExtractConfig | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> ExtractSummary:
    """Extract occlusion masks from every video of a folder into a mask store.

    Parameters
    ----------
    videos : path-like
        Folder of video files and/or folders of numbered frames
        (:func:`maskbench.video.find_videos`).
    store : path-like
        Mask store to append to (created when missing). Videos already in it (same
        :func:`video_key`) are skipped, so a rerun resumes an interrupted run.
    config : ExtractConfig, optional
        The settings; None for ``ExtractConfig.load()``. With ``method = "auto"`` the flow
        method depends on ``config.device``: TV-L1 on CUDA, else ``config.cpu_method``; the
        resolved method is recorded in the store and the summary. TV-L1 on a CPU warns once
        (:class:`MaskbenchWarning`) with the expected time. The OpenCV methods always run on
        the CPU, so their masks never depend on the device or on ``config.workers``.
        ``config.shard = "K/N"`` processes only the K-th of N interleaved parts of the
        collection (by sorted name); ``config.allow_mixed_methods`` allows appending to a
        store that holds videos extracted with another flow method or occlusion test.
    overwrite : bool
        Start from an empty store instead of resuming.
    show_progress : bool
        Show a progress bar (frames/s) on stderr (rank 0 only, under torchrun).

    Returns
    -------
    ExtractSummary
        Under torchrun, rank 0's covers every video; the other ranks' are empty.

    Raises
    ------
    ConfigError
        For a bad ``shard`` (or ``"auto"`` outside a SLURM job array) or a missing CUDA device.
    InputError
        When the folder has no videos, or when videos were tried and none could be read.
    OutputExistsError
        When ``store`` exists and is not a mask store (and ``overwrite`` is False).
    MixedMethodsError
        When the store holds another method's masks and ``allow_mixed_methods`` is False.
    """
    started = time.perf_counter()
    config = ExtractConfig.load() if config is None else config
    shard = Shard.parse(config.shard)
    requested = config.method
    config, device = resolve_method(config)
    ranks = join_job()
    device = rank_device(device, ranks)
    found = find_videos(videos)
    if not found:
        raise InputError(f"no videos in {Path(videos)}: expected video files (.mp4, .avi, ...) or folders of frames")
    output = on_main(lambda: MaskStore.open_output(store, overwrite=overwrite), ranks)
    tag = method_tag(config.method, config.occlusion_method)
    how = f" (--method {requested} on {device.type})" if requested == AUTO_METHOD else ""
    check_one_method(output, tag, allow_mixed=config.allow_mixed_methods, what=f"this run{how}")
    done = output.groups()
    mine = shard.select(found)  # found is sorted by name: every shard sees the same order
    todo = [video for video in mine if video_key(video, config) not in done]
    summary = ExtractSummary(Path(store), shard, len(found), flow=f"{tag}{how}")
    run = _Run(config, device, ranks, output, provenance(config), summary)
    summary.already_done = [video.name for video in mine if video_key(video, config) in done]
    note = difference_note(f"the store {store}", output.provenances().values(), run.record)
    summary.notes += [note] if note is not None and todo else []
    _extract_and_store(run, todo, show_progress=show_progress)
    summary.seconds = time.perf_counter() - started
    _refuse_nothing_usable(todo, summary, ranks)
    return summary
