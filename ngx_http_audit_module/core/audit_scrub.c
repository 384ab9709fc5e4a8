/*
 * Scrubbing secrets and PHI out of request URIs and credentials out of any
 * text (see audit_scrub.h).
 *
 * Every check runs over the %-decoded text as a stream, one byte at a
 * time, so nothing is copied or allocated and arbitrarily long names and
 * values are handled the same way as short ones.
 */


#include <stdlib.h>
#include <string.h>

#include "audit_pct_int.h"
#include "audit_scrub.h"
#include "audit_scrub_int.h"


#define AUDIT_SCRUB_EMAIL   0x01u
#define AUDIT_SCRUB_PHONE   0x02u
#define AUDIT_SCRUB_SSN     0x04u
#define AUDIT_SCRUB_NESTED  0x08u     /* a secret "name=" inside */
#define AUDIT_SCRUB_PHI                                                     \
    (AUDIT_SCRUB_EMAIL | AUDIT_SCRUB_PHONE | AUDIT_SCRUB_SSN)

/* a phone number: this many digits, at most this many separators in a row */
#define AUDIT_SCRUB_PHONE_DIGITS  9
#define AUDIT_SCRUB_PHONE_SEPS    2

/* the SSN shapes, two bits per byte */
#define AUDIT_SCRUB_OTHER   0u
#define AUDIT_SCRUB_DIGIT   1u
#define AUDIT_SCRUB_DASH    2u


typedef struct {
    size_t          len;
    char            name[AUDIT_SCRUB_NAME_MAX];     /* lowercase */
} audit_scrub_name_t;


struct audit_scrub_s {
    unsigned char        last[32];      /* bitmap of the names' last bytes */
    size_t               nnames;
    audit_scrub_name_t   names[];
};




/* the last bytes of a name being read, to match names as suffixes */
typedef struct {
    unsigned char   buf[2 * AUDIT_SCRUB_NAME_MAX];
    size_t          n;
    int             hit;
} audit_scrub_tail_t;


/* a run of digits and separators that may be a phone number */
typedef struct {
    size_t          digits;
    size_t          seps;           /* separators in a row */
} audit_scrub_phone_t;


static void audit_scrub_add(audit_scrub_t *s, const char *name, size_t len);
static void audit_scrub_feed(const audit_scrub_t *s, audit_scrub_tail_t *t,
    int c);
static int audit_scrub_check(const audit_scrub_t *s, const char *p,
    size_t len, unsigned what);
static int audit_scrub_ssn(unsigned long long *hist, int c);
static int audit_scrub_phone(audit_scrub_phone_t *ph, int c);
static int audit_scrub_nested(const audit_scrub_t *s, audit_scrub_tail_t *t,
    int c);
static int audit_scrub_plain(const char *p, size_t len);
static int audit_scrub_domain(audit_pct_t d);
static int audit_scrub_local(int c);
static void audit_scrub_path(const audit_scrub_t *s, audit_scrub_out_t *o,
    const char *p, size_t len);
static void audit_scrub_query(const audit_scrub_t *s, audit_scrub_out_t *o,
    const char *p, size_t len);
static void audit_scrub_keep(const audit_scrub_t *s, audit_scrub_out_t *o,
    const char *p, size_t len);


static const char  *audit_scrub_default[] = {
    "password", "passwd", "pwd", "token", "secret", "key", "auth",
    "session", "code", "otp", "pin", "ssn", "credential", "signature", "sig"
};

#define AUDIT_SCRUB_NDEFAULT                                                \
    (sizeof(audit_scrub_default) / sizeof(audit_scrub_default[0]))


audit_scrub_t *
audit_scrub_create(const char *const *extra, size_t nextra)
{
    size_t          i, len;
    audit_scrub_t  *s;

    if (extra == NULL) {
        nextra = 0;
    }

    for (i = 0; i < nextra; i++) {
        if (extra[i] == NULL) {
            return NULL;
        }

        len = strlen(extra[i]);
        if (len == 0 || len > AUDIT_SCRUB_NAME_MAX) {
            return NULL;
        }
    }

    if (nextra > ((size_t) -1 - sizeof(audit_scrub_t))
                 / sizeof(audit_scrub_name_t) - AUDIT_SCRUB_NDEFAULT)
    {
        return NULL;
    }

    s = calloc(1, sizeof(audit_scrub_t) + (AUDIT_SCRUB_NDEFAULT + nextra)
                                          * sizeof(audit_scrub_name_t));
    if (s == NULL) {
        return NULL;
    }

    for (i = 0; i < AUDIT_SCRUB_NDEFAULT; i++) {
        audit_scrub_add(s, audit_scrub_default[i],
                        strlen(audit_scrub_default[i]));
    }

    for (i = 0; i < nextra; i++) {
        audit_scrub_add(s, extra[i], strlen(extra[i]));
    }

    return s;
}


void
audit_scrub_free(audit_scrub_t *s)
{
    free(s);
}


size_t
audit_scrub_uri(const audit_scrub_t *s, const char *uri, size_t len,
    char *out, size_t size)
{
    const char         *hash, *query;
    audit_scrub_out_t   o;

    if (size == 0) {
        return 0;
    }

    audit_scrub_out_init(&o, out, size);

    if (uri == NULL) {
        uri = "";
        len = 0;
    }

    hash = len ? memchr(uri, '#', len) : NULL;
    if (hash) {
        len = hash - uri;
    }

    query = len ? memchr(uri, '?', len) : NULL;

    if (query == NULL) {
        audit_scrub_path(s, &o, uri, len);

    } else {
        audit_scrub_path(s, &o, uri, query - uri);
        audit_scrub_put(&o, "?", 1);
        audit_scrub_query(s, &o, query + 1, len - (query - uri) - 1);
    }

    out[o.n] = '\0';

    return o.n;
}


int
audit_scrub_is_secret_name(const audit_scrub_t *s, const char *name,
    size_t len)
{
    int                  c;
    audit_pct_t          d;
    audit_scrub_tail_t   t;

    if (s == NULL || name == NULL) {
        return 0;
    }

    d.p = (const unsigned char *) name;
    d.end = d.p + len;
    d.plus = 0;
    t.n = 0;
    t.hit = 0;

    while (!t.hit && (c = audit_pct_next(&d)) >= 0) {
        audit_scrub_feed(s, &t, c);
    }

    return t.hit;
}


static void
audit_scrub_add(audit_scrub_t *s, const char *name, size_t len)
{
    size_t               i;
    unsigned char        c;
    audit_scrub_name_t  *n;

    n = &s->names[s->nnames++];
    n->len = len;

    for (i = 0; i < len; i++) {
        c = (unsigned char) name[i];
        n->name[i] = (char) ((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }

    c = (unsigned char) n->name[len - 1];
    s->last[c >> 3] |= (unsigned char) (1u << (c & 7));
}






/*
 * Appends c, lowercased, to the name being read and notes a hit when the
 * name now ends with a secret one: a name contains a secret one exactly
 * when one of its prefixes ends with it.
 */

static void
audit_scrub_feed(const audit_scrub_t *s, audit_scrub_tail_t *t, int c)
{
    size_t                     i;
    const audit_scrub_name_t  *n;

    if (c >= 'A' && c <= 'Z') {
        c += 32;
    }

    if (t->n == sizeof(t->buf)) {
        memmove(t->buf, t->buf + sizeof(t->buf) - AUDIT_SCRUB_NAME_MAX,
                AUDIT_SCRUB_NAME_MAX);
        t->n = AUDIT_SCRUB_NAME_MAX;
    }

    t->buf[t->n++] = (unsigned char) c;

    if (!(s->last[c >> 3] & (1u << (c & 7)))) {
        return;
    }

    for (i = 0; i < s->nnames; i++) {
        n = &s->names[i];

        if (n->len <= t->n
            && t->buf[t->n - n->len] == (unsigned char) n->name[0]
            && memcmp(t->buf + t->n - n->len, n->name, n->len) == 0)
        {
            t->hit = 1;
            return;
        }
    }
}


/*
 * Returns 1 when the %-decoded p[0..len) contains one of the things in
 * what.  One pass; an e-mail address is an '@' between a local-part
 * character and a dotted domain, a phone number a run of digits and
 * separators holding AUDIT_SCRUB_PHONE_DIGITS digits, an SSN ddd-dd-dddd
 * with no digit on either side.
 */

static int
audit_scrub_check(const audit_scrub_t *s, const char *p, size_t len,
    unsigned what)
{
    int                  c, local;
    unsigned long long   hist;
    audit_pct_t          d;
    audit_scrub_tail_t   t;
    audit_scrub_phone_t  phone;

    if (audit_scrub_plain(p, len)) {
        return 0;
    }

    d.p = (const unsigned char *) p;
    d.end = d.p + len;
    d.plus = 0;

    local = 0;
    hist = 0;
    phone.digits = 0;
    phone.seps = 0;
    t.n = 0;
    t.hit = 0;

    for ( ;; ) {
        c = audit_pct_next(&d);

        /* the SSN check sees the end too: "ddd-dd-dddd" ends a value */
        if ((what & AUDIT_SCRUB_SSN) && audit_scrub_ssn(&hist, c)) {
            return 1;
        }

        if (c < 0) {
            return 0;
        }

        if ((what & AUDIT_SCRUB_EMAIL) && c == '@' && local
            && audit_scrub_domain(d))
        {
            return 1;
        }

        local = audit_scrub_local(c);

        if ((what & AUDIT_SCRUB_PHONE) && audit_scrub_phone(&phone, c)) {
            return 1;
        }

        if ((what & AUDIT_SCRUB_NESTED) && audit_scrub_nested(s, &t, c)) {
            return 1;
        }
    }
}


/*
 * Shifts the shape of c (-1: the end) into hist, two bits per byte, and
 * returns 1 when the last 12 shapes before c are a non-digit (or nothing)
 * and ddd-dd-dddd, and c is no digit.
 */

static int
audit_scrub_ssn(unsigned long long *hist, int c)
{
    unsigned  shape;

    /* ddd-dd-dddd as shapes, the oldest byte in the highest bits */
    static const unsigned long long  ssn = 0x159655;

    shape = (c >= '0' && c <= '9') ? AUDIT_SCRUB_DIGIT
            : (c == '-') ? AUDIT_SCRUB_DASH : AUDIT_SCRUB_OTHER;

    *hist = (*hist << 2) | shape;

    return shape != AUDIT_SCRUB_DIGIT
           && ((*hist >> 2) & 0x3fffffULL) == ssn
           && ((*hist >> 24) & 3) != AUDIT_SCRUB_DIGIT;
}


/* Counts digits in a run of digits and separators. */

static int
audit_scrub_phone(audit_scrub_phone_t *ph, int c)
{
    if (c >= '0' && c <= '9') {
        ph->seps = 0;
        return ++ph->digits >= AUDIT_SCRUB_PHONE_DIGITS;
    }

    switch (c) {
    case '+': case '(': case ')': case '-': case '.': case ' ':
        if (++ph->seps > AUDIT_SCRUB_PHONE_SEPS) {
            ph->digits = 0;
        }

        return 0;

    default:
        ph->digits = 0;
        ph->seps = 0;
        return 0;
    }
}


/*
 * Follows the names of "name=value" pairs nested in a value or a path
 * segment ("/cb?token=abc", ";jsessionid=..."): returns 1 at an '=' after
 * a secret-looking name.
 */

static int
audit_scrub_nested(const audit_scrub_t *s, audit_scrub_tail_t *t, int c)
{
    switch (c) {

    case '=':
        if (t->hit) {
            return 1;
        }

        t->n = 0;
        return 0;

    case '&': case ';': case '?': case '/': case '#': case ' ': case ',':
        t->n = 0;
        t->hit = 0;
        return 0;

    default:
        if (s != NULL && !t->hit) {
            audit_scrub_feed(s, t, c);
        }

        return 0;
    }
}


/*
 * Every pattern needs an '@', an '=' or 9 digits, and anything may hide
 * behind a '%': most values and path segments have none of these and are
 * let through by this one cheap scan.
 */

static int
audit_scrub_plain(const char *p, size_t len)
{
    size_t  i, digits;

    digits = 0;

    for (i = 0; i < len; i++) {
        switch (p[i]) {

        case '%':
        case '@':
        case '=':
            return 0;

        case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9':
            if (++digits >= AUDIT_SCRUB_PHONE_DIGITS) {
                return 0;
            }

            break;

        default:
            break;
        }
    }

    return 1;
}


/* A domain after '@': labels of letters, digits and '-', at least two. */

static int
audit_scrub_domain(audit_pct_t d)
{
    int     c;
    size_t  labels, cur;

    labels = 0;
    cur = 0;

    while ((c = audit_pct_next(&d)) >= 0) {

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-')
        {
            cur++;

        } else if (c == '.' && cur > 0) {
            labels++;
            cur = 0;

        } else {
            break;
        }
    }

    return labels >= 1 && cur > 0;
}


/* RFC 5322 atext and '.' */

static int
audit_scrub_local(int c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'':
    case '*': case '+': case '-': case '/': case '=': case '?':
    case '^': case '_': case '`': case '{': case '|': case '}':
    case '~': case '.':
        return 1;

    default:
        return 0;
    }
}


static void
audit_scrub_path(const audit_scrub_t *s, audit_scrub_out_t *o,
    const char *p, size_t len)
{
    const char  *seg, *slash, *end;

    end = p + len;
    seg = p;

    while (seg < end) {
        slash = memchr(seg, '/', end - seg);
        if (slash == NULL) {
            slash = end;
        }

        if (s != NULL
            && audit_scrub_check(s, seg, slash - seg,
                                 AUDIT_SCRUB_EMAIL | AUDIT_SCRUB_SSN
                                 | AUDIT_SCRUB_NESTED))
        {
            audit_scrub_put(o, AUDIT_SCRUB_FILTERED,
                            sizeof(AUDIT_SCRUB_FILTERED) - 1);

        } else {
            audit_scrub_keep(s, o, seg, slash - seg);
        }

        if (slash == end) {
            break;
        }

        audit_scrub_put(o, "/", 1);
        seg = slash + 1;
    }
}


static void
audit_scrub_query(const audit_scrub_t *s, audit_scrub_out_t *o,
    const char *p, size_t len)
{
    const char  *param, *amp, *eq, *end, *value;
    size_t       nlen;

    end = p + len;
    param = p;

    while (param <= end) {
        amp = memchr(param, '&', end - param);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(param, '=', amp - param);
        nlen = (eq ? eq : amp) - param;

        if (s != NULL
            && audit_scrub_check(s, param, nlen, AUDIT_SCRUB_PHI))
        {
            audit_scrub_put(o, AUDIT_SCRUB_FILTERED,
                            sizeof(AUDIT_SCRUB_FILTERED) - 1);

        } else {
            audit_scrub_keep(s, o, param, nlen);
        }

        if (eq) {
            value = eq + 1;
            audit_scrub_put(o, "=", 1);

            if (s != NULL
                && (audit_scrub_is_secret_name(s, param, nlen)
                    || audit_scrub_check(s, value, amp - value,
                                         AUDIT_SCRUB_PHI
                                         | AUDIT_SCRUB_NESTED)))
            {
                audit_scrub_put(o, AUDIT_SCRUB_FILTERED,
                                sizeof(AUDIT_SCRUB_FILTERED) - 1);

            } else {
                audit_scrub_keep(s, o, value, amp - value);
            }
        }

        if (amp == end) {
            break;
        }

        audit_scrub_put(o, "&", 1);
        param = amp + 1;
    }
}


/* What is kept of a path segment or a query name or value: with its
 * credentials filtered, unless there is no scrubber. */

static void
audit_scrub_keep(const audit_scrub_t *s, audit_scrub_out_t *o,
    const char *p, size_t len)
{
    if (s != NULL) {
        audit_scrub_creds(o, p, len);

    } else {
        audit_scrub_put(o, p, len);
    }
}
