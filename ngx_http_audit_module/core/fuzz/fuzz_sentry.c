/*
 * libFuzzer target: the DSN parser, the rate-limit reader, envelopes and
 * client reports on arbitrary input.
 *
 * Input: a 24-byte header (missing bytes are zero), then strings separated
 * by 0x1e: the DSN, X-Sentry-Rate-Limits, Retry-After, then the event's
 * request_id ip method uri user_agent user_id role session_id
 * attempted_user reason decision rule resource_type resource_id access,
 * then environment release server_name.
 *
 *     0      action (mod AUDIT_ACTION_MAX + 1, so that one is invalid)
 *     1      severity (mod 4, ditto)
 *     2      flags: 1 send_pii, 2 scrub, 4 also a small buffer, 8 decision
 *            "denied", 16 no dsn_text (rebuilt from the parsed DSN),
 *            32 no opts, 64 headers absent (NULL)
 *     3      the rate-limit response's status: 0x80 set 429, else 200
 *     4-5    the small buffer's size
 *     6-7    the id's bytes
 *     8-15   ts_ms    16-23 now_ms (also the client report's counts)
 *
 * Whatever comes in: a DSN parses into NUL-terminated, consistent parts or
 * is refused with a reason and zeroes; deadlines only move forward; an
 * envelope is exactly three lines of JSON whose "length" is the payload's,
 * fits AUDIT_SENTRY_ENVELOPE_MAX, keeps tags within 200 characters as
 * prefixes of their input made valid UTF-8, and without send_pii has no
 * user name or resource id; a smaller buffer gives -1 or the same bytes.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_event.h"
#include "audit_scrub.h"
#include "audit_sentry.h"


#define AUDIT_FUZZ_HEADER  24

#define AUDIT_FUZZ_TRAP(cond)                                               \
    do { if (cond) { __builtin_trap(); } } while (0)


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void audit_fuzz_dsn(const char *p, size_t len,
    audit_sentry_dsn_t *dsn, int *parsed);
static void audit_fuzz_limits(int status, audit_str_t rl, audit_str_t ra,
    unsigned long long now);
static json_t *audit_fuzz_split(const char *b, long n, const char *type,
    json_t **head);
static void audit_fuzz_envelope(const audit_event_t *ev,
    const audit_sentry_dsn_t *dsn, int parsed, const char *dsn_text,
    const audit_sentry_opts_t *opts, int flags, size_t small_size,
    unsigned long long now);
static void audit_fuzz_tag(json_t *tags, const char *key, audit_str_t v);
static void audit_fuzz_report(unsigned long long now, const char *dsn_text);
static size_t audit_fuzz_chars(json_t *s);


static audit_scrub_t  *scrub;
static char            sanitized[4 * 10000 + 1];


/* the event's strings in input order */
static const size_t  audit_fuzz_fields[] = {
    offsetof(audit_event_t, request_id),
    offsetof(audit_event_t, ip),
    offsetof(audit_event_t, method),
    offsetof(audit_event_t, uri),
    offsetof(audit_event_t, user_agent),
    offsetof(audit_event_t, user_id),
    offsetof(audit_event_t, role),
    offsetof(audit_event_t, session_id),
    offsetof(audit_event_t, attempted_user),
    offsetof(audit_event_t, reason),
    offsetof(audit_event_t, decision),
    offsetof(audit_event_t, rule),
    offsetof(audit_event_t, resource_type),
    offsetof(audit_event_t, resource_id),
    offsetof(audit_event_t, access)
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
    int                   flags, parsed;
    char                 *dsn_text, *opt[3];
    size_t                i, h, small_size;
    audit_str_t          *v, s[3 + AUDIT_FUZZ_NFIELDS + 3];
    const char           *p, *end, *sep;
    audit_event_t         ev;
    audit_sentry_dsn_t    dsn;
    audit_sentry_opts_t   opts;
    unsigned long long    now;
    unsigned char         hdr[AUDIT_FUZZ_HEADER];

    memset(hdr, 0, sizeof(hdr));
    h = size < sizeof(hdr) ? size : sizeof(hdr);
    memcpy(hdr, data, h);

    memset(s, 0, sizeof(s));
    p = (const char *) data + h;
    end = (const char *) data + size;

    for (i = 0; i < sizeof(s) / sizeof(s[0]) && p <= end; i++) {
        sep = memchr(p, 0x1e, end - p);
        if (sep == NULL) {
            sep = end;
        }

        s[i].data = p;
        s[i].len = sep - p;
        p = sep + 1;
    }

    flags = hdr[2];
    memcpy(&now, hdr + 16, 8);
    now >>= 8;

    /* the DSN, and as dsn_text: NUL-terminated */

    dsn_text = malloc(s[0].len + 1);
    if (dsn_text == NULL) {
        return 0;
    }

    if (s[0].len) {
        memcpy(dsn_text, s[0].data, s[0].len);
    }

    dsn_text[s[0].len] = '\0';

    audit_fuzz_dsn(s[0].data, s[0].len, &dsn, &parsed);

    if (flags & 64) {
        s[1].data = NULL;
        s[2].data = NULL;
    }

    audit_fuzz_limits((hdr[3] & 0x80) ? 429 : 200 + (hdr[3] & 0x7f),
                      s[1], s[2], now);

    /* the event */

    memset(&ev, 0, sizeof(ev));
    ev.action = (audit_action_t) (hdr[0] % (AUDIT_ACTION_MAX + 1));
    ev.severity = (audit_severity_t) (hdr[1] % 4);
    memcpy(&ev.ts_ms, hdr + 8, 8);
    memset(ev.id, hdr[6], 8);
    memset(ev.id + 8, hdr[7], 8);
    ev.count = (long long) hdr[6] - 100;
    ev.window = hdr[7];

    for (i = 0; i < AUDIT_FUZZ_NFIELDS; i++) {
        v = (audit_str_t *) ((char *) &ev + audit_fuzz_fields[i]);
        *v = s[3 + i];
    }

    if (flags & 8) {
        ev.decision.data = "denied";
        ev.decision.len = 6;
    }

    for (i = 0; i < 3; i++) {
        v = &s[3 + AUDIT_FUZZ_NFIELDS + i];
        opt[i] = malloc(v->len + 1);

        if (opt[i] != NULL) {
            if (v->len) {
                memcpy(opt[i], v->data, v->len);
            }

            opt[i][v->len] = '\0';
        }
    }

    opts.environment = opt[0];
    opts.release = opt[1];
    opts.server_name = opt[2];
    opts.send_pii = flags & 1;

    small_size = (size_t) hdr[4] | (size_t) hdr[5] << 8;

    audit_fuzz_envelope(&ev, &dsn, parsed,
                        (flags & 16) ? NULL : dsn_text,
                        (flags & 32) ? NULL : &opts, flags,
                        small_size, now);

    audit_fuzz_report(now, (flags & 16) ? NULL : dsn_text);

    for (i = 0; i < 3; i++) {
        free(opt[i]);
    }

    free(dsn_text);

    return 0;
}


static void
audit_fuzz_dsn(const char *p, size_t len, audit_sentry_dsn_t *dsn,
    int *parsed)
{
    int                 rc, a;
    size_t              n;
    char                err[128], path[512], auth[512];
    audit_sentry_dsn_t  zero;

    memset(&zero, 0, sizeof(zero));

    rc = audit_sentry_dsn_parse(p, len, dsn, err, sizeof(err));
    *parsed = (rc == 0);

    if (rc != 0) {
        AUDIT_FUZZ_TRAP(rc != -1 || err[0] == '\0'
                        || memcmp(dsn, &zero, sizeof(zero)) != 0);
        return;
    }

    AUDIT_FUZZ_TRAP(err[0] != '\0' || len > AUDIT_SENTRY_DSN_MAX);
    AUDIT_FUZZ_TRAP(memchr(dsn->host, '\0', sizeof(dsn->host)) == NULL
                    || memchr(dsn->public_key, '\0',
                              sizeof(dsn->public_key)) == NULL
                    || memchr(dsn->path_prefix, '\0',
                              sizeof(dsn->path_prefix)) == NULL
                    || memchr(dsn->project_id, '\0',
                              sizeof(dsn->project_id)) == NULL
                    || memchr(dsn->envelope_path, '\0',
                              sizeof(dsn->envelope_path)) == NULL);
    AUDIT_FUZZ_TRAP(dsn->host[0] == '\0' || dsn->public_key[0] == '\0'
                    || dsn->port < 1 || dsn->port > 65535
                    || (dsn->https != 0 && dsn->https != 1));

    n = strlen(dsn->project_id);
    AUDIT_FUZZ_TRAP(n == 0
                    || strspn(dsn->project_id, "0123456789") != n);
    AUDIT_FUZZ_TRAP(dsn->path_prefix[0] != '\0'
                    && (dsn->path_prefix[0] != '/'
                        || dsn->path_prefix[strlen(dsn->path_prefix) - 1]
                           == '/'));

    /* nothing that could end a request line or a header */
    AUDIT_FUZZ_TRAP(strpbrk(dsn->path_prefix, " \t\r\n?#") != NULL
                    || strpbrk(dsn->host, " \t\r\n/@") != NULL);

    snprintf(path, sizeof(path), "%s/api/%s/envelope/", dsn->path_prefix,
             dsn->project_id);
    AUDIT_FUZZ_TRAP(strcmp(path, dsn->envelope_path) != 0);

    a = audit_sentry_auth_header(dsn, NULL, auth, sizeof(auth));
    AUDIT_FUZZ_TRAP(a <= 0 || strpbrk(auth, "\r\n") != NULL
                    || strncmp(auth, "Sentry sentry_version=7, sentry_key=",
                               36) != 0);
}


static void
audit_fuzz_limits(int status, audit_str_t rl, audit_str_t ra,
    unsigned long long now)
{
    int                 rc;
    unsigned long long  err, rep, err0, rep0;

    err0 = now ^ 0x5555;
    rep0 = now / 2;
    err = err0;
    rep = rep0;

    rc = audit_sentry_rate_limits(status, rl.data, rl.len, ra.data, ra.len,
                                  now, &err, &rep);

    AUDIT_FUZZ_TRAP(rc != 0 && rc != 1);
    AUDIT_FUZZ_TRAP(err < err0 || rep < rep0);
    AUDIT_FUZZ_TRAP(rc == 0 && (err != err0 || rep != rep0));
    AUDIT_FUZZ_TRAP(rc == 1 && err < now && rep < now);

    /* a bare 429 always backs off */
    if (status == 429 && (rl.data == NULL || rl.len == 0)) {
        AUDIT_FUZZ_TRAP(rc != 1 || err < now || rep < now);
    }

    /* from nothing, the same */
    err = 0;
    rep = 0;
    AUDIT_FUZZ_TRAP(audit_sentry_rate_limits(status, rl.data, rl.len,
                                             ra.data, ra.len, now, &err,
                                             &rep) != rc);
}


/* Checks the framing; returns the payload, *head the envelope header. */

static json_t *
audit_fuzz_split(const char *b, long n, const char *type, json_t **head)
{
    long          c;
    json_t       *item, *payload;
    const char   *nl1, *nl2, *end;
    json_int_t    length;

    AUDIT_FUZZ_TRAP(n <= 0 || strlen(b) != (size_t) n || b[n - 1] != '\n'
                    || memchr(b, '\r', n) != NULL);

    end = b + n;

    for (c = 0, nl1 = b; (nl1 = memchr(nl1, '\n', end - nl1)); nl1++) {
        c++;
    }

    AUDIT_FUZZ_TRAP(c != 3);

    nl1 = memchr(b, '\n', n);
    nl2 = memchr(nl1 + 1, '\n', end - nl1 - 1);

    *head = json_loadb(b, nl1 - b, JSON_ALLOW_NUL, NULL);
    item = json_loadb(nl1 + 1, nl2 - nl1 - 1, JSON_ALLOW_NUL, NULL);

    AUDIT_FUZZ_TRAP(!json_is_object(*head) || !json_is_object(item));
    AUDIT_FUZZ_TRAP(json_object_size(item) != 2
                    || strcmp(json_string_value(json_object_get(item,
                                                                "type")),
                              type) != 0);

    length = json_integer_value(json_object_get(item, "length"));
    AUDIT_FUZZ_TRAP(length != end - nl2 - 2);
    json_decref(item);

    payload = json_loadb(nl2 + 1, (size_t) length, JSON_ALLOW_NUL, NULL);
    AUDIT_FUZZ_TRAP(!json_is_object(payload));

    return payload;
}


static void
audit_fuzz_envelope(const audit_event_t *ev, const audit_sentry_dsn_t *dsn,
    int parsed, const char *dsn_text, const audit_sentry_opts_t *opts,
    int flags, size_t small_size, unsigned long long now)
{
    int                  fplen;
    long                 n, m;
    char                *out, *small, fp[AUDIT_SENTRY_FINGERPRINT_MAX];
    json_t              *head, *payload, *tags, *x;
    const char          *id;
    audit_sentry_dsn_t   again;

    fplen = audit_sentry_fingerprint(ev, fp, sizeof(fp));

    /* exactly AUDIT_SENTRY_ENVELOPE_MAX, so that ASan sees an overflow */
    out = malloc(AUDIT_SENTRY_ENVELOPE_MAX);
    if (out == NULL) {
        return;
    }

    n = audit_sentry_envelope(ev, parsed ? dsn : NULL, dsn_text, opts,
                              (flags & 2) ? scrub : NULL, now, out,
                              AUDIT_SENTRY_ENVELOPE_MAX);

    if (fplen < 0 || audit_severity_name(ev->severity) == NULL) {
        AUDIT_FUZZ_TRAP(n != -1);
        free(out);
        return;
    }

    AUDIT_FUZZ_TRAP(fplen >= AUDIT_SENTRY_FINGERPRINT_MAX);

    payload = audit_fuzz_split(out, n, "event", &head);

    id = json_string_value(json_object_get(head, "event_id"));
    AUDIT_FUZZ_TRAP(id == NULL || strlen(id) != 32
                    || strspn(id, "0123456789abcdef") != 32
                    || strcmp(id, json_string_value(json_object_get(payload,
                                                    "event_id"))) != 0);

    /* the rebuilt DSN parses back to the same */
    if (dsn_text == NULL && parsed) {
        x = json_object_get(head, "dsn");
        AUDIT_FUZZ_TRAP(!json_is_string(x));
        AUDIT_FUZZ_TRAP(audit_sentry_dsn_parse(json_string_value(x),
                                               json_string_length(x),
                                               &again, NULL, 0) != 0
                        || memcmp(&again, dsn, sizeof(again)) != 0);
    }

    x = json_array_get(json_object_get(payload, "fingerprint"), 0);
    AUDIT_FUZZ_TRAP(!json_is_string(x)
                    || json_string_length(x) != (size_t) fplen
                    || memcmp(json_string_value(x), fp, fplen) != 0);

    tags = json_object_get(payload, "tags");
    AUDIT_FUZZ_TRAP(!json_is_object(tags));
    audit_fuzz_tag(tags, "ip", ev->ip);
    audit_fuzz_tag(tags, "role", ev->role);
    audit_fuzz_tag(tags, "request_id", ev->request_id);
    audit_fuzz_tag(tags, "reason", ev->reason);
    x = json_object_get(tags, "route");
    AUDIT_FUZZ_TRAP(x != NULL && audit_fuzz_chars(x) > 200);

    x = json_array_get(json_object_get(json_object_get(payload, "exception"),
                                       "values"), 0);
    AUDIT_FUZZ_TRAP(audit_fuzz_chars(json_object_get(x, "value")) > 8192);

    if (opts == NULL || !opts->send_pii) {
        x = json_object_get(payload, "user");
        AUDIT_FUZZ_TRAP(x != NULL && json_object_get(x, "username") != NULL);
        x = json_object_get(payload, "extra");
        AUDIT_FUZZ_TRAP(x != NULL
                        && json_object_get(x, "resource_id") != NULL);
    }

    json_decref(head);
    json_decref(payload);

    if (flags & 4) {
        small = malloc(small_size ? small_size : 1);

        if (small != NULL) {
            m = audit_sentry_envelope(ev, parsed ? dsn : NULL, dsn_text,
                                      opts, (flags & 2) ? scrub : NULL, now,
                                      small, small_size);

            AUDIT_FUZZ_TRAP(small_size > (size_t) n
                            ? (m != n || memcmp(small, out, n + 1) != 0)
                            : m != -1);
            free(small);
        }
    }

    free(out);
}


/* The tag, when there, is a prefix of v made valid UTF-8, <= 200 chars. */

static void
audit_fuzz_tag(json_t *tags, const char *key, audit_str_t v)
{
    size_t       n, len;
    json_t      *s;

    s = json_object_get(tags, key);

    if (v.data == NULL || v.len == 0) {
        AUDIT_FUZZ_TRAP(s != NULL);
        return;
    }

    AUDIT_FUZZ_TRAP(!json_is_string(s));

    len = json_string_length(s);
    n = audit_utf8_sanitize(v.data, v.len, sanitized, sizeof(sanitized));

    AUDIT_FUZZ_TRAP(len > n
                    || memcmp(json_string_value(s), sanitized, len) != 0
                    || (len < n && audit_fuzz_chars(s) != 200)
                    || audit_fuzz_chars(s) > 200);
}


static void
audit_fuzz_report(unsigned long long now, const char *dsn_text)
{
    long                     n;
    char                    *out;
    json_t                  *head, *payload, *de;
    audit_sentry_discards_t  d;

    d.ratelimit_backoff = now & 0xff;
    d.queue_overflow = (now >> 8) & 0xff;
    d.network_error = (now >> 16) & 0xff;
    d.send_error = now >> 24;

    out = malloc(AUDIT_SENTRY_REPORT_MAX);
    if (out == NULL) {
        return;
    }

    n = audit_sentry_client_report(&d, dsn_text, now, out,
                                   AUDIT_SENTRY_REPORT_MAX);

    if (n == 0) {
        AUDIT_FUZZ_TRAP((d.ratelimit_backoff | d.queue_overflow
                         | d.network_error | d.send_error) != 0);
        free(out);
        return;
    }

    payload = audit_fuzz_split(out, n, "client_report", &head);
    de = json_object_get(payload, "discarded_events");
    AUDIT_FUZZ_TRAP(json_array_size(de)
                    != (size_t) ((d.ratelimit_backoff != 0)
                                 + (d.queue_overflow != 0)
                                 + (d.network_error != 0)
                                 + (d.send_error != 0)));

    json_decref(head);
    json_decref(payload);
    free(out);
}


static size_t
audit_fuzz_chars(json_t *s)
{
    size_t       n, i, len;
    const char  *p;

    p = json_string_value(s);
    len = json_string_length(s);

    for (n = 0, i = 0; p != NULL && i < len; i++) {
        n += ((unsigned char) p[i] & 0xc0) != 0x80;
    }

    return n;
}
