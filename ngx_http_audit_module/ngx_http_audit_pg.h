
/*
 * ngx_http_audit_module: the PostgreSQL sink's types, shared by its
 * module (sinks/ngx_http_audit_pg_module.c), the parsing of "audit_pg"
 * (ngx_http_audit_pg_conninfo.c), the shipper (ngx_http_audit_pg.c) and
 * the spool (ngx_http_audit_spool.c).
 */


#ifndef _NGX_HTTP_AUDIT_PG_H_INCLUDED_
#define _NGX_HTTP_AUDIT_PG_H_INCLUDED_


#include "ngx_http_audit_module.h"


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

/* PostgreSQL shipper */
ngx_int_t ngx_http_audit_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_audit_pg_main_conf_t *pmcf);
void ngx_http_audit_pg_exit_process(ngx_http_audit_pg_main_conf_t *pmcf);
void ngx_http_audit_pg_enqueue(ngx_http_audit_pg_t *pg, u_char *line,
    size_t len);

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
