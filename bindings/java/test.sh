#!/usr/bin/env bash
# Builds the Java binding: the JNI library (cargo, its own workspace,
# --locked), the Java API with plain javac/jar (no Maven: Maven Central is
# not reachable), then runs test/TestMain.java, a JUnit-free harness: the
# rainstorm sample's outputs equal `yingji run`'s (line by line, as a batch,
# across a snapshot), bad settings, bad events, bad definitions, a snapshot
# refused by another lateness, threads. Installs openjdk-17-jdk-headless with
# apt-get when javac is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
if ! command -v javac >/dev/null || ! command -v jar >/dev/null; then
    echo "== Java binding: installing openjdk-17-jdk-headless"
    apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
fi
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
out="$target/javatest"
rm -rf "$out" && mkdir -p "$out/classes" "$out/test"

echo "== Java binding: cargo build (libyingji_java.so, jni crate)"
cargo build --locked
lib="$target/debug/libyingji_java.so"

echo "== Java binding: javac + jar (io.yingji)"
javac --release 11 -Xlint:all -Werror -d "$out/classes" java/io/yingji/*.java
jar --create --file "$out/yingji.jar" -C "$out/classes" .
echo "$out/yingji.jar: $(unzip -l "$out/yingji.jar" | grep -c '\.class') classes"

echo "== Java binding: expected outputs from the CLI"
(cd "$root" && cargo run --quiet -- run policies/rainstorm.yj --events samples/rain.jsonl) > "$out/expected.jsonl"

echo "== Java binding: TestMain"
javac -Xlint:all,-try -Werror -cp "$out/yingji.jar" -d "$out/test" test/TestMain.java
# from the repository root: outputs name the policy file as the CLI does (policies/rainstorm.yj)
(cd "$root" && java -Xcheck:jni -Dyingji.library="$lib" -cp "$out/yingji.jar:$out/test" TestMain . "$out/expected.jsonl")
echo "== Java binding: the README example (App.java), compiled and run as written"
mkdir -p "$out/readme"
awk '/^## Embedding from Java/{f=1} f&&/^```java/{c=1;next} c&&/^```/{exit} c' "$root/README.md" > "$out/readme/App.java"
grep -q "public class App" "$out/readme/App.java" || { echo "README: no Java example found" >&2; exit 1; }
javac -Xlint:all,-try -Werror -cp "$out/yingji.jar" -d "$out/readme" "$out/readme/App.java"
got="$(cd "$root" && java -Dyingji.library="$lib" -cp "$out/yingji.jar:$out/readme" App)"
echo "README example: $got"
case "$got" in *" accepted, 0 refused, "*" outputs") ;; *) echo "README example printed: $got" >&2; exit 1 ;; esac

echo "== Java binding: OK"
