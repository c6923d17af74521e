/*
 * C test of concurrent misuse: several threads hammering one engine handle,
 * freeing an engine while other threads push to it, and freeing definitions
 * while other threads make engines from them. Every call must return YJ_OK,
 * YJ_ERR_BUSY (the handle was in use by another thread's call) or, once the
 * handle is freed, YJ_ERR_BAD_HANDLE; never crash, corrupt memory or
 * silently lose an event. Run by bindings/c/test.sh, also under valgrind
 * (memcheck and helgrind).
 *
 * usage: threads [ROUNDS]
 */
#include "yingji.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4

static int failures = 0;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
        }                                                                     \
    } while (0)

static const char *DEFS =
    "event rain { station: string, mm: number }\n"
    "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 100 }\n";

typedef struct {
    YjEngine *engine;
    YjDefinitions *defs;
    int id;
    int pushes;
    _Atomic int *stop;
    /* results */
    long ok, busy, bad_handle, other, push_ok;
    YjStatus other_status;
    char other_message[256];
} Worker;

static void record(Worker *w, YjStatus s) {
    switch (s) {
    case YJ_OK: w->ok++; break;
    case YJ_ERR_BUSY:
        w->busy++;
        if (strstr(yj_last_error_message(), "in use by another call") == NULL && w->other == 0) {
            w->other++;
            w->other_status = s;
            snprintf(w->other_message, sizeof w->other_message, "busy without the message: %s",
                     yj_last_error_message());
        }
        break;
    case YJ_ERR_BAD_HANDLE: w->bad_handle++; break;
    default:
        if (w->other++ == 0) {
            w->other_status = s;
            snprintf(w->other_message, sizeof w->other_message, "%s", yj_last_error_message());
        }
    }
}

static void *pusher(void *arg) {
    Worker *w = arg;
    char line[160];
    for (int i = 0; i < w->pushes && !atomic_load(w->stop); i++) {
        /* one station per thread, one minute per push: a valid stream per key */
        snprintf(line, sizeof line,
                 "{\"ts\":\"2024-07-29T%02d:%02d:00+08:00\",\"kind\":\"rain\",\"station\":\"S%d\",\"mm\":1}",
                 (i / 60) % 24, i % 60, w->id);
        char *out = NULL;
        YjStatus s = yj_engine_push(w->engine, line, &out);
        record(w, s);
        if (s == YJ_OK) {
            w->push_ok++;
            CHECK(out != NULL, "no outputs string");
            yj_string_free(out);
        } else {
            CHECK(out == NULL, "outputs set on failure");
        }
        if (i % 7 == 0) {
            uint64_t n = 0;
            record(w, yj_engine_event_count(w->engine, &n));
        }
        if (i % 13 == 0) {
            char *level = NULL;
            YjStatus ls = yj_engine_level(w->engine, "s", "S0", &level);
            record(w, ls);
            if (ls == YJ_OK) yj_string_free(level);
        }
        if (s == YJ_ERR_BAD_HANDLE) break; /* freed: nothing more to do */
    }
    return NULL;
}

static void *engine_maker(void *arg) {
    Worker *w = arg;
    for (int i = 0; i < w->pushes && !atomic_load(w->stop); i++) {
        YjEngine *e = NULL;
        YjStatus s = yj_engine_new(w->defs, &e);
        record(w, s);
        if (s == YJ_OK) {
            CHECK(yj_engine_free(e) == YJ_OK, "free of a private engine: %s", yj_last_error_message());
        }
        if (s == YJ_ERR_BAD_HANDLE) break;
    }
    return NULL;
}

static void totals(Worker *ws, long *ok, long *busy, long *bad) {
    *ok = *busy = *bad = 0;
    for (int t = 0; t < THREADS; t++) {
        *ok += ws[t].ok;
        *busy += ws[t].busy;
        *bad += ws[t].bad_handle;
        CHECK(ws[t].other == 0, "thread %d: %ld unexpected statuses, first %s: %s", t, ws[t].other,
              yj_status_name(ws[t].other_status), ws[t].other_message);
    }
}

/* several threads push to one engine: each push is applied exactly once or
 * refused as busy, so the engine's event count is the number of pushes that
 * returned YJ_OK */
static void hammer_one_engine(YjDefinitions *defs, int pushes) {
    YjEngine *engine = NULL;
    CHECK(yj_engine_new(defs, &engine) == YJ_OK, "engine: %s", yj_last_error_message());
    _Atomic int stop = 0;
    Worker ws[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&ws[t], 0, sizeof ws[t]);
        ws[t].engine = engine;
        ws[t].id = t;
        ws[t].pushes = pushes;
        ws[t].stop = &stop;
        pthread_create(&th[t], NULL, pusher, &ws[t]);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    long ok, busy, bad;
    totals(ws, &ok, &busy, &bad);
    CHECK(bad == 0, "%ld bad-handle results on a live engine", bad);
    /* count the accepted pushes alone: event_count and level calls are in ok too */
    uint64_t n = 0;
    CHECK(yj_engine_event_count(engine, &n) == YJ_OK, "count: %s", yj_last_error_message());
    CHECK(n <= (uint64_t)THREADS * (uint64_t)pushes, "event count %llu above the pushes made",
          (unsigned long long)n);
    char *out = NULL;
    CHECK(yj_engine_flush(engine, &out) == YJ_OK, "flush: %s", yj_last_error_message());
    yj_string_free(out);
    CHECK(yj_engine_free(engine) == YJ_OK, "free: %s", yj_last_error_message());
    printf("one engine, %d threads: %ld calls ok, %ld busy, %llu events applied\n", THREADS, ok, busy,
           (unsigned long long)n);
}

/* the count of applied events equals the pushes that returned YJ_OK */
static void exact_accounting(YjDefinitions *defs, int pushes) {
    YjEngine *engine = NULL;
    CHECK(yj_engine_new(defs, &engine) == YJ_OK, "engine: %s", yj_last_error_message());
    _Atomic int stop = 0;
    Worker ws[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&ws[t], 0, sizeof ws[t]);
        ws[t].engine = engine;
        ws[t].id = t;
        ws[t].pushes = pushes;
        ws[t].stop = &stop;
    }
    for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, pusher, &ws[t]);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    long ok, busy, bad;
    totals(ws, &ok, &busy, &bad);
    uint64_t n = 0;
    CHECK(yj_engine_event_count(engine, &n) == YJ_OK, "count: %s", yj_last_error_message());
    long push_ok = 0;
    for (int t = 0; t < THREADS; t++) push_ok += ws[t].push_ok;
    CHECK((long)n == push_ok, "events applied %llu, pushes that returned YJ_OK %ld",
          (unsigned long long)n, push_ok);
    printf("exact accounting: %ld pushes ok = %llu events applied, %ld busy\n", push_ok,
           (unsigned long long)n, busy);
    CHECK(yj_engine_free(engine) == YJ_OK, "free: %s", yj_last_error_message());
}

/* one thread frees the engine while the others push: the free is refused as
 * busy while a push runs, then succeeds; the pushers then see bad handles */
static void free_while_pushing(YjDefinitions *defs, int pushes) {
    YjEngine *engine = NULL;
    CHECK(yj_engine_new(defs, &engine) == YJ_OK, "engine: %s", yj_last_error_message());
    _Atomic int stop = 0;
    Worker ws[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&ws[t], 0, sizeof ws[t]);
        ws[t].engine = engine;
        ws[t].id = t;
        ws[t].pushes = pushes;
        ws[t].stop = &stop;
        pthread_create(&th[t], NULL, pusher, &ws[t]);
    }
    /* let them run a little, then free */
    for (volatile int spin = 0; spin < 200000; spin++) {
    }
    long free_busy = 0;
    YjStatus s;
    while ((s = yj_engine_free(engine)) == YJ_ERR_BUSY) {
        free_busy++;
        CHECK(strstr(yj_last_error_message(), "not freed") != NULL, "busy free message: %s",
              yj_last_error_message());
    }
    CHECK(s == YJ_OK, "free while pushing: %s %s", yj_status_name(s), yj_last_error_message());
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    long ok, busy, bad;
    totals(ws, &ok, &busy, &bad);
    CHECK(yj_engine_free(engine) == YJ_ERR_BAD_HANDLE, "second free: %s", yj_last_error_message());
    printf("free while pushing: free refused %ld times as busy, then freed; pushers: %ld ok, %ld busy, %ld bad handle\n",
           free_busy, ok, busy, bad);
}

/* definitions freed while other threads make engines from them */
static void free_definitions_in_use(int rounds) {
    YjDefinitions *defs = NULL;
    CHECK(yj_definitions_from_text("t.yj", DEFS, &defs) == YJ_OK, "defs: %s", yj_last_error_message());
    _Atomic int stop = 0;
    Worker ws[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&ws[t], 0, sizeof ws[t]);
        ws[t].defs = defs;
        ws[t].pushes = rounds;
        ws[t].stop = &stop;
        pthread_create(&th[t], NULL, engine_maker, &ws[t]);
    }
    for (volatile int spin = 0; spin < 100000; spin++) {
    }
    long free_busy = 0;
    YjStatus s;
    while ((s = yj_definitions_free(defs)) == YJ_ERR_BUSY) free_busy++;
    CHECK(s == YJ_OK, "free definitions: %s %s", yj_status_name(s), yj_last_error_message());
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    long ok, busy, bad;
    totals(ws, &ok, &busy, &bad);
    CHECK(busy == 0, "making engines from shared definitions is never busy (%ld)", busy);
    printf("free definitions in use: refused %ld times as busy; makers: %ld engines, %ld bad handle\n",
           free_busy, ok, bad);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 400;
    if (rounds <= 0) rounds = 400;
    YjDefinitions *defs = NULL;
    CHECK(yj_definitions_from_text("t.yj", DEFS, &defs) == YJ_OK, "defs: %s", yj_last_error_message());
    CHECK(yj_definitions_check(defs, NULL) == YJ_OK, "check: %s", yj_last_error_diagnostics());
    hammer_one_engine(defs, rounds);
    exact_accounting(defs, rounds);
    for (int i = 0; i < 3; i++) free_while_pushing(defs, rounds);
    CHECK(yj_definitions_free(defs) == YJ_OK, "free: %s", yj_last_error_message());
    free_definitions_in_use(rounds / 4 + 1);
    printf("threads: %s\n", failures == 0 ? "OK" : "FAILED");
    return failures == 0 ? 0 : 1;
}
