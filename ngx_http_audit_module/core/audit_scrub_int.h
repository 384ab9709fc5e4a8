/*
 * Core-internal.  The bounded output the scrubber writes into, shared by
 * the URI scrubber (audit_scrub.c) and the credentials scrubber
 * (audit_scrub_creds.c).
 */


#ifndef AUDIT_SCRUB_INT_H
#define AUDIT_SCRUB_INT_H


#include <stddef.h>


/* the bounded output */
typedef struct {
    char           *p;
    size_t          n;
    size_t          cap;            /* size - 1: room for the NUL */
    int             full;
} audit_scrub_out_t;


void audit_scrub_out_init(audit_scrub_out_t *o, char *out, size_t size);

/*
 * Appends p[0..len), or as much as fits followed by "...": callers pass
 * only what may be logged.
 */
void audit_scrub_put(audit_scrub_out_t *o, const char *p, size_t len);

/* Appends text[0..len) with each credential in it "[Filtered]". */
void audit_scrub_creds(audit_scrub_out_t *o, const char *text, size_t len);


#endif /* AUDIT_SCRUB_INT_H */
