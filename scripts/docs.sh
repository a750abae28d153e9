#!/usr/bin/env bash
# `just docs`: the documentation site from docs/ (MyST Markdown, Jupyter Book 1.0.x) into
# docs/_build/html, offline, with every Sphinx warning an error (a broken cross-reference fails).
# Jupyter Book lives in its own virtualenv, .venv-docs, pinned by docs/requirements.txt and
# docs/constraints.txt, so that its dependencies never meet the test packages of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-docs
if [ ! -x "$venv/bin/python" ]; then
  echo "docs: creating $venv"
  python3 -m venv "$venv"
fi
if [ ! -f "$venv/.install-stamp" ] || [ docs/requirements.txt -nt "$venv/.install-stamp" ] ||
  [ docs/constraints.txt -nt "$venv/.install-stamp" ]; then
  echo "docs: installing Jupyter Book into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r docs/requirements.txt -c docs/constraints.txt
  touch "$venv/.install-stamp"
fi
rm -rf docs/_build
# -W: warnings are errors; -n: nitpicky (every reference must resolve); --keep-going: all of them.
"$venv/bin/jupyter-book" build docs --warningiserror --nitpick --keep-going
echo "docs: docs/_build/html/index.html"
