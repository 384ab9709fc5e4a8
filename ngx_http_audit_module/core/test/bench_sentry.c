/*
 * Nanoseconds per audit_sentry_envelope() of typical failures (what the
 * request path pays for a reported event), and per rate-limit header read.
 * Not run by "make test":
 *
 *     make build/bench_sentry && build/bench_sentry [calls]
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
#include "audit_sentry.h"


#define S(s)  { s, sizeof(s) - 1 }

#define BENCH_ROUNDS  25

#define BENCH_DSN  "https://0123456789abcdef0123456789abcdef@o1.ingest.io/42"


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


/* the best and the median of BENCH_ROUNDS rounds */

static void
bench_report(const char *name, double *ns, long bytes)
{
    qsort(ns, BENCH_ROUNDS, sizeof(double), bench_cmp);

    printf("%-34s %6.0f ns best, %6.0f median  (%ld bytes)\n", name, ns[0],
           ns[BENCH_ROUNDS / 2], bytes);
}


static void
bench_envelope(const char *name, const audit_event_t *ev,
    const audit_scrub_t *scrub, long n)
{
    long                 i, r, len, per;
    double               start, ns[BENCH_ROUNDS];
    audit_sentry_opts_t  opts = { "production", "portal@1.4.2", "gw-1", 0 };
    static char          buf[AUDIT_SENTRY_ENVELOPE_MAX];

    per = n / BENCH_ROUNDS;
    len = 0;

    for (r = 0; r < BENCH_ROUNDS; r++) {
        start = bench_now();

        for (i = 0; i < per; i++) {
            len = audit_sentry_envelope(ev, NULL, BENCH_DSN, &opts, scrub,
                                        1795404363123ULL + i, buf,
                                        sizeof(buf));
        }

        ns[r] = (bench_now() - start) / per;
    }

    if (len <= 0) {
        fprintf(stderr, "%s: not encoded\n", name);
        exit(1);
    }

    bench_report(name, ns, len);
}


static void
bench_limits(const char *name, const char *rl, long n)
{
    long                 i, r, per;
    double               start, ns[BENCH_ROUNDS];
    size_t               len;
    unsigned long long   err, rep;

    per = n / BENCH_ROUNDS;
    len = strlen(rl);

    for (r = 0; r < BENCH_ROUNDS; r++) {
        start = bench_now();

        for (i = 0; i < per; i++) {
            err = 0;
            rep = 0;
            audit_sentry_rate_limits(429, rl, len, "60", 2,
                                     1795404363123ULL, &err, &rep);
        }

        ns[r] = (bench_now() - start) / per;
    }

    bench_report(name, ns, (long) len);
}


int
main(int argc, char **argv)
{
    long            n;
    audit_event_t   login, authz, hostile;
    audit_scrub_t  *scrub;

    n = (argc > 1) ? atol(argv[1]) : 250000;
    if (n < BENCH_ROUNDS) {
        n = BENCH_ROUNDS;
    }

    scrub = audit_scrub_create(NULL, 0);
    if (scrub == NULL) {
        return 1;
    }

    memset(&login, 0, sizeof(login));
    login.action = AUDIT_LOGIN_FAILURE;
    login.severity = AUDIT_SEV_WARNING;
    login.ts_ms = 1795404363123ULL;
    memset(login.id, 0x42, sizeof(login.id));
    login.request_id = (audit_str_t) S("0f8fad5bd9cb469fa16570867728950e");
    login.ip = (audit_str_t) S("203.0.113.42");
    login.method = (audit_str_t) S("POST");
    login.uri = (audit_str_t) S("/login");
    login.attempted_user = (audit_str_t) S("alice@example.org");
    login.reason = (audit_str_t) S("invalid_credentials");

    authz = login;
    authz.action = AUDIT_AUTHZ_CHECK;
    authz.method = (audit_str_t) S("GET");
    authz.uri = (audit_str_t) S("/api/patients/12/notes?page=2&sort=desc");
    authz.user_id = (audit_str_t) S("u-17");
    authz.role = (audit_str_t) S("nurse");
    authz.decision = (audit_str_t) S("denied");
    authz.rule = (audit_str_t) S("notes-doctors-only");
    authz.reason.data = NULL;
    authz.reason.len = 0;

    hostile = login;
    hostile.reason = (audit_str_t) S("say \"hi\"\n\\ and \xff\xfe bytes");
    hostile.uri = (audit_str_t) S("/login?password=hunter2&next=%2Fhome");

    bench_envelope("envelope login_failure", &login, scrub, n);
    bench_envelope("envelope authz denied", &authz, scrub, n);
    bench_envelope("envelope escapes, invalid UTF-8", &hostile, scrub, n);
    bench_limits("rate limits, docs example",
                 "60:transaction:key, 2700:default;error;security:"
                 "organization", n);

    audit_scrub_free(scrub);

    return 0;
}
