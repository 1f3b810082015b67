"""Image-quality metrics of inpainting: ℓ1, PSNR, SSIM, Inception Score and FID.

Every metric compares the composite ``I_comp`` (the model's output with the non-hole pixels
set to the ground truth, :func:`maskbench.compositing.composite`) with the ground truth, over the whole RGB image,
values in [0, 1], one value per image. Per-bin figures are means of per-image values
(ℓ1, PSNR, SSIM) or are computed on the bin's set of images (IS, FID).

Conventions (Liu et al. 2018, Table 1; ``DESIGN.md``)
-----------------------------------------------------
* ℓ1 = mean absolute error over all H·W·3 values × 100 (percent).
* PSNR = 10·log10(1 / MSE), data range 1, MSE over all H·W·3 values; +inf when the images are
  equal (as :func:`skimage.metrics.peak_signal_noise_ratio`).
* SSIM as Wang et al. 2004: Gaussian weights σ = 1.5 truncated at 3.5σ (an 11-tap window),
  K1 = 0.01, K2 = 0.03, population covariances, data range 1, computed per channel and averaged
  over the channels; the mean is taken over the pixels whose window lies inside the image
  (a border of 5 px is left out). This is exactly ``skimage.metrics.structural_similarity(
  a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1,
  channel_axis=-1)``: skimage filters with mirrored borders and then crops the same 5 px, so
  the values left are those of an unpadded ('valid') convolution, which is what we compute.
* Inception Score (Salimans et al. 2016): softmax of the 1008-way unbiased logits of the
  2015-12-05 Inception network, 10 splits in order, exp(mean KL(p(y|x) ‖ p(y))) per split,
  mean over splits. The network is torch-fidelity's port (``pip install maskbench[inception]``).
* FID (Heusel et al. 2017) between the 2048-d pool features of two image sets.

The metrics come in steps, as torchmetrics does: :func:`check_pair_batch` validates,
:func:`pair_statistics` reduces a batch to per-image sufficient statistics (sums that can be
saved and added), and :class:`PairStatistics` computes the metrics from them. The torch code is
batched and runs on any device with the same results (within float32 rounding).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from maskbench.errors import InputError, MissingWeightsError

#: Data range of images (float RGB in [0, 1]).
DATA_RANGE: float = 1.0
#: Standard deviation of SSIM's Gaussian window, px.
SSIM_SIGMA: float = 1.5
#: The Gaussian is truncated at this many σ (scipy/skimage ``truncate``): radius 5, 11 taps.
SSIM_TRUNCATE: float = 3.5
#: SSIM stabilising constants (Wang et al. 2004).
SSIM_K1: float = 0.01
SSIM_K2: float = 0.03
#: Splits of the Inception Score (Salimans et al. 2016).
INCEPTION_SPLITS: int = 10
#: File name of torch-fidelity's port of the 2015-12-05 Inception network.
INCEPTION_WEIGHTS_FILE: str = "weights-inception-2015-12-05-6726825d.pth"
#: Where torch-fidelity publishes it.
INCEPTION_WEIGHTS_URL: str = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS_FILE
)
#: Number of classes of that network's logits and size of its pool features.
INCEPTION_CLASSES: int = 1008
INCEPTION_FEATURES: int = 2048


# -- validation ---------------------------------------------------------------------------


def check_pair_batch(output: torch.Tensor, target: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``output`` and ``target`` are comparable image batches.

    Parameters
    ----------
    output, target : torch.Tensor
        Floating point, shape (B, C, H, W), same shape and device.
    """
    for name, tensor in (("output", output), ("target", target)):
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tensor.ndim != 4:
            got = f"{tensor.dtype} {tuple(tensor.shape)}" if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise InputError(f"expected {name} as a floating point tensor of shape (B, C, H, W), got {got}")
    if output.shape != target.shape:
        raise InputError(f"output has shape {tuple(output.shape)} but target has {tuple(target.shape)}; they must match")
    if output.device != target.device:
        raise InputError(f"output is on {output.device} but target on {target.device}; put both on one device")
    radius = ssim_radius()
    if min(output.shape[-2:]) < 2 * radius + 1:
        raise InputError(f"images of {tuple(output.shape[-2:])} px are smaller than SSIM's {2 * radius + 1}-px window")


# -- per-image sufficient statistics --------------------------------------------------------


@dataclass(frozen=True)
class PairStatistics:
    """Per-image sums from which ℓ1, PSNR and SSIM follow; float64 arrays of shape (B,).

    Attributes
    ----------
    abs_error_sum : ndarray
        Σ |output − target| over the H·W·C values.
    squared_error_sum : ndarray
        Σ (output − target)² over the same values.
    ssim_sum : ndarray
        Σ of the SSIM map over the C channels and the (H − 10)·(W − 10) pixels whose window
        lies inside the image.
    values : int
        H·W·C, the count behind the two error sums.
    ssim_values : int
        C·(H − 10)·(W − 10), the count behind ``ssim_sum``.
    """

    abs_error_sum: np.ndarray
    squared_error_sum: np.ndarray
    ssim_sum: np.ndarray
    values: int
    ssim_values: int

    @property
    def l1(self) -> np.ndarray:
        """Mean absolute error × 100 (%), shape (B,)."""
        return 100.0 * self.abs_error_sum / self.values

    @property
    def psnr(self) -> np.ndarray:
        """PSNR in dB with data range 1, shape (B,); +inf for identical images."""
        mse = self.squared_error_sum / self.values
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(DATA_RANGE**2 / mse)

    @property
    def ssim(self) -> np.ndarray:
        """Mean SSIM (channels averaged), shape (B,)."""
        return self.ssim_sum / self.ssim_values


def pair_statistics(output: torch.Tensor, target: torch.Tensor) -> PairStatistics:
    """Reduce a batch of (output, target) images to per-image sufficient statistics.

    Parameters
    ----------
    output, target : (B, C, H, W) float torch.Tensor
        Values in [0, 1] (data range 1), any device; usually ``output`` is :func:`maskbench.compositing.composite`.

    Returns
    -------
    PairStatistics

    Notes
    -----
    The work goes image plane by image plane (one channel of one image) on the CPU, so that
    the plane, its five moment maps and their filtered copies stay in the cache while every
    sum is taken; see :func:`_ssim_map_chunks` and :func:`_plane_threads`. The sums are
    accumulated in float64.
    """
    check_pair_batch(output, target)
    batch, channels, height, width = output.shape
    output_planes = output.float().reshape(batch * channels, height, width)
    target_planes = target.float().reshape(batch * channels, height, width)
    # per plane: Σ|d|, Σd² and Σ SSIM; summed over the channels of each image at the end
    plane_sums = torch.empty((3, batch * channels), dtype=torch.float64, device=output.device)
    with _plane_threads(output.device):
        for planes, ssim_map in _ssim_map_chunks(output_planes, target_planes):
            difference = output_planes[planes] - target_planes[planes]
            plane_sums[1, planes] = difference.square().sum(dim=(1, 2), dtype=torch.float64)
            plane_sums[0, planes] = difference.abs_().sum(dim=(1, 2), dtype=torch.float64)
            plane_sums[2, planes] = ssim_map.sum(dim=(1, 2), dtype=torch.float64)
    abs_error_sum, squared_error_sum, ssim_sum = plane_sums.view(3, batch, channels).sum(dim=2).cpu().numpy()
    radius = ssim_radius()
    return PairStatistics(
        abs_error_sum=abs_error_sum,
        squared_error_sum=squared_error_sum,
        ssim_sum=ssim_sum,
        values=channels * height * width,
        ssim_values=channels * (height - 2 * radius) * (width - 2 * radius),
    )


# -- SSIM -------------------------------------------------------------------------------------

#: Image planes (one channel of one image) per step of the SSIM computation, by device type.
#: One on the CPU: a 512×512 plane's moment maps and their filtered copies (≈ 25 MB) then stay
#: in the last-level cache, which makes the whole computation about 4× faster than on the batch
#: at once. On a GPU, many planes at a time keep the device busy; the cap bounds the workspace.
PLANES_PER_CHUNK: dict[str, int] = {"cpu": 1}
#: Planes per step on any other device.
PLANES_PER_CHUNK_DEFAULT: int = 48


@contextmanager
def _plane_threads(device: torch.device) -> Iterator[None]:
    """Run the block with one intra-op torch thread on the CPU (the previous count is restored).

    The plane-by-plane steps are small (one 512×512 plane is 0.26 M values): splitting each of
    them between threads gains little, and on a loaded machine every step waits for the
    slowest thread. Note that torch's thread count is process-wide, so torch work in other
    Python threads runs with one thread meanwhile.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def ssim_radius(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> int:
    """Radius of the Gaussian window as scipy.ndimage computes it: ``int(truncate·σ + 0.5)``."""
    return int(truncate * sigma + 0.5)


def gaussian_kernel1d(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> torch.Tensor:
    """Normalised 1-D Gaussian taps, float64, length 2·radius + 1 (scipy's ``_gaussian_kernel1d``)."""
    radius = ssim_radius(sigma, truncate)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def _gaussian_valid_along(
    maps: torch.Tensor, taps: list[float], dim: int, *, out: torch.Tensor, scratch: torch.Tensor
) -> torch.Tensor:
    """Unpadded ('valid') filtering of ``maps`` along ``dim`` with a symmetric kernel.

    Parameters
    ----------
    maps : torch.Tensor
        Any shape; along ``dim`` it has n values.
    taps : list of float
        The 2·r + 1 taps, symmetric (``taps[r − k] == taps[r + k]``).
    dim : int
        The axis to filter.
    out, scratch : torch.Tensor
        Shape of ``maps`` with n − 2·r values along ``dim``; ``out`` receives the result,
        ``scratch`` is overwritten.

    Returns
    -------
    torch.Tensor
        ``out``: Σ_k taps[k] · maps[..., k : k + n − 2r, ...] (a correlation, equal to the
        convolution for a symmetric kernel), summed as taps[r]·centre + Σ taps[r+k]·(left + right).

    Notes
    -----
    Shifted slices and fused multiply-adds instead of a depthwise convolution: on the CPU this
    is as fast as a channels-last ``conv2d`` and leaves the maps contiguous, so that the
    elementwise SSIM arithmetic after it runs at full speed.
    """
    radius = len(taps) // 2
    size = maps.shape[dim] - 2 * radius
    torch.mul(maps.narrow(dim, radius, size), taps[radius], out=out)
    for offset in range(1, radius + 1):
        torch.add(maps.narrow(dim, radius - offset, size), maps.narrow(dim, radius + offset, size), out=scratch)
        out.add_(scratch, alpha=taps[radius + offset])
    return out


def _ssim_map_chunks(output_planes: torch.Tensor, target_planes: torch.Tensor) -> Iterator[tuple[slice, torch.Tensor]]:
    """SSIM maps of image planes, a chunk of planes at a time (:data:`PLANES_PER_CHUNK`).

    Parameters
    ----------
    output_planes, target_planes : (N, H, W) float32 torch.Tensor
        Values in [0, 1]; plane i of one is compared with plane i of the other.

    Yields
    ------
    planes : slice
        The planes of this chunk.
    ssim_map : (len(planes), H − 2r, W − 2r) float32 torch.Tensor
        Their SSIM at the pixels whose window lies inside the image, r = 5 with the default
        window. A view of a workspace that the next chunk overwrites: reduce or copy it first.

    Notes
    -----
    Per plane, the five maps x, y, x², y², x·y are filtered (Gaussian, separable, unpadded)
    into the local means μ and second moments, and then

        SSIM = (2 μx μy + c1)(2 σxy + c2) / ((μx² + μy² + c1)(σx² + σy² + c2)),

    σxy = E[xy] − μx μy etc., all in place in the filtered maps. The maps are filtered from the
    planes shifted by the target plane's mean (SSIM is unchanged by the shift; it keeps the
    float32 variances ``E[x²] − E[x]²`` from cancelling catastrophically on smooth regions).
    The same code runs on every device; only the chunk size differs.
    """
    taps = gaussian_kernel1d().tolist()
    radius = len(taps) // 2
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    count, height, width = output_planes.shape
    chunk = min(count, PLANES_PER_CHUNK.get(output_planes.device.type, PLANES_PER_CHUNK_DEFAULT))
    inner_height, inner_width = height - 2 * radius, width - 2 * radius
    workspace = dict(dtype=torch.float32, device=output_planes.device)
    maps = torch.empty((5, chunk, height, width), **workspace)
    vertical = torch.empty((5, chunk, inner_height, width), **workspace)
    vertical_scratch = torch.empty_like(vertical)
    filtered = torch.empty((5, chunk, inner_height, inner_width), **workspace)
    filtered_scratch = torch.empty_like(filtered)
    for start in range(0, count, chunk):
        planes = slice(start, min(start + chunk, count))
        size = planes.stop - planes.start
        shift = target_planes[planes].mean(dim=(1, 2), keepdim=True)
        x, y, xx, yy, xy = maps[:, :size]
        torch.sub(output_planes[planes], shift, out=x)
        torch.sub(target_planes[planes], shift, out=y)
        torch.mul(x, x, out=xx)
        torch.mul(y, y, out=yy)
        torch.mul(x, y, out=xy)
        # filtered along the height (dim 2), then along the width (dim 3)
        _gaussian_valid_along(maps[:, :size], taps, 2, out=vertical[:, :size], scratch=vertical_scratch[:, :size])
        mean_x, mean_y, xx, yy, xy = _gaussian_valid_along(
            vertical[:, :size], taps, 3, out=filtered[:, :size], scratch=filtered_scratch[:, :size]
        )
        product = torch.mul(mean_x, mean_y, out=filtered_scratch[0, :size])
        # 2·cov + c2 and var_x + var_y + c2, then the means shifted back
        contrast = xy.sub_(product).mul_(2.0).add_(c2)
        spread = xx.add_(yy).addcmul_(mean_x, mean_x, value=-1.0).addcmul_(mean_y, mean_y, value=-1.0).add_(c2)
        mean_x = mean_x.add_(shift)
        mean_y = mean_y.add_(shift)
        numerator = torch.mul(mean_x, mean_y, out=product).mul_(2.0).add_(c1).mul_(contrast)
        denominator = mean_x.square_().add_(mean_y.square_()).add_(c1).mul_(spread)
        yield planes, numerator.div_(denominator)


def ssim_map_valid(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM map of every channel at the pixels whose window lies inside the image.

    Parameters
    ----------
    output, target : (B, C, H, W) float torch.Tensor
        Values in [0, 1].

    Returns
    -------
    (B, C, H − 2r, W − 2r) float32 torch.Tensor, r = 5 with the default window; the values
    that :func:`pair_statistics` sums (see :func:`_ssim_map_chunks`).
    """
    check_pair_batch(output, target)
    batch, channels, height, width = output.shape
    radius = ssim_radius()
    result = torch.empty(
        (batch * channels, height - 2 * radius, width - 2 * radius), dtype=torch.float32, device=output.device
    )
    output_planes = output.float().reshape(batch * channels, height, width)
    target_planes = target.float().reshape(batch * channels, height, width)
    with _plane_threads(output.device):
        for planes, ssim_map in _ssim_map_chunks(output_planes, target_planes):
            result[planes] = ssim_map
    return result.view(batch, channels, height - 2 * radius, width - 2 * radius)


def ssim(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of each image, channels averaged; (B,) float64 on the CPU (see module notes)."""
    return torch.from_numpy(pair_statistics(output, target).ssim)


def psnr(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR of each image, data range 1, in dB; (B,) float64 on the CPU."""
    return torch.from_numpy(pair_statistics(output, target).psnr)


def l1_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error × 100 (%) of each image; (B,) float64 on the CPU."""
    return torch.from_numpy(pair_statistics(output, target).l1)


# -- Inception Score and FID --------------------------------------------------------------------


def inception_score(probabilities: np.ndarray | torch.Tensor, *, splits: int = INCEPTION_SPLITS) -> tuple[float, float]:
    """Inception Score of a set of class distributions (Salimans et al. 2016).

    Parameters
    ----------
    probabilities : (N, K) array
        p(y|x) of each image (rows sum to 1), in the order the splits take them.
    splits : int
        The N images are cut into ``splits`` consecutive parts of ``N // splits`` or one more
        (part i is ``[i·N//splits, (i+1)·N//splits)``, as torch-fidelity does).

    Returns
    -------
    (mean, std) : float
        Mean and standard deviation over the splits of exp(E_x KL(p(y|x) ‖ p(y))), p(y)
        being the mean over the split. NaN when N < ``splits`` (a split would be empty).
    """
    p = torch.as_tensor(np.asarray(probabilities), dtype=torch.float64)
    if p.ndim != 2:
        raise InputError(f"expected class probabilities of shape (N, K), got {tuple(p.shape)}")
    count = p.shape[0]
    if count < splits:
        return float("nan"), float("nan")
    scores = []
    for index in range(splits):
        part = p[index * count // splits : (index + 1) * count // splits]
        marginal = part.mean(dim=0, keepdim=True)
        kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, marginal)).sum(dim=1)
        scores.append(float(torch.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score_of_logits(logits: np.ndarray | torch.Tensor, *, splits: int = INCEPTION_SPLITS) -> tuple[float, float]:
    """:func:`inception_score` of ``softmax(logits)`` (computed in float64); logits (N, K)."""
    values = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    return inception_score(values.softmax(dim=1), splits=splits)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    Parameters
    ----------
    features_a, features_b : (N, D) and (M, D) arrays
        N, M ≥ 2. Means and (unbiased, ``ddof=1``) covariances are taken in float64.

    Returns
    -------
    float
        ‖μa − μb‖² + tr(Σa) + tr(Σb) − 2·tr((Σa Σb)^½); tr((Σa Σb)^½) is the sum of the square
        roots of the eigenvalues of Σa Σb (their real parts), as torch-fidelity computes it.
        NaN when a set has fewer than 2 rows.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"expected two feature sets (N, D) with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mean_difference = a.mean(axis=0) - b.mean(axis=0)
    cov_a = np.cov(a, rowvar=False)
    cov_b = np.cov(b, rowvar=False)
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b).astype(np.complex128)
    trace_sqrt = float(np.sqrt(eigenvalues).real.sum())
    return float(mean_difference @ mean_difference + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)


def inception_weights_path(configured: str | os.PathLike | None = None) -> Path:
    """Where the Inception weights are expected: ``configured`` or torch hub's checkpoints folder.

    The default is ``$TORCH_HOME/hub/checkpoints/`` + :data:`INCEPTION_WEIGHTS_FILE` (where
    torch-fidelity's own download puts it, usually ``~/.cache/torch/hub/checkpoints``).
    """
    if configured:
        return Path(configured).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def check_inception_available(weights: str | os.PathLike | None = None) -> Path:
    """Raise :class:`MissingWeightsError` unless torch-fidelity and the Inception weights are here.

    Returns
    -------
    Path
        The weights file.
    """
    if importlib.util.find_spec("torch_fidelity") is None:
        raise MissingWeightsError(
            "the Inception Score needs torch-fidelity: pip install 'maskbench[inception]' "
            "(or pass --no-inception to skip IS and FID)"
        )
    path = inception_weights_path(weights)
    if not path.is_file():
        raise MissingWeightsError(
            f"Inception weights {INCEPTION_WEIGHTS_FILE} not found at {path}; download them from "
            f"{INCEPTION_WEIGHTS_URL} into {path.parent} (or set inception_weights in a --config "
            "file), or pass --no-inception to skip IS and FID"
        )
    expected_prefix = INCEPTION_WEIGHTS_FILE.rsplit("-", 1)[1].split(".")[0]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(expected_prefix):
        raise MissingWeightsError(
            f"{path} has SHA-256 {digest[:8]}…, expected {expected_prefix}…; it is not the 2015-12-05 "
            f"Inception of torch-fidelity — download it again from {INCEPTION_WEIGHTS_URL}"
        )
    return path


class InceptionFeatures:
    """The 2015-12-05 Inception network (torch-fidelity's port): unbiased logits and pool features.

    Parameters
    ----------
    weights : path-like or None
        The weights file; None: :func:`inception_weights_path`. Never downloaded here.
    device : str, torch.device or None
        None: CUDA when present, else the CPU.

    Raises
    ------
    MissingWeightsError
        torch-fidelity is not installed or the weights file is missing (the message names the
        file and where to put it).
    """

    def __init__(self, *, weights: str | os.PathLike | None = None, device: str | torch.device | None = None) -> None:
        from flow.device import resolve_device

        path = check_inception_available(weights)
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.weights = path
        self.device = resolve_device(device)
        self.network = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["logits_unbiased", str(INCEPTION_FEATURES)], feature_extractor_weights_path=str(path)
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
        logits : (B, 1008) float32 ndarray
            Unbiased logits (softmax gives p(y|x) of the Inception Score).
        pool : (B, 2048) float32 ndarray
            Pool features (FID).
        """
        pixels = torch.round(images.clamp(0.0, 1.0) * 255.0).to(torch.uint8).to(self.device)
        logits, pool = self.network(pixels)
        return logits.float().cpu().numpy(), pool.float().cpu().numpy()
