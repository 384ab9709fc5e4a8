
/*
 * Core-internal.  Reading %-encoded bytes (RFC 3986 §2.1) as they are
 * decoded, for the scrubber (query strings) and the login reader (form
 * bodies, where '+' also stands for a space).
 */


#ifndef AUDIT_PCT_INT_H
#define AUDIT_PCT_INT_H


#include <stddef.h>


typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    int                   plus;     /* '+' is a space (form encoding) */
} audit_pct_t;


/* The next decoded byte, or -1 at the end.  A '%' not followed by two hex
 * digits is taken as it is. */
int audit_pct_next(audit_pct_t *d);

/* The value of one hex digit (either case), or -1. */
int audit_pct_hex(int c);


#endif /* AUDIT_PCT_INT_H */
