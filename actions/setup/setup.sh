#!/usr/bin/env bash
# Install mlgate into a fresh virtual environment of its own (never the user's Python).
#
#   setup.sh install  make a new directory with `mktemp -d` under $RUNNER_TEMP, install this
#                     action's mlgate into a venv there, export MLGATE / MLGATE_PYTHON and put a
#                     directory holding only the `mlgate` command on PATH
#   setup.sh ensure   for the gate actions: nothing when the setup action ran in this job, else install
#
# The version installed is the action's own checkout ($GITHUB_ACTION_PATH/../..): whatever ref the
# workflow pinned the action to is the mlgate that runs.
#
# Why fresh every time, with no cache: a venv at a fixed path, or one restored from a cache that a
# job running the project's code saved, is a venv that code could have prepared, and mlgate would
# run whatever it put there. The directory's name is random and it is created here (mode 0700)
# just before pip writes into it. Within one job, code that runs AFTER this step can still change
# it: that is why the reusable workflow publishes from a separate job (docs/actions.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$(cd "$here/../.." && pwd)"
: "${RUNNER_TEMP:?RUNNER_TEMP is not set: run this inside GitHub Actions (or set it)}"
python_cmd="${MLGATE_SETUP_PYTHON:-python3}"

out() { if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1=$2" >> "$GITHUB_OUTPUT"; else echo "$1=$2"; fi; }

check_python() {
  if ! command -v "$python_cmd" >/dev/null 2>&1; then
    echo "::error title=mlgate setup::Python interpreter '$python_cmd' not found (input python)" >&2
    exit 2
  fi
  if ! "$python_cmd" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    pyver="$("$python_cmd" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    echo "::error title=mlgate setup::mlgate needs Python >= 3.10; '$python_cmd' is $pyver (input python)" >&2
    exit 2
  fi
}

install() {
  check_python
  base="$(mktemp -d "$RUNNER_TEMP/mlgate-XXXXXXXXXX")"
  venv="$base/venv"
  bin_dir="$base/bin"
  echo "mlgate: installing $source_dir into a fresh $venv"
  "$python_cmd" -m venv "$venv"
  # MLGATE_SETUP_PIP_ARGS: extra pip arguments (e.g. an index mirror); split on spaces on purpose.
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check ${MLGATE_SETUP_PIP_ARGS:-} "$source_dir"
  mkdir "$bin_dir"
  ln -s "$venv/bin/mlgate" "$bin_dir/mlgate"
  version="$("$venv/bin/mlgate" --version | awk '{print $NF}')"
  if [ -n "${GITHUB_ENV:-}" ]; then
    { echo "MLGATE=$venv/bin/mlgate"; echo "MLGATE_PYTHON=$venv/bin/python"; echo "MLGATE_VERSION=$version"; } >> "$GITHUB_ENV"
  fi
  if [ -n "${GITHUB_PATH:-}" ]; then echo "$bin_dir" >> "$GITHUB_PATH"; fi
  export MLGATE="$venv/bin/mlgate" MLGATE_PYTHON="$venv/bin/python"
  out python "$venv/bin/python"
  out mlgate "$venv/bin/mlgate"
  out version "$version"
  echo "mlgate $version ready: $venv/bin/mlgate"
}

case "${1:-}" in
  install)
    install
    ;;
  ensure)
    if [ -n "${MLGATE:-}" ] && [ -x "${MLGATE}" ]; then
      out mlgate "$MLGATE"
    else
      echo "mlgate: the setup action did not run in this job; installing"
      install
    fi
    ;;
  *)
    echo "usage: setup.sh install|ensure" >&2
    exit 2
    ;;
esac
