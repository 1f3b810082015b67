"""One pass of a pseudo-model over pending pairs: load, inpaint, measure, save, cache.

A pseudo-model is an inpainter, or the ground truth (``inpainter=None``: the pass gives the
ground truth's Inception features and its sample images). :func:`run_pass` streams the pairs
through a :class:`~maskbench.parallel.WorkerPool` (loading, and CPU inpainters), batches them
on the device, and appends a :class:`~maskbench.results.ResultCache` part every
``chunk_pairs`` pairs; an interruption loses at most the batch in progress.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from maskbench.compositing import composite
from maskbench.files import write_image
from maskbench.images import load_evaluation_image, resize_hole, to_torch_batch
from maskbench.inception import InceptionFeatures
from maskbench.metrics import pair_statistics
from maskbench.models.registry import Inpainter, load_inpainter
from maskbench.pairing import Pair
from maskbench.parallel import WorkerPool, batches
from maskbench.progress import progress_bar
from maskbench.results import MASKED_INPUT, ResultCache, samples_folder

#: CPU inpainters loaded in this (worker) process, by spec.
_WORKER_INPAINTERS: dict[str, Inpainter] = {}


@dataclass
class PassContext:
    """What every pass of a run shares.

    Attributes
    ----------
    out_dir : Path
        The score folder (sample images go to ``cache/samples``, saved images to ``images``).
    batch_size : int
        Pairs per batch on the device, at least 1.
    size : int
        Side of the scored images, px (16–512).
    chunk_pairs : int
        Pairs per cache part (rounded up to whole batches), at least 1.
    save_images : bool
        Write every pair's images to ``images/``.
    device : torch.device
        Device of the batches, the metrics and the Inception network.
    pool : WorkerPool
        Loads the pairs and runs CPU inpainters.
    inception : InceptionFeatures or None
        The network whose features are cached; None: no features.
    samples : set of str
        Ids of the pairs shown in ``samples.png``.
    """

    out_dir: Path
    batch_size: int
    size: int
    chunk_pairs: int
    save_images: bool
    device: torch.device
    pool: WorkerPool
    inception: InceptionFeatures | None
    samples: set[str]


def _load_pair(job: tuple[Pair, int]) -> tuple[np.ndarray, np.ndarray]:
    """(ground truth (S, S, 3) float32, hole (S, S) bool) of a pair at size S.

    The 512 px mask is shrunk by :func:`resize_hole`.
    """
    pair, size = job
    return load_evaluation_image(pair.image, size), resize_hole(pair.mask.read_hole(), size)


def _inpaint_pair(job: tuple[str, Pair, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load a pair and run the CPU inpainter of ``spec`` on it: (ground truth, hole, output)."""
    spec, pair, size = job
    if spec not in _WORKER_INPAINTERS:
        _WORKER_INPAINTERS[spec] = load_inpainter(spec, device="cpu")
    ground_truth, hole = _load_pair((pair, size))
    return ground_truth, hole, _WORKER_INPAINTERS[spec](ground_truth, hole)


def _masked_input(ground_truth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The image a model sees, holes drawn white."""
    return np.where(hole[..., None], np.float32(1.0), ground_truth)


def _save_images(
    context: PassContext,
    key: str,
    pairs: Sequence[Pair],
    outputs: np.ndarray,
    extras: Sequence[tuple[np.ndarray, np.ndarray]] | None,
) -> None:
    """Write sample PNGs (and ``images/`` with save_images) of one batch.

    ``extras``: (truth, hole) per pair, for the masked inputs (ground-truth pass only).
    """
    for row, pair in enumerate(pairs):
        folders = []
        if pair.pair_id in context.samples:
            folders.append(samples_folder(context.out_dir))
        if context.save_images:
            folders.append(context.out_dir / "images")
        for folder in folders:
            write_image(folder / key / f"{pair.pair_id}.png", outputs[row])
            if extras is not None:
                ground_truth, hole = extras[row]
                write_image(folder / MASKED_INPUT / f"{pair.pair_id}.png", _masked_input(ground_truth, hole))


def _processed_batches(
    context: PassContext, spec: str | None, inpainter: Inpainter | None, pairs: Sequence[Pair]
) -> Iterator[tuple[list[Pair], torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(pairs, ground truth, hole, composite) batches on the device; spec None = ground truth."""
    size, side = context.batch_size, context.size
    if spec is not None and inpainter.kind == "cpu":
        results = context.pool.map(_inpaint_pair, [(spec, pair, side) for pair in pairs])
        for batch_pairs, batch in zip(batches(pairs, size), batches(results, size), strict=True):
            truth = to_torch_batch([item[0] for item in batch], context.device).contiguous()
            hole = to_torch_batch([item[1] for item in batch], context.device)
            output = to_torch_batch([item[2] for item in batch], context.device)
            yield batch_pairs, truth, hole, composite(output, truth, hole)
        return
    loaded = context.pool.map(_load_pair, [(pair, side) for pair in pairs])
    for batch_pairs, batch in zip(batches(pairs, size), batches(loaded, size), strict=True):
        truth = to_torch_batch([item[0] for item in batch], context.device).contiguous()
        hole = to_torch_batch([item[1] for item in batch], context.device)
        output = truth if spec is None else inpainter(truth, hole)
        yield batch_pairs, truth, hole, composite(output, truth, hole)


def run_pass(
    context: PassContext,
    *,
    key: str,
    spec: str | None,
    inpainter: Inpainter | None,
    cache: ResultCache,
    pending: Sequence[Pair],
    label: str,
) -> None:
    """Process the pending pairs of one pseudo-model, with a progress bar of pairs.

    Parameters
    ----------
    context : PassContext
        What the passes of the run share.
    key : str
        The pseudo-model's folder name (:func:`maskbench.results.model_key`, or ``GROUND_TRUTH``).
    spec : str or None
        The model's spec (CPU inpainters are loaded again from it in the workers); None for the
        ground truth.
    inpainter : Inpainter or None
        The loaded model; None for the ground truth.
    cache : ResultCache
        Where the pass appends its parts.
    pending : sequence of Pair
        The pairs to process (those not yet in ``cache``).
    label : str
        Label of the progress bar.
    """
    if pending:
        steps = _process_pairs(context, key=key, spec=spec, inpainter=inpainter, cache=cache, pairs=pending)
        with progress_bar(total=len(pending), desc=label, unit="pair") as bar:
            for count in steps:
                bar.update(count)


def _process_pairs(
    context: PassContext,
    *,
    key: str,
    spec: str | None,
    inpainter: Inpainter | None,
    cache: ResultCache,
    pairs: Sequence[Pair],
) -> Iterator[int]:
    """Run the pairs batch by batch, yielding the pairs done, and write a cache part every ``chunk_pairs``.

    The pairs go to the workers as one stream, so they never wait while a part is written.
    """
    rows: list[pd.DataFrame] = []
    logits: list[np.ndarray] = []
    pool: list[np.ndarray] = []
    try:
        yield from _process_batches(context, key, spec, inpainter, pairs, cache, (rows, logits, pool))
    finally:  # also on Ctrl-C or an error: the finished batches are saved, at most one is lost
        del logits[len(rows) :], pool[len(rows) :]  # features of a batch whose row was not added
        if rows:
            _write_part(cache, rows, logits, pool)


def _process_batches(
    context: PassContext,
    key: str,
    spec: str | None,
    inpainter: Inpainter | None,
    pairs: Sequence[Pair],
    cache: ResultCache,
    collected: tuple[list[pd.DataFrame], list[np.ndarray], list[np.ndarray]],
) -> Iterator[int]:
    """The loop of :func:`_process_pairs`: collect each batch's features and rows, write parts.

    A batch's row is added last: a batch counts as done once its row is in. A part is written
    every ``chunk_pairs`` pairs.
    """
    rows, logits, pool = collected
    for batch_pairs, truth, hole, result in _processed_batches(context, spec, inpainter, pairs):
        row: dict[str, Any] = {"pair": [pair.pair_id for pair in batch_pairs]}
        if spec is not None:
            statistics = pair_statistics(result, truth)
            row.update(l1=statistics.l1, psnr=statistics.psnr, ssim=statistics.ssim, ssim_paper=statistics.ssim_paper)
        if context.save_images or any(pair.pair_id in context.samples for pair in batch_pairs):
            outputs = result.permute(0, 2, 3, 1).cpu().numpy()
            extras = list(zip(outputs, hole[:, 0].cpu().numpy(), strict=True)) if spec is None else None
            _save_images(context, key, batch_pairs, outputs, extras)
        if context.inception is not None:
            batch_logits, batch_pool = context.inception(result)
            logits.append(batch_logits)
            pool.append(batch_pool)
        rows.append(pd.DataFrame(row))
        if sum(len(frame) for frame in rows) >= context.chunk_pairs:
            _write_part(cache, rows, logits, pool)
        yield len(batch_pairs)


def _write_part(cache: ResultCache, rows: list[pd.DataFrame], logits: list[np.ndarray], pool: list[np.ndarray]) -> None:
    """Write the collected rows (and features) as one cache part and empty the lists."""
    features = bool(logits)
    cache.write(
        pd.concat(rows, ignore_index=True),
        np.concatenate(logits) if features else None,
        np.concatenate(pool) if features else None,
    )
    for collected in (rows, logits, pool):
        collected.clear()
