# Source this file (bash) to get the ROS 2 environment of this checkout:
#     source scripts/ros_env.sh
#
# It activates, in this order:
#   - the project's Python environment .venv; where it holds the ROS 2 PyPI wheels, .venv/local_setup.sh
#     (written by scripts/setup_env.sh) makes it the base ament prefix, as /opt/ros/<distro> would be;
#     a ROS 2 installation sourced before this file is kept as it is;
#   - the test-only vision_msgs copy (build/test_interfaces), where the build made it;
#   - this package's colcon install space (install/), where it was built.
# RMW_IMPLEMENTATION defaults to rmw_fastrtps_cpp, the middleware the wheels ship.
# Nothing here installs or builds anything: scripts/setup_env.sh does that.

HIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export HIT_ROOT

# colcon's local_setup scripts read unset variables; relax nounset while sourcing them.
case "$-" in *u*) _hit_nounset=1; set +u ;; *) _hit_nounset=0 ;; esac
unset COLCON_CURRENT_PREFIX
if [ -f "$HIT_ROOT/.venv/local_setup.sh" ]; then
    # shellcheck disable=SC1091
    . "$HIT_ROOT/.venv/local_setup.sh"
elif [ -x "$HIT_ROOT/.venv/bin/python" ]; then
    export VIRTUAL_ENV="$HIT_ROOT/.venv"
    case ":$PATH:" in *":$VIRTUAL_ENV/bin:"*) ;; *) export PATH="$VIRTUAL_ENV/bin:$PATH" ;; esac
fi
for _hit_prefix in "$HIT_ROOT/build/test_interfaces/install" "$HIT_ROOT/install"; do
    # shellcheck disable=SC1091
    [ -f "$_hit_prefix/local_setup.bash" ] && . "$_hit_prefix/local_setup.bash"
done
unset _hit_prefix
[ "$_hit_nounset" = 1 ] && set -u
unset _hit_nounset

export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
