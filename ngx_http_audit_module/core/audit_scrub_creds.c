/*
 * Scrubbing credentials out of any text (see audit_scrub.h): JWT-shaped
 * runs and "Bearer"/"Basic" credentials, raw or %-encoded.  The scan is
 * linear and writes into the caller's bounded output.
 */


#include <string.h>

#include "audit_b64url_int.h"
#include "audit_pct_int.h"
#include "audit_scrub.h"
#include "audit_scrub_int.h"


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


static int audit_scrub_starts(const unsigned char *p, size_t i, int word);
static size_t audit_scrub_jwt(const unsigned char *p, size_t i, size_t len);
static size_t audit_scrub_auth(const unsigned char *p, size_t i, size_t len,
    size_t *cred);
static int audit_scrub_unit(const unsigned char *p, size_t i, size_t len,
    size_t *n);
static int audit_scrub_esc(const unsigned char *p, size_t i, size_t len);
static int audit_scrub_char(const unsigned char *p, size_t i, size_t len,
    size_t *n);
static int audit_scrub_is_b64(int c);
static int audit_scrub_is_alnum(int c);
static int audit_scrub_is_word(const unsigned char *p, size_t len,
    const char *word, size_t wlen);


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


void
audit_scrub_out_init(audit_scrub_out_t *o, char *out, size_t size)
{
    o->p = out;
    o->n = 0;
    o->cap = size - 1;
    o->full = 0;
}


/*
 * Appends p[0..len), or as much as fits followed by "...".  Callers only
 * pass what may be logged, so a cut anywhere is safe.
 */

void
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
 * A JWT's characters may be %-encoded ("%65yJ...", "e%79J..."): decoded
 * once, as the portal or whoever reads the log would.
 */

void
audit_scrub_creds(audit_scrub_out_t *o, const char *text, size_t len)
{
    int                   c;
    size_t                i, n, from, end, cred;
    const unsigned char  *p;

    p = (const unsigned char *) text;
    from = 0;

    for (i = 0; i < len; i++) {

        if (audit_scrub_char(p, i, len, &n) == 'e' && i + n < len
            && (c = audit_scrub_char(p, i + n, len, &n),
                AUDIT_SCRUB_JWT_2ND(c))
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
 * ends a run, except %2E, a dot, in a base64url run (so "%41eyJ..." is a
 * token after "%41", whoever decodes it).
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
 * The run of base64url characters and dots at p[i], raw or %-encoded:
 * returns its end when it holds two dots or more and its first segment
 * decodes to the start of a JSON object, or 0.  The first segment's
 * characters (up to a dot, raw or %2E) are decoded from their escapes
 * before base64url, as far as the decoder needs them.
 */

static size_t
audit_scrub_jwt(const unsigned char *p, size_t i, size_t len)
{
    int            t;
    size_t         j, k, m, n, first, dots, dlen;
    char           seg[AUDIT_SCRUB_JWT_HEAD];
    unsigned char  head[AUDIT_B64URL_DECODED_MAX(AUDIT_SCRUB_JWT_HEAD)];

    first = 0;          /* the first segment's characters */
    dots = 0;
    m = 0;

    for (j = i; j < len; j += n) {
        t = audit_scrub_unit(p, j, len, &n);

        if (t == AUDIT_SCRUB_SEP) {
            break;
        }

        if (t == AUDIT_SCRUB_DOT) {
            dots++;
            continue;
        }

        if (dots == 0) {
            if (m < AUDIT_SCRUB_JWT_HEAD) {
                seg[m++] = (char) audit_scrub_char(p, j, len, &n);
            }

            first++;
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
    if (audit_b64url_decode((const unsigned char *) seg, m, head,
                            sizeof(head), &dlen)
        != 0
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


/* What p[i] (a byte or a %XX escape) is to a JWT-shaped run, and in *n
 * how many bytes it takes. */

static int
audit_scrub_unit(const unsigned char *p, size_t i, size_t len, size_t *n)
{
    int  c;

    c = audit_scrub_char(p, i, len, n);

    if (c == '.') {
        return AUDIT_SCRUB_DOT;
    }

    return audit_scrub_is_b64(c) ? AUDIT_SCRUB_B64 : AUDIT_SCRUB_SEP;
}


/* The byte p[i] stands for: itself, or what a %XX escape there decodes
 * to (then *n is 3). */

static int
audit_scrub_char(const unsigned char *p, size_t i, size_t len, size_t *n)
{
    if (!audit_scrub_esc(p, i, len)) {
        *n = 1;
        return p[i];
    }

    *n = 3;

    return audit_pct_hex(p[i + 1]) * 16 + audit_pct_hex(p[i + 2]);
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
