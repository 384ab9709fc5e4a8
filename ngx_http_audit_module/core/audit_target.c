
/*
 * Canonical request targets and method overrides (see audit_target.h).
 */


#include <string.h>

#include "audit_target.h"
#include "audit_pct_int.h"
#include "audit_login.h"


static const char  *audit_target_reasons[AUDIT_TARGET_MAX] = {
    NULL,
    "fragment",
    "backslash",
    "path_parameter",
    "encoded_slash",
    "bad_encoding",
    "double_encoding",
    "dot_segment",
    "trailing_dot",
    "not_canonical",
};


static int audit_target_hex_after(const unsigned char *t, size_t i,
    size_t path);
static audit_target_class_t audit_target_segment(size_t len, size_t dots,
    int last);
static int audit_target_media(const char *ct, size_t len, const char *type);
static void audit_override_multipart(audit_override_t *o, const char *body,
    size_t len);
static const char *audit_target_find(const char *p, const char *end,
    const char *s, size_t n);
static const char *audit_target_find_ci(const char *p, const char *end,
    const char *s, size_t n);
static int audit_override_name_char(int c, size_t *n, char *name);
static int audit_override_jsonish(const char *ct, size_t len);


audit_target_class_t
audit_target_check(const char *target, size_t len, const char *uri,
    size_t uri_len, unsigned flags)
{
    int                   c, raw, last, mismatch, prev;
    size_t                i, k, seg, dots, path;
    audit_target_class_t  cls;
    const unsigned char  *t;

    t = (const unsigned char *) target;

    if (len == 0 || t[0] != '/') {
        return AUDIT_TARGET_NOT_CANONICAL;
    }

    if (memchr(t, '#', len) != NULL) {
        return AUDIT_TARGET_FRAGMENT;
    }

    for (path = 0; path < len && t[path] != '?'; path++) {
        /* void */
    }

    mismatch = 0;
    prev = 0;       /* the previous decoded byte */
    k = 1;          /* the next byte of uri to compare */
    seg = 0;        /* the current segment: its length, its dots, */
    dots = 0;
    last = 0;       /* and its last (decoded) byte */

    for (i = 1; i <= path; i++) {

        if (i == path) {
            c = '/';
            raw = 1;

        } else {
            c = t[i];
            raw = 1;

            if (c == '\\') {
                return AUDIT_TARGET_BACKSLASH;
            }

            if (c == ';') {
                return AUDIT_TARGET_PATH_PARAMETER;
            }

            if (c <= 0x20 || c == 0x7f) {
                return AUDIT_TARGET_BAD_ENCODING;
            }

            if (c == '%') {
                if (i + 2 >= path || audit_pct_hex(t[i + 1]) < 0
                    || audit_pct_hex(t[i + 2]) < 0)
                {
                    return AUDIT_TARGET_BAD_ENCODING;
                }

                c = audit_pct_hex(t[i + 1]) * 16
                    + audit_pct_hex(t[i + 2]);
                i += 2;
                raw = 0;

                if (c == '/' || c == '\\') {
                    if (!(flags & AUDIT_TARGET_ALLOW_ENCODED_SLASH)) {
                        return AUDIT_TARGET_ENCODED_SLASH;
                    }

                } else if (c < 0x20 || c == 0x7f || c == 0xc0 || c == 0xc1) {
                    return AUDIT_TARGET_BAD_ENCODING;

                } else if (c == '%' && audit_target_hex_after(t, i + 1, path))
                {
                    return AUDIT_TARGET_DOUBLE_ENCODING;
                }
            }

            /*
             * an overlong UTF-8 form, raw or encoded (%e0%80%ae is '.' to
             * a lax decoder): only there to be read as another byte
             */

            if ((prev == 0xe0 && c >= 0x80 && c <= 0x9f)
                || (prev == 0xf0 && c >= 0x80 && c <= 0x8f)
                || (raw && (c == 0xc0 || c == 0xc1)))
            {
                return AUDIT_TARGET_BAD_ENCODING;
            }

            prev = c;

            /* what nginx decoded must be what it matched, byte by byte */

            if (uri && (k >= uri_len || (unsigned char) uri[k] != c)) {
                mismatch = 1;
            }

            k++;
        }

        /* a raw '/', an allowed encoded one, or the end of the path */

        if (c == '/' || (c == '\\' && !raw)) {
            cls = audit_target_segment(seg, dots, last);
            if (cls != AUDIT_TARGET_OK) {
                return cls;
            }

            /*
             * an empty segment ("//admin"): nginx matched it as it is
             * under "merge_slashes off", a portal (Rails, most routers)
             * squeezes it into another path
             */

            if (seg == 0 && i != path) {
                mismatch = 1;
            }

            seg = 0;
            dots = 0;
            last = 0;
            continue;
        }

        seg++;
        dots += (c == '.');
        last = c;
    }

    if (uri && (uri_len == 0 || uri[0] != '/' || k != uri_len)) {
        /* uri[0] is the leading '/' the loop skipped */
        mismatch = 1;
    }

    return mismatch ? AUDIT_TARGET_NOT_CANONICAL : AUDIT_TARGET_OK;
}


/*
 * Two hex digits at t[i..), each raw or itself %-encoded ("%32%65"): what
 * a '%' decoded from "%25" would stand before once a portal decodes again
 */

static int
audit_target_hex_after(const unsigned char *t, size_t i, size_t path)
{
    int  n, c;

    for (n = 0; n < 2; n++) {
        if (i >= path) {
            return 0;
        }

        c = t[i];

        if (c == '%') {
            if (i + 2 >= path || audit_pct_hex(t[i + 1]) < 0
                || audit_pct_hex(t[i + 2]) < 0)
            {
                return 0;
            }

            c = audit_pct_hex(t[i + 1]) * 16 + audit_pct_hex(t[i + 2]);
            i += 3;

        } else {
            i++;
        }

        if (audit_pct_hex(c) < 0) {
            return 0;
        }
    }

    return 1;
}


const char *
audit_target_reason(audit_target_class_t c)
{
    if ((unsigned) c >= AUDIT_TARGET_MAX) {
        return NULL;
    }

    return audit_target_reasons[c];
}


static audit_target_class_t
audit_target_segment(size_t len, size_t dots, int last)
{
    if (len != 0 && dots == len && len <= 2) {
        return AUDIT_TARGET_DOT_SEGMENT;
    }

    if (last == '.' || last == ' ') {
        return AUDIT_TARGET_TRAILING_DOT;
    }

    return AUDIT_TARGET_OK;
}


void
audit_override_add(audit_override_t *o, const char *value, size_t len)
{
    int     c;
    char    m[AUDIT_OVERRIDE_MAX];
    size_t  i;

    if (len == 0) {
        return;
    }

    if (len > AUDIT_OVERRIDE_MAX) {
        o->conflict = 1;
        return;
    }

    /* a method is a token (RFC 9110 section 5.6.2) the frameworks take
     * uppercased; anything else is refused rather than guessed at */

    for (i = 0; i < len; i++) {
        c = (unsigned char) value[i];

        if (c >= 'a' && c <= 'z') {
            c -= 'a' - 'A';

        } else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                     || c == '-' || c == '_'))
        {
            o->conflict = 1;
            return;
        }

        m[i] = (char) c;
    }

    if (o->len == 0) {
        memcpy(o->method, m, len);
        o->method[len] = '\0';
        o->len = len;
        return;
    }

    if (o->len != len || memcmp(o->method, m, len) != 0) {
        o->conflict = 1;
    }
}


void
audit_override_form(audit_override_t *o, const char *s, size_t len)
{
    int          c;
    size_t       n, k;
    char         v[AUDIT_OVERRIDE_MAX + 1], key[sizeof("_method")];
    const char  *param, *amp, *eq, *end;
    audit_pct_t  d;

    static const char  name[] = "_method";

    end = s + len;

    for (param = s; param < end; param = amp + 1) {
        amp = memchr(param, '&', end - param);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(param, '=', amp - param);

        /* the %-decoded name, as PHP, Rack and ASP.NET decode it */

        d.p = (const unsigned char *) param;
        d.end = (const unsigned char *) (eq ? eq : amp);
        d.plus = 1;
        k = 0;

        while ((c = audit_pct_next(&d)) >= 0) {
            if (!audit_override_name_char(c, &k, key)) {
                break;
            }
        }

        if (c >= 0 || eq == NULL || k != sizeof(name) - 1
            || memcmp(key, name, k) != 0)
        {
            continue;
        }

        d.p = (const unsigned char *) eq + 1;
        d.end = (const unsigned char *) amp;
        n = 0;

        while ((c = audit_pct_next(&d)) >= 0) {
            if (n == sizeof(v)) {
                break;
            }

            v[n++] = (char) c;
        }

        audit_override_add(o, v, n);
    }
}


void
audit_override_body(audit_override_t *o, const char *content_type,
    size_t ct_len, const char *body, size_t len)
{
    long  n;
    char  v[AUDIT_OVERRIDE_MAX + 2];

    if (body == NULL || len == 0) {
        return;
    }

    /* no Content-Type at all: Rack (Rails) parses a POST body as a form */

    if (content_type == NULL || ct_len == 0
        || audit_target_media(content_type, ct_len,
                              "application/x-www-form-urlencoded"))
    {
        audit_override_form(o, body, len);
        return;
    }

    if (audit_target_media(content_type, ct_len, "multipart/form-data")) {
        audit_override_multipart(o, body, len);
        return;
    }

    /*
     * JSON, by any name a framework reads as JSON (Laravel: "/json" or
     * "+json" anywhere; Rails: text/x-json too), read as the login reader
     * reads application/json; a "_method" it cannot take as a string
     * (another type, too long, a malformed body) is no guess
     */

    if (!audit_override_jsonish(content_type, ct_len)) {
        return;
    }

    n = audit_login_username("application/json",
                             sizeof("application/json") - 1, body, len,
                             "_method", v, sizeof(v));

    if (n > 0) {
        audit_override_add(o, v, (size_t) n);

    } else if (n < 0
               && audit_target_find(body, body + len, "_method", 7) != NULL)
    {
        o->conflict = 1;
    }
}


/*
 * Each part whose Content-Disposition names "_method" (as PHP reads a
 * name: see audit_override_name_char()), in any case of "name=", in
 * double, single or no quotes, with CRLF or bare LF line ends, as PHP's
 * and Rack's parsers accept them: the value is the part's body, up to the
 * line end before the next boundary.
 */

static void
audit_override_multipart(audit_override_t *o, const char *body, size_t len)
{
    char         q, key[sizeof("_method")];
    size_t       k;
    const char  *p, *end, *hdr, *val, *eol;

    end = body + len;

    for (p = body; (p = audit_target_find_ci(p, end, "name=", 5)) != NULL; ) {
        p += 5;
        q = 0;

        if (p < end && (*p == '"' || *p == '\'')) {
            q = *p++;
        }

        k = 0;

        for ( /* void */ ; p < end; p++) {
            if (q ? *p == q
                  : (*p == ';' || *p == '\r' || *p == '\n' || *p == ' '
                     || *p == '\t'))
            {
                break;
            }

            if (!audit_override_name_char((unsigned char) *p, &k, key)) {
                break;
            }
        }

        if (k != sizeof(key) - 1 || memcmp(key, "_method", k) != 0
            || (p < end
                && !(q ? *p == q
                       : (*p == ';' || *p == '\r' || *p == '\n'
                          || *p == ' ' || *p == '\t'))))
        {
            continue;           /* another name, "_methods" */
        }

        /* the part's headers end at a blank line */

        hdr = audit_target_find(p, end, "\n\r\n", 3);
        eol = audit_target_find(p, end, "\n\n", 2);

        if (hdr == NULL || (eol != NULL && eol < hdr)) {
            hdr = eol;
            val = hdr ? hdr + 2 : NULL;

        } else {
            val = hdr + 3;
        }

        if (val == NULL) {
            return;
        }

        eol = memchr(val, '\n', end - val);
        eol = eol ? eol : end;

        if (eol > val && eol[-1] == '\r') {
            eol--;
        }

        audit_override_add(o, val, (size_t) (eol - val));

        p = val;
    }
}


/*
 * One more byte of a parameter name, as PHP registers it: leading blanks
 * dropped, " " and "." read as "_" (so ".method" and " _method" are its
 * "_method").  The name is kept in name[] while it can still be
 * "_method"; 0 once it cannot.
 */

static int
audit_override_name_char(int c, size_t *n, char *name)
{
    if (c == ' ' && *n == 0) {
        return 1;
    }

    if (c == ' ' || c == '.') {
        c = '_';
    }

    if (*n == sizeof("_method") - 1 || c != "_method"[*n]) {
        *n = (size_t) -1;
        return 0;
    }

    name[(*n)++] = (char) c;

    return 1;
}


/* a media type with "json" in it, in any case */

static int
audit_override_jsonish(const char *ct, size_t len)
{
    const char  *semi;

    semi = memchr(ct, ';', len);

    if (semi != NULL) {
        len = (size_t) (semi - ct);
    }

    return audit_target_find_ci(ct, ct + len, "json", 4) != NULL;
}


/* the media type of ct[0..len), before any parameter, is type */

static int
audit_target_media(const char *ct, size_t len, const char *type)
{
    size_t  i, n;

    n = strlen(type);

    while (len && (*ct == ' ' || *ct == '\t')) {
        ct++;
        len--;
    }

    if (len < n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((ct[i] | 0x20) != type[i] && ct[i] != type[i]) {
            return 0;
        }
    }

    return len == n || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}


static const char *
audit_target_find(const char *p, const char *end, const char *s, size_t n)
{
    for ( /* void */ ; (size_t) (end - p) >= n; p++) {
        p = memchr(p, s[0], end - p - n + 1);
        if (p == NULL) {
            return NULL;
        }

        if (memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


/* s (lowercase) in p[0..end) in any case */

static const char *
audit_target_find_ci(const char *p, const char *end, const char *s, size_t n)
{
    size_t  i;

    for ( /* void */ ; (size_t) (end - p) >= n; p++) {
        for (i = 0; i < n; i++) {
            if ((p[i] | 0x20) != s[i] && p[i] != s[i]) {
                break;
            }
        }

        if (i == n) {
            return p;
        }
    }

    return NULL;
}
