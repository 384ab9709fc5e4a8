
/*
 * Core-internal: what audit_claims_t is.  The claims are a jansson object
 * (a json_t with one reference, the token's); only the core and its tests
 * look inside.  The nginx layer never includes this header.
 */


#ifndef AUDIT_JWS_INT_H
#define AUDIT_JWS_INT_H


#include <jansson.h>

#include "audit_jws.h"


#define AUDIT_CLAIMS_JSON(c)  ((json_t *) (c))
#define AUDIT_CLAIMS(j)       ((audit_claims_t *) (j))


#endif /* AUDIT_JWS_INT_H */
