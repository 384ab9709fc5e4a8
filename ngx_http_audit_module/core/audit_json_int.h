
/*
 * Core-internal: the one JSON writer of the core, used by the event
 * encoder (audit_event.c) and the Sentry envelopes (audit_sentry_*.c).
 * The nginx layer never includes it.
 *
 * Output goes into a caller's buffer of fixed size: writes stop at the
 * first one that does not fit and the error sticks, so an encoder checks
 * o->error once at the end.  Nothing is allocated but jansson's copy of a
 * string that needs escaping.
 *
 * Every string is made valid UTF-8 (each byte that is not part of a
 * well-formed sequence becomes U+FFFD, see audit_utf8_sanitize()) and cut
 * at a character boundary; strings holding nothing to escape are written
 * as they are, the others are escaped by jansson (json_dumpb()), so what a
 * client sends can never break out of its field.
 */


#ifndef AUDIT_JSON_INT_H
#define AUDIT_JSON_INT_H


#include <stddef.h>
#include <string.h>


typedef struct {
    char                *p;
    size_t               n;
    size_t               room;          /* what may be written */
    int                  error;
} audit_json_t;


/* a JSON string being written in parts */
typedef struct {
    size_t               start;         /* offset of its opening quote */
    size_t               chars;
    size_t               max;
    int                  plain;         /* nothing to escape so far */
} audit_json_str_t;


#define AUDIT_JSON_LIT(o, s)  audit_json_raw(o, s, sizeof(s) - 1)


/* Starts o on buf, of which room bytes may be written. */
void audit_json_init(audit_json_t *o, char *buf, size_t room);

/*
 * Bytes as they are: punctuation, keys and values known to be safe.
 * Inline: an event is a few dozen of these, mostly of a few bytes.
 */
static inline void
audit_json_raw(audit_json_t *o, const char *p, size_t len)
{
    if (o->error || len > o->room - o->n) {
        o->error = 1;
        return;
    }

    memcpy(o->p + o->n, p, len);
    o->n += len;
}

/*
 * Writes "key": -- with a comma first unless *first is set (then cleared);
 * first NULL: always a comma.  Keys are ours and need no escaping.
 */
void audit_json_key(audit_json_t *o, int *first, const char *key);

/* Decimal; "-" first when negative. */
void audit_json_uint(audit_json_t *o, unsigned long long v, int negative);
void audit_json_int(audit_json_t *o, long long v);

/* A quoted string of at most max characters. */
void audit_json_string(audit_json_t *o, const char *s, size_t len,
    size_t max);

/* A quoted string whose escaped contents take at most cap bytes. */
void audit_json_string_escaped(audit_json_t *o, const char *s, size_t len,
    size_t cap);

/* "key":"value" when the value is there (s not NULL, len not 0). */
void audit_json_member(audit_json_t *o, int *first, const char *key,
    const char *s, size_t len, size_t max);

/*
 * A string in parts: each part is cut to its own max and to what is left
 * of the string's, in characters; end() escapes the whole when needed.
 */
void audit_json_begin(audit_json_t *o, audit_json_str_t *js, size_t max);
void audit_json_part(audit_json_t *o, audit_json_str_t *js, const char *s,
    size_t len, size_t max);
void audit_json_end(audit_json_t *o, audit_json_str_t *js);

/*
 * Copies s[0..len) into out (room bytes, no NUL) as valid UTF-8, whole
 * characters only, at most max of them.  *chars gets how many were
 * written; *plain is cleared when one needs a JSON escape; *full is set
 * when out ran out of room before the end.  Returns the bytes written.
 */
size_t audit_json_utf8(char *out, size_t room, const char *s, size_t len,
    size_t max, size_t *chars, int *plain, int *full);


#endif /* AUDIT_JSON_INT_H */
