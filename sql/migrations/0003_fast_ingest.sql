-- 0003_fast_ingest: audit.ingest() several times faster (issue 6).
--
-- Same contract (per connection the temporary audit_staging (line text),
-- per batch COPY then SELECT audit.ingest(), bigint rows inserted), same
-- guarantees (a replay adds nothing, also from two connections at once;
-- a bad line goes to audit.rejected_lines; every stored failure counts
-- once in audit.error_groups; every column is what event_from_line()
-- makes of the line, so verify_chain() is unchanged).  Backend CPU per
-- event, 1000-line batches, this 2-core machine: ~80 us before, 21-31 us
-- after (docs/benchmarks.md, "Ingest").  What changes:
--
-- 0. 0001's whole-batch INSERT never ran: "SELECT e.* ... event_from_line()
--    e" also names the PL/pgSQL variable e, PostgreSQL refused it as
--    ambiguous, the exception block swallowed that, and every batch went
--    line by line (a subtransaction, a partition check and an INSERT per
--    line).  Here the batch statements use other names (and t/30-sql.t
--    checks that a batch takes no subtransaction per line).
--
-- 1. The usual batch (nothing in it stored yet) is a plain INSERT: no
--    speculative insertion per row.  The unique index (id, ts) still
--    refuses a duplicate: a replay (the batch, or part of it, already
--    stored, or being stored right now by another connection, whose
--    commit the INSERT waits for) raises unique_violation, which rolls
--    the attempt back; the batch then goes again with ON CONFLICT DO
--    NOTHING, as before.  A replay costs about what it did; a new batch
--    no longer pays for the check per row.
--
-- 2. Failures are counted per batch, not per row: the INSERT returns what
--    it stored and the same statement adds each fingerprint's count with
--    one upsert of audit.error_groups (fingerprints in order, so two
--    batches lock their groups in the same order).  Rows an INSERT does
--    not store (a replay) are not returned, so are not counted; the
--    trigger of 0002 goes.  A row inserted into audit.events other than
--    by audit.ingest() (by hand, as the owner) is no longer counted.
--
-- 3. Indexes: only those the query functions use.  (action, ts) and
--    (ip, ts) WHERE login_failure go (failed_logins reads the new (ts)
--    WHERE login_failure), (resource_type, resource_id, ts) becomes
--    partial (WHERE record_access: what record_history reads).  The
--    primary key, (user_id, ts) (user_activity) and (producer, seq)
--    (verify_chain) stay.  An event other than a failed login or a record
--    access now updates 3 indexes instead of 6.  Building the two new
--    indexes locks audit.events against inserts while it runs (ingest
--    waits; nginx spools meanwhile): on a large table apply this
--    migration in a quiet hour.
--
-- 4. A batch attempt gives up at once on an error that is not about the
--    lines (not SQLSTATE class 22 or 23: a deadlock, a lock timeout, a
--    full disk) instead of trying again line by line: the batch fails, to
--    be sent again, as documented.  A bad line (class 22, or 23502: no
--    id/ts/action) sends the batch line by line as before.
--
-- 5. ingest() runs with jit = off: compiling a batch's plan costs more
--    than running it (a plan is cached per session, and one made for a
--    large first batch would be compiled again for every later one).

SET LOCAL client_min_messages = warning;


-- ---------------------------------------------------------------------------
-- Indexes
-- ---------------------------------------------------------------------------

CREATE INDEX events_record_access_idx ON audit.events (resource_type, resource_id, ts)
    WHERE action = 'record_access';
CREATE INDEX events_failed_login_idx ON audit.events (ts)
    WHERE action = 'login_failure';
DROP INDEX audit.events_resource_idx;
DROP INDEX audit.events_action_idx;
DROP INDEX audit.events_failed_login_ip_idx;

COMMENT ON INDEX audit.events_record_access_idx IS 'audit.record_history()';
COMMENT ON INDEX audit.events_failed_login_idx IS 'audit.failed_logins()';
COMMENT ON INDEX audit.events_user_idx IS 'audit.user_activity()';
COMMENT ON INDEX audit.events_chain_idx IS 'audit.verify_chain()';


-- ---------------------------------------------------------------------------
-- Failures and their groups (what 0002's trigger did, per batch)
-- ---------------------------------------------------------------------------

DROP TRIGGER group_failures ON audit.events;
DROP FUNCTION audit.group_failure();

-- The fingerprint the module sends to Sentry/GlitchTip for a failure
-- event; NULL for an event that is not a failure.
CREATE FUNCTION audit.failure_fingerprint(action text, decision text, reason text, rule text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN $1 = 'login_failure' THEN 'login_failure'
        WHEN $1 = 'session_invalid' THEN 'session_invalid:' || coalesce($3, 'unknown')
        WHEN $1 = 'authz_check' AND $2 = 'denied' THEN 'authz_denied:' || coalesce($4, 'unknown')
        WHEN $1 = 'bruteforce_suspected' THEN 'bruteforce_suspected'
    END
$fn$;
COMMENT ON FUNCTION audit.failure_fingerprint(text, text, text, text) IS
    'The error group of a failure event (action, decision, reason, rule): login_failure, session_invalid:<reason>, '
    'authz_denied:<rule>, bruteforce_suspected; NULL for an event that is not a failure';

CREATE FUNCTION audit.failure_title(action text, reason text, rule text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT CASE $1
        WHEN 'login_failure' THEN 'Failed login'
        WHEN 'session_invalid' THEN 'Refused session: ' || coalesce($2, 'unknown')
        WHEN 'authz_check' THEN 'Authorization denied: ' || coalesce($3, 'unknown')
        ELSE 'Brute force suspected'
    END
$fn$;
COMMENT ON FUNCTION audit.failure_title(text, text, text) IS
    'The title of a failure event''s error group (see audit.failure_fingerprint())';

CREATE FUNCTION audit.failure_tags(ip inet, route text, role text, request_id text, reason text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'ip', host($1), 'route', $2, 'role', $3, 'request_id', $4, 'reason', $5))
$fn$;
COMMENT ON FUNCTION audit.failure_tags(inet, text, text, text, text) IS
    'The tags an error group keeps of its newest failure';


-- ---------------------------------------------------------------------------
-- Ingest
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION audit.ingest()
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, audit, pg_temp
SET TimeZone = 'UTC'
SET jit = off                      -- compiling costs more than a batch runs
AS $fn$
DECLARE
    staging   regclass := to_regclass('pg_temp.audit_staging');
    inserted  bigint := 0;
    k         bigint;
    rejected  bigint := 0;
    m         date;
    months    date[] := '{}';
    r         record;
    e         audit.events;
    fprint    text;
    state     text := '';
    msg       text;
BEGIN
    IF staging IS NULL THEN
        RAISE EXCEPTION 'audit.ingest(): no temporary table audit_staging in this session'
            USING ERRCODE = 'undefined_table',
                  HINT = 'CREATE TEMP TABLE audit_staging (line text) ON COMMIT DELETE ROWS';
    END IF;
    -- This runs as the schema owner and reads a table the caller made: only
    -- a plain temporary table of this session, without row security, with a
    -- text column "line" (a view or policy there could run the caller's code
    -- with the owner's rights).
    IF NOT EXISTS (
        SELECT 1
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'line'
                           AND NOT a.attisdropped AND a.atttypid = 'text'::regtype
        WHERE c.oid = staging AND c.relkind = 'r' AND c.relpersistence = 't'
          AND c.relnamespace = pg_my_temp_schema() AND NOT c.relrowsecurity)
    THEN
        RAISE EXCEPTION 'audit.ingest(): pg_temp.audit_staging must be a plain temporary table with a text column "line"'
            USING ERRCODE = 'wrong_object_type';
    END IF;

    -- 1. the usual batch: every line new, parses, has its month.  A plain
    --    INSERT; the unique index refuses a line stored already (or being
    --    stored by another connection: it waits for that one's commit)
    BEGIN
        WITH ins AS (
            INSERT INTO audit.events
            SELECT x.* FROM ONLY pg_temp.audit_staging s
            CROSS JOIN LATERAL audit.event_from_line(s.line) x
            RETURNING audit.failure_fingerprint(action, decision, reason, rule) AS fp,
                      action, reason, rule, ts, seq, ip, route, role, request_id
        ), groups AS (
            INSERT INTO audit.error_groups AS g
                   (fingerprint, title, count, first_seen, last_seen, last_tags)
            SELECT i.fp, min(audit.failure_title(i.action, i.reason, i.rule)), count(*), min(i.ts), max(i.ts),
                   (array_agg(audit.failure_tags(i.ip, i.route, i.role, i.request_id, i.reason)
                              ORDER BY i.ts DESC, i.seq DESC NULLS LAST))[1]
            FROM ins i
            WHERE i.fp IS NOT NULL
            GROUP BY i.fp
            ORDER BY i.fp
            ON CONFLICT (fingerprint) DO UPDATE
               SET count      = g.count + EXCLUDED.count,
                   title      = coalesce(EXCLUDED.title, g.title),
                   first_seen = least(g.first_seen, EXCLUDED.first_seen),
                   last_seen  = greatest(g.last_seen, EXCLUDED.last_seen),
                   last_tags  = CASE WHEN EXCLUDED.last_seen >= g.last_seen
                                     THEN EXCLUDED.last_tags ELSE g.last_tags END
        )
        SELECT count(*) INTO inserted FROM ins;
        RETURN inserted;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
        -- only what is about the lines: a data exception, a missing
        -- id/ts/action, no partition (check_violation), a duplicate;
        -- anything else (a deadlock, a lock timeout, a full disk) fails
        -- the batch, to be sent again
        IF left(state, 2) NOT IN ('22', '23') THEN
            RAISE;
        END IF;
    END;

    -- 2. no partition for a month the lines name: make the months (a cheap
    --    look at "ts", which is never inside a string: quotes there are
    --    escaped), then the whole batch again
    IF state = '23514' THEN
        FOR m IN
            SELECT DISTINCT to_date(x[1], 'YYYY-MM')
            FROM ONLY pg_temp.audit_staging s,
                 regexp_match(s.line, '"ts":"([1-9][0-9]{3}-(0[1-9]|1[0-2]))-') x
            WHERE x IS NOT NULL
        LOOP
            PERFORM audit.ensure_partitions(m, 1);
            months := months || m;
        END LOOP;
    END IF;

    -- 3. a replay (some line stored already), or months made: the whole
    --    batch with ON CONFLICT DO NOTHING, which skips what is stored
    --    (RETURNING, and so the error groups, see only the rows inserted)
    IF state IN ('23505', '23514') THEN
        BEGIN
            WITH ins AS (
                INSERT INTO audit.events
                SELECT x.* FROM ONLY pg_temp.audit_staging s
                CROSS JOIN LATERAL audit.event_from_line(s.line) x
                ON CONFLICT DO NOTHING
                RETURNING audit.failure_fingerprint(action, decision, reason, rule) AS fp,
                          action, reason, rule, ts, seq, ip, route, role, request_id
            ), groups AS (
                INSERT INTO audit.error_groups AS g
                       (fingerprint, title, count, first_seen, last_seen, last_tags)
                SELECT i.fp, min(audit.failure_title(i.action, i.reason, i.rule)), count(*), min(i.ts), max(i.ts),
                       (array_agg(audit.failure_tags(i.ip, i.route, i.role, i.request_id, i.reason)
                                  ORDER BY i.ts DESC, i.seq DESC NULLS LAST))[1]
                FROM ins i
                WHERE i.fp IS NOT NULL
                GROUP BY i.fp
                ORDER BY i.fp
                ON CONFLICT (fingerprint) DO UPDATE
                   SET count      = g.count + EXCLUDED.count,
                       title      = coalesce(EXCLUDED.title, g.title),
                       first_seen = least(g.first_seen, EXCLUDED.first_seen),
                       last_seen  = greatest(g.last_seen, EXCLUDED.last_seen),
                       last_tags  = CASE WHEN EXCLUDED.last_seen >= g.last_seen
                                         THEN EXCLUDED.last_tags ELSE g.last_tags END
            )
            SELECT count(*) INTO inserted FROM ins;
            RETURN inserted;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
            IF left(state, 2) NOT IN ('22', '23') THEN
                RAISE;
            END IF;
        END;
    END IF;

    -- 4. a bad line in the batch: line by line, the bad ones set aside
    inserted := 0;
    FOR r IN SELECT s.line FROM ONLY pg_temp.audit_staging s LOOP
        BEGIN
            SELECT * INTO STRICT e FROM audit.event_from_line(r.line);
            m := date_trunc('month', e.ts AT TIME ZONE 'UTC')::date;
            IF m IS NOT NULL AND NOT m = ANY (months) THEN
                PERFORM audit.ensure_partitions(m, 1);
            END IF;
            INSERT INTO audit.events SELECT (e).* ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS k = ROW_COUNT;
            inserted := inserted + k;
            fprint := audit.failure_fingerprint(e.action, e.decision, e.reason, e.rule);
            IF k > 0 AND fprint IS NOT NULL THEN
                PERFORM audit.record_error(fprint, audit.failure_title(e.action, e.reason, e.rule),
                                           audit.failure_tags(e.ip, e.route, e.role, e.request_id, e.reason),
                                           e.ts, 1);
            END IF;
            IF m IS NOT NULL AND NOT m = ANY (months) THEN
                months := months || m;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            -- only what is wrong with the line itself (a data exception,
            -- a missing id/ts/action); anything else (a deadlock, a lock
            -- timeout, a full disk) fails the batch, to be sent again
            IF left(state, 2) NOT IN ('22', '23') THEN
                RAISE;
            END IF;
            INSERT INTO audit.rejected_lines (line_sha256, line, sqlstate, error)
            VALUES (encode(sha256(convert_to(r.line, 'UTF8')), 'hex'), r.line, state, msg)
            ON CONFLICT DO NOTHING;
            rejected := rejected + 1;
        END;
    END LOOP;
    IF rejected > 0 THEN
        RAISE WARNING 'audit.ingest(): % line(s) rejected, kept in audit.rejected_lines', rejected;
    END IF;
    RETURN inserted;
END
$fn$;
COMMENT ON FUNCTION audit.ingest() IS
    'Inserts every line of the caller''s pg_temp.audit_staging (line text) into audit.events, skipping lines stored already; '
    'returns the number of rows inserted (0 for a replayed batch) and counts the failures among them in audit.error_groups. '
    'A plain INSERT first; on unique_violation (a replay, or the same lines being stored by another connection) the batch '
    'again with ON CONFLICT DO NOTHING. Creates a missing monthly partition. A line that cannot be stored goes to '
    'audit.rejected_lines (with a WARNING) instead of failing the batch. '
    'Per batch: COPY audit_staging (line) FROM STDIN; SELECT audit.ingest(); in one transaction.';

-- CREATE OR REPLACE keeps ingest()'s privileges (audit_writer: EXECUTE); the
-- new helpers are not granted to anyone (0001's default privileges revoke
-- EXECUTE from PUBLIC): ingest() runs them as the owner.
REVOKE ALL ON FUNCTION audit.failure_fingerprint(text, text, text, text),
                       audit.failure_title(text, text, text),
                       audit.failure_tags(inet, text, text, text, text) FROM PUBLIC;
