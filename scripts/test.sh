#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test (unit, kernel, end to end).
# Kernel and end-to-end tests need root and a kernel with BPF; without them they fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
