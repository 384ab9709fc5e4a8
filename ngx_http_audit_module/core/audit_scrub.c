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

#include "audit_b64url_int.h"
#include "audit_pct_int.h"
#include "audit_scrub.h"


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

/* what a byte or a %XX escape is to a JWT-shaped run */
#define AUDIT_SCRUB_SEP     0
#define AUDIT_SCRUB_B64     1
#define AUDIT_SCRUB_DOT     2

/*
 * The second character of a JWT: '{' is 011110 11 in base64url, and what
 * follows it in a JSON object, '"', '}' or a blank, makes the next 4 bits
 * 0010 ("ey": '"', ' '), 0111 ("e3": '}') or 0000 ("ew": '\t' '\n' '\r')
 */
#define AUDIT_SCRUB_JWT_2ND(c)  ((c) == 'y' || (c) == '3' || (c) == 'w')

/* how much of a JWT's first segment is decoded */
#define AUDIT_SCRUB_JWT_HEAD  16


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


/* the bounded output */
typedef struct {
    char           *p;
    size_t          n;
    size_t          cap;            /* size - 1: room for the NUL */
    int             full;
} audit_scrub_out_t;


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
static void audit_scrub_out_init(audit_scrub_out_t *o, char *out,
    size_t size);
static void audit_scrub_keep(const audit_scrub_t *s, audit_scrub_out_t *o,
    const char *p, size_t len);
static void audit_scrub_put(audit_scrub_out_t *o, const char *p, size_t len);
static void audit_scrub_creds(audit_scrub_out_t *o, const char *text,
    size_t len);
static int audit_scrub_starts(const unsigned char *p, size_t i, int word);
static size_t audit_scrub_jwt(const unsigned char *p, size_t i, size_t len);
static size_t audit_scrub_auth(const unsigned char *p, size_t i, size_t len,
    size_t *cred);
static int audit_scrub_unit(const unsigned char *p, size_t i, size_t len,
    size_t *n);
static int audit_scrub_esc(const unsigned char *p, size_t i, size_t len);
static int audit_scrub_is_b64(int c);
static int audit_scrub_is_alnum(int c);
static int audit_scrub_is_word(const unsigned char *p, size_t len,
    const char *word, size_t wlen);


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


size_t
audit_scrub_credentials(const char *text, size_t len, char *out,
    size_t size)
{
    audit_scrub_out_t  o;

    if (size == 0) {
        return 0;
    }

    audit_scrub_out_init(&o, out, size);

    if (text != NULL) {
        audit_scrub_creds(&o, text, len);
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


static void
audit_scrub_out_init(audit_scrub_out_t *o, char *out, size_t size)
{
    o->p = out;
    o->n = 0;
    o->cap = size - 1;
    o->full = 0;
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


/*
 * Appends p[0..len), or as much as fits followed by "...".  Callers only
 * pass what may be logged, so a cut anywhere is safe.
 */

static void
audit_scrub_put(audit_scrub_out_t *o, const char *p, size_t len)
{
    size_t  n;

    if (o->full) {
        return;
    }

    if (len <= o->cap - o->n) {
        memcpy(o->p + o->n, p, len);
        o->n += len;
        return;
    }

    memcpy(o->p + o->n, p, o->cap - o->n);
    o->n = o->cap;
    o->full = 1;

    n = o->cap < 3 ? o->cap : 3;
    memset(o->p + o->n - n, '.', n);
}


/*
 * Appends text[0..len) with each credential in it replaced (see
 * audit_scrub_credentials()).  Only an 'e' that begins a run and can
 * decode to '{"', '{}' or '{' and a blank, or a 'b' that begins a word,
 * is looked at further; what
 * is skipped over is never looked at again, so the scan is linear.
 */

static void
audit_scrub_creds(audit_scrub_out_t *o, const char *text, size_t len)
{
    size_t                i, from, end, cred;
    const unsigned char  *p;

    p = (const unsigned char *) text;
    from = 0;

    for (i = 0; i < len; i++) {

        if (p[i] == 'e' && i + 1 < len && AUDIT_SCRUB_JWT_2ND(p[i + 1])
            && audit_scrub_starts(p, i, 0))
        {
            end = audit_scrub_jwt(p, i, len);

            if (end) {
                audit_scrub_put(o, text + from, i - from);
                audit_scrub_put(o, AUDIT_SCRUB_FILTERED,
                                sizeof(AUDIT_SCRUB_FILTERED) - 1);
                from = end;
                i = end - 1;
            }

        } else if ((p[i] | 0x20) == 'b' && audit_scrub_starts(p, i, 1)) {
            end = audit_scrub_auth(p, i, len, &cred);

            if (end) {
                audit_scrub_put(o, text + from, cred - from);
                audit_scrub_put(o, AUDIT_SCRUB_FILTERED,
                                sizeof(AUDIT_SCRUB_FILTERED) - 1);
                from = end;
                i = end - 1;
            }
        }
    }

    audit_scrub_put(o, text + from, len - from);
}


/*
 * Returns 1 when p[i] begins a run: of base64url characters and dots
 * (word 0) or of letters and digits (word 1).  A %XX escape before it
 * ends a run, except %2E, a dot, in a base64url run.
 */

static int
audit_scrub_starts(const unsigned char *p, size_t i, int word)
{
    if (i == 0) {
        return 1;
    }

    if (i >= 3 && audit_scrub_esc(p, i - 3, i)) {
        return word || !(p[i - 2] == '2' && (p[i - 1] | 0x20) == 'e');
    }

    if (word) {
        return !audit_scrub_is_alnum(p[i - 1]);
    }

    return !audit_scrub_is_b64(p[i - 1]) && p[i - 1] != '.';
}


/*
 * The run of base64url characters and dots at p[i]: returns its end when
 * it holds two dots or more and its first segment decodes to the start
 * of a JSON object, or 0.  The first segment has raw base64url characters
 * only (a dot, raw or %2E, ends it), so the decoder sees it as it is.
 */

static size_t
audit_scrub_jwt(const unsigned char *p, size_t i, size_t len)
{
    int            t;
    size_t         j, k, m, n, first, dots, dlen;
    unsigned char  head[AUDIT_B64URL_DECODED_MAX(AUDIT_SCRUB_JWT_HEAD)];

    first = 0;
    dots = 0;

    for (j = i; j < len; j += n) {
        t = audit_scrub_unit(p, j, len, &n);

        if (t == AUDIT_SCRUB_SEP) {
            break;
        }

        if (t == AUDIT_SCRUB_DOT && dots++ == 0) {
            first = j - i;
        }
    }

    if (dots < 2) {
        return 0;
    }

    /*
     * The start of a JSON object, '{', blanks, then '"' or '}', in the
     * first 16 characters at most (always canonical when cut), so that
     * "example.co.uk" and "eyes.and.ears", whose first segments decode to
     * '{' and then something else, are kept.
     */
    m = first < AUDIT_SCRUB_JWT_HEAD ? first : AUDIT_SCRUB_JWT_HEAD;

    if (audit_b64url_decode(p + i, m, head, sizeof(head), &dlen) != 0
        || dlen < 2 || head[0] != '{')
    {
        return 0;
    }

    for (k = 1; k < dlen; k++) {
        if (head[k] != ' ' && head[k] != '\t' && head[k] != '\n'
            && head[k] != '\r')
        {
            break;
        }
    }

    if (k == dlen) {
        /* blanks only: an object if the segment goes on */
        return first > m ? j : 0;
    }

    if (head[k] != '"' && head[k] != '}') {
        return 0;
    }

    return j;
}


/*
 * "Bearer" or "Basic" at p[i], then spaces, tabs, '+', %20 or %09, then
 * the credentials: sets *cred to where they begin and returns where they
 * end, or returns 0.
 */

static size_t
audit_scrub_auth(const unsigned char *p, size_t i, size_t len, size_t *cred)
{
    size_t  j, k;

    if (audit_scrub_is_word(p + i, len - i, "bearer", 6)) {
        j = i + 6;

    } else if (audit_scrub_is_word(p + i, len - i, "basic", 5)) {
        j = i + 5;

    } else {
        return 0;
    }

    for (k = j; k < len; /* void */) {
        if (p[k] == ' ' || p[k] == '\t' || p[k] == '+') {
            k++;

        } else if (audit_scrub_esc(p, k, len) && p[k + 1] == '2'
                   && p[k + 2] == '0')
        {
            k += 3;

        } else if (audit_scrub_esc(p, k, len) && p[k + 1] == '0'
                   && p[k + 2] == '9')
        {
            k += 3;

        } else {
            break;
        }
    }

    if (k == j) {
        return 0;
    }

    *cred = k;

    /* token68 (RFC 9110 section 11.2) and escapes other than blanks */
    while (k < len) {
        if (audit_scrub_is_alnum(p[k])) {
            k++;
            continue;
        }

        switch (p[k]) {
        case '-': case '.': case '_': case '~': case '+': case '/':
        case '=':
            k++;
            continue;
        }

        if (audit_scrub_esc(p, k, len)
            && !(p[k + 1] == '2' && p[k + 2] == '0')
            && !(p[k + 1] == '0' && p[k + 2] == '9'))
        {
            k += 3;
            continue;
        }

        break;
    }

    return k > *cred ? k : 0;
}


/* What p[i] is to a JWT-shaped run, and in *n how many bytes it takes. */

static int
audit_scrub_unit(const unsigned char *p, size_t i, size_t len, size_t *n)
{
    *n = 1;

    if (p[i] == '.') {
        return AUDIT_SCRUB_DOT;
    }

    if (audit_scrub_esc(p, i, len)) {
        *n = 3;
        return (p[i + 1] == '2' && (p[i + 2] | 0x20) == 'e')
               ? AUDIT_SCRUB_DOT : AUDIT_SCRUB_SEP;
    }

    return audit_scrub_is_b64(p[i]) ? AUDIT_SCRUB_B64 : AUDIT_SCRUB_SEP;
}


/* Returns 1 when p[i..len) begins with a %XX escape. */

static int
audit_scrub_esc(const unsigned char *p, size_t i, size_t len)
{
    int  k, c;

    if (len - i < 3 || p[i] != '%') {
        return 0;
    }

    for (k = 1; k <= 2; k++) {
        c = p[i + k];

        if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a'
                                         && (c | 0x20) <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


static int
audit_scrub_is_b64(int c)
{
    return audit_scrub_is_alnum(c) || c == '-' || c == '_';
}


static int
audit_scrub_is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9');
}


/* Returns 1 when p[0..len) begins with the lowercase word, in any case. */

static int
audit_scrub_is_word(const unsigned char *p, size_t len, const char *word,
    size_t wlen)
{
    size_t  i;

    if (len < wlen) {
        return 0;
    }

    for (i = 0; i < wlen; i++) {
        if ((p[i] | 0x20) != (unsigned char) word[i]) {
            return 0;
        }
    }

    return 1;
}
