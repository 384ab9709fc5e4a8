
/*
 * ngx_http_audit_module: the PostgreSQL shipper.
 *
 * Each worker holds one libpq connection driven by nginx's event loop:
 * PQconnectStart()/PQconnectPoll(), PQsetnonblocking(), the socket
 * registered as an nginx connection, every libpq call one that cannot
 * block.  Events are queued in memory as COPY text rows; a batch goes as
 * one simple query,
 *
 *     COPY audit_staging (line) FROM STDIN; SELECT audit.ingest()
 *
 * which PostgreSQL runs as one implicit transaction: the rows land
 * together or not at all, and audit.ingest() inserts with ON CONFLICT DO
 * NOTHING, so sending a batch again (after a lost connection, from the
 * spool) never duplicates a row.
 *
 * While PostgreSQL is unreachable, or slower than the events come (the
 * queue is full), events go to the spool (ngx_http_audit_spool.c) and are
 * replayed from it, in order, once the connection is back; on a graceful
 * exit whatever is still queued is spooled for the next workers.
 */


#include "ngx_http_audit_pg.h"

#include <libpq-fe.h>


#define NGX_HTTP_AUDIT_PG_BACKOFF_MIN  100
#define NGX_HTTP_AUDIT_PG_BACKOFF_MAX  10000
#define NGX_HTTP_AUDIT_PG_TIMEOUT      30000    /* a batch, a connect */


typedef enum {
    NGX_HTTP_AUDIT_PG_DOWN = 0,
    NGX_HTTP_AUDIT_PG_CONNECTING,
    NGX_HTTP_AUDIT_PG_SETUP,
    NGX_HTTP_AUDIT_PG_IDLE,
    NGX_HTTP_AUDIT_PG_COPY,
    NGX_HTTP_AUDIT_PG_RESULT
} ngx_http_audit_pg_state_e;


struct ngx_http_audit_pg_s {
    ngx_http_audit_pg_conf_t    *conf;
    ngx_http_audit_spool_t      *spool;
    ngx_log_t                   *log;

    PGconn                      *conn;
    ngx_connection_t            *c;
    ngx_http_audit_pg_state_e    state;
    ngx_msec_t                   backoff;
    ngx_event_t                  timer;

    /* events waiting: COPY rows, "\n"-terminated */
    u_char                      *queue;
    size_t                       queued;
    ngx_uint_t                   nqueued;

    /* the batch on the wire */
    u_char                      *batch;
    size_t                       batch_len;
    size_t                       batch_sent;
    ngx_uint_t                   batch_spooled;    /* came from the spool */
    ngx_uint_t                   batch_events;     /* from the queue */
    ngx_uint_t                   batch_failed;

    ngx_uint_t                   exiting;

    ngx_http_audit_shctx_t      *sh;               /* counters, if a zone */
    ngx_uint_t                   outage;           /* reported */
    ngx_http_audit_worker_stats_t *stats;
};


static ngx_int_t ngx_http_audit_pg_params(ngx_conf_t *cf,
    ngx_http_audit_pg_conf_t *pgcf, PQconninfoOption *opts);
static ngx_int_t ngx_http_audit_pg_param(ngx_conf_t *cf,
    ngx_http_audit_pg_conf_t *pgcf, ngx_uint_t i, const char *keyword,
    const char *value);
static ngx_int_t ngx_http_audit_pg_resolve(ngx_conf_t *cf, ngx_str_t *host,
    ngx_str_t *port, ngx_str_t *hosts, ngx_str_t *addrs, ngx_str_t *ports);
static u_char *ngx_http_audit_pg_list(u_char *p, ngx_uint_t first,
    ngx_str_t *item);
static void ngx_http_audit_pg_connect(ngx_http_audit_pg_t *pg);
static void ngx_http_audit_pg_register(ngx_http_audit_pg_t *pg);
static void ngx_http_audit_pg_event_handler(ngx_event_t *ev);
static void ngx_http_audit_pg_timer_handler(ngx_event_t *ev);
static void ngx_http_audit_pg_run(ngx_http_audit_pg_t *pg);
static void ngx_http_audit_pg_step(ngx_http_audit_pg_t *pg);
static ngx_int_t ngx_http_audit_pg_poll_connect(ngx_http_audit_pg_t *pg);
static ngx_int_t ngx_http_audit_pg_results(ngx_http_audit_pg_t *pg);
static ngx_int_t ngx_http_audit_pg_start_batch(ngx_http_audit_pg_t *pg);
static ngx_int_t ngx_http_audit_pg_copy(ngx_http_audit_pg_t *pg);
static void ngx_http_audit_pg_batch_done(ngx_http_audit_pg_t *pg);
static void ngx_http_audit_pg_fail(ngx_http_audit_pg_t *pg,
    const char *what);
static void ngx_http_audit_pg_close(ngx_http_audit_pg_t *pg);
static void ngx_http_audit_pg_arm(ngx_http_audit_pg_t *pg, ngx_msec_t ms);
static void ngx_http_audit_pg_publish(ngx_http_audit_pg_t *pg);
static void ngx_http_audit_pg_hold(ngx_http_audit_pg_t *pg, ngx_int_t n);
static u_char *ngx_http_audit_pg_row(u_char *dst, u_char *line, size_t len);
static ngx_uint_t ngx_http_audit_pg_rows(u_char *p, size_t len);


char *
ngx_http_audit_pg_conf(ngx_conf_t *cf, ngx_http_audit_pg_main_conf_t *pmcf)
{
    char                      *err;
    size_t                     len;
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
        if (err) {
            /* libpq's message ends in "\n": keep the log entry one line */
            len = ngx_strlen(err);

            while (len && (err[len - 1] == '\n' || err[len - 1] == ' ')) {
                err[--len] = '\0';
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid connection string in \"audit_pg\": %s",
                           err ? err : "out of memory");
        PQfreemem(err);
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


ngx_int_t
ngx_http_audit_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_audit_pg_main_conf_t *pmcf)
{
    ngx_http_audit_pg_t         *pg;
    ngx_http_audit_main_conf_t  *amcf;

    /* the zone's counters and this worker's gauges: the audit module's */
    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    pg = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_pg_t));
    if (pg == NULL) {
        return NGX_ERROR;
    }

    pg->conf = pmcf->pg;
    pg->spool = pmcf->spool_state;
    pg->log = cycle->log;
    pg->stats = amcf->stats;

    if (amcf->shm_zone) {
        pg->sh = amcf->shm_zone->data;
    }

    pg->queue = ngx_alloc(pg->conf->queue, cycle->log);
    pg->batch = ngx_alloc(pg->conf->queue, cycle->log);
    if (pg->queue == NULL || pg->batch == NULL) {
        return NGX_ERROR;
    }

    pg->timer.handler = ngx_http_audit_pg_timer_handler;
    pg->timer.data = pg;
    pg->timer.log = cycle->log;
    pg->timer.cancelable = 1;

    pg->backoff = NGX_HTTP_AUDIT_PG_BACKOFF_MIN;

    pmcf->pg_state = pg;

    ngx_http_audit_pg_connect(pg);

    return NGX_OK;
}


/*
 * A graceful exit: nothing may be lost, and there is no time to wait for
 * PostgreSQL.  The batch on the wire (its commit unknown) and the queue go
 * to the spool; replaying a committed batch adds no row.
 */

void
ngx_http_audit_pg_exit_process(ngx_http_audit_pg_main_conf_t *pmcf)
{
    ngx_http_audit_pg_t  *pg;

    pg = pmcf->pg_state;

    if (pg == NULL) {
        return;
    }

    pg->exiting = 1;

    if (pg->batch_len && !pg->batch_spooled) {
        (void) ngx_http_audit_spool_save(pg->spool, pg->batch, pg->batch_len,
                                         pg->log);
    }

    if (pg->queued) {
        (void) ngx_http_audit_spool_save(pg->spool, pg->queue, pg->queued,
                                         pg->log);
    }

    pg->batch_len = 0;
    pg->queued = 0;

    ngx_http_audit_pg_close(pg);
    ngx_http_audit_spool_close(pg->spool);

    /* ngx_alloc()ed: the cycle pool that goes next does not know them */

    ngx_free(pg->queue);
    ngx_free(pg->batch);
    pg->queue = NULL;
    pg->batch = NULL;
    pmcf->pg_state = NULL;
}


/*
 * One event, as its JSON line without the "\n".  COPY's text format needs
 * only the backslash doubled: JSON has no raw tab, CR or LF in a line.  The
 * row is written straight into the queue when it fits there, else built
 * aside for the spool.
 */

void
ngx_http_audit_pg_enqueue(ngx_http_audit_pg_t *pg, u_char *line, size_t len)
{
    u_char  *end, row[2 * AUDIT_EVENT_MAX + 1];

    /*
     * Behind a backlog in the spool, events join the spool, so they reach
     * PostgreSQL in the order they happened.
     */

    if (ngx_http_audit_spool_backlog(pg->spool)
        || pg->state == NGX_HTTP_AUDIT_PG_DOWN
        || pg->queued + 2 * len + 1 > pg->conf->queue)
    {
        end = ngx_http_audit_pg_row(row, line, len);
        ngx_http_audit_spool_append(pg->spool, row, end - row, pg->log);

    } else {
        end = ngx_http_audit_pg_row(pg->queue + pg->queued, line, len);
        pg->queued = end - pg->queue;
        pg->nqueued++;
        ngx_http_audit_pg_hold(pg, 1);
    }

    if (pg->state != NGX_HTTP_AUDIT_PG_IDLE) {
        ngx_http_audit_pg_publish(pg);
        return;
    }

    if (pg->nqueued >= pg->conf->batch) {
        ngx_http_audit_pg_run(pg);
        return;
    }

    /*
     * flush= counts from the oldest queued event: a steady trickle of
     * events must not keep pushing the batch back
     */

    if (pg->timer.timer_set
        && (ngx_msec_int_t) (pg->timer.timer.key - ngx_current_msec)
           <= (ngx_msec_int_t) pg->conf->flush)
    {
        return;
    }

    ngx_http_audit_pg_arm(pg, pg->conf->flush);
}


static void
ngx_http_audit_pg_connect(ngx_http_audit_pg_t *pg)
{
    pg->conn = PQconnectStartParams(pg->conf->keywords, pg->conf->values, 0);

    if (pg->conn == NULL) {
        ngx_http_audit_pg_fail(pg, "PQconnectStartParams() failed");
        return;
    }

    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        ngx_http_audit_pg_fail(pg, "connect");
        return;
    }

    pg->state = NGX_HTTP_AUDIT_PG_CONNECTING;

    ngx_http_audit_pg_register(pg);

    if (pg->c == NULL) {
        return;
    }

    ngx_http_audit_pg_arm(pg, NGX_HTTP_AUDIT_PG_TIMEOUT);

    ngx_http_audit_pg_run(pg);
}


/* (re)wraps libpq's socket, which may change while connecting */

static void
ngx_http_audit_pg_register(ngx_http_audit_pg_t *pg)
{
    int                fd;
    ngx_connection_t  *c;

    fd = PQsocket(pg->conn);

    if (pg->c && pg->c->fd == fd) {
        return;
    }

    if (pg->c) {
        /* libpq closes its own sockets: forget ours without close() */
        pg->c->fd = (ngx_socket_t) -1;
        ngx_free_connection(pg->c);
        pg->c = NULL;
    }

    if (fd < 0) {
        ngx_http_audit_pg_fail(pg, "PQsocket() failed");
        return;
    }

    c = ngx_get_connection(fd, pg->log);
    if (c == NULL) {
        ngx_http_audit_pg_fail(pg, "no free connection");
        return;
    }

    c->data = pg;
    c->read->handler = ngx_http_audit_pg_event_handler;
    c->write->handler = ngx_http_audit_pg_event_handler;
    c->read->log = pg->log;
    c->write->log = pg->log;

    pg->c = c;

    if (ngx_add_conn) {
        if (ngx_add_conn(c) == NGX_ERROR) {
            ngx_http_audit_pg_fail(pg, "ngx_add_conn() failed");
        }

        return;
    }

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK
        || ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
           != NGX_OK)
    {
        ngx_http_audit_pg_fail(pg, "ngx_add_event() failed");
    }
}


static void
ngx_http_audit_pg_event_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c = ev->data;
    ngx_http_audit_pg_t  *pg = c->data;

    ngx_http_audit_pg_run(pg);
}


/*
 * One timer, whose meaning follows the state: reconnect when down, give
 * up on a connect or a batch that takes too long, flush the queue when
 * idle.
 */

static void
ngx_http_audit_pg_timer_handler(ngx_event_t *ev)
{
    ngx_http_audit_pg_t  *pg = ev->data;

    switch (pg->state) {

    case NGX_HTTP_AUDIT_PG_DOWN:
        if (!ngx_exiting && !pg->exiting) {
            ngx_http_audit_pg_connect(pg);
        }
        return;

    case NGX_HTTP_AUDIT_PG_IDLE:
        ngx_http_audit_pg_run(pg);
        return;

    default:
        ngx_http_audit_pg_fail(pg, "timed out");
        return;
    }
}


/* drives the state machine as far as it goes without waiting */

static void
ngx_http_audit_pg_run(ngx_http_audit_pg_t *pg)
{
    ngx_http_audit_pg_step(pg);
    ngx_http_audit_pg_publish(pg);
}


static void
ngx_http_audit_pg_step(ngx_http_audit_pg_t *pg)
{
    for ( ;; ) {

        switch (pg->state) {

        case NGX_HTTP_AUDIT_PG_DOWN:
            return;

        case NGX_HTTP_AUDIT_PG_CONNECTING:
            if (ngx_http_audit_pg_poll_connect(pg) != NGX_OK) {
                return;
            }
            break;

        case NGX_HTTP_AUDIT_PG_SETUP:
        case NGX_HTTP_AUDIT_PG_RESULT:
            if (ngx_http_audit_pg_results(pg) != NGX_OK) {
                return;
            }
            break;

        case NGX_HTTP_AUDIT_PG_IDLE:
            if (ngx_http_audit_pg_start_batch(pg) != NGX_OK) {
                return;
            }
            break;

        case NGX_HTTP_AUDIT_PG_COPY:
            if (ngx_http_audit_pg_copy(pg) != NGX_OK) {
                return;
            }
            break;
        }
    }
}


static ngx_int_t
ngx_http_audit_pg_poll_connect(ngx_http_audit_pg_t *pg)
{
    PostgresPollingStatusType  st;

    st = PQconnectPoll(pg->conn);

    switch (st) {

    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
        ngx_http_audit_pg_register(pg);
        return NGX_AGAIN;

    case PGRES_POLLING_OK:
        break;

    default:
        ngx_http_audit_pg_fail(pg, "connect");
        return NGX_ERROR;
    }

    if (PQsetnonblocking(pg->conn, 1) != 0) {
        ngx_http_audit_pg_fail(pg, "PQsetnonblocking() failed");
        return NGX_ERROR;
    }

    ngx_http_audit_pg_register(pg);

    if (pg->c == NULL) {
        return NGX_ERROR;
    }

    /* the staging table lives as long as the connection */

    if (!PQsendQuery(pg->conn,
                     "CREATE TEMP TABLE IF NOT EXISTS audit_staging "
                     "(line text) ON COMMIT DELETE ROWS"))
    {
        ngx_http_audit_pg_fail(pg, "setting up");
        return NGX_ERROR;
    }

    pg->state = NGX_HTTP_AUDIT_PG_SETUP;

    return NGX_OK;
}


/* reads what the server answered; NGX_OK when a step completed */

static ngx_int_t
ngx_http_audit_pg_results(ngx_http_audit_pg_t *pg)
{
    char            *addr;
    PGresult        *res;
    ngx_uint_t       failed;
    ExecStatusType   st;

    switch (PQflush(pg->conn)) {
    case 0:
        break;
    case 1:
        return NGX_AGAIN;
    default:
        ngx_http_audit_pg_fail(pg, "sending");
        return NGX_ERROR;
    }

    if (!PQconsumeInput(pg->conn)) {
        ngx_http_audit_pg_fail(pg, "reading");
        return NGX_ERROR;
    }

    failed = 0;

    while (!PQisBusy(pg->conn)) {

        res = PQgetResult(pg->conn);

        if (res == NULL) {
            goto done;
        }

        st = PQresultStatus(res);

        if (st == PGRES_TUPLES_OK && pg->sh && PQntuples(res) == 1) {
            /* audit.ingest(): the rows it inserted */
            (void) ngx_atomic_fetch_add(&pg->sh->pg_rows_inserted,
                             ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                                      PQgetlength(res, 0, 0)));
        }

        if (st == PGRES_FATAL_ERROR) {
            ngx_log_error(NGX_LOG_ERR, pg->log, 0,
                          "audit: PostgreSQL: %s",
                          PQresultErrorMessage(res));
            failed = 1;
        }

        PQclear(res);
    }

    return NGX_AGAIN;

done:

    if (failed) {
        ngx_http_audit_pg_fail(pg, pg->state == NGX_HTTP_AUDIT_PG_SETUP
                                   ? "setting up" : "storing a batch");
        return NGX_ERROR;
    }

    if (pg->state == NGX_HTTP_AUDIT_PG_SETUP) {
        addr = PQhostaddr(pg->conn);

        ngx_log_error(NGX_LOG_INFO, pg->log, 0,
                      "audit: connected to PostgreSQL at \"%s\" port %s%s%s",
                      PQhost(pg->conn), PQport(pg->conn),
                      (addr && *addr) ? " address " : "",
                      (addr && *addr) ? addr : "");
        pg->backoff = NGX_HTTP_AUDIT_PG_BACKOFF_MIN;
        pg->outage = 0;

    } else {
        ngx_http_audit_pg_batch_done(pg);
    }

    pg->state = NGX_HTTP_AUDIT_PG_IDLE;

    if (pg->timer.timer_set) {
        ngx_del_timer(&pg->timer);
    }

    return NGX_OK;
}


/*
 * Idle: the next batch is the spool's backlog if there is one, else the
 * queue (when full enough or its time has come).
 */

static ngx_int_t
ngx_http_audit_pg_start_batch(ngx_http_audit_pg_t *pg)
{
    u_char  *p;

    if (pg->batch_len == 0) {

        if (ngx_http_audit_spool_backlog(pg->spool)) {
            pg->batch_len = ngx_http_audit_spool_read(pg->spool, pg->batch,
                                                      pg->conf->queue,
                                                      pg->log);
            pg->batch_spooled = 1;

        } else if (pg->queued) {
            p = pg->batch;
            pg->batch = pg->queue;
            pg->queue = p;
            pg->batch_len = pg->queued;
            pg->batch_spooled = 0;
            pg->batch_events = pg->nqueued;
            pg->queued = 0;
            pg->nqueued = 0;
        }
    }

    if (pg->batch_len == 0) {

        /* idle and connected: time to adopt files of workers gone */
        ngx_http_audit_spool_scan(pg->spool, pg->log);

        if (ngx_http_audit_spool_backlog(pg->spool)) {
            return NGX_OK;
        }

        ngx_http_audit_pg_arm(pg, pg->queued ? pg->conf->flush : 2000);

        return NGX_AGAIN;
    }

    if (!PQsendQuery(pg->conn, "COPY audit_staging (line) FROM STDIN; "
                               "SELECT audit.ingest()"))
    {
        ngx_http_audit_pg_fail(pg, "sending a batch");
        return NGX_ERROR;
    }

    pg->batch_sent = 0;
    pg->state = NGX_HTTP_AUDIT_PG_COPY;

    ngx_http_audit_pg_arm(pg, NGX_HTTP_AUDIT_PG_TIMEOUT);

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_pg_copy(ngx_http_audit_pg_t *pg)
{
    int              rc;
    size_t           n;
    PGresult        *res;
    ExecStatusType   st;

    /* first the server's "go ahead": PGRES_COPY_IN */

    if (pg->batch_sent == 0) {

        if (!PQconsumeInput(pg->conn)) {
            ngx_http_audit_pg_fail(pg, "reading");
            return NGX_ERROR;
        }

        if (PQflush(pg->conn) < 0) {
            ngx_http_audit_pg_fail(pg, "sending");
            return NGX_ERROR;
        }

        if (PQisBusy(pg->conn)) {
            return NGX_AGAIN;
        }

        res = PQgetResult(pg->conn);
        st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

        if (st != PGRES_COPY_IN) {
            ngx_log_error(NGX_LOG_ERR, pg->log, 0,
                          "audit: PostgreSQL refused COPY: %s",
                          res ? PQresultErrorMessage(res) : "no result");
            PQclear(res);
            ngx_http_audit_pg_fail(pg, "starting COPY");
            return NGX_ERROR;
        }

        PQclear(res);
    }

    /* then the rows, in pieces the non-blocking connection takes */

    while (pg->batch_sent < pg->batch_len) {

        n = ngx_min(pg->batch_len - pg->batch_sent, 64 * 1024);

        rc = PQputCopyData(pg->conn, (const char *) pg->batch
                                     + pg->batch_sent, (int) n);
        if (rc == 0) {
            return NGX_AGAIN;
        }

        if (rc < 0) {
            ngx_http_audit_pg_fail(pg, "sending rows");
            return NGX_ERROR;
        }

        /* +1: 0 would read as "waiting for COPY_IN" above */
        pg->batch_sent += n;
    }

    rc = PQputCopyEnd(pg->conn, NULL);

    if (rc == 0) {
        return NGX_AGAIN;
    }

    if (rc < 0) {
        ngx_http_audit_pg_fail(pg, "ending COPY");
        return NGX_ERROR;
    }

    pg->state = NGX_HTTP_AUDIT_PG_RESULT;

    return NGX_OK;
}


static void
ngx_http_audit_pg_batch_done(ngx_http_audit_pg_t *pg)
{
    ngx_uint_t  rows;

    if (pg->sh) {
        rows = pg->batch_spooled
               ? ngx_http_audit_pg_rows(pg->batch, pg->batch_len)
               : pg->batch_events;

        (void) ngx_atomic_fetch_add(&pg->sh->pg_rows_sent, rows);
        (void) ngx_atomic_fetch_add(&pg->sh->pg_batches, 1);
    }

    if (pg->batch_spooled) {
        ngx_http_audit_spool_commit(pg->spool, pg->log);
    }

    ngx_http_audit_pg_hold(pg, - (ngx_int_t) pg->batch_events);

    pg->batch_len = 0;
    pg->batch_events = 0;
    pg->batch_sent = 0;
    pg->batch_spooled = 0;
    pg->batch_failed = 0;
}


/*
 * Any failure drops the connection; the batch stays and is sent again on
 * the next one.  Reconnects back off from 100 ms to 10 s.  Meanwhile the
 * queue fills and then spills into the spool.
 */

static void
ngx_http_audit_pg_fail(ngx_http_audit_pg_t *pg, const char *what)
{
    ngx_uint_t  level;

    if (pg->sh) {
        (void) ngx_atomic_fetch_add(&pg->sh->pg_failures, 1);
    }

    /* one issue per outage, not one per reconnect attempt */

    if (!pg->outage && !pg->exiting) {
        pg->outage = 1;
        ngx_http_audit_fault(pg->log, NULL, "module_fault", "pg_down",
                             "PostgreSQL unreachable: audit events are "
                             "being spooled");
    }

    /* an unreachable server is expected news, a broken batch is not */

    level = (pg->state == NGX_HTTP_AUDIT_PG_DOWN
             || pg->state == NGX_HTTP_AUDIT_PG_CONNECTING)
            ? NGX_LOG_WARN : NGX_LOG_ERR;

    ngx_log_error(level, pg->log, 0,
                  "audit: PostgreSQL %s: %s, retrying in %M ms", what,
                  pg->conn ? PQerrorMessage(pg->conn) : "", pg->backoff);

    if (pg->batch_len && ++pg->batch_failed >= 3 && !pg->batch_spooled) {
        /* PostgreSQL keeps refusing this batch: keep it safe on disk */
        ngx_http_audit_spool_append(pg->spool, pg->batch, pg->batch_len,
                                    pg->log);
        ngx_http_audit_pg_hold(pg, - (ngx_int_t) pg->batch_events);
        pg->batch_len = 0;
        pg->batch_events = 0;
        pg->batch_failed = 0;
    }

    /* while down, events go to disk, behind what is queued */

    if (pg->queued) {
        ngx_http_audit_spool_append(pg->spool, pg->queue, pg->queued,
                                    pg->log);
        ngx_http_audit_pg_hold(pg, - (ngx_int_t) pg->nqueued);
        pg->queued = 0;
        pg->nqueued = 0;
    }

    ngx_http_audit_pg_close(pg);

    if (pg->exiting) {
        return;
    }

    ngx_http_audit_pg_arm(pg, pg->backoff);

    pg->backoff = ngx_min(pg->backoff * 2, NGX_HTTP_AUDIT_PG_BACKOFF_MAX);
}


static void
ngx_http_audit_pg_close(ngx_http_audit_pg_t *pg)
{
    if (pg->c) {
        if (pg->c->read->timer_set) {
            ngx_del_timer(pg->c->read);
        }

        if (ngx_del_conn) {
            ngx_del_conn(pg->c, NGX_CLOSE_EVENT);

        } else {
            if (pg->c->read->active) {
                ngx_del_event(pg->c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
            }

            if (pg->c->write->active) {
                ngx_del_event(pg->c->write, NGX_WRITE_EVENT,
                              NGX_CLOSE_EVENT);
            }
        }

        /* the socket is libpq's to close */
        pg->c->fd = (ngx_socket_t) -1;
        ngx_free_connection(pg->c);
        pg->c = NULL;
    }

    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }

    pg->state = NGX_HTTP_AUDIT_PG_DOWN;
    pg->batch_sent = 0;

    if (pg->timer.timer_set) {
        ngx_del_timer(&pg->timer);
    }
}


/* this worker's gauges for audit_status */

static void
ngx_http_audit_pg_publish(ngx_http_audit_pg_t *pg)
{
    if (pg->stats) {
        pg->stats->pg_state = pg->state;
        pg->stats->queue_bytes = pg->queued + pg->batch_len;
        pg->stats->spool_bytes = ngx_http_audit_spool_size(pg->spool);
    }
}


static void
ngx_http_audit_pg_arm(ngx_http_audit_pg_t *pg, ngx_msec_t ms)
{
    if (pg->timer.timer_set) {
        ngx_del_timer(&pg->timer);
    }

    ngx_add_timer(&pg->timer, ms);
}


/*
 * How many events exist only in this worker's memory, kept in its chain's
 * slot in the zone: if the worker dies without exiting, the next worker
 * of the slot counts them as lost (ngx_http_audit_events_init_process).
 */

static void
ngx_http_audit_pg_hold(ngx_http_audit_pg_t *pg, ngx_int_t n)
{
    ngx_http_audit_chain_t  *chain;

    if (pg->sh == NULL || ngx_worker >= NGX_HTTP_AUDIT_MAX_WORKERS || n == 0) {
        return;
    }

    chain = &pg->sh->chains[ngx_worker];

    /* after a reload the slot belongs to the new worker */

    if (chain->pid == ngx_pid) {
        chain->held += n;
    }
}


/* memchr() finds the rare backslash faster than a loop over every byte */

static u_char *
ngx_http_audit_pg_row(u_char *dst, u_char *line, size_t len)
{
    u_char  *bs, *last;

    last = line + len;

    while ((bs = memchr(line, '\\', last - line)) != NULL) {
        dst = ngx_cpymem(dst, line, bs + 1 - line);
        *dst++ = '\\';
        line = bs + 1;
    }

    dst = ngx_cpymem(dst, line, last - line);
    *dst++ = '\n';

    return dst;
}


static ngx_uint_t
ngx_http_audit_pg_rows(u_char *p, size_t len)
{
    u_char      *nl, *last;
    ngx_uint_t   rows;

    rows = 0;
    last = p + len;

    while ((nl = memchr(p, '\n', last - p)) != NULL) {
        rows++;
        p = nl + 1;
    }

    return rows;
}
