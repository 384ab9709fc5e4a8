
/*
 * Reading %-encoded bytes (see audit_pct_int.h).
 */


#include "audit_pct_int.h"


int
audit_pct_next(audit_pct_t *d)
{
    int  c, hi, lo;

    if (d->p >= d->end) {
        return -1;
    }

    c = *d->p++;

    if (c == '+' && d->plus) {
        return ' ';
    }

    if (c == '%' && d->end - d->p >= 2) {
        hi = audit_pct_hex(d->p[0]);
        lo = audit_pct_hex(d->p[1]);

        if (hi >= 0 && lo >= 0) {
            d->p += 2;
            return (hi << 4) | lo;
        }
    }

    return c;
}


int
audit_pct_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}
