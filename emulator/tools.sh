#!/usr/bin/env bash
# Developer tools that must not share the app's virtualenv (their pins clash with constraints.txt).
#
#   emulator/tools.sh checkov [ARGS...]   run checkov (pinned below) from .local/tools/checkov/,
#                                         creating that virtualenv on first use
#
# The virtualenv is rebuilt when the pinned version changes; pip's cache makes a rebuild quick.
# Needs python3 (3.9-3.12) with venv and access to PyPI the first time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.local/tools"
CHECKOV_VERSION="3.3.30"

checkov() {
    local venv="$TOOLS/checkov" stamp="$TOOLS/checkov/.installed-$CHECKOV_VERSION"
    mkdir -p "$TOOLS"
    # Two test processes may ask at once: one installs, the other waits for it.
    exec 9>"$TOOLS/.checkov.lock"
    flock 9
    if [ ! -f "$stamp" ]; then
        echo "tools.sh: installing checkov $CHECKOV_VERSION into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
        touch "$stamp"
    fi
    flock -u 9
    # No telemetry, no version check, no download of Bridgecrew's policies: runs offline once installed.
    BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false \
        "$venv/bin/checkov" --skip-download "$@"
}

case "${1:-}" in
    checkov) shift; checkov "$@" ;;
    *) echo "usage: emulator/tools.sh checkov [ARGS...]" >&2; exit 2 ;;
esac
