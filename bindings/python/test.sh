#!/usr/bin/env bash
# Builds the Python extension as a manylinux2014 wheel (maturin with zig,
# its own cargo workspace, --locked; the debug profile, MATURIN_RELEASE=1 for
# --release), checks the wheel's platform tag, installs it, checks the typed
# outputs module is current with docs/schemas,
# and runs the pytest suite (outputs validated against docs/schemas with
# jsonschema). Needs: cargo, python3 with pip; installs maturin, ziglang,
# pytest and jsonschema from PyPI when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
python="${PYTHON:-python3}"
pip=("$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore)

echo "== Python binding: pip install maturin ziglang pytest jsonschema (when missing)"
"$python" - <<'PY' || "${pip[@]}" 'maturin>=1.9.4,<2' ziglang pytest jsonschema
import importlib.util, shutil, sys
missing = [m for m in ("maturin", "ziglang", "pytest", "jsonschema") if importlib.util.find_spec(m) is None]
sys.exit(1 if missing else 0)
PY

echo "== Python binding: typed outputs current with docs/schemas"
"$python" gen_outputs.py --check

echo "== Python binding: maturin build (manylinux2014 via zig, --locked)"
# the debug profile keeps CI short; a release wheel is the same command with --release
rm -rf dist
"$python" -m maturin build ${MATURIN_RELEASE:+--release} --locked --zig --compatibility manylinux2014 -i "$python" --out dist
wheel="$(ls dist/yingji-*.whl)"
echo "wheel: $(basename "$wheel")"
case "$(basename "$wheel")" in
    *manylinux2014_x86_64*|*manylinux_2_17_x86_64*) ;;
    *) echo "the wheel is not tagged manylinux2014 (manylinux_2_17): $wheel" >&2; exit 1 ;;
esac
# no symbol newer than glibc 2.17 may be needed
if command -v objdump >/dev/null; then
    newest="$(unzip -p "$wheel" 'yingji/_native*.so' > "$here/dist/_native.so" && objdump -T "$here/dist/_native.so" \
        | grep -o 'GLIBC_[0-9.]*' | sort -t. -k1,1 -k2,2n -u -V | tail -1)"
    echo "newest glibc symbol version needed: $newest"
    [ "$(printf '%s\nGLIBC_2.17\n' "$newest" | sort -V | tail -1)" = "GLIBC_2.17" ] \
        || { echo "the extension needs $newest, newer than manylinux2014's GLIBC_2.17" >&2; exit 1; }
fi

echo "== Python binding: install the wheel"
"${pip[@]}" --force-reinstall --no-deps "$wheel"

echo "== Python binding: expected outputs from the CLI"
mkdir -p target
(cd "$root" && cargo run --quiet -- run policies/rainstorm.yj --events samples/rain.jsonl) > target/expected.jsonl

echo "== Python binding: pytest"
# run from tests/ so that `import yingji` is the installed wheel, not python/yingji
cd tests
YINGJI_CLI_OUTPUTS="$here/target/expected.jsonl" "$python" -m pytest -q -p no:cacheprovider .
echo "== Python binding: OK"
