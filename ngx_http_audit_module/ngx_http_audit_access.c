
/*
 * ngx_http_audit_module: the access phase and its answers.
 *
 * The handler only decides and returns what nginx's access phase expects
 * (NGX_OK, NGX_DECLINED, 401, 403), exactly like auth_basic: so
 * "satisfy any", "auth_delay" and "error_page 401 = @login" keep their
 * meaning.  When no error_page takes over, the header and body filters
 * below replace nginx's HTML error page with what users expect: a 302 to
 * the login page for a browser navigation, a small JSON body naming the
 * reason for everything else.
 */


#include "ngx_http_audit_module.h"


static ngx_int_t ngx_http_audit_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_audit_subrequest_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_audit_passed_handler(ngx_http_request_t *r);
static const char *ngx_http_audit_access_uri(ngx_http_request_t *r,
    char *buf, size_t size);
static ngx_int_t ngx_http_audit_subrequest_refuse(ngx_http_request_t *r,
    ngx_uint_t status);
static ngx_uint_t ngx_http_audit_same_realm(ngx_http_audit_loc_conf_t *a,
    ngx_http_audit_loc_conf_t *b);
static ngx_int_t ngx_http_audit_access_deny(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx,
    ngx_uint_t status);
static ngx_uint_t ngx_http_audit_access_is_navigation(ngx_http_request_t *r);
static ngx_int_t ngx_http_audit_access_login_location(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
static ngx_int_t ngx_http_audit_access_identity(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
static ngx_int_t ngx_http_audit_access_push(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_audit_response_id(ngx_http_request_t *r);
static ngx_int_t ngx_http_audit_header_filter(ngx_http_request_t *r);
static void ngx_http_audit_body_last(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_audit_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_audit_deny_body(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx, ngx_str_t *body);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;



ngx_int_t
ngx_http_audit_access_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_audit_access_handler;

    /* nginx skips the access phase for subrequests: they are judged here */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_audit_subrequest_handler;

    /* what "satisfy any" served although this module refused it */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_audit_passed_handler;

    if (ngx_http_audit_ctx_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_audit_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_audit_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_audit_ctx_t       *ctx;
    ngx_http_audit_loc_conf_t  *alcf;
    ngx_log_t                   elog;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_audit_module);

    /* no key set in scope: the module has nothing to check here */

    if (alcf->keys == NULL) {
        return NGX_DECLINED;
    }

    /*
     * The error page that answers this module's own refusal
     * ("error_page 401 = @signin", a 403 page; with "=" r->err_status is
     * 0) is served as it is, its response is not ours to replace, and the
     * refusal stays what is logged.  But an error page that would serve
     * the refused target itself (a named location keeps the URI, and
     * proxy_pass there can name no other) is refused again, so that nginx
     * answers with its own page.  Any other error page ("error_page 404 =
     * /admin/x" from a public location) is a request for its location
     * like any other, decided afresh.
     */

    if (r->error_page) {
        ctx = ngx_http_audit_get_ctx(r);

        if (ctx && ctx->status) {

            if (r->uri.len == ctx->refused_uri.len
                && ngx_strncmp(r->uri.data, ctx->refused_uri.data,
                               r->uri.len)
                   == 0)
            {
                ngx_http_audit_request_log(r, &elog);

                ngx_log_error(NGX_LOG_WARN, &elog, 0,
                              "audit: the error_page answering the refusal "
                              "would serve the refused target: refused "
                              "again");

                return ctx->status;
            }

            ctx->status = 0;
            return NGX_DECLINED;
        }
    }

    ctx = ngx_http_audit_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->alcf = alcf;

    /*
     * audit_record's ID now, while "$1" is still the location's capture:
     * by the log phase a map or a regex the proxy evaluated may have
     * replaced it
     */

    if (alcf->record_type.len) {
        if (ngx_http_complex_value(r, alcf->record_id, &ctx->record_id)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        ngx_str_null(&ctx->record_id);
    }

    /*
     * What the portal will act on, judged once per request: a target it
     * could read as another path, or an ambiguous method override, is
     * refused; the session is still verified so the event names who.
     */

    if (!ctx->target_checked && r == r->main) {
        ctx->target_checked = 1;
        (void) ngx_http_audit_target_check(r, alcf, ctx);
    }

    /* a login POST or a form that may override the method: the body
     * first, the phases resume after it */

    if (ctx->reject.len == 0) {
        rc = ngx_http_audit_login_read(r, alcf, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    rc = ngx_http_audit_session_verify(r, alcf, ctx);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->reject.len) {
        ctx->decision = NGX_HTTP_AUDIT_REJECTED;
        ctx->reason = ctx->reject;

        return ngx_http_audit_access_deny(r, alcf, ctx,
                                          NGX_HTTP_BAD_REQUEST);
    }

    if (ngx_http_audit_access_identity(r, alcf, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {

        if (alcf->public) {
            ctx->decision = NGX_HTTP_AUDIT_PERMITTED;
            return NGX_DECLINED;
        }

        ctx->decision = NGX_HTTP_AUDIT_UNAUTHENTICATED;

        return ngx_http_audit_access_deny(r, alcf, ctx,
                                          NGX_HTTP_UNAUTHORIZED);
    }

    if (ngx_http_audit_policy_check(r, alcf, ctx) != NGX_OK
        && !alcf->public)
    {
        ctx->decision = NGX_HTTP_AUDIT_DENIED;
        ngx_str_set(&ctx->reason, "role");

        return ngx_http_audit_access_deny(r, alcf, ctx, NGX_HTTP_FORBIDDEN);
    }

    ctx->decision = NGX_HTTP_AUDIT_PERMITTED;

    /* a public page grants nothing: other access modules still decide */

    return alcf->public ? NGX_DECLINED : NGX_OK;
}


/*
 * A subrequest (SSI "include virtual", add_before_body, mirror) never runs
 * the access phase, and it shares its parent's request headers: the
 * identity headers the parent's session put there, or whatever the client
 * sent where the parent's location does not check sessions.  So a
 * subrequest into a location this module protects is let through only
 * for the session the main request proved, against the same keys, claims
 * and identity headers, and only when that location's roles admit it;
 * anything else is refused before its upstream is asked.
 */

static ngx_int_t
ngx_http_audit_subrequest_handler(ngx_http_request_t *r)
{
    char                        uri[256];
    size_t                      deciding;
    ngx_http_audit_ctx_t       *ctx;
    ngx_http_audit_loc_conf_t  *alcf, *mlcf;
    ngx_log_t                   elog;
    static ngx_str_t            no_role = ngx_string("(none)");

    if (r == r->main) {
        return NGX_DECLINED;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_audit_module);

    if (alcf->keys == NULL) {
        return NGX_DECLINED;
    }

    mlcf = ngx_http_get_module_loc_conf(r->main, ngx_http_audit_module);
    ctx = ngx_http_audit_get_ctx(r->main);

    if (alcf->public) {

        /*
         * A public page shows whoever the identity headers name: they are
         * the main request's only when its location judged it in the same
         * realm; otherwise they are the client's, and this subrequest gets
         * a header list of its own without them (the main request's is
         * left as it is), as a visitor with no session
         */

        if (ctx && ctx->decision == NGX_HTTP_AUDIT_PERMITTED
            && ctx->alcf && ngx_http_audit_same_realm(alcf, ctx->alcf))
        {
            return NGX_DECLINED;
        }

        if (ngx_http_audit_target_strip(r, alcf->headers) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_DECLINED;
    }

    if (ctx == NULL || !ctx->token_valid
        || ctx->decision != NGX_HTTP_AUDIT_PERMITTED
        || !ngx_http_audit_same_realm(alcf, mlcf))
    {
        ngx_http_audit_request_log(r, &elog);

        ngx_log_error(NGX_LOG_WARN, &elog, 0,
                      "audit: subrequest \"%s\" refused: the main request "
                      "proved no session for its location",
                      ngx_http_audit_access_uri(r, uri, sizeof(uri)));
        return ngx_http_audit_subrequest_refuse(r, NGX_HTTP_UNAUTHORIZED);
    }

    if (alcf->rules
        && audit_policy_check(alcf->rules->elts, alcf->rules->nelts,
                              audit_method_bit((const char *)
                                               r->method_name.data,
                                               r->method_name.len),
                              (const char *const *) ctx->token.roles,
                              ctx->token.nroles, &deciding)
           != AUDIT_POLICY_PERMIT)
    {
        ngx_http_audit_request_log(r, &elog);

        ngx_log_error(NGX_LOG_WARN, &elog, 0,
                      "audit: subrequest \"%s\" refused: role \"%V\" "
                      "not admitted",
                      ngx_http_audit_access_uri(r, uri, sizeof(uri)),
                      ctx->role.len ? &ctx->role : &no_role);
        return ngx_http_audit_subrequest_refuse(r, NGX_HTTP_FORBIDDEN);
    }

    return NGX_DECLINED;
}


/*
 * A request this module refused that reaches the content phase of the
 * location that refused it: "satisfy any" with an "allow" (or another
 * access module) let it through, and the portal will answer it.  The log
 * phase then records what it was given (audit_record) beside the refusal.
 * An error page answering the refusal (error_page 401 = @signin) is
 * another location's, and is not marked.
 */

static ngx_int_t
ngx_http_audit_passed_handler(ngx_http_request_t *r)
{
    ngx_http_audit_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_audit_get_ctx(r);

    if (ctx != NULL
        && (ctx->decision == NGX_HTTP_AUDIT_DENIED
            || ctx->decision == NGX_HTTP_AUDIT_UNAUTHENTICATED)
        && ctx->alcf == ngx_http_get_module_loc_conf(r, ngx_http_audit_module))
    {
        ctx->passed = 1;
    }

    return NGX_DECLINED;
}


/*
 * The refused subrequest answers with its status and nothing else: an
 * error page would end up inside the including page.
 */

static ngx_int_t
ngx_http_audit_subrequest_refuse(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_int_t  rc;

    r->headers_out.status = status;
    r->headers_out.content_length_n = 0;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    ngx_http_finalize_request(r, ngx_http_send_special(r, NGX_HTTP_LAST));

    return NGX_DONE;
}


#define ngx_http_audit_same_str(a, b)                                         \
    ((a).len == (b).len && ngx_memcmp((a).data, (b).data, (a).len) == 0)

static ngx_uint_t
ngx_http_audit_same_realm(ngx_http_audit_loc_conf_t *a,
    ngx_http_audit_loc_conf_t *b)
{
    return (a->keys == b->keys
            || (a->keys && b->keys
                && ngx_http_audit_same_str(a->keys->path, b->keys->path)))
           && a->algs == b->algs
           && a->leeway == b->leeway
           && a->revoked == b->revoked
           && a->headers == b->headers
           && ngx_http_audit_same_str(a->cookie, b->cookie)
           && ngx_http_audit_same_str(a->issuer, b->issuer)
           && ngx_http_audit_same_str(a->audience, b->audience)
           && ngx_http_audit_same_str(a->user_claim, b->user_claim)
           && ngx_http_audit_same_str(a->role_claim, b->role_claim)
           && ngx_http_audit_same_str(a->session_claim, b->session_claim);
}


static ngx_int_t
ngx_http_audit_access_deny(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx,
    ngx_uint_t status)
{
    ngx_table_elt_t  *h;

    static ngx_str_t  www_authenticate = ngx_string("WWW-Authenticate");
    static ngx_str_t  invalid_token =
                                    ngx_string("Bearer error=\"invalid_token\"");

    ctx->status = status;
    ctx->refused_uri = r->uri;

    if (status == NGX_HTTP_UNAUTHORIZED
        && alcf->login_url.len
        && ngx_http_audit_access_is_navigation(r))
    {
        ctx->redirect = 1;
        return ngx_http_audit_access_login_location(r, alcf, ctx) == NGX_OK
               ? (ngx_int_t) status : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status != NGX_HTTP_UNAUTHORIZED) {
        /* a person sees a page, a script the JSON body */
        ctx->html = ngx_http_audit_access_is_navigation(r);
        return status;
    }

    h = ngx_http_audit_add_out_header(r, &www_authenticate, &invalid_token);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.www_authenticate = h;

    return status;
}


/* a browser loading a page: GET or HEAD that accepts text/html */

static ngx_uint_t
ngx_http_audit_access_is_navigation(ngx_http_request_t *r)
{
    ngx_str_t  *accept;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return 0;
    }

#if (NGX_HTTP_HEADERS)
    if (r->headers_in.accept == NULL) {
        return 0;
    }

    accept = &r->headers_in.accept->value;

    return ngx_strlcasestrn(accept->data, accept->data + accept->len,
                            (u_char *) "text/html", 9 - 1)
           != NULL;
#else
    (void) accept;
    return 0;
#endif
}


/*
 * LOGIN_URL?next=<the original URI, escaped>.  A URI that starts with
 * "//" would make "next" an absolute URL to another host in a careless
 * login page: it is sent as "/" instead.
 */

static ngx_int_t
ngx_http_audit_access_login_location(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   next;
    uintptr_t   escape;

    next = r->unparsed_uri;

    if (next.len == 0 || next.data[0] != '/'
        || (next.len > 1 && (next.data[1] == '/' || next.data[1] == '\\')))
    {
        ngx_str_set(&next, "/");
    }

    escape = 2 * ngx_escape_uri(NULL, next.data, next.len, NGX_ESCAPE_ARGS);

    len = alcf->login_url.len + sizeof("?next=") - 1 + next.len + escape;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->location.data = p;

    p = ngx_cpymem(p, alcf->login_url.data, alcf->login_url.len);
    p = ngx_cpymem(p, ngx_strlchr(alcf->login_url.data,
                                  alcf->login_url.data + alcf->login_url.len,
                                  '?')
                      ? "&next=" : "?next=",
                   sizeof("?next=") - 1);

    if (escape) {
        p = (u_char *) ngx_escape_uri(p, next.data, next.len,
                                      NGX_ESCAPE_ARGS);

    } else {
        p = ngx_cpymem(p, next.data, next.len);
    }

    ctx->location.len = p - ctx->location.data;

    return NGX_OK;
}


/*
 * Identity reaches the upstream as request headers.  Whatever copy of
 * them the client sent is removed first, in any spelling, on public pages
 * too, so the portal can trust them; so are path-override headers.
 */

static ngx_int_t
ngx_http_audit_access_identity(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    ngx_str_t                  id;
    ngx_list_t                *headers;
    ngx_http_audit_headers_t  *names;

    names = alcf->headers;

    if (ngx_http_audit_target_strip(r, names) != NGX_OK) {
        return NGX_ERROR;
    }

    if (names == NULL) {
        return NGX_OK;
    }

    headers = &r->headers_in.headers;

    if (ngx_http_audit_request_id(r, &id) == NGX_OK
        && ngx_http_audit_access_push(r, headers, &names->request_id, &id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!ctx->token_valid) {
        return NGX_OK;
    }

    if (ngx_http_audit_access_push(r, headers, &names->user, &ctx->user_id)
        != NGX_OK
        || ngx_http_audit_access_push(r, headers, &names->role, &ctx->role)
           != NGX_OK
        || ngx_http_audit_access_push(r, headers, &names->session,
                                      &ctx->session_id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_access_push(ngx_http_request_t *r, ngx_list_t *headers,
    ngx_str_t *name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    if (value->len == 0) {
        return NGX_OK;
    }

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = *name;
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    h->lowcase_key = ngx_pnalloc(r->pool, name->len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, name->data, name->len);

    return NGX_OK;
}


/*
 * The request id goes back to the client too, so a nurse reporting a
 * problem can quote it and support can find every event of the request.
 */

static ngx_int_t
ngx_http_audit_response_id(ngx_http_request_t *r)
{
    ngx_str_t                   id;
    ngx_table_elt_t            *h;
    ngx_http_audit_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_audit_module);

    if (alcf->headers == NULL
        || ngx_http_audit_request_id(r, &id) != NGX_OK)
    {
        return NGX_OK;
    }

    h = ngx_http_audit_add_out_header(r, &alcf->headers->request_id, &id);

    return h ? NGX_OK : NGX_ERROR;
}


/*
 * Only the error page nginx itself generates for our own denial is
 * replaced: r->err_status is set by ngx_http_special_response_handler(),
 * never by an upstream's 401 (which "satisfy any" may let through).
 */

static ngx_int_t
ngx_http_audit_header_filter(ngx_http_request_t *r)
{
    ngx_str_t              body;
    ngx_table_elt_t       *h;
    ngx_http_audit_ctx_t  *ctx;

    static ngx_str_t  location = ngx_string("Location");

    ctx = ngx_http_audit_get_ctx(r);

    if (ctx && r == r->main) {
        if (ngx_http_audit_response_id(r) != NGX_OK) {
            return NGX_ERROR;
        }

        /*
         * The login or logout is the one the access phase judged, also
         * when an error_page or a named location answers it from a
         * location with no key set
         */

        if (ctx->alcf) {
            ngx_http_audit_login_response(r, ctx->alcf, ctx);
        }
    }

    if (ctx == NULL || ctx->status == 0 || r != r->main
        || r->err_status != ctx->status
        || r->headers_out.status != ctx->status)
    {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->html) {
        ngx_str_set(&r->headers_out.content_type, "text/html");

    } else if (ctx->redirect) {
        h = ngx_http_audit_add_out_header(r, &location, &ctx->location);
        if (h == NULL) {
            return NGX_ERROR;
        }

        r->headers_out.location = h;
        r->headers_out.status = NGX_HTTP_MOVED_TEMPORARILY;
        r->err_status = NGX_HTTP_MOVED_TEMPORARILY;
        ctx->status = NGX_HTTP_MOVED_TEMPORARILY;

        ngx_str_set(&r->headers_out.content_type, "text/html");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    if (ngx_http_audit_deny_body(r, ctx, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->body = body;
    ctx->body_pending = 1;

    ngx_http_clear_content_length(r);
    r->headers_out.content_length_n = body.len;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_audit_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t             *b;
    ngx_chain_t            out;
    ngx_http_audit_ctx_t  *ctx;

    ctx = ngx_http_audit_get_ctx(r);

    if (ctx == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    if (!ctx->body_pending) {
        ngx_http_audit_body_last(r, ctx, in);
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's own error page buffers are dropped; ours goes once */

    for ( /* void */ ; in; in = in->next) {
        in->buf->pos = in->buf->last;
    }

    if (ctx->body_sent) {
        return NGX_OK;
    }

    ctx->body_sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->body.data;
    b->last = ctx->body.data + ctx->body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_audit_body_last(r, ctx, &out);

    return ngx_http_next_body_filter(r, &out);
}


/*
 * The response's last buffer, on its way to the client: the request's
 * events now, before the client can have the whole answer, so a worker
 * that dies after answering cannot take them with it (audit_ring).
 */

static void
ngx_http_audit_body_last(ngx_http_request_t *r, ngx_http_audit_ctx_t *ctx,
    ngx_chain_t *in)
{
    if (ctx->audited) {
        return;
    }

    for ( /* void */ ; in; in = in->next) {
        if (in->buf->last_buf) {
            ngx_http_audit_events_request(r);
            return;
        }
    }
}


/*
 * {"error":"session_expired","request_id":"..."}: the reason is one of
 * our own fixed words and the request id is hex, so neither needs
 * escaping; nothing the client sent is echoed back.  A browser gets a
 * page instead: the login redirect's says the session has ended only
 * when there was one; a refusal's names the request id to quote.
 */

static ngx_int_t
ngx_http_audit_deny_body(ngx_http_request_t *r, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *body)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   id;

    static u_char  ended[] =
        "<html><head><title>Sign-in required</title></head>"
        "<body>Your session has ended. Please sign in again.</body>"
        "</html>" CRLF;

    static u_char  signin[] =
        "<html><head><title>Sign-in required</title></head>"
        "<body>Please sign in.</body>"
        "</html>" CRLF;

    if (ctx->redirect) {
        if (ctx->reason.len == sizeof("missing") - 1
            && ngx_strncmp(ctx->reason.data, "missing", ctx->reason.len) == 0)
        {
            body->data = signin;
            body->len = sizeof(signin) - 1;

        } else {
            body->data = ended;
            body->len = sizeof(ended) - 1;
        }

        return NGX_OK;
    }

    if (ngx_http_audit_request_id(r, &id) != NGX_OK) {
        ngx_str_set(&id, "");
    }

    len = sizeof("<html><head><title>Access denied</title></head><body>"
                 "<h1>Access denied</h1><p>You do not have access to this "
                 "page.</p><p>Request id: </p></body></html>" CRLF)
          + sizeof("{\"error\":\"bad_request\",\"reason\":\"\","
                   "\"request_id\":\"\"}" CRLF)
          + ctx->reason.len + id.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    if (ctx->html) {
        p = ngx_sprintf(p, "<html><head><title>%s</title></head><body>"
                        "<h1>%s</h1><p>%s</p><p>Request id: %V</p>"
                        "</body></html>" CRLF,
                        ctx->status == NGX_HTTP_FORBIDDEN
                        ? "Access denied" : "Bad request",
                        ctx->status == NGX_HTTP_FORBIDDEN
                        ? "Access denied" : "Bad request",
                        ctx->status == NGX_HTTP_FORBIDDEN
                        ? "You do not have access to this page."
                        : "This address cannot be served.", &id);

    } else if (ctx->status == NGX_HTTP_FORBIDDEN) {
        p = ngx_sprintf(p, "{\"error\":\"forbidden\",\"request_id\":\"%V\"}"
                        CRLF, &id);

    } else if (ctx->status == NGX_HTTP_BAD_REQUEST) {
        p = ngx_sprintf(p, "{\"error\":\"bad_request\",\"reason\":\"%V\","
                        "\"request_id\":\"%V\"}" CRLF, &ctx->reason, &id);

    } else {
        p = ngx_sprintf(p, "{\"error\":\"session_%V\",\"request_id\":\"%V\"}"
                        CRLF, &ctx->reason, &id);
    }

    body->len = p - body->data;

    return NGX_OK;
}


/* r->uri for the error log, scrubbed as the audit line's route is */

static const char *
ngx_http_audit_access_uri(ngx_http_request_t *r, char *buf, size_t size)
{
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    (void) audit_scrub_uri(amcf->scrub, (const char *) r->uri.data,
                           r->uri.len, buf, size);

    return buf;
}
