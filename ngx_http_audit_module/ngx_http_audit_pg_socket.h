
/*
 * ngx_http_audit_module: libpq's socket in nginx's event loop, for every
 * non-blocking libpq connection of a worker (the shipper, the console's
 * reader).  libpq owns the socket: nginx only watches it.
 */


#ifndef _NGX_HTTP_AUDIT_PG_SOCKET_H_INCLUDED_
#define _NGX_HTTP_AUDIT_PG_SOCKET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <libpq-fe.h>


/*
 * (Re)wraps PQsocket(conn) in *cp, which may change while connecting:
 * read and write events go to handler with c->data = data.  Returns NULL,
 * or what failed, for the caller's log line and its close (which
 * forgets *cp, if set).
 */
const char *ngx_http_audit_pg_socket_watch(PGconn *conn,
    ngx_connection_t **cp, void *data, ngx_event_handler_pt handler,
    ngx_log_t *log);

/* Stops watching *cp (its timer, its events) and forgets it, unclosed. */
void ngx_http_audit_pg_socket_forget(ngx_connection_t **cp);


#endif /* _NGX_HTTP_AUDIT_PG_SOCKET_H_INCLUDED_ */
