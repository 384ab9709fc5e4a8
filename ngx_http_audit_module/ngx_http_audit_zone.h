
/*
 * ngx_http_audit_module: the audit_zone shared memory, its layout and its
 * string-keyed maps (ngx_http_audit_zone.c).
 */


#ifndef _NGX_HTTP_AUDIT_ZONE_H_INCLUDED_
#define _NGX_HTTP_AUDIT_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "audit_event.h"


/*
 * An entry of a string-keyed map in the zone: a key, a time after which
 * it may go, and a counter for those that need one.
 */
typedef struct {
    ngx_rbtree_node_t            node;             /* key: crc32 of key */
    ngx_queue_t                  queue;            /* LRU */
    time_t                       start;
    time_t                       expires;
    ngx_uint_t                   count;
    ngx_uint_t                   flag;
    u_short                      len;
    u_char                       key[1];
} ngx_http_audit_keyed_node_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  lru;
    ngx_atomic_uint_t            n;
} ngx_http_audit_keyed_t;


/* refusal reasons counted in the zone (ngx_http_audit_status.c) */
#define NGX_HTTP_AUDIT_REASONS  13


/*
 * Workers with a slot in the zone: their gauges in audit_status, their
 * chain's tail and loss accounting.  Workers beyond it still audit; a
 * warning at start names what they lack.
 */
#define NGX_HTTP_AUDIT_MAX_WORKERS  64


/* the chain a worker slot last produced, so the next one can name it */
typedef struct {
    ngx_pid_t                    pid;              /* its writer */
    u_char                       producer[128];
    size_t                       len;
    ngx_atomic_uint_t            seq;              /* last seq written */
    ngx_uint_t                   used;
    ngx_atomic_uint_t            held;             /* events only in memory */
    ngx_uint_t                   exited;           /* a graceful exit */
} ngx_http_audit_chain_t;


/* one worker's gauges, written by that worker only */
typedef struct {
    ngx_pid_t                    pid;
    ngx_uint_t                   pg_state;
    ngx_atomic_uint_t            queue_bytes;
    ngx_atomic_uint_t            spool_bytes;
    ngx_atomic_uint_t            sentry_queue;
    ngx_atomic_uint_t            sentry_breaker;
    ngx_atomic_uint_t            tcache_hits;
    ngx_atomic_uint_t            tcache_misses;
    ngx_atomic_uint_t            keys_loaded;      /* oldest set in use read */
    ngx_atomic_uint_t            keys_failing;     /* last read failed */
    ngx_atomic_uint_t            keys_stale;       /* ... of a set read */
    ngx_atomic_uint_t            keys_failed_at;   /* the last failure */
} ngx_http_audit_worker_stats_t;


/*
 * The zone's layout: a reload keeps the zone as it is, so a module built
 * with another layout (an upgrade, other compile-time sizes) must not
 * read it.  Bump the version with any change to ngx_http_audit_shctx_t.
 */
#ifndef NGX_HTTP_AUDIT_ZONE_VERSION
#define NGX_HTTP_AUDIT_ZONE_VERSION  4
#endif
#define NGX_HTTP_AUDIT_ZONE_MAGIC    0x41554454            /* "AUDT" */


/* the audit_zone shared memory: one per nginx, shared by all workers */
typedef struct {
    uint32_t                     magic;            /* first: the layout */
    uint32_t                     version;
    size_t                       size;

    ngx_http_audit_keyed_t       cache;            /* verified tokens */
    ngx_uint_t                   cache_hits;
    ngx_uint_t                   cache_misses;
    ngx_http_audit_keyed_t       bf;               /* failed logins */
    ngx_http_audit_keyed_t       revoked;          /* logged-out sessions */
    ngx_atomic_t                 nrevoked;
    ngx_atomic_t                 revocations_lost; /* logouts not revoked:
                                                      the zone was full */
    ngx_atomic_t                 revocation_lost_at;  /* the last, unix s */

    /* counters, summed over all workers */
    ngx_atomic_t                 events[AUDIT_ACTION_MAX];
    ngx_atomic_t                 permitted;
    ngx_atomic_t                 denied;
    ngx_atomic_t                 unauthenticated;
    ngx_atomic_t                 reasons[NGX_HTTP_AUDIT_REASONS];
    ngx_atomic_t                 pg_rows_sent;
    ngx_atomic_t                 pg_rows_inserted;
    ngx_atomic_t                 pg_batches;
    ngx_atomic_t                 pg_failures;
    ngx_atomic_t                 events_lost;      /* died with a worker */
    ngx_atomic_t                 sentry_sent;
    ngx_atomic_t                 sentry_dropped;
    ngx_http_audit_worker_stats_t  workers[NGX_HTTP_AUDIT_MAX_WORKERS];
    ngx_http_audit_chain_t       chains[NGX_HTTP_AUDIT_MAX_WORKERS];
} ngx_http_audit_shctx_t;


/*
 * The live workers' gauges, summed (audit_status, audit_health, the
 * console): a slot whose worker is gone keeps its last values and is
 * left out.  A worker's pg_state from NGX_HTTP_AUDIT_WORKER_PG_UP on
 * (NGX_HTTP_AUDIT_PG_IDLE, checked in ngx_http_audit_pg.c) is a
 * connection to PostgreSQL.  Of the keys: the oldest read of a set in
 * use (keys_loaded), the workers whose last read failed (keys_failing),
 * the oldest read of a set kept in use because its last read failed
 * (keys_stale), the latest failure (keys_failed_at).
 */

#define NGX_HTTP_AUDIT_WORKER_PG_UP  3

typedef struct {
    ngx_uint_t                     alive;
    ngx_uint_t                     pg_up;
    ngx_http_audit_worker_stats_t  sum;
} ngx_http_audit_workers_t;

void ngx_http_audit_zone_workers(ngx_http_audit_shctx_t *sh,
    ngx_http_audit_workers_t *ws);


/* the shared zone and its string-keyed maps */
ngx_int_t ngx_http_audit_zone_init(ngx_shm_zone_t *shm_zone, void *data);
void ngx_http_audit_keyed_init(ngx_http_audit_keyed_t *map);
ngx_http_audit_keyed_node_t *ngx_http_audit_keyed_find(
    ngx_http_audit_keyed_t *map, ngx_str_t *key);
ngx_http_audit_keyed_node_t *ngx_http_audit_keyed_add(
    ngx_http_audit_keyed_t *map, ngx_slab_pool_t *shpool, ngx_str_t *key,
    ngx_http_audit_keyed_t **room);
void ngx_http_audit_keyed_touch(ngx_http_audit_keyed_t *map,
    ngx_http_audit_keyed_node_t *kn);
void ngx_http_audit_keyed_expire(ngx_http_audit_keyed_t *map,
    ngx_slab_pool_t *shpool, time_t now);
void ngx_http_audit_keyed_delete(ngx_http_audit_keyed_t *map,
    ngx_slab_pool_t *shpool, ngx_http_audit_keyed_node_t *kn);


#endif /* _NGX_HTTP_AUDIT_ZONE_H_INCLUDED_ */
