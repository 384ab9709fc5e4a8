
/*
 * What the offline verifier (audit_verify.c) accepts as a line of the
 * module's form: the members of a checkpoint line, hex, the ts.
 */

#ifndef AUDIT_VERIFY_JSON_H
#define AUDIT_VERIFY_JSON_H


#include <stddef.h>

#include <jansson.h>

#include "audit_checkpoint.h"


/* root's member key is the string value */
int audit_verify_is(json_t *root, const char *key, const char *value);

/*
 * The checkpoint c of the line root (obj: its "checkpoint" member, or
 * NULL) at ts_ms; -1 when the line has a member the module does not
 * write in a checkpoint line, or obj one it does not write in the
 * member, or any of them is malformed.  c->producer is left unset.
 */
int audit_verify_checkpoint(json_t *root, json_t *obj,
    unsigned long long ts_ms, audit_checkpoint_t *c);

/* n bytes from 2n lowercase hex digits: 0, or -1 */
int audit_verify_unhex(const char *s, unsigned char *out, size_t n);


#endif /* AUDIT_VERIFY_JSON_H */
