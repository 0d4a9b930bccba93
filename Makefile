# The two commands of the README:
#   make demo   set up (if needed) and run the demo
#   make test   set up (if needed) and run the whole test suite (PYTEST_ARGS="test/ros -q" narrows it)
# Also: make setup (environment + colcon build, idempotent), make build (colcon build only).
SHELL := /bin/bash
PYTEST_ARGS ?=

.PHONY: setup build test demo

setup:
	bash scripts/setup_env.sh

build:
	bash scripts/build.sh

test: setup
	bash scripts/run_tests.sh $(PYTEST_ARGS)

demo: setup
	bash scripts/demo.sh
