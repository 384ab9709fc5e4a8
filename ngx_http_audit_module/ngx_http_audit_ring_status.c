
/*
 * ngx_http_audit_module: the rings' section of audit_status (audit_ring).
 *
 *     ,"ring":{"rings":N,"ring_bytes":N,"adopted":N,"recovered":N,
 *              "torn":N,"overflow":N}
 *
 * and the audit_ring_* metrics: the rings of dead workers adopted, the
 * lines handed on from them, the half-written entries skipped (each an
 * event lost) and the appends that found a ring full (their events went
 * straight to the log and the spool).  Read from the ring zone, whose
 * counters live as long as it does: over reloads, not over a restart.
 */


#include "ngx_http_audit_module.h"
#include "ngx_http_audit_ring_int.h"


static u_char *ngx_http_audit_ring_status_section(u_char *p, u_char *last,
    ngx_uint_t prometheus);


static ngx_http_audit_status_section_pt  ngx_http_audit_ring_next_status;


/* the ring module's postconfiguration: its section joins the chain */

ngx_int_t
ngx_http_audit_ring_status_init(ngx_conf_t *cf)
{
    ngx_http_audit_ring_next_status = ngx_http_audit_top_status_section;
    ngx_http_audit_top_status_section = ngx_http_audit_ring_status_section;

    return NGX_OK;
}


static u_char *
ngx_http_audit_ring_status_section(u_char *p, u_char *last,
    ngx_uint_t prometheus)
{
    ngx_http_audit_ring_sh_t         *sh;
    ngx_http_audit_ring_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_ring_module);

    sh = rmcf ? rmcf->sh : NULL;

    if (sh == NULL) {
        return ngx_http_audit_ring_next_status(p, last, prometheus);
    }

    if (!prometheus) {
        p = ngx_slprintf(p, last,
                         ",\"ring\":{\"rings\":%ui,\"ring_bytes\":%uz,"
                         "\"adopted\":%uA,\"recovered\":%uA,\"torn\":%uA,"
                         "\"overflow\":%uA}",
                         sh->nrings, sh->size, sh->adopted, sh->recovered,
                         sh->torn, sh->overflow);

        return ngx_http_audit_ring_next_status(p, last, prometheus);
    }

    p = ngx_slprintf(p, last,
                     "# HELP audit_ring_adopted_total Rings of dead workers "
                     "adopted.\n"
                     "# TYPE audit_ring_adopted_total counter\n"
                     "audit_ring_adopted_total %uA\n"
                     "# HELP audit_ring_recovered_total Events taken from "
                     "dead workers' rings and stored.\n"
                     "# TYPE audit_ring_recovered_total counter\n"
                     "audit_ring_recovered_total %uA\n"
                     "# HELP audit_ring_torn_total Half-written entries "
                     "skipped in dead workers' rings (events lost).\n"
                     "# TYPE audit_ring_torn_total counter\n"
                     "audit_ring_torn_total %uA\n"
                     "# HELP audit_ring_overflow_total Events that found "
                     "their ring full and were written out at once.\n"
                     "# TYPE audit_ring_overflow_total counter\n"
                     "audit_ring_overflow_total %uA\n",
                     sh->adopted, sh->recovered, sh->torn, sh->overflow);

    return ngx_http_audit_ring_next_status(p, last, prometheus);
}
