#!/usr/bin/env bash
# Set up everything this checkout needs, from nothing, idempotently:
#   1. system tools (cmake, g++, make, Python 3.11 with venv and headers): installed with apt-get when
#      running as root, otherwise the exact apt-get command is printed;
#   2. the Python environment .venv: uv (the installer), torch (CPU build), the pinned packages of
#      requirements/, hit_core in editable mode (the `hit` command) and, where no ROS 2 is sourced, ROS 2
#      from PyPI wheels;
#   3. the ROS 2 package itself: `colcon build` at the root into build/ and install/ (scripts/build.sh).
# Step 2 is skipped while a stamp keyed by the requirement files and this script matches, so a second run
# only does the incremental colcon build.
#
# With a sourced ROS 2 (Humble, Jazzy, Kilted; ROS_DISTRO set) the venv is made from that ROS's python3
# with --system-site-packages and no ROS wheels are installed over it.
#
# Usage: bash scripts/setup_env.sh            (HIT_PYTHON=/path/to/python3.11 picks the interpreter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/requirements"
TORCH_CPU_INDEX="https://download.pytorch.org/whl/cpu"

log() { printf '[setup %3ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# One setup at a time per checkout: concurrent pip runs into one venv corrupt it.
exec 9>"${TMPDIR:-/tmp}/hit_ros-setup-$(printf '%s' "$ROOT" | sha256sum | cut -c1-16).lock"
flock 9

if [ -n "${ROS_DISTRO:-}" ]; then
    MODE="ros-$ROS_DISTRO"
    PYTHON="${HIT_PYTHON:-$(command -v python3 || true)}"
    VENV_FLAGS=(--system-site-packages)
    WANT_PY=""
else
    MODE="wheels"
    PYTHON="${HIT_PYTHON:-$(command -v python3.11 || true)}"
    VENV_FLAGS=()
    WANT_PY="3.11"
fi

# --- 1. system tools -------------------------------------------------------------------------------
python_ok() {
    [ -n "$PYTHON" ] && "$PYTHON" - "$WANT_PY" <<'EOF'
import os, sys, sysconfig
want = sys.argv[1]
ok = (not want or f"{sys.version_info[0]}.{sys.version_info[1]}" == want)
try:
    import ensurepip, venv  # noqa: F401  (Debian splits these into python3.X-venv)
except ImportError:
    ok = False
ok = ok and os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
sys.exit(0 if ok else 1)
EOF
}

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
# With a ROS install, colcon comes from the same place (pip's would bring an EmPy that ROS cannot use).
[ "$MODE" != wheels ] && ! command -v colcon >/dev/null && missing+=(python3-colcon-common-extensions)
if ! python_ok; then
    if [ "$MODE" = wheels ]; then
        missing+=(python3.11 python3.11-venv python3.11-dev)
    else
        missing+=(python3-venv python3-dev)
    fi
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing system packages: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        [ "$MODE" = wheels ] && PYTHON="${HIT_PYTHON:-$(command -v python3.11 || true)}"
        python_ok || die "Python ${WANT_PY:-3} with venv and headers is still missing after apt-get install"
    else
        die "missing system packages; install them with: sudo apt-get install ${missing[*]}"
    fi
fi

# The wheels' ament prefix is the venv root. A local_setup script there makes it a prefix like
# /opt/ros/<distro>: colcon chains it from install/setup.bash, and scripts/ros_env.sh sources it.
write_prefix_setup() {
    cat > "$VENV/local_setup.sh" <<EOF
# Written by scripts/setup_env.sh: activates this Python environment and the ROS 2 wheels in it.
export VIRTUAL_ENV="$VENV"
case ":\${PATH:-}:" in *":$VENV/bin:"*) ;; *) export PATH="$VENV/bin\${PATH:+:\$PATH}" ;; esac
case ":\${AMENT_PREFIX_PATH:-}:" in *":$VENV:"*) ;;
    *) export AMENT_PREFIX_PATH="$VENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}" ;; esac
case ":\${CMAKE_PREFIX_PATH:-}:" in *":$VENV:"*) ;;
    *) export CMAKE_PREFIX_PATH="$VENV\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}" ;; esac
EOF
    printf '. "%s/local_setup.sh"\n' "$VENV" > "$VENV/local_setup.bash"
}

# --- 2. Python environment -------------------------------------------------------------------------
if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.hit_mode" ] && [ "$(cat "$VENV/.hit_mode")" != "$MODE" ]; then
    die "$VENV was set up for '$(cat "$VENV/.hit_mode")' but this shell is '$MODE'" \
        "(ROS_DISTRO=${ROS_DISTRO:-unset}); remove it and the build with 'rm -rf .venv build install log'" \
        "and run the setup again, or use a shell with the same ROS setting"
fi
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $PYTHON ($MODE)"
    "$PYTHON" -m venv "${VENV_FLAGS[@]}" "$VENV"
fi
VPY="$VENV/bin/python"
printf '%s\n' "$MODE" > "$VENV/.hit_mode"

uv_install() {
    "$VENV/bin/uv" pip install --quiet --python "$VPY" "$@"
}

# torch's CPU build from the machine's local wheels (pip's find-links) when they have it, else from
# PyTorch's CPU index; never from PyPI, whose default Linux build pulls several GB of CUDA libraries.
install_torch() {
    local links=() link
    for link in ${PIP_FIND_LINKS:-} $("$VPY" -m pip config get global.find-links 2>/dev/null || true); do
        links+=(--find-links "$link")
    done
    if [ ${#links[@]} -gt 0 ] && uv_install --no-deps --no-index "${links[@]}" -r "$REQ/torch.txt" 2>/dev/null; then
        return
    fi
    uv_install --no-deps --index-url "$TORCH_CPU_INDEX" -r "$REQ/torch.txt"
}

stamp="$( { printf '%s\n' "$MODE" "$("$VPY" -VV)"; cat "$REQ"/*.txt "$ROOT/setup.py" "${BASH_SOURCE[0]}" \
    "$ROOT/scripts/fix_ros_wheel_cmake.py"; } | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$VENV/.hit_setup_stamp" 2>/dev/null)" != "$stamp" ]; then
    "$VPY" -m pip --disable-pip-version-check install --quiet -r "$REQ/uv.txt" \
        2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
    # onnxruntime and onnxruntime-openvino install the same module: installing one over the other leaves a
    # mix of both, so whichever is there goes before the requirements bring the one this machine needs.
    if [ -x "$VENV/bin/uv" ]; then
        "$VENV/bin/uv" pip uninstall --quiet --python "$VPY" onnxruntime onnxruntime-openvino 2>/dev/null || true
    fi
    if ! "$VPY" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
        log "installing torch (CPU build)"
        install_torch
    fi
    if [ "$MODE" = wheels ]; then
        log "installing Python packages and ROS 2 wheels"
        uv_install -r "$REQ/python.txt" -r "$REQ/ros-wheels.txt" -c "$REQ/constraints.txt"
        "$VPY" "$ROOT/scripts/fix_ros_wheel_cmake.py" "$VENV"
        write_prefix_setup
    else
        # The sourced ROS's Python interfaces are compiled against its NumPy: pin that one.
        log "installing Python packages (keeping the NumPy of ROS $ROS_DISTRO)"
        "$VPY" -c 'import numpy; print(f"numpy=={numpy.__version__}")' > "$VENV/.hit_numpy_pin.txt"
        uv_install -r "$REQ/ros-system.txt" -c "$VENV/.hit_numpy_pin.txt"
    fi
    log "installing hit_core (editable) and the hit command"
    uv_install --no-deps --no-build-isolation -e "$ROOT"
    printf '%s\n' "$stamp" > "$VENV/.hit_setup_stamp"
else
    log "Python environment up to date ($MODE)"
fi

# --- 3. the ROS 2 package --------------------------------------------------------------------------
flock -u 9
bash "$ROOT/scripts/build.sh"
log "ready: 'source scripts/ros_env.sh' gives this shell the environment"
