
/*
 * Core-internal: what the Sentry files share (audit_sentry_envelope.c,
 * audit_sentry_limits.c).  The nginx layer never includes it.
 */


#ifndef AUDIT_SENTRY_INT_H
#define AUDIT_SENTRY_INT_H


#include "audit_json_int.h"
#include "audit_sentry.h"


/*
 * The envelope header line, {"event_id":..,"sent_at":..,"dsn":..,"sdk":..}
 * and "\n": no event_id when hex (32 lowercase hex digits) is NULL; the
 * DSN as audit_sentry_envelope() describes.
 */
void audit_sentry_head(audit_json_t *o, const char *hex,
    const audit_sentry_dsn_t *dsn, const char *dsn_text,
    unsigned long long now_ms);

/*
 * The item's payload was written at head, right after the envelope
 * header: puts the item header {"type":TYPE,"length":N} before it, ends
 * the envelope with "\n" and a NUL, and returns its length; -1 when o
 * holds an error or the whole does not fit.
 */
long audit_sentry_item(audit_json_t *o, size_t head, const char *type);


#endif /* AUDIT_SENTRY_INT_H */
