
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
#include "ngx_http_audit_ring_int.h"


#define NGX_HTTP_AUDIT_RING_MAX      128
#define NGX_HTTP_AUDIT_RING_SCAN     1000
#define NGX_HTTP_AUDIT_RING_WARN     10


/*
 * an adoption: the line handed to the sinks, how many were, and how many
 * a sink this configuration no longer has (a reload dropped it) lacks
 */
typedef struct {
    ngx_http_audit_ring_line_t   line;
    ngx_http_audit_ring_t       *ring;
    ngx_uint_t                   n;
    ngx_uint_t                   nowhere[NGX_HTTP_AUDIT_RING_SINKS];
} ngx_http_audit_ring_adoption_t;


/* what a sink of the ring stores, for the error log */
static const struct {
    const char                  *store;
    const char                  *directive;
} ngx_http_audit_ring_sink_names[NGX_HTTP_AUDIT_RING_SINKS] = {
    { "the JSON log", "audit_log" },
    { "PostgreSQL", "audit_pg" }
};


static void *ngx_http_audit_ring_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_audit_ring_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_audit_ring_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_audit_ring_init_process(ngx_cycle_t *cycle);
static ngx_http_audit_ring_shm_t *ngx_http_audit_ring_at(
    ngx_http_audit_ring_sh_t *sh, ngx_uint_t i);
static void ngx_http_audit_ring_scan(ngx_http_audit_ring_t *ring);
static void ngx_http_audit_ring_scan_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_audit_ring_dead(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_shm_t *r, ngx_pid_t *pid);
static void ngx_http_audit_ring_adopt(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_shm_t *r, ngx_pid_t pid);
static void ngx_http_audit_ring_deliver(void *data,
    ngx_http_audit_ring_shm_t *r, uint64_t pos, u_char *line, size_t len);
static void ngx_http_audit_ring_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_audit_ring_commands[] = {

    { ngx_string("audit_ring"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_audit_ring_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_audit_ring_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_audit_ring_status_init,       /* postconfiguration */

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
    ngx_http_audit_ring_exit_process,      /* exit process */
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

    ssize_t           size;
    ngx_str_t        *value, name;
    ngx_file_info_t   fi;

    if (rmcf->size != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_ring off\" takes no parameters");
            return NGX_CONF_ERROR;
        }

        rmcf->size = 0;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts > 2) {

        if (ngx_strncmp(value[2].data, "state=", 6) != 0
            || value[2].len == 6)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"audit_ring\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        rmcf->state.data = value[2].data + 6;
        rmcf->state.len = value[2].len - 6;

        if (ngx_conf_full_name(cf->cycle, &rmcf->state, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (rmcf->state.len + sizeof("/audit-ring-4294967295.state")
            > NGX_MAX_PATH)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"audit_ring\" state directory name is "
                               "too long");
            return NGX_CONF_ERROR;
        }

        if (ngx_file_info(rmcf->state.data, &fi) == NGX_FILE_ERROR
            || !ngx_is_dir(&fi))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "\"audit_ring\" state directory \"%V\" is "
                               "not usable", &rmcf->state);
            return NGX_CONF_ERROR;
        }
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
    ngx_time_t                       *tp;
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

    tp = ngx_timeofday();

    sh->magic = NGX_HTTP_AUDIT_RING_MAGIC;
    sh->id = ((uint64_t) tp->sec * 1000 + tp->msec) * 100000
             + (uint64_t) ngx_pid % 100000;
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
    ring->fd = NGX_INVALID_FILE;

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

    /* what an nginx before this one left in rings that are gone with it */
    ngx_http_audit_ring_state_lost(ring);

    if (ring->r && ngx_http_audit_ring_state_open(ring) != NGX_OK) {
        return NGX_ERROR;
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
                          "events are written out at once", ring->sh->size);
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

    e->tag = ngx_http_audit_ring_number(r->entries);
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
    ngx_http_audit_ring_state_write(ring);

    if (!ngx_exiting) {
        ngx_add_timer(&ring->scan, NGX_HTTP_AUDIT_RING_SCAN);
    }
}


/*
 * The sinks have exited (they run first) and stored what they held: the
 * snapshot says what is left, if anything; the ring stays marked with
 * this pid, for whoever adopts it next.
 */

static void
ngx_http_audit_ring_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_ring_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_audit_ring_module);

    if (rmcf && rmcf->ring) {
        ngx_http_audit_ring_state_close(rmcf->ring);
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


static void
ngx_http_audit_ring_adopt(ngx_http_audit_ring_t *ring,
    ngx_http_audit_ring_shm_t *r, ngx_pid_t pid)
{
    ngx_uint_t                       s, torn, damaged;
    ngx_http_audit_shctx_t          *ash;
    ngx_http_audit_main_conf_t      *amcf;
    ngx_http_audit_ring_adoption_t   a;

    a.line.pid = pid;
    a.line.log = ring->log;
    a.ring = ring;
    a.n = 0;
    ngx_memzero(a.nowhere, sizeof(a.nowhere));

    torn = 0;

    if (ngx_http_audit_ring_walk(ring->sh, r, ngx_http_audit_ring_deliver,
                                 &a, &damaged)
        == r->head)
    {
        ngx_http_audit_ring_head(ring->sh, r, ngx_http_audit_ring_deliver,
                                 &a, &torn);
    }

    torn += damaged;

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {
        r->cursor[s] = r->head;
    }

    (void) ngx_atomic_fetch_add(&ring->sh->adopted, 1);
    (void) ngx_atomic_fetch_add(&ring->sh->recovered, a.n);

    ngx_http_audit_ring_state_remove(ring, pid);

    if (a.n) {
        ngx_log_error(NGX_LOG_WARN, ring->log, 0,
                      "audit_ring: worker process %P is gone; %ui audit "
                      "events it had not stored yet were taken from its "
                      "ring and stored", pid, a.n);
    }

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_module);
    ash = (amcf && amcf->shm_zone) ? amcf->shm_zone->data : NULL;

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {

        if (a.nowhere[s] == 0) {
            continue;
        }

        if (ash) {
            (void) ngx_atomic_fetch_add(&ash->events_lost, a.nowhere[s]);
        }

        ngx_log_error(NGX_LOG_ALERT, ring->log, 0,
                      "audit_ring: worker process %P is gone; %ui audit "
                      "events it had not stored in %s yet are lost there: "
                      "this configuration has no %s", pid, a.nowhere[s],
                      ngx_http_audit_ring_sink_names[s].store,
                      ngx_http_audit_ring_sink_names[s].directive);

        ngx_http_audit_fault(ring->log, NULL, "module_fault", "events_lost",
                             "Audit events lost: a dead worker's sink is "
                             "gone from the configuration");
    }

    if (torn == 0) {
        return;
    }

    (void) ngx_atomic_fetch_add(&ring->sh->torn, torn);

    if (ash) {
        (void) ngx_atomic_fetch_add(&ash->events_lost, torn);
    }

    ngx_log_error(NGX_LOG_ALERT, ring->log, 0,
                  "audit_ring: worker process %P died writing an audit "
                  "event: %ui half-written entry skipped, that event is "
                  "lost", pid, torn);

    ngx_http_audit_fault(ring->log, NULL, "module_fault", "events_lost",
                         "Audit events lost: a worker died writing one");
}


/* one line, to each sink that had not taken it */

static void
ngx_http_audit_ring_deliver(void *data, ngx_http_audit_ring_shm_t *r,
    uint64_t pos, u_char *line, size_t len)
{
    ngx_http_audit_ring_adoption_t *a = data;

    ngx_uint_t              s, taken;
    ngx_http_audit_ring_t  *ring;

    ring = a->ring;
    a->line.line = line;
    a->line.len = len;

    taken = 0;

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {

        if (!(r->want & ((ngx_uint_t) 1 << s)) || pos < r->cursor[s]) {
            continue;
        }

        if (ring->rmcf->take[s] == NULL) {
            a->nowhere[s]++;
            continue;
        }

        taken = 1;

        ring->rmcf->take[s](&a->line);
    }

    a->n += taken;
}
