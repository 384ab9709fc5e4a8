
/*
 * ngx_http_audit_module: sessions.
 *
 * Finds the session cookie, verifies the token in it with the core
 * (audit_jws.c) against the location's key set, checks the deny-list of
 * revoked sessions, and copies the identity into the request context.
 * Key sets and deny-lists are read at configuration time, so a reload
 * re-reads them and a file that fails to parse leaves the running
 * configuration (and its keys) in place.
 */


#include "ngx_http_audit_module.h"


#define NGX_HTTP_AUDIT_ERRLEN  256


static void ngx_http_audit_session_free_keys(void *data);
static void ngx_http_audit_session_free_revoked(void *data);
static void ngx_http_audit_session_clear_token(void *data);
static ngx_int_t ngx_http_audit_session_cookie(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_audit_session_identity(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_session_reason(ngx_http_audit_ctx_t *ctx,
    const char *reason);


char *
ngx_http_audit_session_load_keys(ngx_conf_t *cf,
    ngx_http_audit_loc_conf_t *alcf, ngx_str_t *path)
{
    char                    err[NGX_HTTP_AUDIT_ERRLEN];
    ngx_str_t               full;
    ngx_pool_cleanup_t     *cln;
    ngx_http_audit_keys_t  *keys;

    full = *path;

    if (ngx_conf_full_name(cf->cycle, &full, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    keys = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_keys_t));
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    /* ngx_conf_full_name() leaves the name NUL-terminated */

    keys->path = full;
    keys->keyset = audit_keyset_load((const char *) full.data, err,
                                     sizeof(err));

    if (keys->keyset == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_session_keys\" cannot use \"%V\": %s",
                           &full, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_audit_session_free_keys;
    cln->data = keys->keyset;

    alcf->keys = keys;

    return NGX_CONF_OK;
}


char *
ngx_http_audit_session_load_revoked(ngx_conf_t *cf,
    ngx_http_audit_loc_conf_t *alcf, ngx_str_t *path)
{
    char                 err[NGX_HTTP_AUDIT_ERRLEN];
    ngx_str_t            full;
    audit_idset_t       *set;
    ngx_pool_cleanup_t  *cln;

    full = *path;

    if (ngx_conf_full_name(cf->cycle, &full, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    set = audit_idset_load((const char *) full.data, err, sizeof(err));
    if (set == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_session_revoked\" cannot use \"%V\": %s",
                           &full, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_audit_session_free_revoked;
    cln->data = set;

    alcf->revoked = set;

    return NGX_CONF_OK;
}


static void
ngx_http_audit_session_free_keys(void *data)
{
    audit_keyset_free(data);
}


static void
ngx_http_audit_session_free_revoked(void *data)
{
    audit_idset_free(data);
}


/*
 * Returns NGX_OK with ctx->token_valid set when the cookie holds a valid,
 * unrevoked session; NGX_DECLINED with ctx->reason set otherwise; NGX_ERROR
 * on allocation failure.  Reads the configuration, never writes it.
 */

ngx_int_t
ngx_http_audit_session_verify(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    ngx_str_t             value;
    ngx_pool_cleanup_t   *cln;
    audit_verify_opts_t   opts;
    audit_token_status_t  st;

    if (ngx_http_audit_session_cookie(r, &alcf->cookie, &value) != NGX_OK) {
        ngx_http_audit_session_reason(ctx, "missing");
        return NGX_DECLINED;
    }

    /* the token's claims are jansson objects: release them with r */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    opts.algs = alcf->algs;
    opts.now = ngx_time();
    opts.leeway = alcf->leeway;
    opts.issuer = alcf->issuer.len ? (const char *) alcf->issuer.data : NULL;
    opts.audience = alcf->audience.len ? (const char *) alcf->audience.data
                                       : NULL;
    opts.user_claim = (const char *) alcf->user_claim.data;
    opts.role_claim = (const char *) alcf->role_claim.data;
    opts.session_claim = (const char *) alcf->session_claim.data;

    st = audit_jws_verify(alcf->keys->keyset, (const char *) value.data,
                          value.len, &opts, &ctx->token);

    cln->handler = ngx_http_audit_session_clear_token;
    cln->data = &ctx->token;

    if (ctx->token.user_id != NULL
        && ngx_http_audit_session_identity(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (st != AUDIT_TOKEN_OK) {
        ngx_http_audit_session_reason(ctx, audit_token_reason(st));
        return NGX_DECLINED;
    }

    if (alcf->revoked != NULL && ctx->session_id.len
        && audit_idset_contains(alcf->revoked,
                                (const char *) ctx->session_id.data,
                                ctx->session_id.len))
    {
        ngx_http_audit_session_reason(ctx, "revoked");
        return NGX_DECLINED;
    }

    ctx->token_valid = 1;

    return NGX_OK;
}


static void
ngx_http_audit_session_clear_token(void *data)
{
    audit_token_clear(data);
}


static ngx_int_t
ngx_http_audit_session_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
#if (nginx_version >= 1023000)

    if (ngx_http_parse_multi_header_lines(r, r->headers_in.cookie, name,
                                          value)
        == NULL)
    {
        return NGX_DECLINED;
    }

#else

    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, name,
                                          value)
        == NGX_DECLINED)
    {
        return NGX_DECLINED;
    }

#endif

    return value->len ? NGX_OK : NGX_DECLINED;
}


/* copies user, roles and session id into r->pool for variables/headers */

static ngx_int_t
ngx_http_audit_session_identity(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx)
{
    u_char         *p;
    size_t          len;
    ngx_uint_t      i;
    audit_token_t  *tok;

    tok = &ctx->token;

    ctx->user_id.len = ngx_strlen(tok->user_id);
    ctx->user_id.data = (u_char *) tok->user_id;

    if (tok->session_id) {
        ctx->session_id.len = ngx_strlen(tok->session_id);
        ctx->session_id.data = (u_char *) tok->session_id;
    }

    if (tok->nroles == 0) {
        return NGX_OK;
    }

    len = 0;
    for (i = 0; i < tok->nroles; i++) {
        len += ngx_strlen(tok->roles[i]) + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->role.data = p;

    for (i = 0; i < tok->nroles; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, tok->roles[i], ngx_strlen(tok->roles[i]));
    }

    ctx->role.len = p - ctx->role.data;

    return NGX_OK;
}


static void
ngx_http_audit_session_reason(ngx_http_audit_ctx_t *ctx, const char *reason)
{
    ctx->reason.len = ngx_strlen(reason);
    ctx->reason.data = (u_char *) reason;
}
