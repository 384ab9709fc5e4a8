/*
 * The submitted username from a login request body (see audit_login.h).
 */


#include <string.h>

#include <jansson.h>

#include "audit_pct_int.h"
#include "audit_login.h"


typedef enum {
    AUDIT_LOGIN_OTHER = 0,
    AUDIT_LOGIN_FORM,
    AUDIT_LOGIN_JSON,
    AUDIT_LOGIN_MULTIPART
} audit_login_format_t;




static audit_login_format_t audit_login_format(const char *ct, size_t len);
static int audit_login_is(const char *p, size_t len, const char *lower);
static long audit_login_read(const char *content_type, size_t ct_len,
    const char *body, size_t len, const char *field, char *out, size_t size,
    int last);
static long audit_login_form(const char *body, size_t len, const char *field,
    char *out, size_t size, int last);
static int audit_login_name_is(const char *p, size_t len, const char *field);
static long audit_login_json(const char *body, size_t len, const char *field,
    char *out, size_t size, int last);
static long audit_login_multipart(const char *ct, size_t ct_len,
    const char *body, size_t len, const char *field, char *out, size_t size,
    int last);
static size_t audit_login_boundary(const char *ct, size_t len,
    const char **boundary);
static const char *audit_login_delimiter(const char *p, const char *end,
    const char *b, size_t blen);
static int audit_login_part_named(const char *p, const char *end,
    const char *field, const char **value);
static const char *audit_login_find_ci(const char *p, const char *end,
    const char *lower);


long
audit_login_username(const char *content_type, size_t ct_len,
    const char *body, size_t len, const char *field, char *out, size_t size)
{
    return audit_login_read(content_type, ct_len, body, len, field, out, size,
                            0);
}


long
audit_login_username_last(const char *content_type, size_t ct_len,
    const char *body, size_t len, const char *field, char *out, size_t size)
{
    return audit_login_read(content_type, ct_len, body, len, field, out, size,
                            1);
}


static long
audit_login_read(const char *content_type, size_t ct_len, const char *body,
    size_t len, const char *field, char *out, size_t size, int last)
{
    if (content_type == NULL || body == NULL || field == NULL
        || out == NULL || size == 0)
    {
        return -1;
    }

    switch (audit_login_format(content_type, ct_len)) {

    case AUDIT_LOGIN_FORM:
        return audit_login_form(body, len, field, out, size, last);

    case AUDIT_LOGIN_JSON:
        return audit_login_json(body, len, field, out, size, last);

    case AUDIT_LOGIN_MULTIPART:
        return audit_login_multipart(content_type, ct_len, body, len, field,
                                     out, size, last);

    default:
        return -1;
    }
}


/* The media type without its parameters and surrounding blanks. */

static audit_login_format_t
audit_login_format(const char *ct, size_t len)
{
    const char  *semi, *end, *p;

    semi = memchr(ct, ';', len);
    end = semi ? semi : ct + len;

    while (ct < end && (*ct == ' ' || *ct == '\t')) {
        ct++;
    }

    while (end > ct && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    len = end - ct;

    if (audit_login_is(ct, len, "application/x-www-form-urlencoded")) {
        return AUDIT_LOGIN_FORM;
    }

    if (audit_login_is(ct, len, "multipart/form-data")) {
        return AUDIT_LOGIN_MULTIPART;
    }

    /*
     * JSON by any name a framework reads as JSON: application/json, a
     * structured syntax suffix (RFC 6839, "+json"), text/json,
     * application/x-json (Laravel's isJson() looks for "/json" or "+json",
     * Rails also takes text/x-json); the method override scan
     * (audit_target.c) takes the same types
     */

    for (p = ct; p + 4 <= end; p++) {
        if (audit_login_is(p, 4, "json")) {
            return AUDIT_LOGIN_JSON;
        }
    }

    return AUDIT_LOGIN_OTHER;
}


/* p[0..len) equals lower, ignoring the case of ASCII letters */

static int
audit_login_is(const char *p, size_t len, const char *lower)
{
    size_t  i;
    int     c;

    if (strlen(lower) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];

        if (c >= 'A' && c <= 'Z') {
            c += 32;
        }

        if (c != lower[i]) {
            return 0;
        }
    }

    return 1;
}


/*
 * Walks name=value pairs and decodes only the value of the first (or the
 * last) pair named field; every other value, the password among them, is
 * skipped by memchr() and never decoded.
 */

static long
audit_login_form(const char *body, size_t len, const char *field, char *out,
    size_t size, int last)
{
    int                 c;
    size_t              n;
    const char         *param, *amp, *eq, *end, *v, *vend;
    audit_pct_t         d;

    end = body + len;
    param = body;
    v = NULL;
    vend = NULL;

    for ( ;; ) {
        amp = memchr(param, '&', end - param);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(param, '=', amp - param);

        if (audit_login_name_is(param, (eq ? eq : amp) - param, field)) {
            v = eq ? eq + 1 : amp;
            vend = amp;

            if (!last) {
                break;
            }
        }

        if (amp == end) {
            break;
        }

        param = amp + 1;
    }

    if (v == NULL) {
        return -1;
    }

    d.p = (const unsigned char *) v;
    d.end = (const unsigned char *) vend;
    d.plus = 1;
    n = 0;

    while ((c = audit_pct_next(&d)) >= 0) {
        if (n + 1 >= size) {
            return -1;
        }

        out[n++] = (char) c;
    }

    out[n] = '\0';

    return (long) n;
}


static int
audit_login_name_is(const char *p, size_t len, const char *field)
{
    int                 c;
    const char         *f;
    audit_pct_t         d;

    d.p = (const unsigned char *) p;
    d.end = d.p + len;
    d.plus = 1;

    for (f = field; (c = audit_pct_next(&d)) >= 0; f++) {
        if (*f == '\0' || (unsigned char) *f != c) {
            return 0;
        }
    }

    return *f == '\0';
}


static long
audit_login_json(const char *body, size_t len, const char *field, char *out,
    size_t size, int last)
{
    long           rc;
    size_t         n;
    json_t        *root, *v;
    json_error_t   err;

    /* jansson keeps the last of duplicate members, as JSON.parse() does */

    root = json_loadb(body, len, last ? 0 : JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        return -1;
    }

    rc = -1;
    v = json_is_object(root) ? json_object_get(root, field) : NULL;

    if (json_is_string(v)) {
        n = json_string_length(v);

        if (n < size) {
            memcpy(out, json_string_value(v), n);
            out[n] = '\0';
            rc = (long) n;
        }
    }

    json_decref(root);

    return rc;
}




/*
 * multipart/form-data (RFC 7578): the first part whose Content-Disposition
 * names field and names no file; its value is the part's body up to the
 * line end before the next delimiter.  Lines may end in CRLF or a bare LF
 * (PHP and Rack take both).  Every other part, the password among them,
 * is skipped by searching for the next delimiter and never copied.
 */

static long
audit_login_multipart(const char *ct, size_t ct_len, const char *body,
    size_t len, const char *field, char *out, size_t size, int last)
{
    size_t       blen, n;
    const char  *b, *p, *end, *value, *next, *v, *vend;

    blen = audit_login_boundary(ct, ct_len, &b);
    if (blen == 0) {
        return -1;
    }

    end = body + len;
    p = audit_login_delimiter(body, end, b, blen);
    v = NULL;
    vend = NULL;

    while (p != NULL) {
        p += 2 + blen;

        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            break;                          /* the close delimiter */
        }

        p = memchr(p, '\n', end - p);
        if (p == NULL) {
            break;
        }

        p++;
        next = audit_login_delimiter(p, end, b, blen);
        if (next == NULL) {
            break;                          /* a part never closed */
        }

        if (audit_login_part_named(p, next, field, &value)) {
            v = value;
            vend = next;

            if (!last) {
                break;
            }
        }

        p = next;
    }

    if (v == NULL) {
        return -1;
    }

    /* the line end before the delimiter is not the value's */

    n = (size_t) (vend - v);

    if (n > 0 && v[n - 1] == '\n') {
        n--;
    }

    if (n > 0 && v[n - 1] == '\r') {
        n--;
    }

    if (n + 1 > size) {
        return -1;
    }

    memcpy(out, v, n);
    out[n] = '\0';

    return (long) n;
}


/* the boundary parameter of ct[0..len): its length, 0 for none */

static size_t
audit_login_boundary(const char *ct, size_t len, const char **boundary)
{
    const char  *p, *end, *v;

    end = ct + len;

    for (p = memchr(ct, ';', len); p != NULL && p < end;
         p = memchr(p, ';', end - p))
    {
        p++;

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if ((size_t) (end - p) < sizeof("boundary=") - 1
            || !audit_login_is(p, sizeof("boundary=") - 1, "boundary="))
        {
            continue;
        }

        p += sizeof("boundary=") - 1;

        if (p < end && *p == '"') {
            v = ++p;
            p = memchr(p, '"', end - p);
            if (p == NULL) {
                return 0;
            }

        } else {
            for (v = p; p < end && *p != ';' && *p != ' ' && *p != '\t'; p++) {
                /* void */
            }
        }

        /* RFC 2046: 1 to 70 characters */

        if (p == v || p - v > 70) {
            return 0;
        }

        *boundary = v;
        return (size_t) (p - v);
    }

    return 0;
}


/* the next "--" boundary at p, or at the start of a line after p */

static const char *
audit_login_delimiter(const char *p, const char *end, const char *b,
    size_t blen)
{
    const char  *start;

    for (start = p; (size_t) (end - p) >= 2 + blen; p++) {
        if ((p == start || p[-1] == '\n')
            && p[0] == '-' && p[1] == '-' && memcmp(p + 2, b, blen) == 0)
        {
            return p;
        }

        p = memchr(p, '\n', end - p);
        if (p == NULL) {
            return NULL;
        }
    }

    return NULL;
}


/*
 * The part p[0..end) is a form field named field: its headers, up to a
 * blank line, hold a Content-Disposition whose name parameter (in double,
 * single or no quotes; "name" in any case, not "filename") is field, and
 * no filename parameter.  *value is where its body starts.
 */

static int
audit_login_part_named(const char *p, const char *end, const char *field,
    const char **value)
{
    int          named, file;
    char         q;
    size_t       flen;
    const char  *eol, *v, *a;

    named = 0;
    file = 0;
    flen = strlen(field);

    while (p < end) {
        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            return 0;
        }

        if (eol == p || (eol == p + 1 && *p == '\r')) {
            *value = eol + 1;
            return named && !file;
        }

        if ((size_t) (eol - p) > sizeof("content-disposition:") - 1
            && audit_login_is(p, sizeof("content-disposition:") - 1,
                              "content-disposition:"))
        {
            for (a = p; (a = audit_login_find_ci(a, eol, "name=")) != NULL;
                 a += sizeof("name=") - 1)
            {
                if (a - p >= 4 && audit_login_is(a - 4, 4, "file")) {
                    file = 1;
                    continue;
                }

                if (a[-1] != ';' && a[-1] != ' ' && a[-1] != '\t') {
                    continue;
                }

                v = a + sizeof("name=") - 1;
                q = (v < eol && (*v == '"' || *v == '\'')) ? *v++ : 0;

                if ((size_t) (eol - v) >= flen && memcmp(v, field, flen) == 0
                    && (q ? v + flen < eol && v[flen] == q
                          : v + flen == eol || v[flen] == ';'
                            || v[flen] == ' ' || v[flen] == '\t'
                            || v[flen] == '\r'))
                {
                    named = 1;
                }
            }
        }

        p = eol + 1;
    }

    return 0;
}


/* the first lower (ASCII, lowercase) in p[0..end), ignoring case */

static const char *
audit_login_find_ci(const char *p, const char *end, const char *lower)
{
    size_t  n;

    n = strlen(lower);

    for ( /* void */ ; (size_t) (end - p) >= n; p++) {
        if (audit_login_is(p, n, lower)) {
            return p;
        }
    }

    return NULL;
}
