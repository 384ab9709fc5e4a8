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
    AUDIT_LOGIN_JSON
} audit_login_format_t;




static audit_login_format_t audit_login_format(const char *ct, size_t len);
static int audit_login_is(const char *p, size_t len, const char *lower);
static long audit_login_form(const char *body, size_t len, const char *field,
    char *out, size_t size);
static int audit_login_name_is(const char *p, size_t len, const char *field);
static long audit_login_json(const char *body, size_t len, const char *field,
    char *out, size_t size);


long
audit_login_username(const char *content_type, size_t ct_len,
    const char *body, size_t len, const char *field, char *out, size_t size)
{
    if (content_type == NULL || body == NULL || field == NULL
        || out == NULL || size == 0)
    {
        return -1;
    }

    switch (audit_login_format(content_type, ct_len)) {

    case AUDIT_LOGIN_FORM:
        return audit_login_form(body, len, field, out, size);

    case AUDIT_LOGIN_JSON:
        return audit_login_json(body, len, field, out, size);

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

    if (audit_login_is(ct, len, "application/json")) {
        return AUDIT_LOGIN_JSON;
    }

    /* a structured syntax suffix (RFC 6839): application/<subtype>+json */
    if (len > sizeof("application/+json") - 1
        && audit_login_is(ct, sizeof("application/") - 1, "application/")
        && audit_login_is(end - 5, 5, "+json"))
    {
        for (p = ct + sizeof("application/") - 1; p < end; p++) {
            if (*p == '/' || *p == ' ' || *p == '\t') {
                return AUDIT_LOGIN_OTHER;
            }
        }

        return AUDIT_LOGIN_JSON;
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
 * Walks name=value pairs and decodes only the value of the first pair
 * named field; every other value, the password among them, is skipped by
 * memchr() and never decoded.
 */

static long
audit_login_form(const char *body, size_t len, const char *field, char *out,
    size_t size)
{
    int                 c;
    size_t              n;
    const char         *param, *amp, *eq, *end;
    audit_pct_t         d;

    end = body + len;
    param = body;

    for ( ;; ) {
        amp = memchr(param, '&', end - param);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(param, '=', amp - param);

        if (!audit_login_name_is(param, (eq ? eq : amp) - param, field)) {
            if (amp == end) {
                return -1;
            }

            param = amp + 1;
            continue;
        }

        d.p = (const unsigned char *) (eq ? eq + 1 : amp);
        d.end = (const unsigned char *) amp;
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
    size_t size)
{
    long           rc;
    size_t         n;
    json_t        *root, *v;
    json_error_t   err;

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
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




