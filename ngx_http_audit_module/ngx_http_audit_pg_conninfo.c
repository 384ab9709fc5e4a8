
/*
 * ngx_http_audit_module: the PostgreSQL sink's configuration time.
 *
 * "audit_pg" is parsed here, when nginx reads its configuration: the
 * batch, flush and queue parameters, and the connection string, which
 * libpq checks and which is rewritten so that the shipper
 * (ngx_http_audit_pg.c) never makes libpq resolve a host name in a
 * worker's event loop.
 */


#include "ngx_http_audit_pg.h"

#include <libpq-fe.h>


static ngx_int_t ngx_http_audit_pg_params(ngx_conf_t *cf,
    ngx_http_audit_pg_conf_t *pgcf, PQconninfoOption *opts);
static ngx_int_t ngx_http_audit_pg_param(ngx_conf_t *cf,
    ngx_http_audit_pg_conf_t *pgcf, ngx_uint_t i, const char *keyword,
    const char *value);
static ngx_int_t ngx_http_audit_pg_resolve(ngx_conf_t *cf, ngx_str_t *host,
    ngx_str_t *port, ngx_str_t *hosts, ngx_str_t *addrs, ngx_str_t *ports);
static u_char *ngx_http_audit_pg_list(u_char *p, ngx_uint_t first,
    ngx_str_t *item);


char *
ngx_http_audit_pg_conf(ngx_conf_t *cf, ngx_http_audit_pg_main_conf_t *pmcf)
{
    char                      *err;
    ssize_t                    size;
    ngx_int_t                  n, rc;
    PQconninfoOption          *opts;
    ngx_str_t                 *value, s;
    ngx_msec_t                 ms;
    ngx_uint_t                 i;
    ngx_http_audit_pg_conf_t  *pgcf;

    if (pmcf->pg) {
        return "is duplicate";
    }

    value = cf->args->elts;

    pgcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_pg_conf_t));
    if (pgcf == NULL) {
        return NGX_CONF_ERROR;
    }

    /* cf->args are NUL-terminated: libpq takes the string as it is */
    pgcf->conninfo = value[1];
    ngx_http_audit_conf_line(cf, &pgcf->at);
    pgcf->batch = 1000;
    pgcf->flush = 200;
    pgcf->queue = 1024 * 1024;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "batch=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n < 1 || n > 100000) {
                goto invalid;
            }

            pgcf->batch = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            pgcf->flush = ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "queue=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < 2 * AUDIT_EVENT_MAX) {
                goto invalid;
            }

            pgcf->queue = size;
            continue;
        }

        goto invalid;
    }

    /* a connection string libpq cannot even parse fails nginx -t */

    err = NULL;
    opts = PQconninfoParse((const char *) pgcf->conninfo.data, &err);

    if (opts == NULL) {
        ngx_http_audit_pg_conninfo_error(cf, "audit_pg", err);
        return NGX_CONF_ERROR;
    }

    rc = ngx_http_audit_pg_params(cf, pgcf, opts);

    PQconninfoFree(opts);

    if (rc != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    pmcf->pg = pgcf;
    ngx_http_audit_events_want(cf);

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"audit_pg\", expected "
                       "batch=1..100000, flush=TIME, queue=SIZE (>= 16k)",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * libpq resolves host names in PQconnectStart() with a blocking
 * getaddrinfo(), in the worker's event loop.  So names are resolved here,
 * when nginx reads its configuration (as for upstream servers), and the
 * connection parameters name the addresses in "hostaddr": each name
 * becomes one host entry per address, tried in order as libpq would; the
 * name stays in "host" for TLS verification.  A Unix socket directory, or
 * an explicit "hostaddr", is passed on as it is.
 */

static ngx_int_t
ngx_http_audit_pg_params(ngx_conf_t *cf, ngx_http_audit_pg_conf_t *pgcf,
    PQconninfoOption *opts)
{
    ngx_str_t          host, port, hosts, addrs, ports;
    ngx_uint_t         n, i, named;
    PQconninfoOption  *o;

    ngx_str_null(&host);
    ngx_str_null(&port);
    ngx_str_null(&ports);
    n = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            /* the addresses are given: nothing for libpq to resolve */
            ngx_str_null(&host);
            break;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host.data = (u_char *) o->val;
            host.len = ngx_strlen(o->val);

        } else if (ngx_strcmp(o->keyword, "port") == 0) {
            port.data = (u_char *) o->val;
            port.len = ngx_strlen(o->val);
        }
    }

    if (host.len) {
        if (ngx_http_audit_pg_resolve(cf, &host, &port, &hosts, &addrs,
                                      &ports)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (o = opts; o->keyword; o++) {
        n++;
    }

    /* and "host", "hostaddr", "port", the application name, the NULL */

    pgcf->keywords = ngx_pcalloc(cf->pool, (n + 5) * sizeof(char *));
    pgcf->values = ngx_pcalloc(cf->pool, (n + 5) * sizeof(char *));
    if (pgcf->keywords == NULL || pgcf->values == NULL) {
        return NGX_ERROR;
    }

    i = 0;
    named = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        if (ngx_strcmp(o->keyword, "fallback_application_name") == 0) {
            named = 1;
        }

        if (host.len && (ngx_strcmp(o->keyword, "host") == 0
                         || ngx_strcmp(o->keyword, "port") == 0))
        {
            continue;
        }

        if (ngx_http_audit_pg_param(cf, pgcf, i++, o->keyword, o->val)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* what pg_stat_activity shows for these connections, unless named */

    if (!named
        && ngx_http_audit_pg_param(cf, pgcf, i++,
                                   "fallback_application_name", "nginx-audit")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (host.len) {
        if (ngx_http_audit_pg_param(cf, pgcf, i++, "host",
                                    (char *) hosts.data)
            != NGX_OK
            || ngx_http_audit_pg_param(cf, pgcf, i++, "hostaddr",
                                       (char *) addrs.data)
               != NGX_OK
            || (ports.len
                && ngx_http_audit_pg_param(cf, pgcf, i++, "port",
                                           (char *) ports.data)
                   != NGX_OK))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_pg_param(ngx_conf_t *cf, ngx_http_audit_pg_conf_t *pgcf,
    ngx_uint_t i, const char *keyword, const char *value)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(keyword) + 1 + ngx_strlen(value) + 1;

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    pgcf->keywords[i] = (char *) p;
    p = ngx_cpymem(p, keyword, ngx_strlen(keyword) + 1);
    pgcf->values[i] = (char *) p;
    ngx_memcpy(p, value, ngx_strlen(value) + 1);

    return NGX_OK;
}


/*
 * "host=a,b port=5432,5433" becomes "host=a,a,b hostaddr=A1,A2,B
 * port=5432,5432,5433": NUL-terminated lists, "port" only if it was one.
 * A host with no address to resolve (a Unix socket directory) gets an
 * empty "hostaddr" entry, which libpq reads as "use the host".
 */

#define NGX_HTTP_AUDIT_PG_ADDRS  16    /* addresses kept per host name */

static ngx_int_t
ngx_http_audit_pg_resolve(ngx_conf_t *cf, ngx_str_t *host, ngx_str_t *port,
    ngx_str_t *hosts, ngx_str_t *addrs, ngx_str_t *ports)
{
    u_char      *h, *end, *pt, *pend, *ho, *ao, *po;
    ngx_url_t    u;
    ngx_str_t    name, pname, addr;
    ngx_uint_t   i, k, n, naddrs, list;
    u_char       text[NGX_SOCKADDR_STRLEN];

    list = port->len
           && ngx_strlchr(port->data, port->data + port->len, ',') != NULL;

    n = 1;
    for (h = host->data; h < host->data + host->len; h++) {
        n += (*h == ',');
    }

    n *= NGX_HTTP_AUDIT_PG_ADDRS;

    ho = ngx_pnalloc(cf->pool, n * (host->len + 1) + 1);
    ao = ngx_pnalloc(cf->pool, n * (NGX_SOCKADDR_STRLEN + 1) + 1);
    po = ngx_pnalloc(cf->pool, n * (port->len + 1) + 1);
    if (ho == NULL || ao == NULL || po == NULL) {
        return NGX_ERROR;
    }

    hosts->data = ho;
    addrs->data = ao;
    ports->data = po;

    h = host->data;
    pt = port->data;
    end = host->data + host->len;
    k = 0;

    for ( ;; ) {
        name.data = h;
        h = ngx_strlchr(h, end, ',');
        name.len = (h ? h : end) - name.data;

        pname.data = pt;
        pname.len = 0;

        if (list) {
            pend = ngx_strlchr(pt, port->data + port->len, ',');
            pname.len = (pend ? pend : port->data + port->len) - pt;
            pt = pend ? pend + 1 : port->data + port->len;
        }

        if (name.len == 0 || name.data[0] == '/' || name.data[0] == '@') {
            ngx_str_null(&addr);
            ho = ngx_http_audit_pg_list(ho, k == 0, &name);
            ao = ngx_http_audit_pg_list(ao, k == 0, &addr);
            po = list ? ngx_http_audit_pg_list(po, k == 0, &pname) : po;
            k++;

        } else {
            ngx_memzero(&u, sizeof(ngx_url_t));

            u.host = name;
            u.port = 5432;

            if (ngx_inet_resolve_host(cf->pool, &u) != NGX_OK
                || u.naddrs == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"audit_pg\" host \"%V\" cannot be "
                                   "resolved%s%s", &name,
                                   u.err ? ": " : "", u.err ? u.err : "");
                return NGX_ERROR;
            }

            naddrs = ngx_min(u.naddrs, NGX_HTTP_AUDIT_PG_ADDRS);

            for (i = 0; i < naddrs; i++) {
                addr.data = text;
                addr.len = ngx_sock_ntop(u.addrs[i].sockaddr,
                                         u.addrs[i].socklen, text,
                                         NGX_SOCKADDR_STRLEN, 0);

                ho = ngx_http_audit_pg_list(ho, k == 0, &name);
                ao = ngx_http_audit_pg_list(ao, k == 0, &addr);
                po = list ? ngx_http_audit_pg_list(po, k == 0, &pname) : po;
                k++;
            }
        }

        if (h == NULL) {
            break;
        }

        h++;
    }

    if (!list && port->len) {
        po = ngx_cpymem(po, port->data, port->len);
    }

    *ho = '\0';
    *ao = '\0';
    *po = '\0';

    hosts->len = ho - hosts->data;
    addrs->len = ao - addrs->data;
    ports->len = po - ports->data;

    return NGX_OK;
}


/* appends an item, maybe empty, to a comma-separated list */

static u_char *
ngx_http_audit_pg_list(u_char *p, ngx_uint_t first, ngx_str_t *item)
{
    if (!first) {
        *p++ = ',';
    }

    return item->len ? ngx_cpymem(p, item->data, item->len) : p;
}


/*
 * libpq quotes what it could not parse, and that may be the password
 * ("invalid percent-encoded token: \"S3cr%tPW\"" for an unencoded '%' in
 * a URI's password, "missing \"=\" after \"...\"" for a value without its
 * key): every quoted text is shown as "...", except the option's name in
 * "invalid connection option \"bogus\"".
 */

void
ngx_http_audit_pg_conninfo_error(ngx_conf_t *cf, const char *directive,
    char *err)
{
    u_char      *msg, *p;
    size_t       len, i;
    ngx_uint_t   inside, hide, first;

    static const char  option[] = "invalid connection option \"";

    if (err == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid connection string in \"%s\": out of "
                           "memory", directive);
        return;
    }

    len = ngx_strlen(err);

    /* "\"\"" becomes "\"...\"": at most 5 bytes for 2 */
    msg = ngx_pnalloc(cf->pool, 3 * len + 1);

    if (msg != NULL) {
        first = (ngx_strncmp(err, option, sizeof(option) - 1) == 0);
        inside = 0;
        hide = 0;
        p = msg;

        for (i = 0; i < len; i++) {

            if (err[i] == '"') {
                *p++ = '"';

                if (inside) {
                    inside = 0;
                    continue;
                }

                /* the option's name, and the "=" libpq misses, are no
                 * value */
                inside = 1;
                hide = !first && !(i + 2 < len && err[i + 1] == '='
                                   && err[i + 2] == '"');
                first = 0;

                if (hide) {
                    p = ngx_cpymem(p, "...", 3);
                }

                continue;
            }

            if (inside && hide) {
                continue;
            }

            /* libpq's message ends in "\n": keep the log entry one line */
            *p++ = (err[i] == '\n' || err[i] == '\r') ? ' ' : err[i];
        }

        while (p > msg && p[-1] == ' ') {
            p--;
        }

        *p = '\0';
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid connection string in \"%s\": %s", directive,
                       msg ? (char *) msg : "out of memory");

    PQfreemem(err);
}
