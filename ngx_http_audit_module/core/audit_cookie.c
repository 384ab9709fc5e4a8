
/*
 * Cookies (see audit_cookie.h).
 */


#include <string.h>

#include "audit_cookie.h"


static const char *audit_cookie_skip_ws(const char *p, const char *last);
static const char *audit_cookie_trim_ws(const char *p, const char *last);
static void audit_cookie_pair(const char *p, const char *last,
    audit_str_t *name, audit_str_t *value);
static void audit_cookie_unquote(audit_str_t *value);


/*
 * cookie-string = cookie-pair *( ";" SP cookie-pair ), read leniently:
 * any spaces or tabs around the pairs, empty pairs skipped.  ',' is not a
 * separator (RFC 2965 is obsolete; RFC 6265 values may hold no ',').
 */

void
audit_cookie_scan(audit_cookie_t *c, const char *line, size_t len,
    const char *name, size_t name_len)
{
    const char   *p, *last, *end;
    audit_str_t   n, v;

    p = line;
    last = line + len;

    while (p < last) {
        end = memchr(p, ';', last - p);
        if (end == NULL) {
            end = last;
        }

        audit_cookie_pair(p, end, &n, &v);

        if (n.len == name_len && memcmp(n.data, name, name_len) == 0) {
            audit_cookie_unquote(&v);

            if (!c->found) {
                c->value = v;
                c->found = 1;

            } else if (v.len != c->value.len
                       || memcmp(v.data, c->value.data, v.len) != 0)
            {
                c->ambiguous = 1;
            }
        }

        p = end + 1;
    }
}


/*
 * RFC 6265 §5.2: the name-value-pair is everything up to the first ';';
 * the attributes after it do not matter here.
 */

int
audit_set_cookie_value(const char *line, size_t len, const char *name,
    size_t name_len, audit_str_t *value)
{
    const char   *end;
    audit_str_t   n, v;

    end = memchr(line, ';', len);
    if (end == NULL) {
        end = line + len;
    }

    audit_cookie_pair(line, end, &n, &v);

    if (n.data == NULL || n.len != name_len
        || memcmp(n.data, name, name_len) != 0)
    {
        return 0;
    }

    audit_cookie_unquote(&v);
    *value = v;

    return 1;
}


/* "  name = value  " between p and last: both trimmed; no '=': no name */

static void
audit_cookie_pair(const char *p, const char *last, audit_str_t *name,
    audit_str_t *value)
{
    const char  *eq, *e;

    name->data = NULL;
    name->len = 0;
    value->data = NULL;
    value->len = 0;

    p = audit_cookie_skip_ws(p, last);

    eq = memchr(p, '=', last - p);
    if (eq == NULL) {
        return;
    }

    e = audit_cookie_trim_ws(p, eq);

    name->data = p;
    name->len = e - p;

    p = audit_cookie_skip_ws(eq + 1, last);

    e = audit_cookie_trim_ws(p, last);

    value->data = p;
    value->len = e - p;
}


static const char *
audit_cookie_skip_ws(const char *p, const char *last)
{
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/* the end of p..last without its trailing spaces and tabs */

static const char *
audit_cookie_trim_ws(const char *p, const char *last)
{
    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    return last;
}


/* cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ) */

static void
audit_cookie_unquote(audit_str_t *value)
{
    if (value->len >= 2 && value->data[0] == '"'
        && value->data[value->len - 1] == '"')
    {
        value->data++;
        value->len -= 2;
    }
}
