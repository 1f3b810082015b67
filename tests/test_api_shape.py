"""Every command of the library has one shape: ``command(inputs, *, config, overwrite)``.

``config`` is the command's :class:`maskbench.config.Config` subclass, loaded with
``XConfig.load(file, **overrides)``; the few keyword arguments that are not settings are
listed here, so that a new one is a decision, not an accident.
"""

from __future__ import annotations

import inspect
import typing

import pytest

from maskbench.config import Config
from maskbench.extract import extract_videos
from maskbench.importing import import_masks
from maskbench.inspection import inspect_path
from maskbench.procedural import generate_masks
from maskbench.score import score
from maskbench.testset import build_testset
from maskbench.train import train

#: Command → keyword-only arguments besides ``config`` and ``overwrite`` (objects, not settings).
COMMANDS = {
    extract_videos: {"show_progress"},
    build_testset: set(),
    inspect_path: set(),
    score: set(),
    train: {"augment", "feature_extractor"},
    generate_masks: set(),
    import_masks: set(),
}


@pytest.mark.parametrize("command", list(COMMANDS), ids=lambda command: command.__name__)
def test_a_command_takes_inputs_then_config_and_overwrite(command):
    parameters = inspect.signature(command).parameters.values()
    keywords = [parameter.name for parameter in parameters if parameter.kind is inspect.Parameter.KEYWORD_ONLY]
    positional = [parameter for parameter in parameters if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert keywords[:2] == ["config", "overwrite"]
    assert set(keywords[2:]) == COMMANDS[command]
    assert positional and not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)


@pytest.mark.parametrize("command", list(COMMANDS), ids=lambda command: command.__name__)
def test_the_config_of_a_command_loads_its_defaults(command):
    hints = typing.get_type_hints(command)
    (schema,) = [arg for arg in typing.get_args(hints["config"]) if arg is not type(None)]
    assert issubclass(schema, Config)
    assert isinstance(schema.load(), schema)
