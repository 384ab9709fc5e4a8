/*
 * Nanoseconds per audit_event_encode() of typical events, and per
 * audit_scrub_uri() of their route.  Not run by "make test":
 *
 *     make build/bench_event && build/bench_event [calls]
 *
 * Nothing here fails on slowness.
 */

#define _POSIX_C_SOURCE  200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_event.h"
#include "audit_scrub.h"
#include "audit_uuid.h"


#define S(s)  { s, sizeof(s) - 1 }


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


static int
bench_cmp(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return (x > y) - (x < y);
}


/*
 * Runs BENCH_ROUNDS rounds of n / BENCH_ROUNDS calls and prints the best
 * and the median round: on a shared machine the best round is the one
 * least disturbed by others.
 */

#define BENCH_ROUNDS  25

static void
bench_report(const char *name, const char *what, double *ns, long bytes)
{
    qsort(ns, BENCH_ROUNDS, sizeof(double), bench_cmp);

    printf("%-30s %6.0f ns/%s best, %6.0f median  (%ld bytes)\n", name,
           ns[0], what, ns[BENCH_ROUNDS / 2], bytes);
}


static void
bench_event(const char *name, audit_event_t *ev, const audit_scrub_t *scrub,
    long n)
{
    long           i, r, len, per;
    double         start, ns[BENCH_ROUNDS];
    unsigned char  rnd[10];
    static char    buf[AUDIT_EVENT_MAX];

    memset(rnd, 0x5a, sizeof(rnd));
    per = n / BENCH_ROUNDS;
    len = 0;

    for (r = 0; r < BENCH_ROUNDS; r++) {
        start = bench_now();

        for (i = 0; i < per; i++) {
            ev->ts_ms++;
            ev->seq++;
            audit_uuid7(ev->id, ev->ts_ms, rnd);

            len = audit_event_encode(ev, scrub, buf, sizeof(buf));
            if (len < 0) {
                fprintf(stderr, "%s: encode failed\n", name);
                exit(1);
            }
        }

        ns[r] = (bench_now() - start) / per;
    }

    bench_report(name, "encode", ns, len);
}


static void
bench_scrub(const char *name, const char *uri, const audit_scrub_t *scrub,
    long n)
{
    long     i, r, per;
    size_t   len;
    double   start, ns[BENCH_ROUNDS];
    char     out[1025];

    per = n / BENCH_ROUNDS;
    len = 0;

    for (r = 0; r < BENCH_ROUNDS; r++) {
        start = bench_now();

        for (i = 0; i < per; i++) {
            len = audit_scrub_uri(scrub, uri, strlen(uri), out, sizeof(out));
        }

        ns[r] = (bench_now() - start) / per;
    }

    bench_report(name, "scrub", ns, (long) len);
}


int
main(int argc, char **argv)
{
    long            n;
    audit_event_t   ev;
    static char     line[AUDIT_EVENT_MAX];
    audit_scrub_t  *scrub;

    n = argc > 1 ? atol(argv[1]) : 1000000;

    scrub = audit_scrub_create(NULL, 0);
    if (scrub == NULL) {
        return 1;
    }

    /* an authz_check as the access phase logs it: 12 fields and a chain */
    memset(&ev, 0, sizeof(ev));
    ev.action = AUDIT_AUTHZ_CHECK;
    ev.severity = AUDIT_SEV_INFO;
    ev.ts_ms = 1795404363123ULL;
    ev.request_id = (audit_str_t) S("0f8fad5bd9cb469fa16570867728950e");
    ev.ip = (audit_str_t) S("203.0.113.42");
    ev.method = (audit_str_t) S("GET");
    ev.uri = (audit_str_t) S("/api/patients/1842/notes?page=2&sort=desc");
    ev.status = 200;
    ev.user_agent = (audit_str_t) S("Mozilla/5.0 (Windows NT 10.0; Win64; "
                                    "x64) AppleWebKit/537.36 (KHTML, like "
                                    "Gecko) Chrome/124.0 Safari/537.36");
    ev.user_id = (audit_str_t) S("u-7f3c2a");
    ev.role = (audit_str_t) S("doctor");
    ev.decision = (audit_str_t) S("permitted");
    ev.rule = (audit_str_t) S("clinical-staff");
    ev.producer = (audit_str_t) S("node-a/3/1");
    ev.has_prev = 1;
    memset(ev.prev, 0xab, sizeof(ev.prev));

    bench_event("authz_check", &ev, scrub, n);
    printf("%.*s", (int) audit_event_encode(&ev, scrub, line, sizeof(line)),
           line);
    bench_event("authz_check, no scrub", &ev, NULL, n);

    /* a login failure: few fields */
    ev.action = AUDIT_LOGIN_FAILURE;
    ev.uri = (audit_str_t) S("/login");
    ev.user_id = (audit_str_t) { NULL, 0 };
    ev.role = ev.user_id;
    ev.decision = ev.user_id;
    ev.rule = ev.user_id;
    ev.attempted_user = (audit_str_t) S("ann@clinic.example");
    ev.reason = (audit_str_t) S("no_session");

    bench_event("login_failure", &ev, scrub, n);

    /* hostile: every string needs escaping, so jansson writes each one */
    ev.attempted_user = (audit_str_t) S("ann\"@clinic.example\n");
    ev.reason = (audit_str_t) S("no_session\r\n");
    ev.user_agent = (audit_str_t) S("Mozilla/5.0 \"quoted\"\t\x01");
    ev.request_id = (audit_str_t) S("0f8fad5bd9cb\\469fa16570867728950e");
    ev.ip = (audit_str_t) S("203.0.113.42\n");
    ev.method = (audit_str_t) S("GET\n");
    ev.uri = (audit_str_t) S("/login\x1b[2J");
    ev.producer = (audit_str_t) S("node-a/3/1\n");

    bench_event("login_failure, all escaped", &ev, scrub, n / 4);

    bench_scrub("scrub /api/...?page=2", "/api/patients/1842/notes?page=2"
                "&sort=desc", scrub, n);
    bench_scrub("scrub /login?password=...", "/login?email=ann%40clinic."
                "example&password=hunter2&next=/home", scrub, n);

    audit_scrub_free(scrub);

    return 0;
}
