/*
 * Unit tests of UUIDv7 ids and the event encoder.  Every line encoded here
 * is parsed back with jansson and compared member by member.
 */

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "../audit_event.h"
#include "../audit_uuid.h"
#include "tap.h"


#define S(s)  ((audit_str_t) { (s), sizeof(s) - 1 })

#define BIG  (16 * 1024)


static char  line[AUDIT_EVENT_MAX];


/* Encodes ev into line and checks it is one line of one JSON object. */

static json_t *
encode(const audit_event_t *ev, const audit_scrub_t *scrub, const char *name)
{
    long          n;
    json_t       *root;
    json_error_t  err;

    n = audit_event_encode(ev, scrub, line, sizeof(line));
    if (!ok(n > 0, "%s: encoded", name)) {
        return NULL;
    }

    ok((size_t) n == strlen(line), "%s: length returned, no NUL inside",
       name);
    ok(line[n - 1] == '\n' && memchr(line, '\n', n - 1) == NULL
       && memchr(line, '\r', n) == NULL, "%s: exactly one line", name);

    root = json_loadb(line, n, JSON_ALLOW_NUL, &err);
    if (!ok(json_is_object(root), "%s: parses as an object", name)) {
        diag("%s: %s", err.text, line);
        json_decref(root);
        return NULL;
    }

    return root;
}


/* The members of obj, in order, are exactly the comma-separated keys. */

static int
has_keys(json_t *obj, const char *keys)
{
    void        *it;
    size_t       len;
    const char  *key;

    for (it = json_object_iter(obj); it; it = json_object_iter_next(obj, it))
    {
        key = json_object_iter_key(it);
        len = strlen(key);

        if (strncmp(keys, key, len) != 0
            || (keys[len] != ',' && keys[len] != '\0'))
        {
            diag("member %s where %s was expected", key, keys);
            return 0;
        }

        keys += len + (keys[len] == ',');
    }

    if (*keys != '\0') {
        diag("missing %s", keys);
        return 0;
    }

    return 1;
}


static const char *
str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}


static void
base(audit_event_t *ev, audit_action_t action)
{
    unsigned char  rnd[10];

    memset(ev, 0, sizeof(*ev));
    memset(rnd, 0x11, sizeof(rnd));

    ev->action = action;
    ev->severity = audit_event_default_severity(action, 0);
    ev->ts_ms = 1795404363123ULL;
    audit_uuid7(ev->id, ev->ts_ms, rnd);
    ev->request_id = S("0f8fad5bd9cb469fa16570867728950e");
    ev->ip = S("203.0.113.42");
    ev->method = S("POST");
    ev->uri = S("/login");
    ev->status = 302;
    ev->user_agent = S("curl/8.0");
    ev->producer = S("node-a/3/1");
    ev->seq = 41;
    ev->has_prev = 1;
    memset(ev->prev, 0xab, sizeof(ev->prev));
}


#define COMMON  "id,ts,action,severity,request_id,ip,method,route,status," \
                "user_agent,"
#define CHAIN   "producer,seq,prev"


static void
test_uuid(void)
{
    int            i, version, variant;
    char           s[37], prev[37];
    unsigned char  id[16], rnd[10];
    unsigned long long  ms;

    memset(rnd, 0xff, sizeof(rnd));
    audit_uuid7(id, 0x0123456789abULL, rnd);

    version = id[6] >> 4;
    variant = id[8] >> 6;
    is_int(version, 7, "uuid: version nibble 7");
    is_int(variant, 2, "uuid: variant bits 10");

    ms = 0;
    for (i = 0; i < 6; i++) {
        ms = (ms << 8) | id[i];
    }
    ok(ms == 0x0123456789abULL, "uuid: timestamp round-trips");

    memset(rnd, 0, sizeof(rnd));
    audit_uuid7(id, 0x0123456789abULL, rnd);
    is_int(id[6] >> 4, 7, "uuid: version with zero randomness");
    is_int(id[8] >> 6, 2, "uuid: variant with zero randomness");

    audit_uuid_format(id, s);
    is_str(s, "01234567-89ab-7000-8000-000000000000", "uuid: formatted");
    is_int(strlen(s), 36, "uuid: 36 characters");
    ok(s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-'
       && strspn(s, "0123456789abcdef-") == 36, "uuid: 8-4-4-4-12 lowercase");

    memset(rnd, 0xff, sizeof(rnd));
    audit_uuid7(id, 1795404363123ULL, rnd);
    audit_uuid_format(id, s);
    ok(s[14] == '7' && strchr("89ab", s[19]) != NULL,
       "uuid: version and variant digits in the text");

    /* later ids sort later, whatever their randomness */
    prev[0] = '\0';
    for (i = 0; i < 64; i++) {
        memset(rnd, i % 2 ? 0xff : 0x00, sizeof(rnd));
        audit_uuid7(id, 1795404363123ULL + (unsigned long long) i * 997, rnd);
        audit_uuid_format(id, s);

        if (i > 0 && strcmp(prev, s) >= 0) {
            break;
        }

        memcpy(prev, s, sizeof(s));
    }
    is_int(i, 64, "uuid: formatted ids increase with the time");
}


static void
test_names(void)
{
    is_str(audit_action_name(AUDIT_LOGIN_SUCCESS), "login_success",
           "action name login_success");
    is_str(audit_action_name(AUDIT_BRUTEFORCE_SUSPECTED),
           "bruteforce_suspected", "action name bruteforce_suspected");
    ok(audit_action_name(AUDIT_ACTION_MAX) == NULL, "no name past the end");
    is_str(audit_severity_name(AUDIT_SEV_WARNING), "warning",
           "severity name");
    ok(audit_severity_name((audit_severity_t) 3) == NULL,
       "no severity past the end");

    is_int(audit_event_default_severity(AUDIT_LOGIN_SUCCESS, 0),
           AUDIT_SEV_INFO, "login_success is info");
    is_int(audit_event_default_severity(AUDIT_LOGIN_FAILURE, 0),
           AUDIT_SEV_WARNING, "login_failure is a warning");
    is_int(audit_event_default_severity(AUDIT_AUTHZ_CHECK, 0),
           AUDIT_SEV_INFO, "permitted authz_check is info");
    is_int(audit_event_default_severity(AUDIT_AUTHZ_CHECK, 1),
           AUDIT_SEV_WARNING, "denied authz_check is a warning");
    is_int(audit_event_default_severity(AUDIT_SESSION_CREATE, 0),
           AUDIT_SEV_INFO, "session_create is info");
    is_int(audit_event_default_severity(AUDIT_SESSION_DESTROY, 0),
           AUDIT_SEV_INFO, "session_destroy is info");
    is_int(audit_event_default_severity(AUDIT_SESSION_INVALID, 0),
           AUDIT_SEV_WARNING, "session_invalid is a warning");
    is_int(audit_event_default_severity(AUDIT_RECORD_ACCESS, 0),
           AUDIT_SEV_INFO, "record_access is info");
    is_int(audit_event_default_severity(AUDIT_BRUTEFORCE_SUSPECTED, 0),
           AUDIT_SEV_CRITICAL, "bruteforce_suspected is critical");
}


static void
test_actions(void)
{
    char            id[37];
    json_t         *j;
    audit_event_t   ev;

    base(&ev, AUDIT_LOGIN_SUCCESS);
    ev.user_id = S("u-17");
    ev.role = S("doctor");
    ev.session_id = S("s-3f2a");
    j = encode(&ev, NULL, "login_success");
    ok(has_keys(j, COMMON "user_id,role,session_id," CHAIN),
       "login_success: the members");
    audit_uuid_format(ev.id, id);
    is_str(str(j, "id"), id, "login_success: id");
    is_str(str(j, "ts"), "2026-11-23T03:26:03.123Z", "login_success: ts");
    is_str(str(j, "action"), "login_success", "login_success: action");
    is_str(str(j, "severity"), "info", "login_success: severity");
    is_str(str(j, "request_id"), "0f8fad5bd9cb469fa16570867728950e",
           "login_success: request_id");
    is_str(str(j, "ip"), "203.0.113.42", "login_success: ip");
    is_str(str(j, "method"), "POST", "login_success: method");
    is_str(str(j, "route"), "/login", "login_success: route");
    is_int(json_integer_value(json_object_get(j, "status")), 302,
           "login_success: status");
    is_str(str(j, "user_agent"), "curl/8.0", "login_success: user_agent");
    is_str(str(j, "user_id"), "u-17", "login_success: user_id");
    is_str(str(j, "role"), "doctor", "login_success: role");
    is_str(str(j, "session_id"), "s-3f2a", "login_success: session_id");
    is_str(str(j, "producer"), "node-a/3/1", "login_success: producer");
    is_int(json_integer_value(json_object_get(j, "seq")), 41,
           "login_success: seq");
    is_str(str(j, "prev"),
           "abababababababababababababababababababababababababababababababab",
           "login_success: prev in hex");
    json_decref(j);

    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.attempted_user = S("ann@clinic.example");
    ev.reason = S("bad_credentials");
    ev.status = 401;
    j = encode(&ev, NULL, "login_failure");
    ok(has_keys(j, COMMON "attempted_user,reason," CHAIN),
       "login_failure: the members");
    is_str(str(j, "severity"), "warning", "login_failure: severity");
    is_str(str(j, "attempted_user"), "ann@clinic.example",
           "login_failure: attempted_user");
    is_str(str(j, "reason"), "bad_credentials", "login_failure: reason");
    json_decref(j);

    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.severity = audit_event_default_severity(AUDIT_AUTHZ_CHECK, 1);
    ev.method = S("DELETE");
    ev.uri = S("/api/patients/12");
    ev.status = 403;
    ev.user_id = S("u-17");
    ev.role = S("nurse");
    ev.decision = S("denied");
    ev.rule = S("admins-delete");
    j = encode(&ev, NULL, "authz_check");
    ok(has_keys(j, COMMON "user_id,role,decision,rule," CHAIN),
       "authz_check: the members");
    is_str(str(j, "severity"), "warning", "authz_check: severity");
    is_str(str(j, "decision"), "denied", "authz_check: decision");
    is_str(str(j, "rule"), "admins-delete", "authz_check: rule");
    json_decref(j);

    base(&ev, AUDIT_SESSION_CREATE);
    ev.user_id = S("u-17");
    ev.session_id = S("s-1");
    j = encode(&ev, NULL, "session_create");
    ok(has_keys(j, COMMON "user_id,session_id," CHAIN),
       "session_create: the members");
    json_decref(j);

    base(&ev, AUDIT_SESSION_DESTROY);
    ev.user_id = S("u-17");
    ev.session_id = S("s-1");
    j = encode(&ev, NULL, "session_destroy");
    ok(has_keys(j, COMMON "user_id,session_id," CHAIN),
       "session_destroy: the members");
    is_str(str(j, "action"), "session_destroy", "session_destroy: action");
    json_decref(j);

    /* no user: the token could not be read */
    base(&ev, AUDIT_SESSION_INVALID);
    ev.reason = S("bad_signature");
    ev.status = 0;
    j = encode(&ev, NULL, "session_invalid");
    ok(has_keys(j, "id,ts,action,severity,request_id,ip,method,route,"
                   "user_agent,reason," CHAIN),
       "session_invalid: the members, no status");
    is_str(str(j, "reason"), "bad_signature", "session_invalid: reason");
    json_decref(j);

    base(&ev, AUDIT_RECORD_ACCESS);
    ev.method = S("GET");
    ev.uri = S("/api/patients/12");
    ev.status = 200;
    ev.user_id = S("u-17");
    ev.role = S("doctor");
    ev.resource_type = S("patient");
    ev.resource_id = S("12");
    ev.access = S("viewed");
    j = encode(&ev, NULL, "record_access");
    ok(has_keys(j, COMMON "user_id,role,resource_type,resource_id,access,"
                   CHAIN), "record_access: the members");
    is_str(str(j, "resource_type"), "patient", "record_access: type");
    is_str(str(j, "resource_id"), "12", "record_access: id");
    is_str(str(j, "access"), "viewed", "record_access: access");
    json_decref(j);

    /* the first of a chain, no request fields at all */
    base(&ev, AUDIT_BRUTEFORCE_SUSPECTED);
    ev.request_id = (audit_str_t) { NULL, 5 };
    ev.method = (audit_str_t) { "GET", 0 };
    ev.uri = (audit_str_t) { NULL, 0 };
    ev.user_agent = (audit_str_t) { NULL, 0 };
    ev.status = 0;
    ev.attempted_user = S("ann@clinic.example");
    ev.count = 20;
    ev.window = 300;
    ev.seq = 0;
    ev.has_prev = 0;
    j = encode(&ev, NULL, "bruteforce_suspected");
    ok(has_keys(j, "id,ts,action,severity,ip,attempted_user,count,window,"
                   CHAIN), "bruteforce_suspected: the members");
    is_str(str(j, "severity"), "critical", "bruteforce_suspected: severity");
    is_int(json_integer_value(json_object_get(j, "count")), 20,
           "bruteforce_suspected: count");
    is_int(json_integer_value(json_object_get(j, "window")), 300,
           "bruteforce_suspected: window");
    is_int(json_integer_value(json_object_get(j, "seq")), 0,
           "first of a chain: seq 0");
    ok(json_is_null(json_object_get(j, "prev")), "first of a chain: null");
    json_decref(j);

    /* no producer: no chain */
    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.producer = (audit_str_t) { NULL, 0 };
    j = encode(&ev, NULL, "no producer");
    ok(has_keys(j, "id,ts,action,severity,request_id,ip,method,route,status,"
                   "user_agent"), "no producer: no producer, seq, prev");
    json_decref(j);

    /* every member at once, the big numbers too */
    base(&ev, AUDIT_RECORD_ACCESS);
    ev.user_id = S("u");
    ev.role = S("r");
    ev.session_id = S("s");
    ev.attempted_user = S("a");
    ev.reason = S("why");
    ev.decision = S("permitted");
    ev.rule = S("rule");
    ev.resource_type = S("patient");
    ev.resource_id = S("7");
    ev.access = S("updated");
    ev.status = INT_MIN;
    ev.count = LLONG_MIN;
    ev.window = LLONG_MAX;
    ev.seq = INT64_MAX;
    j = encode(&ev, NULL, "every member");
    ok(has_keys(j, COMMON "user_id,role,session_id,attempted_user,reason,"
                   "decision,rule,resource_type,resource_id,access,count,"
                   "window," CHAIN), "every member: in order");
    is_int(json_integer_value(json_object_get(j, "status")), INT_MIN,
           "every member: INT_MIN status");
    is_int(json_integer_value(json_object_get(j, "count")), LLONG_MIN,
           "every member: LLONG_MIN count");
    is_int(json_integer_value(json_object_get(j, "window")), LLONG_MAX,
           "every member: LLONG_MAX window");
    is_int(json_integer_value(json_object_get(j, "seq")), INT64_MAX,
           "every member: the largest seq");
    json_decref(j);
}


static void
test_ts(void)
{
    size_t          i;
    json_t         *j;
    audit_event_t   ev;

    static const struct {
        unsigned long long   ms;
        const char          *ts;
    } cases[] = {
        { 0, "1970-01-01T00:00:00.000Z" },
        { 7, "1970-01-01T00:00:00.007Z" },
        { 946684799999ULL, "1999-12-31T23:59:59.999Z" },
        { 951782400000ULL, "2000-02-29T00:00:00.000Z" },
        { 1795404363123ULL, "2026-11-23T03:26:03.123Z" },
        { 2147483648000ULL, "2038-01-19T03:14:08.000Z" },
        { 4102444800123ULL, "2100-01-01T00:00:00.123Z" },
        { 253402300799999ULL, "9999-12-31T23:59:59.999Z" },
        { ULLONG_MAX, "9999-12-31T23:59:59.999Z" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        base(&ev, AUDIT_LOGIN_SUCCESS);
        ev.ts_ms = cases[i].ms;
        j = encode(&ev, NULL, "ts");
        is_str(str(j, "ts"), cases[i].ts, "ts %llu", cases[i].ms);
        json_decref(j);
    }
}


/* Hostile values come back as they were, made valid UTF-8. */

static void
test_injection(void)
{
    size_t          i;
    json_t         *j, *v;
    audit_event_t   ev;

    static const struct {
        const char  *in;
        size_t       len;
        const char  *out;
        size_t       outlen;
        const char  *name;
    } cases[] = {
        { "a\nb", 3, "a\nb", 3, "newline" },
        { "a\r\n{\"action\":\"x\"}", 18, "a\r\n{\"action\":\"x\"}", 18,
          "CRLF and a forged object" },
        { "\"},{\"", 5, "\"},{\"", 5, "quotes" },
        { "a\\", 2, "a\\", 2, "trailing backslash" },
        { "a\0b\0", 4, "a\0b\0", 4, "NUL bytes" },
        { "\x1b[31m\x7f\t", 8, "\x1b[31m\x7f\t", 8, "escape sequence" },
        { "a\x80z", 3, "a\xef\xbf\xbdz", 5, "lone continuation byte" },
        { "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, "overlong C0 AF" },
        { "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9,
          "surrogate ED A0 80" },
        { "x\xf0\x9f\x98", 4, "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 10,
          "truncated 4-byte sequence" },
        { "\xf4\x90\x80\x80", 4,
          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12,
          "past U+10FFFF" },
        { "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
          "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "valid UTF-8 kept" },
        { "\xe2\x80\xa8", 3, "\xe2\x80\xa8", 3, "U+2028 kept" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        base(&ev, AUDIT_LOGIN_FAILURE);
        ev.attempted_user.data = cases[i].in;
        ev.attempted_user.len = cases[i].len;
        ev.reason = ev.attempted_user;
        ev.user_agent = ev.attempted_user;
        ev.uri = ev.attempted_user;
        ev.producer = ev.attempted_user;

        j = encode(&ev, NULL, cases[i].name);
        v = json_object_get(j, "attempted_user");
        ok(json_string_length(v) == cases[i].outlen
           && memcmp(json_string_value(v), cases[i].out, cases[i].outlen)
              == 0, "%s: the value", cases[i].name);
        ok(json_equal(v, json_object_get(j, "user_agent"))
           && json_equal(v, json_object_get(j, "producer"))
           && json_equal(v, json_object_get(j, "reason"))
           && json_equal(v, json_object_get(j, "route")),
           "%s: the same in every member", cases[i].name);
        json_decref(j);
    }
}


static void
fill(char *p, const char *unit, size_t ulen, size_t len)
{
    size_t  i;

    for (i = 0; i + ulen <= len; i += ulen) {
        memcpy(p + i, unit, ulen);
    }

    memset(p + i, 'z', len - i);
}


/* What each member's value is capped at once escaped. */

static const struct {
    const char  *key;
    size_t       cap;
} caps[] = {
    { "request_id", 256 }, { "ip", 128 }, { "method", 64 },
    { "route", 1024 }, { "user_agent", 256 }, { "user_id", 1024 },
    { "role", 256 }, { "session_id", 256 }, { "attempted_user", 256 },
    { "reason", 1024 }, { "decision", 64 }, { "rule", 256 },
    { "resource_type", 128 }, { "resource_id", 1024 }, { "access", 64 },
    { "producer", 256 }
};


static void
every_field(audit_event_t *ev, const char *p, size_t len)
{
    audit_str_t  v;

    v.data = p;
    v.len = len;

    ev->request_id = v;
    ev->ip = v;
    ev->method = v;
    ev->uri = v;
    ev->user_agent = v;
    ev->user_id = v;
    ev->role = v;
    ev->session_id = v;
    ev->attempted_user = v;
    ev->reason = v;
    ev->decision = v;
    ev->rule = v;
    ev->resource_type = v;
    ev->resource_id = v;
    ev->access = v;
    ev->producer = v;
}


/*
 * 16 KiB in every field, of each kind of content: the caps hold, the line
 * parses and fits in AUDIT_EVENT_MAX; the worst is reported.
 */

static void
test_caps(void)
{
    char           *big, *escaped;
    long            n, worst;
    size_t          i, k, len, elen;
    json_t         *j, *v;
    audit_event_t   ev;

    static const struct {
        const char  *unit;
        size_t       len;
        size_t       width;         /* escaped bytes per unit */
        size_t       out;           /* decoded bytes per unit; 0: mixed */
        const char  *name;
    } kinds[] = {
        { "a", 1, 1, 1, "ASCII" },
        { "\x01", 1, 6, 1, "control characters" },
        { "\"", 1, 2, 1, "quotes" },
        { "\0", 1, 6, 1, "NUL bytes" },
        { "\x80", 1, 3, 3, "invalid bytes" },
        { "\xc3\xa9", 2, 2, 2, "two-byte characters" },
        { "\xe2\x82\xac", 3, 3, 3, "three-byte characters" },
        { "\xf0\x9f\x98\x80", 4, 4, 4, "four-byte characters" },
        { "a\n", 2, 3, 0, "lines" },
    };

    big = malloc(BIG);
    escaped = malloc(AUDIT_EVENT_MAX);
    if (big == NULL || escaped == NULL) {
        ok(0, "malloc");
        return;
    }

    worst = 0;

    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        fill(big, kinds[k].unit, kinds[k].len, BIG);

        base(&ev, AUDIT_BRUTEFORCE_SUSPECTED);
        ev.severity = AUDIT_SEV_CRITICAL;
        every_field(&ev, big, BIG);
        ev.status = INT_MIN;
        ev.count = LLONG_MIN;
        ev.window = LLONG_MIN;
        ev.seq = INT64_MAX;

        n = audit_event_encode(&ev, NULL, line, AUDIT_EVENT_MAX);
        if (n > worst) {
            worst = n;
        }

        j = encode(&ev, NULL, kinds[k].name);

        for (i = 0; j && i < sizeof(caps) / sizeof(caps[0]); i++) {
            v = json_object_get(j, caps[i].key);

            /* the escaped length of the value, as jansson writes it */
            elen = json_dumpb(v, escaped, AUDIT_EVENT_MAX, JSON_ENCODE_ANY)
                   - 2;
            len = json_string_length(v);

            if (strcmp(caps[i].key, "route") == 0) {
                /* cut by the scrubber at 1024 bytes first */
                ok(elen <= caps[i].cap, "%s: route within its cap",
                   kinds[k].name);
                continue;
            }

            if (!ok(elen <= caps[i].cap
                    && elen + kinds[k].width > caps[i].cap,
                    "%s: %s cut at its cap", kinds[k].name, caps[i].key))
            {
                diag("escaped %zu, cap %zu", elen, caps[i].cap);
            }

            if (kinds[k].out) {
                ok(len % kinds[k].out == 0,
                   "%s: %s cut at a character boundary", kinds[k].name,
                   caps[i].key);
            }
        }

        json_decref(j);
    }

    diag("the longest line: %ld bytes of %d", worst, AUDIT_EVENT_MAX);
    ok(worst > 0 && worst < AUDIT_EVENT_MAX, "AUDIT_EVENT_MAX suffices");

    /* user_agent and attempted_user keep 256 bytes of plain text */
    fill(big, "abc", 3, BIG);
    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.user_agent.data = big;
    ev.user_agent.len = BIG;
    ev.attempted_user = ev.user_agent;
    j = encode(&ev, NULL, "plain 16 KiB");
    is_int(json_string_length(json_object_get(j, "user_agent")), 256,
           "user_agent truncated to 256 bytes");
    is_int(json_string_length(json_object_get(j, "attempted_user")), 256,
           "attempted_user truncated to 256 bytes");
    json_decref(j);

    /* at a UTF-8 boundary: 255 bytes of euros, not 256 */
    fill(big, "\xe2\x82\xac", 3, BIG);
    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.user_agent.data = big;
    ev.user_agent.len = BIG;
    j = encode(&ev, NULL, "euros");
    v = json_object_get(j, "user_agent");
    is_int(json_string_length(v), 255, "user_agent cut before a character");
    ok(memcmp(json_string_value(v) + 252, "\xe2\x82\xac", 3) == 0,
       "... that is whole");
    json_decref(j);

    free(big);
    free(escaped);
}


static void
test_small(void)
{
    long            n, m;
    char           *buf;
    size_t          size;
    audit_event_t   ev;

    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.user_id = S("u-17");
    ev.role = S("doctor");
    ev.decision = S("permitted");
    ev.rule = S("a \"quoted\" rule\n");

    n = audit_event_encode(&ev, NULL, line, sizeof(line));
    ok(n > 0, "small: the full line is %ld bytes", n);

    /* exactly sized heap buffers, so that ASan sees any overflow */
    for (size = 0; size <= (size_t) n + 1; size++) {
        buf = malloc(size ? size : 1);
        m = audit_event_encode(&ev, NULL, buf, size);

        if (size < (size_t) n + 1 && m != -1) {
            break;
        }

        if (size == (size_t) n + 1
            && (m != n || memcmp(buf, line, n + 1) != 0))
        {
            break;
        }

        free(buf);
        buf = NULL;
    }

    free(buf);
    is_int(size, n + 2, "-1 for every buffer smaller than the line + NUL");

    ev.seq = (unsigned long long) INT64_MAX + 1;
    is_int(audit_event_encode(&ev, NULL, line, sizeof(line)), -1,
           "-1 for a seq past 2^63 - 1");
    ev.seq = 1;
    ev.action = AUDIT_ACTION_MAX;
    is_int(audit_event_encode(&ev, NULL, line, sizeof(line)), -1,
           "-1 for an unknown action");
    ev.action = AUDIT_AUTHZ_CHECK;
    ev.severity = (audit_severity_t) 7;
    is_int(audit_event_encode(&ev, NULL, line, sizeof(line)), -1,
           "-1 for an unknown severity");
}


static void
test_route(void)
{
    json_t         *j;
    audit_event_t   ev;
    audit_scrub_t  *scrub;

    scrub = audit_scrub_create(NULL, 0);
    ok(scrub != NULL, "route: scrubber");

    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.uri = S("/login?password=hunter2&next=/x#frag");
    ev.attempted_user = S("ann");

    j = encode(&ev, scrub, "scrubbed route");
    is_str(str(j, "route"), "/login?password=[Filtered]&next=/x",
           "route: secret filtered");
    ok(strstr(line, "hunter2") == NULL, "route: the password is nowhere");
    json_decref(j);

    j = encode(&ev, NULL, "unscrubbed route");
    is_str(str(j, "route"), "/login?password=hunter2&next=/x",
           "route: no scrubber, only the fragment dropped");
    json_decref(j);

    audit_scrub_free(scrub);
}


/* JWTs and Bearer/Basic credentials out of the route and the User-Agent */

static void
test_credentials(void)
{
    size_t          i;
    char            ua[400];
    json_t         *j;
    audit_event_t   ev;
    audit_scrub_t  *scrub;

#define JWT  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl"

    static const struct {
        const char  *uri, *ua, *route, *ua_out;
    } cases[] = {
        { "/api?jwt=" JWT, "curl/8.0 " JWT,
          "/api?jwt=[Filtered]", "curl/8.0 [Filtered]" },
        { "/reset/" JWT "?x=1", "app (" JWT ")",
          "/reset/[Filtered]?x=1", "app ([Filtered])" },
        { "/cb?h=Bearer+s3cr3t-t0k3n", "x Bearer s3cr3t-t0k3n y",
          "/cb?h=Bearer+[Filtered]", "x Bearer [Filtered] y" },
        { "/cb?" JWT "=1", "Basic dXNlcjpzM2NyM3QtdDBrM24=",
          "/cb?[Filtered]=1", "Basic [Filtered]" },
    };

    scrub = audit_scrub_create(NULL, 0);
    ok(scrub != NULL, "credentials: scrubber");

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        base(&ev, AUDIT_AUTHZ_CHECK);
        ev.uri = (audit_str_t) { cases[i].uri, strlen(cases[i].uri) };
        ev.user_agent = (audit_str_t) { cases[i].ua, strlen(cases[i].ua) };

        j = encode(&ev, scrub, cases[i].uri);
        is_str(str(j, "route"), cases[i].route, "%s: route", cases[i].uri);
        is_str(str(j, "user_agent"), cases[i].ua_out, "%s: user_agent",
               cases[i].ua);
        ok(strstr(line, "eyJzdWIiOiJhbm4ifQ") == NULL
           && strstr(line, "s3cr3t") == NULL
           && strstr(line, "dXNlcjpzM2NyM3Q") == NULL,
           "%s: no part of a token in the line", cases[i].uri);
        json_decref(j);

        /* unscrubbed without a scrubber, as the route is */
        j = encode(&ev, NULL, "no scrubber");
        is_str(str(j, "user_agent"), cases[i].ua, "%s: no scrubber: kept",
               cases[i].ua);
        json_decref(j);
    }

    /* a token across the 256-byte cut is filtered whole, not cut */
    memset(ua, 'a', 240);
    memcpy(ua + 240, " " JWT, sizeof(" " JWT));
    base(&ev, AUDIT_AUTHZ_CHECK);
    ev.user_agent = (audit_str_t) { ua, strlen(ua) };
    j = encode(&ev, scrub, "long user_agent");
    ok(strstr(str(j, "user_agent"), " [Filtered]") != NULL
       && strstr(line, "eyJ") == NULL, "long user_agent: no part of the JWT");
    json_decref(j);
    j = encode(&ev, NULL, "long user_agent, no scrubber");
    ok(strstr(line, "eyJhbGciOi") != NULL,
       "... which without a scrubber shows its start");
    json_decref(j);

    /* a token typed as a username, a token in a record id */
    base(&ev, AUDIT_LOGIN_FAILURE);
    ev.attempted_user = S(JWT);
    ev.resource_type = S("Patient");
    ev.resource_id = S("Bearer s3cr3t-t0k3n");
    j = encode(&ev, scrub, "credentials in attempted_user, resource_id");
    is_str(str(j, "attempted_user"), "[Filtered]", "attempted_user: filtered");
    is_str(str(j, "resource_id"), "Bearer [Filtered]",
           "resource_id: filtered");
    ok(strstr(line, "eyJzdWIiOiJhbm4ifQ") == NULL
       && strstr(line, "s3cr3t") == NULL, "... no part of either in the line");
    json_decref(j);
    ev.attempted_user = S("anna@example.org");
    ev.resource_id = S("42");
    j = encode(&ev, scrub, "plain attempted_user, resource_id");
    is_str(str(j, "attempted_user"), "anna@example.org",
           "a plain attempted_user is kept");
    is_str(str(j, "resource_id"), "42", "a plain resource_id is kept");
    json_decref(j);

#undef JWT

    audit_scrub_free(scrub);
}


static void
test_sanitize(void)
{
    char    out[16];
    size_t  n;

    n = audit_utf8_sanitize("a\xc3\xa9", 3, out, sizeof(out));
    ok(n == 3 && memcmp(out, "a\xc3\xa9", 4) == 0, "sanitize: valid kept");

    n = audit_utf8_sanitize("a\xc3\xa9", 3, out, 3);
    ok(n == 1 && strcmp(out, "a") == 0,
       "sanitize: cut before a character that does not fit");

    n = audit_utf8_sanitize("a\xff", 2, out, 4);
    ok(n == 1 && strcmp(out, "a") == 0,
       "sanitize: no room for U+FFFD, none written");

    n = audit_utf8_sanitize("a\xff", 2, out, 5);
    ok(n == 4 && strcmp(out, "a\xef\xbf\xbd") == 0, "sanitize: U+FFFD");

    n = audit_utf8_sanitize("abc", 3, out, 1);
    ok(n == 0 && out[0] == '\0', "sanitize: room for the NUL only");

    memset(out, 'x', sizeof(out));
    is_int(audit_utf8_sanitize("abc", 3, out, 0), 0, "sanitize: size 0");
    ok(out[0] == 'x', "sanitize: size 0 writes nothing");

    n = audit_utf8_sanitize("a\0b", 3, out, sizeof(out));
    ok(n == 3 && memcmp(out, "a\0b", 4) == 0, "sanitize: NUL copied");
}


static void
test_after(void)
{
    json_t         *root;
    audit_event_t   ev;

    memset(&ev, 0, sizeof(ev));
    ev.action = AUDIT_AUTHZ_CHECK;
    ev.ts_ms = 1763868363123ULL;
    ev.producer.data = "web1/1763868363000/0";
    ev.producer.len = strlen(ev.producer.data);
    ev.after.data = "web1/1763860000000/0:41";
    ev.after.len = strlen(ev.after.data);

    root = encode(&ev, NULL, "after");
    if (root == NULL) {
        return;
    }

    is_str(json_string_value(json_object_get(root, "after")),
           "web1/1763860000000/0:41", "after: the chain it follows");
    ok(json_is_null(json_object_get(root, "prev")), "after: prev null");
    json_decref(root);

    ev.after.data = NULL;
    ev.after.len = 0;
    root = encode(&ev, NULL, "no after");
    ok(root && json_object_get(root, "after") == NULL, "no after: omitted");
    json_decref(root);
}


int
main(void)
{
    test_after();
    test_uuid();
    test_names();
    test_actions();
    test_ts();
    test_injection();
    test_caps();
    test_small();
    test_route();
    test_credentials();
    test_sanitize();

    return done_testing();
}
