/*
 * audit_ed25519: PostgreSQL has no Ed25519, so this small C library gives
 * it one function, built from the module's core (audit_ed25519.c, OpenSSL
 * 3):
 *
 *     audit.ed25519_verify(public_key bytea, message bytea,
 *                          signature bytea) RETURNS boolean
 *
 * true when signature (64 bytes) is public_key's (32 raw bytes) Ed25519
 * signature of message; false otherwise, also for wrong sizes.  Created
 * by sql/migrations/0008_checkpoints.sql (docs/checkpoints.md).
 */

#include "postgres.h"

#include "fmgr.h"

#include "audit_ed25519.h"


PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(audit_pg_ed25519_verify);


Datum
audit_pg_ed25519_verify(PG_FUNCTION_ARGS)
{
    bytea  *pub, *msg, *sig;

    pub = PG_GETARG_BYTEA_PP(0);
    msg = PG_GETARG_BYTEA_PP(1);
    sig = PG_GETARG_BYTEA_PP(2);

    PG_RETURN_BOOL(audit_ed25519_verify(
        (const unsigned char *) VARDATA_ANY(pub), VARSIZE_ANY_EXHDR(pub),
        (const unsigned char *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg),
        (const unsigned char *) VARDATA_ANY(sig), VARSIZE_ANY_EXHDR(sig)));
}
