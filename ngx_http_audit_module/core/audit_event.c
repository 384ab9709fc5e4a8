/*
 * Audit event encoding (see audit_event.h).
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit_checkpoint.h"
#include "audit_event.h"
#include "audit_int.h"
#include "audit_json_int.h"
#include "audit_uuid.h"


/* the caps of the members outside the tables below */
#define AUDIT_EVENT_ROUTE_CAP     1024
#define AUDIT_EVENT_UA_CAP        256
#define AUDIT_EVENT_PRODUCER_CAP  256

/* 9999-12-31T23:59:59.999Z: RFC 3339 has four-digit years */
#define AUDIT_EVENT_TS_MAX     253402300799999ULL


typedef struct {
    const char          *key;
    size_t               offset;
    size_t               cap;
} audit_event_field_t;


static void audit_event_head(audit_json_t *o, const audit_event_t *ev);
static void audit_event_request(audit_json_t *o, const audit_event_t *ev,
    const audit_scrub_t *scrub);
static void audit_event_chain(audit_json_t *o, const audit_event_t *ev);
static void audit_event_str(audit_json_t *o, const char *key,
    audit_str_t v, size_t cap);
static void audit_event_num(audit_json_t *o, const char *key,
    long long v);
static const char  *audit_action_names[] = {
    "login_success",
    "login_failure",
    "authz_check",
    "session_create",
    "session_destroy",
    "session_invalid",
    "record_access",
    "bruteforce_suspected",
    "request_rejected",
    "checkpoint"
};


static const char  *audit_severity_names[] = {
    "info",
    "warning",
    "critical"
};


#define AUDIT_FIELD(name, cap)  { #name, offsetof(audit_event_t, name), cap }

static const audit_event_field_t  audit_event_common[] = {
    AUDIT_FIELD(request_id, 256),
    AUDIT_FIELD(ip, 128),
    AUDIT_FIELD(method, 64)
};

static const audit_event_field_t  audit_event_specific[] = {
    AUDIT_FIELD(user_id, 1024),
    AUDIT_FIELD(role, 256),
    AUDIT_FIELD(session_id, 256),
    AUDIT_FIELD(attempted_user, 256),
    AUDIT_FIELD(reason, 1024),
    AUDIT_FIELD(decision, 64),
    AUDIT_FIELD(rule, 256),
    AUDIT_FIELD(resource_type, 128),
    AUDIT_FIELD(resource_id, 1024),
    AUDIT_FIELD(access, 64)
};

/* the largest cap of a member that goes through audit_scrub_credentials() */
#define AUDIT_EVENT_SCRUBBED_CAP  1024

#define AUDIT_NELTS(a)  (sizeof(a) / sizeof((a)[0]))

#define AUDIT_FIELD_VALUE(ev, f)                                            \
    (*(const audit_str_t *) ((const char *) (ev) + (f)->offset))


const char *
audit_action_name(audit_action_t a)
{
    if ((unsigned) a >= AUDIT_ACTION_MAX) {
        return NULL;
    }

    return audit_action_names[a];
}


const char *
audit_severity_name(audit_severity_t s)
{
    if ((unsigned) s > AUDIT_SEV_CRITICAL) {
        return NULL;
    }

    return audit_severity_names[s];
}


audit_severity_t
audit_event_default_severity(audit_action_t a, int denied)
{
    switch (a) {

    case AUDIT_LOGIN_FAILURE:
    case AUDIT_SESSION_INVALID:
    case AUDIT_REQUEST_REJECTED:
        return AUDIT_SEV_WARNING;

    case AUDIT_AUTHZ_CHECK:
        return denied ? AUDIT_SEV_WARNING : AUDIT_SEV_INFO;

    case AUDIT_BRUTEFORCE_SUSPECTED:
        return AUDIT_SEV_CRITICAL;

    default:
        return AUDIT_SEV_INFO;
    }
}


/*
 * The members are written in order by hand and only the string values go
 * through jansson: building a json_t object and dumping it costs about
 * 8 ns per output byte here, several microseconds per event, while what
 * jansson is needed for -- escaping -- is needed only by strings that hold
 * a quote, a backslash or a control character.  Strings without are made
 * valid UTF-8 first and are then valid JSON string contents as they are.
 */

long
audit_event_encode(const audit_event_t *ev, const audit_scrub_t *scrub,
    char *buf, size_t size)
{
    size_t                      i;
    audit_str_t                 v;
    audit_json_t                o;
    const audit_event_field_t  *f;
    char                        text[2 * AUDIT_EVENT_SCRUBBED_CAP + 1];

    if (ev == NULL || buf == NULL || size < 2
        || audit_action_name(ev->action) == NULL
        || audit_severity_name(ev->severity) == NULL
        || ev->seq > (unsigned long long) INT64_MAX)
    {
        return -1;
    }

    audit_json_init(&o, buf, size - 2);

    audit_event_head(&o, ev);
    audit_event_request(&o, ev, scrub);

    for (i = 0; i < AUDIT_NELTS(audit_event_specific); i++) {
        f = &audit_event_specific[i];
        v = AUDIT_FIELD_VALUE(ev, f);

        /*
         * What a person typed or a URI carried may be a credential (a
         * token pasted as a username, "/records/<jwt>"); the member keeps
         * at most cap bytes, so twice that is read in full
         */
        if (scrub != NULL && v.data != NULL && v.len != 0
            && (f->offset == offsetof(audit_event_t, attempted_user)
                || f->offset == offsetof(audit_event_t, resource_id)))
        {
            v.len = audit_scrub_credentials(v.data, v.len, text,
                                            sizeof(text));
            v.data = text;
        }

        audit_event_str(&o, f->key, v, f->cap);
    }

    if (ev->count != 0) {
        audit_event_num(&o, "count", ev->count);
    }

    if (ev->window != 0) {
        audit_event_num(&o, "window", ev->window);
    }

    audit_event_chain(&o, ev);
    audit_json_raw(&o, "}", 1);

    if (o.error) {
        return -1;
    }

    buf[o.n++] = '\n';
    buf[o.n] = '\0';

    return (long) o.n;
}


/* id, ts, action, severity: always there, never in need of escaping */

static void
audit_event_head(audit_json_t *o, const audit_event_t *ev)
{
    const char  *name;
    char         text[37];

    audit_json_raw(o, "{\"id\":\"", 7);
    audit_uuid_format(ev->id, text);
    audit_json_raw(o, text, 36);

    audit_json_raw(o, "\",\"ts\":\"", 8);
    audit_rfc3339_ms(ev->ts_ms, text);
    audit_json_raw(o, text, 24);

    name = audit_action_names[ev->action];
    audit_json_raw(o, "\",\"action\":\"", 12);
    audit_json_raw(o, name, strlen(name));

    name = audit_severity_names[ev->severity];
    audit_json_raw(o, "\",\"severity\":\"", 14);
    audit_json_raw(o, name, strlen(name));
    audit_json_raw(o, "\"", 1);
}


/* request_id, ip, method, route, status, user_agent */

static void
audit_event_request(audit_json_t *o, const audit_event_t *ev,
    const audit_scrub_t *scrub)
{
    size_t                      i;
    audit_str_t                 v;
    const audit_event_field_t  *f;
    char                        route[AUDIT_EVENT_ROUTE_CAP + 1];
    char                        ua[2 * AUDIT_EVENT_UA_CAP + 1];

    for (i = 0; i < AUDIT_NELTS(audit_event_common); i++) {
        f = &audit_event_common[i];
        audit_event_str(o, f->key, AUDIT_FIELD_VALUE(ev, f), f->cap);
    }

    if (ev->uri.data != NULL && ev->uri.len != 0) {
        v.data = route;
        v.len = audit_scrub_uri(scrub, ev->uri.data, ev->uri.len, route,
                                sizeof(route));
        audit_event_str(o, "route", v, AUDIT_EVENT_ROUTE_CAP);
    }

    if (ev->status != 0) {
        audit_event_num(o, "status", ev->status);
    }

    /*
     * Credentials out of the User-Agent too; the member keeps at most
     * AUDIT_EVENT_UA_CAP bytes of it, so twice that is read in full
     */
    v = ev->user_agent;

    if (scrub != NULL && v.data != NULL && v.len != 0) {
        v.len = audit_scrub_credentials(v.data, v.len, ua, sizeof(ua));
        v.data = ua;
    }

    audit_event_str(o, "user_agent", v, AUDIT_EVENT_UA_CAP);
}


/* producer, seq, prev: the event's place in its producer's chain */

static void
audit_event_chain(audit_json_t *o, const audit_event_t *ev)
{
    long  n;
    char  hex[65], member[AUDIT_CHECKPOINT_MEMBER_MAX];

    if (ev->producer.data == NULL || ev->producer.len == 0) {
        return;
    }

    audit_event_str(o, "producer", ev->producer, AUDIT_EVENT_PRODUCER_CAP);
    audit_event_num(o, "seq", (long long) ev->seq);

    if (!ev->has_prev) {
        audit_json_raw(o, ",\"prev\":null", 12);

    } else {
        audit_hex(ev->prev, sizeof(ev->prev), hex);

        audit_json_key(o, NULL, "prev");
        audit_json_raw(o, "\"", 1);
        audit_json_raw(o, hex, 64);
        audit_json_raw(o, "\"", 1);
    }

    /* a new chain names the one it follows (a restarted worker's) */
    audit_event_str(o, "after", ev->after, AUDIT_EVENT_PRODUCER_CAP);

    if (ev->checkpoint != NULL) {
        n = audit_checkpoint_member(ev->checkpoint, member, sizeof(member));

        if (n < 0) {
            o->error = 1;
            return;
        }

        audit_json_raw(o, member, (size_t) n);
    }
}


/*
 * Writes the member when v is present: v is made valid UTF-8 and cut so
 * that its escaped form takes at most cap bytes.
 */

static void
audit_event_str(audit_json_t *o, const char *key, audit_str_t v,
    size_t cap)
{
    if (v.data == NULL || v.len == 0) {
        return;
    }

    audit_json_key(o, NULL, key);
    audit_json_string_escaped(o, v.data, v.len, cap);
}


static void
audit_event_num(audit_json_t *o, const char *key, long long v)
{
    audit_json_key(o, NULL, key);
    audit_json_int(o, v);
}


/*
 * Formats ms as 2026-11-23T03:26:03.123Z.  The civil date comes from the
 * day count by the proleptic Gregorian era arithmetic (H. Hinnant's
 * civil_from_days), which needs no time zone and no lock.
 */

void
audit_rfc3339_ms(unsigned long long ms, char out[25])
{
    unsigned long long  days, secs, z, era, doe, yoe, doy, mp, y, m, d;

    if (ms > AUDIT_EVENT_TS_MAX) {
        ms = AUDIT_EVENT_TS_MAX;
    }

    secs = ms / 1000;
    days = secs / 86400;
    secs %= 86400;

    z = days + 719468;                  /* days since 0000-03-01 */
    era = z / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = yoe + era * 400 + (m <= 2);

    out[0] = (char) ('0' + y / 1000);
    out[1] = (char) ('0' + y / 100 % 10);
    out[2] = (char) ('0' + y / 10 % 10);
    out[3] = (char) ('0' + y % 10);
    out[4] = '-';
    out[5] = (char) ('0' + m / 10);
    out[6] = (char) ('0' + m % 10);
    out[7] = '-';
    out[8] = (char) ('0' + d / 10);
    out[9] = (char) ('0' + d % 10);
    out[10] = 'T';
    out[11] = (char) ('0' + secs / 36000);
    out[12] = (char) ('0' + secs / 3600 % 10);
    out[13] = ':';
    out[14] = (char) ('0' + secs % 3600 / 600);
    out[15] = (char) ('0' + secs % 3600 / 60 % 10);
    out[16] = ':';
    out[17] = (char) ('0' + secs % 60 / 10);
    out[18] = (char) ('0' + secs % 10);
    out[19] = '.';
    out[20] = (char) ('0' + ms % 1000 / 100);
    out[21] = (char) ('0' + ms % 100 / 10);
    out[22] = (char) ('0' + ms % 10);
    out[23] = 'Z';
    out[24] = '\0';
}


void
audit_hex(const unsigned char *p, size_t len, char *out)
{
    size_t             i;
    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 0x0f];
    }

    out[2 * len] = '\0';
}
