-- 0010_nul_escape: event_from_line() reads only a real "\u0000" escape as
-- U+FFFD.
--
-- jsonb cannot hold U+0000, so 0001 replaced the six characters \u0000
-- with \ufffd before parsing.  That also hit an escaped backslash followed
-- by the text u0000: a username typed as victim\u0000@clinic.example,
-- which the line holds as "victim\\u0000@clinic.example", was stored as
-- victim<U+FFFD>@clinic.example, and verify_chain() agreed, since both
-- sides used the same function.  An escape begins at a backslash preceded
-- by an even number of backslashes; only such a \u0000 is replaced, and a
-- line without one is not scanned again (strpos, as cheap as the replace
-- was).
--
-- The rows stored before whose line holds such a sequence are made what
-- their line stands for now, so that verify_chain() keeps finding every
-- row equal to its line.  Applying this again changes nothing.

SET LOCAL client_min_messages = warning;

CREATE OR REPLACE FUNCTION audit.event_from_line(line text)
RETURNS SETOF audit.events
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
AS $fn$
    SELECT f.id, f.ts, f.action, f.severity, f.user_id, f.role, f.session_id,
           f.attempted_user,
           CASE WHEN l.ip_ok THEN f.ip::inet END,
           f.method, f.route, f.status, f.resource_type, f.resource_id,
           f.access, f.reason, f.decision, f.rule, f.request_id, f.producer,
           f.seq, f.prev, l.line,
           NULLIF((l.j - '{id,ts,action,severity,user_id,role,session_id,attempted_user,ip,method,route,status,resource_type,resource_id,access,reason,decision,rule,request_id,producer,seq,prev}'::text[])
                  || CASE WHEN f.ip IS NOT NULL AND NOT l.ip_ok
                          THEN jsonb_build_object('ip', l.j -> 'ip')
                          ELSE '{}'::jsonb END,
                  '{}'::jsonb)
    FROM (SELECT p.line, p.j,
                 CASE WHEN strpos(p.j ->> 'ip', ':') = 0 THEN
                      p.j ->> 'ip' ~ '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$'
                 ELSE p.j ->> 'ip' ~ ('^('
                      '([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}'
                      '|([0-9A-Fa-f]{1,4}:){1,7}:'
                      '|([0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}'
                      '|([0-9A-Fa-f]{1,4}:){1,5}(:[0-9A-Fa-f]{1,4}){1,2}'
                      '|([0-9A-Fa-f]{1,4}:){1,4}(:[0-9A-Fa-f]{1,4}){1,3}'
                      '|([0-9A-Fa-f]{1,4}:){1,3}(:[0-9A-Fa-f]{1,4}){1,4}'
                      '|([0-9A-Fa-f]{1,4}:){1,2}(:[0-9A-Fa-f]{1,4}){1,5}'
                      '|[0-9A-Fa-f]{1,4}:(:[0-9A-Fa-f]{1,4}){1,6}'
                      '|:((:[0-9A-Fa-f]{1,4}){1,7}|:)'
                      '|::([Ff]{4}(:0{1,4})?:)?(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}'
                      '|([0-9A-Fa-f]{1,4}:){1,4}:(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}'
                      '|([0-9A-Fa-f]{1,4}:){6}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}'
                      ')$')
                 END AS ip_ok
          FROM (SELECT line,
                       -- jsonb cannot hold U+0000: the escape is read as
                       -- U+FFFD.  An escape begins at a backslash after an
                       -- even number of them: "\\u0000" is a backslash
                       -- and the text u0000, and stays so
                       (CASE WHEN strpos(line, '\u0000') = 0 THEN line
                             ELSE regexp_replace(line, '(?<!\\)((\\\\)*)\\u0000',
                                                 '\1\\ufffd', 'g')
                        END)::jsonb AS j
                OFFSET 0) p                 -- OFFSET 0: parse once, not per column
          OFFSET 0) l
    CROSS JOIN LATERAL jsonb_populate_record(NULL::audit.event_fields, l.j) f
$fn$;

UPDATE audit.events e
   SET (severity, user_id, role, session_id, attempted_user, ip, method, route, status, resource_type, resource_id, access, reason, decision, rule, request_id, prev, extra) =
       (SELECT x.severity, x.user_id, x.role, x.session_id, x.attempted_user, x.ip, x.method, x.route, x.status, x.resource_type, x.resource_id, x.access, x.reason, x.decision, x.rule, x.request_id, x.prev, x.extra
          FROM audit.try_event_from_line(e.line) x)
 WHERE strpos(e.line, '\u0000') > 0
   AND (SELECT x.id IS NOT NULL AND x IS DISTINCT FROM e
          FROM audit.try_event_from_line(e.line) x);
