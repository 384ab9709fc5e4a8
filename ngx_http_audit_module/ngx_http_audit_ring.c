
/*
 * ngx_http_audit_ring_module: events in shared memory until the sinks
 * have durably stored them ("audit_ring SIZE").
 *
 * The zone holds twice as many rings as there are worker slots: during a
 * reload the old and the new workers of a slot run side by side, each
 * with a ring of its own.  A ring belongs to a process (its pid, and a
 * generation counted at each claim), not to a slot.  Only its owner
 * appends to a ring and moves its cursors, so nothing is locked; a
 * ring changes hands by compare-and-swap of its owner, from 0 (free) or
 * from a pid that no longer runs.
 *
 * An entry is a header (length, entry number, commit bit) and the line,
 * padded to 8 bytes.  The owner writes the header without the commit
 * bit, the line, then the commit bit, and only then moves the head: an
 * entry cut short by a kill is never inside [cursor, head), and the one
 * at the head is recognised by its number and skipped, counted.  When
 * the line does not fit before the end of the data, a wrap marker fills
 * the rest and the entry starts at the beginning.
 *
 * A sink's cursor is the position up to which it has durably taken the
 * lines.  The head never passes the lowest cursor by more than the
 * ring's size: a full ring takes no more (its events go straight to the
 * file and the spool, ngx_http_audit_ring_append() says so), it never
 * overwrites what a sink has not taken.
 *
 * A worker adopts, when it starts and then every second, each ring whose
 * owner is gone: it hands each sink the lines past that sink's cursor
 * (the log writes them, PostgreSQL spools them) and frees the ring.  A
 * line written to the log just before its worker was killed, whose
 * cursor had not moved yet, is written twice; PostgreSQL stores an
 * event once whatever is replayed (ON CONFLICT DO NOTHING).
 */


#include "ngx_http_audit_module.h"
#include "ngx_http_audit_ring.h"


#define NGX_HTTP_AUDIT_RING_MAGIC    0x52494e47            /* "RING" */
#define NGX_HTTP_AUDIT_RING_VERSION  1
#define NGX_HTTP_AUDIT_RING_MAX      128
#define NGX_HTTP_AUDIT_RING_SCAN     1000
#define NGX_HTTP_AUDIT_RING_WARN     10

#define NGX_HTTP_AUDIT_RING_WRAP     0xffffffff
#define NGX_HTTP_AUDIT_RING_COMMIT   0x80000000
#define NGX_HTTP_AUDIT_RING_NUMBER   0x7fffffff


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
};


static void *ngx_http_audit_ring_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_audit_ring_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_audit_ring_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_audit_ring_init_process(ngx_cycle_t *cycle);
static ngx_http_audit_ring_shm_t *ngx_http_audit_ring_at(
    ngx_http_audit_ring_sh_t *sh, ngx_uint_t i);
static uint64_t ngx_http_audit_ring_low(ngx_http_audit_ring_shm_t *r);
static void ngx_http_audit_ring_scan(ngx_http_audit_ring_t *ring);
static void ngx_http_audit_ring_scan_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_audit_ring_dead(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_shm_t *r, ngx_pid_t *pid);
static void ngx_http_audit_ring_adopt(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_shm_t *r, ngx_pid_t pid);
static ngx_uint_t ngx_http_audit_ring_deliver(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_shm_t *r, uint64_t pos, u_char *line, size_t len,
    ngx_pid_t pid);


static ngx_command_t  ngx_http_audit_ring_commands[] = {

    { ngx_string("audit_ring"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_audit_ring_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_audit_ring_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_audit_ring_create_main_conf,  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


/* after the sinks: a dead worker's ring is handed to them at start */

ngx_module_t  ngx_http_audit_ring_module = {
    NGX_MODULE_V1,
    &ngx_http_audit_ring_module_ctx,       /* module context */
    ngx_http_audit_ring_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_audit_ring_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_audit_ring_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_audit_ring_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_ring_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rmcf->shm_zone = NULL;
     *     rmcf->sh = NULL;
     *     rmcf->want = 0;
     *     rmcf->take[] = NULL;
     *     rmcf->ring = NULL;
     */

    rmcf->size = NGX_CONF_UNSET;
    rmcf->cycle = cf->cycle;

    return rmcf;
}


static char *
ngx_http_audit_ring_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_ring_main_conf_t *rmcf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;

    if (rmcf->size != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        rmcf->size = 0;
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < 64 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" in \"audit_ring\", "
                           "at least 64k", &value[1]);
        return NGX_CONF_ERROR;
    }

    rmcf->size = size;

    /* the slab allocator's pages and headers on top of the rings */

    ngx_str_set(&name, "audit_ring");

    rmcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                           size + size / 16
                                           + 8 * ngx_pagesize,
                                           &ngx_http_audit_ring_module);
    if (rmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    rmcf->shm_zone->init = ngx_http_audit_ring_init_zone;
    rmcf->shm_zone->data = rmcf;

    return NGX_CONF_OK;
}


void
ngx_http_audit_ring_want(ngx_conf_t *cf, ngx_uint_t sink,
    ngx_http_audit_ring_take_pt take)
{
    ngx_http_audit_ring_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_ring_module);

    rmcf->want |= (ngx_uint_t) 1 << sink;
    rmcf->take[sink] = take;
}


/*
 * A reload keeps the zone, and with it the rings of the workers that
 * still run or died; one made by another layout is not read.
 */

static ngx_int_t
ngx_http_audit_ring_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_audit_ring_main_conf_t *ormcf = data;

    size_t                            size, stride;
    ngx_uint_t                        n, i;
    ngx_core_conf_t                  *ccf;
    ngx_slab_pool_t                  *shpool;
    ngx_http_audit_ring_sh_t         *sh;
    ngx_http_audit_ring_shm_t        *r;
    ngx_http_audit_ring_main_conf_t  *rmcf;

    rmcf = shm_zone->data;

    if (ormcf) {
        sh = ormcf->sh;

        if (sh == NULL || sh->magic != NGX_HTTP_AUDIT_RING_MAGIC
            || sh->version != NGX_HTTP_AUDIT_RING_VERSION)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "audit_ring: the zone was made by another "
                          "version of the module; restart nginx instead "
                          "of reloading");
            return NGX_ERROR;
        }

        rmcf->sh = sh;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        rmcf->sh = shpool->data;
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(rmcf->cycle->conf_ctx,
                                           ngx_core_module);

    n = 2 * (ccf->worker_processes > 0 ? ccf->worker_processes : 1);
    n = ngx_min(n, NGX_HTTP_AUDIT_RING_MAX);

    size = ngx_align((size_t) rmcf->size / n, 8);
    if (size > (size_t) rmcf->size / n) {
        size -= 8;
    }

    stride = ngx_align(sizeof(ngx_http_audit_ring_shm_t), 8) + size;

    sh = ngx_slab_alloc(shpool, ngx_align(sizeof(ngx_http_audit_ring_sh_t), 8)
                                + n * stride);
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_audit_ring_sh_t));

    sh->magic = NGX_HTTP_AUDIT_RING_MAGIC;
    sh->version = NGX_HTTP_AUDIT_RING_VERSION;
    sh->nrings = n;
    sh->size = size;
    sh->stride = stride;

    for (i = 0; i < n; i++) {
        r = ngx_http_audit_ring_at(sh, i);
        ngx_memzero(r, sizeof(ngx_http_audit_ring_shm_t));
    }

    shpool->data = sh;
    rmcf->sh = sh;

    return NGX_OK;
}


static ngx_http_audit_ring_shm_t *
ngx_http_audit_ring_at(ngx_http_audit_ring_sh_t *sh, ngx_uint_t i)
{
    return (ngx_http_audit_ring_shm_t *)
           ((u_char *) sh + ngx_align(sizeof(ngx_http_audit_ring_sh_t), 8)
            + i * sh->stride);
}


#define ngx_http_audit_ring_data(r)                                           \
    ((u_char *) (r) + ngx_align(sizeof(ngx_http_audit_ring_shm_t), 8))


/*
 * A worker first adopts the rings of workers gone (its own slot's
 * predecessor among them), then claims a free ring, its own slot's
 * first.  Without a free one (more generations alive than the zone
 * has rings for) it works as without audit_ring, and says so.
 */

static ngx_int_t
ngx_http_audit_ring_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i, k;
    ngx_http_audit_ring_t            *ring;
    ngx_http_audit_ring_shm_t        *r;
    ngx_http_audit_ring_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_audit_ring_module);

    if (rmcf == NULL || rmcf->sh == NULL || rmcf->want == 0
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    ring = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_ring_t));
    if (ring == NULL) {
        return NGX_ERROR;
    }

    ring->rmcf = rmcf;
    ring->sh = rmcf->sh;
    ring->log = cycle->log;

    ngx_http_audit_ring_scan(ring);

    for (k = 0; k < ring->sh->nrings && ring->r == NULL; k++) {
        i = (k + (ngx_worker < ring->sh->nrings ? ngx_worker : 0))
            % ring->sh->nrings;
        r = ngx_http_audit_ring_at(ring->sh, i);

        if (r->owner == 0 && ngx_atomic_cmp_set(&r->owner, 0, ngx_pid)) {
            r->cursor[NGX_HTTP_AUDIT_RING_LOG] = r->head;
            r->cursor[NGX_HTTP_AUDIT_RING_PG] = r->head;
            r->want = rmcf->want;
            (void) ngx_atomic_fetch_add(&r->gen, 1);
            ring->r = r;
        }
    }

    if (ring->r == NULL) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "audit_ring: no free ring among %ui for worker "
                      "process %P (old workers still run): its events "
                      "wait in its memory as without audit_ring",
                      ring->sh->nrings, ngx_pid);
    }

    ring->scan.handler = ngx_http_audit_ring_scan_handler;
    ring->scan.data = ring;
    ring->scan.log = cycle->log;
    ring->scan.cancelable = 1;
    ngx_add_timer(&ring->scan, NGX_HTTP_AUDIT_RING_SCAN);

    rmcf->ring = ring;

    return NGX_OK;
}


ngx_http_audit_ring_t *
ngx_http_audit_ring_worker(void)
{
    ngx_http_audit_ring_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_ring_module);

    if (rmcf == NULL || rmcf->ring == NULL || rmcf->ring->r == NULL) {
        return NULL;
    }

    return rmcf->ring;
}


/* the lowest cursor of the sinks that take from the ring */

static uint64_t
ngx_http_audit_ring_low(ngx_http_audit_ring_shm_t *r)
{
    uint64_t    low;
    ngx_uint_t  s;

    low = r->head;

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {
        if ((r->want & ((ngx_uint_t) 1 << s)) && r->cursor[s] < low) {
            low = r->cursor[s];
        }
    }

    return low;
}


ngx_int_t
ngx_http_audit_ring_append(ngx_http_audit_ring_t *ring, u_char *line,
    size_t len, uint64_t *start, uint64_t *end)
{
    size_t                        need, off, pad;
    time_t                        now;
    uint64_t                      head;
    ngx_http_audit_ring_shm_t    *r;
    ngx_http_audit_ring_entry_t  *e;

    r = ring->r;
    need = sizeof(ngx_http_audit_ring_entry_t) + ngx_align(len, 8);

    head = r->head;
    off = (size_t) (head % ring->sh->size);
    pad = (ring->sh->size - off < need) ? ring->sh->size - off : 0;

    if (head + pad + need - ngx_http_audit_ring_low(r) > ring->sh->size) {
        (void) ngx_atomic_fetch_add(&ring->sh->overflow, 1);

        now = ngx_time();

        if (now - ring->warned >= NGX_HTTP_AUDIT_RING_WARN) {
            ring->warned = now;
            ngx_log_error(NGX_LOG_WARN, ring->log, 0,
                          "audit_ring: the ring of %uz bytes is full, "
                          "events are written out at once");
        }

        return NGX_DECLINED;
    }

    if (pad) {
        e = (ngx_http_audit_ring_entry_t *) (ngx_http_audit_ring_data(r)
                                             + off);
        e->len = NGX_HTTP_AUDIT_RING_WRAP;
        e->tag = NGX_HTTP_AUDIT_RING_COMMIT;
        head += pad;
        off = 0;
    }

    e = (ngx_http_audit_ring_entry_t *) (ngx_http_audit_ring_data(r) + off);

    e->tag = r->entries & NGX_HTTP_AUDIT_RING_NUMBER;
    e->len = (uint32_t) len;
    ngx_memcpy(e + 1, line, len);

    /* the line before the commit bit, the commit bit before the head */

    ngx_memory_barrier();
    e->tag |= NGX_HTTP_AUDIT_RING_COMMIT;
    ngx_memory_barrier();

    /* the head first: a number left behind is never mistaken for this */

    r->head = head + need;
    ngx_memory_barrier();
    r->entries++;

    *start = head;
    *end = head + need;

    return NGX_OK;
}


void
ngx_http_audit_ring_taken(ngx_http_audit_ring_t *ring, ngx_uint_t sink,
    uint64_t pos)
{
    ngx_http_audit_ring_shm_t  *r;

    if (ring == NULL || pos == NGX_HTTP_AUDIT_RING_NONE) {
        return;
    }

    r = ring->r;

    if (r->owner == (ngx_atomic_uint_t) ngx_pid && pos > r->cursor[sink]) {
        r->cursor[sink] = pos;
    }
}


static void
ngx_http_audit_ring_scan_handler(ngx_event_t *ev)
{
    ngx_http_audit_ring_t  *ring = ev->data;

    ngx_http_audit_ring_scan(ring);

    if (!ngx_exiting) {
        ngx_add_timer(&ring->scan, NGX_HTTP_AUDIT_RING_SCAN);
    }
}


/* the rings whose owner is gone: adopted, delivered, freed */

static void
ngx_http_audit_ring_scan(ngx_http_audit_ring_t *ring)
{
    ngx_pid_t                   pid;
    ngx_uint_t                  i;
    ngx_http_audit_ring_shm_t  *r;

    for (i = 0; i < ring->sh->nrings; i++) {
        r = ngx_http_audit_ring_at(ring->sh, i);

        if (!ngx_http_audit_ring_dead(ring, r, &pid)) {
            continue;
        }

        /* one adopter: the others see a live owner, or none */

        if (!ngx_atomic_cmp_set(&r->owner, (ngx_atomic_uint_t) pid,
                                (ngx_atomic_uint_t) ngx_pid))
        {
            continue;
        }

        ngx_http_audit_ring_adopt(ring, r, pid);

        ngx_memory_barrier();
        r->owner = 0;
    }
}


/*
 * A pid is dead when kill(0) says no such process; a ring marked with our
 * own pid that is not ours belonged to an earlier process of that pid.
 */

static ngx_uint_t
ngx_http_audit_ring_dead(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_shm_t *r, ngx_pid_t *pid)
{
    *pid = (ngx_pid_t) r->owner;

    if (*pid == 0 || r == ring->r) {
        return 0;
    }

    if (*pid == ngx_pid) {
        return 1;
    }

    return kill(*pid, 0) == -1 && ngx_errno == NGX_ESRCH;
}


/*
 * Walks from the lowest cursor to the head, handing each line to the
 * sinks whose cursor it is past.  Every entry there was committed before
 * the head moved; anything else is damage and ends the walk, counted.
 * The entry at the head is the one being written when the owner died:
 * committed, it is delivered; else it is skipped and counted.
 */

static void
ngx_http_audit_ring_adopt(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_shm_t *r, ngx_pid_t pid)
{
    size_t                        off, size;
    uint64_t                      pos;
    ngx_uint_t                    lines, torn, s;
    ngx_http_audit_shctx_t       *ash;
    ngx_http_audit_main_conf_t   *amcf;
    ngx_http_audit_ring_entry_t  *e;

    size = ring->sh->size;
    lines = 0;
    torn = 0;

    for (pos = ngx_http_audit_ring_low(r); pos < r->head; /* void */) {
        off = (size_t) (pos % size);
        e = (ngx_http_audit_ring_entry_t *) (ngx_http_audit_ring_data(r)
                                             + off);

        if (e->len == NGX_HTTP_AUDIT_RING_WRAP) {
            pos += size - off;
            continue;
        }

        if (!(e->tag & NGX_HTTP_AUDIT_RING_COMMIT) || e->len == 0
            || off + sizeof(ngx_http_audit_ring_entry_t) + e->len > size)
        {
            torn++;
            break;
        }

        lines += ngx_http_audit_ring_deliver(ring, r, pos, (u_char *) (e + 1),
                                             e->len, pid);

        pos += sizeof(ngx_http_audit_ring_entry_t) + ngx_align(e->len, 8);
    }

    /* the entry being written at the head when the owner died */

    if (pos == r->head) {
        off = (size_t) (pos % size);

        if (size - off >= sizeof(ngx_http_audit_ring_entry_t)) {
            e = (ngx_http_audit_ring_entry_t *) (ngx_http_audit_ring_data(r)
                                                 + off);

            if ((e->tag & NGX_HTTP_AUDIT_RING_NUMBER)
                == (r->entries & NGX_HTTP_AUDIT_RING_NUMBER)
                && e->len != NGX_HTTP_AUDIT_RING_WRAP)
            {
                if ((e->tag & NGX_HTTP_AUDIT_RING_COMMIT) && e->len
                    && off + sizeof(ngx_http_audit_ring_entry_t) + e->len
                       <= size)
                {
                    lines += ngx_http_audit_ring_deliver(ring, r, pos,
                                                         (u_char *) (e + 1),
                                                         e->len, pid);
                    r->entries++;
                    r->head = pos + sizeof(ngx_http_audit_ring_entry_t)
                              + ngx_align(e->len, 8);

                } else {
                    torn++;
                    /* never read as an event again */
                    e->tag = NGX_HTTP_AUDIT_RING_COMMIT;
                    e->len = NGX_HTTP_AUDIT_RING_WRAP;
                    r->entries++;
                }
            }
        }
    }

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {
        r->cursor[s] = r->head;
    }

    (void) ngx_atomic_fetch_add(&ring->sh->adopted, 1);
    (void) ngx_atomic_fetch_add(&ring->sh->recovered, lines);

    if (lines) {
        ngx_log_error(NGX_LOG_WARN, ring->log, 0,
                      "audit_ring: worker process %P is gone; %ui audit "
                      "events it had not stored yet were taken from its "
                      "ring and stored", pid, lines);
    }

    if (torn == 0) {
        return;
    }

    (void) ngx_atomic_fetch_add(&ring->sh->torn, torn);

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_module);

    if (amcf && amcf->shm_zone) {
        ash = amcf->shm_zone->data;
        (void) ngx_atomic_fetch_add(&ash->events_lost, torn);
    }

    ngx_log_error(NGX_LOG_ALERT, ring->log, 0,
                  "audit_ring: worker process %P died writing an audit "
                  "event: %ui half-written entry skipped, that event is "
                  "lost", pid, torn);
}


/* one line, to each sink that had not taken it; 1 if any took it */

static ngx_uint_t
ngx_http_audit_ring_deliver(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_shm_t *r, uint64_t pos, u_char *line, size_t len,
    ngx_pid_t pid)
{
    ngx_uint_t                   s, n;
    ngx_http_audit_ring_line_t   l;

    l.line = line;
    l.len = len;
    l.pid = pid;
    l.log = ring->log;

    n = 0;

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {

        if (!(r->want & ((ngx_uint_t) 1 << s)) || pos < r->cursor[s]) {
            continue;
        }

        n = 1;

        if (ring->rmcf->take[s]) {
            ring->rmcf->take[s](&l);
        }
    }

    return n;
}
