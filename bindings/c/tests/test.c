/*
 * C test of yingji.h: the rainstorm scenario and every bad input the header
 * documents. Run by bindings/c/test.sh (also under valgrind).
 *
 * usage: test REPO_ROOT EXPECTED_OUTPUTS_JSONL
 *   REPO_ROOT               folder holding policies/ and samples/
 *   EXPECTED_OUTPUTS_JSONL  what `yingji run policies --events samples/rain.jsonl`
 *                           printed (one output per line)
 */
#include "yingji.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        checks++;                                                             \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
        }                                                                     \
    } while (0)

/* expect `call` to return `want`; print the library's message if not */
#define EXPECT_STATUS(call, want)                                             \
    do {                                                                      \
        YjStatus got_ = (call);                                               \
        CHECK(got_ == (want), "got %s, want %s: %s", yj_status_name(got_),    \
              yj_status_name(want), yj_last_error_message());                 \
    } while (0)

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    buf[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* the CLI's JSONL outputs as one JSON array: "[o1,o2,...]" */
static char *jsonl_to_array(const char *jsonl) {
    size_t n = strlen(jsonl);
    char *out = malloc(n + 3);
    size_t j = 0;
    out[j++] = '[';
    int first = 1;
    const char *p = jsonl;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            if (!first) out[j++] = ',';
            memcpy(out + j, p, len);
            j += len;
            first = 0;
        }
        p += len + (end ? 1 : 0);
    }
    out[j++] = ']';
    out[j] = '\0';
    return out;
}

static const char *SIGNAL = "\xe6\x9a\xb4\xe9\x9b\xa8\xe9\xa2\x84\xe8\xad\xa6"; /* 暴雨预警 */

/* The rainstorm scenario, one event at a time. */
static void scenario_line_by_line(const char *events, size_t expected_changes) {
    const char *paths[] = {"policies/rainstorm.yj"};
    YjDefinitions *defs = NULL;
    EXPECT_STATUS(yj_definitions_from_paths(paths, 1, &defs), YJ_OK);
    char *warnings = NULL;
    EXPECT_STATUS(yj_definitions_check(defs, &warnings), YJ_OK);
    CHECK(warnings && strcmp(warnings, "[]") == 0, "warnings: %s", warnings);
    EXPECT_STATUS(yj_string_free(warnings), YJ_OK);

    char *summary = NULL;
    EXPECT_STATUS(yj_definitions_summary(defs, &summary), YJ_OK);
    CHECK(summary && strstr(summary, "\"event_kinds\":[\"rain\"]") && strstr(summary, SIGNAL),
          "summary: %s", summary);
    yj_string_free(summary);

    YjEngine *engine = NULL;
    EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_OK);
    /* the engine does not borrow the definitions */
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);

    size_t changes = 0, to_red_yy004 = 0, lines = 0;
    char *copy = strdup(events);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        char *outputs = NULL;
        lines++;
        YjStatus s = yj_engine_push(engine, line, &outputs);
        if (s != YJ_OK) {
            CHECK(0, "line %zu: %s: %s", lines, yj_status_name(s), yj_last_error_message());
            continue;
        }
        changes += count(outputs, "\"type\":\"level_changed\"");
        to_red_yy004 += count(outputs, "\"key\":\"YY-004\",\"from\":\"orange\",\"to\":\"red\"");
        EXPECT_STATUS(yj_string_free(outputs), YJ_OK);
    }
    free(copy);
    CHECK(changes == expected_changes, "level_changed: %zu, CLI printed %zu", changes, expected_changes);
    CHECK(to_red_yy004 == 1, "YY-004 orange->red %zu times", to_red_yy004);

    uint64_t n = 0;
    EXPECT_STATUS(yj_engine_event_count(engine, &n), YJ_OK);
    CHECK(n == lines && lines == 2592, "events %llu, lines %zu", (unsigned long long)n, lines);

    char *level = NULL;
    EXPECT_STATUS(yj_engine_level(engine, SIGNAL, "nowhere", &level), YJ_OK);
    CHECK(level && strcmp(level, "none") == 0, "level of an unknown key: %s", level);
    yj_string_free(level);

    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    printf("line by line: %zu events, %zu level changes (CLI: %zu), YY-004 reached red\n", lines, changes,
           expected_changes);
}

/* The same stream as one batch: exactly the CLI's outputs. */
static void scenario_batch(const char *events, const char *expected_array) {
    char *policy = read_file("policies/rainstorm.yj", NULL);
    YjDefinitions *defs = NULL;
    /* same name as the path, so `rule_at` matches the CLI's */
    EXPECT_STATUS(yj_definitions_from_text("policies/rainstorm.yj", policy, &defs), YJ_OK);
    free(policy);
    YjEngine *engine = NULL;
    EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_OK);
    char *result = NULL;
    EXPECT_STATUS(yj_engine_push_batch(engine, events, &result), YJ_OK);
    if (result) {
        const char *prefix = "{\"outputs\":";
        size_t plen = strlen(prefix), elen = strlen(expected_array);
        CHECK(strncmp(result, prefix, plen) == 0 && strncmp(result + plen, expected_array, elen) == 0,
              "batch outputs differ from the CLI's:\n got: %.300s...\nwant: %.300s...", result + plen,
              expected_array);
        CHECK(strcmp(result + plen + elen, ",\"accepted\":2592,\"rejected\":[]}") == 0, "batch tail: %s",
              result + plen + elen);
    }
    yj_string_free(result);

    char *level = NULL;
    EXPECT_STATUS(yj_engine_level(engine, SIGNAL, "YY-004", &level), YJ_OK);
    CHECK(level && strcmp(level, "red") != 0, "YY-004 ends the sample below red, got %s", level);
    yj_string_free(level);

    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
    printf("batch: outputs identical to the CLI's\n");
}

static const char *GOOD =
    "{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"t\",\"mm\":60}";

static void null_pointers(void) {
    YjDefinitions *defs = (YjDefinitions *)0x1; /* must be reset to NULL */
    EXPECT_STATUS(yj_definitions_from_text(NULL, "event rain { mm: number }", &defs), YJ_ERR_INVALID_ARGUMENT);
    CHECK(defs == NULL, "out not reset on failure");
    CHECK(strstr(yj_last_error_message(), "`name` is NULL") != NULL, "message: %s", yj_last_error_message());
    CHECK(yj_last_error_code() == YJ_ERR_INVALID_ARGUMENT, "last code");
    EXPECT_STATUS(yj_definitions_from_text("a.yj", NULL, &defs), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_definitions_from_text("a.yj", "event rain { mm: number }", NULL), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_definitions_from_paths(NULL, 1, &defs), YJ_ERR_INVALID_ARGUMENT);
    const char *paths[] = {"policies", NULL};
    EXPECT_STATUS(yj_definitions_from_paths(paths, 2, &defs), YJ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(yj_last_error_message(), "paths[1]") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_definitions_from_paths(paths, 0, &defs), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_definitions_check(NULL, NULL), YJ_ERR_INVALID_ARGUMENT);

    YjEngine *engine = NULL;
    EXPECT_STATUS(yj_engine_new(NULL, &engine), YJ_ERR_INVALID_ARGUMENT);
    CHECK(engine == NULL, "engine set");
    char *out = NULL;
    EXPECT_STATUS(yj_engine_push(NULL, GOOD, &out), YJ_ERR_INVALID_ARGUMENT);
    CHECK(out == NULL, "out set");
    EXPECT_STATUS(yj_engine_push_batch(NULL, GOOD, &out), YJ_ERR_INVALID_ARGUMENT);

    const char *policy = "event rain { station: string, town: string, mm: number }\n"
                         "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 50 }";
    EXPECT_STATUS(yj_definitions_from_text("a.yj", policy, &defs), YJ_OK);
    EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_OK);
    EXPECT_STATUS(yj_engine_push(engine, NULL, &out), YJ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(yj_last_error_message(), "`event_json` is NULL") != NULL, "message: %s",
          yj_last_error_message());
    EXPECT_STATUS(yj_engine_push(engine, GOOD, NULL), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_engine_level(engine, NULL, "A", &out), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_engine_event_count(engine, NULL), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_engine_restore(engine, NULL), YJ_ERR_INVALID_ARGUMENT);
    /* none of these consumed an event number */
    uint64_t n = 99;
    EXPECT_STATUS(yj_engine_event_count(engine, &n), YJ_OK);
    CHECK(n == 0, "events after refused calls: %llu", (unsigned long long)n);
    /* a successful call clears the last error */
    CHECK(yj_last_error_code() == YJ_OK && strcmp(yj_last_error_message(), "") == 0 &&
              strcmp(yj_last_error_diagnostics(), "[]") == 0,
          "last error not cleared: %s", yj_last_error_message());
    /* freeing NULL is a no-op, like free() */
    EXPECT_STATUS(yj_engine_free(NULL), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(NULL), YJ_OK);
    EXPECT_STATUS(yj_string_free(NULL), YJ_OK);
    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
}

static void bad_text(void) {
    const char *policy = "event rain { station: string, town: string, mm: number }\n"
                         "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 50 }";
    YjDefinitions *defs = NULL;
    EXPECT_STATUS(yj_definitions_from_text("a.yj", "event rain { mm: \xff }", &defs), YJ_ERR_INVALID_UTF8);
    CHECK(strstr(yj_last_error_message(), "not valid UTF-8") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_definitions_from_text("a.yj", policy, &defs), YJ_OK);
    YjEngine *engine = NULL;
    EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_OK);
    char *out = NULL;

    /* invalid UTF-8 in an event and in a batch */
    EXPECT_STATUS(yj_engine_push(engine, "{\"ts\":\"\xc3\x28\"}", &out), YJ_ERR_INVALID_UTF8);
    CHECK(strstr(yj_last_error_message(), "`event_json` is not valid UTF-8") != NULL, "message: %s",
          yj_last_error_message());
    EXPECT_STATUS(yj_engine_push_batch(engine, "\xf0\x28\x8c\x28\n", &out), YJ_ERR_INVALID_UTF8);
    EXPECT_STATUS(yj_engine_level(engine, "s", "\xff", &out), YJ_ERR_INVALID_UTF8);

    /* malformed JSON */
    EXPECT_STATUS(yj_engine_push(engine, "{not json", &out), YJ_ERR_MALFORMED_JSON);
    CHECK(strstr(yj_last_error_message(), "not a JSON object") != NULL, "message: %s",
          yj_last_error_message());
    EXPECT_STATUS(yj_engine_push(engine, "[1,2]", &out), YJ_ERR_MALFORMED_JSON);
    EXPECT_STATUS(yj_engine_push_batch(engine, "[{\"ts\":", &out), YJ_ERR_MALFORMED_JSON);
    CHECK(out == NULL, "out set");
    EXPECT_STATUS(yj_engine_restore(engine, "{"), YJ_ERR_MALFORMED_JSON);

    /* well-formed events the engine refuses */
    EXPECT_STATUS(yj_engine_push(engine,
                                 "{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\","
                                 "\"town\":\"t\",\"mm\":\"lots\"}",
                                 &out),
                  YJ_ERR_EVENT);
    CHECK(strstr(yj_last_error_message(), "field `mm`") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_engine_push(engine, GOOD, &out), YJ_OK);
    CHECK(out && count(out, "\"to\":\"red\"") == 1, "outputs: %s", out);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_push(engine,
                                 "{\"ts\":\"2024-07-29T00:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\","
                                 "\"town\":\"t\",\"mm\":1}",
                                 &out),
                  YJ_ERR_EVENT);
    CHECK(strstr(yj_last_error_message(), "earlier than") != NULL, "message: %s", yj_last_error_message());

    /* a batch with bad lines: they are listed, the rest is applied */
    const char *batch = "{not json\n"
                        "\n"
                        "{\"ts\":\"2024-07-29T02:30:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"t\",\"mm\":0}\n";
    EXPECT_STATUS(yj_engine_push_batch(engine, batch, &out), YJ_OK);
    CHECK(out && strstr(out, "\"accepted\":1") && strstr(out, "\"index\":1,\"code\":\"malformed_json\"") &&
              strstr(out, "\"to\":\"none\""),
          "batch: %s", out);
    yj_string_free(out);

    /* not yet in this build */
    EXPECT_STATUS(yj_engine_snapshot(engine, &out), YJ_ERR_UNSUPPORTED);
    CHECK(strstr(yj_last_error_message(), "not supported yet") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_engine_restore(engine, "{}"), YJ_ERR_UNSUPPORTED);
    EXPECT_STATUS(yj_definitions_assess(defs, "[]", &out), YJ_ERR_UNSUPPORTED);

    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
}

static void failed_definitions(void) {
    YjDefinitions *defs = NULL;
    /* `stationn` is a typo */
    const char *bad = "event rain { station: string, mm: number }\n"
                      "signal s { from rain key stationn level red when mm >= 50 }";
    EXPECT_STATUS(yj_definitions_from_text("bad.yj", bad, &defs), YJ_OK);
    EXPECT_STATUS(yj_definitions_check(defs, NULL), YJ_ERR_DEFINITIONS);
    const char *diags = yj_last_error_diagnostics();
    CHECK(strstr(diags, "\"code\":\"E0101\"") && strstr(diags, "\"file\":\"bad.yj\"") &&
              strstr(diags, "\"line\":2") && strstr(diags, "did you mean `station`?"),
          "diagnostics: %s", diags);
    CHECK(strstr(yj_last_error_message(), "did not compile: 1 error(s)") != NULL, "message: %s",
          yj_last_error_message());

    YjEngine *engine = (YjEngine *)0x1;
    EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_ERR_DEFINITIONS);
    CHECK(engine == NULL, "engine set for failed definitions");
    CHECK(strstr(yj_last_error_diagnostics(), "E0101") != NULL, "diagnostics: %s", yj_last_error_diagnostics());
    EXPECT_STATUS(yj_definitions_assess(defs, "[]", &(char *){NULL}), YJ_ERR_DEFINITIONS);

    char *all = NULL;
    EXPECT_STATUS(yj_definitions_diagnostics(defs, &all), YJ_OK);
    CHECK(all && strstr(all, "E0101"), "diagnostics: %s", all);
    yj_string_free(all);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);

    /* a path that does not exist */
    const char *paths[] = {"no/such/policies"};
    EXPECT_STATUS(yj_definitions_from_paths(paths, 1, &defs), YJ_OK);
    EXPECT_STATUS(yj_definitions_check(defs, NULL), YJ_ERR_DEFINITIONS);
    CHECK(strstr(yj_last_error_diagnostics(), "\"code\":\"E0004\"") != NULL, "diagnostics: %s",
          yj_last_error_diagnostics());
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
}

static void double_free_and_wrong_handles(void) {
    YjDefinitions *defs = NULL;
    YjEngine *engine = NULL;
    char *out = NULL;
    EXPECT_STATUS(yj_definitions_from_text("a.yj", "event rain { station: string, mm: number }", &defs), YJ_OK);
    EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_OK);

    /* one kind of handle passed as another */
    EXPECT_STATUS(yj_engine_push((YjEngine *)defs, GOOD, &out), YJ_ERR_BAD_HANDLE);
    CHECK(strstr(yj_last_error_message(), "expected a YjEngine, got a YjDefinitions") != NULL, "message: %s",
          yj_last_error_message());
    EXPECT_STATUS(yj_definitions_free((YjDefinitions *)engine), YJ_ERR_BAD_HANDLE);
    EXPECT_STATUS(yj_string_free((char *)engine), YJ_ERR_BAD_HANDLE);
    /* a pointer the library never returned */
    char local[8] = "abc";
    EXPECT_STATUS(yj_string_free(local), YJ_ERR_BAD_HANDLE);

    /* double frees */
    EXPECT_STATUS(yj_engine_level(engine, "s", "A", &out), YJ_OK);
    EXPECT_STATUS(yj_string_free(out), YJ_OK);
    EXPECT_STATUS(yj_string_free(out), YJ_ERR_BAD_HANDLE);
    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    EXPECT_STATUS(yj_engine_free(engine), YJ_ERR_BAD_HANDLE);
    CHECK(strstr(yj_last_error_message(), "freed already") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_ERR_BAD_HANDLE);
    /* use after free, while the address is not reused */
    EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_ERR_BAD_HANDLE);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s REPO_ROOT EXPECTED_OUTPUTS_JSONL\n", argv[0]);
        return 2;
    }
    char *expected_jsonl = read_file(argv[2], NULL);
    if (chdir(argv[1]) != 0) {
        perror(argv[1]);
        return 2;
    }
    char *events = read_file("samples/rain.jsonl", NULL);
    char *expected_array = jsonl_to_array(expected_jsonl);
    size_t expected_changes = count(expected_jsonl, "\"type\":\"level_changed\"");
    CHECK(expected_changes > 0, "the CLI printed no level changes");

    printf("yingji %s\n", yj_version());
    scenario_line_by_line(events, expected_changes);
    scenario_batch(events, expected_array);
    null_pointers();
    bad_text();
    failed_definitions();
    double_free_and_wrong_handles();

    free(events);
    free(expected_array);
    free(expected_jsonl);
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
