"""Options and helpers shared by every command of the command line."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from maskbench.errors import MaskbenchError

CommandT = TypeVar("CommandT", bound=Callable[..., Any])

#: Exit status of a command stopped by a user mistake (bad input, bad option).
USER_ERROR_EXIT = 2


def reports_user_errors(command: CommandT) -> CommandT:
    """Print a :class:`MaskbenchError` as one line ``Error: ...`` and exit with status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MaskbenchError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(USER_ERROR_EXIT)

    return wrapper  # type: ignore[return-value]


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML file whose keys replace the shipped defaults (configs/NAME.toml).",
)
overwrite_option = click.option(
    "--overwrite", is_flag=True, default=False, help="Replace existing outputs instead of refusing."
)
workers_option = click.option(
    "--workers", type=click.IntRange(min=0), default=None, help="Worker processes (0 or 1: none). [config]"
)
seed_option = click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed. [config]")
device_option = click.option(
    "--device", default="auto", show_default=True, help="Torch device: auto (CUDA if present), cpu, cuda, cuda:1, ..."
)
