"""The ``maskbench`` command line: one thin click command per library function.

Each command parses its options, loads its configuration (``configs/NAME.toml`` plus
``--config`` and the options given), calls one function of the library and prints where its
outputs went. A user mistake prints one ``Error: ...`` line and exits with status 2.
"""

from __future__ import annotations

import click

from maskbench import __version__
from maskbench.cli import extract, masks, score, testset, train

#: The modules of the commands, one per pipeline stage; each lists its click commands in ``COMMANDS``.
COMMAND_MODULES = (extract, masks, testset, score, train)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="maskbench")
def main() -> None:
    """maskbench: realistic irregular-hole masks and Table-1 scoring for image inpainting.

    \b
    Typical pipeline (Liu et al. 2018, "Image Inpainting for Irregular Holes Using
    Partial Convolutions"):
      maskbench extract --videos clips/ --out raw.store        masks from video occlusions
      maskbench generate --kind mixed -n 5000 --out raw.store  or procedural masks
      maskbench build-testset --masks raw.store --out split/   the 6x2xN binned test split
      maskbench inspect split/                                 counts, histogram, examples
      maskbench score --model telea --images photos/ --testset split/ --out results/

    Every command's defaults live in configs/*.toml; run 'maskbench COMMAND --help'.
    """


for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        main.add_command(_command)
