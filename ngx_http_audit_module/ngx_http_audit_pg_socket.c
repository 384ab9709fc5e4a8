
/*
 * ngx_http_audit_module: libpq's socket in nginx's event loop (see
 * ngx_http_audit_pg_socket.h).
 */


#include "ngx_http_audit_pg_socket.h"


static void ngx_http_audit_pg_socket_free(ngx_connection_t **cp);


const char *
ngx_http_audit_pg_socket_watch(PGconn *conn, ngx_connection_t **cp,
    void *data, ngx_event_handler_pt handler, ngx_log_t *log)
{
    int                fd;
    ngx_connection_t  *c;

    fd = PQsocket(conn);

    if (*cp && (*cp)->fd == fd) {
        return NULL;
    }

    /* libpq closed the old socket itself (or will): drop our wrapper */
    ngx_http_audit_pg_socket_free(cp);

    if (fd < 0) {
        return "PQsocket() failed";
    }

    c = ngx_get_connection(fd, log);
    if (c == NULL) {
        return "no free connection";
    }

    c->data = data;
    c->read->handler = handler;
    c->write->handler = handler;
    c->read->log = log;
    c->write->log = log;

    *cp = c;

    if (ngx_add_conn) {
        return ngx_add_conn(c) == NGX_ERROR ? "ngx_add_conn() failed" : NULL;
    }

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK
        || ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
           != NGX_OK)
    {
        return "ngx_add_event() failed";
    }

    return NULL;
}


void
ngx_http_audit_pg_socket_forget(ngx_connection_t **cp)
{
    ngx_connection_t  *c;

    c = *cp;

    if (c == NULL) {
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (ngx_del_conn) {
        ngx_del_conn(c, NGX_CLOSE_EVENT);

    } else {
        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }
    }

    ngx_http_audit_pg_socket_free(cp);
}


/* the socket is libpq's to close: free the wrapper without close() */

static void
ngx_http_audit_pg_socket_free(ngx_connection_t **cp)
{
    if (*cp == NULL) {
        return;
    }

    (*cp)->fd = (ngx_socket_t) -1;
    ngx_free_connection(*cp);
    *cp = NULL;
}
