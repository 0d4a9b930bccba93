"""YAML configuration files (training recipes, dataset roots): read one mapping, fail with a clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hit_core.errors import ConfigError


def read_yaml_mapping(path: Path, *, missing: str, not_mapping: str) -> dict[Any, Any]:
    """The mapping held by the YAML file ``path`` (an empty file gives ``{}``).

    Raises ConfigError with ``missing`` when ``path`` is not a file, with ``not_mapping`` when
    it holds something other than a mapping, and ``"<path> is not valid YAML: <why>"`` when it
    does not parse.
    """
    import yaml

    if not path.is_file():
        raise ConfigError(missing)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(content, dict):
        raise ConfigError(not_mapping)
    return content
