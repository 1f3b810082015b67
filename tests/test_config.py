"""Configuration loading: defaults, user files, overrides and the errors for bad keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from maskbench.config import build_dataclass, load_config, read_toml
from maskbench.errors import ConfigError


@dataclass(frozen=True)
class Example:
    count: int
    scale: float
    mode: Literal["a", "b"]
    radius_range: tuple[int, int]

    def validate(self) -> None:
        if self.count < 0:
            raise ConfigError(f"count must be >= 0, got {self.count}")


VALID = {"count": 3, "scale": 1, "mode": "a", "radius_range": [1, 4]}


def test_build_converts_toml_types():
    config = build_dataclass(Example, VALID, origin="t")
    assert config == Example(3, 1.0, "a", (1, 4))
    assert isinstance(config.scale, float)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**VALID, "cuont": 1}, "unknown key 'cuont' in t; did you mean 'count'"),
        ({k: v for k, v in VALID.items() if k != "mode"}, "lacks the key"),
        ({**VALID, "mode": "c"}, "key 'mode' in t must be one of 'a', 'b', got 'c'"),
        ({**VALID, "count": 1.5}, "key 'count' in t must be int"),
        ({**VALID, "count": True}, "key 'count' in t must be int"),
        ({**VALID, "radius_range": [1, 2, 3]}, "key 'radius_range'"),
        ({**VALID, "count": -1}, "count must be >= 0"),
    ],
)
def test_bad_values_name_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        build_dataclass(Example, values, origin="t")


@dataclass(frozen=True)
class WithUnion:
    margin: int | Literal["auto"]


def test_a_key_of_several_types_names_them_all():
    with pytest.raises(ConfigError, match="key 'margin' in t must be int or one of 'auto', got 'foo'"):
        build_dataclass(WithUnion, {"margin": "foo"}, origin="t")


def test_read_toml_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_toml(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("count = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_toml(tmp_path / "bad.toml")


def test_load_config_layers_user_file_and_overrides(tmp_path, monkeypatch):
    import maskbench.config as config_module

    monkeypatch.setattr(
        config_module, "default_config_text", lambda name: 'count = 3\nscale = 1.0\nmode = "a"\nradius_range = [1, 4]\n'
    )
    user = tmp_path / "user.toml"
    user.write_text("count = 7\n")
    config = load_config("example", Example, user_file=user, overrides={"scale": 2.5, "mode": None})
    assert config == Example(7, 2.5, "a", (1, 4))
    user.write_text("colour = 1\n")
    with pytest.raises(ConfigError, match=f"unknown key 'colour' in {user}"):
        load_config("example", Example, user_file=user)


def test_unknown_default_file_is_reported():
    with pytest.raises(ConfigError, match="no default configuration named 'nope'"):
        load_config("nope", Example)
