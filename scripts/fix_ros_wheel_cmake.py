"""Point the CMake exports of the ROS 2 PyPI wheels at this environment's Python and NumPy headers.

The ``ros-*`` wheels install an ament prefix at the environment root. Their exported CMake targets
(``share/<pkg>/cmake/*Export.cmake``) list include directories from the machine the wheels were built
on, e.g. ``/opt/python/cp311-cp311/include/python3.11`` and ``.../site-packages/numpy/_core/include``.
CMake refuses to generate a package that links such a target while those folders are missing, so this
script rewrites every missing Python or NumPy include directory to the ones of the interpreter running
it. Existing folders are left alone, which makes the rewrite idempotent.

Usage: ``python scripts/fix_ros_wheel_cmake.py [PREFIX]`` (default: ``sys.prefix``). Run it with the
environment's own interpreter after every install of ``ros-*`` wheels.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

_INCLUDE_PROPERTY = re.compile(r'(INTERFACE_INCLUDE_DIRECTORIES\s+")([^"]*)(")')
_PYTHON_INCLUDE = re.compile(r"/include/python3\.\d+$")
_NUMPY_INCLUDE = re.compile(r"/numpy/(_core|core)/include$")


def _replacement(directory: str, python_include: str, numpy_include: str) -> str:
    if Path(directory).exists():
        return directory
    if _PYTHON_INCLUDE.search(directory):
        return python_include
    if _NUMPY_INCLUDE.search(directory):
        return numpy_include
    return directory


def fix_exports(prefix: Path) -> list[Path]:
    """Rewrite missing Python/NumPy include directories in ``prefix/share/*/cmake/*.cmake``.

    Returns the files that were changed.
    """
    import numpy

    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    if not Path(python_include, "Python.h").is_file():
        raise SystemExit(
            f"Python headers not found at {python_include}; install them "
            f"(Debian/Ubuntu: apt-get install python3-dev, or the python3.11-dev of your interpreter)"
        )

    def rewrite(match: re.Match[str]) -> str:
        directories = [_replacement(d, python_include, numpy_include) for d in match.group(2).split(";") if d]
        return match.group(1) + ";".join(directories) + match.group(3)

    changed = []
    for cmake_file in sorted(prefix.glob("share/*/cmake/*.cmake")):
        text = cmake_file.read_text(encoding="utf-8")
        if "INTERFACE_INCLUDE_DIRECTORIES" not in text:
            continue
        fixed = _INCLUDE_PROPERTY.sub(rewrite, text)
        if fixed != text:
            cmake_file.write_text(fixed, encoding="utf-8")
            changed.append(cmake_file)
    return changed


def main(argv: list[str]) -> int:
    prefix = Path(argv[1]) if len(argv) > 1 else Path(sys.prefix)
    if not (prefix / "share").is_dir():
        print(f"error: {prefix} has no share/ folder; pass the environment that holds the ros-* wheels",
              file=sys.stderr)
        return 2
    changed = fix_exports(prefix)
    print(f"fixed CMake include paths in {len(changed)} file(s) under {prefix}/share")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
