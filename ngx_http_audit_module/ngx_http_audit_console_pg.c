
/*
 * ngx_http_audit_module: the audit console's history, from PostgreSQL.
 *
 * "audit_console_pg CONNINFO" names a login role that is a member of
 * audit_reader (sql/migrations/0008_console.sql); each worker keeps one
 * libpq connection to it, driven by the event loop as the shipper's is:
 * PQconnectStartParams()/PQconnectPoll(), PQsetnonblocking(), the
 * socket wrapped in an nginx connection.  A host name is resolved when
 * nginx reads the configuration, never in a worker.  The session sets
 * statement_timeout and default_transaction_read_only, and a query's
 * parameters are always bound (PQsendQueryParams), never pasted into it.
 *
 * The directive is parsed in ngx_http_audit_console_pg_conf.c.
 *
 * One query runs at a time per worker; at most audit_console_pg_queries
 * wait or run, more get 503.  A query that does not answer within
 * audit_console_pg_timeout (a second past the statement timeout) closes
 * the connection; PostgreSQL down answers 503 at once.  Every query is
 * audited first (ngx_http_audit_console_audit()).
 */


#include "ngx_http_audit_console.h"
#include "ngx_http_audit_pg_socket.h"

#include <libpq-fe.h>


#define NGX_HTTP_AUDIT_CONSOLE_PAGE    50
#define NGX_HTTP_AUDIT_CONSOLE_CSV     1000
#define NGX_HTTP_AUDIT_CONSOLE_OFFSET  100000


typedef enum {
    NGX_HTTP_AUDIT_CONSOLE_PG_DOWN = 0,
    NGX_HTTP_AUDIT_CONSOLE_PG_CONNECTING,
    NGX_HTTP_AUDIT_CONSOLE_PG_IDLE,
    NGX_HTTP_AUDIT_CONSOLE_PG_BUSY
} ngx_http_audit_console_pg_state_e;


/* one history query: waiting, or on the wire */
typedef struct {
    ngx_queue_t                  queue;
    ngx_http_request_t          *r;                /* NULL: client gone */
    ngx_http_audit_console_pg_t *pg;
    ngx_uint_t                   waiting;
    ngx_uint_t                   csv;
    ngx_uint_t                   what;             /* _RECORD, _USER, _CHAIN */
    ngx_uint_t                   offset;
    ngx_uint_t                   limit;
    ngx_str_t                    type;
    ngx_str_t                    id;
    const char                  *values[4];
} ngx_http_audit_console_query_t;


struct ngx_http_audit_console_pg_s {
    ngx_http_audit_console_main_conf_t  *cmcf;
    ngx_log_t                   *log;
    PGconn                      *conn;
    ngx_connection_t            *c;
    ngx_http_audit_console_pg_state_e  state;
    ngx_event_t                  timer;
    ngx_event_t                  kick;
    ngx_queue_t                  waiting;
    ngx_uint_t                   nwaiting;
    ngx_http_audit_console_query_t  *current;
};


static void ngx_http_audit_console_pg_cleanup(void *data);
static void ngx_http_audit_console_pg_kick(ngx_event_t *ev);
static void ngx_http_audit_console_pg_next(ngx_http_audit_console_pg_t *pg);
static void ngx_http_audit_console_pg_connect(
    ngx_http_audit_console_pg_t *pg);
static ngx_int_t ngx_http_audit_console_pg_register(
    ngx_http_audit_console_pg_t *pg);
static void ngx_http_audit_console_pg_io(ngx_event_t *ev);
static void ngx_http_audit_console_pg_poll(ngx_http_audit_console_pg_t *pg);
static void ngx_http_audit_console_pg_read(ngx_http_audit_console_pg_t *pg);
static void ngx_http_audit_console_pg_timeout(ngx_event_t *ev);
static void ngx_http_audit_console_pg_fail(ngx_http_audit_console_pg_t *pg,
    const char *what);
static void ngx_http_audit_console_pg_close(ngx_http_audit_console_pg_t *pg);
static void ngx_http_audit_console_pg_answer(
    ngx_http_audit_console_query_t *q, PGresult *res, const char *error);
static void ngx_http_audit_console_pg_csv(ngx_http_audit_console_out_t *o,
    const char *s);


static const char  *ngx_http_audit_console_sql[3] = {

    "SELECT to_char(ts AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS ts, user_id, role, access,"
    " host(ip) AS ip, request_id, session_id"
    " FROM audit.console_record($1, $2, $3, $4)",

    "SELECT to_char(ts AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS ts, action, severity, route,"
    " status, resource_type, resource_id, access, reason, host(ip) AS ip,"
    " request_id"
    " FROM audit.console_user($1, $3, $4)",

    /* the last day of each chain, bounded by the statement timeout */
    "SELECT producer, events, missing,"
    " coalesce(cardinality(broken_links), 0) AS broken_links,"
    " coalesce(cardinality(tampered), 0) AS tampered, ok"
    " FROM audit.verify_chain(now() - interval '1 day') ORDER BY producer"
};


static const int  ngx_http_audit_console_nparams[3] = { 4, 4, 0 };


/* text, text, int4, int4 (pg_type.dat); $2 is unused by the user query */
static const Oid  ngx_http_audit_console_types[4] = { 25, 25, 23, 23 };


ngx_int_t
ngx_http_audit_console_pg_init_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_console_pg_t         *pg;
    ngx_http_audit_console_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_audit_console_module);

    if (cmcf == NULL || cmcf->pg_conf == NULL) {
        return NGX_OK;
    }

    pg = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_console_pg_t));
    if (pg == NULL) {
        return NGX_ERROR;
    }

    pg->cmcf = cmcf;
    pg->log = cycle->log;
    ngx_queue_init(&pg->waiting);

    pg->timer.handler = ngx_http_audit_console_pg_timeout;
    pg->timer.data = pg;
    pg->timer.log = cycle->log;
    pg->timer.cancelable = 1;

    pg->kick.handler = ngx_http_audit_console_pg_kick;
    pg->kick.data = pg;
    pg->kick.log = cycle->log;

    cmcf->pg = pg;

    return NGX_OK;
}


void
ngx_http_audit_console_pg_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_console_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_audit_console_module);

    if (cmcf && cmcf->pg) {
        ngx_http_audit_console_pg_close(cmcf->pg);
    }
}


/*
 * api/record?type=&id=&offset=, api/user?id=&offset= (and .csv): audited,
 * then queued; api/chain (the chains' check over the last day) queued;
 * the answer comes from the event loop.
 */

ngx_int_t
ngx_http_audit_console_history(ngx_http_request_t *r, ngx_uint_t what,
    ngx_uint_t csv)
{
    u_char                              *p;
    ngx_int_t                            rc, n;
    ngx_str_t                            v;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_audit_console_pg_t         *pg;
    ngx_http_audit_console_query_t      *q;
    ngx_http_audit_console_main_conf_t  *cmcf;

    static ngx_str_t  user_type = ngx_string("user");

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_audit_console_query_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->what = what;
    q->csv = csv;
    q->limit = csv ? NGX_HTTP_AUDIT_CONSOLE_CSV : NGX_HTTP_AUDIT_CONSOLE_PAGE;

    if (what == NGX_HTTP_AUDIT_CONSOLE_CHAIN) {
        goto queue;
    }

    if (what == NGX_HTTP_AUDIT_CONSOLE_RECORD) {
        rc = ngx_http_audit_console_arg(r, "type", &q->type);
        if (rc != NGX_OK) {
            goto bad;
        }

    } else {
        q->type = user_type;
    }

    if (ngx_http_audit_console_arg(r, "id", &q->id) != NGX_OK) {
        goto bad;
    }

    rc = ngx_http_audit_console_arg(r, "offset", &v);

    if (rc == NGX_OK) {
        n = ngx_atoi(v.data, v.len);
        if (n == NGX_ERROR || n > NGX_HTTP_AUDIT_CONSOLE_OFFSET) {
            goto bad;
        }

        q->offset = n;

    } else if (rc == NGX_ERROR) {
        goto bad;
    }

queue:

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_audit_console_module);
    pg = cmcf->pg;

    if (pg == NULL) {
        return ngx_http_audit_console_error(r,
                                            NGX_HTTP_SERVICE_UNAVAILABLE,
                                            "history_not_configured");
    }

    if (pg->nwaiting + (pg->current ? 1 : 0) >= cmcf->pg_queries) {
        return ngx_http_audit_console_error(r,
                                            NGX_HTTP_SERVICE_UNAVAILABLE,
                                            "history_busy");
    }

    /* who asked for what, before it is asked */
    if (what != NGX_HTTP_AUDIT_CONSOLE_CHAIN) {
        ngx_http_audit_console_audit(r, &q->type, &q->id);

    } else {
        /* the chain check takes neither: "" for libpq, no NULL for %V */
        ngx_str_set(&q->type, "");
        ngx_str_set(&q->id, "");
    }

    /* the parameters, NUL-terminated for libpq */

    p = ngx_pnalloc(r->pool, q->type.len + q->id.len + 4 + 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->values[0] = (const char *) p;
    p = ngx_sprintf(p, "%V%Z", &q->type);
    q->values[1] = (const char *) p;
    p = ngx_sprintf(p, "%V%Z", &q->id);
    q->values[2] = (const char *) p;
    p = ngx_sprintf(p, "%ui%Z", q->limit + 1);
    q->values[3] = (const char *) p;
    (void) ngx_sprintf(p, "%ui%Z", q->offset);

    if (what == NGX_HTTP_AUDIT_CONSOLE_USER) {
        q->values[0] = q->values[1];
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_audit_console_pg_cleanup;
    cln->data = q;

    q->r = r;
    q->pg = pg;
    q->waiting = 1;
    ngx_queue_insert_tail(&pg->waiting, &q->queue);
    pg->nwaiting++;

    /* answered from the event loop, never from inside this handler */
    if (!pg->kick.posted) {
        ngx_post_event(&pg->kick, &ngx_posted_events);
    }

    r->main->count++;

    return NGX_DONE;

bad:

    return ngx_http_audit_console_error(r, NGX_HTTP_BAD_REQUEST, "bad_filter");
}


/* the request is gone: forget it, or let its result go nowhere */

static void
ngx_http_audit_console_pg_cleanup(void *data)
{
    ngx_http_audit_console_query_t  *q = data;

    if (q->waiting) {
        ngx_queue_remove(&q->queue);
        q->pg->nwaiting--;
        q->waiting = 0;
    }

    if (q->pg->current == q) {
        q->pg->current = NULL;         /* its result is read and dropped */
    }

    q->r = NULL;
}


static void
ngx_http_audit_console_pg_kick(ngx_event_t *ev)
{
    ngx_http_audit_console_pg_next(ev->data);
}


static void
ngx_http_audit_console_pg_next(ngx_http_audit_console_pg_t *pg)
{
    ngx_queue_t                     *qq;
    ngx_http_audit_console_query_t  *q;

    if (ngx_queue_empty(&pg->waiting)) {
        return;
    }

    switch (pg->state) {

    case NGX_HTTP_AUDIT_CONSOLE_PG_DOWN:
        ngx_http_audit_console_pg_connect(pg);
        return;

    case NGX_HTTP_AUDIT_CONSOLE_PG_IDLE:
        break;

    default:
        return;
    }

    qq = ngx_queue_head(&pg->waiting);
    q = ngx_queue_data(qq, ngx_http_audit_console_query_t, queue);

    ngx_queue_remove(qq);
    pg->nwaiting--;
    q->waiting = 0;
    pg->current = q;

    if (!PQsendQueryParams(pg->conn, ngx_http_audit_console_sql[q->what],
                           ngx_http_audit_console_nparams[q->what],
                           ngx_http_audit_console_types, q->values, NULL,
                           NULL, 0))
    {
        ngx_http_audit_console_pg_fail(pg, "PQsendQueryParams() failed");
        return;
    }

    pg->state = NGX_HTTP_AUDIT_CONSOLE_PG_BUSY;
    ngx_add_timer(&pg->timer, pg->cmcf->pg_timeout + 1000);

    if (PQflush(pg->conn) == -1) {
        ngx_http_audit_console_pg_fail(pg, "PQflush() failed");
    }
}


static void
ngx_http_audit_console_pg_connect(ngx_http_audit_console_pg_t *pg)
{
    ngx_http_audit_console_pg_conf_t  *pgcf;

    pgcf = pg->cmcf->pg_conf;

    pg->conn = PQconnectStartParams(pgcf->keywords, pgcf->values, 0);

    if (pg->conn == NULL || PQstatus(pg->conn) == CONNECTION_BAD) {
        ngx_http_audit_console_pg_fail(pg, "PQconnectStartParams() failed");
        return;
    }

    if (PQsetnonblocking(pg->conn, 1) != 0) {
        ngx_http_audit_console_pg_fail(pg, "PQsetnonblocking() failed");
        return;
    }

    pg->state = NGX_HTTP_AUDIT_CONSOLE_PG_CONNECTING;
    ngx_add_timer(&pg->timer, pg->cmcf->pg_timeout);

    if (ngx_http_audit_console_pg_register(pg) == NGX_OK) {
        ngx_http_audit_console_pg_poll(pg);
    }
}


/* (re)wraps libpq's socket, which may change while connecting */

static ngx_int_t
ngx_http_audit_console_pg_register(ngx_http_audit_console_pg_t *pg)
{
    const char  *failed;

    failed = ngx_http_audit_pg_socket_watch(pg->conn, &pg->c, pg,
                                            ngx_http_audit_console_pg_io,
                                            pg->log);
    if (failed) {
        ngx_http_audit_console_pg_fail(pg, failed);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_audit_console_pg_io(ngx_event_t *ev)
{
    ngx_connection_t             *c = ev->data;
    ngx_http_audit_console_pg_t  *pg = c->data;

    switch (pg->state) {

    case NGX_HTTP_AUDIT_CONSOLE_PG_CONNECTING:
        ngx_http_audit_console_pg_poll(pg);
        return;

    case NGX_HTTP_AUDIT_CONSOLE_PG_BUSY:
        if (ev->write) {
            if (PQflush(pg->conn) == -1) {
                ngx_http_audit_console_pg_fail(pg, "PQflush() failed");
            }

            return;
        }

        ngx_http_audit_console_pg_read(pg);
        return;

    case NGX_HTTP_AUDIT_CONSOLE_PG_IDLE:
        /* a notice, or the server closing the connection */
        if (!ev->write && !PQconsumeInput(pg->conn)) {
            ngx_http_audit_console_pg_close(pg);
        }

        return;

    default:
        return;
    }
}


static void
ngx_http_audit_console_pg_poll(ngx_http_audit_console_pg_t *pg)
{
    switch (PQconnectPoll(pg->conn)) {

    case PGRES_POLLING_OK:
        if (pg->timer.timer_set) {
            ngx_del_timer(&pg->timer);
        }

        pg->state = NGX_HTTP_AUDIT_CONSOLE_PG_IDLE;
        ngx_http_audit_console_pg_next(pg);
        return;

    case PGRES_POLLING_FAILED:
        ngx_http_audit_console_pg_fail(pg, "connect failed");
        return;

    default:
        (void) ngx_http_audit_console_pg_register(pg);
        return;
    }
}


static void
ngx_http_audit_console_pg_read(ngx_http_audit_console_pg_t *pg)
{
    PGresult                        *res;
    ExecStatusType                   st;
    ngx_http_audit_console_query_t  *q;

    if (!PQconsumeInput(pg->conn)) {
        ngx_http_audit_console_pg_fail(pg, "PQconsumeInput() failed");
        return;
    }

    while (!PQisBusy(pg->conn)) {
        res = PQgetResult(pg->conn);

        if (res == NULL) {
            /* the query is done: the next one */
            if (pg->timer.timer_set) {
                ngx_del_timer(&pg->timer);
            }

            pg->current = NULL;
            pg->state = NGX_HTTP_AUDIT_CONSOLE_PG_IDLE;
            ngx_http_audit_console_pg_next(pg);
            return;
        }

        q = pg->current;
        st = PQresultStatus(res);

        if (st != PGRES_TUPLES_OK) {
            /* logged for the administrator, never shown to the client */
            ngx_log_error(NGX_LOG_ERR, pg->log, 0,
                          "audit console: history query failed: %s",
                          PQresultErrorMessage(res));
        }

        if (q) {
            ngx_http_audit_console_pg_answer(q, st == PGRES_TUPLES_OK
                                                ? res : NULL,
                                             "history_failed");
            pg->current = NULL;
        }

        PQclear(res);
    }
}


static void
ngx_http_audit_console_pg_timeout(ngx_event_t *ev)
{
    ngx_http_audit_console_pg_fail(ev->data, "timed out");
}


/* PostgreSQL down or slow: 503 for what waits, the connection closed */

static void
ngx_http_audit_console_pg_fail(ngx_http_audit_console_pg_t *pg,
    const char *what)
{
    char                            *msg;
    size_t                           len;
    ngx_queue_t                     *qq;
    ngx_http_audit_console_query_t  *q;

    msg = pg->conn ? PQerrorMessage(pg->conn) : "";

    /* libpq's message ends in "\n": keep the log entry one line */
    for (len = ngx_strlen(msg);
         len && (msg[len - 1] == '\n' || msg[len - 1] == ' ');
         len--)
    {
        /* void */
    }

    ngx_log_error(NGX_LOG_WARN, pg->log, 0,
                  "audit console: PostgreSQL: %s%s%*s", what,
                  len ? ": " : "", len, msg);

    ngx_http_audit_console_pg_close(pg);

    if (pg->current) {
        q = pg->current;
        pg->current = NULL;
        ngx_http_audit_console_pg_answer(q, NULL, "history_unavailable");
    }

    while (!ngx_queue_empty(&pg->waiting)) {
        qq = ngx_queue_head(&pg->waiting);
        q = ngx_queue_data(qq, ngx_http_audit_console_query_t, queue);

        ngx_queue_remove(qq);
        pg->nwaiting--;
        q->waiting = 0;

        ngx_http_audit_console_pg_answer(q, NULL, "history_unavailable");
    }
}


static void
ngx_http_audit_console_pg_close(ngx_http_audit_console_pg_t *pg)
{
    if (pg->timer.timer_set) {
        ngx_del_timer(&pg->timer);
    }

    ngx_http_audit_pg_socket_forget(&pg->c);

    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }

    pg->state = NGX_HTTP_AUDIT_CONSOLE_PG_DOWN;
}


/* rows as JSON ({"rows":[...],"more":...}) or CSV; an error as 503 */

static void
ngx_http_audit_console_pg_answer(ngx_http_audit_console_query_t *q,
    PGresult *res, const char *error)
{
    u_char                        *p, *name;
    ngx_int_t                      rc;
    ngx_uint_t                     i, j, rows, cols;
    const char                    *s;
    ngx_http_request_t            *r;
    ngx_http_audit_console_out_t   o;

    r = q->r;

    if (r == NULL) {
        return;
    }

    q->r = NULL;

    if (res == NULL) {
        rc = ngx_http_audit_console_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          error);
        ngx_http_finalize_request(r, rc);
        return;
    }

    ngx_memzero(&o, sizeof(o));
    o.pool = r->pool;

    rows = ngx_min((ngx_uint_t) PQntuples(res), q->limit);
    cols = PQnfields(res);

    if (q->csv) {
        ngx_str_set(&o.type, "text/csv; charset=utf-8");

        /* attachment; filename="audit-patient-42.csv", a safe name */
        name = ngx_pnalloc(r->pool, sizeof("attachment; filename=\"audit-"
                                           "-.csv\"") + q->type.len
                                    + q->id.len);
        if (name == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = ngx_sprintf(name, "attachment; filename=\"audit-%V-%V.csv\"",
                        &q->type, &q->id);
        o.filename.data = name;
        o.filename.len = p - name;

        for (p = name + sizeof("attachment; filename=\"") - 1;
             p < name + o.filename.len - 1; p++)
        {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
            {
                *p = '_';
            }
        }

        for (j = 0; j < cols; j++) {
            ngx_http_audit_console_put(&o, "%s", j ? "," : "");
            ngx_http_audit_console_pg_csv(&o, PQfname(res, j));
        }

        ngx_http_audit_console_put(&o, "\r\n");

        for (i = 0; i < rows; i++) {
            for (j = 0; j < cols; j++) {
                ngx_http_audit_console_put(&o, "%s", j ? "," : "");

                if (!PQgetisnull(res, i, j)) {
                    ngx_http_audit_console_pg_csv(&o,
                                                  PQgetvalue(res, i, j));
                }
            }

            ngx_http_audit_console_put(&o, "\r\n");
        }

    } else {
        ngx_http_audit_console_put(&o, "{\"offset\":%ui,\"more\":%s,"
                                   "\"rows\":[", q->offset,
                                   (ngx_uint_t) PQntuples(res) > q->limit
                                   ? "true" : "false");

        for (i = 0; i < rows; i++) {
            ngx_http_audit_console_put(&o, "%s{", i ? "," : "");

            for (j = 0; j < cols; j++) {
                s = PQfname(res, j);
                ngx_http_audit_console_put(&o, "%s\"%s\":", j ? "," : "", s);

                if (PQgetisnull(res, i, j)) {
                    ngx_http_audit_console_put(&o, "null");
                    continue;
                }

                s = PQgetvalue(res, i, j);
                ngx_http_audit_console_put_string(&o, (u_char *) s,
                                                  ngx_strlen(s));
            }

            ngx_http_audit_console_put(&o, "}");
        }

        ngx_http_audit_console_put(&o, "]}\n");
    }

    r->headers_out.status = NGX_HTTP_OK;

    rc = ngx_http_audit_console_send(r, &o);
    ngx_http_finalize_request(r, rc);
}


/*
 * A CSV field, quoted; one a spreadsheet would run as a formula gets a
 * "'" before it: "=", "+", "-" or "@" as its first character after any
 * blanks (" =1+3" is still a formula), or a tab or CR first.
 */

static void
ngx_http_audit_console_pg_csv(ngx_http_audit_console_out_t *o, const char *s)
{
    const char  *p;

    ngx_http_audit_console_put_bytes(o, (u_char *) "\"", 1);

    for (p = s; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'
                || *p == '\v' || *p == '\f'; p++)
    {
        /* void */
    }

    if (*s == '\t' || *s == '\r'
        || *p == '=' || *p == '+' || *p == '-' || *p == '@')
    {
        ngx_http_audit_console_put_bytes(o, (u_char *) "'", 1);
    }

    for (p = s; *p; p++) {
        if (*p == '"') {
            ngx_http_audit_console_put_bytes(o, (u_char *) "\"\"", 2);
            continue;
        }

        ngx_http_audit_console_put_bytes(o, (u_char *) p, 1);
    }

    ngx_http_audit_console_put_bytes(o, (u_char *) "\"", 1);
}
