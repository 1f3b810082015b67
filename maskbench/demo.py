"""``make demo``: the whole pipeline on data that maskbench makes itself.

1. a short video from scikit-image's photographs with moving textured objects
   (:func:`maskbench.synthetic.write_demo_video`, a real OpenCV codec round trip);
2. ``extract``: occlusion/disocclusion masks from it into a mask store;
3. ``build-testset``: a small binned split (``--per-bin`` masks in each of the 12 bins);
4. ``score``: Telea and PatchMatch on scikit-image's photographs → Table 1 and plots.

Run ``python -m maskbench.demo --out demo-output``. Every step writes into ``--out``; a
second run replaces the earlier demo.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import numpy as np
import torch
from skimage import data

from maskbench.cli.common import reports_user_errors
from maskbench.errors import OutputExistsError
from maskbench.extract import extract_videos
from maskbench.extract_config import ExtractConfig
from maskbench.files import write_image
from maskbench.score import ScoreConfig, score
from maskbench.synthetic import write_demo_video
from maskbench.testset import build_testset
from maskbench.testset_config import TestsetConfig

#: scikit-image's colour photographs used as test images.
DEMO_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
)


def write_demo_images(folder: Path) -> list[Path]:
    """Write scikit-image's colour photographs as PNG files into ``folder``.

    Parameters
    ----------
    folder : Path
        Where to write ``NAME.png`` for every name of :data:`DEMO_PHOTOS`; created if missing.

    Returns
    -------
    list of Path
        The files written, in the order of :data:`DEMO_PHOTOS` (8-bit RGB, at the sizes scikit-image ships).
    """
    paths = []
    for name in DEMO_PHOTOS:
        photo = getattr(data, name)()
        path = folder / f"{name}.png"
        write_image(path, np.ascontiguousarray(photo[..., :3]))
        paths.append(path)
    return paths


#: File that marks a folder as the output of this demo, so that a rerun may replace it.
DEMO_MARKER = "maskbench-demo.txt"


def _replace_earlier_demo(out_dir: Path) -> None:
    """Remove an earlier demo's folder; refuse any other existing, non-empty folder."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / DEMO_MARKER).is_file():
            raise OutputExistsError(f"{out_dir} exists and is not a maskbench demo folder; choose another --out")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / DEMO_MARKER).write_text("Made by 'python -m maskbench.demo'; a rerun replaces this folder.\n")


def run_demo(out_dir: Path, *, per_bin: int, frames: int, models: tuple[str, ...], flow_method: str) -> Path:
    """Run the four steps into ``out_dir``; return the folder of the results.

    Parameters
    ----------
    out_dir : Path
        The demo folder; an earlier demo's folder is replaced, any other non-empty folder
        refused.
    per_bin : int
        Masks per bin of the test split, ≥ 1.
    frames : int
        Frames of the demo video, ≥ 2.
    models : tuple of str
        Inpainters to score, e.g. ``("telea", "patchmatch")``.
    flow_method : str
        Flow method of the extract step, e.g. ``"dis"`` or ``"tvl1"``.

    Returns
    -------
    Path
        ``out_dir/results``, with ``table1.csv``, ``table1.md``, ``metrics.png`` and
        ``samples.png``.

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists, is not empty, and is not an earlier demo's folder.
    """
    _replace_earlier_demo(out_dir)
    videos = out_dir / "videos"
    click.echo(f"[1/4] writing a {frames}-frame demo video to {videos}")
    write_demo_video(videos / "demo.mp4", frames=frames, seed=0)

    store = out_dir / "masks.store"
    click.echo(f"[2/4] extracting occlusion masks into {store}")
    extract_summary = extract_videos(videos, store, config=ExtractConfig.load(method=flow_method))
    click.echo(extract_summary.to_text())

    testset = out_dir / "testset"
    click.echo(f"[3/4] building a test split with {per_bin} masks per bin in {testset}")
    build_summary = build_testset(store, testset, config=TestsetConfig.load(per_bin=per_bin))
    click.echo(build_summary.table())

    images = out_dir / "images"
    write_demo_images(images)
    results = out_dir / "results"
    click.echo(f"[4/4] scoring {', '.join(models)} on {images} into {results}")
    # scikit-image's photographs are 300-512 px: enlarged to 512 here, refused by default
    score(
        models,
        images,
        testset,
        results,
        config=ScoreConfig.load(reuse_images=True, inception=False, upscale_small_images=True),
    )
    return results


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("demo-output"), show_default=True)
@click.option("--per-bin", type=click.IntRange(min=1), default=2, show_default=True, help="Masks per bin of the split.")
@click.option("--frames", type=click.IntRange(min=2), default=24, show_default=True, help="Frames of the demo video.")
@click.option(
    "--flow-method",
    default=None,
    help="Flow of the extract step; default: tvl1 with a GPU, OpenCV's dis on the CPU (fast).",
)
@reports_user_errors
def main(out_dir: Path, per_bin: int, frames: int, flow_method: str | None) -> None:
    """Run extract → build-testset → score on generated data and print where the results are.

    \f

    Parameters
    ----------
    out_dir : Path
        ``--out``: the demo folder (:func:`run_demo`).
    per_bin : int
        ``--per-bin``: masks per bin of the split, ≥ 1.
    frames : int
        ``--frames``: frames of the demo video, ≥ 2.
    flow_method : str or None
        ``--flow-method``; None: ``"tvl1"`` with a GPU, ``"dis"`` on the CPU.
    """
    if flow_method is None:
        flow_method = "tvl1" if torch.cuda.is_available() else "dis"
    results = run_demo(out_dir, per_bin=per_bin, frames=frames, models=("telea", "patchmatch"), flow_method=flow_method)
    click.echo("")
    click.echo(f"Table 1 (CSV):      {results / 'table1.csv'}")
    click.echo(f"Table 1 (Markdown): {results / 'table1.md'}")
    click.echo(f"Metric plots:       {results / 'metrics.png'}")
    click.echo(f"Sample grid:        {results / 'samples.png'}")
    click.echo(f"Test split preview: {out_dir / 'testset' / 'preview.png'}")
    click.echo("")
    click.echo((results / "table1.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
