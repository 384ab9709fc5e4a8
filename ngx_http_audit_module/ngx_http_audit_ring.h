
/*
 * ngx_http_audit_module: the rings (ngx_http_audit_ring.c).
 *
 * "audit_ring SIZE" keeps every encoded event in shared memory until
 * each sink that must store it has durably taken it: the JSON log once
 * the line is written to the file, PostgreSQL once it is committed or
 * in the spool.  A worker killed with -9 takes nothing with it: the next
 * worker (or any live one) adopts its ring and hands the sinks what their
 * cursors say they had not yet taken.
 *
 * A sink that takes from the rings registers in its postconfiguration,
 *
 *     ngx_http_audit_ring_want(cf, NGX_HTTP_AUDIT_RING_LOG, take);
 *
 * tells the ring how far it got (ngx_http_audit_ring_taken()), and gets
 * the lines of a dead worker's ring through its take function.
 */


#ifndef _NGX_HTTP_AUDIT_RING_H_INCLUDED_
#define _NGX_HTTP_AUDIT_RING_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the sinks a ring keeps a cursor for */
#define NGX_HTTP_AUDIT_RING_LOG    0
#define NGX_HTTP_AUDIT_RING_PG     1
#define NGX_HTTP_AUDIT_RING_SINKS  2

/* a record that is in no ring (no audit_ring, or the ring is full) */
#define NGX_HTTP_AUDIT_RING_NONE   ((uint64_t) -1)


typedef struct ngx_http_audit_ring_s  ngx_http_audit_ring_t;


/* a line of a dead worker's ring, for one sink that had not taken it */
typedef struct {
    u_char                      *line;             /* with its "\n" */
    size_t                       len;
    ngx_pid_t                    pid;              /* its dead worker */
    ngx_log_t                   *log;
} ngx_http_audit_ring_line_t;


/* stores the line durably (write(), the spool) before it returns */
typedef void (*ngx_http_audit_ring_take_pt)(ngx_http_audit_ring_line_t *l);


extern ngx_module_t  ngx_http_audit_ring_module;


/* a sink that is configured takes from the rings */
void ngx_http_audit_ring_want(ngx_conf_t *cf, ngx_uint_t sink,
    ngx_http_audit_ring_take_pt take);

/* this worker's ring, or NULL (no audit_ring, no free ring) */
ngx_http_audit_ring_t *ngx_http_audit_ring_worker(void);

/*
 * Copies a line into this worker's ring; sets where it starts and ends.
 * NGX_DECLINED: the ring is full (nothing is overwritten), the caller's
 * sinks must store the line at once.
 */
ngx_int_t ngx_http_audit_ring_append(ngx_http_audit_ring_t *ring,
    u_char *line, size_t len, uint64_t *start, uint64_t *end);

/* everything before pos is durably stored by the sink */
void ngx_http_audit_ring_taken(ngx_http_audit_ring_t *ring, ngx_uint_t sink,
    uint64_t pos);


#endif /* _NGX_HTTP_AUDIT_RING_H_INCLUDED_ */
