// Tokenizes bundled policies with the extension's TextMate grammar (the
// engine VS Code uses: vscode-textmate over the Oniguruma regex library)
// and checks the scopes of keywords, levels, Chinese names, comments,
// strings, numbers, durations and inline rhai. Exits 1 on any failure.
"use strict";
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const grammarPath = path.join(__dirname, "..", "syntaxes", "yingji.tmLanguage.json");
const policies = path.join(__dirname, "..", "..", "..", "policies");

async function load() {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (p) => new oniguruma.OnigScanner(p),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope) =>
      scope === "source.yingji"
        ? vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath)
        : null,
  });
  const g = await registry.loadGrammar("source.yingji");
  if (!g) throw new Error("grammar did not load");
  return g;
}

function tokenize(grammar, text) {
  let stack = vsctm.INITIAL;
  return text.split("\n").map((line) => {
    const r = grammar.tokenizeLine(line, stack);
    stack = r.ruleStack;
    return { line, tokens: r.tokens };
  });
}

let passed = 0;
let failed = 0;

/// The scopes at the first `what` on the first line containing `where`.
function expect(lines, file, where, what, scope) {
  const l = lines.find((x) => x.line.includes(where));
  const at = l ? l.line.indexOf(what, l.line.indexOf(where)) : -1;
  const tok = l && at >= 0 ? l.tokens.find((t) => t.startIndex <= at && at < t.endIndex) : undefined;
  const scopes = tok ? tok.scopes : [];
  const ok = scope.startsWith("!")
    ? tok !== undefined && !scopes.some((s) => s.startsWith(scope.slice(1)))
    : scopes.some((s) => s.startsWith(scope));
  if (ok) {
    passed++;
  } else {
    failed++;
    console.error(`FAIL ${file}: \`${what}\` in \`${where}\` should be ${scope}, has [${scopes.join(", ")}]`);
  }
}

(async () => {
  const g = await load();
  const river = tokenize(g, fs.readFileSync(path.join(policies, "river.yj"), "utf8"));
  const f = "river.yj";
  expect(river, f, "# 水情预警", "水情预警", "comment.line.number-sign");
  expect(river, f, "signal 水位预警 {", "signal", "storage.type");
  expect(river, f, "signal 水位预警 {", "水位预警", "entity.name.type");
  expect(river, f, "table 水文站 {", "水文站", "entity.name.type");
  expect(river, f, "event river_level {", "river_level", "entity.name.type");
  expect(river, f, "level red", "level", "keyword.control");
  expect(river, f, "level red", "red", "constant.other.level");
  expect(river, f, "level red", "when", "keyword.control");
  expect(river, f, "level red", ">=", "keyword.operator");
  expect(river, f, "level red", "历史最高", "variable.other");
  expect(river, f, "level blue", "readings", "keyword.control");
  expect(river, f, "clear below 警戒", "0.2", "constant.numeric");
  expect(river, f, "clear after 1h", "1h", "constant.numeric.duration");
  expect(river, f, "missing 30m", "30m", "constant.numeric.duration");
  expect(river, f, "\"YY-H01\": {", "YY-H01", "string.quoted.double");
  expect(river, f, "\"YY-H01\": {", "175.0", "constant.numeric");
  expect(river, f, "\"YY-H01\": {", "澎溪河双江站", "string.quoted.double");
  expect(river, f, "station: string", "string", "support.type");
  expect(river, f, "station: string", "# hydrological", "comment.line");
  expect(river, f, "rate(level_m, 1h)", "rate", "entity.name.function");
  expect(river, f, "from rain, river_level", "from", "keyword.control");

  const land = tokenize(g, fs.readFileSync(path.join(policies, "landslide.yj"), "utf8"));
  const l = "landslide.yj";
  expect(land, l, "fn tangent_angle", "tangent_angle", "entity.name.type");
  expect(land, l, "in rhai limits", "rhai", "keyword.control");
  expect(land, l, "throw \"v0 must", "throw", "source.rhai.embedded");
  expect(land, l, "throw \"v0 must", "v0 must", "string.quoted.double.rhai");
  // the rhai body ended: what follows is yingji again
  expect(land, l, "signal 滑坡预警 {", "signal", "storage.type");
  expect(land, l, "signal 滑坡预警 {", "signal", "!source.rhai");

  const grade = tokenize(g, fs.readFileSync(path.join(policies, "accident_grade.yj"), "utf8"));
  expect(grade, "accident_grade.yj", "grade 特别重大", "特别重大", "constant.other.level");
  expect(grade, "accident_grade.yj", "grade 特别重大", "or serious", "keyword.operator.logical");
  expect(grade, "accident_grade.yj", "else 一般", "一般", "constant.other.level");

  // a Chinese name that starts with a level word is a name, not a level
  const own = tokenize(g, "signal 红色预警 {\n  let 红色区 = 1\n  level 橙色 when 红色区 >= 2\n}\n");
  expect(own, "inline", "let 红色区", "红色区", "variable.other");
  expect(own, "inline", "level 橙色", "橙色", "constant.other.level");
  expect(own, "inline", "level 橙色", "红色区", "!constant.other.level");

  console.log(`grammar: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
