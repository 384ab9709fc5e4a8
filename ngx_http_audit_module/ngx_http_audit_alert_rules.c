
/*
 * ngx_http_audit_module: the alert rules (audit_alert_rule), evaluated
 * once a second in one worker over windows of the shared counters, and
 * PostgreSQL's return for a pg_down alert.  Each rule fires once when
 * its condition is crossed and resolves once when it clears.
 */


#include "ngx_http_audit_alert.h"
#include "ngx_http_audit_pg.h"


static void ngx_http_audit_alert_rules(ngx_http_audit_alert_t *a,
    time_t now);


/*
 * Once a second, in one worker (whichever moves the zone's tick first):
 * the rules, and PostgreSQL's return for a pg_down alert.
 */

void
ngx_http_audit_alert_tick(ngx_event_t *ev)
{
    time_t                   now;
    ngx_atomic_uint_t        old, a5, ab;
    audit_alert_t            al;
    ngx_http_audit_alert_t  *a = ev->data;

    if (ngx_exiting) {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_AUDIT_ALERT_TICK);

    now = ngx_time();
    old = a->sh->tick;

    if ((time_t) old >= now
        || !ngx_atomic_cmp_set(&a->sh->tick, old, (ngx_atomic_uint_t) now))
    {
        return;
    }

    /* the hour of upstream answers audit_health judges the rate by */
    a5 = a->sh->upstream_5xx;
    ab = a->sh->upstream;
    ngx_http_audit_alert_window(&a->sh->hour, 3600, &a5, &ab);

    if (a->audit && a->audit->events_lost != a->sh->lost) {
        a->sh->lost = a->audit->events_lost;
        a->sh->lost_at = now;
    }

    ngx_http_audit_alert_rules(a, now);

    if (a->pg && ngx_http_audit_alert_pg_up(a)) {
        ngx_memzero(&al, sizeof(audit_alert_t));
        al.fingerprint = "module_fault:pg_down";
        al.name = "pg_down";
        al.summary = "PostgreSQL reachable again: audit events are "
                     "being shipped";
        al.group = "postgresql";
        ngx_http_audit_alert_resolve(a, al.fingerprint, &al,
                                     AUDIT_SEV_CRITICAL);
    }
}


static void
ngx_http_audit_alert_rules(ngx_http_audit_alert_t *a, time_t now)
{
    u_char                              fp[64], summary[320], detail[128];
    ngx_uint_t                          i, cond;
    ngx_atomic_uint_t                   da, db;
    audit_alert_t                       al;
    ngx_http_audit_alert_rule_t        *rule;
    ngx_http_audit_alert_rule_state_t  *st;

    static const char  *names[] = {
        "upstream_5xx", "login_failure", "no_events", "pg_down"
    };

    if (a->mcf->rules == NULL) {
        return;
    }

    rule = a->mcf->rules->elts;

    for (i = 0; i < a->mcf->rules->nelts; i++) {
        st = &a->sh->rules[i];
        cond = 0;
        da = 0;
        db = 0;

        switch (rule[i].what) {

        case NGX_HTTP_AUDIT_RULE_UPSTREAM_5XX:
            da = a->sh->upstream_5xx;
            db = a->sh->upstream;
            ngx_http_audit_alert_window(&st->ring, rule[i].window, &da, &db);
            cond = (db > 0 && da * 100 > rule[i].threshold * db);
            *ngx_snprintf(detail, sizeof(detail) - 1,
                          "%uA of %uA upstream answers were 5xx", da, db)
                = '\0';
            break;

        case NGX_HTTP_AUDIT_RULE_LOGIN_FAILURE:
            da = a->audit ? a->audit->events[AUDIT_LOGIN_FAILURE] : 0;
            ngx_http_audit_alert_window(&st->ring, rule[i].window, &da, &db);
            cond = (da > rule[i].threshold);
            *ngx_snprintf(detail, sizeof(detail) - 1,
                          "%uA failed logins", da) = '\0';
            break;

        case NGX_HTTP_AUDIT_RULE_NO_EVENTS:
            cond = (now - (time_t) a->sh->last_event >= rule[i].window);
            *ngx_snprintf(detail, sizeof(detail) - 1,
                          "no audit event for %T s",
                          now - (time_t) a->sh->last_event) = '\0';
            break;

        default: /* NGX_HTTP_AUDIT_RULE_PG_DOWN */
            if (!a->pg || ngx_http_audit_alert_pg_up(a)) {
                st->since = 0;

            } else if (st->since == 0) {
                st->since = now;
            }

            cond = (st->since
                    && now - st->since >= (time_t) rule[i].threshold);
            *ngx_snprintf(detail, sizeof(detail) - 1,
                          "no worker connected to PostgreSQL for %T s",
                          st->since ? now - st->since : 0) = '\0';
        }

        if (cond == st->firing) {
            continue;
        }

        st->firing = cond;

        *ngx_snprintf(fp, sizeof(fp) - 1, "rule:%s:%ui", names[rule[i].what],
                      i + 1) = '\0';
        *ngx_snprintf(summary, sizeof(summary) - 1, "%s: %V",
                      cond ? "Alert rule crossed" : "Alert rule cleared",
                      &rule[i].text) = '\0';

        ngx_memzero(&al, sizeof(audit_alert_t));
        al.fingerprint = (const char *) fp;
        al.name = names[rule[i].what];
        al.summary = (const char *) summary;
        al.detail = (const char *) detail;
        al.group = rule[i].what == NGX_HTTP_AUDIT_RULE_PG_DOWN ? "postgresql"
                   : rule[i].what == NGX_HTTP_AUDIT_RULE_UPSTREAM_5XX
                   ? "upstream" : "audit";
        al.count = 1;

        if (cond) {
            ngx_http_audit_alert_raise(a, &al, rule[i].severity, 1);

        } else {
            ngx_http_audit_alert_resolve(a, al.fingerprint, &al,
                                         rule[i].severity);
        }
    }
}


/*
 * A ring of samples, 12 steps a window: *a and *b come in as the
 * counters' values now and go out as how much they grew over the window
 * (or since the first sample, while the ring is younger than that).
 */

void
ngx_http_audit_alert_window(ngx_http_audit_alert_ring_t *ring,
    time_t window, ngx_atomic_uint_t *a, ngx_atomic_uint_t *b)
{
    time_t  now, step;

    now = ngx_time();
    step = ngx_max(window / (NGX_HTTP_AUDIT_ALERT_SAMPLES - 1), 1);

    if (now >= ring->next) {
        ring->a[ring->head] = *a;
        ring->b[ring->head] = *b;
        ring->head = (ring->head + 1) % NGX_HTTP_AUDIT_ALERT_SAMPLES;
        if (ring->n < NGX_HTTP_AUDIT_ALERT_SAMPLES) {
            ring->n++;
        }

        ring->next = now + step;
    }

    ngx_http_audit_alert_ring_delta(ring, a, b);
}


/* the same, read only (audit_health) */

void
ngx_http_audit_alert_ring_delta(ngx_http_audit_alert_ring_t *ring,
    ngx_atomic_uint_t *a, ngx_atomic_uint_t *b)
{
    ngx_uint_t  oldest;

    if (ring->n == 0) {
        return;
    }

    oldest = (ring->head + NGX_HTTP_AUDIT_ALERT_SAMPLES - ring->n)
             % NGX_HTTP_AUDIT_ALERT_SAMPLES;

    *a -= ring->a[oldest];
    *b -= ring->b[oldest];
}


/* every live worker connected (the audit zone's gauges) */

ngx_uint_t
ngx_http_audit_alert_pg_up(ngx_http_audit_alert_t *a)
{
    ngx_http_audit_workers_t  hw;

    if (a->audit == NULL) {
        return 1;
    }

    ngx_http_audit_zone_workers(a->audit, &hw);

    return hw.alive && hw.pg_up == hw.alive;
}
