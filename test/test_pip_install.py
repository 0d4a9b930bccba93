"""`pip install .` into a clean environment: hit_core and the `hit` command work with no ROS and no torch.

The package is built as a wheel from a copy of the sources and installed without dependencies into a fresh
venv. Its core dependencies, read from the wheel's own metadata (setup.py's ``install_requires``) and
followed transitively, are linked in from this environment's installed copies, so the test needs no network
and still fails when ``install_requires`` misses something that ``import hit_core`` or ``hit --help`` needs.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONNOUSERSITE": "1"}
# pip itself runs from this environment, but must not see packages that PYTHONPATH adds (under the ROS
# environment that includes the colcon install space, whose hit_ros metadata would pass as "installed").
PIP_ENV = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "PYTHONHOME"}}


def _core_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = HeaderParser().parsestr(archive.read(metadata_name).decode())
    return metadata.get_all("Requires-Dist") or []


def _dependency_closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions that ``requirements`` (no extras) need, transitively."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = list(requirements)
    while pending:
        requirement = Requirement(pending.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            distribution = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{requirement} is required but not installed here; run `make setup`")
        assert requirement.specifier.contains(distribution.version, prereleases=True), (
            f"installed {requirement.name} {distribution.version} does not satisfy {requirement}"
        )
        found[name] = distribution
        pending.extend(distribution.requires or [])
    return list(found.values())


def _link_into(distribution: importlib.metadata.Distribution, site_packages: Path) -> None:
    """Make an installed distribution importable from another environment by linking its top-level entries."""
    assert distribution.files, f"{distribution.metadata['Name']} has no RECORD; cannot tell its files"
    root = Path(distribution.locate_file(""))
    for top in {Path(file).parts[0] for file in distribution.files} - {".."}:
        target = site_packages / top
        if (root / top).exists() and not target.exists():
            target.symlink_to(root / top)


def test_pip_install_gives_hit_core_without_ros_or_torch(repo_root: Path, tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(repo_root / "hit_core", source / "hit_core", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "README.md"):
        if (repo_root / name).exists():
            shutil.copy2(repo_root / name, source / name)

    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp_path / "dist"), str(source)],
                   env=PIP_ENV, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packaged = set(archive.namelist())
    sources = {path.relative_to(source).as_posix() for path in (source / "hit_core").rglob("*") if path.is_file()}
    assert not sources - packaged, f"setup.py leaves these files out of the wheel: {sorted(sources - packaged)}"

    env_dir = tmp_path / "clean-env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   env=PIP_ENV, check=True, capture_output=True, timeout=300)
    site_packages = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        env=CLEAN_ENV, check=True, capture_output=True, text=True).stdout.strip())
    for distribution in _dependency_closure(_core_requirements(wheel)):
        assert canonicalize_name(distribution.metadata["Name"]) not in {"torch", "rclpy", "ros-rclpy"}
        _link_into(distribution, site_packages)

    check = (
        "import importlib.util, sys\n"
        "import hit_core, hit_core.cli\n"
        "assert hit_core.__file__.startswith(sys.prefix), hit_core.__file__\n"
        "present = [m for m in ('torch', 'rclpy', 'hit_ros') if importlib.util.find_spec(m)]\n"
        "assert not present, f'the clean environment must not have {present}'\n"
        "from hit_core.export.crops import default_image_sources\n"
        "(bundled,) = default_image_sources()\n"
        "assert (bundled / 'Crossing' / 'groundtruth.txt').is_file() and bundled.is_relative_to(sys.prefix), bundled\n"
        "print(hit_core.__version__)\n"
    )
    result = subprocess.run([python, "-c", check], env=CLEAN_ENV, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    help_result = subprocess.run([env_dir / "bin" / "hit", "--help"], env=CLEAN_ENV, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120)
    assert help_result.returncode == 0, help_result.stderr
    assert "usage: hit" in help_result.stdout
