
/*
 * The offline verifier's reading of one line (audit_verify_json.h): only
 * the exact form the module writes (core/audit_event.c) is accepted.
 */


#include <string.h>

#include <jansson.h>

#include "audit_int.h"
#include "audit_verify.h"
#include "audit_verify_json.h"


static int audit_verify_only(json_t *obj, const char **names);


/*
 * A checkpoint line has the members the module writes and no other
 * (audit_event_encode() for AUDIT_CHECKPOINT): its signature covers only
 * the canonical fields, and no later line's prev covers the final one,
 * so anything more would be unverified text in a verified line
 */

static const char  *audit_verify_line_members[] = {
    "id", "ts", "action", "severity", "producer", "seq", "prev", "after",
    "checkpoint", NULL
};

static const char  *audit_verify_cp_members[] = {
    "seq", "head", "count", "prev_sig", "interval", "final", "kid", "sig",
    NULL
};


static int
audit_verify_only(json_t *obj, const char **names)
{
    size_t       i;
    const char  *key;
    json_t      *value;

    json_object_foreach(obj, key, value) {
        for (i = 0; names[i]; i++) {
            if (strcmp(key, names[i]) == 0) {
                break;
            }
        }

        if (names[i] == NULL) {
            return -1;
        }
    }

    (void) value;

    return 0;
}


int
audit_verify_is(json_t *obj, const char *key, const char *value)
{
    json_t  *s;

    s = json_object_get(obj, key);

    return json_is_string(s) && strcmp(json_string_value(s), value) == 0;
}


/* the members of "checkpoint", exactly as audit_checkpoint_member() */

int
audit_verify_checkpoint(json_t *root, json_t *obj, unsigned long long ts_ms,
    audit_checkpoint_t *c)
{
    json_t  *seq, *head, *count, *prev, *interval, *final, *kid, *sig;

    memset(c, 0, sizeof(*c));

    if (!json_is_object(obj)
        || !audit_verify_is(root, "action", "checkpoint")
        || !json_is_string(json_object_get(root, "id"))
        || !json_is_string(json_object_get(root, "severity"))
        || audit_verify_only(root, audit_verify_line_members) != 0
        || audit_verify_only(obj, audit_verify_cp_members) != 0)
    {
        return -1;
    }

    seq = json_object_get(obj, "seq");
    head = json_object_get(obj, "head");
    count = json_object_get(obj, "count");
    prev = json_object_get(obj, "prev_sig");
    interval = json_object_get(obj, "interval");
    final = json_object_get(obj, "final");
    kid = json_object_get(obj, "kid");
    sig = json_object_get(obj, "sig");

    if (!json_is_object(obj)
        || !json_is_integer(seq) || json_integer_value(seq) < 0
        || !json_is_integer(count) || json_integer_value(count) < 0
        || !json_is_integer(interval) || json_integer_value(interval) < 0
        || !json_is_boolean(final)
        || !json_is_string(head) || !json_is_string(kid)
        || !json_is_string(sig)
        || !(json_is_null(prev) || json_is_string(prev))
        || json_string_length(kid) != AUDIT_CHECKPOINT_KID_LEN)
    {
        return -1;
    }

    c->seq = (unsigned long long) json_integer_value(seq);
    c->count = (unsigned long long) json_integer_value(count);
    c->interval_ms = (unsigned long long) json_integer_value(interval);
    c->final = json_is_true(final);
    memcpy(c->kid, json_string_value(kid), AUDIT_CHECKPOINT_KID_LEN + 1);

    if (json_string_length(head) != 64
        || audit_verify_unhex(json_string_value(head), c->head, 32) != 0
        || json_string_length(sig) != 2 * AUDIT_CHECKPOINT_SIG_LEN
        || audit_verify_unhex(json_string_value(sig), c->sig,
                              AUDIT_CHECKPOINT_SIG_LEN) != 0)
    {
        return -1;
    }

    c->ts_ms = ts_ms;

    if (json_is_string(prev)) {
        if (json_string_length(prev) != 2 * AUDIT_CHECKPOINT_SIG_LEN
            || audit_verify_unhex(json_string_value(prev), c->prev_sig,
                                  AUDIT_CHECKPOINT_SIG_LEN) != 0)
        {
            return -1;
        }

        c->has_prev_sig = 1;
    }

    return 0;
}


/* lowercase hex only: the form the module writes */

int
audit_verify_unhex(const char *s, unsigned char *out, size_t n)
{
    size_t  i;
    int     hi, lo;

    for (i = 0; i < n; i++) {
        hi = s[2 * i];
        lo = s[2 * i + 1];

        hi = (hi >= '0' && hi <= '9') ? hi - '0'
             : (hi >= 'a' && hi <= 'f') ? hi - 'a' + 10 : -1;
        lo = (lo >= '0' && lo <= '9') ? lo - '0'
             : (lo >= 'a' && lo <= 'f') ? lo - 'a' + 10 : -1;

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i] = (unsigned char) (hi << 4 | lo);
    }

    return 0;
}


/*
 * "2026-11-23T03:26:03.123Z" to unix ms; only the exact form the module
 * writes (formatting the result again must give the same string): the
 * canonical string is signed over the line's ts text, and a ts with more
 * digits, a leap second or a 31st of February has no single reading.
 */

int
audit_verify_ts(const char *s, unsigned long long *ms)
{
    int                 i;
    char                again[25];
    unsigned long long  y, m, d, hh, mm, ss, ff, era, yoe, doy, doe, days;

    if (strlen(s) != 24) {
        return -1;
    }

    for (i = 0; i < 24; i++) {
        if (i == 4 || i == 7 || i == 10 || i == 13 || i == 16 || i == 19
            || i == 23)
        {
            continue;
        }

        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
    }

    y = 0, m = 0, d = 0, hh = 0, mm = 0, ss = 0, ff = 0;

    for (i = 0; i < 4; i++) y = y * 10 + (unsigned) (s[i] - '0');
    for (i = 5; i < 7; i++) m = m * 10 + (unsigned) (s[i] - '0');
    for (i = 8; i < 10; i++) d = d * 10 + (unsigned) (s[i] - '0');
    for (i = 11; i < 13; i++) hh = hh * 10 + (unsigned) (s[i] - '0');
    for (i = 14; i < 16; i++) mm = mm * 10 + (unsigned) (s[i] - '0');
    for (i = 17; i < 19; i++) ss = ss * 10 + (unsigned) (s[i] - '0');
    for (i = 20; i < 23; i++) ff = ff * 10 + (unsigned) (s[i] - '0');

    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31 || hh > 23
        || mm > 59 || ss > 59)
    {
        return -1;
    }

    /* days from the civil date (H. Hinnant's days_from_civil) */
    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    days = era * 146097 + doe - 719468;

    *ms = ((days * 86400 + hh * 3600 + mm * 60 + ss) * 1000) + ff;

    audit_rfc3339_ms(*ms, again);

    return strcmp(again, s) == 0 ? 0 : -1;
}
