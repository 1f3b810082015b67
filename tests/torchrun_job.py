"""One torchrun job for tests/test_torchrun.py: every distributed check in a single launch.

Run as ``torchrun --standalone --nproc-per-node 2 tests/torchrun_job.py OUT IMAGES TESTSET VIDEOS
TRAIN_IMAGES TRAIN_MASKS EXTRACT_CONFIG`` (starting a job costs most of its time on a shared CPU, so
the checks share one). Each rank, in order:

1. one DDP training step on the same batch as every other rank → ``OUT/ddp-rank{R}.pt``;
2. ``train()`` for two steps (global batch 4: 2 per rank) into ``OUT/run``;
3. ``maskbench score`` and ``maskbench extract`` through the command line into ``OUT/score`` and
   ``OUT/masks.store``;
4. the failure: rank 1 runs ``maskbench score`` on a missing folder (exit 2) while rank 0 waits
   for it in a collective; torchrun must end the job with rank 1's error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from test_train import AUGMENT, TINY, TinyFeatures

from maskbench.cli import main
from maskbench.distributed import Ranks, join_job, unwrapped, wait_for_all, wrap_for_ranks
from maskbench.losses import InpaintingLoss
from maskbench.models.unet import build_unet, he_initialize
from maskbench.train import train
from maskbench.train_config import TrainConfig

SCORE_OPTIONS = [
    "--model",
    "telea",
    "--device",
    "cpu",
    "--no-inception",
    "--workers",
    "0",
    "--batch-size",
    "2",
    "--size",
    "64",
    "--upscale-small-images",
    "--limit-per-bin",
    "1",
]


def ddp_step_weights(ranks: Ranks) -> dict[str, torch.Tensor]:
    """Weights of a thin PConv U-Net after one Adam step on a fixed batch (the same on every rank)."""
    model = build_unet("pconv", width=0.0625)
    he_initialize(model, generator=torch.Generator().manual_seed(0))
    trained = wrap_for_ranks(model, torch.device("cpu"), ranks)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, 32, 32, generator=generator)
    valid_mask = (torch.rand(2, 1, 32, 32, generator=generator) > 0.3).float()
    loss_function = InpaintingLoss(TinyFeatures(), weights=TrainConfig.load(**TINY).loss_weights())
    loss = loss_function(trained(image * valid_mask, valid_mask), image, valid_mask)["total"]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {name: value.detach().clone() for name, value in unwrapped(trained).state_dict().items()}


def run_command(arguments: list[str]) -> None:
    """``maskbench ARGUMENTS`` in this process; a user error exits (status 2) as on the command line."""
    main(arguments, standalone_mode=False)


def main_job(
    out: Path, images: str, testset: str, videos: str, train_images: str, train_masks: str, extract_config: str
) -> None:
    ranks = join_job()
    torch.save(ddp_step_weights(ranks), out / f"ddp-rank{ranks.rank}.pt")
    config = TrainConfig.load(
        **{**TINY, "batch_size": 4, "checkpoint_every": 100}, arch="pconv", stop_step=2, device="cpu"
    )  # 2 images per rank
    train(out / "run", train_images, train_masks, config=config, augment=AUGMENT, feature_extractor=TinyFeatures())
    run_command(["score", *SCORE_OPTIONS, "--images", images, "--testset", testset, "--out", str(out / "score")])
    run_command(["extract", "--videos", videos, "--out", str(out / "masks.store"), "--config", extract_config])
    wait_for_all(ranks)
    (out / f"done-rank{ranks.rank}").touch()
    if ranks.rank == 1:
        run_command(
            [
                "score",
                *SCORE_OPTIONS,
                "--images",
                str(out / "no-such-folder"),
                "--testset",
                testset,
                "--out",
                str(out / "failed"),
            ]
        )
    wait_for_all(ranks)  # rank 0 waits here for a rank that has ended: torchrun must stop the job
    (out / f"passed-the-failure-rank{ranks.rank}").touch()


if __name__ == "__main__":
    main_job(Path(sys.argv[1]), *sys.argv[2:8])
