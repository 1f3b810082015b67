"""Options and helpers shared by every command of the command line."""

from __future__ import annotations

import functools
import shlex
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from maskbench.errors import MaskbenchError, MaskbenchWarning
from maskbench.interrupts import Interrupted

CommandT = TypeVar("CommandT", bound=Callable[..., Any])

#: Exit status of a command stopped by a user mistake (bad input, bad option).
USER_ERROR_EXIT = 2
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT = 130


def reports_user_errors(command: CommandT) -> CommandT:
    """Print a :class:`MaskbenchError` as one line ``Error: ...`` and exit with status 2.

    Also: a :class:`~maskbench.errors.MaskbenchWarning` prints as one line ``Warning: ...``, and
    Ctrl-C prints one line saying what is kept and the command that continues the work, then
    exits with status 130 (the library has finished the write in hand).

    Parameters
    ----------
    command : callable
        A click command's function, below the ``@click.command`` and option decorators.

    Returns
    -------
    callable
        The same function wrapped (same name, signature and docstring).
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        """Call ``command``; report user errors, maskbench's warnings and Ctrl-C in one line.

        Parameters
        ----------
        *args, **kwargs
            The arguments click passes to the command.

        Returns
        -------
        object
            What ``command`` returns.
        """
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return command(*args, **kwargs)
        except MaskbenchError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(USER_ERROR_EXIT)
        except KeyboardInterrupt as interrupt:
            click.echo(_interrupt_line(interrupt, click.get_current_context()), err=True)
            sys.exit(INTERRUPTED_EXIT)

    return wrapper  # type: ignore[return-value]  # functools.wraps does not keep the type of ``command``


_python_show_warning = warnings.showwarning


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """``Warning: ...`` for maskbench's own warnings; Python's usual format for the others."""
    if issubclass(category, MaskbenchWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _python_show_warning(message, category, *args, **kwargs)


def _interrupt_line(interrupt: KeyboardInterrupt, context: click.Context) -> str:
    """``Interrupted: KEPT; continue with: maskbench COMMAND ...``."""
    if isinstance(interrupt, Interrupted):
        kept = interrupt.kept
        arguments = (
            interrupt.resume_arguments if interrupt.resume_arguments is not None else list(_given_arguments(context))
        )
    else:
        kept = "the work finished before it is kept"
        arguments = list(_given_arguments(context))
    command = ["maskbench", *context.command_path.split()[1:]]
    return f"Interrupted: {kept}; continue with: {shlex.join([*command, *arguments])}"


def _given_arguments(context: click.Context) -> Iterator[str]:
    """The options and arguments given on the command line, in the command's order."""
    for parameter in context.command.params:
        name = parameter.name or ""
        if context.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        value = context.params[name]
        values = (
            value if parameter.multiple or (isinstance(parameter, click.Argument) and parameter.nargs != 1) else [value]
        )
        for item in values:
            if isinstance(parameter, click.Argument):
                yield str(item)
            elif isinstance(parameter, click.Option) and parameter.is_flag:
                yield parameter.opts[0] if item else (parameter.secondary_opts or [parameter.opts[0]])[0]
            else:
                yield parameter.opts[0]
                yield from (str(part) for part in (item if isinstance(item, tuple) else (item,)))


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
    "--device",
    default=None,
    help="Torch device: auto (CUDA if present), cpu, cuda, cuda:1, ... [config; default: auto]",
)
