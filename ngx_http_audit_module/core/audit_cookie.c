
/*
 * Cookies (see audit_cookie.h).
 */


#include <string.h>

#include "audit_pct_int.h"
#include "audit_cookie.h"


static const char *audit_cookie_skip_ws(const char *p, const char *last);
static const char *audit_cookie_trim_ws(const char *p, const char *last);
static void audit_cookie_pair(const char *p, const char *last,
    audit_str_t *name, audit_str_t *value);
static void audit_cookie_unquote(audit_str_t *value);
static int audit_cookie_alike(audit_str_t *n, const char *name,
    size_t name_len);
static int audit_cookie_hidden(audit_str_t *v, const char *name,
    size_t name_len);
static int audit_cookie_same(audit_str_t *a, audit_str_t *b);


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

        if (n.data != NULL && audit_cookie_hidden(&v, name, name_len)) {
            c->ambiguous = 1;
        }

        if (n.len == name_len && memcmp(n.data, name, name_len) == 0) {
            audit_cookie_unquote(&v);

            if (!c->found) {
                c->value = v;
                c->found = 1;

            } else if (!audit_cookie_same(&v, &c->value)) {
                c->ambiguous = 1;
            }

            if (c->alike_found && !audit_cookie_same(&v, &c->alike)) {
                c->ambiguous = 1;
            }

        } else if (n.data != NULL && audit_cookie_alike(&n, name, name_len)) {
            audit_cookie_unquote(&v);

            if (!c->alike_found) {
                c->alike = v;
                c->alike_found = 1;
            }

            if (c->found && !audit_cookie_same(&v, &c->value)) {
                c->ambiguous = 1;
            }
        }

        p = end + 1;
    }
}


static int
audit_cookie_same(audit_str_t *a, audit_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}


/* n, %-decoded and in any case of ASCII letters, is name */

static int
audit_cookie_alike(audit_str_t *n, const char *name, size_t name_len)
{
    int          c, f;
    size_t       i;
    audit_pct_t  d;

    d.p = (const unsigned char *) n->data;
    d.end = d.p + n->len;
    d.plus = 0;

    for (i = 0; (c = audit_pct_next(&d)) >= 0; i++) {
        if (i == name_len) {
            return 0;
        }

        f = (unsigned char) name[i];

        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }

        if (f >= 'A' && f <= 'Z') {
            f += 'a' - 'A';
        }

        if (c != f) {
            return 0;
        }
    }

    return i == name_len;
}


/*
 * "NAME=" (as audit_cookie_alike() reads a name) after a space, a tab or
 * a ',' inside a value.  Linear in the value: a name is at most
 * 3 * name_len bytes (each maybe %XX), and blanks are walked only after
 * one.
 */

static int
audit_cookie_hidden(audit_str_t *v, const char *name, size_t name_len)
{
    size_t        i, j;
    const char   *s;
    audit_str_t   n;

    s = v->data;

    for (i = 1; i < v->len; i++) {

        if (s[i - 1] != ' ' && s[i - 1] != '\t' && s[i - 1] != ',') {
            continue;
        }

        for (j = i;
             j < v->len && j - i <= 3 * name_len
             && s[j] != '=' && s[j] != ' ' && s[j] != '\t';
             j++)
        {
            /* void */
        }

        if (j == i || j - i > 3 * name_len) {
            continue;
        }

        n.data = s + i;
        n.len = j - i;

        while (j < v->len && (s[j] == ' ' || s[j] == '\t')) {
            j++;
        }

        if (j < v->len && s[j] == '=' && audit_cookie_alike(&n, name, name_len))
        {
            return 1;
        }
    }

    return 0;
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
