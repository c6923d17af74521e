#!/usr/bin/env bash
# Builds the Python extension with maturin (its own cargo workspace), installs
# the wheel, and runs the pytest suite. Needs: cargo, python3 with pip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
python="${PYTHON:-python3}"

echo "== Python binding: pip install maturin pytest"
"$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'maturin>=1.9.4,<2' pytest

echo "== Python binding: maturin build"
rm -rf dist
"$python" -m maturin build --release -i "$python" --out dist

echo "== Python binding: install the wheel"
"$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --force-reinstall --no-deps dist/yingji-*.whl

echo "== Python binding: expected outputs from the CLI"
mkdir -p target
(cd "$root" && cargo run --quiet -- run policies/rainstorm.yj --events samples/rain.jsonl) > target/expected.jsonl

echo "== Python binding: pytest"
# run from tests/ so that `import yingji` is the installed wheel, not python/yingji
cd tests
YINGJI_CLI_OUTPUTS="$here/target/expected.jsonl" "$python" -m pytest -q -p no:cacheprovider .
echo "== Python binding: OK"
