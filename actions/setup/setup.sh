#!/usr/bin/env bash
# Install mlgate into its own virtual environment under $RUNNER_TEMP (never the user's Python).
#
#   setup.sh key      compute the venv path and the cache key (outputs: venv, key, source)
#   setup.sh install  create or reuse the venv, then export MLGATE / MLGATE_PYTHON and put a
#                     directory holding only the `mlgate` command on PATH
#   setup.sh ensure   for the gate actions: nothing when setup already ran in this job, else key+install
#
# The version installed is the action's own checkout ($GITHUB_ACTION_PATH/../..): whatever ref the
# workflow pinned the action to is the mlgate that runs. The cache key hashes that source tree.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$(cd "$here/../.." && pwd)"
: "${RUNNER_TEMP:?RUNNER_TEMP is not set: run this inside GitHub Actions (or set it)}"
venv="${MLGATE_VENV_DIR:-$RUNNER_TEMP/mlgate-venv}"
bin_dir="$RUNNER_TEMP/mlgate-bin"
python_cmd="${MLGATE_SETUP_PYTHON:-python3}"

out() { if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1=$2" >> "$GITHUB_OUTPUT"; else echo "$1=$2"; fi; }

source_hash() {
  # Content of everything that is installed: a different action ref gives a different key.
  local parts=() p
  for p in pyproject.toml checks bot templates; do
    if [ -e "$source_dir/$p" ]; then parts+=("$p"); fi
  done
  (cd "$source_dir" && find "${parts[@]}" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

compute_key() {
  if ! command -v "$python_cmd" >/dev/null 2>&1; then
    echo "::error title=mlgate setup::Python interpreter '$python_cmd' not found (input python)" >&2
    exit 2
  fi
  pyver="$("$python_cmd" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
  if ! "$python_cmd" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "::error title=mlgate setup::mlgate needs Python >= 3.10; '$python_cmd' is $pyver (input python)" >&2
    exit 2
  fi
  where="$(printf '%s' "$venv" | sha256sum | cut -c1-8)"
  key="mlgate-venv-v1-${RUNNER_OS:-$(uname -s)}-${RUNNER_ARCH:-$(uname -m)}-py${pyver}-$(source_hash)-${where}"
}

install() {
  compute_key
  if [ -x "$venv/bin/mlgate" ] && [ "$(cat "$venv/.mlgate-key" 2>/dev/null)" = "$key" ] \
      && "$venv/bin/mlgate" --version >/dev/null 2>&1; then
    echo "mlgate: reusing $venv ($key)"
  else
    echo "mlgate: installing $source_dir into $venv"
    rm -rf "$venv"
    "$python_cmd" -m venv "$venv"
    # MLGATE_SETUP_PIP_ARGS: extra pip arguments (e.g. an index mirror); split on spaces on purpose.
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check ${MLGATE_SETUP_PIP_ARGS:-} "$source_dir"
    echo "$key" > "$venv/.mlgate-key"
  fi
  mkdir -p "$bin_dir"
  ln -sf "$venv/bin/mlgate" "$bin_dir/mlgate"
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
  key)
    compute_key
    out venv "$venv"
    out key "$key"
    out source "$source_dir"
    ;;
  install)
    install
    ;;
  ensure)
    if [ -n "${MLGATE_PYTHON:-}" ] && [ -x "${MLGATE_PYTHON}" ] && [ -n "${MLGATE:-}" ] && [ -x "${MLGATE}" ]; then
      out python "$MLGATE_PYTHON"
      out mlgate "$MLGATE"
    else
      echo "mlgate: the setup action did not run in this job; installing without a cache"
      install
    fi
    ;;
  *)
    echo "usage: setup.sh key|install|ensure" >&2
    exit 2
    ;;
esac
