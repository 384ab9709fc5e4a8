/*
 * UUIDv7 (RFC 9562 section 5.7): 48 bits of Unix time in milliseconds,
 * the version 7, 12 bits rand_a, the variant 10 and 62 bits rand_b.  Ids
 * made later sort later, both as bytes and as formatted text, which keeps
 * an audit store's index on id in insertion order.
 *
 * The caller supplies the randomness (a CSPRNG, e.g. RAND_bytes()), so
 * these functions are pure and never fail.
 */

#ifndef AUDIT_UUID_H
#define AUDIT_UUID_H


#define AUDIT_UUID_LEN      16
#define AUDIT_UUID_STR_LEN  36      /* without the NUL */


/* Builds the id from unix_ms (only its low 48 bits are used) and 10
 * random bytes, of which 74 bits are kept. */
void audit_uuid7(unsigned char out[16], unsigned long long unix_ms,
    const unsigned char rnd[10]);

/* Writes the lowercase 8-4-4-4-12 form and a NUL. */
void audit_uuid_format(const unsigned char id[16], char out[37]);


#endif /* AUDIT_UUID_H */
