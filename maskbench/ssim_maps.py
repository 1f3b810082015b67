"""SSIM of image planes in two conventions from one pass: Wang et al.'s and the literature's.

Both conventions filter the same five maps x, y, x², y², x·y with the same Gaussian window (σ = 1.5,
11 taps) and differ only in the constants, the border and the scale; so the filtered moments are
computed once, in float64, with zero padding, and both SSIM maps come from them.

``ssim`` — Wang et al. 2004 [1]_, as scikit-image
    Images in [0, 1], K1 = 0.01, K2 = 0.03 with data range 1 (c1 = 0.01², c2 = 0.03²),
    population covariances, the window σ = 1.5 truncated at 3.5σ (radius 5), each channel on its
    own; the mean is taken over the pixels whose window lies inside the image (a border of 5 px is
    left out). This is ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)``: skimage filters with
    mirrored borders and then crops the same 5 px, so only windows inside the image count.

``ssim_paper`` — our reading of the literature's SSIM (pytorch-ssim [2]_ on ×255 images)
    ``x = 255·output``, ``y = 255·target``; the 11×11 window of pytorch-ssim (taps
    ``exp(−(k − 5)² / (2·1.5²))``, k = 0…10, normalised; the same taps as above) applied with
    **zero padding** of 5 px (``F.conv2d(…, padding=5, groups=C)``), so the map keeps the image
    size; μ = w∗x, σx² = w∗x² − μx², σxy = w∗(xy) − μxμy;
    SSIM = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)) with C1 = 0.01²,
    C2 = 0.03² — the constants of data range 1 left unchanged on 0–255 values, so they all but
    vanish; the mean runs over all H·W pixels (border included) and the channels of one image;
    float64 throughout. That is pytorch-ssim's ``ssim(img1 * 255, img2 * 255)`` on one image.
    LBAM's [4]_ ``test_random_batch.py`` calls ``pytorch_ssim.ssim(groundTruth * 255,
    generaredImage * 255)``; CTSDG's authors evaluated PSNR and SSIM with LBAM's code; the old
    scikit-image ``compare_ssim`` gave float images a range of 2, with the same effect on 0–255
    floats. On PatchMatch fills this convention lands within 0.03 (RMSE) of Liu et al. 2018's
    SSIM rows [3]_, where every standard variant misses by 0.13–0.15. NVIDIA never released its
    evaluation code: this is our reading, not a proof.

Why float64: with C1, C2 ≈ 0 in range-1 units (1.5·10⁻⁹, 1.4·10⁻⁸), float32 moments leave
noise of ~10⁻⁷ on flat regions, larger than the constants, and ``ssim_paper`` would be garbage there.

References
----------
.. [1] Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to
   structural similarity", IEEE TIP 13(4), 2004.
.. [2] Po-Hsun Su, pytorch-ssim, https://github.com/Po-Hsun-Su/pytorch-ssim
.. [3] Liu et al., "Image Inpainting for Irregular Holes Using Partial Convolutions", ECCV 2018.
.. [4] Xie et al., "Image Inpainting With Learnable Bidirectional Attention Maps" (LBAM), ICCV 2019,
   and its ``test_random_batch.py``; Guo et al., "Image Inpainting via Conditional Texture and
   Structure Dual Generation" (CTSDG), ICCV 2021.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

#: Standard deviation of the Gaussian window, px (both conventions).
SSIM_SIGMA: float = 1.5
#: The Gaussian is truncated at this many σ (scipy/skimage ``truncate``): radius 5, 11 taps.
SSIM_TRUNCATE: float = 3.5
#: Wang et al.'s stabilising constants, for data range 1.
SSIM_K1: float = 0.01
SSIM_K2: float = 0.03
#: ``ssim_paper``: images in [0, 1] are multiplied by this before the formula (0–255 values)…
LITERATURE_SCALE: float = 255.0
#: … while its constants stay those of data range 1 (pytorch-ssim's ``C1``, ``C2``).
LITERATURE_C1: float = SSIM_K1**2
LITERATURE_C2: float = SSIM_K2**2
#: Image planes per step, by device type; others: :data:`PLANES_PER_CHUNK_DEFAULT`.
PLANES_PER_CHUNK: dict[str, int] = {"cpu": 1}
PLANES_PER_CHUNK_DEFAULT: int = 16
#: Rows per strip of a plane on the CPU: a strip's float64 maps (≈ 1.5 MB at 512 px wide) stay
#: in the cache through the whole computation, which is ~2× faster than whole planes. Other
#: devices take whole planes.
ROWS_PER_STRIP_CPU: int = 48


def ssim_radius(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> int:
    """Radius of the Gaussian window as scipy.ndimage computes it: ``int(truncate·σ + 0.5)``.

    Parameters
    ----------
    sigma : float
        Standard deviation of the Gaussian, px (> 0).
    truncate : float
        The window ends this many σ from its centre.

    Returns
    -------
    int
        The radius r, px: the window has 2r + 1 taps (r = 5 with the defaults).
    """
    return int(truncate * sigma + 0.5)


def gaussian_kernel1d(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> torch.Tensor:
    """Normalised 1-D Gaussian taps, float64, length 2·radius + 1 (scipy's ``_gaussian_kernel1d``).

    With the defaults these are also pytorch-ssim's ``gaussian(11, 1.5)``.

    Parameters
    ----------
    sigma : float
        Standard deviation of the Gaussian, px (> 0).
    truncate : float
        The window ends this many σ from its centre (:func:`ssim_radius`).

    Returns
    -------
    torch.Tensor
        (2r + 1,) float64 taps on the CPU, symmetric, summing to 1.
    """
    radius = ssim_radius(sigma, truncate)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def _filter_along(
    maps: torch.Tensor, taps: list[float], dim: int, *, out: torch.Tensor, scratch: torch.Tensor
) -> torch.Tensor:
    """Unpadded ('valid') correlation of ``maps`` with the symmetric ``taps`` along ``dim``.

    ``out`` and ``scratch`` have the shape of ``maps`` with n − 2r values along ``dim``; the result
    Σ_k taps[k]·maps[…, k : k + n − 2r, …] is written to ``out`` as taps[r]·centre +
    Σ taps[r+k]·(left + right) (shifted slices and in-place adds: as fast as a depthwise
    convolution on the CPU, and the maps stay contiguous).
    """
    radius = len(taps) // 2
    size = maps.shape[dim] - 2 * radius
    torch.mul(maps.narrow(dim, radius, size), taps[radius], out=out)
    for offset in range(1, radius + 1):
        torch.add(maps.narrow(dim, radius - offset, size), maps.narrow(dim, radius + offset, size), out=scratch)
        out.add_(scratch, alpha=taps[radius + offset])
    return out


def _ssim_formula(moments: torch.Tensor, c1: float, c2: float) -> torch.Tensor:
    """SSIM from filtered moments (μx, μy, E[x²], E[y²], E[xy]) stacked on dim 0; a new tensor."""
    mean_x, mean_y, xx, yy, xy = moments
    product = mean_x * mean_y
    squares = mean_x.square().add_(mean_y.square())
    luminance = (2.0 * product + c1).div_(squares + c1)
    contrast = (xy - product).mul_(2.0).add_(c2).div_((xx + yy).sub_(squares).add_(c2))
    return luminance.mul_(contrast)


def _moment_strips(output_planes: torch.Tensor, target_planes: torch.Tensor) -> Iterator[tuple[slice, torch.Tensor]]:
    """Gaussian-filtered moments of 255·planes with zero padding, strip by strip.

    Parameters
    ----------
    output_planes, target_planes : (N, H, W) float torch.Tensor
        Values in [0, 1].

    Yields
    ------
    rows : slice
        The rows of this strip.
    moments : (5, N, len(rows), W) float64 torch.Tensor
        μx, μy, E[x²], E[y²], E[xy] of x = 255·output, y = 255·target; a view of a workspace that
        the next strip overwrites.
    """
    taps = gaussian_kernel1d().tolist()
    radius = len(taps) // 2
    count, height, width = output_planes.shape
    strip = min(height, ROWS_PER_STRIP_CPU) if output_planes.device.type == "cpu" else height
    workspace = dict(dtype=torch.float64, device=output_planes.device)
    padded = torch.zeros((5, count, strip + 2 * radius, width + 2 * radius), **workspace)
    vertical = torch.empty((5, count, strip, width + 2 * radius), **workspace)
    vertical_scratch = torch.empty_like(vertical)
    filtered = torch.empty((5, count, strip, width), **workspace)
    filtered_scratch = torch.empty_like(filtered)
    for start in range(0, height, strip):
        rows = min(strip, height - start)
        first, stop = max(start - radius, 0), min(start + rows + radius, height)
        if first != start - radius or stop != start + rows + radius:
            padded.zero_()  # a strip at the top or bottom: rows outside the image are zeros
        into = slice(first - start + radius, stop - start + radius)
        x, y, xx, yy, xy = padded[:, :, into, radius : radius + width]
        x.copy_(output_planes[:, first:stop]).mul_(LITERATURE_SCALE)  # scaled in float64, not before
        y.copy_(target_planes[:, first:stop]).mul_(LITERATURE_SCALE)
        torch.mul(x, x, out=xx)
        torch.mul(y, y, out=yy)
        torch.mul(x, y, out=xy)
        window = padded[:, :, : rows + 2 * radius]
        _filter_along(window, taps, 2, out=vertical[:, :, :rows], scratch=vertical_scratch[:, :, :rows])
        yield (
            slice(start, start + rows),
            _filter_along(
                vertical[:, :, :rows], taps, 3, out=filtered[:, :, :rows], scratch=filtered_scratch[:, :, :rows]
            ),
        )


def _strip_maps(
    output_planes: torch.Tensor, target_planes: torch.Tensor
) -> Iterator[tuple[slice, torch.Tensor, torch.Tensor]]:
    """(rows, Wang map of the rows' inner pixels, literature map of the rows) strip by strip.

    The Wang map covers the strip's rows that lie in [r, H − r) and the columns [r, W − r)
    (r = 5): (N, inner rows, W − 2r); it is empty for strips inside the top or bottom border.
    The literature map covers the whole strip: (N, rows, W). Both float64.
    """
    radius = ssim_radius()
    height, width = output_planes.shape[1:]
    standard_c1 = (SSIM_K1 * LITERATURE_SCALE) ** 2  # Wang's constants for range 1, on 0–255 values
    standard_c2 = (SSIM_K2 * LITERATURE_SCALE) ** 2
    for rows, moments in _moment_strips(output_planes, target_planes):
        inner_first, inner_stop = max(rows.start, radius), min(rows.stop, height - radius)
        inner = moments[
            :, :, inner_first - rows.start : max(inner_stop, inner_first) - rows.start, radius : width - radius
        ]
        yield rows, _ssim_formula(inner, standard_c1, standard_c2), _ssim_formula(moments, LITERATURE_C1, LITERATURE_C2)


def _plane_chunks(count: int, device: torch.device) -> Iterator[slice]:
    chunk = max(1, PLANES_PER_CHUNK.get(device.type, PLANES_PER_CHUNK_DEFAULT))
    for start in range(0, count, chunk):
        yield slice(start, min(start + chunk, count))


def ssim_plane_sums(output_planes: torch.Tensor, target_planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-plane sums of both SSIM maps, from one pass of filtered moments.

    Parameters
    ----------
    output_planes, target_planes : (N, H, W) float torch.Tensor
        Image planes (one channel of one image each) in [0, 1], same device; H, W ≥ 11.

    Returns
    -------
    standard : (N,) float64 torch.Tensor
        Σ of Wang et al.'s SSIM map over the (H − 10)·(W − 10) pixels whose window lies inside.
    literature : (N,) float64 torch.Tensor
        Σ of the literature's (pytorch-ssim ×255) map over all H·W pixels.
    """
    count = output_planes.shape[0]
    standard = torch.zeros(count, dtype=torch.float64, device=output_planes.device)
    literature = torch.zeros_like(standard)
    for planes in _plane_chunks(count, output_planes.device):
        for _, standard_map, literature_map in _strip_maps(output_planes[planes], target_planes[planes]):
            standard[planes] += standard_map.sum(dim=(1, 2))
            literature[planes] += literature_map.sum(dim=(1, 2))
    return standard, literature


def ssim_plane_maps(output_planes: torch.Tensor, target_planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both SSIM maps in full (for inspection and tests; :func:`ssim_plane_sums` is what scoring uses).

    Parameters
    ----------
    output_planes, target_planes : (N, H, W) float torch.Tensor
        Image planes (one channel of one image each) in [0, 1], same device; H, W ≥ 11.

    Returns
    -------
    standard : (N, H − 2r, W − 2r) float64 torch.Tensor
        Wang et al.'s map at the pixels whose window lies inside the image (r = 5).
    literature : (N, H, W) float64 torch.Tensor
        The literature's map at every pixel.
    """
    radius = ssim_radius()
    count, height, width = output_planes.shape
    standard = torch.empty(
        (count, height - 2 * radius, width - 2 * radius), dtype=torch.float64, device=output_planes.device
    )
    literature = torch.empty((count, height, width), dtype=torch.float64, device=output_planes.device)
    for planes in _plane_chunks(count, output_planes.device):
        for rows, standard_map, literature_map in _strip_maps(output_planes[planes], target_planes[planes]):
            inner_first = max(rows.start, radius) - radius
            standard[planes, inner_first : inner_first + standard_map.shape[1]] = standard_map
            literature[planes, rows] = literature_map
    return standard, literature
