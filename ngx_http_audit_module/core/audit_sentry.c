/*
 * Sentry protocol: DSN, auth header, envelopes, client reports, rate
 * limits (see audit_sentry.h).
 */

/* inet_pton() */
#define _POSIX_C_SOURCE  200112L

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "audit_json.h"
#include "audit_sentry.h"


/* per-field caps, in characters (audit_sentry.h) */
#define AUDIT_SENTRY_MESSAGE_CAP   8192     /* Relay's message limit */
#define AUDIT_SENTRY_RULE_CAP      256
#define AUDIT_SENTRY_REASON_CAP    1024
#define AUDIT_SENTRY_TAG_CAP       200      /* Relay's tag value limit */
#define AUDIT_SENTRY_USER_CAP      128
#define AUDIT_SENTRY_IP_CAP        64
#define AUDIT_SENTRY_METHOD_CAP    32
#define AUDIT_SENTRY_URL_CAP       2048
#define AUDIT_SENTRY_ENV_CAP       64       /* Relay's environment limit */
#define AUDIT_SENTRY_NAME_CAP      200
#define AUDIT_SENTRY_TYPE_CAP      128
#define AUDIT_SENTRY_ID_CAP        1024

/* 9999-12-31T23:59:59.999Z: RFC 3339 has four-digit years */
#define AUDIT_SENTRY_TS_MAX        253402300799999ULL

/* a retry_after beyond this many seconds (317 years) is taken as this */
#define AUDIT_SENTRY_RETRY_MAX     10000000000ULL

/* Relay reads a quantity as a u32 and refuses the report otherwise */
#define AUDIT_SENTRY_QUANTITY_MAX  4294967295ULL

/* a 429 without anything better: 60 s (the protocol's default) */
#define AUDIT_SENTRY_RETRY_DEFAULT 60000ULL


static int audit_sentry_dsn_fail(audit_sentry_dsn_t *out, char *err,
    size_t errlen, const char *reason);
static int audit_sentry_scheme(const char *p, size_t len,
    const char *scheme);
static int audit_sentry_unreserved(const char *p, size_t len);
static size_t audit_sentry_span(const char *p, size_t len, const char *set);
static int audit_sentry_host(const char *p, size_t len);
static int audit_sentry_path(const char *p, size_t len);
static int audit_sentry_reportable(const audit_event_t *ev);
static int audit_sentry_is(audit_str_t v, const char *s);
static void audit_sentry_head(audit_json_t *o, const char *hex,
    const audit_sentry_dsn_t *dsn, const char *dsn_text,
    unsigned long long now_ms);
static void audit_sentry_payload(audit_json_t *o,
    const audit_event_t *ev, const char *hex, const char *fp, size_t fplen,
    const audit_sentry_opts_t *opts, const audit_scrub_t *scrub,
    const audit_sentry_fault_t *fault);
static void audit_sentry_title(audit_json_t *o, audit_json_str_t *js,
    const audit_event_t *ev, const audit_sentry_fault_t *fault);
static long audit_sentry_item(audit_json_t *o, size_t head,
    const char *type);
static long audit_sentry_event_envelope(const audit_event_t *ev,
    const audit_sentry_fault_t *fault, const char *fp, size_t fplen,
    const audit_sentry_dsn_t *dsn, const char *dsn_text,
    const audit_sentry_opts_t *opts, const audit_scrub_t *scrub,
    unsigned long long now_ms, char *buf, size_t size);
static int audit_sentry_limit(const char *p, size_t len,
    unsigned long long *ms, int *events, int *reports);
static int audit_sentry_seconds(const char *p, size_t len,
    unsigned long long *ms);
static size_t audit_sentry_token(const char *p, size_t len, char *out,
    size_t size);
static void audit_sentry_later(unsigned long long *until,
    unsigned long long now_ms, unsigned long long ms);


#define AUDIT_SENTRY_MEMBER(o, first, key, v, max)                          \
    audit_json_member(o, first, key, (v).data, (v).len, max)

#define AUDIT_SENTRY_HAS(v)  ((v).data != NULL && (v).len != 0)


static const char  *audit_sentry_discard_reasons[] = {
    "ratelimit_backoff",
    "queue_overflow",
    "network_error",
    "send_error"
};


int
audit_sentry_dsn_parse(const char *dsn, size_t len, audit_sentry_dsn_t *out,
    char *err, size_t errlen)
{
    size_t            n, digits, port_len;
    unsigned          port_value;
    const char       *p, *end, *at, *colon, *slash, *last, *host, *host_end;
    const char       *port;
    char              addr[64];
    struct in6_addr   a6;

    if (out == NULL) {
        if (err != NULL && errlen != 0) {
            snprintf(err, errlen, "no output");
        }

        return -1;
    }

    memset(out, 0, sizeof(audit_sentry_dsn_t));

    if (dsn == NULL || len == 0) {
        return audit_sentry_dsn_fail(out, err, errlen, "empty DSN");
    }

    if (len > AUDIT_SENTRY_DSN_MAX) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "DSN longer than 1024 bytes");
    }

    p = dsn;
    end = dsn + len;

    if (audit_sentry_scheme(p, len, "https://")) {
        out->https = 1;
        p += 8;

    } else if (audit_sentry_scheme(p, len, "http://")) {
        p += 7;

    } else {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "scheme is not http or https");
    }

    /* the authority ends at the first "/" */

    slash = memchr(p, '/', end - p);
    if (slash == NULL) {
        slash = end;
    }

    at = memchr(p, '@', slash - p);
    if (at == NULL || at == p || *p == ':') {
        return audit_sentry_dsn_fail(out, err, errlen, "no public key");
    }

    colon = memchr(p, ':', at - p);
    n = (colon ? colon : at) - p;

    if (n >= sizeof(out->public_key)) {
        return audit_sentry_dsn_fail(out, err, errlen, "public key too long");
    }

    if (!audit_sentry_unreserved(p, n)) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "invalid character in the public key");
    }

    memcpy(out->public_key, p, n);

    /* the secret key is deprecated: checked, then ignored */

    if (colon && !audit_sentry_unreserved(colon + 1, at - colon - 1)) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "invalid character in the secret key");
    }

    host = at + 1;
    port = NULL;

    if (host < slash && *host == '[') {
        host_end = memchr(host, ']', slash - host);
        if (host_end == NULL) {
            return audit_sentry_dsn_fail(out, err, errlen,
                                         "no \"]\" after the IPv6 address");
        }

        n = host_end - host - 1;

        /* inet_pton() would stop at a NUL */

        if (n == 0 || n >= sizeof(addr)
            || audit_sentry_span(host + 1, n, "0123456789abcdefABCDEF:.")
               != n)
        {
            return audit_sentry_dsn_fail(out, err, errlen,
                                         "invalid IPv6 address");
        }

        memcpy(addr, host + 1, n);
        addr[n] = '\0';

        if (inet_pton(AF_INET6, addr, &a6) != 1) {
            return audit_sentry_dsn_fail(out, err, errlen,
                                         "invalid IPv6 address");
        }

        memcpy(out->host, addr, n + 1);

        if (host_end + 1 < slash) {
            if (host_end[1] != ':') {
                return audit_sentry_dsn_fail(out, err, errlen,
                                             "garbage after the IPv6 "
                                             "address");
            }

            port = host_end + 2;
        }

    } else {
        host_end = memchr(host, ':', slash - host);
        if (host_end == NULL) {
            host_end = slash;

        } else {
            port = host_end + 1;
        }

        n = host_end - host;

        if (n == 0) {
            return audit_sentry_dsn_fail(out, err, errlen, "empty host");
        }

        if (n >= sizeof(out->host)) {
            return audit_sentry_dsn_fail(out, err, errlen, "host too long");
        }

        if (!audit_sentry_host(host, n)) {
            return audit_sentry_dsn_fail(out, err, errlen,
                                         "invalid character in the host");
        }

        memcpy(out->host, host, n);
    }

    if (port) {
        port_len = slash - port;
        port_value = 0;

        for (n = 0; n < port_len && n < 6; n++) {
            if (port[n] < '0' || port[n] > '9') {
                break;
            }

            port_value = port_value * 10 + (port[n] - '0');
        }

        if (port_len == 0 || n != port_len || port_value == 0
            || port_value > 65535)
        {
            return audit_sentry_dsn_fail(out, err, errlen, "invalid port");
        }

        out->port = (int) port_value;

    } else {
        out->port = out->https ? 443 : 80;
    }

    /* [/PATH]/PROJECT_ID: the project is the last segment */

    if (slash == end) {
        return audit_sentry_dsn_fail(out, err, errlen, "no project id");
    }

    for (last = end - 1; *last != '/'; last--) {
        /* void */
    }

    p = last + 1;
    n = end - p;

    for (digits = 0; digits < n && p[digits] >= '0' && p[digits] <= '9';
         digits++)
    {
        /* void */
    }

    if (n == 0) {
        return audit_sentry_dsn_fail(out, err, errlen, "no project id");
    }

    if (digits == 0) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "project id is not numeric");
    }

    if (digits != n) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "garbage after the project id");
    }

    if (n >= sizeof(out->project_id)) {
        return audit_sentry_dsn_fail(out, err, errlen,
                                     "project id too long");
    }

    memcpy(out->project_id, p, n);

    n = last - slash;

    if (n >= sizeof(out->path_prefix)) {
        return audit_sentry_dsn_fail(out, err, errlen, "path too long");
    }

    if (n && !audit_sentry_path(slash, n)) {
        return audit_sentry_dsn_fail(out, err, errlen, "invalid path");
    }

    memcpy(out->path_prefix, slash, n);

    snprintf(out->envelope_path, sizeof(out->envelope_path),
             "%s/api/%s/envelope/", out->path_prefix, out->project_id);

    if (err != NULL && errlen != 0) {
        err[0] = '\0';
    }

    return 0;
}


static int
audit_sentry_dsn_fail(audit_sentry_dsn_t *out, char *err, size_t errlen,
    const char *reason)
{
    memset(out, 0, sizeof(audit_sentry_dsn_t));

    if (err != NULL && errlen != 0) {
        snprintf(err, errlen, "%s", reason);
    }

    return -1;
}


/* p starts with scheme, "http://" or "https://", ignoring case */

static int
audit_sentry_scheme(const char *p, size_t len, const char *scheme)
{
    size_t  i, n;

    n = strlen(scheme);

    if (len < n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (p[i] != scheme[i]
            && !(scheme[i] >= 'a' && scheme[i] <= 'z'
                 && p[i] == scheme[i] - 'a' + 'A'))
        {
            return 0;
        }
    }

    return 1;
}


/* RFC 3986 unreserved: ALPHA DIGIT "-" "." "_" "~" */

static int
audit_sentry_unreserved(const char *p, size_t len)
{
    size_t  i;
    char    c;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
              || c == '~'))
        {
            return 0;
        }
    }

    return 1;
}


/* how many bytes of p[0..len) from the start are in set (not NUL) */

static size_t
audit_sentry_span(const char *p, size_t len, const char *set)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] == '\0' || strchr(set, p[i]) == NULL) {
            break;
        }
    }

    return i;
}


/* a host name or an IPv4 address: letters, digits, "-", "_", "." */

static int
audit_sentry_host(const char *p, size_t len)
{
    size_t  i;
    char    c;

    if (p[0] == '.' || p[0] == '-') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.'
              || c == '_'))
        {
            return 0;
        }

        if (c == '.' && i + 1 < len && p[i + 1] == '.') {
            return 0;
        }
    }

    return 1;
}


/*
 * "/seg/seg": RFC 3986 pchars in segments that are neither empty nor "."
 * or ".." -- what goes on the request line as it is.
 */

static int
audit_sentry_path(const char *p, size_t len)
{
    size_t  i, seg;
    char    c;

    seg = 0;

    for (i = 0; i <= len; i++) {
        c = (i < len) ? p[i] : '/';

        if (c == '/') {
            if (i > 0
                && (i - seg == 1
                    || (i - seg == 2 && p[seg + 1] == '.')
                    || (i - seg == 3 && p[seg + 1] == '.'
                        && p[seg + 2] == '.')))
            {
                return 0;
            }

            seg = i;
            continue;
        }

        if (c == '%') {
            if (i + 2 >= len
                || audit_sentry_span(p + i + 1, 2, "0123456789abcdefABCDEF")
                   != 2)
            {
                return 0;
            }

            i += 2;
            continue;
        }

        if (c == '\0'
            || (!audit_sentry_unreserved(&c, 1)
                && strchr("!$&'()*+,;=:@", c) == NULL))
        {
            return 0;
        }
    }

    return 1;
}


int
audit_sentry_fingerprint(const audit_event_t *ev, char *buf, size_t size)
{
    int          plain, full;
    size_t       n, chars;
    audit_str_t  v;
    const char  *prefix;
    char         fp[AUDIT_SENTRY_FINGERPRINT_MAX];

    if (buf != NULL && size != 0) {
        buf[0] = '\0';
    }

    if (ev == NULL || !audit_sentry_reportable(ev)) {
        return -1;
    }

    v.data = NULL;
    v.len = 0;

    switch (ev->action) {

    case AUDIT_LOGIN_FAILURE:
        prefix = "login_failure";
        break;

    case AUDIT_SESSION_INVALID:
        prefix = "session_invalid";
        v = ev->reason;
        break;

    case AUDIT_AUTHZ_CHECK:
        prefix = "authz_denied";
        v = ev->rule;
        break;

    case AUDIT_REQUEST_REJECTED:
        prefix = "request_rejected";
        v = ev->reason;
        break;

    default:
        prefix = "bruteforce_suspected";
        break;
    }

    n = strlen(prefix);
    memcpy(fp, prefix, n);

    if (AUDIT_SENTRY_HAS(v)) {
        fp[n++] = ':';
        n += audit_json_utf8(fp + n, sizeof(fp) - 1 - n, v.data, v.len,
                               (size_t) -1, &chars, &plain, &full);
    }

    fp[n] = '\0';

    if (buf == NULL || n >= size) {
        return -1;
    }

    memcpy(buf, fp, n + 1);

    return (int) n;
}


static int
audit_sentry_reportable(const audit_event_t *ev)
{
    switch (ev->action) {

    case AUDIT_LOGIN_FAILURE:
    case AUDIT_SESSION_INVALID:
    case AUDIT_BRUTEFORCE_SUSPECTED:
    case AUDIT_REQUEST_REJECTED:
        return 1;

    case AUDIT_AUTHZ_CHECK:
        return audit_sentry_is(ev->decision, "denied");

    default:
        return 0;
    }
}


static int
audit_sentry_is(audit_str_t v, const char *s)
{
    size_t  len;

    len = strlen(s);

    return v.data != NULL && v.len == len && memcmp(v.data, s, len) == 0;
}


long
audit_sentry_envelope(const audit_event_t *ev, const audit_sentry_dsn_t *dsn,
    const char *dsn_text, const audit_sentry_opts_t *opts,
    const audit_scrub_t *scrub, unsigned long long now_ms, char *buf,
    size_t size)
{
    int   fplen;
    char  fp[AUDIT_SENTRY_FINGERPRINT_MAX];

    if (ev == NULL || buf == NULL || size == 0
        || audit_action_name(ev->action) == NULL
        || audit_severity_name(ev->severity) == NULL)
    {
        return -1;
    }

    fplen = audit_sentry_fingerprint(ev, fp, sizeof(fp));
    if (fplen < 0) {
        return -1;
    }

    return audit_sentry_event_envelope(ev, NULL, fp, (size_t) fplen, dsn,
                                       dsn_text, opts, scrub, now_ms, buf,
                                       size);
}


/* the envelope of one event item, for an audit event or a fault */

static long
audit_sentry_event_envelope(const audit_event_t *ev,
    const audit_sentry_fault_t *fault, const char *fp, size_t fplen,
    const audit_sentry_dsn_t *dsn, const char *dsn_text,
    const audit_sentry_opts_t *opts, const audit_scrub_t *scrub,
    unsigned long long now_ms, char *buf, size_t size)
{
    size_t               head;
    char                 hex[33];
    audit_json_t         o;
    audit_sentry_opts_t  none;

    if (opts == NULL) {
        memset(&none, 0, sizeof(audit_sentry_opts_t));
        opts = &none;
    }

    audit_json_init(&o, buf, size - 1);

    audit_hex(ev->id, sizeof(ev->id), hex);

    audit_sentry_head(&o, hex, dsn, dsn_text, now_ms);
    head = o.n;

    audit_sentry_payload(&o, ev, hex, fp, fplen, opts, scrub, fault);

    return audit_sentry_item(&o, head, "event");
}


long
audit_sentry_envelope_fault(const audit_event_t *ev,
    const audit_sentry_fault_t *fault, const audit_sentry_dsn_t *dsn,
    const char *dsn_text, const audit_sentry_opts_t *opts,
    const audit_scrub_t *scrub, unsigned long long now_ms, char *buf,
    size_t size)
{
    int                  plain, full;
    size_t               n, k, chars;
    char                 fp[AUDIT_SENTRY_FINGERPRINT_MAX];

    if (ev == NULL || fault == NULL || fault->kind == NULL
        || fault->title == NULL || buf == NULL || size == 0
        || audit_severity_name(ev->severity) == NULL)
    {
        return -1;
    }

    /* "upstream_error:502", "module_fault:pg_down" */

    n = strlen(fault->kind);
    if (n + 2 >= sizeof(fp)) {
        return -1;
    }

    memcpy(fp, fault->kind, n);

    if (fault->detail && fault->detail[0]) {
        fp[n++] = ':';
        k = audit_json_utf8(fp + n, sizeof(fp) - 1 - n, fault->detail,
                              strlen(fault->detail), (size_t) -1, &chars,
                              &plain, &full);
        n += k;
    }

    fp[n] = '\0';

    return audit_sentry_event_envelope(ev, fault, fp, n, dsn, dsn_text, opts,
                                       scrub, now_ms, buf, size);
}


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
audit_sentry_auth_header(const audit_sentry_dsn_t *dsn, const char *version,
    char *buf, size_t size)
{
    int          n;
    size_t       i, len;
    const char  *key;

    if (buf != NULL && size != 0) {
        buf[0] = '\0';
    }

    if (dsn == NULL || buf == NULL || size == 0) {
        return -1;
    }

    key = dsn->public_key;
    len = sizeof(dsn->public_key);

    if (memchr(key, '\0', len) != NULL) {
        len = strlen(key);
    }

    if (len == 0 || len >= sizeof(dsn->public_key)
        || !audit_sentry_unreserved(key, len))
    {
        return -1;
    }

    if (version == NULL) {
        version = AUDIT_SENTRY_VERSION;
    }

    if (version[0] == '\0') {
        return -1;
    }

    for (i = 0; version[i] != '\0'; i++) {
        if (version[i] <= ' ' || version[i] > '~' || version[i] == ',') {
            return -1;
        }
    }

    n = snprintf(buf, size,
                 "Sentry sentry_version=7, sentry_key=%s, "
                 "sentry_client=" AUDIT_SENTRY_SDK_NAME "/%s", key, version);

    if (n < 0 || (size_t) n >= size) {
        buf[0] = '\0';
        return -1;
    }

    return n;
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


/* the envelope header line; no event_id when hex is NULL */

static void
audit_sentry_head(audit_json_t *o, const char *hex,
    const audit_sentry_dsn_t *dsn, const char *dsn_text,
    unsigned long long now_ms)
{
    int     n, bracket;
    size_t  len;
    char    ts[25], port[8], text[AUDIT_SENTRY_DSN_MAX + 1];

    AUDIT_JSON_LIT(o, "{");

    if (hex != NULL) {
        AUDIT_JSON_LIT(o, "\"event_id\":\"");
        audit_json_raw(o, hex, 32);
        AUDIT_JSON_LIT(o, "\",");
    }

    audit_rfc3339_ms(now_ms, ts);

    AUDIT_JSON_LIT(o, "\"sent_at\":\"");
    audit_json_raw(o, ts, 24);
    AUDIT_JSON_LIT(o, "\"");

    if (dsn_text != NULL) {
        for (len = 0; len <= AUDIT_SENTRY_DSN_MAX && dsn_text[len]; len++) {
            /* void */
        }

        /* cut, it would no longer match the auth header: left out */

        if (len != 0 && len <= AUDIT_SENTRY_DSN_MAX) {
            AUDIT_JSON_LIT(o, ",\"dsn\":");
            audit_json_string(o, dsn_text, len, AUDIT_SENTRY_DSN_MAX);
        }

    } else if (dsn != NULL && dsn->public_key[0] && dsn->host[0]
               && dsn->project_id[0])
    {
        bracket = (strchr(dsn->host, ':') != NULL);
        port[0] = '\0';

        if (dsn->port != (dsn->https ? 443 : 80)) {
            snprintf(port, sizeof(port), ":%d", dsn->port & 0xffff);
        }

        n = snprintf(text, sizeof(text), "%s://%s@%s%s%s%s%s/%s",
                     dsn->https ? "https" : "http", dsn->public_key,
                     bracket ? "[" : "", dsn->host, bracket ? "]" : "",
                     port, dsn->path_prefix, dsn->project_id);

        if (n > 0 && (size_t) n < sizeof(text)) {
            AUDIT_JSON_LIT(o, ",\"dsn\":");
            audit_json_string(o, text, (size_t) n, AUDIT_SENTRY_DSN_MAX);
        }
    }

    AUDIT_JSON_LIT(o, ",\"sdk\":{\"name\":\"" AUDIT_SENTRY_SDK_NAME
                     "\",\"version\":");
    audit_json_string(o, AUDIT_SENTRY_VERSION,
                        sizeof(AUDIT_SENTRY_VERSION) - 1, 64);
    AUDIT_JSON_LIT(o, "}}\n");
}


static void
audit_sentry_payload(audit_json_t *o, const audit_event_t *ev,
    const char *hex, const char *fp, size_t fplen,
    const audit_sentry_opts_t *opts, const audit_scrub_t *scrub,
    const audit_sentry_fault_t *fault)
{
    int                   first, pii;
    size_t                url_len, path_len;
    const char           *level, *action, *q;
    char                  ts[25], url[AUDIT_SENTRY_URL_CAP + 1];
    audit_json_str_t   js;

    pii = opts->send_pii;
    action = fault ? fault->kind : audit_action_name(ev->action);

    switch (ev->severity) {

    case AUDIT_SEV_WARNING:
        level = "warning";
        break;

    case AUDIT_SEV_CRITICAL:
        level = "fatal";
        break;

    default:
        level = "error";
        break;
    }

    audit_rfc3339_ms(ev->ts_ms, ts);

    AUDIT_JSON_LIT(o, "{\"event_id\":\"");
    audit_json_raw(o, hex, 32);
    AUDIT_JSON_LIT(o, "\",\"timestamp\":\"");
    audit_json_raw(o, ts, 24);
    AUDIT_JSON_LIT(o, "\",\"level\":\"");
    audit_json_raw(o, level, strlen(level));
    AUDIT_JSON_LIT(o, "\",\"logger\":\"" AUDIT_SENTRY_SDK_NAME
                     "\",\"platform\":\"c\"");

    /* message and exception: what the issue is called */

    AUDIT_JSON_LIT(o, ",\"message\":{\"formatted\":");
    audit_json_begin(o, &js, AUDIT_SENTRY_MESSAGE_CAP);
    audit_sentry_title(o, &js, ev, fault);
    audit_json_end(o, &js);

    AUDIT_JSON_LIT(o, "},\"exception\":{\"values\":[{\"type\":\"");
    audit_json_raw(o, action, strlen(action));
    AUDIT_JSON_LIT(o, "\",\"value\":");
    audit_json_begin(o, &js, AUDIT_SENTRY_MESSAGE_CAP);
    audit_sentry_title(o, &js, ev, fault);

    if (AUDIT_SENTRY_HAS(ev->reason)) {
        audit_json_part(o, &js, " (", 2, 2);
        audit_json_part(o, &js, ev->reason.data, ev->reason.len,
                          AUDIT_SENTRY_REASON_CAP);
        audit_json_part(o, &js, ")", 1, 1);
    }

    audit_json_end(o, &js);

    AUDIT_JSON_LIT(o, "}]},\"fingerprint\":[");
    audit_json_string(o, fp, fplen, AUDIT_SENTRY_FINGERPRINT_MAX);
    AUDIT_JSON_LIT(o, "]");

    /* the scrubbed uri: request.url, and its path the route tag */

    url_len = 0;
    path_len = 0;

    if (AUDIT_SENTRY_HAS(ev->uri)) {
        url_len = audit_scrub_uri(scrub, ev->uri.data, ev->uri.len, url,
                                  sizeof(url));
        q = memchr(url, '?', url_len);
        path_len = q ? (size_t) (q - url) : url_len;
    }

    AUDIT_JSON_LIT(o, ",\"tags\":{");
    first = 1;
    AUDIT_SENTRY_MEMBER(o, &first, "ip", ev->ip, AUDIT_SENTRY_TAG_CAP);
    audit_json_member(o, &first, "route", url, path_len,
                        AUDIT_SENTRY_TAG_CAP);
    AUDIT_SENTRY_MEMBER(o, &first, "role", ev->role, AUDIT_SENTRY_TAG_CAP);
    AUDIT_SENTRY_MEMBER(o, &first, "request_id", ev->request_id,
                        AUDIT_SENTRY_TAG_CAP);
    AUDIT_SENTRY_MEMBER(o, &first, "reason", ev->reason,
                        AUDIT_SENTRY_TAG_CAP);
    audit_json_member(o, &first, "action", action, strlen(action),
                        AUDIT_SENTRY_TAG_CAP);
    AUDIT_JSON_LIT(o, "}");

    if (AUDIT_SENTRY_HAS(ev->user_id) || AUDIT_SENTRY_HAS(ev->ip)
        || (pii && AUDIT_SENTRY_HAS(ev->attempted_user)))
    {
        AUDIT_JSON_LIT(o, ",\"user\":{");
        first = 1;
        AUDIT_SENTRY_MEMBER(o, &first, "id", ev->user_id,
                            AUDIT_SENTRY_USER_CAP);

        if (pii) {
            AUDIT_SENTRY_MEMBER(o, &first, "username", ev->attempted_user,
                                AUDIT_SENTRY_USER_CAP);
        }

        AUDIT_SENTRY_MEMBER(o, &first, "ip_address", ev->ip,
                            AUDIT_SENTRY_IP_CAP);
        AUDIT_JSON_LIT(o, "}");
    }

    if (AUDIT_SENTRY_HAS(ev->method) || url_len != 0
        || AUDIT_SENTRY_HAS(ev->ip))
    {
        AUDIT_JSON_LIT(o, ",\"request\":{");
        first = 1;
        AUDIT_SENTRY_MEMBER(o, &first, "method", ev->method,
                            AUDIT_SENTRY_METHOD_CAP);
        audit_json_member(o, &first, "url", url, url_len,
                            AUDIT_SENTRY_URL_CAP);

        if (AUDIT_SENTRY_HAS(ev->ip)) {
            audit_json_key(o, &first, "env");
            AUDIT_JSON_LIT(o, "{\"REMOTE_ADDR\":");
            audit_json_string(o, ev->ip.data, ev->ip.len,
                                AUDIT_SENTRY_IP_CAP);
            AUDIT_JSON_LIT(o, "}");
        }

        AUDIT_JSON_LIT(o, "}");
    }

    if (ev->count != 0 || ev->window != 0
        || AUDIT_SENTRY_HAS(ev->resource_type)
        || (pii && AUDIT_SENTRY_HAS(ev->resource_id)))
    {
        AUDIT_JSON_LIT(o, ",\"extra\":{");
        first = 1;

        if (ev->count != 0) {
            audit_json_key(o, &first, "count");
            audit_json_int(o, ev->count);
        }

        if (ev->window != 0) {
            audit_json_key(o, &first, "window");
            audit_json_int(o, ev->window);
        }

        AUDIT_SENTRY_MEMBER(o, &first, "resource_type", ev->resource_type,
                            AUDIT_SENTRY_TYPE_CAP);

        if (pii) {
            AUDIT_SENTRY_MEMBER(o, &first, "resource_id", ev->resource_id,
                                AUDIT_SENTRY_ID_CAP);
        }

        AUDIT_JSON_LIT(o, "}");
    }

    first = 0;

    if (opts->environment != NULL) {
        audit_json_member(o, &first, "environment", opts->environment,
                            strlen(opts->environment), AUDIT_SENTRY_ENV_CAP);
    }

    if (opts->release != NULL) {
        audit_json_member(o, &first, "release", opts->release,
                            strlen(opts->release), AUDIT_SENTRY_NAME_CAP);
    }

    if (opts->server_name != NULL) {
        audit_json_member(o, &first, "server_name", opts->server_name,
                            strlen(opts->server_name),
                            AUDIT_SENTRY_NAME_CAP);
    }

    AUDIT_JSON_LIT(o, "}");
}


/* "Failed login", "Expired session", "Authorization denied: RULE", ... */

static void
audit_sentry_title(audit_json_t *o, audit_json_str_t *js,
    const audit_event_t *ev, const audit_sentry_fault_t *fault)
{
    const char  *title;

    if (fault) {
        audit_json_part(o, js, fault->title, strlen(fault->title),
                          (size_t) -1);
        return;
    }

    switch (ev->action) {

    case AUDIT_LOGIN_FAILURE:
        title = "Failed login";
        break;

    case AUDIT_SESSION_INVALID:
        if (audit_sentry_is(ev->reason, "expired")) {
            title = "Expired session";

        } else if (audit_sentry_is(ev->reason, "revoked")) {
            title = "Revoked session";

        } else if (audit_sentry_is(ev->reason, "missing")) {
            title = "Missing session";

        } else {
            title = "Invalid session";
        }

        break;

    case AUDIT_AUTHZ_CHECK:
        title = "Authorization denied";
        break;

    case AUDIT_REQUEST_REJECTED:
        title = "Rejected request";
        break;

    default:
        title = "Brute force suspected";
        break;
    }

    audit_json_part(o, js, title, strlen(title), (size_t) -1);

    if (ev->action == AUDIT_AUTHZ_CHECK && AUDIT_SENTRY_HAS(ev->rule)) {
        audit_json_part(o, js, ": ", 2, 2);
        audit_json_part(o, js, ev->rule.data, ev->rule.len,
                          AUDIT_SENTRY_RULE_CAP);
    }

    if (ev->action == AUDIT_REQUEST_REJECTED && AUDIT_SENTRY_HAS(ev->reason))
    {
        audit_json_part(o, js, ": ", 2, 2);
        audit_json_part(o, js, ev->reason.data, ev->reason.len,
                          AUDIT_SENTRY_RULE_CAP);
    }
}


/*
 * The payload was written right after the envelope header at head: moves
 * it up to make room for the item header, which only now knows its
 * length, and ends the envelope with "\n" and a NUL.
 */

static long
audit_sentry_item(audit_json_t *o, size_t head, const char *type)
{
    int     n;
    size_t  len;
    char    item[80];

    if (o->error) {
        return -1;
    }

    len = o->n - head;

    n = snprintf(item, sizeof(item), "{\"type\":\"%s\",\"length\":%lu}\n",
                 type, (unsigned long) len);

    if (n <= 0 || (size_t) n >= sizeof(item)
        || (size_t) n + 1 > o->room - o->n)
    {
        return -1;
    }

    memmove(o->p + head + n, o->p + head, len);
    memcpy(o->p + head, item, n);

    o->n += n;
    o->p[o->n++] = '\n';
    o->p[o->n] = '\0';

    return (long) o->n;
}
