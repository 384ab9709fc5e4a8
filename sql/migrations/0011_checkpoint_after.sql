-- 0011_checkpoint_after: audit.verify_checkpoints() also sees a chain
-- deleted whole.
--
-- The first event of each chain names the chain before it in its worker
-- slot, "after": "host/start/slot:seq" (in extra), and that event is
-- covered by its own chain's checkpoints.  A chain deleted with all its
-- rows, checkpoints included (a superuser removing who looked at a record
-- before a reload), left no row of its own to judge: 0009's function
-- reported nothing, while audit.verify_chain() (0004) and audit-verify
-- show the gap.  The per-row walk of 0009 stays, renamed; the function of
-- that name now adds, per producer, the seq the next chain names beyond
-- its last row, and a chain named but without any row (events 0).  Only
-- a chain's first event (seq 0) names another.

SET LOCAL client_min_messages = warning;

ALTER FUNCTION audit.verify_checkpoints(timestamptz, timestamptz) RENAME TO _verify_checkpoints_rows;
COMMENT ON FUNCTION audit._verify_checkpoints_rows(timestamptz, timestamptz) IS
    'audit.verify_checkpoints()''s walk of the rows, one producer at a time';

CREATE FUNCTION audit.verify_checkpoints(since timestamptz DEFAULT NULL, as_of timestamptz DEFAULT now())
RETURNS TABLE (producer text, events bigint, first_seq bigint, last_seq bigint, checkpoints bigint,
               verified_seq bigint, verified_at timestamptz, unsigned_tail bigint, closed boolean,
               missing bigint, broken_links bigint[], bad_signatures bigint[], unknown_keys bigint[],
               rewritten bigint[], checkpoint_links bigint[], missing_intervals text[], ok boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, audit, pg_temp
AS $fn$
    WITH walked AS (
        SELECT * FROM audit._verify_checkpoints_rows($1, $2)
    ), named AS (
        -- the last seq of each chain, as the chain after it names it
        SELECT m[1] AS producer, max(m[2]::bigint) AS named_seq
        FROM audit.events e
        CROSS JOIN LATERAL regexp_match(e.extra->>'after', '^(.+):([0-9]+)$') m
        WHERE e.extra ? 'after' AND e.seq = 0
          AND e.ts >= coalesce($1, '-infinity')
        GROUP BY m[1]
    ), joined AS (
        -- what is there of a named chain: since "since", or before it
        SELECT coalesce(w.producer, n.producer) AS producer, w AS report, n.named_seq,
               coalesce(w.last_seq,
                        (SELECT max(e.seq) FROM audit.events e WHERE e.producer = n.producer),
                        -1) AS have_seq
        FROM walked w
        FULL JOIN named n ON n.producer = w.producer
    )
    SELECT j.producer,
           coalesce((j.report).events, 0),
           (j.report).first_seq,
           j.have_seq,
           coalesce((j.report).checkpoints, 0),
           (j.report).verified_seq,
           (j.report).verified_at,
           coalesce((j.report).unsigned_tail, 0),
           coalesce((j.report).closed, false),
           coalesce((j.report).missing, 0) + greatest(coalesce(j.named_seq, -1) - j.have_seq, 0),
           coalesce((j.report).broken_links, '{}'),
           coalesce((j.report).bad_signatures, '{}'),
           coalesce((j.report).unknown_keys, '{}'),
           coalesce((j.report).rewritten, '{}'),
           coalesce((j.report).checkpoint_links, '{}'),
           coalesce((j.report).missing_intervals, '{}'),
           coalesce((j.report).ok, true) AND NOT coalesce(j.named_seq > j.have_seq, false)
    FROM joined j
    WHERE (j.report).producer IS NOT NULL OR j.named_seq > j.have_seq
    ORDER BY j.producer
$fn$;
COMMENT ON FUNCTION audit.verify_checkpoints(timestamptz, timestamptz) IS
    'Checks the signed checkpoints of every chain (rows at or after since; NULL: all, from seq 0) as of as_of: '
    'verified_seq/verified_at: the last event a valid checkpoint covers with nothing wrong before it; unsigned_tail: '
    'events after that checkpoint; closed: the chain ends with its final checkpoint; missing: seqs absent, also those '
    'the next chain of the worker slot names ("after") beyond the last row, and a chain named but without rows '
    '(events 0); broken_links: seqs whose prev is not the SHA-256 of the line before (or a seq twice); '
    'bad_signatures, unknown_keys (no key of that kid valid at its ts): checkpoint seqs; rewritten: signed heads (or '
    'counts) the rows do not match; checkpoint_links: checkpoints not naming the previous one (one deleted); '
    'missing_intervals: checkpoints more than two intervals apart, or an open chain silent for longer (truncation or a '
    'silenced worker), or with an unsigned row later than that after its checkpoint, or with none and rows spanning '
    'more than one. ok: none of these. docs/checkpoints.md.';

REVOKE ALL ON FUNCTION audit.verify_checkpoints(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.verify_checkpoints(timestamptz, timestamptz) TO audit_reader;
