/*
 * Failures worth an issue in Sentry (or GlitchTip), in Sentry's own
 * protocol: the DSN, the X-Sentry-Auth header, one envelope per event, the
 * client report of what was dropped, and the rate limits a response sets
 * (develop.sentry.dev/sdk: "Envelopes", "Event Payloads", "Client
 * Reports", "Rate Limiting").
 *
 * Nothing here does I/O or keeps state: the transport owns the connection,
 * the queue and the rate-limit deadlines, and hands these functions its
 * buffers.  Like the event encoder, every string is made valid UTF-8 and
 * escaped by jansson, so what a client sends cannot break out of its field.
 */

#ifndef AUDIT_SENTRY_H
#define AUDIT_SENTRY_H


#include <stddef.h>

#include "audit_event.h"
#include "audit_scrub.h"


/* sdk.name in envelopes and the name in sentry_client */
#define AUDIT_SENTRY_SDK_NAME        "ngx_http_audit"

/* sdk.version in envelopes; keep in step with NGX_HTTP_AUDIT_VERSION */
#ifndef AUDIT_SENTRY_VERSION
#define AUDIT_SENTRY_VERSION         "0.1.0"
#endif

/* The longest DSN audit_sentry_dsn_parse() accepts. */
#define AUDIT_SENTRY_DSN_MAX         1024

/* A buffer this big always holds a fingerprint and its NUL. */
#define AUDIT_SENTRY_FINGERPRINT_MAX 128

/*
 * A buffer this big always holds an envelope of audit_sentry_envelope()
 * when dsn_text is at most AUDIT_SENTRY_DSN_MAX bytes, and one of
 * audit_sentry_client_report() likewise AUDIT_SENTRY_REPORT_MAX.
 */
#define AUDIT_SENTRY_ENVELOPE_MAX    (64 * 1024)
#define AUDIT_SENTRY_REPORT_MAX      (8 * 1024)


typedef struct {
    int                  https;              /* 1 https, 0 http */
    char                 host[256];          /* name, IPv4, or IPv6
                                                without brackets */
    int                  port;               /* explicit, or 443/80 */
    char                 public_key[128];
    char                 path_prefix[256];   /* "" or "/sub/path" */
    char                 project_id[64];     /* digits */
    char                 envelope_path[512]; /* path_prefix "/api/"
                                                project_id "/envelope/" */
} audit_sentry_dsn_t;


typedef struct {
    const char          *environment;        /* NULL or "": omitted */
    const char          *release;            /* NULL or "": omitted */
    const char          *server_name;        /* NULL or "": omitted */
    int                  send_pii;           /* 0: no attempted user name,
                                                no resource id */
} audit_sentry_opts_t;


/* What the transport dropped since its last client report. */
typedef struct {
    unsigned long long   ratelimit_backoff;
    unsigned long long   queue_overflow;
    unsigned long long   network_error;
    unsigned long long   send_error;
} audit_sentry_discards_t;


/*
 * Parses dsn[0..len) (no NUL needed),
 *
 *     http[s]://PUBLIC_KEY[:SECRET]@HOST[:PORT][/PATH]/PROJECT_ID
 *
 * into out.  The scheme is either case; the key and the ignored secret are
 * URL-unreserved characters (the secret may be empty); HOST is a name
 * (letters, digits, "-", "_", "."), an IPv4 address or a bracketed IPv6
 * address; PORT is 1..65535; PATH has no empty, "." or ".." segment, no
 * query and no fragment; PROJECT_ID is digits, and nothing follows it.
 *
 * Returns 0, or -1 with out zeroed and a reason, NUL-terminated, in err
 * (errlen bytes; err may be NULL).
 */
int audit_sentry_dsn_parse(const char *dsn, size_t len,
    audit_sentry_dsn_t *out, char *err, size_t errlen);

/*
 * The fingerprint that groups ev into an issue, for the events that are
 * failures worth one:
 *
 *     login_failure                 "login_failure"
 *     session_invalid               "session_invalid:REASON"
 *     authz_check, decision denied  "authz_denied:RULE"
 *     bruteforce_suspected          "bruteforce_suspected"
 *
 * (without ":..." when the reason or rule is absent).  REASON and RULE are
 * made valid UTF-8 and cut at a character boundary so that the whole is
 * less than AUDIT_SENTRY_FINGERPRINT_MAX bytes.
 *
 * Writes it and a NUL into buf (size bytes) and returns its length; -1,
 * with buf "" when size allows, when ev is not reportable or buf is too
 * small.
 */
int audit_sentry_fingerprint(const audit_event_t *ev, char *buf, size_t size);

/*
 * Encodes a Sentry envelope with one "event" item for ev into buf (size
 * bytes), NUL-terminated:
 *
 *     {"event_id":ID,"sent_at":NOW,"dsn":DSN,"sdk":{"name":..,"version":..}}
 *     {"type":"event","length":N}
 *     PAYLOAD
 *
 * each line ending in "\n", N the bytes of PAYLOAD without its "\n".  ID is
 * ev->id in 32 lowercase hex digits; NOW is now_ms in RFC 3339; DSN is
 * dsn_text as given, or rebuilt from dsn when dsn_text is NULL, and left
 * out when neither is given or dsn_text is longer than
 * AUDIT_SENTRY_DSN_MAX.
 *
 * PAYLOAD is one line of JSON with, absent values left out:
 *
 *     event_id      ID
 *     timestamp     ev->ts_ms in RFC 3339
 *     level         "warning" for a warning, "fatal" for critical,
 *                   "error" otherwise
 *     logger        "ngx_http_audit"
 *     platform      "c"
 *     message       {"formatted": TITLE}: "Failed login", "Expired
 *                   session" (or "Revoked", "Missing", "Invalid"),
 *                   "Authorization denied: RULE", "Brute force suspected"
 *     exception     {"values":[{"type": action, "value": TITLE (REASON)}]}
 *     fingerprint   [audit_sentry_fingerprint()]
 *     tags          ip, route (the path of the scrubbed uri), role,
 *                   request_id, reason, action
 *     user          id (ev->user_id), ip_address; with send_pii also
 *                   username (ev->attempted_user)
 *     request       method, url (ev->uri through audit_scrub_uri(scrub),
 *                   unscrubbed when scrub is NULL), env {REMOTE_ADDR}
 *     extra         count, window, resource_type; with send_pii also
 *                   resource_id
 *     environment, release, server_name   from opts (NULL: all omitted)
 *
 * With send_pii 0, ev->attempted_user and ev->resource_id appear nowhere.
 *
 * Strings are made valid UTF-8 and cut at a character boundary to the
 * protocol's limits and ours, in characters: message and exception value
 * 8192 (of which RULE 256 and REASON 1024), tag values 200, user.id and
 * username 128, ip 64, method 32, url 2048, environment 64, release and
 * server_name 200, resource_type 128, resource_id 1024.
 *
 * Returns the length without the NUL; -1 when ev is not reportable (see
 * audit_sentry_fingerprint()), its action or severity is out of range,
 * buf is too small, or on OOM.
 */
long audit_sentry_envelope(const audit_event_t *ev,
    const audit_sentry_dsn_t *dsn, const char *dsn_text,
    const audit_sentry_opts_t *opts, const audit_scrub_t *scrub,
    unsigned long long now_ms, char *buf, size_t size);

/*
 * A failure that is not an audit event: an upstream's 5xx, or one of the
 * module's own faults.  Its fingerprint is "KIND:DETAIL" (or "KIND").
 */
typedef struct {
    const char  *kind;      /* "upstream_error", "module_fault" */
    const char  *detail;    /* "502"; "pg_down", "spool_full", ... */
    const char  *title;     /* "Upstream error 502", ... */
} audit_sentry_fault_t;

/*
 * As audit_sentry_envelope(), for a fault: ev gives the context (id, ts,
 * severity, and the request fields when there is a request; its action is
 * not used), fault the fingerprint and the title; exception.type and the
 * action tag are fault->kind.
 */
long audit_sentry_envelope_fault(const audit_event_t *ev,
    const audit_sentry_fault_t *fault, const audit_sentry_dsn_t *dsn,
    const char *dsn_text, const audit_sentry_opts_t *opts,
    const audit_scrub_t *scrub, unsigned long long now_ms, char *buf,
    size_t size);

/*
 * Encodes an envelope with one "client_report" item into buf (size bytes),
 * NUL-terminated: the envelope header as above without event_id, then
 *
 *     {"timestamp":NOW,"discarded_events":[{"reason":R,"category":"error",
 *      "quantity":N},...]}
 *
 * with an entry for each nonzero count, in the order of
 * audit_sentry_discards_t; a count past 2^32 - 1 is sent as that (Relay
 * reads a u32).  Returns the length; 0 when every count is 0
 * (nothing written); -1 when buf is too small.
 */
long audit_sentry_client_report(const audit_sentry_discards_t *d,
    const char *dsn_text, unsigned long long now_ms, char *buf, size_t size);

/*
 * Writes the X-Sentry-Auth value and a NUL into buf:
 *
 *     Sentry sentry_version=7, sentry_key=KEY,
 *     sentry_client=ngx_http_audit/VERSION
 *
 * (one line).  version NULL means AUDIT_SENTRY_VERSION; it must be
 * printable ASCII without spaces or commas.  Returns the length, or -1 for
 * a bad key or version or a small buffer.
 */
int audit_sentry_auth_header(const audit_sentry_dsn_t *dsn,
    const char *version, char *buf, size_t size);

/*
 * Reads the rate limits of a response (develop.sentry.dev, "Rate
 * Limiting"): rate_limits is X-Sentry-Rate-Limits and retry_after
 * Retry-After, each NULL or of length 0 when absent, no NUL needed.
 *
 * X-Sentry-Rate-Limits counts on any status: a comma-separated list of
 * "retry_after:categories:scope[:...]", whitespace ignored, retry_after in
 * seconds (a fraction is rounded up to the millisecond), categories
 * ";"-separated.  A limit applies to events when its categories are empty
 * or name "error" or "default", and to client reports when they are empty
 * or name "internal"; unknown categories and everything after them are
 * ignored.  Only when it holds no well-formed limit does a 429 fall back to
 * Retry-After: integer seconds, or 60 when absent or not a number (an
 * HTTP-date); that applies to both.
 *
 * Each deadline that applies becomes now_ms + the delay unless it already
 * is later: pass the current values in.  Returns 1 when a limit applied
 * to either, 0 otherwise.
 */
int audit_sentry_rate_limits(int status, const char *rate_limits,
    size_t rl_len, const char *retry_after, size_t ra_len,
    unsigned long long now_ms, unsigned long long *error_until_ms,
    unsigned long long *report_until_ms);


#endif /* AUDIT_SENTRY_H */
