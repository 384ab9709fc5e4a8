
/*
 * ngx_http_audit_module: logins and logouts, observed.
 *
 * The module does not log anyone in: the portal does.  On a location with
 * "audit_login", the access phase reads the POSTed body (without
 * blocking, and keeping it for the upstream, as the mirror module does)
 * and takes only the username field from it; the header filter then
 * looks at the portal's answer: a Set-Cookie of the session cookie with a
 * token that verifies is a login (login_success + session_create, with
 * the identity from that token), anything else a login_failure naming the
 * account tried.  The password is never copied anywhere.
 *
 * On a location with "audit_logout", a request with a valid session that
 * the portal answers without an error is a session_destroy.
 */


#include "ngx_http_audit_module.h"
#include "audit_cookie.h"


/*
 * Longer bodies are not looked into for a username: no login form is
 * that big.  For a "_method" the bound is nginx's default
 * client_max_body_size; a longer form is judged as if it could name any
 * method (ngx_http_audit_policy_check()).
 */
#define NGX_HTTP_AUDIT_LOGIN_BODY_MAX     (64 * 1024)
#define NGX_HTTP_AUDIT_OVERRIDE_BODY_MAX  (1024 * 1024)


static void ngx_http_audit_login_body_handler(ngx_http_request_t *r);
static void ngx_http_audit_login_username(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *body);
static ngx_int_t ngx_http_audit_login_body(ngx_http_request_t *r,
    ngx_str_t *body, size_t max);
static ngx_int_t ngx_http_audit_login_cookie(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static void ngx_http_audit_login_failure_reason(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_login_session_hash(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx);


char *
ngx_http_audit_login(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    ngx_str_t  *value;

    if (alcf->login_field.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_set(&alcf->login_field, "username");
    ngx_http_audit_conf_line(cf, &alcf->login_at);

    if (cf->args->nelts == 2) {

        if (ngx_strncmp(value[1].data, "username_field=", 15) != 0
            || value[1].len == 15)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "\"audit_login\", expected "
                               "username_field=NAME", &value[1]);
            return NGX_CONF_ERROR;
        }

        /* NUL-terminated, as cf->args are: the core takes a C string */
        alcf->login_field.data = value[1].data + 15;
        alcf->login_field.len = value[1].len - 15;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_audit_logout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    if (alcf->logout != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    alcf->logout = 1;
    ngx_http_audit_conf_line(cf, &alcf->logout_at);

    return NGX_CONF_OK;
}


/*
 * NGX_DECLINED: nothing to read (or already read), go on deciding;
 * NGX_DONE: reading, the phases resume when the body is in;
 * an HTTP status on a body error.
 */

ngx_int_t
ngx_http_audit_login_read(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (alcf->login_field.len && r->method == NGX_HTTP_POST) {
        ctx->login = 1;

    } else if (!ngx_http_audit_target_body_wanted(r, alcf)) {
        return NGX_DECLINED;
    }

    if (ctx->login_body) {
        return NGX_DECLINED;
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_audit_login_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    /* balances the count taken by ngx_http_read_client_request_body() */
    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_audit_login_body_handler(ngx_http_request_t *r)
{
    ngx_str_t                   body;
    ngx_http_audit_ctx_t       *ctx;
    ngx_http_audit_loc_conf_t  *alcf;

    ctx = ngx_http_audit_get_ctx(r);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_audit_module);

    ctx->login_body = 1;

    switch (ngx_http_audit_login_body(r, &body,
                                      NGX_HTTP_AUDIT_OVERRIDE_BODY_MAX))
    {
    case NGX_OK:
        if (ctx->login && body.len <= NGX_HTTP_AUDIT_LOGIN_BODY_MAX) {
            ngx_http_audit_login_username(r, alcf, ctx, &body);
        }

        /* a "_method" in it: the policy judges that method too */
        (void) ngx_http_audit_target_body(r, ctx, &body);
        break;

    case NGX_AGAIN:
        /* too long to look into: it might name any method */
        ctx->override_unknown = 1;
        break;

    default:
        break;
    }

    /* the upstream still gets the body */
    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static void
ngx_http_audit_login_username(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *body)
{
    long        n, m;
    u_char     *user, *first;
    ngx_str_t   type;

    if (r->headers_in.content_type == NULL) {
        return;
    }

    type = r->headers_in.content_type->value;

    /* a value is never longer than the body; the event caps it later */

    user = ngx_pnalloc(r->pool, 2 * (body->len + 1));
    if (user == NULL) {
        return;
    }

    first = user + body->len + 1;

    /*
     * A body that names the field twice logs in the last account for PHP,
     * Rails, Django and JSON.parse(), the first for Java servlets: the
     * event names the last, and a failure counts against both
     */

    n = audit_login_username_last((const char *) type.data, type.len,
                                  (const char *) body->data, body->len,
                                  (const char *) alcf->login_field.data,
                                  (char *) user, body->len + 1);

    if (n > 0) {
        ctx->attempted_user.data = user;
        ctx->attempted_user.len = n;
    }

    m = audit_login_username((const char *) type.data, type.len,
                             (const char *) body->data, body->len,
                             (const char *) alcf->login_field.data,
                             (char *) first, body->len + 1);

    if (m > 0 && (m != n || ngx_memcmp(first, user, m) != 0)) {
        ctx->attempted_first.data = first;
        ctx->attempted_first.len = m;
    }
}


/*
 * The body as one piece of memory (NGX_AGAIN: longer than max).  A body
 * over client_body_buffer_size
 * is in a temporary file nginx has just written: it is read back from the
 * page cache, as nginx itself reads such files without aio.
 */

static ngx_int_t
ngx_http_audit_login_body(ngx_http_request_t *r, ngx_str_t *body, size_t max)
{
    u_char       *p;
    off_t         size;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_DECLINED;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        size = b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
        len += (size_t) size;
    }

    if (len == 0) {
        return NGX_DECLINED;
    }

    if (len > max) {
        return NGX_AGAIN;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_DECLINED;
        }

        p += n;
    }

    return NGX_OK;
}


/*
 * The portal's answer, seen by the header filter before the client sees
 * it.  To a logout: the session is revoked now, for every worker, so that
 * no copy of the cookie is accepted once the client has been told it is
 * logged out (the log phase would be too late: another worker may have
 * served a replay by then).  To a login POST: the identity of the session
 * it created, or why it did not.
 */

void
ngx_http_audit_login_response(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    ngx_str_t  value;

    if (alcf->logout) {
        if (ctx->token_valid
            && r->headers_out.status < NGX_HTTP_BAD_REQUEST)
        {
            ngx_http_audit_session_revoke(r, alcf, ctx);
        }

        return;
    }

    if (!ctx->login || !ctx->login_body) {
        return;
    }

    if (r->headers_out.status < NGX_HTTP_BAD_REQUEST
        && ngx_http_audit_login_cookie(r, &alcf->cookie, &value) == NGX_OK)
    {
        /* the request's own session, if any, is not the one created */

        audit_token_clear(&ctx->token);
        ngx_memzero(&ctx->token, sizeof(audit_token_t));
        ngx_str_null(&ctx->user_id);
        ngx_str_null(&ctx->role);
        ngx_str_null(&ctx->session_id);
        ctx->token_valid = 0;

        if (ngx_http_audit_session_verify_value(r, alcf, ctx, &value)
            == NGX_OK)
        {
            ctx->login_success = 1;
            ngx_http_audit_login_session_hash(r, ctx);
            return;
        }

        ngx_str_set(&ctx->login_reason, "bad_session_token");
        return;
    }

    ngx_http_audit_login_failure_reason(r, ctx);
}


/* "name=value; Path=/; HttpOnly" among the response's Set-Cookie headers */

static ngx_int_t
ngx_http_audit_login_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_uint_t        i;
    audit_str_t       v;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {

            if (h[i].hash == 0
                || h[i].key.len != sizeof("Set-Cookie") - 1
                || ngx_strncasecmp(h[i].key.data, (u_char *) "Set-Cookie",
                                   sizeof("Set-Cookie") - 1)
                   != 0)
            {
                continue;
            }

            if (!audit_set_cookie_value((const char *) h[i].value.data,
                                        h[i].value.len,
                                        (const char *) name->data, name->len,
                                        &v))
            {
                continue;
            }

            value->data = (u_char *) v.data;
            value->len = v.len;

            /* an emptied cookie is a logout, not a session */
            if (value->len) {
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}


static void
ngx_http_audit_login_failure_reason(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx)
{
    ngx_uint_t  status;

    status = r->headers_out.status;

    if (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN) {
        ngx_str_set(&ctx->login_reason, "invalid_credentials");

    } else if (status == NGX_HTTP_TOO_MANY_REQUESTS) {
        ngx_str_set(&ctx->login_reason, "rate_limited");

    } else if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_str_set(&ctx->login_reason, "upstream_error");

    } else if (status >= NGX_HTTP_BAD_REQUEST) {
        ngx_str_set(&ctx->login_reason, "bad_request");

    } else {
        ngx_str_set(&ctx->login_reason, "no_session");
    }
}


/*
 * A token without a session claim still needs a session id in the
 * events: the first 16 bytes of its SHA-256, in hex; never the token.
 */

static void
ngx_http_audit_login_session_hash(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx)
{
    if (ctx->session_id.len == 0) {
        (void) ngx_http_audit_session_token_id(r, &ctx->raw, "",
                                               &ctx->session_id);
    }
}
