
/*
 * Plain Ed25519 verification (see audit_ed25519.h): OpenSSL 3's EVP
 * one-shot interface, with no digest (Ed25519 hashes the message itself).
 */


#include <openssl/evp.h>

#include "audit_ed25519.h"


int
audit_ed25519_verify(const unsigned char *pub, size_t publen,
    const unsigned char *msg, size_t len, const unsigned char *sig,
    size_t siglen)
{
    int          rc;
    EVP_PKEY    *pkey;
    EVP_MD_CTX  *md;

    if (publen != 32 || siglen != 64) {
        return 0;
    }

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, publen);
    if (pkey == NULL) {
        return 0;
    }

    md = EVP_MD_CTX_new();

    rc = md != NULL
         && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1
         && EVP_DigestVerify(md, sig, siglen, msg, len) == 1;

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);

    return rc;
}
