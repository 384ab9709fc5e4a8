
/*
 * What the transport must hold back and what it dropped: the rate limits
 * a Sentry response sets, and the client report of discarded events (see
 * audit_sentry.h).  The deadlines are the caller's; nothing here keeps
 * state.
 */


#include <stddef.h>
#include <string.h>

#include "audit_int.h"
#include "audit_json_int.h"
#include "audit_sentry.h"
#include "audit_sentry_int.h"


/* a retry_after beyond this many seconds (317 years) is taken as this */
#define AUDIT_SENTRY_RETRY_MAX     10000000000ULL

/* Relay reads a quantity as a u32 and refuses the report otherwise */
#define AUDIT_SENTRY_QUANTITY_MAX  4294967295ULL

/* a 429 without anything better: 60 s (the protocol's default) */
#define AUDIT_SENTRY_RETRY_DEFAULT 60000ULL


static int audit_sentry_limit(const char *p, size_t len,
    unsigned long long *ms, int *events, int *reports);
static int audit_sentry_seconds(const char *p, size_t len,
    unsigned long long *ms);
static size_t audit_sentry_token(const char *p, size_t len, char *out,
    size_t size);
static void audit_sentry_later(unsigned long long *until,
    unsigned long long now_ms, unsigned long long ms);


static const char  *audit_sentry_discard_reasons[] = {
    "ratelimit_backoff",
    "queue_overflow",
    "network_error",
    "send_error"
};


long
audit_sentry_client_report(const audit_sentry_discards_t *d,
    const char *dsn_text, unsigned long long now_ms, char *buf, size_t size)
{
    int                  first;
    size_t               i, head;
    char                 ts[25];
    audit_json_t         o;
    unsigned long long   q[4];

    if (buf != NULL && size != 0) {
        buf[0] = '\0';
    }

    if (d == NULL) {
        return 0;
    }

    q[0] = d->ratelimit_backoff;
    q[1] = d->queue_overflow;
    q[2] = d->network_error;
    q[3] = d->send_error;

    if ((q[0] | q[1] | q[2] | q[3]) == 0) {
        return 0;
    }

    if (buf == NULL || size == 0) {
        return -1;
    }

    audit_json_init(&o, buf, size - 1);

    audit_sentry_head(&o, NULL, NULL, dsn_text, now_ms);
    head = o.n;

    audit_rfc3339_ms(now_ms, ts);

    AUDIT_JSON_LIT(&o, "{\"timestamp\":\"");
    audit_json_raw(&o, ts, 24);
    AUDIT_JSON_LIT(&o, "\",\"discarded_events\":[");

    first = 1;

    for (i = 0; i < 4; i++) {
        if (q[i] == 0) {
            continue;
        }

        if (!first) {
            AUDIT_JSON_LIT(&o, ",");
        }

        first = 0;

        AUDIT_JSON_LIT(&o, "{\"reason\":\"");
        audit_json_raw(&o, audit_sentry_discard_reasons[i],
                         strlen(audit_sentry_discard_reasons[i]));
        AUDIT_JSON_LIT(&o, "\",\"category\":\"error\",\"quantity\":");
        audit_json_uint(&o, q[i] > AUDIT_SENTRY_QUANTITY_MAX
                            ? AUDIT_SENTRY_QUANTITY_MAX : q[i], 0);
        AUDIT_JSON_LIT(&o, "}");
    }

    AUDIT_JSON_LIT(&o, "]}");

    return audit_sentry_item(&o, head, "client_report");
}


int
audit_sentry_rate_limits(int status, const char *rate_limits, size_t rl_len,
    const char *retry_after, size_t ra_len, unsigned long long now_ms,
    unsigned long long *error_until_ms, unsigned long long *report_until_ms)
{
    int                  applied, valid, events, reports;
    const char          *p, *end, *comma;
    unsigned long long   ms;

    applied = 0;
    valid = 0;

    if (rate_limits != NULL && rl_len != 0) {
        p = rate_limits;
        end = rate_limits + rl_len;

        while (p < end) {
            comma = memchr(p, ',', end - p);
            if (comma == NULL) {
                comma = end;
            }

            if (audit_sentry_limit(p, comma - p, &ms, &events, &reports)) {
                valid = 1;

                if (events && error_until_ms != NULL) {
                    audit_sentry_later(error_until_ms, now_ms, ms);
                    applied = 1;
                }

                if (reports && report_until_ms != NULL) {
                    audit_sentry_later(report_until_ms, now_ms, ms);
                    applied = 1;
                }
            }

            p = comma + 1;
        }
    }

    if (valid || status != 429) {
        return applied;
    }

    /* a 429 alone: Retry-After for everything, else 60 s */

    if (retry_after == NULL || ra_len == 0
        || !audit_sentry_seconds(retry_after, ra_len, &ms))
    {
        ms = AUDIT_SENTRY_RETRY_DEFAULT;
    }

    if (error_until_ms != NULL) {
        audit_sentry_later(error_until_ms, now_ms, ms);
        applied = 1;
    }

    if (report_until_ms != NULL) {
        audit_sentry_later(report_until_ms, now_ms, ms);
        applied = 1;
    }

    return applied;
}


/*
 * One quota limit, "retry_after:categories:scope:reason_code:...".
 * Returns 0 when it is malformed; otherwise 1, with the delay and whether
 * it holds for events and for client reports.
 */

static int
audit_sentry_limit(const char *p, size_t len, unsigned long long *ms,
    int *events, int *reports)
{
    int          all;
    size_t       n;
    const char  *end, *colon, *semi;
    char         token[32];

    end = p + len;

    colon = memchr(p, ':', len);
    if (colon == NULL) {
        colon = end;
    }

    if (!audit_sentry_seconds(p, colon - p, ms)) {
        return 0;
    }

    *events = 0;
    *reports = 0;

    /* "60" alone: no categories, so all of them */

    all = 1;
    p = (colon < end) ? colon + 1 : end;

    colon = memchr(p, ':', end - p);
    if (colon == NULL) {
        colon = end;
    }

    while (p < colon) {
        semi = memchr(p, ';', colon - p);
        if (semi == NULL) {
            semi = colon;
        }

        n = audit_sentry_token(p, semi - p, token, sizeof(token));

        if (n != 0) {
            all = 0;

            if (strcmp(token, "error") == 0
                || strcmp(token, "default") == 0)
            {
                *events = 1;

            } else if (strcmp(token, "internal") == 0) {
                *reports = 1;
            }
        }

        p = semi + 1;
    }

    if (all) {
        *events = 1;
        *reports = 1;
    }

    return 1;
}


/*
 * Seconds, "60" or "2.5", whitespace ignored, into milliseconds rounded
 * up.  Returns 0 for anything else.
 */

static int
audit_sentry_seconds(const char *p, size_t len, unsigned long long *ms)
{
    int                  up;
    size_t               i, n, digits;
    unsigned long long   s, frac, scale;
    char                 token[32];

    n = audit_sentry_token(p, len, token, sizeof(token));
    if (n == 0 || n == sizeof(token)) {
        return 0;
    }

    s = 0;
    digits = 0;

    for (i = 0; i < n && token[i] >= '0' && token[i] <= '9'; i++) {
        if (s < AUDIT_SENTRY_RETRY_MAX) {
            s = s * 10 + (token[i] - '0');
        }

        digits++;
    }

    if (s > AUDIT_SENTRY_RETRY_MAX) {
        s = AUDIT_SENTRY_RETRY_MAX;
    }

    frac = 0;
    scale = 100;
    up = 0;

    if (i < n && token[i] == '.') {
        for (i++; i < n && token[i] >= '0' && token[i] <= '9'; i++) {
            if (scale) {
                frac += (token[i] - '0') * scale;
                scale /= 10;

            } else if (token[i] != '0') {
                /* below a millisecond: rounded up */
                up = 1;
            }

            digits++;
        }
    }

    if (i != n || digits == 0) {
        return 0;
    }

    *ms = s * 1000 + frac + up;

    return 1;
}


/*
 * Copies p[0..len) without its spaces and tabs into out and NUL-terminates
 * it.  Returns its length; size when it does not fit (out then holds a
 * prefix).
 */

static size_t
audit_sentry_token(const char *p, size_t len, char *out, size_t size)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (p[i] == ' ' || p[i] == '\t') {
            continue;
        }

        if (n == size - 1) {
            out[n] = '\0';
            return size;
        }

        out[n++] = p[i];
    }

    out[n] = '\0';

    return n;
}


/* *until = now_ms + ms, unless it is later already */

static void
audit_sentry_later(unsigned long long *until, unsigned long long now_ms,
    unsigned long long ms)
{
    unsigned long long  t;

    t = (ms > (unsigned long long) -1 - now_ms)
        ? (unsigned long long) -1 : now_ms + ms;

    if (t > *until) {
        *until = t;
    }
}
