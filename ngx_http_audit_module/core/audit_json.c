
/*
 * The core's JSON writer (see audit_json_int.h).
 */


#include <stddef.h>
#include <string.h>

#include <jansson.h>

#include "audit_event.h"
#include "audit_json_int.h"


/* input bytes made valid UTF-8 at a time, on the stack */
#define AUDIT_JSON_CHUNK  256


/* what audit_utf8_copy() did besides writing */
typedef struct {
    size_t               escaped;       /* the length once escaped */
    int                  full;          /* stopped for want of room */
} audit_utf8_copy_t;


static size_t audit_utf8_copy(const unsigned char *s, size_t len,
    unsigned char *out, size_t room, size_t budget, audit_utf8_copy_t *c);
static size_t audit_utf8_valid(const unsigned char *s, size_t len);


/*
 * 1 for the bytes a JSON string holds as they are: printable ASCII but
 * '"' and '\\'.  One load per byte in the copy's common case instead of
 * four comparisons.
 */

#define AUDIT_JSON_PLAIN16  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1

static const unsigned char  audit_json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,       /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,       /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,       /* 0x20 '"' */
    AUDIT_JSON_PLAIN16,                                   /* 0x30 */
    AUDIT_JSON_PLAIN16,                                   /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,       /* 0x50 '\\' */
    AUDIT_JSON_PLAIN16,                                   /* 0x60 */
    AUDIT_JSON_PLAIN16                                    /* 0x70 */
    /* 0x80-0xff: 0, checked as UTF-8 */
};


void
audit_json_init(audit_json_t *o, char *buf, size_t room)
{
    o->p = buf;
    o->n = 0;
    o->room = room;
    o->error = 0;
}


void
audit_json_key(audit_json_t *o, int *first, const char *key)
{
    if (first == NULL || !*first) {
        AUDIT_JSON_LIT(o, ",");
    }

    if (first != NULL) {
        *first = 0;
    }

    AUDIT_JSON_LIT(o, "\"");
    audit_json_raw(o, key, strlen(key));
    AUDIT_JSON_LIT(o, "\":");
}


void
audit_json_uint(audit_json_t *o, unsigned long long v, int negative)
{
    char  digits[20], *p;

    p = digits + sizeof(digits);

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    if (negative) {
        AUDIT_JSON_LIT(o, "-");
    }

    audit_json_raw(o, p, digits + sizeof(digits) - p);
}


void
audit_json_int(audit_json_t *o, long long v)
{
    audit_json_uint(o, v < 0 ? 0 - (unsigned long long) v
                             : (unsigned long long) v, v < 0);
}


void
audit_json_string(audit_json_t *o, const char *s, size_t len, size_t max)
{
    audit_json_str_t  js;

    audit_json_begin(o, &js, max);
    audit_json_part(o, &js, s, len, max);
    audit_json_end(o, &js);
}


/*
 * The event encoder's cap: s is made valid UTF-8 and cut so that its
 * escaped form takes at most cap bytes, straight into the output.
 */

void
audit_json_string_escaped(audit_json_t *o, const char *s, size_t len,
    size_t cap)
{
    size_t             n;
    audit_json_str_t   js;
    audit_utf8_copy_t  c;

    audit_json_begin(o, &js, (size_t) -1);

    if (o->error) {
        return;
    }

    n = audit_utf8_copy((const unsigned char *) s, len,
                        (unsigned char *) o->p + o->n, o->room - o->n, cap,
                        &c);

    if (c.full) {
        o->error = 1;
        return;
    }

    o->n += n;
    js.plain = (c.escaped == n);

    audit_json_end(o, &js);
}


void
audit_json_member(audit_json_t *o, int *first, const char *key,
    const char *s, size_t len, size_t max)
{
    if (s == NULL || len == 0) {
        return;
    }

    audit_json_key(o, first, key);
    audit_json_string(o, s, len, max);
}


void
audit_json_begin(audit_json_t *o, audit_json_str_t *js, size_t max)
{
    AUDIT_JSON_LIT(o, "\"");

    js->start = o->n - 1;
    js->chars = 0;
    js->max = max;
    js->plain = 1;
}


void
audit_json_part(audit_json_t *o, audit_json_str_t *js, const char *s,
    size_t len, size_t max)
{
    int     full;
    size_t  n, chars;

    if (o->error || s == NULL || len == 0) {
        return;
    }

    if (max > js->max - js->chars) {
        max = js->max - js->chars;
    }

    n = audit_json_utf8(o->p + o->n, o->room - o->n, s, len, max, &chars,
                        &js->plain, &full);

    o->n += n;
    js->chars += chars;

    if (full) {
        o->error = 1;
    }
}


/* jansson copies the string, then writes it over itself, quoted */

void
audit_json_end(audit_json_t *o, audit_json_str_t *js)
{
    size_t   n, room;
    json_t  *s;

    if (o->error) {
        return;
    }

    if (js->plain) {
        AUDIT_JSON_LIT(o, "\"");
        return;
    }

    s = json_stringn_nocheck(o->p + js->start + 1, o->n - js->start - 1);
    if (s == NULL) {
        o->error = 1;
        return;
    }

    room = o->room - js->start;
    n = json_dumpb(s, o->p + js->start, room, JSON_ENCODE_ANY);
    json_decref(s);

    if (n == 0 || n > room) {
        o->error = 1;
        return;
    }

    o->n = js->start + n;
}


/*
 * The input is sanitized a chunk at a time on the stack, each chunk ending
 * before a byte that cannot continue a sequence (or after three that do),
 * which gives exactly what sanitizing it whole would.
 */

size_t
audit_json_utf8(char *out, size_t room, const char *s, size_t len, size_t max,
    size_t *chars, int *plain, int *full)
{
    size_t          i, k, w, n, end, done, c;
    unsigned char   b;
    char            chunk[3 * AUDIT_JSON_CHUNK + 1];

    done = 0;
    c = 0;
    i = 0;
    *full = 0;

    while (i < len && c < max) {
        end = (len - i > AUDIT_JSON_CHUNK) ? i + AUDIT_JSON_CHUNK : len;

        if (end < len) {
            for (k = 0; k <= 3; k++) {
                if (((unsigned char) s[end - k] & 0xc0) != 0x80) {
                    end -= k;
                    break;
                }
            }
        }

        n = audit_utf8_sanitize(s + i, end - i, chunk, sizeof(chunk));

        for (k = 0; k < n && c < max; k += w) {
            b = (unsigned char) chunk[k];
            w = (b < 0x80) ? 1 : (b < 0xe0) ? 2 : (b < 0xf0) ? 3 : 4;

            if (w > room - done) {
                *full = 1;
                *chars = c;
                return done;
            }

            if (b < 0x20 || b == '"' || b == '\\') {
                *plain = 0;
            }

            memcpy(out + done, chunk + k, w);
            done += w;
            c++;
        }

        i = end;
    }

    *chars = c;

    return done;
}


size_t
audit_utf8_sanitize(const char *s, size_t len, char *out, size_t size)
{
    size_t             n;
    audit_utf8_copy_t  c;

    if (size == 0) {
        return 0;
    }

    n = (s == NULL) ? 0 : audit_utf8_copy((const unsigned char *) s, len,
                                          (unsigned char *) out, size - 1,
                                          (size_t) -1, &c);
    out[n] = '\0';

    return n;
}


/*
 * The work of audit_utf8_sanitize(): writes at most room bytes, and stops
 * before the character whose JSON escape (as jansson writes it) would make
 * the escaped length exceed budget.  c->escaped gets that length: equal
 * to the return value exactly when nothing needs escaping.
 */

static size_t
audit_utf8_copy(const unsigned char *s, size_t len, unsigned char *out,
    size_t room, size_t budget, audit_utf8_copy_t *c)
{
    size_t                i, j, n, used, in, k, w, lim;
    unsigned              ch;
    const unsigned char  *from;

    static const unsigned char  replacement[] = { 0xef, 0xbf, 0xbd };

    i = 0;
    n = 0;
    used = 0;
    c->full = 0;

    while (i < len) {

        /* the common case first: printable ASCII, copied as it is */
        lim = len - i;
        lim = room - n < lim ? room - n : lim;
        lim = budget - used < lim ? budget - used : lim;

        for (j = 0; j < lim && audit_json_plain[s[i + j]]; j++) {
            out[n + j] = s[i + j];
        }

        i += j;
        n += j;
        used += j;

        if (i == len) {
            break;
        }

        ch = s[i];
        from = s + i;
        in = 1;
        k = 1;
        w = 1;

        if (ch < 0x20 || ch == '"' || ch == '\\') {
            /* "\"", "\\", "\n" and friends; other controls as "\u00XX" */
            w = (ch == '"' || ch == '\\' || ch == '\b' || ch == '\f'
                 || ch == '\n' || ch == '\r' || ch == '\t') ? 2 : 6;

        } else if (ch >= 0x80) {
            in = audit_utf8_valid(from, len - i);

            if (in == 0) {
                from = replacement;
                in = 1;
                k = 3;

            } else {
                k = in;
            }

            w = k;
        }

        if (budget - used < w) {
            break;
        }

        if (room - n < k) {
            c->full = 1;
            break;
        }

        if (k == 1) {
            out[n] = *from;

        } else {
            memcpy(out + n, from, k);
        }

        n += k;
        used += w;
        i += in;
    }

    c->escaped = used;

    return n;
}


/* The length of the well-formed sequence at s (RFC 3629 section 4), or 0. */

static size_t
audit_utf8_valid(const unsigned char *s, size_t len)
{
    size_t    i, n;
    unsigned  c, lo, hi;

    c = s[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;

        if (c == 0xe0) {
            lo = 0xa0;                  /* overlong */

        } else if (c == 0xed) {
            hi = 0x9f;                  /* surrogates */
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;

        if (c == 0xf0) {
            lo = 0x90;                  /* overlong */

        } else if (c == 0xf4) {
            hi = 0x8f;                  /* past U+10FFFF */
        }

    } else {
        return 0;
    }

    if (len < n || s[1] < lo || s[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}
