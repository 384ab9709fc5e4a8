
/*
 * ngx_http_audit_module: the scrubber.
 *
 * What must never reach a log in clear (core/audit_scrub.h): "audit_scrub
 * NAME..." adds query parameter names to the secret-looking ones the core
 * knows.  The scrubber is built once the http block is read, immutable
 * after that, and freed with the cycle.
 */


#include "ngx_http_audit_module.h"


static void ngx_http_audit_free_scrub(void *data);


char *
ngx_http_audit_scrub(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_main_conf_t *amcf = conf;

    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    value = cf->args->elts;

    if (amcf->scrub_names == NULL) {
        amcf->scrub_names = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (amcf->scrub_names == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0 || value[i].len > AUDIT_SCRUB_NAME_MAX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter name \"%V\" in "
                               "\"audit_scrub\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        name = ngx_array_push(amcf->scrub_names);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * The scrubber exists even without "audit_scrub": secret-looking query
 * parameters and PHI are filtered from every route by default.
 */

char *
ngx_http_audit_scrub_init(ngx_conf_t *cf, ngx_http_audit_main_conf_t *amcf)
{
    size_t               n;
    ngx_str_t           *names;
    ngx_uint_t           i;
    const char         **extra;
    ngx_pool_cleanup_t  *cln;

    n = amcf->scrub_names ? amcf->scrub_names->nelts : 0;
    extra = NULL;

    if (n) {
        extra = ngx_palloc(cf->pool, n * sizeof(const char *));
        if (extra == NULL) {
            return NGX_CONF_ERROR;
        }

        names = amcf->scrub_names->elts;

        for (i = 0; i < n; i++) {
            extra[i] = (const char *) names[i].data;
        }
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    amcf->scrub = audit_scrub_create(extra, n);
    if (amcf->scrub == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_scrub\": cannot use the names given");
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_audit_free_scrub;
    cln->data = amcf->scrub;

    return NGX_CONF_OK;
}


static void
ngx_http_audit_free_scrub(void *data)
{
    audit_scrub_free(data);
}
