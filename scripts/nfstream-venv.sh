#!/usr/bin/env bash
# Creates (once) a Python virtual environment with nfstream 6.6.0 from PyPI, the independent tool
# the statistical features (--features nfstream) are tested against. It lives in .build/ (ignored
# by git) so that nothing outside the clone is read at test time. Prints the venv's python.
# Usage: scripts/nfstream-venv.sh [VENV_DIR]   (default: .build/nfstream-venv in the clone)
set -euo pipefail

version=6.6.0
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/.build/nfstream-venv}"
py="$venv/bin/python"

if [ -x "$py" ] && "$py" -c "import nfstream, sys; sys.exit(0 if nfstream.__version__ == '$version' else 1)" 2>/dev/null; then
  echo "$py"
  exit 0
fi
python3 -c 'import venv' 2>/dev/null || {
  echo "nfstream-venv: python3's venv module is missing: install python3-venv (apt-get install python3-venv)" >&2
  exit 1
}
rm -rf "$venv"
python3 -m venv "$venv" || {
  echo "nfstream-venv: could not create a virtual environment at $venv: install python3-venv, or pass another directory" >&2
  exit 1
}
if ! "$venv/bin/pip" install -q --disable-pip-version-check "nfstream==$version" >&2; then
  echo "nfstream-venv: pip could not install nfstream==$version into $venv (it needs PyPI and a manylinux wheel for this Python)" >&2
  exit 1
fi
"$py" -c "import nfstream; assert nfstream.__version__ == '$version', nfstream.__version__" >&2
echo "$py"
