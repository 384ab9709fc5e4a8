
/*
 * ngx_http_audit_module: the audit console (docs/console.md).
 *
 * The sink (sinks/ngx_http_audit_console_module.c) keeps, in a shared
 * zone of its own (audit_console_zone), the newest events as their lines
 * and the last 24 hours as counters; the handler
 * (ngx_http_audit_console_api.c) serves the page and its JSON API from
 * it, and the history (ngx_http_audit_console_pg.c) asks PostgreSQL.
 * Callers hold the zone's slab mutex around every use of the shared
 * context.
 */


#ifndef _NGX_HTTP_AUDIT_CONSOLE_H_INCLUDED_
#define _NGX_HTTP_AUDIT_CONSOLE_H_INCLUDED_


#include "ngx_http_audit_module.h"


#define NGX_HTTP_AUDIT_CONSOLE_MAGIC    0x41554443        /* "AUDC" */
#define NGX_HTTP_AUDIT_CONSOLE_VERSION  1

#define NGX_HTTP_AUDIT_CONSOLE_HOURS    24
#define NGX_HTTP_AUDIT_CONSOLE_MINUTES  60
#define NGX_HTTP_AUDIT_CONSOLE_TOP      64                /* keys a table
                                                             remembers */
#define NGX_HTTP_AUDIT_CONSOLE_KEY      96                /* bytes of one */
#define NGX_HTTP_AUDIT_CONSOLE_FAILED   128

/* the longest filter value the console takes */
#define NGX_HTTP_AUDIT_CONSOLE_ARG      256

/* brute force as the console flags it: this many failures in 5 minutes */
#define NGX_HTTP_AUDIT_CONSOLE_ALERT    3


/* where one line of the ring starts, and what filters need without it */
typedef struct {
    uint64_t                     seq;
    size_t                       off;
    uint32_t                     len;
    uint16_t                     action;
    uint16_t                     severity;
    uint64_t                     ts_ms;
} ngx_http_audit_console_index_t;


/* one key of a "top" table, counted per hour of the last 24 */
typedef struct {
    u_char                       key[NGX_HTTP_AUDIT_CONSOLE_KEY];
    uint32_t                     len;
    uint32_t                     hours[NGX_HTTP_AUDIT_CONSOLE_HOURS];
} ngx_http_audit_console_top_t;


/* failed logins of one address or account, per minute of the last hour */
typedef struct {
    u_char                       key[NGX_HTTP_AUDIT_CONSOLE_KEY];
    uint32_t                     len;
    uint32_t                     minute[NGX_HTTP_AUDIT_CONSOLE_MINUTES];
    uint32_t                     count[NGX_HTTP_AUDIT_CONSOLE_MINUTES];
    time_t                       last;
    time_t                       detected;         /* bruteforce_suspected */
} ngx_http_audit_console_failed_t;


enum {
    NGX_HTTP_AUDIT_CONSOLE_USERS = 0,
    NGX_HTTP_AUDIT_CONSOLE_IPS,
    NGX_HTTP_AUDIT_CONSOLE_ROUTES,
    NGX_HTTP_AUDIT_CONSOLE_RECORDS,
    NGX_HTTP_AUDIT_CONSOLE_TOPS
};


typedef struct {
    uint32_t                     magic;
    uint32_t                     version;
    size_t                       size;             /* the ring's bytes */
    ngx_uint_t                   nindex;           /* lines it may hold */

    uint64_t                     next;             /* the next line's seq */
    uint64_t                     first;            /* the oldest kept */
    size_t                       head;             /* where the next goes */

    uint32_t                     hour[NGX_HTTP_AUDIT_CONSOLE_HOURS];
    uint32_t                     actions[NGX_HTTP_AUDIT_CONSOLE_HOURS]
                                        [AUDIT_ACTION_MAX];
    uint32_t                     severities[NGX_HTTP_AUDIT_CONSOLE_HOURS][3];
    ngx_http_audit_console_top_t top[NGX_HTTP_AUDIT_CONSOLE_TOPS]
                                    [NGX_HTTP_AUDIT_CONSOLE_TOP];
    ngx_http_audit_console_failed_t  failed_ip[NGX_HTTP_AUDIT_CONSOLE_FAILED];
    ngx_http_audit_console_failed_t  failed_user[NGX_HTTP_AUDIT_CONSOLE_FAILED];

    ngx_http_audit_console_index_t  *index;        /* nindex of them */
    u_char                      *ring;             /* size bytes */
} ngx_http_audit_console_shctx_t;


typedef struct ngx_http_audit_console_pg_s  ngx_http_audit_console_pg_t;


/* audit_console_pg: for PQconnectStartParams(), host names resolved */
typedef struct {
    const char                 **keywords;
    const char                 **values;
    ngx_uint_t                   options;          /* values[options]: ours */
} ngx_http_audit_console_pg_conf_t;


typedef struct {
    ngx_shm_zone_t              *shm_zone;         /* audit_console_zone */
    ngx_http_audit_console_pg_conf_t *pg_conf;     /* audit_console_pg */
    ngx_msec_t                   pg_timeout;       /* audit_console_pg_
                                                      timeout */
    ngx_uint_t                   pg_queries;       /* in flight, per worker */
    ngx_http_audit_console_pg_t *pg;               /* per worker */
} ngx_http_audit_console_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;           /* audit_console */
    ngx_http_audit_conf_line_t   at;
} ngx_http_audit_console_loc_conf_t;


extern ngx_module_t  ngx_http_audit_console_module;


/* an answer being written, grown as needed (from pool) */
typedef struct {
    ngx_pool_t                  *pool;
    u_char                      *start;
    u_char                      *pos;
    u_char                      *end;
    ngx_uint_t                   failed;
    ngx_str_t                    type;             /* empty: JSON */
    ngx_str_t                    filename;         /* a download's */
} ngx_http_audit_console_out_t;


/* the handler: the page, its assets, the JSON API */
ngx_int_t ngx_http_audit_console_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_audit_console_asset(ngx_http_request_t *r,
    ngx_str_t *name);
void ngx_cdecl ngx_http_audit_console_put(ngx_http_audit_console_out_t *o,
    const char *fmt, ...);
void ngx_http_audit_console_put_bytes(ngx_http_audit_console_out_t *o,
    const u_char *data, size_t len);
void ngx_http_audit_console_put_string(ngx_http_audit_console_out_t *o,
    const u_char *data, size_t len);
ngx_int_t ngx_http_audit_console_send(ngx_http_request_t *r,
    ngx_http_audit_console_out_t *o);
ngx_int_t ngx_http_audit_console_arg(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);

/* api/stats, api/failed */
ngx_int_t ngx_http_audit_console_stats(ngx_http_request_t *r,
    ngx_http_audit_console_shctx_t *sh, ngx_slab_pool_t *shpool);
ngx_int_t ngx_http_audit_console_failed(ngx_http_request_t *r,
    ngx_http_audit_console_shctx_t *sh, ngx_slab_pool_t *shpool);
ngx_int_t ngx_http_audit_console_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);
void ngx_http_audit_console_audit(ngx_http_request_t *r,
    ngx_str_t *type, ngx_str_t *id);

/* the history from PostgreSQL: what ngx_http_audit_console_history() asks */
#define NGX_HTTP_AUDIT_CONSOLE_RECORD   0
#define NGX_HTTP_AUDIT_CONSOLE_USER     1
#define NGX_HTTP_AUDIT_CONSOLE_CHAIN    2

char *ngx_http_audit_console_pg_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_audit_console_pg_init_conf(ngx_conf_t *cf,
    ngx_http_audit_console_main_conf_t *cmcf);
ngx_int_t ngx_http_audit_console_pg_init_process(ngx_cycle_t *cycle);
void ngx_http_audit_console_pg_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_audit_console_history(ngx_http_request_t *r,
    ngx_uint_t what, ngx_uint_t csv);


#endif /* _NGX_HTTP_AUDIT_CONSOLE_H_INCLUDED_ */
