
/*
 * A worker-local cache of verified sessions.
 *
 * Every request of a session carries the same token, and verifying it
 * again each time (two JSON parses and an HMAC, or an RSA/ECDSA verify)
 * is most of what the module costs.  This cache remembers, for the exact
 * bytes of a token that verified, the identity it carried and when it
 * expires, so the next request of the session costs a hash and a memcmp.
 *
 * Only tokens that passed every check are stored, and a hit compares the
 * whole token, so a hit is exactly as trustworthy as the verification it
 * remembers.  What can change after that is covered by the caller: time
 * (the caller passes "now" and entries past exp + leeway miss), the keys
 * (the caller bumps "generation" when it swaps the key set) and the
 * verification settings ("profile" names them, e.g. the configuration
 * block); revocation is checked by the caller on every request.
 *
 * Single-threaded by design (one per nginx worker); bounded: the least
 * recently used entry makes room.
 */


#ifndef AUDIT_TCACHE_H
#define AUDIT_TCACHE_H


#include <stddef.h>
#include <stdint.h>


/* longer tokens are verified every time rather than cached */
#define AUDIT_TCACHE_MAX_TOKEN  4096


typedef struct audit_tcache_s  audit_tcache_t;


typedef struct {
    long long     exp;
    const char   *user_id;      /* NUL-terminated */
    const char   *roles;        /* NUL-terminated, joined by "," */
    const char   *session_id;   /* NUL-terminated, "" when none */
} audit_tcache_identity_t;


audit_tcache_t *audit_tcache_create(size_t capacity);
void audit_tcache_free(audit_tcache_t *c);

/* The identity remembered for this token, or NULL.  The pointers stay
 * valid until the next audit_tcache_put() or audit_tcache_free(). */
const audit_tcache_identity_t *audit_tcache_get(audit_tcache_t *c,
    uintptr_t profile, unsigned generation, long long now, long long leeway,
    const char *token, size_t len);

/* Remembers a verified token; returns 0, or -1 when it is not cached (too
 * long, out of memory). */
int audit_tcache_put(audit_tcache_t *c, uintptr_t profile,
    unsigned generation, const char *token, size_t len,
    const audit_tcache_identity_t *id);

size_t audit_tcache_size(const audit_tcache_t *c);


#endif /* AUDIT_TCACHE_H */
