/*
 * C test of yingji.h: the rainstorm scenario and every bad input the header
 * documents. Run by bindings/c/test.sh (also under valgrind).
 *
 * usage: test REPO_ROOT EXPECTED_OUTPUTS_JSONL
 *   REPO_ROOT               folder holding policies/ and samples/
 *   EXPECTED_OUTPUTS_JSONL  what `yingji run policies/rainstorm.yj --events
 *                           samples/rain.jsonl` printed (one output per line)
 */
#include "yingji.h"

#include <pthread.h>
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

/* Joins JSON arrays of outputs: acc_add("[a,b]"), acc_add("[c]") -> "[a,b,c]". */
typedef struct {
    char *buf;
    size_t len, cap;
} Acc;

static void acc_add(Acc *acc, const char *array) {
    size_t n = strlen(array);
    if (n < 2 || array[0] != '[' || array[n - 1] != ']') {
        CHECK(0, "not a JSON array: %.200s", array);
        return;
    }
    if (n == 2) return; /* [] */
    size_t need = acc->len + n + 2;
    if (need > acc->cap) {
        acc->cap = need * 2;
        acc->buf = realloc(acc->buf, acc->cap);
    }
    if (acc->len == 0) {
        acc->buf[acc->len++] = '[';
    } else {
        acc->buf[acc->len - 1] = ','; /* replaces the closing ] */
    }
    memcpy(acc->buf + acc->len, array + 1, n - 1); /* members and ] */
    acc->len += n - 1;
    acc->buf[acc->len] = '\0';
}

static const char *acc_str(const Acc *acc) { return acc->len ? acc->buf : "[]"; }

static const char *SIGNAL = "\xe6\x9a\xb4\xe9\x9b\xa8\xe9\xa2\x84\xe8\xad\xa6"; /* 暴雨预警 */

/* The rainstorm scenario, one event at a time. */
static void scenario_line_by_line(const char *events, const char *expected_array, size_t expected_changes) {
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

    size_t lines = 0;
    Acc all = {0};
    char *copy = strdup(events);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        char *outputs = NULL;
        lines++;
        YjStatus s = yj_engine_push(engine, line, &outputs);
        if (s != YJ_OK) {
            CHECK(0, "line %zu: %s: %s", lines, yj_status_name(s), yj_last_error_message());
            continue;
        }
        acc_add(&all, outputs);
        EXPECT_STATUS(yj_string_free(outputs), YJ_OK);
    }
    free(copy);
    /* end of stream: what the lateness held back */
    char *rest = NULL;
    EXPECT_STATUS(yj_engine_flush(engine, &rest), YJ_OK);
    if (rest) acc_add(&all, rest);
    yj_string_free(rest);
    size_t changes = count(acc_str(&all), "\"type\":\"level_changed\"");
    size_t to_red_yy004 = count(acc_str(&all), "\"key\":\"YY-004\",\"from\":\"orange\",\"to\":\"red\"");
    int same = strcmp(acc_str(&all), expected_array) == 0;
    CHECK(same, "outputs differ from the CLI's:\n got: %.300s\nwant: %.300s", acc_str(&all), expected_array);
    free(all.buf);
    CHECK(changes == expected_changes, "level_changed: %zu, CLI printed %zu", changes, expected_changes);
    CHECK(to_red_yy004 == 1, "YY-004 orange->red %zu times", to_red_yy004);

    uint64_t n = 0;
    EXPECT_STATUS(yj_engine_event_count(engine, &n), YJ_OK);
    CHECK(n == lines && lines > 0, "events %llu, lines %zu", (unsigned long long)n, lines);

    char *level = NULL;
    EXPECT_STATUS(yj_engine_level(engine, SIGNAL, "nowhere", &level), YJ_OK);
    CHECK(level && strcmp(level, "none") == 0, "level of an unknown key: %s", level);
    yj_string_free(level);

    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    printf("line by line: %zu events, %zu level changes (CLI: %zu), YY-004 orange->red %zu time(s), outputs %s\n",
           lines, changes, expected_changes, to_red_yy004, same ? "identical to the CLI's" : "DIFFERENT");
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
    Acc all = {0};
    size_t n_lines = 0;
    for (const char *c = events; *c; c++) n_lines += *c == '\n';
    char tail[64];
    snprintf(tail, sizeof tail, ",\"accepted\":%zu,\"rejected\":[]}", n_lines);
    const char *prefix = "{\"outputs\":";
    size_t plen = strlen(prefix), tlen = strlen(tail), rlen = result ? strlen(result) : 0;
    if (result && rlen > plen + tlen && strncmp(result, prefix, plen) == 0 &&
        strcmp(result + rlen - tlen, tail) == 0) {
        result[rlen - tlen] = '\0'; /* leaves the outputs array after the prefix */
        acc_add(&all, result + plen);
    } else {
        CHECK(0, "batch result: %.300s", result ? result : "(null)");
    }
    yj_string_free(result);
    char *rest = NULL;
    EXPECT_STATUS(yj_engine_flush(engine, &rest), YJ_OK);
    if (rest) acc_add(&all, rest);
    yj_string_free(rest);
    int same = strcmp(acc_str(&all), expected_array) == 0;
    CHECK(same, "batch outputs differ from the CLI's:\n got: %.300s\nwant: %.300s", acc_str(&all), expected_array);
    free(all.buf);

    char *level = NULL;
    EXPECT_STATUS(yj_engine_level(engine, SIGNAL, "YY-004", &level), YJ_OK);
    CHECK(level && strcmp(level, "red") != 0, "YY-004 ends the sample below red, got %s", level);
    yj_string_free(level);

    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
    printf("batch + flush: outputs %s\n", same ? "identical to the CLI's" : "DIFFERENT");
}

/* Half the stream, snapshot, a new engine restores it and takes the rest:
   together exactly the CLI's outputs. */
static void scenario_snapshot_restore(const char *events, const char *expected_array) {
    const char *paths[] = {"policies/rainstorm.yj"};
    YjDefinitions *defs = NULL;
    YjEngine *first = NULL, *second = NULL;
    EXPECT_STATUS(yj_definitions_from_paths(paths, 1, &defs), YJ_OK);
    EXPECT_STATUS(yj_engine_new(defs, &first), YJ_OK);
    EXPECT_STATUS(yj_engine_new(defs, &second), YJ_OK);
    Acc all = {0};
    char *copy = strdup(events), *snapshot = NULL, *out = NULL;
    size_t lines = 0;
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        YjEngine *engine = lines <= 1296 ? first : second;
        if (lines == 1297) {
            EXPECT_STATUS(yj_engine_snapshot(first, &snapshot), YJ_OK);
            EXPECT_STATUS(yj_engine_free(first), YJ_OK);
            char *report = NULL;
            EXPECT_STATUS(yj_engine_restore(second, snapshot, &report), YJ_OK);
            CHECK(report && strstr(report, "\"reset\":[]") && strstr(report, SIGNAL), "report: %s", report);
            yj_string_free(report);
        }
        EXPECT_STATUS(yj_engine_push(engine, line, &out), YJ_OK);
        if (out) acc_add(&all, out);
        yj_string_free(out);
        out = NULL;
    }
    free(copy);
    EXPECT_STATUS(yj_engine_flush(second, &out), YJ_OK);
    if (out) acc_add(&all, out);
    yj_string_free(out);
    CHECK(snapshot && strstr(snapshot, "\"format\":\"yingji-state\""), "snapshot: %.200s", snapshot);
    int same = strcmp(acc_str(&all), expected_array) == 0;
    CHECK(same, "outputs across a restore differ from the CLI's:\n got: %.300s\nwant: %.300s", acc_str(&all),
          expected_array);
    printf("snapshot after 1296 events (%zu bytes), restored in a new engine: outputs %s\n",
           snapshot ? strlen(snapshot) : 0, same ? "identical to the CLI's" : "DIFFERENT");
    yj_string_free(snapshot);
    free(all.buf);
    EXPECT_STATUS(yj_engine_free(second), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
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
    EXPECT_STATUS(yj_engine_restore(engine, NULL, NULL), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_engine_flush(engine, NULL), YJ_ERR_INVALID_ARGUMENT);
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
    EXPECT_STATUS(yj_engine_restore(engine, "{", NULL), YJ_ERR_MALFORMED_JSON);

    /* well-formed events the engine refuses */
    EXPECT_STATUS(yj_engine_push(engine,
                                 "{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\","
                                 "\"town\":\"t\",\"mm\":\"lots\"}",
                                 &out),
                  YJ_ERR_EVENT);
    CHECK(strstr(yj_last_error_message(), "field `mm`") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_engine_push(engine, GOOD, &out), YJ_OK);
    CHECK(out && strcmp(out, "[]") == 0, "outputs before the lateness passed: %s", out);
    yj_string_free(out);
    /* a second gauge: one source's clock can no longer move the stream's */
    EXPECT_STATUS(yj_engine_push(engine,
                                 "{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"B\","
                                 "\"town\":\"t\",\"mm\":0}",
                                 &out),
                  YJ_OK);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_push(engine,
                                 "{\"ts\":\"2024-08-29T00:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\","
                                 "\"town\":\"t\",\"mm\":1}",
                                 &out),
                  YJ_ERR_EVENT);
    CHECK(strstr(yj_last_error_message(), "clock_suspect: A sent") != NULL, "message: %s",
          yj_last_error_message());
    EXPECT_STATUS(yj_engine_flush(engine, &out), YJ_OK);
    CHECK(out && count(out, "\"to\":\"red\"") == 1, "outputs: %s", out);
    yj_string_free(out);

    /* a batch with bad lines: they are listed, the rest is applied */
    const char *batch = "{not json\n"
                        "\n"
                        "{\"ts\":\"2024-07-29T02:30:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"t\",\"mm\":0}\n";
    EXPECT_STATUS(yj_engine_push_batch(engine, batch, &out), YJ_OK);
    CHECK(out && strstr(out, "\"accepted\":1") &&
              strstr(out, "\"rejected\":[{\"event\":7,\"index\":1,\"code\":\"malformed_json\""),
          "batch: %s", out);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_flush(engine, &out), YJ_OK);
    CHECK(out && strstr(out, "\"to\":\"none\"") && strstr(out, "\"event\":9"), "flushed: %s", out);
    yj_string_free(out);

    /* a snapshot that is JSON but not a state document changes nothing */
    EXPECT_STATUS(yj_engine_restore(engine, "{}", &out), YJ_ERR_STATE);
    CHECK(out == NULL, "report set");
    EXPECT_STATUS(yj_engine_restore(engine, "{\"format\":\"yingji-state\",\"version\":99}", NULL), YJ_ERR_STATE);
    CHECK(strstr(yj_last_error_message(), "version 99") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_engine_level(engine, "s", "A", &out), YJ_OK);
    CHECK(out && strcmp(out, "none") == 0, "level after refused restores: %s", out);
    yj_string_free(out);
    uint64_t n = 0;
    EXPECT_STATUS(yj_engine_event_count(engine, &n), YJ_OK);
    CHECK(n == 9, "events after refused restores: %llu", (unsigned long long)n);

    /* these definitions have no assessment */
    EXPECT_STATUS(yj_definitions_assess(defs, "[]", &out), YJ_ERR_UNSUPPORTED);
    CHECK(strstr(yj_last_error_message(), "assessment") != NULL, "message: %s", yj_last_error_message());

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

/* A policy whose `let` is `prefix` `times` times, then `middle`, then
 * `suffix` `times` times. Release with free(). */
static char *repeated_policy(const char *prefix, size_t times, const char *middle, const char *suffix) {
    const char *head = "event rain { station: string, mm: number }\n"
                       "signal s { from rain key station let x = ";
    const char *tail = "\n  level red when mm > 1 }\n";
    size_t len = strlen(head) + times * (strlen(prefix) + strlen(suffix)) + strlen(middle) + strlen(tail);
    char *text = malloc(len + 1);
    if (!text) {
        abort();
    }
    char *at = text;
    at += sprintf(at, "%s", head);
    for (size_t i = 0; i < times; i++) {
        at += sprintf(at, "%s", prefix);
    }
    at += sprintf(at, "%s", middle);
    for (size_t i = 0; i < times; i++) {
        at += sprintf(at, "%s", suffix);
    }
    sprintf(at, "%s", tail);
    return text;
}

/* Runs on a thread with a 512 KiB stack: every hostile expression is a
 * diagnostic (E0005), never a crash of the host process. */
static void *hostile_on_small_stack(void *unused) {
    (void)unused;
    struct {
        const char *what, *prefix, *middle, *suffix;
        size_t times;
    } cases[] = {
        {"9,000 nested parentheses", "(", "mm", ")", 9000},
        {"50,000 nested parentheses", "(", "mm", ")", 50000},
        {"a 10,000-term sum", "mm + ", "mm", "", 9999},
        {"a 500-term sum", "mm + ", "mm", "", 499},
        {"10,000 `not`", "not ", "mm > 1", "", 10000},
        {"10,000 unary `-`", "-", "mm", "", 10000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = repeated_policy(cases[i].prefix, cases[i].times, cases[i].middle, cases[i].suffix);
        YjDefinitions *defs = NULL;
        EXPECT_STATUS(yj_definitions_from_text("hostile.yj", text, &defs), YJ_OK);
        EXPECT_STATUS(yj_definitions_check(defs, NULL), YJ_ERR_DEFINITIONS);
        const char *diags = yj_last_error_diagnostics();
        CHECK(strstr(diags, "\"code\":\"E0005\"") && strstr(diags, "\"line\":2"), "%s: diagnostics: %.300s",
              cases[i].what, diags);
        YjEngine *engine = NULL;
        EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_ERR_DEFINITIONS);
        EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
        free(text);
    }
    /* the largest sum the limits allow (128 operators) loads and runs there */
    char *text = repeated_policy("mm + ", 128, "mm", "");
    YjDefinitions *defs = NULL;
    EXPECT_STATUS(yj_definitions_from_text("limit.yj", text, &defs), YJ_OK);
    EXPECT_STATUS(yj_definitions_check(defs, NULL), YJ_OK);
    YjEngine *engine = NULL;
    EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_OK);
    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
    free(text);
    return NULL;
}

static void hostile_definitions_on_a_small_thread(void) {
    pthread_attr_t attr;
    pthread_t thread;
    CHECK(pthread_attr_init(&attr) == 0, "pthread_attr_init");
    CHECK(pthread_attr_setstacksize(&attr, 512 * 1024) == 0, "pthread_attr_setstacksize");
    CHECK(pthread_create(&thread, &attr, hostile_on_small_stack, NULL) == 0, "pthread_create");
    CHECK(pthread_join(thread, NULL) == 0, "pthread_join");
    pthread_attr_destroy(&attr);
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

/* event time without events: yj_engine_advance_to, yj_engine_finish, yj_engine_clock */
static const char *SILENT_DEFS =
    "event rain { station: string, mm: number }\n"
    "signal \xe5\xa4\xb1\xe8\x81\x94 { from rain key station missing 30m }"; /* 失联 */

static void advance_and_finish(void) {
    YjDefinitions *defs = NULL;
    YjEngine *engine = NULL;
    char *out = NULL;
    char *now = NULL;
    uint64_t n = 0;
    EXPECT_STATUS(yj_definitions_from_text("silent.yj", SILENT_DEFS, &defs), YJ_OK);
    EXPECT_STATUS(yj_engine_new(defs, &engine), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);

    /* no clock before the first event: success and NULL */
    now = (char *)"not reset";
    EXPECT_STATUS(yj_engine_clock(engine, &now), YJ_OK);
    CHECK(now == NULL, "now before any event: %s", now ? now : "(null)");
    EXPECT_STATUS(yj_string_free(now), YJ_OK);

    EXPECT_STATUS(yj_engine_push(engine,
                                 "{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":0}",
                                 &out),
                  YJ_OK);
    CHECK(out && strcmp(out, "[]") == 0, "push: %s", out);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_clock(engine, &now), YJ_OK);
    CHECK(now && strcmp(now, "2024-07-29T01:00:00+08:00") == 0, "now: %s", now);
    yj_string_free(now);

    /* before the deadline (01:30): nothing */
    EXPECT_STATUS(yj_engine_advance_to(engine, "2024-07-29T01:20:00+08:00", &out), YJ_OK);
    CHECK(out && strcmp(out, "[]") == 0, "advance to 01:20: %s", out);
    yj_string_free(out);
    /* earlier than the now: nothing, the now stays */
    EXPECT_STATUS(yj_engine_advance_to(engine, "2024-07-28T17:00:00Z", &out), YJ_OK);
    CHECK(out && strcmp(out, "[]") == 0, "advance to an earlier time: %s", out);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_clock(engine, &now), YJ_OK);
    CHECK(now && strcmp(now, "2024-07-29T01:20:00+08:00") == 0, "now after an earlier time: %s", now);
    yj_string_free(now);

    /* past the deadline: the absence, stamped at the deadline */
    EXPECT_STATUS(yj_engine_advance_to(engine, "2024-07-29T02:00:00+08:00", &out), YJ_OK);
    CHECK(out && count(out, "\"type\":\"absence\"") == 1 && strstr(out, "\"ts\":\"2024-07-29T01:30:00+08:00\"") &&
              strstr(out, "\"key\":\"A\"") && strstr(out, "\"id\":1"),
          "advance to 02:00: %s", out);
    yj_string_free(out);
    /* again: nothing more */
    EXPECT_STATUS(yj_engine_advance_to(engine, "2024-07-29T02:00:00+08:00", &out), YJ_OK);
    CHECK(out && strcmp(out, "[]") == 0, "advance to 02:00 again: %s", out);
    yj_string_free(out);

    /* bad arguments: refused, nothing changes */
    out = (char *)"not reset";
    EXPECT_STATUS(yj_engine_advance_to(engine, "half past two", &out), YJ_ERR_INVALID_ARGUMENT);
    CHECK(out == NULL, "out not reset on failure");
    CHECK(strstr(yj_last_error_message(), "`half past two`") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_engine_advance_to(engine, "2024-07-29T03:00:00", &out), YJ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(yj_last_error_message(), "no UTC offset") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_engine_advance_to(engine, NULL, &out), YJ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(yj_last_error_message(), "`ts` is NULL") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_engine_advance_to(engine, "2024-07-29T03:00:00+08:00", NULL), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_engine_advance_to(NULL, "2024-07-29T03:00:00+08:00", &out), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_engine_finish(engine, "2024-07-29T01:00:00+08:00", &out), YJ_ERR_INVALID_ARGUMENT);
    CHECK(out == NULL, "out not reset on failure");
    CHECK(strstr(yj_last_error_message(), "already at 2024-07-29T02:00:00+08:00") != NULL, "message: %s",
          yj_last_error_message());
    EXPECT_STATUS(yj_engine_finish(engine, "\xff", &out), YJ_ERR_INVALID_UTF8);
    EXPECT_STATUS(yj_engine_finish(engine, "tomorrow", &out), YJ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(yj_last_error_message(), "`tomorrow`") != NULL, "message: %s", yj_last_error_message());
    EXPECT_STATUS(yj_engine_clock(engine, NULL), YJ_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(yj_engine_clock(engine, &now), YJ_OK);
    CHECK(now && strcmp(now, "2024-07-29T02:00:00+08:00") == 0, "now after refused calls: %s", now);
    yj_string_free(now);
    EXPECT_STATUS(yj_engine_event_count(engine, &n), YJ_OK);
    CHECK(n == 1, "advancing takes no event number: %llu", (unsigned long long)n);

    /* a second key, then the end of input with a time to run the now to */
    EXPECT_STATUS(yj_engine_push(engine,
                                 "{\"ts\":\"2024-07-29T02:10:00+08:00\",\"kind\":\"rain\",\"station\":\"B\",\"mm\":0}",
                                 &out),
                  YJ_OK);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_finish(engine, NULL, &out), YJ_OK);
    CHECK(out && strcmp(out, "[]") == 0, "finish without a time: %s", out);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_finish(engine, "2024-07-29T03:00:00+08:00", &out), YJ_OK);
    CHECK(out && count(out, "\"type\":\"absence\"") == 1 && strstr(out, "\"key\":\"B\"") &&
              strstr(out, "\"ts\":\"2024-07-29T02:40:00+08:00\"") && strstr(out, "\"id\":2"),
          "finish until 03:00: %s", out);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_clock(engine, &now), YJ_OK);
    CHECK(now && strcmp(now, "2024-07-29T03:00:00+08:00") == 0, "now after finish: %s", now);
    yj_string_free(now);

    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    /* a freed engine */
    EXPECT_STATUS(yj_engine_advance_to(engine, "2024-07-29T04:00:00+08:00", &out), YJ_ERR_BAD_HANDLE);
    EXPECT_STATUS(yj_engine_finish(engine, NULL, &out), YJ_ERR_BAD_HANDLE);
    EXPECT_STATUS(yj_engine_clock(engine, &now), YJ_ERR_BAD_HANDLE);
}

/* run settings: each kind of bad value refused naming the member, good ones
   take effect, a snapshot refuses an engine with another lateness/dedupe */
static void config(void) {
    static const char *RAIN_DEFS =
        "event rain { station: string, town: string, mm: number }\n"
        "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }";
    YjDefinitions *defs = NULL;
    YjEngine *engine = NULL;
    char *out = NULL;
    EXPECT_STATUS(yj_definitions_from_text("c.yj", RAIN_DEFS, &defs), YJ_OK);
    struct {
        const char *json, *field;
        YjStatus status;
    } bad[] = {
        {"{\"lateness\":\"5 minutes\"}", "lateness", YJ_ERR_CONFIG},
        {"{\"lateness\":300}", "lateness", YJ_ERR_CONFIG},
        {"{\"late\":\"drop\"}", "late", YJ_ERR_CONFIG},
        {"{\"max_ahead\":\"never\"}", "max_ahead", YJ_ERR_CONFIG},
        {"{\"idle_ttl\":\"0s\"}", "idle_ttl", YJ_ERR_CONFIG},
        {"{\"idle_ttl\":\"10m\"}", "idle_ttl", YJ_ERR_CONFIG}, /* shorter than the 1h window */
        {"{\"dedupe_kind_key_ts\":\"yes\"}", "dedupe_kind_key_ts", YJ_ERR_CONFIG},
        {"{\"max_line\":0}", "max_line", YJ_ERR_CONFIG},
        {"{\"colour\":\"red\"}", "colour", YJ_ERR_CONFIG},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_STATUS(yj_engine_new_with_config(defs, bad[i].json, &engine), bad[i].status);
        CHECK(engine == NULL, "engine set for %s", bad[i].json);
        char want_msg[64], want_detail[64];
        snprintf(want_msg, sizeof want_msg, "`%s`", bad[i].field);
        snprintf(want_detail, sizeof want_detail, "\"field\":\"%s\"", bad[i].field);
        CHECK(strstr(yj_last_error_message(), want_msg) != NULL, "%s: message %s", bad[i].json,
              yj_last_error_message());
        CHECK(strcmp(yj_last_error_reason(), "bad_config") == 0, "%s: reason %s", bad[i].json,
              yj_last_error_reason());
        CHECK(strstr(yj_last_error_detail(), want_detail) != NULL, "%s: detail %s", bad[i].json,
              yj_last_error_detail());
    }
    EXPECT_STATUS(yj_engine_new_with_config(defs, "{lateness", &engine), YJ_ERR_CONFIG);
    EXPECT_STATUS(yj_engine_new_with_config(defs, "[]", &engine), YJ_ERR_CONFIG);
    EXPECT_STATUS(yj_engine_new_with_config(defs, NULL, &engine), YJ_ERR_INVALID_ARGUMENT);

    /* a 5-day gap from another source: refused by the default 1-day guard, with a reason */
    const char *a = "{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"t\",\"mm\":12}";
    const char *b = "{\"ts\":\"2024-08-03T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"B\",\"town\":\"t\",\"mm\":1}";
    EXPECT_STATUS(yj_engine_new_with_config(defs, "{}", &engine), YJ_OK);
    EXPECT_STATUS(yj_engine_push(engine, a, &out), YJ_OK);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_push(engine, b, &out), YJ_ERR_EVENT);
    CHECK(strcmp(yj_last_error_reason(), "clock_suspect") == 0, "reason %s", yj_last_error_reason());
    EXPECT_STATUS(yj_engine_push(engine, "{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\","
                                         "\"town\":\"t\"}", &out), YJ_ERR_EVENT);
    CHECK(strcmp(yj_last_error_reason(), "missing_field") == 0, "reason %s", yj_last_error_reason());
    CHECK(strstr(yj_last_error_detail(), "\"field\":\"mm\"") && strstr(yj_last_error_detail(), "\"kind\":\"rain\""),
          "detail %s", yj_last_error_detail());
    EXPECT_STATUS(yj_engine_push(engine, "{\"ts\":\"soon\",\"kind\":\"rain\"}", &out), YJ_ERR_EVENT);
    CHECK(strcmp(yj_last_error_reason(), "bad_timestamp") == 0, "reason %s", yj_last_error_reason());
    EXPECT_STATUS(yj_engine_push(engine, "{oops", &out), YJ_ERR_MALFORMED_JSON);
    CHECK(strcmp(yj_last_error_reason(), "not_json") == 0, "reason %s", yj_last_error_reason());
    char *snapshot = NULL;
    EXPECT_STATUS(yj_engine_snapshot(engine, &snapshot), YJ_OK);
    CHECK(strcmp(yj_last_error_reason(), "") == 0 && strcmp(yj_last_error_detail(), "{}") == 0, "cleared");
    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);

    EXPECT_STATUS(yj_engine_new_with_config(defs, "{\"max_ahead\":\"off\",\"late\":\"apply\"}", &engine),
                  YJ_OK);
    EXPECT_STATUS(yj_engine_push(engine, a, &out), YJ_OK);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_push(engine, b, &out), YJ_OK); /* the gap is accepted with max_ahead off */
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_flush(engine, &out), YJ_OK);
    CHECK(out && count(out, "\"to\":\"red\"") == 1, "flushed after the gap: %s", out);
    yj_string_free(out);
    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);

    /* a snapshot taken with lateness 5m cannot go into an engine with 10m */
    EXPECT_STATUS(yj_engine_new_with_config(defs, "{\"lateness\":\"10m\"}", &engine), YJ_OK);
    EXPECT_STATUS(yj_engine_restore(engine, snapshot, NULL), YJ_ERR_STATE);
    CHECK(strcmp(yj_last_error_reason(), "config_mismatch") == 0, "reason %s", yj_last_error_reason());
    CHECK(strstr(yj_last_error_message(), "lateness") != NULL && strstr(yj_last_error_detail(), "\"field\":\"lateness\""),
          "message %s, detail %s", yj_last_error_message(), yj_last_error_detail());
    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    /* another max_ahead is fine */
    EXPECT_STATUS(yj_engine_new_with_config(defs, "{\"max_ahead\":\"7d\"}", &engine), YJ_OK);
    EXPECT_STATUS(yj_engine_restore(engine, snapshot, NULL), YJ_OK);
    EXPECT_STATUS(yj_engine_flush(engine, &out), YJ_OK);
    CHECK(out && count(out, "\"to\":\"red\"") == 1, "restored and flushed: %s", out);
    yj_string_free(out);
    yj_string_free(snapshot);
    EXPECT_STATUS(yj_engine_free(engine), YJ_OK);
    EXPECT_STATUS(yj_definitions_free(defs), YJ_OK);
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
    scenario_line_by_line(events, expected_array, expected_changes);
    scenario_batch(events, expected_array);
    scenario_snapshot_restore(events, expected_array);
    null_pointers();
    bad_text();
    failed_definitions();
    hostile_definitions_on_a_small_thread();
    double_free_and_wrong_handles();
    advance_and_finish();
    config();

    free(events);
    free(expected_array);
    free(expected_jsonl);
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
