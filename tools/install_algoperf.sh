#!/usr/bin/env bash
# Builds (once) a virtualenv with the official AlgoPerf package and this project in it:
#   ALGOPERF_SRC=<checkout dir or source archive> [ALGOPERF_VENV=.venv-algoperf]
#   [ALGOPERF_EXTRA=jax_cpu|jax_gpu] [ALGOPERF_TORCH=torch==2.13.0] tools/install_algoperf.sh
# (what `make install-algoperf` runs). AlgoPerf is installed from the source as it is, with
# the constraints its pins need to resolve (see README, "The official runner"); the project
# goes in editable, without its own dependencies, so AlgoPerf's pinned jax/flax/optax stay.
# A second call with the same source reuses the environment (and only reinstalls the project
# when its pyproject.toml changed).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${ALGOPERF_SRC:?set ALGOPERF_SRC to an AlgoPerf checkout or source archive}
venv=${ALGOPERF_VENV:-.venv-algoperf}
extra=${ALGOPERF_EXTRA:-jax_cpu}
torch=${ALGOPERF_TORCH:-torch==2.13.0}
[ -e "$src" ] || { echo "error: ALGOPERF_SRC=$src does not exist" >&2; exit 2; }
src=$(cd "$(dirname "$src")" && pwd)/$(basename "$src")
stamp="$venv/.algoperf-installed"
project_stamp="$venv/.project-installed"
wanted="$src $extra $torch"
project=$(sha1sum pyproject.toml | cut -c1-12)
install_project() {
  "$venv/bin/python" -m pip install --quiet --no-deps -e .
  echo "$project" > "$project_stamp"
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  if [ "$(cat "$project_stamp" 2>/dev/null)" != "$project" ]; then
    echo "install-algoperf: pyproject.toml changed: the project is reinstalled into $venv"
    install_project
  fi
  echo "install-algoperf: $venv is up to date (AlgoPerf from $src)"
  exit 0
fi
start=$(date +%s)
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
if [ -d "$src" ]; then
  tree=$src
else
  mkdir -p "$venv/src"
  tar -xzf "$src" -C "$venv/src"
  tree=$(find "$venv/src" -mindepth 1 -maxdepth 1 -type d | head -n 1)
fi
[ -f "$tree/submission_runner.py" ] || { echo "error: no submission_runner.py in $tree" >&2; exit 2; }
# A source archive has no git metadata for setuptools_scm: give it the version line it is.
[ -d "$tree/.git" ] || export SETUPTOOLS_SCM_PRETEND_VERSION=${ALGOPERF_VERSION:-0.6.0}
echo "install-algoperf: AlgoPerf from $tree into $venv ($extra, $torch)"
"$venv/bin/python" -m pip install --quiet "$tree[$extra]" 'tensorflow-metadata<1.17' \
  'protobuf==4.25.5' "$torch" 'jraph==0.0.6.dev0' 'scikit-learn==1.5.2' sentencepiece \
  'tensorflow-text==2.19.0' msgpack pytest hypothesis
install_project
"$venv/bin/python" -c 'import algoperf, submission_runner, jax, flax, optax, study, velo; print("install-algoperf: jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__)'
echo "$wanted" > "$stamp"
echo "install-algoperf: done in $(( $(date +%s) - start )) s"
