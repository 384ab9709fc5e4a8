-- 0009_checkpoints: signed checkpoints (docs/checkpoints.md).
--
-- With audit_checkpoint set, every nginx worker signs its own chain at
-- each interval and as it exits: a "checkpoint" event (action
-- checkpoint, stored like any other; its member "checkpoint" lands in
-- extra) names the seq and SHA-256 head of the last event it covers, the
-- count since the previous checkpoint and that checkpoint's signature,
-- signed with an Ed25519 key PostgreSQL never sees.  A rewrite of a
-- chain with recomputed hashes then no longer matches a signed head, and
-- a cut-off tail leaves a chain without its final checkpoint or with a
-- later checkpoint that names a missing one.
--
-- What this adds:
--
--   audit.ed25519_verify(public_key, message, signature): PostgreSQL has
--     no Ed25519; a C function from pg/ (audit_ed25519.so, built by `make
--     build` from the module's core with OpenSSL).  Creating a C function
--     takes a superuser and the library in the server's
--     dynamic_library_path (default: `pg_config --pkglibdir`).  Without
--     either, the migration still applies and the function raises an
--     error naming what is missing; `SELECT audit.ed25519_install()` as a
--     superuser, once the library is there, puts the real one in place.
--   audit.checkpoint_keys: the public keys, with validity intervals
--     (rotation); audit.add_checkpoint_key(pem, valid_from, valid_until).
--   audit.verify_checkpoints(since, as_of): per producer, what is signed
--     and what is wrong.

SET LOCAL client_min_messages = warning;


-- ---------------------------------------------------------------------------
-- Ed25519
-- ---------------------------------------------------------------------------

CREATE FUNCTION audit.ed25519_install()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, audit, pg_temp
AS $fn$
BEGIN
    BEGIN
        CREATE OR REPLACE FUNCTION audit.ed25519_verify(public_key bytea, message bytea, signature bytea)
        RETURNS boolean
        AS 'audit_ed25519', 'audit_pg_ed25519_verify'
        LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
    EXCEPTION WHEN undefined_file OR insufficient_privilege OR undefined_function THEN
        -- no library, or not a superuser: an honest stand-in that refuses
        CREATE OR REPLACE FUNCTION audit.ed25519_verify(public_key bytea, message bytea, signature bytea)
        RETURNS boolean
        LANGUAGE plpgsql IMMUTABLE STRICT
        AS $refuse$
        BEGIN
            RAISE EXCEPTION 'audit.ed25519_verify() is not installed: checkpoint signatures cannot be checked here'
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'put audit_ed25519.so (make build: build/pg/) into the server''s dynamic_library_path, '
                             'then SELECT audit.ed25519_install() as a superuser; or verify offline with audit-verify';
        END
        $refuse$;
        RETURN 'stand-in: ' || SQLERRM;
    END;
    RETURN 'installed';
END
$fn$;
COMMENT ON FUNCTION audit.ed25519_install() IS
    'Creates audit.ed25519_verify() from the C library audit_ed25519 (pg/), or a stand-in that raises when the library '
    'is missing or the caller is no superuser; returns which';

SELECT audit.ed25519_install();

COMMENT ON FUNCTION audit.ed25519_verify(bytea, bytea, bytea) IS
    'Ed25519 (RFC 8032): true when signature (64 bytes) is public_key''s (32 raw bytes) signature of message';
GRANT EXECUTE ON FUNCTION audit.ed25519_verify(bytea, bytea, bytea) TO audit_reader;


-- ---------------------------------------------------------------------------
-- Public keys
-- ---------------------------------------------------------------------------

CREATE TABLE audit.checkpoint_keys (
    kid             text        PRIMARY KEY,
    public_key      bytea       NOT NULL UNIQUE CHECK (length(public_key) = 32),
    valid_from      timestamptz NOT NULL DEFAULT '-infinity',
    valid_until     timestamptz,
    note            text,
    added           timestamptz NOT NULL DEFAULT now(),
    CHECK (kid = left(encode(sha256(public_key), 'hex'), 16)),
    CHECK (valid_until IS NULL OR valid_until > valid_from)
);
COMMENT ON TABLE audit.checkpoint_keys IS
    'Ed25519 public keys of audit_checkpoint: a checkpoint verifies with the key of its kid valid at its ts '
    '(valid_from <= ts < valid_until; NULL: still valid). kid: the first 16 hex digits of SHA-256 of the raw key.';

CREATE FUNCTION audit.add_checkpoint_key(pem text, valid_from timestamptz DEFAULT '-infinity',
                                         valid_until timestamptz DEFAULT NULL, note text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, audit, pg_temp
AS $fn$
DECLARE
    der  bytea;
    raw  bytea;
    kid  text;
BEGIN
    -- SubjectPublicKeyInfo of an Ed25519 key: a fixed 12-byte prefix, then the key
    der := decode(regexp_replace(pem, '-----(BEGIN|END) PUBLIC KEY-----|\s', '', 'g'), 'base64');
    IF length(der) <> 44 OR substring(der FROM 1 FOR 12) <> '\x302a300506032b6570032100'::bytea THEN
        RAISE EXCEPTION 'not an Ed25519 public key in PEM ("BEGIN PUBLIC KEY")'
            USING HINT = 'openssl pkey -in checkpoint.key -pubout';
    END IF;
    raw := substring(der FROM 13 FOR 32);
    kid := left(encode(sha256(raw), 'hex'), 16);
    INSERT INTO audit.checkpoint_keys AS k (kid, public_key, valid_from, valid_until, note)
    VALUES (kid, raw, coalesce($2, '-infinity'), $3, $4)
    ON CONFLICT ON CONSTRAINT checkpoint_keys_pkey DO UPDATE
       SET valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until,
           note = coalesce(EXCLUDED.note, k.note);
    RETURN kid;
END
$fn$;
COMMENT ON FUNCTION audit.add_checkpoint_key(text, timestamptz, timestamptz, text) IS
    'Registers (or re-dates) an Ed25519 public key from its PEM; returns its kid. Owner only.';


-- ---------------------------------------------------------------------------
-- Verification
-- ---------------------------------------------------------------------------

CREATE FUNCTION audit.verify_checkpoints(since timestamptz DEFAULT NULL, as_of timestamptz DEFAULT now())
RETURNS TABLE (producer text, events bigint, first_seq bigint, last_seq bigint, checkpoints bigint,
               verified_seq bigint, verified_at timestamptz, unsigned_tail bigint, closed boolean,
               missing bigint, broken_links bigint[], bad_signatures bigint[], unknown_keys bigint[],
               rewritten bigint[], checkpoint_links bigint[], missing_intervals text[], ok boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, audit, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    r           record;
    j           jsonb;
    c           jsonb;
    cur         text;
    expect      bigint;
    prev_seq    bigint;
    prev_hash   text;
    clean       boolean;
    good        boolean;
    has_last    boolean;
    last_sig    text;
    last_cseq   bigint;
    last_ts     timestamptz;
    last_ivl    bigint;
    last_final  boolean;
    ver_ev_seq  bigint;
    cseq        bigint;
    cts         timestamptz;
    key         bytea;
    msg         text;
    tail_ts     timestamptz;
    tail_max    timestamptz;
    any_ivl     bigint;
BEGIN
    -- the interval of a chain that has no checkpoint left: the longest
    -- any checkpoint names
    SELECT max(substring(e.line FROM '"checkpoint":\{[^}]*"interval":([0-9]+)')::bigint) INTO any_ivl
    FROM audit.events e
    WHERE e.action = 'checkpoint' AND e.ts >= coalesce(since, '-infinity');

    -- one walk per producer in seq order, as audit-verify does
    -- (core/audit_verify.c); a NULL producer at the end closes the last
    FOR r IN
        SELECT * FROM (
            SELECT e.producer AS p, e.seq AS s, e.line,
                   encode(sha256(convert_to(e.line, 'UTF8')), 'hex') AS hash
            FROM audit.events e
            WHERE e.producer IS NOT NULL AND e.seq IS NOT NULL
              AND e.ts >= coalesce(since, '-infinity')
            UNION ALL
            SELECT NULL, NULL, NULL, NULL
        ) x
        ORDER BY x.p NULLS LAST, x.s, x.hash
    LOOP
        IF cur IS DISTINCT FROM r.p THEN
            IF cur IS NOT NULL THEN
                producer := cur;
                last_seq := prev_seq;
                unsigned_tail := CASE WHEN verified_seq IS NULL THEN events ELSE last_seq - ver_ev_seq END;
                closed := verified_seq IS NOT NULL AND unsigned_tail = 0 AND last_final;
                -- an open chain is as old as its oldest unsigned row (or its
                -- last checkpoint): older than two intervals, the
                -- checkpoints that should have come are missing
                SELECT min(e.ts), max(e.ts) INTO tail_ts, tail_max FROM audit.events e
                WHERE e.producer = cur AND e.seq > coalesce(ver_ev_seq, -1)
                  AND e.ts >= coalesce(since, '-infinity');
                -- an unsigned row is signed within an interval of the
                -- checkpoint before it, which comes within two: a later
                -- one (a forged tail), or a chain with no checkpoint
                -- spanning more than one interval, is not what the
                -- module wrote (audit-verify -o: audit_verify_silent())
                IF NOT closed AND verified_seq IS NOT NULL
                   AND tail_max > verified_at + 2 * last_ivl * interval '1 millisecond'
                THEN
                    missing_intervals := missing_intervals
                        || format('unsigned: a row at %s, more than two intervals after the checkpoint at %s',
                                  tail_max, verified_at);
                ELSIF NOT closed AND checkpoints = 0
                      AND tail_max > tail_ts + coalesce(any_ivl, 0) * interval '1 millisecond'
                THEN
                    missing_intervals := missing_intervals
                        || format('no checkpoint: rows from %s to %s, more than one interval', tail_ts, tail_max);
                END IF;
                tail_ts := coalesce(tail_ts, last_ts);
                IF NOT closed AND tail_ts IS NOT NULL
                   AND as_of > tail_ts + 2 * coalesce(last_ivl, any_ivl, 0) * interval '1 millisecond'
                THEN
                    missing_intervals := missing_intervals
                        || format('silent: no checkpoint since %s (seq %s on unsigned)', tail_ts,
                                  coalesce(ver_ev_seq + 1, first_seq));
                END IF;
                ok := missing = 0 AND cardinality(broken_links) = 0 AND cardinality(bad_signatures) = 0
                      AND cardinality(unknown_keys) = 0 AND cardinality(rewritten) = 0
                      AND cardinality(checkpoint_links) = 0 AND cardinality(missing_intervals) = 0;
                RETURN NEXT;
            END IF;
            EXIT WHEN r.p IS NULL;

            cur := r.p;
            events := 0; first_seq := r.s; checkpoints := 0; missing := 0;
            verified_seq := NULL; verified_at := NULL; ver_ev_seq := NULL;
            broken_links := '{}'; bad_signatures := '{}'; unknown_keys := '{}'; rewritten := '{}';
            checkpoint_links := '{}'; missing_intervals := '{}';
            expect := CASE WHEN since IS NULL THEN 0 ELSE r.s END;
            prev_seq := NULL; prev_hash := NULL; clean := true;
            has_last := false; last_sig := NULL; last_final := false; last_ivl := NULL; last_ts := NULL;
        END IF;

        -- the same seq twice: another line in its place
        IF r.s = prev_seq THEN
            broken_links := broken_links || r.s;
            clean := false;
            CONTINUE;
        END IF;

        events := events + 1;

        BEGIN
            j := r.line::jsonb;
        EXCEPTION WHEN OTHERS THEN
            j := NULL;
        END;

        IF r.s <> expect THEN
            missing := missing + (r.s - expect);
            clean := false;
        ELSIF j IS NULL
              OR (prev_hash IS NULL AND since IS NULL AND jsonb_typeof(j->'prev') IS DISTINCT FROM 'null')
              OR (prev_hash IS NOT NULL AND (j->>'prev') IS DISTINCT FROM prev_hash)
        THEN
            broken_links := broken_links || r.s;
            clean := false;
        END IF;

        c := j->'checkpoint';

        IF c IS NOT NULL OR (j->>'action') = 'checkpoint' THEN
            checkpoints := checkpoints + 1;
            good := true;

            -- the ts exactly as the module writes it, read once: the
            -- signed text and the time the key's validity is checked at
            -- are the same (no fourth digit, leap second or 31 February;
            -- core/audit_verify.c's audit_verify_ts())
            cts := NULL;
            IF (j->>'ts') ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' THEN
                BEGIN
                    cts := (j->>'ts')::timestamptz;
                EXCEPTION WHEN OTHERS THEN
                    cts := NULL;
                END;
                IF cts < '1970-01-01T00:00:00Z'
                   OR to_char(cts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') <> (j->>'ts')
                THEN
                    cts := NULL;
                END IF;
            END IF;

            -- only the members the module writes in a checkpoint line
            -- (core/audit_event.c), each once: the signature covers the
            -- canonical fields only and nothing covers the final line
            IF (j->>'action') IS DISTINCT FROM 'checkpoint'
               OR jsonb_typeof(j->'id') IS DISTINCT FROM 'string'
               OR jsonb_typeof(j->'severity') IS DISTINCT FROM 'string'
               OR EXISTS (SELECT 1 FROM jsonb_object_keys(j) k
                          WHERE k NOT IN ('id', 'ts', 'action', 'severity', 'producer', 'seq', 'prev',
                                          'after', 'checkpoint'))
               OR (jsonb_typeof(c) = 'object'
                   AND EXISTS (SELECT 1 FROM jsonb_object_keys(c) k
                               WHERE k NOT IN ('seq', 'head', 'count', 'prev_sig', 'interval', 'final',
                                               'kid', 'sig')))
               OR (SELECT count(*) FROM json_object_keys(r.line::json)) <> (SELECT count(*) FROM jsonb_object_keys(j))
               OR (jsonb_typeof(c) = 'object'
                   AND (SELECT count(*) FROM json_object_keys(r.line::json->'checkpoint'))
                       <> (SELECT count(*) FROM jsonb_object_keys(c)))
            THEN
                cts := NULL;
            END IF;

            IF jsonb_typeof(c) IS DISTINCT FROM 'object'
               OR jsonb_typeof(c->'seq') IS DISTINCT FROM 'number'
               OR jsonb_typeof(c->'count') IS DISTINCT FROM 'number'
               OR jsonb_typeof(c->'interval') IS DISTINCT FROM 'number'
               OR jsonb_typeof(c->'final') IS DISTINCT FROM 'boolean'
               OR (c->>'seq') !~ '^[0-9]+$' OR (c->>'count') !~ '^[0-9]+$' OR (c->>'interval') !~ '^[0-9]+$'
               OR coalesce(c->>'head', '') !~ '^[0-9a-f]{64}$'
               OR coalesce(c->>'sig', '') !~ '^[0-9a-f]{128}$'
               OR coalesce(c->>'kid', '') !~ '^[0-9a-f]{16}$'
               OR NOT (jsonb_typeof(c->'prev_sig') = 'null' OR (c->>'prev_sig') ~ '^[0-9a-f]{128}$')
               OR cts IS NULL
            THEN
                bad_signatures := bad_signatures || r.s;
                clean := false;
            ELSE
                cseq := (c->>'seq')::bigint;

                -- the documented canonical string (core/audit_checkpoint.h)
                msg := 'audit-checkpoint-v1' || E'\n'
                    || 'producer=' || (j->>'producer') || E'\n'
                    || 'seq=' || (c->>'seq') || E'\n'
                    || 'head=' || (c->>'head') || E'\n'
                    || 'count=' || (c->>'count') || E'\n'
                    || 'prev_sig=' || coalesce(c->>'prev_sig', '') || E'\n'
                    || 'ts=' || (j->>'ts') || E'\n'
                    || 'interval=' || (c->>'interval') || E'\n'
                    || 'final=' || CASE WHEN (c->'final')::boolean THEN '1' ELSE '0' END || E'\n'
                    || 'kid=' || (c->>'kid') || E'\n';

                SELECT k.public_key INTO key
                FROM audit.checkpoint_keys k
                WHERE k.kid = c->>'kid' AND k.valid_from <= cts
                  AND (k.valid_until IS NULL OR cts < k.valid_until);

                IF key IS NULL THEN
                    unknown_keys := unknown_keys || r.s;
                    good := false;
                ELSIF (j->>'producer') ~ '[\x01-\x1f\x7f]'
                      OR NOT audit.ed25519_verify(key, convert_to(msg, 'UTF8'), decode(c->>'sig', 'hex'))
                THEN
                    bad_signatures := bad_signatures || r.s;
                    good := false;
                END IF;

                -- it covers the event just before it, whose line is its head
                IF cseq <> r.s - 1 OR (j->>'prev') IS DISTINCT FROM (c->>'head')
                   OR (prev_seq = cseq AND prev_hash <> (c->>'head'))
                THEN
                    rewritten := rewritten || cseq;
                    good := false;
                END IF;

                IF has_last THEN
                    IF (c->>'prev_sig') IS DISTINCT FROM last_sig THEN
                        checkpoint_links := checkpoint_links || r.s;
                        good := false;
                    ELSIF (c->>'count')::bigint <> cseq - (last_cseq + 1) THEN
                        rewritten := rewritten || r.s;
                        good := false;
                    END IF;
                    IF cts > last_ts + 2 * last_ivl * interval '1 millisecond' THEN
                        missing_intervals := missing_intervals
                            || format('seq %s-%s: no checkpoint from %s to %s', last_cseq + 2, r.s, last_ts, cts);
                        good := false;
                    END IF;
                ELSIF since IS NULL
                      AND (jsonb_typeof(c->'prev_sig') <> 'null' OR (c->>'count')::bigint <> cseq + 1)
                THEN
                    -- the chain's first checkpoint here names one that is not
                    checkpoint_links := checkpoint_links || r.s;
                    good := false;
                END IF;

                IF NOT good THEN
                    clean := false;
                ELSIF clean THEN
                    verified_seq := cseq;
                    verified_at := cts;
                    ver_ev_seq := r.s;
                END IF;

                has_last := true;
                last_sig := c->>'sig';
                last_cseq := cseq;
                last_ts := cts;
                last_ivl := (c->>'interval')::bigint;
                last_final := (c->'final')::boolean;
            END IF;
        END IF;

        expect := r.s + 1;
        prev_seq := r.s;
        prev_hash := r.hash;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION audit.verify_checkpoints(timestamptz, timestamptz) IS
    'Checks the signed checkpoints of every chain (rows at or after since; NULL: all, from seq 0) as of as_of: '
    'verified_seq/verified_at: the last event a valid checkpoint covers with nothing wrong before it; unsigned_tail: '
    'events after that checkpoint; closed: the chain ends with its final checkpoint; missing: seqs absent; '
    'broken_links: seqs whose prev is not the SHA-256 of the line before (or a seq twice); bad_signatures, '
    'unknown_keys (no key of that kid valid at its ts): checkpoint seqs; rewritten: signed heads (or counts) the rows '
    'do not match; checkpoint_links: checkpoints not naming the previous one (one deleted); missing_intervals: '
    'checkpoints more than two intervals apart, or an open chain silent for longer (truncation or a silenced worker), '
    'or with an unsigned row later than that after its checkpoint, or with none and rows spanning more than one. '
    'ok: none of these. docs/checkpoints.md.';

REVOKE ALL ON FUNCTION audit.verify_checkpoints(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.verify_checkpoints(timestamptz, timestamptz) TO audit_reader;
REVOKE ALL ON FUNCTION audit.add_checkpoint_key(text, timestamptz, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.ed25519_install() FROM PUBLIC;
