-- 0004_chain_tail: audit.verify_chain() also sees the lost tail of a chain.
--
-- A worker's first event names the chain its slot produced before, and
-- that chain's last seq: "after": "web1/1763866800123/0:41" (in extra).
-- When the rows of that chain stop before seq 41, the events after the
-- last row are missing: a worker killed with events still in memory (the
-- module counts them as well: "events_lost" in audit_status and the
-- error log), or rows deleted from the end.  Until now the end of a chain
-- left no trace.
--
-- The per-row checks stay in the function of 0001, renamed; the new
-- audit._verify_chain() adds, per producer, the seq named by later
-- chains beyond its last row, and reports a chain named but without any
-- row (every one of its events lost).

SET LOCAL client_min_messages = warning;

ALTER FUNCTION audit._verify_chain(timestamptz, boolean) RENAME TO _verify_chain_rows;
COMMENT ON FUNCTION audit._verify_chain_rows(timestamptz, boolean) IS
    'audit._verify_chain()''s per-row checks (gaps between rows, links, tampering); safe: parse lines with '
    'audit.try_event_from_line()';

CREATE FUNCTION audit._verify_chain(since timestamptz, safe boolean)
RETURNS SETOF audit.chain_report
LANGUAGE sql STABLE
AS $fn$
    WITH rows AS (
        SELECT * FROM audit._verify_chain_rows($1, $2)
    ), named AS (
        -- the last seq of each chain, as the chains after it name it
        SELECT m[1] AS producer, max(m[2]::bigint) AS last_seq
        FROM audit.events e
        CROSS JOIN LATERAL regexp_match(e.extra->>'after', '^(.+):([0-9]+)$') m
        WHERE e.extra ? 'after'
          AND e.ts >= coalesce($1, '-infinity')
        GROUP BY m[1]
    ), tail AS (
        -- a chain named but without rows since "since": its rows before
        -- count (or none at all: seq 0 on are missing)
        SELECT coalesce(r.producer, n.producer) AS producer, r AS report,
               coalesce(r.last_seq,
                        (SELECT max(e.seq) FROM audit.events e
                         WHERE e.producer = n.producer), -1) + 1 AS tail_from,
               n.last_seq AS tail_to
        FROM rows r
        FULL JOIN named n ON n.producer = r.producer
    )
    SELECT t.producer,
           coalesce((t.report).events, 0),
           (t.report).first_seq,
           t.tail_from - 1,
           coalesce((t.report).missing, 0)
             + CASE WHEN t.tail_to >= t.tail_from THEN t.tail_to - t.tail_from + 1 ELSE 0 END,
           coalesce((t.report).gaps, '{}')
             || CASE WHEN t.tail_to > t.tail_from THEN ARRAY[t.tail_from || '-' || t.tail_to]
                     WHEN t.tail_to = t.tail_from THEN ARRAY[t.tail_from::text]
                     ELSE '{}'::text[] END,
           coalesce((t.report).reordered, '{}'),
           coalesce((t.report).broken_links, '{}'),
           coalesce((t.report).tampered, '{}'),
           coalesce((t.report).ok, true) AND NOT coalesce(t.tail_to >= t.tail_from, false)
    FROM tail t
    WHERE (t.report).producer IS NOT NULL OR t.tail_to >= t.tail_from
    ORDER BY t.producer
$fn$;
COMMENT ON FUNCTION audit._verify_chain(timestamptz, boolean) IS
    'audit.verify_chain()''s query: audit._verify_chain_rows() and the lost tails the "after" links show';

COMMENT ON FUNCTION audit.verify_chain(timestamptz) IS
    'Checks the tamper-evident chains: per producer, from its first row at or after since (NULL: every row, and each chain '
    'must then start at seq 0), gaps in seq (lost or deleted rows), reordered rows (informational), broken links '
    '(prev is not the SHA-256 of the previous line: an edited line) and tampered rows (columns edited, or a line edited). '
    'The end of a chain is checked against the last seq the next chain of its worker slot names ("after"): a lost tail is '
    'a gap; a chain named but without rows is reported with events 0 (last_seq -1 when it has no row at all). '
    'See audit.chain_report for the columns.';

REVOKE ALL ON FUNCTION audit._verify_chain(timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit._verify_chain(timestamptz, boolean) TO audit_reader;
