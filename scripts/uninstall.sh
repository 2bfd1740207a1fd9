#!/usr/bin/env bash
# Removes what scripts/install.sh installed (the paths in PREFIX/share/flowgen/install-manifest).
#   sudo scripts/uninstall.sh [--prefix DIR]
set -euo pipefail
exec "$(dirname "$0")/install.sh" --uninstall "$@"
