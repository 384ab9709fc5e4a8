
/*
 * Sentry envelopes: the event item of an audit event or of a fault, and
 * the envelope header and item framing the client report shares (see
 * audit_sentry.h).  Writes only into the caller's buffer.
 */


#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "audit_int.h"
#include "audit_json_int.h"
#include "audit_sentry.h"
#include "audit_sentry_int.h"


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


#define AUDIT_SENTRY_MEMBER(o, first, key, v, max)                          \
    audit_json_member(o, first, key, (v).data, (v).len, max)

#define AUDIT_SENTRY_HAS(v)  ((v).data != NULL && (v).len != 0)


static int audit_sentry_reportable(const audit_event_t *ev);
static int audit_sentry_is(audit_str_t v, const char *s);
static void audit_sentry_payload(audit_json_t *o,
    const audit_event_t *ev, const char *hex, const char *fp, size_t fplen,
    const audit_sentry_opts_t *opts, const audit_scrub_t *scrub,
    const audit_sentry_fault_t *fault);
static void audit_sentry_title(audit_json_t *o, audit_json_str_t *js,
    const audit_event_t *ev, const audit_sentry_fault_t *fault);
static long audit_sentry_event_envelope(const audit_event_t *ev,
    const audit_sentry_fault_t *fault, const char *fp, size_t fplen,
    const audit_sentry_dsn_t *dsn, const char *dsn_text,
    const audit_sentry_opts_t *opts, const audit_scrub_t *scrub,
    unsigned long long now_ms, char *buf, size_t size);


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


/* the envelope header line; no event_id when hex is NULL */

void
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

long
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
