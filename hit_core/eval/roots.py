"""Where each dataset lives: a CLI option, an environment variable, or a YAML file, in that order.

Nothing here reads the environment by itself: the caller (the CLI) passes ``os.environ`` in.
The YAML file maps reader names to folders, e.g. ``lasot: /data/LaSOTBenchmark``; relative
paths are taken relative to the YAML file.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from hit_core.config_file import read_yaml_mapping
from hit_core.data.registry import dataset_names
from hit_core.errors import ConfigError

ROOT_ENV_PREFIX = "HIT_DATASET_"
CONFIG_ENV = "HIT_DATASETS_FILE"


def root_env_name(reader: str) -> str:
    """The environment variable holding ``reader``'s root, e.g. ``HIT_DATASET_LASOT_EXT``."""
    return ROOT_ENV_PREFIX + reader.upper()


def read_roots_file(path: str | Path) -> dict[str, Path]:
    """Dataset roots listed in a YAML mapping ``{reader name: folder}``; unknown names are an error."""
    path = Path(path).expanduser()
    content = read_yaml_mapping(
        path,
        missing=f"dataset roots file {path} does not exist; it should map names such as lasot to folders",
        not_mapping=f"{path} must be a YAML mapping such as 'lasot: /data/LaSOT'",
    )
    roots = {}
    known = dataset_names()
    for key, value in content.items():
        name = str(key).lower()
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f"; known names: {', '.join(known)}"
            raise ConfigError(f"{path}: unknown dataset {key!r}{hint}")
        if not isinstance(value, str):
            raise ConfigError(f"{path}: the root of {key} must be a folder path, got {value!r}")
        folder = Path(value).expanduser()
        roots[name] = folder if folder.is_absolute() else (path.parent / folder).resolve()
    return roots


def resolve_dataset_root(
    reader: str,
    root: str | Path | None,
    environ: Mapping[str, str],
    roots_file: str | Path | None = None,
) -> Path:
    """The folder of dataset ``reader``: ``root`` if given, else ``$HIT_DATASET_<NAME>``, else the
    entry in ``roots_file`` (or in the file named by ``$HIT_DATASETS_FILE``)."""
    if root is not None:
        return Path(root).expanduser()
    variable = root_env_name(reader)
    if environ.get(variable):
        return Path(environ[variable]).expanduser()
    roots_file = roots_file or environ.get(CONFIG_ENV)
    if roots_file:
        roots = read_roots_file(roots_file)
        if reader in roots:
            return roots[reader]
    raise ConfigError(
        f"no folder given for dataset {reader}: pass --root PATH, set {variable}, "
        f"or add '{reader}: PATH' to a YAML file named by --datasets-file or ${CONFIG_ENV}"
    )
