
/*
 * A bounded output buffer for the JSON encoders (events, Sentry
 * envelopes): writes stop at the first one that does not fit, and the
 * error sticks, so an encoder checks once at the end.
 */


#ifndef AUDIT_OUT_H
#define AUDIT_OUT_H


#include <stddef.h>


typedef struct {
    char                *p;
    size_t               n;
    size_t               room;          /* what may be written */
    int                  error;
} audit_out_t;


void audit_out_raw(audit_out_t *o, const char *p, size_t len);


#endif /* AUDIT_OUT_H */
