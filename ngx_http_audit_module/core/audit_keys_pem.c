
/*
 * Key sets that are not JSON: PEM "PUBLIC KEY" blocks, and a raw HMAC
 * secret when nothing looks like a key format.  A public key in another
 * dress (bare base64 DER, as identity providers show a realm's key, or an
 * OpenSSH line) is refused rather than taken as a secret: anyone holding
 * the public key could then sign HS256 tokens.
 */


#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit_keys.h"
#include "audit_keys_int.h"
#include "audit_b64url_int.h"


static const unsigned char *audit_keys_memstr(const unsigned char *s,
    size_t len, const char *needle);
static int audit_keys_is_der_pubkey(const unsigned char *data, size_t len);


static const char  audit_pem_begin[] = "-----BEGIN ";
static const char  audit_pem_pubkey[] = "-----BEGIN PUBLIC KEY-----";
static const char  audit_pem_end[] = "-----END PUBLIC KEY-----";


int
audit_keys_is_pem(const unsigned char *data, size_t len)
{
    return audit_keys_memstr(data, len, audit_pem_begin) != NULL;
}


int
audit_keys_parse_pem(audit_keys_parse_t *p, const unsigned char *data,
    size_t len)
{
    BIO                  *bio;
    size_t                rest, block;
    unsigned              alg;
    EVP_PKEY             *pkey;
    const unsigned char  *pos, *last, *begin, *end;

    pos = data;
    last = data + len;
    p->what = "PEM key";

    for ( ;; ) {
        rest = (size_t) (last - pos);

        begin = audit_keys_memstr(pos, rest, audit_pem_begin);
        if (begin == NULL) {
            break;
        }

        p->index++;
        rest = (size_t) (last - begin);

        if (rest < sizeof(audit_pem_pubkey) - 1
            || memcmp(begin, audit_pem_pubkey, sizeof(audit_pem_pubkey) - 1)
               != 0)
        {
            audit_keys_fail(p, "only \"PUBLIC KEY\" PEM blocks are accepted");
            return -1;
        }

        end = audit_keys_memstr(begin, rest, audit_pem_end);
        if (end == NULL) {
            audit_keys_fail(p, "no \"%s\" line", audit_pem_end);
            return -1;
        }

        block = (size_t) (end - begin) + sizeof(audit_pem_end) - 1;

        bio = BIO_new_mem_buf(begin, (int) block);
        pkey = (bio != NULL) ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)
                             : NULL;
        BIO_free(bio);

        if (pkey == NULL) {
            audit_keys_fail(p, "invalid public key");
            return -1;
        }

        alg = audit_keys_pkey_alg(p, pkey);
        if (alg == 0) {
            EVP_PKEY_free(pkey);
            return -1;
        }

        if (audit_keys_add(p, alg, NULL, 0, NULL, pkey) != 0) {
            return -1;
        }

        pos = end + sizeof(audit_pem_end) - 1;
    }

    p->what = NULL;

    return 0;
}


int
audit_keys_parse_secret(audit_keys_parse_t *p, const unsigned char *data,
    size_t len)
{
    EVP_MAC_CTX  *mac;

    /* editors add a final newline; the secret does not include it */
    if (len >= 1 && data[len - 1] == '\n') {
        len--;

        if (len >= 1 && data[len - 1] == '\r') {
            len--;
        }
    }

    if ((len >= 4 && memcmp(data, "ssh-", 4) == 0)
        || (len >= 6 && memcmp(data, "ecdsa-", 6) == 0))
    {
        audit_keys_fail(p, "an OpenSSH public key is not an HMAC secret: "
                        "use a PEM \"PUBLIC KEY\" block or a JWKS");
        return -1;
    }

    if (audit_keys_is_der_pubkey(data, len)) {
        audit_keys_fail(p, "a base64 public key (SubjectPublicKeyInfo) is "
                        "not an HMAC secret: put it between \"-----BEGIN "
                        "PUBLIC KEY-----\" and \"-----END PUBLIC KEY-----\" "
                        "lines, or use a JWKS");
        return -1;
    }

    mac = audit_keys_hmac_new(p, data, len);
    if (mac == NULL) {
        return -1;
    }

    return audit_keys_add(p, AUDIT_ALG_HS256, NULL, 0, mac, NULL);
}


static const unsigned char *
audit_keys_memstr(const unsigned char *s, size_t len, const char *needle)
{
    size_t  n, i;

    n = strlen(needle);

    for (i = 0; n <= len && i <= len - n; i++) {
        if (s[i] == (unsigned char) needle[0]
            && memcmp(s + i, needle, n) == 0)
        {
            return s + i;
        }
    }

    return NULL;
}


/*
 * Base64 (standard or URL-safe alphabet, padded or not, line breaks
 * allowed) that decodes to a DER SubjectPublicKeyInfo OpenSSL can read:
 * written in the URL-safe alphabet without padding, for the decoder JWKS
 * keys use
 */

static int
audit_keys_is_der_pubkey(const unsigned char *data, size_t len)
{
    int                   found;
    size_t                i, m, n;
    EVP_PKEY             *pkey;
    unsigned char        *b64, *der;
    const unsigned char  *q;

    b64 = malloc(len + 1);
    der = malloc(AUDIT_B64URL_DECODED_MAX(len) + 1);

    if (b64 == NULL || der == NULL) {
        free(b64);
        free(der);
        return 0;
    }

    found = 0;

    for (i = 0, m = 0; i < len; i++) {

        switch (data[i]) {

        case '\r': case '\n': case ' ': case '\t': case '=':
            continue;

        case '+': case '-':
            b64[m++] = '-';
            continue;

        case '/': case '_':
            b64[m++] = '_';
            continue;
        }

        if (!((data[i] >= 'A' && data[i] <= 'Z')
              || (data[i] >= 'a' && data[i] <= 'z')
              || (data[i] >= '0' && data[i] <= '9')))
        {
            goto done;
        }

        b64[m++] = data[i];
    }

    /* an SPKI starts with a SEQUENCE: "MI" or "MF" in base64 */

    if (m < 8 || b64[0] != 'M'
        || audit_b64url_decode(b64, m, der, AUDIT_B64URL_DECODED_MAX(len) + 1,
                               &n)
           != 0)
    {
        goto done;
    }

    q = der;
    pkey = d2i_PUBKEY(NULL, &q, (long) n);

    if (pkey != NULL) {
        EVP_PKEY_free(pkey);
        found = 1;
    }

done:

    free(b64);
    free(der);

    return found;
}
