#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test (unit, kernel, end to end).
# Kernel and end-to-end tests need root and a kernel with BPF; without them they fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
# scripts/install.sh and `flowgen bench` use the release build, which optimizes whole modules and
# once failed where the debug build passed (a socket constant not found through Glibc alone)
swift build -c release --product flowgen
swift test --skip-build "$@"
