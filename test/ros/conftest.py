"""Harness for the ROS 2 tests: every test in this folder talks to a real rclpy over Fast DDS.

- Discovery isolation: each test session claims its own ``ROS_DOMAIN_ID`` (1..101, held by a file lock for
  the session's lifetime) and keeps discovery on this host, so sessions running side by side on one machine
  never see each other's nodes. Set here at import, before any node exists; subprocesses inherit it.
- :func:`ros_env` is the one way to get the environment of a ROS subprocess (``scripts/ros_env.sh``).
- Fixtures: ``ros_process`` starts a process under that environment and stops it afterwards;
  ``ros_node`` gives an in-process node with ``spin_until`` and ``call``.
- Every test here is marked ``ros``. Without the colcon build, or when this pytest process was not started
  under the ROS environment, they skip with the reason and what to run; with ``HIT_REQUIRE_ROS=1``
  (``make test`` sets it) they fail instead, so CI can never pass without running them.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ROS_TEST_DIR = Path(__file__).resolve().parent
INSTALL_PREFIX = REPO_ROOT / "install" / "hit_ros"
ROS_ENV_SCRIPT = REPO_ROOT / "scripts" / "ros_env.sh"
PYTHON = sys.executable

_DOMAIN_LOCK_DIR = Path(tempfile.gettempdir()) / "hit_ros_test_domains"
_MAX_DOMAIN_ID = 101  # the largest id whose DDS ports stay below Linux's ephemeral port range
_held_domain_lock: list[IO[str]] = []
# ROS 2 before Iron only knows ROS_LOCALHOST_ONLY; later releases deprecate it for the discovery range.
_LOCALHOST_ONLY_DISTROS = {"foxy", "galactic", "humble"}


def _claim_domain_id() -> int:
    """Return a ROS domain id (1..101) that no other running test session on this machine holds."""
    _DOMAIN_LOCK_DIR.mkdir(exist_ok=True)
    start = os.getpid() % _MAX_DOMAIN_ID
    for offset in range(_MAX_DOMAIN_ID):
        domain_id = (start + offset) % _MAX_DOMAIN_ID + 1
        handle = open(_DOMAIN_LOCK_DIR / f"domain_{domain_id}.lock", "w")  # noqa: SIM115 (held for the session)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _held_domain_lock.append(handle)
        return domain_id
    raise RuntimeError(f"all ROS domain ids 1..{_MAX_DOMAIN_ID} are held by other test sessions on this machine")


def _isolate_discovery() -> None:
    os.environ["ROS_DOMAIN_ID"] = str(_claim_domain_id())
    os.environ.pop("ROS_STATIC_PEERS", None)
    if os.environ.get("ROS_DISTRO") in _LOCALHOST_ONLY_DISTROS:
        os.environ["ROS_LOCALHOST_ONLY"] = "1"
    else:
        os.environ.pop("ROS_LOCALHOST_ONLY", None)
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


_isolate_discovery()


@functools.cache
def _sourced_environment() -> dict[str, str]:
    result = subprocess.run(
        ["bash", "-c", 'source "$1" >/dev/null && env -0', "bash", str(ROS_ENV_SCRIPT)],
        env=os.environ.copy(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"sourcing {ROS_ENV_SCRIPT} failed: {result.stderr.decode(errors='replace')}")
    env = dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)
    for shell_variable in ("_", "PWD", "OLDPWD", "SHLVL"):
        env.pop(shell_variable, None)
    return env


def ros_env(source_tree: bool = True) -> dict[str, str]:
    """Environment for a ROS 2 subprocess of this package.

    It is this session's environment (isolated domain, localhost discovery) with ``scripts/ros_env.sh``
    sourced: the Python environment, the ROS 2 stack, the install space and ``RMW_IMPLEMENTATION``.
    ``source_tree=True`` puts the checkout first on ``PYTHONPATH`` so ``hit_ros``/``hit_core`` modules come
    from the source tree (the generated ``hit_ros.srv`` still comes from the install space); pass
    ``False`` to run exactly what ``colcon build`` installed.
    """
    env = dict(_sourced_environment())
    env["PYTHONUNBUFFERED"] = "1"
    if source_tree:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    return env


@functools.cache
def ros_unavailable_reason() -> str | None:
    """Why the ROS tests cannot run in this session, or None when they can."""
    if not (INSTALL_PREFIX / "lib" / "hit_ros" / "tracker_node").is_file():
        return f"hit_ros is not built (no {INSTALL_PREFIX}): run `make build` (or `bash scripts/setup_env.sh`)"
    try:
        import rclpy  # noqa: F401
        from hit_ros.srv import SetTarget  # noqa: F401
        from vision_msgs.msg import Detection2DArray  # noqa: F401
    except ImportError as error:
        return (
            f"this pytest process lacks the ROS 2 environment ({error}): run `make test`, or "
            f"`source scripts/ros_env.sh` in the shell before pytest"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if ROS_TEST_DIR in item.path.parents:
            item.add_marker(pytest.mark.ros)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("ros") is None:
        return
    reason = ros_unavailable_reason()
    if reason is not None:
        if os.environ.get("HIT_REQUIRE_ROS") == "1":
            pytest.fail(f"ROS tests are required here (HIT_REQUIRE_ROS=1) but cannot run: {reason}")
        pytest.skip(reason)


class RosProcess:
    """A process started under the ROS environment, its stdout and stderr going to one log file."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.popen = subprocess.Popen(
                args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def wait_for_output(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the output matches the regular expression ``pattern``; fail if the process exits first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.output())
            if match:
                return match
            if not self.is_running():
                pytest.fail(f"{self.args[0]} exited ({self.popen.returncode}) before printing {pattern!r}:\n"
                            f"{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.args[0]} did not print {pattern!r} within {timeout} s:\n{self.output()[-4000:]}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> int:
        """Interrupt the process (as Ctrl-C would), escalate if it does not exit; return its exit status."""
        if self.is_running():
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        return self.popen.returncode


@pytest.fixture
def ros_process(tmp_path: Path) -> Iterator[Callable[..., RosProcess]]:
    """Factory: ``ros_process(*args, name="server", source_tree=True, cwd=REPO_ROOT)`` starts ``args``.

    The process gets :func:`ros_env`; it is stopped at teardown, and the tail of its output is printed
    there (pytest shows it when the test failed).
    """
    started: list[RosProcess] = []

    def start(*args: str, name: str = "process", source_tree: bool = True, cwd: Path = REPO_ROOT) -> RosProcess:
        log_path = tmp_path / f"{name}-{len(started)}.log"
        process = RosProcess([str(arg) for arg in args], ros_env(source_tree), cwd, log_path)
        started.append(process)
        return process

    yield start
    for process in started:
        status = process.stop()
        print(f"--- {process.args} (exit {status}) ---\n{process.output()[-4000:]}")


class RosTestNode:
    """An rclpy node of the test process, in its own context, with helpers to wait on the ROS graph."""

    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Process callbacks until ``predicate()`` is true (returns True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def call(self, client: Any, request: Any, timeout: float = 10.0) -> Any:
        """Call a service through ``client`` and return the response; fail the test on a timeout."""
        if not self.spin_until(client.service_is_ready, timeout):
            pytest.fail(f"service {client.srv_name} did not appear within {timeout} s")
        future = client.call_async(request)
        if not self.spin_until(future.done, timeout):
            pytest.fail(f"service {client.srv_name} did not answer within {timeout} s")
        return future.result()

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def ros_node(request: pytest.FixtureRequest) -> Iterator[RosTestNode]:
    """An in-process node (``.node``) with ``spin_until(predicate, timeout)`` and ``call(client, request)``."""
    name = "test_" + re.sub(r"\W", "_", request.node.name)[:40]
    harness = RosTestNode(name)
    try:
        yield harness
    finally:
        harness.close()
