/*
 * Audit events: one compact JSON object per line (docs/DESIGN.md, "The
 * events").  The encoder owns no state; it writes into the caller's buffer
 * and a buffer of AUDIT_EVENT_MAX bytes is always big enough, so the
 * request path can hand it a fixed buffer.
 *
 * Nothing a client sends can break out of its field: every string is made
 * valid UTF-8 and escaped by jansson, so a line always parses as JSON and
 * never contains a newline but the last byte.
 */

#ifndef AUDIT_EVENT_H
#define AUDIT_EVENT_H


#include <stddef.h>

#include "audit_scrub.h"


/* The largest line audit_event_encode() writes, with its NUL. */
#define AUDIT_EVENT_MAX  8192


typedef enum {
    AUDIT_LOGIN_SUCCESS = 0,
    AUDIT_LOGIN_FAILURE,
    AUDIT_AUTHZ_CHECK,
    AUDIT_SESSION_CREATE,
    AUDIT_SESSION_DESTROY,
    AUDIT_SESSION_INVALID,
    AUDIT_RECORD_ACCESS,
    AUDIT_BRUTEFORCE_SUSPECTED,
    AUDIT_REQUEST_REJECTED,         /* a target or method refused before
                                       any policy (audit_target.h) */
    AUDIT_CHECKPOINT,               /* a signed checkpoint of the chain
                                       (audit_checkpoint.h) */
    AUDIT_ACTION_MAX
} audit_action_t;


typedef enum {
    AUDIT_SEV_INFO = 0,
    AUDIT_SEV_WARNING,
    AUDIT_SEV_CRITICAL
} audit_severity_t;


/* A string that is not NUL-terminated; data NULL or len 0: absent. */
typedef struct {
    const char          *data;
    size_t               len;
} audit_str_t;


typedef struct {
    audit_action_t       action;
    audit_severity_t     severity;
    unsigned long long   ts_ms;           /* unix ms */
    unsigned char        id[16];          /* UUIDv7 */
    audit_str_t          request_id, ip, method, uri, user_agent;
    int                  status;          /* 0: omitted */
    audit_str_t          user_id, role, session_id, attempted_user, reason,
                         decision, rule, resource_type, resource_id, access;
    long long            count;           /* bruteforce: failures seen;
                                             0: omitted */
    long long            window;          /* bruteforce: window seconds;
                                             0: omitted */
    audit_str_t          producer;        /* "host/start-ms-pid/slot";
                                             absent: chain fields omitted */
    unsigned long long   seq;             /* below 2^63 */
    unsigned char        prev[32];        /* SHA-256 of the producer's
                                             previous line */
    int                  has_prev;        /* 0 for the first event of a
                                             chain: "prev":null */
    audit_str_t          after;           /* first event of a chain: the
                                             chain it follows, e.g.
                                             "host/start/slot:seq";
                                             absent: omitted */
    const struct audit_checkpoint_s  *checkpoint;  /* a checkpoint's
                                             member; NULL: omitted */
} audit_event_t;


/* "login_success", ...; NULL for a value out of range. */
const char *audit_action_name(audit_action_t a);

/* "info", "warning", "critical"; NULL for a value out of range. */
const char *audit_severity_name(audit_severity_t s);

/*
 * info for login_success, session_create, session_destroy, record_access
 * and a permitted authz_check; warning for login_failure, session_invalid,
 * request_rejected and a denied authz_check; critical for
 * bruteforce_suspected.
 */
audit_severity_t audit_event_default_severity(audit_action_t a, int denied);

/*
 * Encodes ev as one line of compact JSON and a "\n" into buf, which has
 * room for size bytes, and NUL-terminates it.  The members, in this
 * order, absent ones left out:
 *
 *     id ts action severity request_id ip method route status user_agent
 *     user_id role session_id attempted_user reason decision rule
 *     resource_type resource_id access count window producer seq prev
 *     after checkpoint
 *
 * ts is RFC 3339 UTC with milliseconds (years past 9999 are clamped);
 * route is ev->uri through audit_scrub_uri(scrub, ...), unscrubbed when
 * scrub is NULL, and left out when that is empty ("#frag"); user_agent,
 * attempted_user and resource_id go through audit_scrub_credentials()
 * unless scrub is NULL (JWTs and "Bearer"/"Basic" credentials become
 * "[Filtered]"); prev is lowercase
 * hex, or null when !has_prev.
 *
 * Invalid UTF-8 becomes U+FFFD byte by byte.  Every string is cut at a
 * character boundary so that its escaped form takes at most
 *
 *     1024 bytes: route user_id reason resource_id
 *      256 bytes: request_id user_agent role session_id attempted_user
 *                 rule producer after
 *      128 bytes: ip resource_type
 *       64 bytes: method decision access
 *
 * which is what keeps every event within AUDIT_EVENT_MAX.
 *
 * Returns the length of the line with its "\n" and without the NUL, or -1
 * when buf is too small, on OOM, or for an action, severity or seq out of
 * range.
 */
long audit_event_encode(const audit_event_t *ev, const audit_scrub_t *scrub,
    char *buf, size_t size);

/*
 * Copies s[0..len) into out, which has room for size bytes, as valid UTF-8:
 * each byte that is not part of a well-formed sequence (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF) becomes U+FFFD.
 * Stops before a character that would not fit, and NUL-terminates.  NUL
 * bytes in s are copied.  Returns the bytes written, without the NUL; 0
 * when size is 0, and then nothing is written.  (audit_json.c: the very
 * sanitizing every JSON string of the core goes through.)
 */
size_t audit_utf8_sanitize(const char *s, size_t len, char *out, size_t size);

#endif /* AUDIT_EVENT_H */
