
/*
 * ngx_http_audit_module: the rings' layout in shared memory and their
 * worker state, shared by the rings (ngx_http_audit_ring.c) and their
 * snapshots on disk (ngx_http_audit_ring_state.c); no sink includes it.
 */


#ifndef _NGX_HTTP_AUDIT_RING_INT_H_INCLUDED_
#define _NGX_HTTP_AUDIT_RING_INT_H_INCLUDED_


#include "ngx_http_audit_module.h"
#include "ngx_http_audit_ring.h"


#define NGX_HTTP_AUDIT_RING_MAGIC    0x52494e47            /* "RING" */
#define NGX_HTTP_AUDIT_RING_VERSION  1

#define NGX_HTTP_AUDIT_RING_WRAP     0xffffffff
#define NGX_HTTP_AUDIT_RING_COMMIT   0x80000000
#define NGX_HTTP_AUDIT_RING_NUMBER   0x7fffffff

/* an entry's number, 1..2^31-1: never that of zeroed memory */
#define ngx_http_audit_ring_number(n)                                         \
    (((n) % NGX_HTTP_AUDIT_RING_NUMBER) + 1)


/* one entry's header; the line follows, padded to 8 bytes */
typedef struct {
    uint32_t                     len;              /* or _WRAP */
    uint32_t                     tag;              /* number | _COMMIT */
} ngx_http_audit_ring_entry_t;


/* one ring in the zone; its data follows */
typedef struct {
    ngx_atomic_t                 owner;            /* pid; 0: free */
    ngx_atomic_t                 gen;              /* claims so far */
    uint64_t                     head;             /* bytes ever appended */
    uint64_t                     cursor[NGX_HTTP_AUDIT_RING_SINKS];
    ngx_uint_t                   want;             /* sinks taking from it */
    uint32_t                     entries;          /* next entry's number */
    uint32_t                     reserved;
} ngx_http_audit_ring_shm_t;


/* the zone */
typedef struct {
    uint32_t                     magic;
    uint32_t                     version;
    uint64_t                     id;               /* this zone, not one of
                                                      an earlier nginx */
    ngx_uint_t                   nrings;
    size_t                       size;             /* data per ring */
    size_t                       stride;
    ngx_atomic_t                 adopted;          /* rings of dead workers */
    ngx_atomic_t                 recovered;        /* lines handed on */
    ngx_atomic_t                 torn;             /* half-written, skipped */
    ngx_atomic_t                 overflow;         /* found the ring full */
} ngx_http_audit_ring_sh_t;


typedef struct {
    ssize_t                      size;             /* NGX_CONF_UNSET: off */
    ngx_shm_zone_t              *shm_zone;
    ngx_cycle_t                 *cycle;
    ngx_str_t                    state;            /* state=DIR, or "" */
    ngx_http_audit_conf_line_t   at;
    ngx_http_audit_ring_sh_t    *sh;
    ngx_uint_t                   want;
    ngx_http_audit_ring_take_pt  take[NGX_HTTP_AUDIT_RING_SINKS];
    ngx_http_audit_ring_t       *ring;             /* per worker */
} ngx_http_audit_ring_main_conf_t;


/* per worker */
struct ngx_http_audit_ring_s {
    ngx_http_audit_ring_main_conf_t *rmcf;
    ngx_http_audit_ring_sh_t    *sh;
    ngx_http_audit_ring_shm_t   *r;                /* its own, or NULL */
    ngx_log_t                   *log;
    ngx_event_t                  scan;
    time_t                       warned;

    /* the snapshot on disk of what the ring holds (state=) */
    ngx_fd_t                     fd;
    u_char                       path[NGX_MAX_PATH];
    uint64_t                     head;             /* as last written */
    uint64_t                     cursor[NGX_HTTP_AUDIT_RING_SINKS];
};


/* what a ring holds that its sinks have not taken (a walk over it) */
typedef struct {
    ngx_uint_t                   events;           /* past the lowest cursor */
    ngx_uint_t                   sink[NGX_HTTP_AUDIT_RING_SINKS];
    ngx_str_t                    producer;         /* of the first */
    unsigned long long           first;            /* seq */
    unsigned long long           last;
} ngx_http_audit_ring_outstanding_t;


#define ngx_http_audit_ring_data(r)                                           \
    ((u_char *) (r) + ngx_align(sizeof(ngx_http_audit_ring_shm_t), 8))


/* called for each committed line in [lowest cursor, head) */
typedef void (*ngx_http_audit_ring_visit_pt)(void *data,
    ngx_http_audit_ring_shm_t *r, uint64_t pos, u_char *line, size_t len);

uint64_t ngx_http_audit_ring_walk(ngx_http_audit_ring_sh_t *sh,
    ngx_http_audit_ring_shm_t *r, ngx_http_audit_ring_visit_pt visit,
    void *data, ngx_uint_t *damaged);
void ngx_http_audit_ring_head(ngx_http_audit_ring_sh_t *sh,
    ngx_http_audit_ring_shm_t *r, ngx_http_audit_ring_visit_pt visit,
    void *data, ngx_uint_t *damaged);
void ngx_http_audit_ring_count(ngx_http_audit_ring_sh_t *sh,
    ngx_http_audit_ring_shm_t *r, ngx_http_audit_ring_outstanding_t *o);
uint64_t ngx_http_audit_ring_low(ngx_http_audit_ring_shm_t *r);

/* its section of audit_status (ngx_http_audit_ring_status.c) */
ngx_int_t ngx_http_audit_ring_status_init(ngx_conf_t *cf);

/* snapshots (ngx_http_audit_ring_state.c) */
ngx_int_t ngx_http_audit_ring_state_open(ngx_http_audit_ring_t *ring);
void ngx_http_audit_ring_state_write(ngx_http_audit_ring_t *ring);
void ngx_http_audit_ring_state_close(ngx_http_audit_ring_t *ring);
void ngx_http_audit_ring_state_remove(ngx_http_audit_ring_t *ring,
    ngx_pid_t pid);
void ngx_http_audit_ring_state_lost(ngx_http_audit_ring_t *ring);


#endif /* _NGX_HTTP_AUDIT_RING_INT_H_INCLUDED_ */
