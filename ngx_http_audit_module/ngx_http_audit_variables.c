
/*
 * ngx_http_audit_module: variables.
 *
 * $audit_user_id, $audit_role, $audit_session_id: the identity of a valid
 * session (empty otherwise); $audit_decision and $audit_reason: what the
 * access phase concluded; $audit_claim_<name>: a top-level claim of a valid
 * session, as nginx-plus's $jwt_claim_<name> does, so configurations
 * migrate.  The token itself is never exposed.
 */


#include "ngx_http_audit_module.h"


#define NGX_HTTP_AUDIT_CLAIM_MAX  1024


static ngx_int_t ngx_http_audit_variable_identity(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_audit_variable_decision(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_audit_variable_reason(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_audit_variable_claim(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_audit_variable_parse_claims(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_variable_set(ngx_http_variable_value_t *v,
    ngx_str_t *s);


static ngx_http_variable_t  ngx_http_audit_vars[] = {

    { ngx_string("audit_user_id"), NULL,
      ngx_http_audit_variable_identity,
      offsetof(ngx_http_audit_ctx_t, user_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("audit_role"), NULL,
      ngx_http_audit_variable_identity,
      offsetof(ngx_http_audit_ctx_t, role), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("audit_session_id"), NULL,
      ngx_http_audit_variable_identity,
      offsetof(ngx_http_audit_ctx_t, session_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("audit_decision"), NULL,
      ngx_http_audit_variable_decision, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("audit_reason"), NULL,
      ngx_http_audit_variable_reason, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("audit_bruteforce"), NULL,
      ngx_http_audit_bruteforce_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("audit_claim_"), NULL,
      ngx_http_audit_variable_claim, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_audit_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_audit_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_variable_identity(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_audit_ctx_t  *ctx;

    ctx = ngx_http_audit_get_ctx(r->main);

    if (ctx == NULL || !ctx->token_valid) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_audit_variable_set(v, (ngx_str_t *) ((u_char *) ctx + data));

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_variable_decision(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t              s;
    ngx_http_audit_ctx_t  *ctx;

    ctx = ngx_http_audit_get_ctx(r->main);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (ctx->decision) {

    case NGX_HTTP_AUDIT_PERMITTED:
        ngx_str_set(&s, "permitted");
        break;

    case NGX_HTTP_AUDIT_DENIED:
        ngx_str_set(&s, "denied");
        break;

    case NGX_HTTP_AUDIT_UNAUTHENTICATED:
        ngx_str_set(&s, "unauthenticated");
        break;

    default:
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_audit_variable_set(v, &s);

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_variable_reason(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_audit_ctx_t  *ctx;

    ctx = ngx_http_audit_get_ctx(r->main);

    if (ctx == NULL || ctx->reason.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_audit_variable_set(v, &ctx->reason);

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_variable_claim(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    int                    n;
    u_char                *name, *buf, *p;
    ngx_str_t              s;
    ngx_http_audit_ctx_t  *ctx;
    ngx_log_t              elog;

    ctx = ngx_http_audit_get_ctx(r->main);

    if (ctx == NULL || !ctx->token_valid) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* the variable's full name follows "audit_claim_" */

    s = *(ngx_str_t *) data;

    if (s.len <= sizeof("audit_claim_") - 1) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = ngx_pnalloc(r->pool, s.len - (sizeof("audit_claim_") - 1) + 1
                                + NGX_HTTP_AUDIT_CLAIM_MAX);
    if (name == NULL) {
        return NGX_ERROR;
    }

    buf = ngx_cpymem(name, s.data + sizeof("audit_claim_") - 1,
                     s.len - (sizeof("audit_claim_") - 1));
    *buf++ = '\0';

    if (ctx->token.claims == NULL
        && ngx_http_audit_variable_parse_claims(r, ctx) != NGX_OK)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    n = audit_token_claim(&ctx->token, (const char *) name, (char *) buf,
                          NGX_HTTP_AUDIT_CLAIM_MAX);
    if (n < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    s.data = buf;
    s.len = n;

    /*
     * A signed claim is still text someone typed (a display name): with a
     * control character in it, "proxy_set_header X-Name $audit_claim_name"
     * would end the header line and start one of its own
     */

    for (p = buf; p < buf + n; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            ngx_http_audit_request_log(r, &elog);

            ngx_log_error(NGX_LOG_WARN, &elog, 0,
                          "audit: the claim of \"$%V\" has a control "
                          "character: the variable is empty",
                          (ngx_str_t *) data);
            v->not_found = 1;
            return NGX_OK;
        }
    }

    ngx_http_audit_variable_set(v, &s);

    return NGX_OK;
}


/*
 * A session found in the worker's cache was verified without keeping its
 * claims; the first $audit_claim_* of the request decodes them (the token
 * is the very one that verified).
 */

static ngx_int_t
ngx_http_audit_variable_parse_claims(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx)
{
    /* released with the context, by audit_token_clear() */

    ctx->token.claims = audit_jws_payload((const char *) ctx->raw.data,
                                          ctx->raw.len);

    return ctx->token.claims ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_audit_variable_set(ngx_http_variable_value_t *v, ngx_str_t *s)
{
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;
}
