"""Command defaults from ``configs/*.toml``, user overrides, frozen dataclasses.

Every command has one TOML file of defaults in the top-level ``configs/`` folder (shipped
inside the package as ``maskbench.configs``) and one frozen dataclass that names and types
its keys; the dataclass derives from :class:`Config` and lives in the module that uses it.
``XConfig.load(file, **overrides)`` reads the defaults, merges a user's TOML file and
keyword overrides on top, and validates the result: an unknown key, a wrong type or a missing
key raises :class:`ConfigError` naming the key, the file and what was expected.

Every command of the library has the same shape, ``command(inputs, *, config=XConfig.load())``;
the command line only builds the config from its options and calls.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from maskbench.errors import ConfigError

ConfigT = TypeVar("ConfigT")


def default_config_text(name: str) -> str:
    """Text of the shipped ``configs/NAME.toml``.

    Parameters
    ----------
    name : str
        Name of the defaults file without ``.toml``, e.g. ``"train"``.

    Returns
    -------
    str
        The file's text, as shipped in the package ``maskbench.configs``.

    Raises
    ------
    ConfigError
        No such file is shipped.
    """
    try:
        return resources.files("maskbench.configs").joinpath(f"{name}.toml").read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no default configuration named {name!r} (configs/{name}.toml)") from None


def default_config_values(name: str) -> dict[str, Any]:
    """The keys and values of the shipped ``configs/NAME.toml``.

    Parameters
    ----------
    name : str
        Name of the defaults file without ``.toml``, e.g. ``"train"``.

    Returns
    -------
    dict
        Key → value as TOML reads them (arrays are lists); a new dict on every call.

    Raises
    ------
    ConfigError
        No such file is shipped.
    """
    return tomllib.loads(default_config_text(name))


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file, with a one-line error for a missing or malformed file.

    Parameters
    ----------
    path : path-like
        The TOML file, UTF-8.

    Returns
    -------
    dict
        Key → value as TOML reads them (arrays are lists, tables are dicts).

    Raises
    ------
    ConfigError
        The file does not exist or is not valid TOML.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` fits a (simple) type annotation: scalars, tuples, lists, unions."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (tuple, list):
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_accepts, args, value))
        return all(_accepts(args[0], item) for item in value) if args else True
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, annotation)


def _convert(annotation: Any, value: Any) -> Any:
    """TOML arrays become tuples for tuple fields; ints become floats for float fields."""
    if annotation is float and isinstance(value, int):
        return float(value)
    if typing.get_origin(annotation) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def build_dataclass(schema: type[ConfigT], values: dict[str, Any], *, origin: str) -> ConfigT:
    """Validate a flat mapping against a dataclass and build it.

    Parameters
    ----------
    schema : dataclass type
        A frozen dataclass whose fields name every allowed key.
    values : dict
        Key → value, e.g. from TOML.
    origin : str
        Where the values came from, for error messages.

    Returns
    -------
    schema
        An instance of ``schema``: TOML arrays become tuples for tuple fields and integers
        become floats for float fields; its ``validate()``, if any, has passed.

    Raises
    ------
    ConfigError
        An unknown key, a missing key, a value of the wrong type, or one that ``validate()``
        refuses.
    """
    hints = typing.get_type_hints(schema)
    names = [field.name for field in dataclasses.fields(schema)]
    check_known_keys(schema, values, origin=origin)
    missing = [name for name in names if name not in values]
    if missing:
        raise ConfigError(f"{origin} lacks the key(s) {', '.join(missing)}")
    converted = {}
    for name in names:
        value = values[name]
        if not _accepts(hints[name], value):
            raise ConfigError(f"key {name!r} in {origin} must be {_describe(hints[name])}, got {value!r}")
        converted[name] = _convert(hints[name], value)
    config = schema(**converted)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def check_known_keys(schema: type, values: dict[str, Any], *, origin: str, also: Collection[str] = ()) -> None:
    """Raise :class:`ConfigError` for the first key that neither ``schema`` nor ``also`` has.

    Parameters
    ----------
    schema : dataclass type
        Its fields are the known keys.
    values : dict
        Key → value, e.g. from a user's TOML file.
    origin : str
        Where the values came from, for the message.
    also : collection of str
        More keys to accept (and ignore), e.g. the other keys of a shared defaults file.

    Raises
    ------
    ConfigError
        Naming the key, the file, and the closest known key.
    """
    names = [field.name for field in dataclasses.fields(schema)]
    for key in values:
        if key not in names and key not in also:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(names)}"
            raise ConfigError(f"unknown key {key!r} in {origin}{hint}")


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(value) for value in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(annotation))
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def load_config(
    name: str,
    schema: type[ConfigT],
    *,
    user_file: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    part: bool = False,
) -> ConfigT:
    """Load ``configs/NAME.toml``, then a user's file, then overrides; validate.

    Parameters
    ----------
    name : str
        Name of the shipped defaults file, e.g. ``"testset"``.
    schema : dataclass type
        Frozen dataclass of the command's settings. If it has a ``validate()`` method, it is
        called and may raise :class:`ConfigError` for values out of range.
    user_file : path-like, optional
        A TOML file whose keys replace the defaults (``--config`` on the command line).
    overrides : dict, optional
        Values from command-line options; ``None`` values are ignored (option not given).
    part : bool
        ``schema`` holds only some keys of the file (the augmentation ranges of
        ``testset.toml``): the file's other keys are accepted and left out.

    Returns
    -------
    schema
        The validated, frozen configuration.

    Raises
    ------
    ConfigError
        For an unknown key, a wrong type, a missing key, a value out of range or a missing or
        malformed file.
    """
    values = default_config_values(name)
    others = set(values) if part else set()
    origin = f"configs/{name}.toml"
    if user_file is not None:
        user_values = read_toml(user_file)
        check_known_keys(schema, user_values, origin=str(user_file), also=others)
        values.update(user_values)
        origin = f"{user_file} (over {origin})"
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    check_known_keys(schema, given, origin="the overrides", also=others)
    values.update(given)
    if part:
        names = {field.name for field in dataclasses.fields(schema)}
        values = {key: value for key, value in values.items() if key in names}
    return build_dataclass(schema, values, origin=origin)


def config_as_dict(config: Any) -> dict[str, Any]:
    """A configuration dataclass as a plain dict (tuples become lists), for JSON.

    Parameters
    ----------
    config : dataclass
        Any configuration dataclass instance.

    Returns
    -------
    dict
        Field name → value, in field order.
    """
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(config).items()
    }


class Config:
    """Base of every command's frozen configuration dataclass.

    A subclass is a ``@dataclass(frozen=True)`` whose fields are the keys of
    ``configs/<defaults>.toml``; it may define ``validate()`` to refuse values out of range
    with a :class:`ConfigError`.
    """

    #: Name of the shipped defaults file, ``configs/<defaults>.toml``.
    defaults: ClassVar[str]
    #: True when the dataclass holds only some keys of that file (see :func:`load_config`).
    part_of_file: ClassVar[bool] = False

    @classmethod
    def load(cls, file: str | os.PathLike | None = None, **overrides: Any) -> Self:
        """The shipped defaults, then ``file``'s keys, then ``overrides``; validated.

        Parameters
        ----------
        file : path-like, optional
            A TOML file whose keys replace the defaults (``--config`` on the command line).
        **overrides
            Keys and values that replace both; a value of ``None`` means "not given".

        Returns
        -------
        Config
            The validated, frozen configuration (an instance of the subclass).

        Raises
        ------
        ConfigError
            For an unknown key, a wrong type, a value out of range or an unreadable file.
        """
        return load_config(cls.defaults, cls, user_file=file, overrides=overrides, part=cls.part_of_file)

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (tuples become lists), for JSON.

        Returns
        -------
        dict
            Field name → value, in field order (:func:`config_as_dict`).
        """
        return config_as_dict(self)
