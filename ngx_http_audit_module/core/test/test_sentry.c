/*
 * Unit tests of the Sentry protocol: DSN, fingerprints, envelopes parsed
 * back line by line with jansson, client reports, the auth header and the
 * rate limits of every example in develop.sentry.dev's "Rate Limiting".
 */

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "../audit_event.h"
#include "../audit_scrub.h"
#include "../audit_sentry.h"
#include "../audit_uuid.h"
#include "tap.h"


#define S(s)  ((audit_str_t) { (s), sizeof(s) - 1 })

#define BIG   (16 * 1024)

#define NOW   1795404363123ULL          /* 2026-11-23T03:26:03.123Z */

#define DSN   "https://0123456789abcdef0123456789abcdef@o1.ingest.example.io/42"


/* an envelope split back into its three JSON documents */
typedef struct {
    json_t       *head;
    json_t       *item;
    json_t       *payload;
    size_t        payload_len;
} envelope_t;


static char  buf[AUDIT_SENTRY_ENVELOPE_MAX];
static char  big[BIG + 1];


/* --- helpers ----------------------------------------------------------- */


static const char *
str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}


static json_t *
path(json_t *obj, const char *a, const char *b)
{
    return json_object_get(json_object_get(obj, a), b);
}


/* The characters in a valid UTF-8 string. */

static size_t
utf8_chars(const char *s)
{
    size_t  n;

    for (n = 0; *s; s++) {
        n += ((unsigned char) *s & 0xc0) != 0x80;
    }

    return n;
}


static size_t
count(const char *hay, size_t len, const char *needle)
{
    size_t       n, l;
    const char  *p, *end;

    n = 0;
    l = strlen(needle);
    end = hay + len;

    for (p = hay; (size_t) (end - p) >= l; p++) {
        if (memcmp(p, needle, l) == 0) {
            n++;
        }
    }

    return n;
}


static int
is_hex32(const char *s)
{
    return s != NULL && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}


/*
 * Splits buf[0..n) into header, item header and payload, checking the
 * framing of develop.sentry.dev's "Envelopes": compact one-line headers,
 * "length" exactly the payload's bytes, a "\n" after it and nothing more.
 */

static int
split(const char *b, long n, const char *type, envelope_t *e,
    const char *name)
{
    json_error_t  err;
    const char   *nl1, *nl2, *end;
    json_int_t    length;

    memset(e, 0, sizeof(*e));

    if (!ok(n > 0, "%s: encoded", name)) {
        return 0;
    }

    end = b + n;

    ok((size_t) n == strlen(b), "%s: length returned, NUL after it", name);
    ok(memchr(b, '\r', n) == NULL, "%s: no CR anywhere", name);
    is_int(count(b, n, "\n"), 3, "%s: exactly three lines", name);
    ok(b[n - 1] == '\n', "%s: ends with a newline", name);

    nl1 = memchr(b, '\n', n);
    nl2 = nl1 ? memchr(nl1 + 1, '\n', end - nl1 - 1) : NULL;

    if (!ok(nl1 != NULL && nl2 != NULL, "%s: two header lines", name)) {
        return 0;
    }

    ok(b[0] == '{' && nl1[-1] == '}' && nl1[1] == '{' && nl2[-1] == '}',
       "%s: headers are bare objects, no padding", name);
    ok(count(b, nl2 - b, "\": ") == 0 && count(b, nl2 - b, ", \"") == 0,
       "%s: compact headers", name);

    e->head = json_loadb(b, nl1 - b, 0, &err);
    ok(json_is_object(e->head), "%s: envelope header parses", name);

    e->item = json_loadb(nl1 + 1, nl2 - nl1 - 1, 0, &err);
    ok(json_is_object(e->item), "%s: item header parses", name);
    is_str(str(e->item, "type"), type, "%s: item type", name);
    ok(json_object_size(e->item) == 2, "%s: item header is type, length",
       name);

    length = json_integer_value(json_object_get(e->item, "length"));
    e->payload_len = end - nl2 - 2;
    is_int(length, e->payload_len,
           "%s: length is exactly the payload's bytes", name);

    e->payload = json_loadb(nl2 + 1, (size_t) length, 0, &err);
    if (!ok(json_is_object(e->payload), "%s: payload parses", name)) {
        diag("%s: %.*s", err.text, (int) length, nl2 + 1);
    }

    return e->head && e->item && e->payload;
}


/* The payload of buf[0..n), without asserting anything: for loops. */

static json_t *
quiet_payload(long n)
{
    const char  *nl;

    if (n <= 0) {
        return NULL;
    }

    nl = memchr(buf, '\n', n);
    nl = nl ? memchr(nl + 1, '\n', buf + n - nl - 1) : NULL;

    return nl ? json_loadb(nl + 1, buf + n - nl - 2, 0, NULL) : NULL;
}


static void
release_envelope(envelope_t *e)
{
    json_decref(e->head);
    json_decref(e->item);
    json_decref(e->payload);
}


static void
base(audit_event_t *ev, audit_action_t action)
{
    int  i;

    memset(ev, 0, sizeof(*ev));

    ev->action = action;
    ev->severity = audit_event_default_severity(action,
                                                action == AUDIT_AUTHZ_CHECK);
    ev->ts_ms = NOW - 1000;

    for (i = 0; i < 16; i++) {
        ev->id[i] = (unsigned char) (0xa0 + i);
    }

    ev->request_id = S("0f8fad5bd9cb469fa16570867728950e");
    ev->ip = S("203.0.113.42");
    ev->method = S("POST");
    ev->uri = S("/login");
    ev->status = 401;
    ev->user_agent = S("curl/8.0");
}


static const audit_sentry_opts_t  opts_all = {
    "production", "portal@1.4.2", "gw-1.example", 0
};


/* --- DSN --------------------------------------------------------------- */


static void
dsn_ok(const char *text, int https, const char *host, int port,
    const char *key, const char *prefix, const char *project,
    const char *envelope_path)
{
    int                 rc;
    char                err[128];
    audit_sentry_dsn_t  d;

    strcpy(err, "untouched");
    rc = audit_sentry_dsn_parse(text, strlen(text), &d, err, sizeof(err));

    if (!is_int(rc, 0, "dsn %s: parses", text)) {
        diag("error: %s", err);
        return;
    }

    is_str(err, "", "dsn %s: no error", text);
    is_int(d.https, https, "dsn %s: scheme", text);
    is_str(d.host, host, "dsn %s: host", text);
    is_int(d.port, port, "dsn %s: port", text);
    is_str(d.public_key, key, "dsn %s: public key", text);
    is_str(d.path_prefix, prefix, "dsn %s: path prefix", text);
    is_str(d.project_id, project, "dsn %s: project", text);
    is_str(d.envelope_path, envelope_path, "dsn %s: envelope path", text);
}


static void
dsn_bad(const char *text, size_t len, const char *why)
{
    int                 rc;
    char                err[128];
    audit_sentry_dsn_t  d, zero;

    memset(&d, 0x5a, sizeof(d));
    memset(&zero, 0, sizeof(zero));
    err[0] = '\0';

    rc = audit_sentry_dsn_parse(text, len, &d, err, sizeof(err));

    is_int(rc, -1, "dsn refused: %s", why);
    ok(err[0] != '\0', "dsn refused: %s: a reason (%s)", why, err);
    ok(memcmp(&d, &zero, sizeof(d)) == 0, "dsn refused: %s: out zeroed",
       why);
}


#define BAD(lit, why)  dsn_bad(lit, sizeof(lit) - 1, why)


static void
test_dsn(void)
{
    char                s[2048];
    audit_sentry_dsn_t  d;

    dsn_ok(DSN, 1, "o1.ingest.example.io", 443,
           "0123456789abcdef0123456789abcdef", "", "42", "/api/42/envelope/");
    dsn_ok("http://key@glitchtip.local/7", 0, "glitchtip.local", 80, "key",
           "", "7", "/api/7/envelope/");
    dsn_ok("http://key@localhost:9000/7", 0, "localhost", 9000, "key", "",
           "7", "/api/7/envelope/");
    dsn_ok("https://key@sentry.example.org:8443/sub/path/123", 1,
           "sentry.example.org", 8443, "key", "/sub/path", "123",
           "/sub/path/api/123/envelope/");
    dsn_ok("https://key@h.example/errors/5", 1, "h.example", 443, "key",
           "/errors", "5", "/errors/api/5/envelope/");
    dsn_ok("https://key@[2001:db8::1]:8443/5", 1, "2001:db8::1", 8443, "key",
           "", "5", "/api/5/envelope/");
    dsn_ok("http://key@[::1]/5", 0, "::1", 80, "key", "", "5",
           "/api/5/envelope/");
    dsn_ok("https://key@10.0.0.5:9000/3", 1, "10.0.0.5", 9000, "key", "",
           "3", "/api/3/envelope/");
    dsn_ok("https://pub:secret@h.example/1", 1, "h.example", 443, "pub", "",
           "1", "/api/1/envelope/");
    dsn_ok("https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42", 1,
           "sentry.io", 443, "e12d836b15bb49d7bbf99e64295d995b", "", "42",
           "/api/42/envelope/");
    dsn_ok("HTTPS://key@h.example/1", 1, "h.example", 443, "key", "", "1",
           "/api/1/envelope/");
    dsn_ok("https://key@h.example/a%20b/1", 1, "h.example", 443, "key",
           "/a%20b", "1", "/a%20b/api/1/envelope/");

    /* len, not the NUL, ends it */
    is_int(audit_sentry_dsn_parse("https://k@h/12XYZ", 14, &d, NULL, 0), 0,
           "dsn: len bounds it");
    is_str(d.project_id, "12", "dsn: project within len");

    BAD("https://h.example/1", "no key");
    BAD("https://@h.example/1", "empty key");
    BAD("https://:secret@h.example/1", "only a secret");
    BAD("https://k@h.example", "no project");
    BAD("https://k@h.example/", "empty project");
    BAD("https://k@h.example/sub/", "empty project after a path");
    BAD("https://k@h.example/abc", "non-numeric project");
    BAD("https://k@h.example/4x2", "project with a letter");
    BAD("ftp://k@h.example/1", "ftp scheme");
    BAD("https:/k@h.example/1", "one slash");
    BAD("k@h.example/1", "no scheme");
    BAD("httpx://k@h.example/1", "httpx scheme");
    BAD("", "empty");
    dsn_bad(NULL, 10, "NULL");
    BAD("https://k@/1", "empty host");
    BAD("https://k@:80/1", "empty host with a port");
    BAD("https://k@h.example/1?x=1", "a query after the project");
    BAD("https://k@h.example/1#frag", "a fragment");
    BAD("https://k@h.example/1 ", "a trailing space");
    BAD("https://k@h.example/1/", "a trailing slash");
    BAD("https://k@h.example:0/1", "port 0");
    BAD("https://k@h.example:65536/1", "port 65536");
    BAD("https://k@h.example:/1", "empty port");
    BAD("https://k@h.example:80a/1", "port with a letter");
    BAD("https://k@h.example:1:2/1", "two ports");
    BAD("https://k@[zz::1]/1", "bad IPv6");
    BAD("https://k@[::1/1", "unclosed IPv6");
    BAD("https://k@[::1]x/1", "garbage after IPv6");
    BAD("https://k@[]/1", "empty IPv6");
    BAD("https://k@[::\0\0\0\0\0001]/1", "NUL inside IPv6");
    BAD("https://k@[fe80::1%25eth0]/1", "IPv6 zone");
    BAD("https://k y@h.example/1", "space in the key");
    BAD("https://k,sentry_key=x@h.example/1", "comma in the key");
    BAD("https://k:s@cret@h.example/1", "two @");
    BAD("https://k@h example/1", "space in the host");
    BAD("https://k@.h.example/1", "host starting with a dot");
    BAD("https://k@h..example/1", "empty label");
    BAD("https://k@h.example//1", "empty path segment");
    BAD("https://k@h.example/a/../1", "dot-dot segment");
    BAD("https://k@h.example/a b/1", "space in the path");
    BAD("https://k@h.example/a%2/1", "bad percent escape");
    BAD("https://k@h.example/a%zz/1", "percent escape not hex");
    BAD("https://k@h.example/\xc3\xa9/1", "non-ASCII path");
    BAD("https://k@h.example/a\r\n/1", "CRLF in the path");
    BAD("https://k@h.exa\0mple/1", "NUL in the host");

    /* overlong parts */
    snprintf(s, sizeof(s), "https://%0128d@h.example/1", 0);
    dsn_bad(s, strlen(s), "128-byte key");
    snprintf(s, sizeof(s), "https://%0127d@h.example/1", 0);
    is_int(audit_sentry_dsn_parse(s, strlen(s), &d, NULL, 0), 0,
           "dsn: 127-byte key fits");
    snprintf(s, sizeof(s), "https://k@h%0255d/1", 0);
    dsn_bad(s, strlen(s), "256-byte host");
    snprintf(s, sizeof(s), "https://k@h%0254d/1", 0);
    is_int(audit_sentry_dsn_parse(s, strlen(s), &d, NULL, 0), 0,
           "dsn: 255-byte host fits");
    snprintf(s, sizeof(s), "https://k@h/p%0255d/1", 0);
    dsn_bad(s, strlen(s), "257-byte path");
    snprintf(s, sizeof(s), "https://k@h/p%0253d/1", 0);
    is_int(audit_sentry_dsn_parse(s, strlen(s), &d, NULL, 0), 0,
           "dsn: 255-byte path fits");
    is_int(strlen(d.envelope_path), 255 + 16, "dsn: long envelope path");
    snprintf(s, sizeof(s), "https://k@h/%064d", 1);
    dsn_bad(s, strlen(s), "64-digit project");
    snprintf(s, sizeof(s), "https://k@h/%063d", 1);
    is_int(audit_sentry_dsn_parse(s, strlen(s), &d, NULL, 0), 0,
           "dsn: 63-digit project fits");
    snprintf(s, sizeof(s), "https://k:%01020d@h/1", 0);
    dsn_bad(s, strlen(s), "DSN over 1024 bytes");

    /* a short error buffer is still NUL-terminated */
    {
        char  e[8];

        memset(e, 'x', sizeof(e));
        audit_sentry_dsn_parse("nope", 4, &d, e, sizeof(e));
        ok(memchr(e, '\0', sizeof(e)) != NULL, "dsn: short err terminated");
    }
}


/* --- auth header ------------------------------------------------------- */


static void
test_auth(void)
{
    int                 n;
    char                s[512];
    audit_sentry_dsn_t  d;

    audit_sentry_dsn_parse(DSN, strlen(DSN), &d, NULL, 0);

    n = audit_sentry_auth_header(&d, "1.2.3", s, sizeof(s));
    is_str(s, "Sentry sentry_version=7, "
              "sentry_key=0123456789abcdef0123456789abcdef, "
              "sentry_client=ngx_http_audit/1.2.3", "auth: header value");
    is_int(n, strlen(s), "auth: length");

    audit_sentry_auth_header(&d, NULL, s, sizeof(s));
    ok(strstr(s, "ngx_http_audit/" AUDIT_SENTRY_VERSION) != NULL,
       "auth: default version");

    is_int(audit_sentry_auth_header(&d, "1.2.3", s, n), -1,
           "auth: buffer one short");
    is_int(audit_sentry_auth_header(&d, "1.2.3", s, n + 1), n,
           "auth: exact buffer");
    is_int(audit_sentry_auth_header(&d, "1.2, sentry_key=x", s, sizeof(s)),
           -1, "auth: a version with a comma is refused");
    is_int(audit_sentry_auth_header(&d, "1\r\nX: y", s, sizeof(s)), -1,
           "auth: a version with CRLF is refused");
    is_int(audit_sentry_auth_header(&d, "", s, sizeof(s)), -1,
           "auth: empty version refused");

    memset(&d, 0, sizeof(d));
    is_int(audit_sentry_auth_header(&d, "1", s, sizeof(s)), -1,
           "auth: no key");
    strcpy(d.public_key, "a b");
    is_int(audit_sentry_auth_header(&d, "1", s, sizeof(s)), -1,
           "auth: bad key");
}


/* --- fingerprints ------------------------------------------------------ */


static void
fp_is(audit_event_t *ev, const char *want, const char *name)
{
    int   n;
    char  fp[AUDIT_SENTRY_FINGERPRINT_MAX];

    n = audit_sentry_fingerprint(ev, fp, sizeof(fp));

    if (want == NULL) {
        is_int(n, -1, "fingerprint %s: none", name);
        is_str(fp, "", "fingerprint %s: empty", name);
        return;
    }

    is_str(fp, want, "fingerprint %s", name);
    is_int(n, strlen(want), "fingerprint %s: length", name);
}


static void
test_fingerprint(void)
{
    int            n;
    char           fp[AUDIT_SENTRY_FINGERPRINT_MAX];
    size_t         i;
    audit_event_t  ev;

    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.reason = S("invalid_credentials");
    ev.attempted_user = S("alice");
    fp_is(&ev, "login_failure", "login_failure");

    base(&ev, AUDIT_SESSION_INVALID);
    ev.reason = S("expired");
    fp_is(&ev, "session_invalid:expired", "session_invalid expired");
    ev.reason = S("revoked");
    fp_is(&ev, "session_invalid:revoked", "session_invalid revoked");
    ev.reason.data = NULL;
    ev.reason.len = 0;
    fp_is(&ev, "session_invalid", "session_invalid without a reason");

    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.decision = S("denied");
    ev.rule = S("admin-only");
    fp_is(&ev, "authz_denied:admin-only", "authz denied");
    ev.decision = S("permitted");
    fp_is(&ev, NULL, "authz permitted");
    ev.decision = S("deniedx");
    fp_is(&ev, NULL, "authz with another decision");

    base(&ev, AUDIT_BRUTEFORCE_SUSPECTED);
    ev.reason = S("ip");
    fp_is(&ev, "bruteforce_suspected", "bruteforce");

    base(&ev, AUDIT_LOGIN_SUCCESS);
    fp_is(&ev, NULL, "login_success");
    base(&ev, AUDIT_SESSION_CREATE);
    fp_is(&ev, NULL, "session_create");
    base(&ev, AUDIT_SESSION_DESTROY);
    fp_is(&ev, NULL, "session_destroy");
    base(&ev, AUDIT_RECORD_ACCESS);
    fp_is(&ev, NULL, "record_access");
    ev.action = AUDIT_ACTION_MAX;
    fp_is(&ev, NULL, "action out of range");
    is_int(audit_sentry_fingerprint(NULL, fp, sizeof(fp)), -1,
           "fingerprint: NULL event");

    /* the buffer */
    base(&ev, AUDIT_SESSION_INVALID);
    ev.reason = S("expired");
    is_int(audit_sentry_fingerprint(&ev, fp, 23), -1,
           "fingerprint: buffer without room for the NUL");
    is_int(audit_sentry_fingerprint(&ev, fp, 24), 23,
           "fingerprint: exact buffer");
    is_int(audit_sentry_fingerprint(&ev, NULL, 0), -1,
           "fingerprint: no buffer");

    /* a 16 KiB rule of two-byte characters: cut whole, still unique-ish */
    for (i = 0; i + 1 < BIG; i += 2) {
        big[i] = '\xc3';
        big[i + 1] = '\xa9';
    }

    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.decision = S("denied");
    ev.rule.data = big;
    ev.rule.len = BIG;
    n = audit_sentry_fingerprint(&ev, fp, sizeof(fp));
    ok(n > 100 && n < AUDIT_SENTRY_FINGERPRINT_MAX,
       "fingerprint: long rule cut below the max (%d)", n);
    ok(strncmp(fp, "authz_denied:\xc3\xa9", 15) == 0
       && (n - 13) % 2 == 0, "fingerprint: cut at a character boundary");

    /* invalid UTF-8 in the reason */
    base(&ev, AUDIT_SESSION_INVALID);
    ev.reason = S("bad\xff");
    fp_is(&ev, "session_invalid:bad\xef\xbf\xbd", "invalid UTF-8 replaced");
}


/* --- envelopes --------------------------------------------------------- */


static void
test_envelope_login(void)
{
    long                n;
    char                id[33];
    json_t             *p, *x, *tags;
    envelope_t          e;
    audit_event_t       ev;
    audit_sentry_dsn_t  d;

    audit_sentry_dsn_parse(DSN, strlen(DSN), &d, NULL, 0);

    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.reason = S("invalid_credentials");
    ev.attempted_user = S("alice");

    n = audit_sentry_envelope(&ev, &d, DSN, &opts_all, NULL, NOW, buf,
                              sizeof(buf));

    if (!split(buf, n, "event", &e, "login_failure")) {
        release_envelope(&e);
        return;
    }

    /* the envelope header */
    strcpy(id, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    ok(json_object_size(e.head) == 4, "login_failure: header members");
    is_str(str(e.head, "event_id"), id, "login_failure: header event_id");
    ok(is_hex32(str(e.head, "event_id")), "login_failure: 32 lowercase hex");
    is_str(str(e.head, "sent_at"), "2026-11-23T03:26:03.123Z",
           "login_failure: sent_at is now");
    is_int(count(buf, n, "\"sent_at\""), 1, "login_failure: one sent_at");
    is_str(str(e.head, "dsn"), DSN, "login_failure: dsn as given");
    is_str(json_string_value(path(e.head, "sdk", "name")), "ngx_http_audit",
           "login_failure: sdk.name");
    is_str(json_string_value(path(e.head, "sdk", "version")),
           AUDIT_SENTRY_VERSION, "login_failure: sdk.version");

    /* the payload */
    p = e.payload;
    is_str(str(p, "event_id"), id, "login_failure: payload event_id");
    is_str(str(p, "timestamp"), "2026-11-23T03:26:02.123Z",
           "login_failure: timestamp of the event");
    is_str(str(p, "level"), "warning", "login_failure: level");
    is_str(str(p, "logger"), "ngx_http_audit", "login_failure: logger");
    is_str(str(p, "platform"), "c", "login_failure: platform");
    is_str(json_string_value(path(p, "message", "formatted")), "Failed login",
           "login_failure: message");

    x = json_array_get(path(p, "exception", "values"), 0);
    is_int(json_array_size(path(p, "exception", "values")), 1,
           "login_failure: one exception");
    is_str(str(x, "type"), "login_failure", "login_failure: exception type");
    is_str(str(x, "value"), "Failed login (invalid_credentials)",
           "login_failure: exception value");

    x = json_object_get(p, "fingerprint");
    is_int(json_array_size(x), 1, "login_failure: one fingerprint entry");
    is_str(json_string_value(json_array_get(x, 0)), "login_failure",
           "login_failure: fingerprint");

    tags = json_object_get(p, "tags");
    is_int(json_object_size(tags), 5, "login_failure: five tags");
    is_str(str(tags, "ip"), "203.0.113.42", "login_failure: tag ip");
    is_str(str(tags, "route"), "/login", "login_failure: tag route");
    is_str(str(tags, "request_id"), "0f8fad5bd9cb469fa16570867728950e",
           "login_failure: tag request_id");
    is_str(str(tags, "reason"), "invalid_credentials",
           "login_failure: tag reason");
    is_str(str(tags, "action"), "login_failure", "login_failure: tag action");
    ok(json_object_get(tags, "role") == NULL, "login_failure: no role tag");

    x = json_object_get(p, "user");
    is_int(json_object_size(x), 1, "login_failure: user is the address");
    is_str(str(x, "ip_address"), "203.0.113.42", "login_failure: user ip");

    x = json_object_get(p, "request");
    is_str(str(x, "method"), "POST", "login_failure: request method");
    is_str(str(x, "url"), "/login", "login_failure: request url");
    is_str(json_string_value(path(x, "env", "REMOTE_ADDR")), "203.0.113.42",
           "login_failure: REMOTE_ADDR");

    is_str(str(p, "environment"), "production", "login_failure: environment");
    is_str(str(p, "release"), "portal@1.4.2", "login_failure: release");
    is_str(str(p, "server_name"), "gw-1.example", "login_failure: server");
    ok(json_object_get(p, "extra") == NULL, "login_failure: no extra");

    ok(count(buf, n, "alice") == 0,
       "login_failure: attempted user nowhere without send_pii");

    release_envelope(&e);
}


/* Encodes ev, splits it; returns the payload (caller decrefs e). */

static json_t *
payload_of(audit_event_t *ev, const audit_sentry_opts_t *opts,
    const audit_scrub_t *scrub, envelope_t *e, const char *name)
{
    long  n;

    n = audit_sentry_envelope(ev, NULL, DSN, opts, scrub, NOW, buf,
                              sizeof(buf));

    if (!split(buf, n, "event", e, name)) {
        return NULL;
    }

    return e->payload;
}


static void
test_envelope_categories(void)
{
    size_t          i, j;
    json_t         *p, *x;
    const char     *fps[4];
    envelope_t      e[4];
    audit_event_t   ev;

    /* session_invalid */
    base(&ev, AUDIT_SESSION_INVALID);
    ev.reason = S("expired");
    ev.user_id = S("u-17");
    p = payload_of(&ev, &opts_all, NULL, &e[0], "session_invalid");
    is_str(json_string_value(path(p, "message", "formatted")),
           "Expired session", "session_invalid: message");
    x = json_array_get(path(p, "exception", "values"), 0);
    is_str(str(x, "type"), "session_invalid", "session_invalid: type");
    is_str(str(x, "value"), "Expired session (expired)",
           "session_invalid: value");
    is_str(str(p, "level"), "warning", "session_invalid: level");
    is_str(json_string_value(path(p, "user", "id")), "u-17",
           "session_invalid: user.id is the user_id");
    fps[0] = json_string_value(json_array_get(json_object_get(p,
                                              "fingerprint"), 0));
    is_str(fps[0], "session_invalid:expired", "session_invalid: fp");

    /* authz denied */
    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.decision = S("denied");
    ev.rule = S("admin-only");
    ev.role = S("nurse");
    ev.user_id = S("u-9");
    ev.uri = S("/admin/users?page=2");
    p = payload_of(&ev, &opts_all, NULL, &e[1], "authz");
    is_str(json_string_value(path(p, "message", "formatted")),
           "Authorization denied: admin-only", "authz: message");
    x = json_array_get(path(p, "exception", "values"), 0);
    is_str(str(x, "type"), "authz_check", "authz: type");
    is_str(str(x, "value"), "Authorization denied: admin-only",
           "authz: value without a reason");
    is_str(json_string_value(path(p, "tags", "role")), "nurse",
           "authz: role tag");
    is_str(json_string_value(path(p, "tags", "route")), "/admin/users",
           "authz: route tag is the path");
    is_str(json_string_value(path(p, "request", "url")),
           "/admin/users?page=2", "authz: url keeps the query");
    fps[1] = json_string_value(json_array_get(json_object_get(p,
                                              "fingerprint"), 0));
    is_str(fps[1], "authz_denied:admin-only", "authz: fp");

    /* bruteforce */
    base(&ev, AUDIT_BRUTEFORCE_SUSPECTED);
    ev.reason = S("ip");
    ev.count = 12;
    ev.window = 300;
    ev.method.data = NULL;
    ev.method.len = 0;
    p = payload_of(&ev, &opts_all, NULL, &e[2], "bruteforce");
    is_str(str(p, "level"), "fatal", "bruteforce: critical is fatal");
    is_str(json_string_value(path(p, "message", "formatted")),
           "Brute force suspected", "bruteforce: message");
    is_int(json_integer_value(path(p, "extra", "count")), 12,
           "bruteforce: extra.count");
    is_int(json_integer_value(path(p, "extra", "window")), 300,
           "bruteforce: extra.window");
    ok(path(p, "request", "method") == NULL, "bruteforce: no method");
    fps[2] = json_string_value(json_array_get(json_object_get(p,
                                              "fingerprint"), 0));
    is_str(fps[2], "bruteforce_suspected", "bruteforce: fp");

    /* login_failure, info severity: "error" */
    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.severity = AUDIT_SEV_INFO;
    p = payload_of(&ev, NULL, NULL, &e[3], "login_failure info");
    is_str(str(p, "level"), "error", "info severity is level error");
    ok(json_object_get(p, "environment") == NULL
       && json_object_get(p, "release") == NULL
       && json_object_get(p, "server_name") == NULL,
       "no opts: environment, release, server_name omitted");
    is_str(str(json_array_get(path(p, "exception", "values"), 0), "value"),
           "Failed login", "no reason: the title alone");
    fps[3] = json_string_value(json_array_get(json_object_get(p,
                                              "fingerprint"), 0));

    for (i = 0; i < 4; i++) {
        for (j = i + 1; j < 4; j++) {
            ok(fps[i] && fps[j] && strcmp(fps[i], fps[j]) != 0,
               "fingerprints %zu and %zu differ", i, j);
        }
    }

    for (i = 0; i < 4; i++) {
        release_envelope(&e[i]);
    }

    /* other session_invalid titles */
    {
        static const char  *reasons[][2] = {
            { "revoked", "Revoked session" },
            { "missing", "Missing session" },
            { "bad_signature", "Invalid session" },
            { "expiredx", "Invalid session" }
        };

        for (i = 0; i < 4; i++) {
            base(&ev, AUDIT_SESSION_INVALID);
            ev.reason.data = reasons[i][0];
            ev.reason.len = strlen(reasons[i][0]);
            p = payload_of(&ev, NULL, NULL, &e[0], reasons[i][0]);
            is_str(json_string_value(path(p, "message", "formatted")),
                   reasons[i][1], "session_invalid %s: title",
                   reasons[i][0]);
            release_envelope(&e[0]);
        }
    }
}


static void
test_envelope_refused(void)
{
    audit_event_t  ev;

    base(&ev, AUDIT_LOGIN_SUCCESS);
    is_int(audit_sentry_envelope(&ev, NULL, DSN, NULL, NULL, NOW, buf,
                                 sizeof(buf)), -1, "login_success: none");

    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.decision = S("permitted");
    is_int(audit_sentry_envelope(&ev, NULL, DSN, NULL, NULL, NOW, buf,
                                 sizeof(buf)), -1, "permitted authz: none");

    base(&ev, AUDIT_RECORD_ACCESS);
    is_int(audit_sentry_envelope(&ev, NULL, DSN, NULL, NULL, NOW, buf,
                                 sizeof(buf)), -1, "record_access: none");

    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.severity = (audit_severity_t) 7;
    is_int(audit_sentry_envelope(&ev, NULL, DSN, NULL, NULL, NOW, buf,
                                 sizeof(buf)), -1, "bad severity: -1");

    base(&ev, AUDIT_LOGIN_FAILURE);
    is_int(audit_sentry_envelope(NULL, NULL, DSN, NULL, NULL, NOW, buf,
                                 sizeof(buf)), -1, "NULL event: -1");
    is_int(audit_sentry_envelope(&ev, NULL, DSN, NULL, NULL, NOW, NULL, 10),
           -1, "NULL buffer: -1");
    is_int(audit_sentry_envelope(&ev, NULL, DSN, NULL, NULL, NOW, buf, 0),
           -1, "empty buffer: -1");
}


/* What must stay out of Sentry unless send_pii says otherwise. */

static void
test_envelope_pii(void)
{
    long                 n;
    size_t               i;
    json_t              *p;
    envelope_t           e;
    audit_scrub_t       *scrub;
    audit_event_t        ev;
    audit_sentry_opts_t  opts;

    static const char  *secrets[] = {
        "mallory", "patient-4711", "hunter2", "s3cr3t", "eyJhbGciOi",
        "jane.doe@example.org", "123-45-6789"
    };

    scrub = audit_scrub_create(NULL, 0);
    if (!ok(scrub != NULL, "pii: scrubber")) {
        return;
    }

    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.reason = S("invalid_credentials");
    ev.attempted_user = S("mallory@example.net");
    ev.resource_type = S("patient");
    ev.resource_id = S("patient-4711");
    ev.session_id = S("eyJhbGciOiJIUzI1NiJ9.e30.x");
    ev.uri = S("/login?password=hunter2&access_token=s3cr3t"
               "&email=jane.doe@example.org&ssn=123-45-6789&next=%2Fhome");

    opts = opts_all;
    n = audit_sentry_envelope(&ev, NULL, DSN, &opts, scrub, NOW, buf,
                              sizeof(buf));
    ok(n > 0, "pii: encoded");

    for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        is_int(count(buf, n, secrets[i]), 0, "pii: no \"%s\"", secrets[i]);
    }

    is_int(count(buf, n, "username"), 0, "pii: no username member");
    is_int(count(buf, n, "resource_id"), 0, "pii: no resource_id member");
    is_int(count(buf, n, "attempted_user"), 0, "pii: no attempted_user");

    p = split(buf, n, "event", &e, "pii") ? e.payload : NULL;
    ok(strstr(json_string_value(path(p, "request", "url")),
              "password=[Filtered]") != NULL, "pii: url scrubbed");
    is_str(json_string_value(path(p, "tags", "route")), "/login",
           "pii: route tag without the query");
    is_str(json_string_value(path(p, "extra", "resource_type")), "patient",
           "pii: resource_type is not personal");
    ok(path(p, "extra", "resource_id") == NULL, "pii: no extra.resource_id");
    release_envelope(&e);

    /* send_pii: the user name attempted and the resource id */
    opts.send_pii = 1;
    p = payload_of(&ev, &opts, scrub, &e, "send_pii");
    is_str(json_string_value(path(p, "user", "username")),
           "mallory@example.net", "send_pii: user.username");
    is_str(json_string_value(path(p, "extra", "resource_id")),
           "patient-4711", "send_pii: extra.resource_id");
    ok(path(p, "user", "id") == NULL, "send_pii: no user_id, no user.id");
    release_envelope(&e);

    /* JWTs and Bearer credentials: in the url and the route tag */
    opts.send_pii = 0;
    ev.uri = S("/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2ln"
               "?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2ln"
               "&h=Bearer+s3cr3t-t0k3n");
    ev.user_agent = S("curl/8.0 Bearer s3cr3t-t0k3n "
                      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2ln");
    p = payload_of(&ev, &opts, scrub, &e, "jwt");
    is_str(json_string_value(path(p, "request", "url")),
           "/reset/[Filtered]?jwt=[Filtered]&h=Bearer+[Filtered]",
           "jwt: url scrubbed");
    is_str(json_string_value(path(p, "tags", "route")), "/reset/[Filtered]",
           "jwt: route tag scrubbed");
    release_envelope(&e);
    n = audit_sentry_envelope(&ev, NULL, DSN, &opts, scrub, NOW, buf,
                              sizeof(buf));
    ok(n > 0 && count(buf, n, "eyJzdWIiOiJhbm4ifQ") == 0
       && count(buf, n, "s3cr3t") == 0 && count(buf, n, "eyJhbGciOi") == 0,
       "jwt: no part of a token in the envelope (nor the User-Agent)");

    /* no scrubber: the uri as it is */
    ev.uri = S("/x?password=hunter2");
    p = payload_of(&ev, NULL, NULL, &e, "no scrub");
    is_str(json_string_value(path(p, "request", "url")),
           "/x?password=hunter2", "no scrubber: url unscrubbed");
    release_envelope(&e);

    /* a uri that is only a fragment: no url, no route */
    ev.uri = S("#frag");
    p = payload_of(&ev, NULL, scrub, &e, "fragment");
    ok(path(p, "request", "url") == NULL && path(p, "tags", "route") == NULL,
       "fragment only: no url, no route");
    release_envelope(&e);

    audit_scrub_free(scrub);
}


static void
test_envelope_strings(void)
{
    long                 n;
    size_t               i;
    json_t              *p, *tags, *v;
    void                *it;
    envelope_t           e;
    audit_event_t        ev;
    audit_sentry_opts_t  opts;
    const char          *s;

    /* escapes round-trip */
    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.reason = S("say \"hi\"\n\\ \t\x01 end");
    p = payload_of(&ev, NULL, NULL, &e, "escapes");
    is_str(json_string_value(path(p, "tags", "reason")),
           "say \"hi\"\n\\ \t\x01 end", "escapes: tag round-trips");
    is_str(str(json_array_get(path(p, "exception", "values"), 0), "value"),
           "Failed login (say \"hi\"\n\\ \t\x01 end)",
           "escapes: value round-trips");
    release_envelope(&e);

    /* invalid UTF-8 becomes U+FFFD */
    base(&ev, AUDIT_SESSION_INVALID);
    ev.reason = S("\xff\xfe bad \xc3");
    ev.ip = S("10.0.0.1\xc0\xaf");
    p = payload_of(&ev, NULL, NULL, &e, "invalid UTF-8");
    is_str(json_string_value(path(p, "tags", "reason")),
           "\xef\xbf\xbd\xef\xbf\xbd bad \xef\xbf\xbd",
           "invalid UTF-8: reason tag");
    is_str(json_string_value(path(p, "user", "ip_address")),
           "10.0.0.1\xef\xbf\xbd\xef\xbf\xbd", "invalid UTF-8: ip");
    release_envelope(&e);

    /* embedded NUL */
    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.reason.data = "a\0b";
    ev.reason.len = 3;
    n = audit_sentry_envelope(&ev, NULL, DSN, NULL, NULL, NOW, buf,
                              sizeof(buf));
    ok(n > 0 && count(buf, n, "a\\u0000b") == 2, "NUL: escaped");

    /* 16 KiB of everything: cut to the caps */
    memset(big, 'x', BIG);
    big[BIG] = '\0';

    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.decision = S("denied");
    ev.ip.data = big;
    ev.ip.len = BIG;
    ev.role = ev.ip;
    ev.request_id = ev.ip;
    ev.reason = ev.ip;
    ev.rule = ev.ip;
    ev.user_id = ev.ip;
    ev.method = ev.ip;
    ev.uri = ev.ip;

    opts.environment = big;
    opts.release = big;
    opts.server_name = big;
    opts.send_pii = 0;

    p = payload_of(&ev, &opts, NULL, &e, "16 KiB");
    tags = json_object_get(p, "tags");
    is_int(json_object_size(tags), 6, "16 KiB: six tags");

    for (it = json_object_iter(tags); it;
         it = json_object_iter_next(tags, it))
    {
        v = json_object_iter_value(it);
        s = json_string_value(v);
        ok(s != NULL && utf8_chars(s) <= 200
           && (strncmp(s, big, 10) == 0 || strcmp(s, "authz_check") == 0),
           "16 KiB: tag %s has %zu <= 200 characters",
           json_object_iter_key(it), s ? utf8_chars(s) : 0);
    }

    is_int(strlen(json_string_value(path(p, "tags", "ip"))), 200,
           "16 KiB: a tag is cut at exactly 200");
    s = json_string_value(path(p, "message", "formatted"));
    is_int(utf8_chars(s), strlen("Authorization denied: ") + 256,
           "16 KiB: the rule in the message is cut at 256");
    s = str(json_array_get(path(p, "exception", "values"), 0), "value");
    ok(utf8_chars(s) <= 8192, "16 KiB: exception value <= 8192 chars");
    is_int(utf8_chars(json_string_value(path(p, "user", "id"))), 128,
           "16 KiB: user.id cut at 128");
    is_int(utf8_chars(json_string_value(path(p, "request", "url"))), 2048,
           "16 KiB: url cut at 2048");
    is_int(utf8_chars(str(p, "environment")), 64,
           "16 KiB: environment cut at 64");
    is_int(utf8_chars(str(p, "release")), 200, "16 KiB: release cut at 200");
    is_int(utf8_chars(json_string_value(json_array_get(json_object_get(p,
                                        "fingerprint"), 0))),
           AUDIT_SENTRY_FINGERPRINT_MAX - 1,
           "16 KiB: fingerprint at its max");
    release_envelope(&e);

    /* four-byte characters: cut by characters, not bytes */
    for (i = 0; i + 3 < BIG; i += 4) {
        memcpy(big + i, "\xf0\x9f\x98\x80", 4);
    }

    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.reason.data = big;
    ev.reason.len = BIG;
    p = payload_of(&ev, NULL, NULL, &e, "emoji");
    s = json_string_value(path(p, "tags", "reason"));
    is_int(utf8_chars(s), 200, "emoji: 200 characters in the tag");
    is_int(strlen(s), 800, "emoji: 800 bytes");
    s = str(json_array_get(path(p, "exception", "values"), 0), "value");
    is_int(utf8_chars(s), strlen("Failed login (") + 1024 + 1,
           "emoji: reason cut at 1024 in the value");
    release_envelope(&e);

    /* the far future is clamped like the event log does */
    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.ts_ms = ULLONG_MAX;
    p = payload_of(&ev, NULL, NULL, &e, "far future");
    is_str(str(p, "timestamp"), "9999-12-31T23:59:59.999Z",
           "timestamp clamped");
    release_envelope(&e);

    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.ts_ms = 0;
    p = payload_of(&ev, NULL, NULL, &e, "epoch");
    is_str(str(p, "timestamp"), "1970-01-01T00:00:00.000Z",
           "timestamp at the epoch");
    release_envelope(&e);
}


/*
 * Long strings are made valid UTF-8 a piece at a time: the pieces must give
 * exactly what audit_utf8_sanitize() gives for the whole, whatever bytes
 * straddle the cuts.
 */

static void
test_envelope_pieces(void)
{
    int            round, bad;
    size_t         i, len, n, chars;
    json_t        *p;
    const char    *v;
    audit_event_t  ev;
    unsigned       seed;
    char          *whole;

    static const unsigned char  bytes[] = {
        'a', '"', 0x01, 0x80, 0x8f, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xc3,
        0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff
    };

    whole = malloc(4 * BIG);
    seed = 12345;
    bad = 0;

    for (round = 0; round < 300 && whole != NULL; round++) {
        len = 600 + round * 7;

        for (i = 0; i < len; i++) {
            seed = seed * 1103515245 + 12345;
            big[i] = (char) bytes[(seed >> 16) % sizeof(bytes)];

            /* runs of continuation bytes now and then */
            if ((seed >> 8) % 7 == 0) {
                big[i] = (char) (0x80 | ((seed >> 4) & 0x3f));
            }
        }

        base(&ev, AUDIT_LOGIN_FAILURE);
        ev.reason.data = big;
        ev.reason.len = len;

        p = quiet_payload(audit_sentry_envelope(&ev, NULL, DSN, NULL, NULL,
                                                NOW, buf, sizeof(buf)));
        v = str(json_array_get(path(p, "exception", "values"), 0), "value");

        /* the whole, cut at 1024 characters */
        n = audit_utf8_sanitize(big, len, whole, 4 * BIG);

        for (i = 0, chars = 0; i < n; i++) {
            if (((unsigned char) whole[i] & 0xc0) != 0x80
                && chars++ == 1024)
            {
                break;
            }
        }

        if (v == NULL || strncmp(v, "Failed login (", 14) != 0
            || strlen(v) != 14 + i + 1 || memcmp(v + 14, whole, i) != 0)
        {
            if (bad++ == 0) {
                diag("round %d differs", round);
            }
        }

        json_decref(p);
    }

    is_int(bad, 0, "pieces: sanitized in pieces as if whole");

    free(whole);
}


/* The worst any input can do still fits AUDIT_SENTRY_ENVELOPE_MAX. */

static void
test_envelope_worst(void)
{
    long                 n;
    char                 dsn[AUDIT_SENTRY_DSN_MAX + 1];
    envelope_t           e;
    audit_event_t        ev;
    audit_sentry_opts_t  opts;
    int                  pass;

    for (pass = 0; pass < 2; pass++) {
        if (pass == 0) {
            /* control characters: six bytes each once escaped */
            memset(big, '\x01', BIG);

        } else {
            /* lone continuation bytes: three bytes each as U+FFFD */
            memset(big, '\x80', BIG);
        }

        big[BIG] = '\0';

        memset(dsn, pass ? '\x80' : '\x01', AUDIT_SENTRY_DSN_MAX);
        dsn[AUDIT_SENTRY_DSN_MAX] = '\0';

        base(&ev, AUDIT_AUTHZ_CHECK);
        ev.decision = S("denied");
        ev.request_id.data = big;
        ev.request_id.len = BIG;
        ev.ip = ev.request_id;
        ev.method = ev.request_id;
        ev.uri = ev.request_id;
        ev.user_agent = ev.request_id;
        ev.user_id = ev.request_id;
        ev.role = ev.request_id;
        ev.session_id = ev.request_id;
        ev.attempted_user = ev.request_id;
        ev.reason = ev.request_id;
        ev.rule = ev.request_id;
        ev.resource_type = ev.request_id;
        ev.resource_id = ev.request_id;
        ev.access = ev.request_id;
        ev.count = LLONG_MIN;
        ev.window = LLONG_MAX;

        opts.environment = big;
        opts.release = big;
        opts.server_name = big;
        opts.send_pii = 1;

        n = audit_sentry_envelope(&ev, NULL, dsn, &opts, NULL, NOW, buf,
                                  sizeof(buf));
        ok(n > 0 && n < AUDIT_SENTRY_ENVELOPE_MAX,
           "worst case %d: %ld bytes fit AUDIT_SENTRY_ENVELOPE_MAX", pass, n);
        split(buf, n, "event", &e, pass ? "worst U+FFFD" : "worst escapes");
        ok(json_integer_value(json_object_get(json_object_get(e.payload,
                              "extra"), "count")) == LLONG_MIN,
           "worst case %d: LLONG_MIN count", pass);
        release_envelope(&e);
    }
}


/* Every smaller buffer fails, every big enough one gives the same. */

static void
test_envelope_sizes(void)
{
    long            n, m;
    size_t          size, bad;
    char           *copy, *small;
    audit_event_t   ev;

    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.decision = S("denied");
    ev.rule = S("rule \"quoted\"\n");
    ev.reason = S("r\xff");
    ev.role = S("doctor");

    n = audit_sentry_envelope(&ev, NULL, DSN, &opts_all, NULL, NOW, buf,
                              sizeof(buf));
    if (!ok(n > 0, "sizes: encoded")) {
        return;
    }

    copy = malloc(n + 1);
    memcpy(copy, buf, n + 1);

    bad = 0;

    for (size = 0; size <= (size_t) n + 8; size++) {
        small = malloc(size ? size : 1);
        m = audit_sentry_envelope(&ev, NULL, DSN, &opts_all, NULL, NOW,
                                  small, size);

        if (size <= (size_t) n ? m != -1
            : (m != n || memcmp(small, copy, n + 1) != 0))
        {
            if (bad++ == 0) {
                diag("size %zu gave %ld", size, m);
            }
        }

        free(small);
    }

    is_int(bad, 0, "sizes: -1 below %ld + 1 bytes, the same above", n);

    free(copy);
}


static void
test_envelope_dsn(void)
{
    long                n;
    size_t              i;
    envelope_t          e;
    audit_event_t       ev;
    audit_sentry_dsn_t  d;
    char                long_dsn[AUDIT_SENTRY_DSN_MAX + 2];

    static const char  *texts[] = {
        "https://k@h.example/1",
        "http://k@h.example:8080/sub/path/1",
        "https://k@[2001:db8::1]:9443/77",
        "http://k@[::1]/5"
    };

    base(&ev, AUDIT_LOGIN_FAILURE);

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        audit_sentry_dsn_parse(texts[i], strlen(texts[i]), &d, NULL, 0);
        n = audit_sentry_envelope(&ev, &d, NULL, NULL, NULL, NOW, buf,
                                  sizeof(buf));
        split(buf, n, "event", &e, texts[i]);
        is_str(str(e.head, "dsn"), texts[i], "dsn rebuilt: %s", texts[i]);
        release_envelope(&e);
    }

    n = audit_sentry_envelope(&ev, NULL, NULL, NULL, NULL, NOW, buf,
                              sizeof(buf));
    split(buf, n, "event", &e, "no dsn");
    ok(json_object_get(e.head, "dsn") == NULL, "no dsn: none in the header");
    is_int(json_object_size(e.head), 3, "no dsn: event_id, sent_at, sdk");
    release_envelope(&e);

    memset(long_dsn, 'a', sizeof(long_dsn) - 1);
    long_dsn[sizeof(long_dsn) - 1] = '\0';
    n = audit_sentry_envelope(&ev, NULL, long_dsn, NULL, NULL, NOW, buf,
                              sizeof(buf));
    split(buf, n, "event", &e, "long dsn");
    ok(json_object_get(e.head, "dsn") == NULL,
       "dsn over the max: left out rather than cut");
    release_envelope(&e);
}


/* --- client reports ---------------------------------------------------- */


static void
test_client_report(void)
{
    long                     n;
    size_t                   i;
    json_t                  *de, *x;
    envelope_t               e;
    audit_sentry_discards_t  d;

    static const char  *reasons[] = {
        "ratelimit_backoff", "queue_overflow", "network_error", "send_error"
    };

    memset(&d, 0, sizeof(d));
    buf[0] = 'x';
    is_int(audit_sentry_client_report(&d, DSN, NOW, buf, sizeof(buf)), 0,
           "report: nothing to report");
    is_int(buf[0], '\0', "report: nothing written");
    is_int(audit_sentry_client_report(NULL, DSN, NOW, buf, sizeof(buf)), 0,
           "report: NULL counts");

    d.ratelimit_backoff = 3;
    d.network_error = 5;
    n = audit_sentry_client_report(&d, DSN, NOW, buf, sizeof(buf));
    if (split(buf, n, "client_report", &e, "report")) {
        ok(json_object_get(e.head, "event_id") == NULL,
           "report: no event_id");
        is_str(str(e.head, "sent_at"), "2026-11-23T03:26:03.123Z",
               "report: sent_at");
        is_str(str(e.head, "dsn"), DSN, "report: dsn");
        is_str(json_string_value(path(e.head, "sdk", "name")),
               "ngx_http_audit", "report: sdk");
        is_str(str(e.payload, "timestamp"), "2026-11-23T03:26:03.123Z",
               "report: timestamp");
        is_int(json_object_size(e.payload), 2, "report: two members");

        de = json_object_get(e.payload, "discarded_events");
        is_int(json_array_size(de), 2, "report: two nonzero reasons");

        x = json_array_get(de, 0);
        is_str(str(x, "reason"), "ratelimit_backoff", "report: 1st reason");
        is_str(str(x, "category"), "error", "report: 1st category");
        is_int(json_integer_value(json_object_get(x, "quantity")), 3,
               "report: 1st quantity");
        is_int(json_object_size(x), 3, "report: reason, category, quantity");

        x = json_array_get(de, 1);
        is_str(str(x, "reason"), "network_error", "report: 2nd reason");
        is_int(json_integer_value(json_object_get(x, "quantity")), 5,
               "report: 2nd quantity");
    }
    release_envelope(&e);

    d.ratelimit_backoff = 1;
    d.queue_overflow = 2;
    d.network_error = 3;
    d.send_error = ULLONG_MAX;
    n = audit_sentry_client_report(&d, NULL, NOW, buf, sizeof(buf));
    if (split(buf, n, "client_report", &e, "report all")) {
        de = json_object_get(e.payload, "discarded_events");
        is_int(json_array_size(de), 4, "report: four reasons");

        for (i = 0; i < 4; i++) {
            is_str(str(json_array_get(de, i), "reason"), reasons[i],
                   "report: reason %zu in order", i);
        }

        is_int(json_integer_value(json_object_get(json_array_get(de, 3),
                                                  "quantity")),
               4294967295LL, "report: quantity clamped to a u32");
        ok(json_object_get(e.head, "dsn") == NULL, "report: no dsn given");
    }
    release_envelope(&e);

    is_int(audit_sentry_client_report(&d, DSN, NOW, buf, 100), -1,
           "report: small buffer");
    is_int(audit_sentry_client_report(&d, DSN, NOW, buf, (size_t) n), -1,
           "report: no room for the NUL");
    is_int(audit_sentry_client_report(&d, NULL, NOW, buf, (size_t) n + 1), n,
           "report: exact buffer");

    memset(big, '\x01', AUDIT_SENTRY_DSN_MAX);
    big[AUDIT_SENTRY_DSN_MAX] = '\0';
    n = audit_sentry_client_report(&d, big, NOW, buf, AUDIT_SENTRY_REPORT_MAX);
    ok(n > 0 && n < AUDIT_SENTRY_REPORT_MAX,
       "report: the worst dsn fits AUDIT_SENTRY_REPORT_MAX");
}


/* --- rate limits ------------------------------------------------------- */


#define T0  1000000000ULL


static int
limits(int status, const char *rl, const char *ra, unsigned long long *err,
    unsigned long long *rep)
{
    return audit_sentry_rate_limits(status, rl, rl ? strlen(rl) : 0, ra,
                                    ra ? strlen(ra) : 0, T0, err, rep);
}


static void
rl_is(int status, const char *rl, const char *ra, int want_rc,
    unsigned long long want_err, unsigned long long want_rep,
    const char *name)
{
    int                 rc;
    unsigned long long  err, rep;

    err = 0;
    rep = 0;
    rc = limits(status, rl, ra, &err, &rep);

    is_int(rc, want_rc, "rate limits %s: returns %d", name, want_rc);
    ok(err == (want_err ? T0 + want_err : 0),
       "rate limits %s: events until +%llu ms (got +%lld)", name, want_err,
       err ? (long long) (err - T0) : -1LL);
    ok(rep == (want_rep ? T0 + want_rep : 0),
       "rate limits %s: reports until +%llu ms (got +%lld)", name, want_rep,
       rep ? (long long) (rep - T0) : -1LL);
}


static void
test_rate_limits(void)
{
    int                 rc;
    unsigned long long  err, rep;

    /* develop.sentry.dev, "Rate Limiting", the examples */
    rl_is(429, "60:transaction:key, 2700:default;error;security:organization",
          "2700", 1, 2700000, 0, "docs example 1");
    rl_is(429, "60::organization, 2700::organization", "2700", 1, 2700000,
          2700000, "docs example 2 (empty categories)");
    rl_is(429, "2700:metric_bucket:organization:quota_exceeded:custom",
          "2700", 0, 0, 0, "docs example 3 (metric buckets only)");

    /* the same with the docs' line breaks and indentation */
    rl_is(429, "\t60:transaction:key,\t  2700 : default ; error ; security"
          " : organization", NULL, 1, 2700000, 0, "spaces ignored");

    /* one kind of data at a time */
    rl_is(200, "30:error:project", NULL, 1, 30000, 0, "error only");
    rl_is(200, "30:default:project", NULL, 1, 30000, 0, "default counts");
    rl_is(200, "30:internal:project", NULL, 1, 0, 30000, "internal only");
    rl_is(200, "30:transaction;session;replay:project", NULL, 0, 0, 0,
          "categories without error");
    rl_is(200, "30:error;internal:key", NULL, 1, 30000, 30000,
          "error and internal");
    rl_is(200, "30:frobnicate:key", NULL, 0, 0, 0, "unknown category only");
    rl_is(200, "30:frobnicate;error:key", NULL, 1, 30000, 0,
          "unknown category beside error");

    /* float seconds, rounded up to the ms */
    rl_is(200, "2.5:error:key", NULL, 1, 2500, 0, "float retry_after");
    rl_is(200, "0.0001:error:key", NULL, 1, 1, 0, "below a ms rounds up");
    rl_is(200, "1.2345:error:key", NULL, 1, 1235, 0, "past ms rounds up");
    rl_is(200, "1.2340000:error:key", NULL, 1, 1234, 0, "trailing zeros");
    rl_is(200, "60:error", NULL, 1, 60000, 0, "no scope");
    rl_is(200, "60", NULL, 1, 60000, 60000, "seconds alone: all");
    rl_is(200, "60:error:organization:usage_exceeded:ns:future:more", NULL,
          1, 60000, 0, "more dimensions ignored");

    /* the longer of overlapping limits */
    rl_is(200, "10:error:key, 50:error:org, 20::org", NULL, 1, 50000, 20000,
          "longest per kind kept");
    err = T0 + 90000;
    rep = T0 + 5000;
    rc = limits(200, "30:error;internal:key", NULL, &err, &rep);
    is_int(rc, 1, "existing: applies");
    ok(err == T0 + 90000, "existing longer limit kept");
    ok(rep == T0 + 30000, "existing shorter limit extended");

    /* 200 with the header: honoured */
    rl_is(200, "120::organization", NULL, 1, 120000, 120000,
          "200 with X-Sentry-Rate-Limits");

    /* the header wins over Retry-After */
    rl_is(429, "5:error:key", "100", 1, 5000, 0, "header over Retry-After");
    rl_is(429, "5:transaction:key", "100", 0, 0, 0,
          "header for others: Retry-After unused");

    /* Retry-After on a 429 alone */
    rl_is(429, NULL, "120", 1, 120000, 120000, "Retry-After on 429");
    rl_is(429, "", " 7 ", 1, 7000, 7000, "empty header, Retry-After");
    rl_is(429, NULL, "Wed, 21 Oct 2015 07:28:00 GMT", 1, 60000, 60000,
          "HTTP-date Retry-After: 60 s");
    rl_is(429, NULL, NULL, 1, 60000, 60000, "bare 429: 60 s");
    rl_is(429, "garbage", NULL, 1, 60000, 60000,
          "429 with a malformed header: 60 s");
    rl_is(429, "x:error:key, :error", "3", 1, 3000, 3000,
          "429 with only malformed limits: Retry-After");
    rl_is(200, NULL, "120", 0, 0, 0, "Retry-After on a 200 ignored");
    rl_is(503, NULL, "120", 0, 0, 0, "Retry-After on a 503 ignored");
    rl_is(200, NULL, NULL, 0, 0, 0, "nothing");
    rl_is(200, "garbage, -5:error:key, 1e3:error:key, inf:error:key", NULL,
          0, 0, 0, "malformed limits ignored");
    rl_is(200, ",,60:error:key,,", NULL, 1, 60000, 0, "empty entries");

    /* huge values saturate rather than wrap */
    err = 0;
    rep = 0;
    limits(200, "99999999999999999999999:error:key", NULL, &err, &rep);
    ok(err > T0 + 1000000000000ULL, "huge retry_after: far, not wrapped");
    err = 0;
    audit_sentry_rate_limits(200, "60:error:key", 12, NULL, 0,
                             ULLONG_MAX - 10, &err, &rep);
    ok(err == ULLONG_MAX, "now near the end of time: saturates");

    /* len bounds the headers, NULL deadlines are skipped */
    err = 0;
    rep = 0;
    audit_sentry_rate_limits(200, "5:error:key, 99:error:key", 11, NULL, 0,
                             T0, &err, &rep);
    ok(err == T0 + 5000, "rl_len bounds the header");
    err = 0;
    audit_sentry_rate_limits(429, NULL, 0, "12345", 2, T0, &err, NULL);
    ok(err == T0 + 12000, "ra_len bounds Retry-After");
}


static void
test_envelope_fault(void)
{
    long                   n;
    json_t                *x;
    envelope_t             e;
    audit_event_t          ev;
    audit_sentry_dsn_t     d;
    audit_sentry_fault_t   f;

    audit_sentry_dsn_parse(DSN, strlen(DSN), &d, NULL, 0);

    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.severity = AUDIT_SEV_WARNING;

    f.kind = "upstream_error";
    f.detail = "502";
    f.title = "Upstream error 502";

    n = audit_sentry_envelope_fault(&ev, &f, &d, DSN, &opts_all, NULL, NOW,
                                    buf, sizeof(buf));

    if (!split(buf, n, "event", &e, "upstream_error")) {
        release_envelope(&e);
        return;
    }

    x = json_object_get(e.payload, "fingerprint");
    is_str(json_string_value(json_array_get(x, 0)), "upstream_error:502",
           "fault: fingerprint KIND:DETAIL");
    is_str(json_string_value(path(e.payload, "message", "formatted")),
           "Upstream error 502", "fault: the title is the message");
    x = json_array_get(path(e.payload, "exception", "values"), 0);
    is_str(str(x, "type"), "upstream_error", "fault: exception type is kind");
    is_str(json_string_value(path(e.payload, "tags", "action")),
           "upstream_error", "fault: action tag is kind");
    release_envelope(&e);

    f.kind = "module_fault";
    f.detail = NULL;
    f.title = "Fault";
    n = audit_sentry_envelope_fault(&ev, &f, &d, DSN, &opts_all, NULL, NOW,
                                    buf, sizeof(buf));
    ok(n > 0 && strstr(buf, "\"fingerprint\":[\"module_fault\"]") != NULL,
       "fault without detail: fingerprint KIND");

    f.title = NULL;
    is_int(audit_sentry_envelope_fault(&ev, &f, &d, DSN, &opts_all, NULL,
                                       NOW, buf, sizeof(buf)), -1,
           "fault without a title: refused");
    is_int(audit_sentry_envelope_fault(&ev, NULL, &d, DSN, &opts_all, NULL,
                                       NOW, buf, sizeof(buf)), -1,
           "no fault: refused");
}


int
main(void)
{
    test_dsn();
    test_auth();
    test_fingerprint();
    test_envelope_login();
    test_envelope_categories();
    test_envelope_refused();
    test_envelope_pii();
    test_envelope_strings();
    test_envelope_pieces();
    test_envelope_worst();
    test_envelope_sizes();
    test_envelope_dsn();
    test_client_report();
    test_rate_limits();
    test_envelope_fault();

    return done_testing();
}
