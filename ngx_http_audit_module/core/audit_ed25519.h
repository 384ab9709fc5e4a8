
/*
 * Ed25519 signature verification, on its own so that PostgreSQL's
 * audit.ed25519_verify() (pg/) links nothing else of the core.
 */

#ifndef AUDIT_ED25519_H
#define AUDIT_ED25519_H


#include <stddef.h>


/*
 * Plain Ed25519 (RFC 8032) verification: 1 when sig (64 bytes) is pub's
 * (32 raw bytes) signature of msg, 0 otherwise, also for wrong sizes.
 */
int audit_ed25519_verify(const unsigned char *pub, size_t publen,
    const unsigned char *msg, size_t len, const unsigned char *sig,
    size_t siglen);


#endif /* AUDIT_ED25519_H */
