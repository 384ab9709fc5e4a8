/*
 * libFuzzer target: audit_event_encode() on arbitrary field contents.
 *
 * Input: a 40-byte header (missing bytes are zero), then the string fields
 * separated by 0x1e in the order of audit_event_t:
 *
 *     0     action (mod AUDIT_ACTION_MAX + 1, so that one is invalid)
 *     1     severity (mod 4, ditto)
 *     2     flags: 1 has_prev, 2 scrub the route, 4 also a small buffer
 *     3     the small buffer's size / 16
 *     4-11  ts_ms   12-19 seq   20-23 status   24-31 count   32-39 window
 *
 * The line must parse as one JSON object, hold one "\n" at its end, fit in
 * AUDIT_EVENT_MAX whenever the event is valid, and give back each string
 * as a prefix of the input made valid UTF-8 (user_agent, attempted_user
 * and resource_id, when scrubbed, of the input through
 * audit_scrub_credentials()).  A smaller buffer must
 * give -1 or the same line.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_event.h"


#define AUDIT_FUZZ_HEADER  40


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void audit_fuzz_check(json_t *obj, const char *key, audit_str_t v);


static audit_scrub_t  *scrub;
static char            sanitized[4 * 10000 + 1];
static char            ua[3 * 10000 + 64];


/* the string fields in input order; route is checked by fuzz_scrub */
static const struct {
    size_t        offset;
    const char   *key;
} audit_fuzz_fields[] = {
    { offsetof(audit_event_t, request_id), "request_id" },
    { offsetof(audit_event_t, ip), "ip" },
    { offsetof(audit_event_t, method), "method" },
    { offsetof(audit_event_t, uri), NULL },
    { offsetof(audit_event_t, user_agent), "user_agent" },
    { offsetof(audit_event_t, user_id), "user_id" },
    { offsetof(audit_event_t, role), "role" },
    { offsetof(audit_event_t, session_id), "session_id" },
    { offsetof(audit_event_t, attempted_user), "attempted_user" },
    { offsetof(audit_event_t, reason), "reason" },
    { offsetof(audit_event_t, decision), "decision" },
    { offsetof(audit_event_t, rule), "rule" },
    { offsetof(audit_event_t, resource_type), "resource_type" },
    { offsetof(audit_event_t, resource_id), "resource_id" },
    { offsetof(audit_event_t, access), "access" },
    { offsetof(audit_event_t, producer), "producer" }
};

#define AUDIT_FUZZ_NFIELDS                                                  \
    (sizeof(audit_fuzz_fields) / sizeof(audit_fuzz_fields[0]))


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    scrub = audit_scrub_create(NULL, 0);

    return scrub ? 0 : 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             valid, status;
    long            n, m;
    char           *line, *small;
    size_t          i, h, small_size;
    json_t         *obj;
    audit_str_t    *v, scrubbed;
    const char     *p, *end, *sep;
    audit_event_t   ev;
    unsigned char   hdr[AUDIT_FUZZ_HEADER];

    memset(hdr, 0, sizeof(hdr));
    h = size < sizeof(hdr) ? size : sizeof(hdr);
    memcpy(hdr, data, h);

    memset(&ev, 0, sizeof(ev));
    ev.action = (audit_action_t) (hdr[0] % (AUDIT_ACTION_MAX + 1));
    ev.severity = (audit_severity_t) (hdr[1] % 4);
    ev.has_prev = hdr[2] & 1;
    memcpy(&ev.ts_ms, hdr + 4, 8);
    memcpy(&ev.seq, hdr + 12, 8);
    memcpy(&status, hdr + 20, 4);
    ev.status = status;
    memcpy(&ev.count, hdr + 24, 8);
    memcpy(&ev.window, hdr + 32, 8);
    memset(ev.id, hdr[3], sizeof(ev.id));
    memset(ev.prev, hdr[2], sizeof(ev.prev));

    /* seq small enough most of the time */
    if (hdr[19] & 0x80) {
        ev.seq &= 0xffff;
    }

    p = (const char *) data + h;
    end = (const char *) data + size;

    for (i = 0; i < AUDIT_FUZZ_NFIELDS && p <= end; i++) {
        sep = memchr(p, 0x1e, end - p);
        if (sep == NULL) {
            sep = end;
        }

        v = (audit_str_t *) ((char *) &ev + audit_fuzz_fields[i].offset);
        v->data = p;
        v->len = sep - p;

        p = sep + 1;
    }

    valid = ev.action < AUDIT_ACTION_MAX && ev.severity <= AUDIT_SEV_CRITICAL
            && ev.seq <= (unsigned long long) INT64_MAX;

    /* exactly AUDIT_EVENT_MAX, so that ASan sees an overflow */
    line = malloc(AUDIT_EVENT_MAX);
    if (line == NULL) {
        return 0;
    }

    n = audit_event_encode(&ev, (hdr[2] & 2) ? scrub : NULL, line,
                           AUDIT_EVENT_MAX);

    if (!valid) {
        if (n != -1) {
            __builtin_trap();
        }

        free(line);
        return 0;
    }

    if (n <= 0 || n >= AUDIT_EVENT_MAX || line[n] != '\0'
        || strlen(line) != (size_t) n
        || line[n - 1] != '\n' || memchr(line, '\n', n - 1) != NULL
        || memchr(line, '\r', n) != NULL)
    {
        __builtin_trap();
    }

    obj = json_loadb(line, n, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(obj)) {
        __builtin_trap();
    }

    for (i = 0; i < AUDIT_FUZZ_NFIELDS; i++) {
        v = (audit_str_t *) ((char *) &ev + audit_fuzz_fields[i].offset);

        if ((hdr[2] & 2) && v->len != 0
            && (v == &ev.user_agent || v == &ev.attempted_user
                || v == &ev.resource_id))
        {
            scrubbed.len = audit_scrub_credentials(v->data, v->len, ua,
                                                   sizeof(ua));
            scrubbed.data = ua;
            v = &scrubbed;
        }

        audit_fuzz_check(obj, audit_fuzz_fields[i].key, *v);
    }

    /* no route without a uri; a uri that is only a fragment has none */
    if (json_object_get(obj, "route") != NULL
        && (ev.uri.data == NULL || ev.uri.len == 0))
    {
        __builtin_trap();
    }

    json_decref(obj);

    if (hdr[2] & 4) {
        small_size = (size_t) hdr[3] * 16;
        small = malloc(small_size ? small_size : 1);

        if (small != NULL) {
            m = audit_event_encode(&ev, (hdr[2] & 2) ? scrub : NULL, small,
                                   small_size);

            if (small_size > (size_t) n
                ? (m != n || memcmp(small, line, n + 1) != 0)
                : m != -1)
            {
                __builtin_trap();
            }

            free(small);
        }
    }

    free(line);

    return 0;
}


/* The member key, when present, is a prefix of v made valid UTF-8. */

static void
audit_fuzz_check(json_t *obj, const char *key, audit_str_t v)
{
    size_t   n, len;
    json_t  *s;

    if (key == NULL) {
        return;
    }

    s = json_object_get(obj, key);

    if (v.data == NULL || v.len == 0) {
        if (s != NULL) {
            __builtin_trap();
        }

        return;
    }

    if (!json_is_string(s)) {
        __builtin_trap();
    }

    len = json_string_length(s);
    n = audit_utf8_sanitize(v.data, v.len, sanitized, sizeof(sanitized));

    if (len > n || memcmp(json_string_value(s), sanitized, len) != 0) {
        __builtin_trap();
    }
}
