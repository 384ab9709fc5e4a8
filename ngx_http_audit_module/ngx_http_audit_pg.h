
/*
 * ngx_http_audit_module: the PostgreSQL sink's types, shared by its
 * module (sinks/ngx_http_audit_pg_module.c), the parsing of "audit_pg"
 * (ngx_http_audit_pg_conninfo.c), the shipper (ngx_http_audit_pg.c) and
 * the spool (ngx_http_audit_spool.c).
 */


#ifndef _NGX_HTTP_AUDIT_PG_H_INCLUDED_
#define _NGX_HTTP_AUDIT_PG_H_INCLUDED_


#include "ngx_http_audit_module.h"
#include "ngx_http_audit_ring.h"

#include <libpq-fe.h>


/* audit_pg */
typedef struct {
    ngx_str_t                    conninfo;
    ngx_http_audit_conf_line_t   at;
    const char                 **keywords;         /* host names resolved */
    const char                 **values;
    ngx_uint_t                   batch;
    ngx_msec_t                   flush;
    size_t                       queue;
} ngx_http_audit_pg_conf_t;


/* audit_spool */
typedef struct {
    ngx_str_t                    dir;
    off_t                        max_size;
} ngx_http_audit_spool_conf_t;


/* the sink's main configuration and, from init_process, its worker state */
typedef struct {
    ngx_http_audit_pg_conf_t    *pg;               /* audit_pg */
    ngx_http_audit_pg_t         *pg_state;         /* per worker */
    ngx_http_audit_spool_conf_t *spool;            /* audit_spool */
    ngx_http_audit_spool_t      *spool_state;      /* per worker */
} ngx_http_audit_pg_main_conf_t;


extern ngx_module_t  ngx_http_audit_pg_module;


/* "audit_pg": parameters, connection string, host names resolved */
char *ngx_http_audit_pg_conf(ngx_conf_t *cf,
    ngx_http_audit_pg_main_conf_t *pmcf);

/* nginx -t's error for a connection string libpq cannot parse: libpq's
 * message (err, freed here) on one line, what it quotes hidden but for an
 * option's name */
void ngx_http_audit_pg_conninfo_error(ngx_conf_t *cf, const char *directive,
    char *err);

/* PostgreSQL shipper */
ngx_int_t ngx_http_audit_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_audit_pg_main_conf_t *pmcf);
void ngx_http_audit_pg_exit_process(ngx_http_audit_pg_main_conf_t *pmcf);
void ngx_http_audit_pg_enqueue(ngx_http_audit_pg_t *pg,
    ngx_http_audit_record_t *rec);
void ngx_http_audit_pg_take(ngx_http_audit_ring_line_t *l);

/* the shipper's worker state, shared by its two halves */
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

    /*
     * where, in the worker's ring, the first event of the batch and of the
     * queue start, and the last event handed to us ends: what is before
     * the first of them is stored (ngx_http_audit_pg_ring())
     */
    uint64_t                     batch_first;
    uint64_t                     queue_first;
    uint64_t                     ring_taken;

    ngx_uint_t                   exiting;

    ngx_http_audit_shctx_t      *sh;               /* counters, if a zone */
    ngx_http_audit_main_conf_t  *amcf;             /* the chain's owner */
    ngx_uint_t                   outage;           /* reported */
    ngx_http_audit_worker_stats_t *stats;
};


/* the libpq state machine (ngx_http_audit_pg.c) */
void ngx_http_audit_pg_connect(ngx_http_audit_pg_t *pg);
void ngx_http_audit_pg_run(ngx_http_audit_pg_t *pg);
void ngx_http_audit_pg_arm(ngx_http_audit_pg_t *pg, ngx_msec_t ms);
void ngx_http_audit_pg_close(ngx_http_audit_pg_t *pg);
void ngx_http_audit_pg_fail(ngx_http_audit_pg_t *pg, const char *what);

/* the queue and its batches (ngx_http_audit_pg_queue.c) */
ngx_int_t ngx_http_audit_pg_start_batch(ngx_http_audit_pg_t *pg);
void ngx_http_audit_pg_batch_done(ngx_http_audit_pg_t *pg);
void ngx_http_audit_pg_publish(ngx_http_audit_pg_t *pg);
void ngx_http_audit_pg_hold(ngx_http_audit_pg_t *pg, ngx_int_t n);
void ngx_http_audit_pg_ring(ngx_http_audit_pg_t *pg);
u_char *ngx_http_audit_pg_row(u_char *dst, u_char *line, size_t len);
ngx_uint_t ngx_http_audit_pg_rows(u_char *p, size_t len);


/* spool */
char *ngx_http_audit_spool_conf(ngx_conf_t *cf,
    ngx_http_audit_pg_main_conf_t *pmcf);
ngx_http_audit_spool_t *ngx_http_audit_spool_create(ngx_cycle_t *cycle,
    ngx_http_audit_spool_conf_t *scf);
ngx_uint_t ngx_http_audit_spool_backlog(ngx_http_audit_spool_t *sp);
size_t ngx_http_audit_spool_size(ngx_http_audit_spool_t *sp);
void ngx_http_audit_spool_append(ngx_http_audit_spool_t *sp, u_char *data,
    size_t len, ngx_log_t *log);
ngx_int_t ngx_http_audit_spool_save(ngx_http_audit_spool_t *sp,
    u_char *data, size_t len, ngx_log_t *log);
void ngx_http_audit_spool_scan(ngx_http_audit_spool_t *sp, ngx_log_t *log);
size_t ngx_http_audit_spool_read(ngx_http_audit_spool_t *sp, u_char *buf,
    size_t size, ngx_log_t *log);
void ngx_http_audit_spool_commit(ngx_http_audit_spool_t *sp,
    ngx_log_t *log);
void ngx_http_audit_spool_close(ngx_http_audit_spool_t *sp);


#endif /* _NGX_HTTP_AUDIT_PG_H_INCLUDED_ */
