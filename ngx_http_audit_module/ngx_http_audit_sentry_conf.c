
/*
 * ngx_http_audit_module: the error tracker sink's configuration time.
 *
 * The audit_sentry_* directives that need more than nginx's own setters:
 * the DSN (parsed by the core, its host resolved now, once, so that
 * neither the request path nor the event loop ever waits for DNS), the
 * rate, the categories, and, after the whole configuration, the TLS
 * context the client (ngx_http_audit_http.c) verifies the server with.
 */


#include "ngx_http_audit_sentry.h"


char *
ngx_http_audit_sentry_dsn_conf(ngx_conf_t *cf,
    ngx_http_audit_sentry_main_conf_t *smcf)
{
    char                           err[256];
    size_t                         len;
    ngx_str_t                     *value;
    ngx_url_t                      u;
    ngx_uint_t                     v6;
    ngx_http_audit_sentry_conf_t  *scf;

    scf = &smcf->sentry;
    value = cf->args->elts;

    if (scf->dsn_text.len) {
        return "is duplicate";
    }

    if (audit_sentry_dsn_parse((const char *) value[1].data, value[1].len,
                               &scf->dsn, err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid DSN in \"audit_sentry_dsn\": %s", err);
        return NGX_CONF_ERROR;
    }

#if !(NGX_SSL)
    if (scf->dsn.https) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_sentry_dsn\" with https needs nginx "
                           "built with OpenSSL");
        return NGX_CONF_ERROR;
    }
#endif

    /* resolved now, once: no DNS on the request path or in the loop */

    /* an IPv6 literal goes in brackets, for ngx_parse_url() and Host: */

    len = ngx_strlen(scf->dsn.host);
    v6 = (ngx_strlchr((u_char *) scf->dsn.host,
                      (u_char *) scf->dsn.host + len, ':') != NULL);

    scf->host.data = ngx_pnalloc(cf->pool, len + sizeof("[]:65535"));
    if (scf->host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    scf->host.len = ngx_sprintf(scf->host.data, v6 ? "[%s]" : "%s",
                                scf->dsn.host)
                    - scf->host.data;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = scf->host;
    u.default_port = (in_port_t) scf->dsn.port;
    u.no_resolve = 0;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_sentry_dsn\" host \"%s\" cannot be "
                           "resolved%s%s", scf->dsn.host,
                           u.err ? ": " : "", u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    ngx_inet_set_port(u.addrs[0].sockaddr, (in_port_t) scf->dsn.port);

    scf->addr = u.addrs[0];
    scf->dsn_text = value[1];
    ngx_http_audit_events_want(cf);
    scf->name.data = (u_char *) scf->dsn.host;
    scf->name.len = len;

    /* Host: carries the port when it is not the scheme's own */

    if (scf->dsn.port != (scf->dsn.https ? 443 : 80)) {
        scf->host.len = ngx_sprintf(scf->host.data + scf->host.len, ":%d",
                                    scf->dsn.port)
                        - scf->host.data;
    }

    if (audit_sentry_auth_header(&scf->dsn, NGX_HTTP_AUDIT_VERSION,
                                 (char *) scf->auth, sizeof(scf->auth))
        < 0)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* audit_sentry_rate N/s|m|h */

char *
ngx_http_audit_sentry_rate_conf(ngx_conf_t *cf,
    ngx_http_audit_sentry_main_conf_t *smcf)
{
    u_char     *slash;
    ngx_int_t   n;
    ngx_str_t  *value;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        smcf->sentry.rate = 0;
        return NGX_CONF_OK;
    }

    slash = (u_char *) ngx_strchr(value[1].data, '/');

    n = slash ? ngx_atoi(value[1].data, slash - value[1].data) : NGX_ERROR;

    if (n < 1 || slash[1] == '\0' || slash[2] != '\0'
        || ngx_strchr("smh", slash[1]) == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"audit_sentry_rate\", "
                           "expected N/s, N/m or N/h, or \"off\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    smcf->sentry.rate = n;
    smcf->sentry.rate_window = slash[1] == 's' ? 1
                               : slash[1] == 'm' ? 60 : 3600;

    return NGX_CONF_OK;
}


char *
ngx_http_audit_sentry_events_conf(ngx_conf_t *cf,
    ngx_http_audit_sentry_main_conf_t *smcf)
{
    ngx_str_t   *value;
    ngx_uint_t   i, k, mask;

    static struct {
        ngx_str_t   name;
        ngx_uint_t  bit;
    }  names[] = {
        { ngx_string("login_failure"), NGX_HTTP_AUDIT_SENTRY_LOGIN },
        { ngx_string("session_invalid"), NGX_HTTP_AUDIT_SENTRY_SESSION },
        { ngx_string("authz_denied"), NGX_HTTP_AUDIT_SENTRY_AUTHZ },
        { ngx_string("bruteforce_suspected"),
          NGX_HTTP_AUDIT_SENTRY_BRUTEFORCE },
        { ngx_string("upstream_error"), NGX_HTTP_AUDIT_SENTRY_UPSTREAM },
        { ngx_string("module_fault"), NGX_HTTP_AUDIT_SENTRY_FAULT },
        { ngx_string("request_rejected"), NGX_HTTP_AUDIT_SENTRY_REJECTED },
        { ngx_string("session_invalid:missing"),
          NGX_HTTP_AUDIT_SENTRY_SESSION|NGX_HTTP_AUDIT_SENTRY_MISSING },
        { ngx_string("all"), NGX_HTTP_AUDIT_SENTRY_ALL },
    };

    value = cf->args->elts;
    mask = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            if (value[i].len == names[k].name.len
                && ngx_strcmp(value[i].data, names[k].name.data) == 0)
            {
                mask |= names[k].bit;
                break;
            }
        }

        if (k == sizeof(names) / sizeof(names[0])) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid category \"%V\" in "
                               "\"audit_sentry_events\", expected "
                               "login_failure, session_invalid, "
                               "authz_denied, bruteforce_suspected, "
                               "upstream_error, module_fault, "
                               "request_rejected, session_invalid:missing "
                               "or all",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    smcf->sentry.events = mask;

    return NGX_CONF_OK;
}


/* after the whole configuration: SSL context, defaults */

char *
ngx_http_audit_sentry_init_conf(ngx_conf_t *cf,
    ngx_http_audit_sentry_main_conf_t *smcf)
{
    ngx_http_audit_sentry_conf_t  *scf;

    scf = &smcf->sentry;

    ngx_conf_init_msec_value(scf->timeout, 5000);

    if (scf->events == 0) {
        scf->events = NGX_HTTP_AUDIT_SENTRY_ALL;
    }

    if (scf->dsn_text.len == 0 || !scf->dsn.https) {
        return NGX_CONF_OK;
    }

#if (NGX_SSL)
    {
        ngx_pool_cleanup_t  *cln;

        scf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
        if (scf->ssl == NULL) {
            return NGX_CONF_ERROR;
        }

        scf->ssl->log = cf->log;

        if (ngx_ssl_create(scf->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ngx_ssl_cleanup_ctx(scf->ssl);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_ssl_cleanup_ctx;
        cln->data = scf->ssl;

        if (scf->trusted.len) {
            if (ngx_ssl_trusted_certificate(cf, scf->ssl, &scf->trusted, 5)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

        } else if (SSL_CTX_set_default_verify_paths(scf->ssl->ctx) != 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_sentry_dsn\": no system CA "
                               "certificates, set "
                               "\"audit_sentry_trusted_certificate\"");
            return NGX_CONF_ERROR;
        }
    }
#endif

    return NGX_CONF_OK;
}
