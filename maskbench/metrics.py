"""Image-quality metrics of inpainting: ℓ1, PSNR, SSIM, Inception Score and FID.

Every metric compares the composite ``I_comp`` (the model's output with the non-hole pixels
set to the ground truth, :func:`maskbench.compositing.composite`) with the ground truth, over the
whole RGB image, values in [0, 1], one value per image. Per-bin figures are means of per-image values
(ℓ1, PSNR, SSIM) or are computed on the bin's set of images (IS, FID).

Conventions (Liu et al. 2018, Table 1)
--------------------------------------
* ℓ1 = mean absolute error over all H·W·3 values × 100 (percent).
* PSNR = 10·log10(1 / MSE), data range 1, MSE over all H·W·3 values; +inf when the images are
  equal (as :func:`skimage.metrics.peak_signal_noise_ratio`).
* ``ssim``: SSIM as Wang et al. 2004: Gaussian weights σ = 1.5 truncated at 3.5σ (an 11-tap
  window), K1 = 0.01, K2 = 0.03, population covariances, data range 1, computed per channel and
  averaged over the channels; the mean is taken over the pixels whose window lies inside the
  image (a border of 5 px is left out). This is exactly ``skimage.metrics.structural_similarity(
  a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1,
  channel_axis=-1)``.
* ``ssim_paper``: our reading of the literature's SSIM, pytorch-ssim on images ×255 with the
  constants of range 1 (C1 = 0.01², C2 = 0.03², so ≈ 0), zero padding, mean over all pixels and
  channels, float64; the convention that Liu et al.'s SSIM rows compare with. Both come from one
  pass of float64 filtered moments; the exact definitions and sources are in :mod:`maskbench.ssim_maps`.
* Inception Score (Salimans et al. 2016): softmax of the 1008-way unbiased logits of the
  2015-12-05 Inception network, 10 splits in order, exp(mean KL(p(y|x) ‖ p(y))) per split,
  mean over splits. The network is torch-fidelity's port (``pip install maskbench[inception]``),
  found or fetched by :mod:`maskbench.inception`.
* FID (Heusel et al. 2017) between the 2048-d pool features of two image sets.

The metrics come in steps, as torchmetrics does: :func:`check_pair_batch` validates,
:func:`pair_statistics` reduces a batch to per-image sufficient statistics (sums that can be
saved and added), and :class:`PairStatistics` computes the metrics from them. The torch code is
batched and runs on any device with the same results (within float32 rounding).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from maskbench.errors import InputError
from maskbench.ssim_maps import ssim_plane_maps, ssim_plane_sums, ssim_radius

#: Data range of images (float RGB in [0, 1]).
DATA_RANGE: float = 1.0
#: Splits of the Inception Score (Salimans et al. 2016).
INCEPTION_SPLITS: int = 10


# -- validation ---------------------------------------------------------------------------


def check_pair_batch(output: torch.Tensor, target: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``output`` and ``target`` are comparable image batches.

    Parameters
    ----------
    output, target : torch.Tensor
        Floating point, shape (B, C, H, W), same shape and device; H and W at least 11 (SSIM's
        window).

    Raises
    ------
    InputError
        A tensor that is not floating point or not 4-D, shapes or devices that differ, or
        images smaller than SSIM's 11-px window.
    """
    for name, tensor in (("output", output), ("target", target)):
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tensor.ndim != 4:
            got = f"{tensor.dtype} {tuple(tensor.shape)}" if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise InputError(f"expected {name} as a floating point tensor of shape (B, C, H, W), got {got}")
    if output.shape != target.shape:
        raise InputError(
            f"output has shape {tuple(output.shape)} but target has {tuple(target.shape)}; they must match"
        )
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
        Σ ``|output − target|`` over the H·W·C values.
    squared_error_sum : ndarray
        Σ (output − target)² over the same values.
    ssim_sum : ndarray
        Σ of the SSIM map over the C channels and the (H − 10)·(W − 10) pixels whose window
        lies inside the image.
    ssim_paper_sum : ndarray
        Σ of the literature's SSIM map (pytorch-ssim on ×255 images) over the H·W·C values.
    values : int
        H·W·C, the count behind the two error sums.
    ssim_values : int
        C·(H − 10)·(W − 10), the count behind ``ssim_sum``.
    """

    abs_error_sum: np.ndarray
    squared_error_sum: np.ndarray
    ssim_sum: np.ndarray
    ssim_paper_sum: np.ndarray
    values: int
    ssim_values: int

    @property
    def l1(self) -> np.ndarray:
        """Mean absolute error × 100 (%), shape (B,).

        Returns
        -------
        ndarray
            float64 (B,), in [0, 100] for images in [0, 1].
        """
        return 100.0 * self.abs_error_sum / self.values

    @property
    def psnr(self) -> np.ndarray:
        """PSNR in dB with data range 1, shape (B,); +inf for identical images.

        Returns
        -------
        ndarray
            float64 (B,), 10·log10(1 / MSE) dB, 0 or more for images in [0, 1].
        """
        mse = self.squared_error_sum / self.values
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(DATA_RANGE**2 / mse)

    @property
    def ssim(self) -> np.ndarray:
        """Mean SSIM (channels averaged), shape (B,).

        Returns
        -------
        ndarray
            float64 (B,), Wang et al.'s SSIM in [-1, 1] (1: identical images).
        """
        return self.ssim_sum / self.ssim_values

    @property
    def ssim_paper(self) -> np.ndarray:
        """Mean of the literature's SSIM map over pixels and channels, shape (B,).

        Returns
        -------
        ndarray
            float64 (B,), in [-1, 1] (1: identical images); see :mod:`maskbench.ssim_maps`.
        """
        return self.ssim_paper_sum / self.values


def pair_statistics(output: torch.Tensor, target: torch.Tensor) -> PairStatistics:
    """Reduce a batch of (output, target) images to per-image sufficient statistics.

    Parameters
    ----------
    output, target : (B, C, H, W) float torch.Tensor
        Values in [0, 1] (data range 1), any device; usually ``output`` is
        :func:`maskbench.compositing.composite`.

    Returns
    -------
    PairStatistics
        float64 sums of shape (B,) per image, on the CPU; its properties give ℓ1, PSNR, SSIM and
        SSIM_paper.

    Notes
    -----
    Both SSIMs come from one pass of float64 filtered moments
    (:func:`maskbench.ssim_maps.ssim_plane_sums`), image plane by image plane and strip by strip
    on the CPU so that the maps stay in the cache; that part runs with one torch thread
    (:func:`_plane_threads`). All sums are float64.
    """
    check_pair_batch(output, target)
    batch, channels, height, width = output.shape
    output_planes = output.float().reshape(batch * channels, height, width)
    target_planes = target.float().reshape(batch * channels, height, width)
    difference = output_planes - target_planes
    squared_error_sum = difference.square().sum(dim=(1, 2), dtype=torch.float64)
    abs_error_sum = difference.abs_().sum(dim=(1, 2), dtype=torch.float64)
    with _plane_threads(output.device):
        ssim_sum, ssim_paper_sum = ssim_plane_sums(output_planes, target_planes)
    per_image = (
        torch.stack((abs_error_sum, squared_error_sum, ssim_sum, ssim_paper_sum)).view(4, batch, channels).sum(dim=2)
    )
    abs_error, squared_error, ssim_total, ssim_paper_total = per_image.cpu().numpy()
    radius = ssim_radius()
    return PairStatistics(
        abs_error_sum=abs_error,
        squared_error_sum=squared_error,
        ssim_sum=ssim_total,
        ssim_paper_sum=ssim_paper_total,
        values=channels * height * width,
        ssim_values=channels * (height - 2 * radius) * (width - 2 * radius),
    )


# -- SSIM (computed in :mod:`maskbench.ssim_maps`) ---------------------------------------------


@contextmanager
def _plane_threads(device: torch.device) -> Iterator[None]:
    """Run the block with one intra-op torch thread on the CPU (the previous count is restored).

    The plane-by-plane, strip-by-strip SSIM steps are small: splitting each of them between
    threads gains little, and on a loaded machine every step waits for the slowest thread. Note
    that torch's thread count is process-wide, so torch work in other Python threads runs with
    one thread meanwhile.
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


def ssim_map_valid(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Wang et al.'s SSIM map of every channel at the pixels whose window lies inside the image.

    Parameters
    ----------
    output, target : (B, C, H, W) float torch.Tensor
        Values in [0, 1].

    Returns
    -------
    torch.Tensor
        (B, C, H − 2r, W − 2r) float64, r = 5, values in [-1, 1]: the values that
        :func:`pair_statistics` averages into ``ssim`` (see :mod:`maskbench.ssim_maps`).
    """
    return _ssim_maps(output, target)[0]


def ssim_map_literature(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The literature's SSIM map (pytorch-ssim on ×255 images, zero padding) at every pixel.

    Parameters
    ----------
    output, target : (B, C, H, W) float torch.Tensor
        Values in [0, 1].

    Returns
    -------
    torch.Tensor
        (B, C, H, W) float64, values in [-1, 1]; its mean over C·H·W is ``ssim_paper``.
    """
    return _ssim_maps(output, target)[1]


def _ssim_maps(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    check_pair_batch(output, target)
    batch, channels, height, width = output.shape
    with _plane_threads(output.device):
        standard, literature = ssim_plane_maps(
            output.float().reshape(batch * channels, height, width),
            target.float().reshape(batch * channels, height, width),
        )
    return standard.view(batch, channels, *standard.shape[1:]), literature.view(batch, channels, height, width)


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

    Raises
    ------
    InputError
        When ``probabilities`` is not 2-D.
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


def inception_score_of_logits(
    logits: np.ndarray | torch.Tensor, *, splits: int = INCEPTION_SPLITS
) -> tuple[float, float]:
    """:func:`inception_score` of ``softmax(logits)`` (computed in float64).

    Parameters
    ----------
    logits : (N, K) array
        Unnormalised class scores of each image (the network's 1008-way unbiased logits).
    splits : int
        As for :func:`inception_score`.

    Returns
    -------
    (mean, std) : float
        As :func:`inception_score` returns them; NaN when N < ``splits``.

    Raises
    ------
    InputError
        When ``logits`` is not 2-D.
    """
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

    Raises
    ------
    InputError
        When the sets are not 2-D or their feature dimensions D differ.

    Notes
    -----
    With fewer images than dimensions (a bin of 1000 pairs, D = 2048) the trace comes from the
    small side: with Ca, Cb the centred features over √(N − 1), Σa = CaᵀCa and Σb = CbᵀCb, the
    non-zero eigenvalues of Σa Σb are those of (Ca Cbᵀ)(Ca Cbᵀ)ᵀ, so tr((Σa Σb)^½) is the sum
    of the singular values of the N×M matrix Ca Cbᵀ — the same number, without a D×D eigenproblem.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"expected two feature sets (N, D) with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mean_difference = a.mean(axis=0) - b.mean(axis=0)
    centred_a = (a - a.mean(axis=0)) / np.sqrt(len(a) - 1)
    centred_b = (b - b.mean(axis=0)) / np.sqrt(len(b) - 1)
    if min(len(a), len(b)) < a.shape[1]:
        trace_sqrt = float(np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum())
    else:
        eigenvalues = np.linalg.eigvals(centred_a.T @ centred_a @ centred_b.T @ centred_b).astype(np.complex128)
        trace_sqrt = float(np.sqrt(eigenvalues).real.sum())
    traces = float(np.square(centred_a).sum() + np.square(centred_b).sum())
    return float(mean_difference @ mean_difference + traces - 2.0 * trace_sqrt)
