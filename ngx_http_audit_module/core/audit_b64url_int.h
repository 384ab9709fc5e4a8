/*
 * Core-internal (JWS, JWKS, the scrubber).  Strict base64url (RFC 4648
 * section 5, no padding, as JWS uses it: RFC 7515 section 2).  Decoding accepts only the canonical form, so one
 * value has exactly one encoding: no '=', no byte outside the alphabet,
 * no length of 4n+1 and no set bits in the unused tail of the last
 * character.
 */

#ifndef AUDIT_B64URL_INT_H
#define AUDIT_B64URL_INT_H


#include <stddef.h>


/* An upper bound for what decoding len characters can produce. */
#define AUDIT_B64URL_DECODED_MAX(len)  (((len) / 4) * 3 + 2)

/* The exact length of the encoding of len bytes, without the NUL. */
#define AUDIT_B64URL_ENCODED_LEN(len)                                      \
    (((len) / 3) * 4 + ((len) % 3 ? (len) % 3 + 1 : 0))


/*
 * Decodes len characters of src (no NUL needed) into dst, which has room
 * for size bytes, and stores the decoded length in *outlen.  Returns 0, or
 * -1 when src is not canonical base64url or the result does not fit; then
 * dst may hold a partial result.  An empty src decodes to 0 bytes.
 */
int audit_b64url_decode(const unsigned char *src, size_t len,
    unsigned char *dst, size_t size, size_t *outlen);

/*
 * Encodes len bytes of src into dst, which has room for size bytes, and
 * NUL-terminates it; *outlen gets the length without the NUL.  Returns 0,
 * or -1 when size is less than AUDIT_B64URL_ENCODED_LEN(len) + 1.
 */
int audit_b64url_encode(const unsigned char *src, size_t len, char *dst,
    size_t size, size_t *outlen);


#endif /* AUDIT_B64URL_INT_H */
