
/*
 * ngx_http_audit_module: the audit console's answers.
 *
 * The page and its files (console/ in the sources, embedded when the
 * module is built: config writes ngx_http_audit_console_assets.h), the
 * JSON (and CSV) answers with the console's headers, errors as JSON, and
 * a query argument read the one way every part of the console reads one.
 */


#include "ngx_http_audit_console.h"
#include "ngx_http_audit_console_assets.h"


#define NGX_HTTP_AUDIT_CONSOLE_CSP                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; "               \
    "img-src 'self'; connect-src 'self'; base-uri 'none'; "                   \
    "form-action 'none'; frame-ancestors 'none'"



static void ngx_http_audit_console_headers(ngx_http_request_t *r);


/* the page and its files */

ngx_int_t
ngx_http_audit_console_asset(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_str_t     type;
    ngx_chain_t   out;
    const u_char *data;
    size_t        len;

    if (name->len == 0
        || (name->len == 10 && ngx_strncmp(name->data, "index.html", 10) == 0))
    {
        data = ngx_http_audit_console_index_html;
        len = sizeof(ngx_http_audit_console_index_html);
        ngx_str_set(&type, "text/html; charset=utf-8");

    } else if (name->len == 11
               && ngx_strncmp(name->data, "console.css", 11) == 0)
    {
        data = ngx_http_audit_console_console_css;
        len = sizeof(ngx_http_audit_console_console_css);
        ngx_str_set(&type, "text/css; charset=utf-8");

    } else if (name->len == 10
               && ngx_strncmp(name->data, "console.js", 10) == 0)
    {
        data = ngx_http_audit_console_console_js;
        len = sizeof(ngx_http_audit_console_console_js);
        ngx_str_set(&type, "text/javascript; charset=utf-8");

    } else if (name->len == 11
               && ngx_strncmp(name->data, "favicon.svg", 11) == 0)
    {
        data = ngx_http_audit_console_favicon_svg;
        len = sizeof(ngx_http_audit_console_favicon_svg);
        ngx_str_set(&type, "image/svg+xml");

    } else {
        return ngx_http_audit_console_error(r, NGX_HTTP_NOT_FOUND,
                                            "not_found");
    }

    ngx_http_audit_console_headers(r);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;

    if (r->method == NGX_HTTP_HEAD) {
        return ngx_http_send_header(r);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) data;
    b->last = (u_char *) data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


static void
ngx_http_audit_console_headers(ngx_http_request_t *r)
{
    ngx_uint_t  i;

    static ngx_str_t  headers[] = {
        ngx_string("Content-Security-Policy"),
        ngx_string(NGX_HTTP_AUDIT_CONSOLE_CSP),
        ngx_string("Cache-Control"), ngx_string("no-store"),
        ngx_string("X-Content-Type-Options"), ngx_string("nosniff"),
        ngx_string("Referrer-Policy"), ngx_string("no-referrer"),
        ngx_string("X-Frame-Options"), ngx_string("DENY")
    };

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i += 2) {
        (void) ngx_http_audit_add_out_header(r, &headers[i], &headers[i + 1]);
    }
}


ngx_int_t
ngx_http_audit_console_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    ngx_str_t                     id;
    ngx_http_audit_console_out_t  o;

    ngx_memzero(&o, sizeof(o));
    o.pool = r->pool;

    ngx_http_audit_console_put(&o, "{\"error\":\"%s\"", error);

    if (ngx_http_audit_request_id(r, &id) == NGX_OK) {
        ngx_http_audit_console_put(&o, ",\"request_id\":\"%V\"", &id);
    }

    ngx_http_audit_console_put(&o, "}\n");

    r->headers_out.status = status;

    return ngx_http_audit_console_send(r, &o);
}


/* the answer: application/json, the console's headers, no caching */

ngx_int_t
ngx_http_audit_console_send(ngx_http_request_t *r,
    ngx_http_audit_console_out_t *o)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    static ngx_str_t  disposition = ngx_string("Content-Disposition");

    if (o->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_audit_console_headers(r);

    if (o->type.len) {
        r->headers_out.content_type = o->type;

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;

    if (o->filename.len) {
        (void) ngx_http_audit_add_out_header(r, &disposition, &o->filename);
    }
    r->headers_out.content_length_n = o->pos - o->start;

    if (r->headers_out.status == NGX_HTTP_UNAUTHORIZED) {
        /* no browser login prompt, and no redirect by our header filter */
        r->headers_out.www_authenticate = NULL;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = o->start;
    b->last = o->pos;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


void
ngx_http_audit_console_put_bytes(ngx_http_audit_console_out_t *o,
    const u_char *data, size_t len)
{
    size_t   size;
    u_char  *p;

    if (o->failed || len == 0) {
        return;
    }

    if ((size_t) (o->end - o->pos) < len) {
        size = ngx_max(2 * (size_t) (o->end - o->start), 4096);
        size = ngx_max(size, (size_t) (o->pos - o->start) + len);

        p = ngx_pnalloc(o->pool, size);
        if (p == NULL) {
            o->failed = 1;
            return;
        }

        /* nothing to keep before the first piece (o->start is NULL) */
        o->pos = o->start ? ngx_cpymem(p, o->start, o->pos - o->start) : p;
        o->start = p;
        o->end = p + size;
    }

    o->pos = ngx_cpymem(o->pos, data, len);
}


void ngx_cdecl
ngx_http_audit_console_put(ngx_http_audit_console_out_t *o,
    const char *fmt, ...)
{
    u_char   buf[1024], *last;
    va_list  args;

    va_start(args, fmt);
    last = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    ngx_http_audit_console_put_bytes(o, buf, last - buf);
}


/* a JSON string: valid UTF-8, escaped */

void
ngx_http_audit_console_put_string(ngx_http_audit_console_out_t *o,
    const u_char *data, size_t len)
{
    char     *clean;
    u_char   *escaped, *last;
    size_t    n, size;

    size = len * 3 + 1;

    clean = ngx_pnalloc(o->pool, size);
    if (clean == NULL) {
        o->failed = 1;
        return;
    }

    n = audit_utf8_sanitize((const char *) data, len, clean, size);

    escaped = ngx_pnalloc(o->pool,
                          n + ngx_escape_json(NULL, (u_char *) clean, n));
    if (escaped == NULL) {
        o->failed = 1;
        return;
    }

    last = (u_char *) ngx_escape_json(escaped, (u_char *) clean, n);

    ngx_http_audit_console_put_bytes(o, (u_char *) "\"", 1);
    ngx_http_audit_console_put_bytes(o, escaped, last - escaped);
    ngx_http_audit_console_put_bytes(o, (u_char *) "\"", 1);
}


/*
 * A query argument, %-decoded ("+" a space): NGX_DECLINED when absent or
 * empty, NGX_ERROR when longer than NGX_HTTP_AUDIT_CONSOLE_ARG bytes or
 * holding a NUL or another control character; the console never searches
 * for what no event can hold.
 */

ngx_int_t
ngx_http_audit_console_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char     *p, *dst, *src;
    size_t      i;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK
        || raw.len == 0)
    {
        return NGX_DECLINED;
    }

    if (raw.len > NGX_HTTP_AUDIT_CONSOLE_ARG * 3) {
        return NGX_ERROR;
    }

    dst = ngx_pnalloc(r->pool, 2 * raw.len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    /*
     * form encoding: '+' is a space before %-decoding, so that "%2B" (how
     * the page sends a '+') stays one: "ann+night@clinic.example"
     */

    src = dst + raw.len;

    for (i = 0; i < raw.len; i++) {
        src[i] = (raw.data[i] == '+') ? ' ' : raw.data[i];
    }

    value->data = dst;
    p = src;
    ngx_unescape_uri(&dst, &p, raw.len, 0);
    value->len = dst - value->data;

    for (p = value->data; p < value->data + value->len; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return NGX_ERROR;
        }
    }

    if (value->len == 0 || value->len > NGX_HTTP_AUDIT_CONSOLE_ARG) {
        return value->len ? NGX_ERROR : NGX_DECLINED;
    }

    return NGX_OK;
}
