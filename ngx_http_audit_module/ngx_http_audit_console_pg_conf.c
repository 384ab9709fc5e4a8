
/*
 * ngx_http_audit_module: "audit_console_pg", parsed when nginx reads the
 * configuration: libpq checks the connection string, a host name is
 * resolved here (never in a worker, ngx_http_audit_console_pg.c), and the
 * session's settings are added (statement_timeout from
 * audit_console_pg_timeout, default_transaction_read_only).
 */


#include "ngx_http_audit_console.h"
#include "ngx_http_audit_pg.h"

#include <libpq-fe.h>


static ngx_int_t ngx_http_audit_console_pg_param(ngx_conf_t *cf,
    ngx_array_t *kw, ngx_array_t *vals, const char *k, const char *v);


/*
 * audit_console_pg CONNINFO: checked by libpq now; a host name resolved
 * now, into hostaddr (one host only: the console's reader is one server)
 */

char *
ngx_http_audit_console_pg_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_audit_console_main_conf_t *cmcf = conf;

    char                              *err, *host, *hostaddr, *p;
    ngx_uint_t                         options;
    u_char                             text[NGX_SOCKADDR_STRLEN + 1];
    size_t                             len;
    ngx_str_t                         *value;
    ngx_url_t                          u;
    ngx_array_t                       *kw, *vals;
    PQconninfoOption                  *opts, *o;
    ngx_http_audit_console_pg_conf_t  *pgcf;

    if (cmcf->pg_conf) {
        return "is duplicate";
    }

    if (cf->args->nelts != 2) {
        return "takes one connection string";
    }

    value = cf->args->elts;
    err = NULL;

    opts = PQconninfoParse((const char *) value[1].data, &err);

    if (opts == NULL) {
        ngx_http_audit_pg_conninfo_error(cf, "audit_console_pg", err);
        return NGX_CONF_ERROR;
    }

    kw = ngx_array_create(cf->pool, 16, sizeof(char *));
    vals = ngx_array_create(cf->pool, 16, sizeof(char *));
    if (kw == NULL || vals == NULL) {
        goto failed;
    }

    host = NULL;
    hostaddr = NULL;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;
        }

        if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;
        }

        if (ngx_strcmp(o->keyword, "options") == 0) {
            continue;                  /* ours come after */
        }

        if (ngx_http_audit_console_pg_param(cf, kw, vals, o->keyword, o->val)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (host && hostaddr == NULL && host[0] != '/' && host[0] != '@') {

        if (ngx_strchr(host, ',')) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_console_pg\" takes one host, "
                               "not \"%s\"", host);
            goto failed;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.host.data = (u_char *) host;
        u.host.len = ngx_strlen(host);
        u.port = 5432;

        if (ngx_inet_resolve_host(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "host \"%s\" of \"audit_console_pg\" "
                               "not found", host);
            goto failed;
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                            NGX_SOCKADDR_STRLEN, 0);
        text[len] = '\0';

        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            goto failed;
        }

        ngx_memcpy(p, text, len + 1);

        if (ngx_http_audit_console_pg_param(cf, kw, vals, "hostaddr", p)
            != NGX_OK)
        {
            goto failed;
        }
    }

    /* the session's settings: the value is set once the timeout is known */

    options = kw->nelts;

    if (ngx_http_audit_console_pg_param(cf, kw, vals, "options", "")
        != NGX_OK
        || ngx_http_audit_console_pg_param(cf, kw, vals, "application_name",
                                           "nginx audit console")
           != NGX_OK)
    {
        goto failed;
    }

    PQconninfoFree(opts);

    pgcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_console_pg_conf_t));
    if (pgcf == NULL
        || ngx_http_audit_console_pg_param(cf, kw, vals, NULL, NULL)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    pgcf->keywords = kw->elts;
    pgcf->values = vals->elts;
    pgcf->options = options;

    cmcf->pg_conf = pgcf;

    return NGX_CONF_OK;

failed:

    PQconninfoFree(opts);
    return NGX_CONF_ERROR;
}


/* statement_timeout from audit_console_pg_timeout, read-only */

char *
ngx_http_audit_console_pg_init_conf(ngx_conf_t *cf,
    ngx_http_audit_console_main_conf_t *cmcf)
{
    u_char  *p;

    if (cmcf->pg_conf == NULL) {
        return NGX_CONF_OK;
    }

    p = ngx_pnalloc(cf->pool, 128);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(p, "-c statement_timeout=%M "
                "-c default_transaction_read_only=on%Z", cmcf->pg_timeout);

    cmcf->pg_conf->values[cmcf->pg_conf->options] = (const char *) p;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_audit_console_pg_param(ngx_conf_t *cf, ngx_array_t *kw,
    ngx_array_t *vals, const char *k, const char *v)
{
    size_t        len;
    const char  **pk, **pv;
    char         *copy;

    pk = ngx_array_push(kw);
    pv = ngx_array_push(vals);
    if (pk == NULL || pv == NULL) {
        return NGX_ERROR;
    }

    *pk = NULL;
    *pv = NULL;

    if (k == NULL) {
        return NGX_OK;
    }

    /* libpq's strings go with PQconninfoFree(): keep copies */

    len = ngx_strlen(k) + 1;
    copy = ngx_pnalloc(cf->pool, len + ngx_strlen(v) + 1);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy, k, len);
    ngx_memcpy(copy + len, v, ngx_strlen(v) + 1);

    *pk = copy;
    *pv = copy + len;

    return NGX_OK;
}
