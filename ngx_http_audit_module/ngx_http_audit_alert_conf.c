
/*
 * ngx_http_audit_module: the alert sink's configuration time.
 *
 * "audit_alert" routes (the URL parsed and its host resolved now, once,
 * so that neither the request path nor the event loop waits for DNS),
 * "audit_alert_rule" conditions, "audit_health" thresholds, and after the
 * whole configuration the alert zone and the TLS context the routes
 * verify their servers with.
 */


#include "ngx_http_audit_alert.h"


#define NGX_HTTP_AUDIT_PAGERDUTY_URL  "https://events.pagerduty.com/v2/enqueue"


static char *ngx_http_audit_alert_url(ngx_conf_t *cf,
    ngx_http_audit_alert_route_t *rt, ngx_str_t *url);
static ngx_int_t ngx_http_audit_alert_severity(ngx_str_t *v);
static ngx_int_t ngx_http_audit_alert_ssl(ngx_conf_t *cf,
    ngx_http_audit_alert_main_conf_t *mcf, ngx_ssl_t **ssl);


/* audit_alert pagerduty KEY | slack URL | webhook URL [name=value ...] */

char *
ngx_http_audit_alert_route_conf(ngx_conf_t *cf,
    ngx_http_audit_alert_main_conf_t *mcf)
{
    char                          *rv;
    ngx_int_t                      sev;
    ngx_str_t                     *value, url;
    ngx_uint_t                     i;
    ngx_http_audit_alert_route_t  *rt;

    value = cf->args->elts;

    if (mcf->routes == NULL) {
        mcf->routes = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_http_audit_alert_route_t));
        if (mcf->routes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (mcf->routes->nelts == NGX_HTTP_AUDIT_ALERT_ROUTES) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many \"audit_alert\" routes, at most %d",
                           NGX_HTTP_AUDIT_ALERT_ROUTES);
        return NGX_CONF_ERROR;
    }

    rt = ngx_array_push(mcf->routes);
    if (rt == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rt, sizeof(ngx_http_audit_alert_route_t));

    rt->index = mcf->routes->nelts - 1;
    rt->severity = AUDIT_SEV_CRITICAL;
    rt->timeout = 5000;

    if (ngx_strcmp(value[1].data, "pagerduty") == 0) {
        rt->kind = AUDIT_ALERT_PAGERDUTY;

        if (!audit_alert_routing_key_valid((const char *) value[2].data,
                                           value[2].len))
        {
            /* the key itself is a secret: never echoed */
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid routing key in \"audit_alert "
                               "pagerduty\": expected 32 letters and "
                               "digits");
            return NGX_CONF_ERROR;
        }

        rt->key = value[2];
        ngx_str_set(&url, NGX_HTTP_AUDIT_PAGERDUTY_URL);

    } else if (ngx_strcmp(value[1].data, "slack") == 0
               || ngx_strcmp(value[1].data, "webhook") == 0)
    {
        rt->kind = (value[1].data[0] == 's') ? AUDIT_ALERT_SLACK
                                             : AUDIT_ALERT_WEBHOOK;
        url = value[2];

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid kind \"%V\" in \"audit_alert\", "
                           "expected pagerduty, slack or webhook",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "severity=", 9) == 0) {
            value[i].data += 9;
            value[i].len -= 9;

            sev = ngx_http_audit_alert_severity(&value[i]);
            if (sev == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid severity \"%V\" in "
                                   "\"audit_alert\", expected critical, "
                                   "warning or info", &value[i]);
                return NGX_CONF_ERROR;
            }

            rt->severity = sev;
            continue;
        }

        if (ngx_strncmp(value[i].data, "url=", 4) == 0) {
            url.data = value[i].data + 4;
            url.len = value[i].len - 4;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            value[i].data += 8;
            value[i].len -= 8;

            rt->timeout = ngx_parse_time(&value[i], 0);
            if (rt->timeout == (ngx_msec_t) NGX_ERROR || rt->timeout == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid timeout \"%V\" in "
                                   "\"audit_alert\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"audit_alert\", "
                           "expected severity=, url= or timeout=",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    (void) ngx_sprintf(rt->name, "%s-%ui%Z",
                       rt->kind == AUDIT_ALERT_PAGERDUTY ? "pagerduty"
                       : rt->kind == AUDIT_ALERT_SLACK ? "slack" : "webhook",
                       rt->index + 1);

    rv = ngx_http_audit_alert_url(cf, rt, &url);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    mcf->used = 1;
    ngx_http_audit_events_want(cf);

    return NGX_CONF_OK;
}


/*
 * http[s]://host[:port]/path, resolved now.  The URL of a Slack webhook
 * is itself its secret: errors name the host, never the path.
 */

static char *
ngx_http_audit_alert_url(ngx_conf_t *cf, ngx_http_audit_alert_route_t *rt,
    ngx_str_t *url)
{
    size_t      skip, i;
    ngx_str_t   host;
    ngx_url_t   u;

    if (url->len > 8 && ngx_strncasecmp(url->data, (u_char *) "https://", 8)
                        == 0)
    {
        skip = 8;
        rt->https = 1;

    } else if (url->len > 7
               && ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0)
    {
        skip = 7;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL in \"audit_alert %s\": expected "
                           "http:// or https://", rt->name);
        return NGX_CONF_ERROR;
    }

#if !(NGX_SSL)
    if (rt->https) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_alert\" with https needs nginx built "
                           "with OpenSSL");
        return NGX_CONF_ERROR;
    }
#endif

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = url->data + skip;
    u.url.len = url->len - skip;
    u.default_port = rt->https ? 443 : 80;
    u.uri_part = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {

        /*
         * named by its host and port only: the path of a Slack or
         * PagerDuty URL is its secret, and so is a user:password@ (which
         * ngx_parse_url() takes for a bad port, leaving no host)
         */

        host.data = u.url.data;

        for (host.len = 0;
             host.len < u.url.len && u.url.data[host.len] != '/'
             && u.url.data[host.len] != '?';
             host.len++)
        {
            /* void */
        }

        for (i = host.len; i > 0; i--) {
            if (host.data[i - 1] == '@') {
                host.data += i;
                host.len -= i;
                break;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_alert\" host \"%V\" cannot be "
                           "resolved%s%s", &host, u.err ? ": " : "",
                           u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    rt->addr = u.addrs[0];

    /* Host: with the port when it is not the scheme's own */
    rt->host.data = ngx_pnalloc(cf->pool, u.host.len + sizeof(":65535"));
    if (rt->host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    rt->host.len = (u.port == u.default_port)
                   ? ngx_sprintf(rt->host.data, "%V", &u.host) - rt->host.data
                   : ngx_sprintf(rt->host.data, "%V:%d", &u.host, u.port)
                     - rt->host.data;

    rt->sni.data = ngx_pnalloc(cf->pool, u.host.len + 1);
    if (rt->sni.data == NULL) {
        return NGX_CONF_ERROR;
    }

    rt->sni.len = u.host.len;
    *ngx_cpymem(rt->sni.data, u.host.data, u.host.len) = '\0';

    if (u.uri.len) {
        rt->path = u.uri;

    } else {
        ngx_str_set(&rt->path, "/");
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_audit_alert_severity(ngx_str_t *v)
{
    if (v->len == 8 && ngx_strncmp(v->data, "critical", 8) == 0) {
        return AUDIT_SEV_CRITICAL;
    }

    if (v->len == 7 && ngx_strncmp(v->data, "warning", 7) == 0) {
        return AUDIT_SEV_WARNING;
    }

    if (v->len == 4 && ngx_strncmp(v->data, "info", 4) == 0) {
        return AUDIT_SEV_INFO;
    }

    return NGX_ERROR;
}


/*
 * audit_alert_rule upstream_5xx > 1% window=5m
 * audit_alert_rule login_failure > 50 window=10m
 * audit_alert_rule no_events window=48h
 * audit_alert_rule pg_down > 2m
 */

char *
ngx_http_audit_alert_rule_conf(ngx_conf_t *cf,
    ngx_http_audit_alert_main_conf_t *mcf)
{
    u_char                       *p;
    ngx_int_t                     n, sev;
    ngx_str_t                    *value, v;
    ngx_uint_t                    i, k, threshold;
    ngx_http_audit_alert_rule_t  *rule;

    static ngx_str_t  names[] = {
        ngx_string("upstream_5xx"), ngx_string("login_failure"),
        ngx_string("no_events"), ngx_string("pg_down")
    };

    value = cf->args->elts;

    if (mcf->rules == NULL) {
        mcf->rules = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_audit_alert_rule_t));
        if (mcf->rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (mcf->rules->nelts == NGX_HTTP_AUDIT_ALERT_RULES) {
        return "has too many rules";
    }

    for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        if (value[1].len == names[k].len
            && ngx_strncmp(value[1].data, names[k].data, names[k].len) == 0)
        {
            break;
        }
    }

    if (k == sizeof(names) / sizeof(names[0])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid condition \"%V\" in \"audit_alert_rule\","
                           " expected upstream_5xx, login_failure, "
                           "no_events or pg_down", &value[1]);
        return NGX_CONF_ERROR;
    }

    rule = ngx_array_push(mcf->rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(ngx_http_audit_alert_rule_t));

    rule->what = k;
    rule->severity = (k == NGX_HTTP_AUDIT_RULE_NO_EVENTS)
                     ? AUDIT_SEV_WARNING : AUDIT_SEV_CRITICAL;
    threshold = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        v = value[i];

        if (v.data[0] == '>') {
            if (v.len == 1) {
                if (++i == cf->args->nelts) {
                    goto invalid;
                }

                v = value[i];

            } else {
                v.data++;
                v.len--;
            }

            if (k == NGX_HTTP_AUDIT_RULE_UPSTREAM_5XX) {
                if (v.len < 2 || v.data[v.len - 1] != '%') {
                    goto invalid;
                }

                n = ngx_atoi(v.data, v.len - 1);
                rule->percent = 1;

            } else if (k == NGX_HTTP_AUDIT_RULE_PG_DOWN) {
                n = ngx_parse_time(&v, 1);

            } else {
                n = ngx_atoi(v.data, v.len);
            }

            if (n == NGX_ERROR || (k == NGX_HTTP_AUDIT_RULE_UPSTREAM_5XX
                                   && n > 100))
            {
                goto invalid;
            }

            threshold = 1;
            rule->threshold = n;
            continue;
        }

        if (v.len > 7 && ngx_strncmp(v.data, "window=", 7) == 0) {
            v.data += 7;
            v.len -= 7;

            n = ngx_parse_time(&v, 1);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            rule->window = n;
            continue;
        }

        if (v.len > 9 && ngx_strncmp(v.data, "severity=", 9) == 0) {
            v.data += 9;
            v.len -= 9;

            sev = ngx_http_audit_alert_severity(&v);
            if (sev == NGX_ERROR) {
                goto invalid;
            }

            rule->severity = sev;
            continue;
        }

        goto invalid;
    }

    switch (k) {

    case NGX_HTTP_AUDIT_RULE_NO_EVENTS:
        if (threshold || rule->window == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_alert_rule no_events\" takes "
                               "window= and no threshold");
            return NGX_CONF_ERROR;
        }

        break;

    case NGX_HTTP_AUDIT_RULE_PG_DOWN:
        if (!threshold || rule->window) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_alert_rule pg_down\" takes a "
                               "duration (pg_down > 2m) and no window=");
            return NGX_CONF_ERROR;
        }

        break;

    default:
        if (!threshold || rule->window == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_alert_rule %V\" takes a threshold "
                               "and window=", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    /* the rule as written, for the alert's text */

    rule->text.data = ngx_pnalloc(cf->pool, 256);
    if (rule->text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = rule->text.data;

    for (i = 1; i < cf->args->nelts; i++) {
        p = ngx_slprintf(p, rule->text.data + 255, "%s%V", i > 1 ? " " : "",
                         &value[i]);
    }

    *p = '\0';
    rule->text.len = p - rule->text.data;

    mcf->used = 1;
    ngx_http_audit_events_want(cf);

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"audit_alert_rule\"",
                       &value[i < cf->args->nelts ? i : i - 1]);
    return NGX_CONF_ERROR;
}


/* audit_health [spool=SIZE] [error_rate=N%] [activity=TIME] [keys=TIME] */

char *
ngx_http_audit_health_conf(ngx_conf_t *cf,
    ngx_http_audit_alert_loc_conf_t *lcf)
{
    off_t        size;
    ngx_int_t    n;
    ngx_str_t   *value, v;
    ngx_uint_t   i;

    value = cf->args->elts;

    if (lcf->health.enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    lcf->health.enable = 1;

    for (i = 1; i < cf->args->nelts; i++) {
        v = value[i];

        if (v.len > 6 && ngx_strncmp(v.data, "spool=", 6) == 0) {
            v.data += 6;
            v.len -= 6;

            size = ngx_parse_offset(&v);
            if (size == NGX_ERROR) {
                goto invalid;
            }

            lcf->health.spool = size;
            continue;
        }

        if (v.len > 11 && ngx_strncmp(v.data, "error_rate=", 11) == 0
            && v.data[v.len - 1] == '%')
        {
            n = ngx_atoi(v.data + 11, v.len - 12);
            if (n == NGX_ERROR || n > 100) {
                goto invalid;
            }

            lcf->health.error_rate = n;
            continue;
        }

        if (v.len > 9 && ngx_strncmp(v.data, "activity=", 9) == 0) {
            v.data += 9;
            v.len -= 9;

            n = ngx_parse_time(&v, 1);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            lcf->health.activity = n;
            continue;
        }

        if (v.len > 5 && ngx_strncmp(v.data, "keys=", 5) == 0) {
            v.data += 5;
            v.len -= 5;

            n = ngx_parse_time(&v, 1);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            lcf->health.keys = n;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"audit_health\", "
                       "expected spool=SIZE, error_rate=N%%, "
                       "activity=TIME or keys=TIME", &value[i]);
    return NGX_CONF_ERROR;
}


/* after the whole configuration: defaults, the zone, the TLS context */

char *
ngx_http_audit_alert_init_conf(ngx_conf_t *cf,
    ngx_http_audit_alert_main_conf_t *mcf)
{
    ngx_str_t                      name;
    ngx_uint_t                     i;
#if (NGX_SSL)
    ngx_ssl_t                     *ssl;
#endif
    ngx_http_audit_alert_route_t  *rt;

    ngx_conf_init_value(mcf->window, 300);

    if (!mcf->used) {
        return NGX_CONF_OK;
    }

    ngx_str_set(&name, "audit_alert");

    mcf->shm_zone = ngx_shared_memory_add(cf, &name,
                        ngx_align(sizeof(ngx_http_audit_alert_sh_t),
                                  ngx_pagesize) + 16 * ngx_pagesize,
                        &ngx_http_audit_alert_module);
    if (mcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->shm_zone->init = ngx_http_audit_alert_init_zone;
    mcf->shm_zone->data = mcf;

    if (mcf->routes == NULL) {
        return NGX_CONF_OK;
    }

#if (NGX_SSL)
    ssl = NULL;
    rt = mcf->routes->elts;

    for (i = 0; i < mcf->routes->nelts; i++) {
        if (!rt[i].https) {
            continue;
        }

        if (ssl == NULL
            && ngx_http_audit_alert_ssl(cf, mcf, &ssl) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        rt[i].ssl = ssl;
    }
#else
    (void) rt;
    (void) i;
#endif

    return NGX_CONF_OK;
}


#if (NGX_SSL)

static ngx_int_t
ngx_http_audit_alert_ssl(ngx_conf_t *cf,
    ngx_http_audit_alert_main_conf_t *mcf, ngx_ssl_t **ssl)
{
    ngx_ssl_t           *s;
    ngx_pool_cleanup_t  *cln;

    s = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->log = cf->log;

    if (ngx_ssl_create(s, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(s);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = s;

    if (mcf->trusted.len) {
        if (ngx_ssl_trusted_certificate(cf, s, &mcf->trusted, 5) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (SSL_CTX_set_default_verify_paths(s->ctx) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_alert\": no system CA certificates, "
                           "set \"audit_alert_trusted_certificate\"");
        return NGX_ERROR;
    }

    *ssl = s;

    return NGX_OK;
}

#endif
