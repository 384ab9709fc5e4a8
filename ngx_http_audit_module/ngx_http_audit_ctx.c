
/*
 * ngx_http_audit_module: the per-request context, $request_id and the
 * response headers the module adds (the bottom floor: everyone uses it,
 * it uses no one above it).
 */


#include "ngx_http_audit_module.h"


static void ngx_http_audit_ctx_cleanup(void *data);
static u_char *ngx_http_audit_request_log_context(ngx_log_t *log,
    u_char *buf, size_t len);


/* set once while the configuration is read */
static ngx_int_t  ngx_http_audit_request_id_index = NGX_ERROR;


ngx_int_t
ngx_http_audit_ctx_init(ngx_conf_t *cf)
{
    ngx_str_t  name = ngx_string("request_id");

    ngx_http_audit_request_id_index = ngx_http_get_variable_index(cf, &name);

    return ngx_http_audit_request_id_index == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


/*
 * nginx zeroes r->ctx on an internal redirect (index, try_files,
 * error_page), and the access phase then runs again.  The context lives
 * in a pool cleanup, as the realip module keeps its own, so what the
 * first pass learned and decided survives and the request is audited
 * once.
 */

ngx_http_audit_ctx_t *
ngx_http_audit_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t    *cln;
    ngx_http_audit_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_audit_module);

    if (ctx || r->pool == NULL) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_audit_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_audit_module);
            return ctx;
        }
    }

    return NULL;
}


ngx_http_audit_ctx_t *
ngx_http_audit_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t    *cln;
    ngx_http_audit_ctx_t  *ctx;

    ctx = ngx_http_audit_get_ctx(r);

    if (ctx) {
        /* a second pass: decide afresh for the new location */
        audit_token_clear(&ctx->token);
        ngx_memzero(&ctx->token, sizeof(audit_token_t));
        ctx->token_valid = 0;
        ctx->status = 0;
        ctx->redirect = 0;
        ctx->html = 0;
        ctx->passed = 0;
        ngx_str_null(&ctx->reason);
        ngx_str_null(&ctx->rule);
        return ctx;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_audit_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_audit_ctx_t));

    cln->handler = ngx_http_audit_ctx_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_audit_module);

    return ctx;
}


static void
ngx_http_audit_ctx_cleanup(void *data)
{
    ngx_http_audit_ctx_t  *ctx = data;

    audit_token_clear(&ctx->token);
}


/*
 * $request_id, the same one the access log shows.  nginx makes it with
 * one RAND_bytes() per request; when nothing has asked for it yet, the
 * module sets it first, in nginx's format (32 hex digits of 16 random
 * bytes), from its own pool of random bytes.
 */

ngx_int_t
ngx_http_audit_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                     *p, rnd[16];
    ngx_http_variable_value_t  *vv;

    vv = &r->variables[ngx_http_audit_request_id_index];

    if (!vv->valid && !vv->not_found
        && ngx_http_audit_random(rnd, sizeof(rnd)) == NGX_OK)
    {
        p = ngx_pnalloc(r->pool, 2 * sizeof(rnd));
        if (p == NULL) {
            return NGX_ERROR;
        }

        vv->len = ngx_hex_dump(p, rnd, sizeof(rnd)) - p;
        vv->data = p;
        vv->valid = 1;
        vv->no_cacheable = 0;
        vv->not_found = 0;
    }

    vv = ngx_http_get_indexed_variable(r, ngx_http_audit_request_id_index);

    if (vv == NULL || vv->not_found) {
        return NGX_DECLINED;
    }

    id->data = vv->data;
    id->len = vv->len;

    return NGX_OK;
}


ngx_table_elt_t *
ngx_http_audit_add_out_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key = *key;
    h->value = *value;

    return h;
}


/*
 * The method the portal will perform: a method override's when there is
 * one (ngx_http_audit_target.c collected it), else the request line's.
 */

void
ngx_http_audit_ctx_method(ngx_http_request_t *r, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *method)
{
    if (ctx->override.len) {
        method->data = (u_char *) ctx->override.method;
        method->len = ctx->override.len;
        return;
    }

    *method = r->method_name;
}


/*
 * nginx's request context on an error-log line ("client: ..., request:
 * \"GET /reset?token=...\", referrer: ...") is the request line as sent:
 * a token in its query or path would reach the error log with the
 * module's own warnings.  Those go through a copy of the request's log,
 * made in the caller's log (on its stack: it is only written to while
 * the line is), whose context names the client and the target as the
 * audit line does, scrubbed, and no referrer.
 */

void
ngx_http_audit_request_log(ngx_http_request_t *r, ngx_log_t *log)
{
    *log = *r->connection->log;
    log->data = r;
    log->handler = ngx_http_audit_request_log_context;
}


static u_char *
ngx_http_audit_request_log_context(ngx_log_t *log, u_char *buf, size_t len)
{
    size_t                       n;
    u_char                      *p;
    char                         target[512];
    ngx_http_request_t          *r;
    ngx_http_audit_main_conf_t  *amcf;

    r = log->data;
    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    n = audit_scrub_uri(amcf->scrub, (const char *) r->unparsed_uri.data,
                        r->unparsed_uri.len, target, sizeof(target));

    p = ngx_snprintf(buf, len, ", client: %V, request: \"%V %*s\"",
                     &r->connection->addr_text, &r->method_name, n, target);

    return p;
}
