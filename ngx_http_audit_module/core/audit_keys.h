/*
 * Verification key sets for JWS: HS256 secrets, RSA (>= 2048 bits) and
 * EC P-256 public keys, read from a JWKS, PEM "PUBLIC KEY" blocks or a raw
 * secret.  A key set is immutable after parsing; verifying with it never
 * writes to it, so one set can serve any number of requests.
 */

#ifndef AUDIT_KEYS_H
#define AUDIT_KEYS_H


#include <stddef.h>


#define AUDIT_ALG_HS256  0x01u
#define AUDIT_ALG_RS256  0x02u
#define AUDIT_ALG_ES256  0x04u
#define AUDIT_ALG_ALL    0x07u

/* the longest accepted kid; a JWKS naming a longer one is an error */
#define AUDIT_KID_MAX    64

/* key files / data larger than this are refused */
#define AUDIT_KEYS_FILE_MAX  (1024 * 1024)


typedef struct audit_keyset_s  audit_keyset_t;   /* opaque, immutable */


/*
 * Parses a key file's contents.  Accepted:
 *
 *  - a JWKS ({"keys":[...]}): kty "oct", "RSA" or "EC" with crv "P-256";
 *    "kid" optional, unique within the set; "use" must be "sig" and
 *    "key_ops" must contain "verify" when present, else the key is
 *    skipped; "alg" when present binds the key to that algorithm: one of
 *    HS256/RS256/ES256 fitting the kty (another fitting kty is an error),
 *    any other value skips the key; keys of another kty are skipped; a JWKS
 *    left with no usable key is an error;
 *  - one or more PEM "PUBLIC KEY" blocks (RSA or EC P-256); any other PEM
 *    block is an error, never a secret;
 *  - otherwise a raw HMAC secret: the bytes, less one trailing "\n" or
 *    "\r\n".
 *
 * Key-size policy: HMAC >= 32 bytes, RSA 2048..8192 bits, EC only P-256.
 * Returns NULL on failure and writes a one-line reason into err (always
 * NUL-terminated when errlen > 0).
 */
audit_keyset_t *audit_keyset_parse(const unsigned char *data, size_t len,
    char *err, size_t errlen);

/* Reads the file (bigger than AUDIT_KEYS_FILE_MAX: error), then parses. */
audit_keyset_t *audit_keyset_load(const char *path, char *err,
    size_t errlen);

void audit_keyset_free(audit_keyset_t *ks);            /* NULL ok */
size_t audit_keyset_size(const audit_keyset_t *ks);
unsigned audit_keyset_algs(const audit_keyset_t *ks);  /* AUDIT_ALG_* */


/*
 * Maps a JWS "alg" value (len bytes, case-sensitive as RFC 7515 wants) to
 * its AUDIT_ALG_* bit, or 0 for anything else, "none" included.
 */
unsigned audit_alg_from_name(const char *name, size_t len);

/* "HS256", "RS256", "ES256", or "" for anything but one AUDIT_ALG_* bit */
const char *audit_alg_name(unsigned alg);


/*
 * Signature check for the JWS layer.  alg is one AUDIT_ALG_* bit; sig is
 * the decoded JWS signature (ES256: raw r||s).
 *
 * With a kid that names a key, only that key is used.  Without a kid, or
 * with one when no key in the set has a kid at all (a PEM file or a raw
 * secret), every key of the algorithm is tried.
 */
typedef enum {
    AUDIT_KEY_VERIFIED = 0,
    AUDIT_KEY_NOT_FOUND,        /* no key with that kid / for that alg */
    AUDIT_KEY_WRONG_ALG,        /* the kid names a key of another alg */
    AUDIT_KEY_BAD_SIGNATURE     /* also internal faults: fails closed */
} audit_key_status_t;

audit_key_status_t audit_keyset_verify(const audit_keyset_t *ks,
    unsigned alg, const char *kid, size_t kid_len, const unsigned char *in,
    size_t inlen, const unsigned char *sig, size_t siglen);

/*
 * The key selection of audit_keyset_verify() alone, for a signature the
 * caller already knows to be good: AUDIT_KEY_VERIFIED when a key would be
 * tried, else AUDIT_KEY_NOT_FOUND or AUDIT_KEY_WRONG_ALG.
 */
audit_key_status_t audit_keyset_select(const audit_keyset_t *ks,
    unsigned alg, const char *kid, size_t kid_len);


#endif /* AUDIT_KEYS_H */
