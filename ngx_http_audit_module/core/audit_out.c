
/*
 * A bounded output buffer (see audit_out.h).
 */


#include <string.h>

#include "audit_out.h"


void
audit_out_raw(audit_out_t *o, const char *p, size_t len)
{
    if (o->error || len > o->room - o->n) {
        o->error = 1;
        return;
    }

    memcpy(o->p + o->n, p, len);
    o->n += len;
}
