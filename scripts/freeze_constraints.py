"""Rewrite requirements/constraints.txt from the packages installed in this environment (pip freeze).

Run with the project's interpreter after adding or upgrading a package on purpose:
``.venv/bin/python scripts/freeze_constraints.py``. Left out: the project itself, and the distributions that
the ROS 2 wheels register internally (``rclpy``, ``std_msgs``, ... as egg-info inside ``ros-*`` wheels; they
are not on PyPI under those names). torch is pinned without its local build tag (``+cpu``) so that the pin
also matches the CPU wheel from PyTorch's index. Pins with an environment marker (the ONNX Runtime build per
platform) stay as they are, except that the one installed here gets its installed version.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

CONSTRAINTS = Path(__file__).resolve().parents[1] / "requirements" / "constraints.txt"
HEADER = (
    "# Exact versions of everything requirements/python.txt and requirements/ros-wheels.txt pull in\n"
    "# (pip freeze of a working environment, without the packages the ROS wheels register internally).\n"
    "# Used as pip constraints: a pin here installs nothing by itself. Regenerate with\n"
    "# `.venv/bin/python scripts/freeze_constraints.py`.\n"
)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _excluded_names() -> set[str]:
    """The project itself and every distribution whose metadata folder ships inside a ``ros-*`` wheel."""
    excluded = {"hit-ros"}
    for distribution in importlib.metadata.distributions():
        if not _canonical(distribution.metadata["Name"]).startswith("ros-"):
            continue
        for file in distribution.files or []:
            folder = file.parts[0]
            if folder.endswith(".egg-info"):
                excluded.add(_canonical(folder.split("-")[0]))
    return excluded


def main() -> int:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    excluded = _excluded_names()
    marked = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if ";" in line and not line.startswith("#"):
            requirement, marker = (part.strip() for part in line.split(";", 1))
            marked[_canonical(requirement.split("==")[0])] = (requirement, marker)
    installed = {}
    pins = []
    for line in frozen:
        if not line or line.startswith(("#", "-e")) or "==" not in line:
            continue
        name, version = line.split("==", 1)
        if _canonical(name) in excluded:
            continue
        if _canonical(name) in marked:
            installed[_canonical(name)] = f"{name}=={version}"
            continue
        pins.append(f"{name}=={version.split('+')[0] if _canonical(name) == 'torch' else version}")
    for name, (requirement, marker) in marked.items():
        pins.append(f"{installed.get(name, requirement)}; {marker}")
    CONSTRAINTS.write_text(HEADER + "\n".join(sorted(pins, key=str.lower)) + "\n", encoding="utf-8")
    print(f"wrote {len(pins)} pins to {CONSTRAINTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
