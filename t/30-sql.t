# The PostgreSQL side: sql/migrate, audit.ingest() as the shipper calls it
# (temp staging table, COPY, ingest, idempotent replays), the query
# functions, the hash-chain check against deletions and edits, the roles'
# least privilege, error groups, retention.

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use Encode qw(decode_utf8 encode_utf8);
use JSON::PP;
use POSIX qw(strftime);
use Audit::Test;

my $t = Audit::Test->new;
$t->start_pg;
$t->psql('CREATE DATABASE audit');

my $migrate = $t->repo_root . '/sql/migrate';
my $nfiles = () = glob $t->repo_root . '/sql/migrations/*.sql';

sub migrate {
    my ($conninfo, %env) = @_;
    local @ENV{ keys %env } = values %env;
    my $out = defined $conninfo ? qx{'$migrate' '$conninfo' 2>&1} : qx{'$migrate' 2>&1};
    return ($? >> 8, $out);
}

# --- migrations ------------------------------------------------------------------

my $admin = $t->pg_conninfo('audit', 'postgres');
my ($rc, $out) = migrate($admin);
is($rc, 0, 'sql/migrate: first run succeeds') or diag $out;
like($out, qr/^applied 0001_init$/m, '... and says it applied 0001_init');
($rc, $out) = migrate($admin);
is($rc, 0, 'sql/migrate: second run succeeds') or diag $out;
unlike($out, qr/applied \d/, '... and applies nothing') or diag $out;
like($out, qr/nothing to apply/, '... and says so');
$out = qx{'$migrate' -n '$admin' 2>&1};
is($? >> 8, 0, 'sql/migrate -n (dry run) succeeds');
like($out, qr/nothing to apply/, '... listing nothing to apply');
is($t->psql('SELECT count(*) FROM audit.schema_migrations', db => 'audit'), $nfiles,
   'every migration recorded once in audit.schema_migrations');
($rc, $out) = migrate(undef, AUDIT_PG => $admin);
is($rc, 0, 'sql/migrate takes the conninfo from $AUDIT_PG too') or diag $out;
($rc, $out) = migrate(undef, AUDIT_PG => '');
is($rc, 2, 'sql/migrate without a conninfo: usage, exit 2');

is($t->psql(q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit.events'::regclass
              AND inhrelid = to_regclass('audit.events_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM'))},
            db => 'audit'), 1, 'the current month has a partition');
is($t->psql(q{SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles
              WHERE rolname IN ('audit_reader', 'audit_writer')}, db => 'audit'),
   'audit_reader:false,audit_writer:false', 'roles audit_writer and audit_reader exist, NOLOGIN');
$t->psql('ALTER ROLE audit_writer LOGIN; ALTER ROLE audit_reader LOGIN', db => 'audit');

# --- events as the module writes them ----------------------------------------------

my $JSON = JSON::PP->new->utf8->allow_nonref;
my @ORDER = qw(id ts action severity request_id ip method route status user_agent
               user_id role session_id attempted_user reason decision rule
               resource_type resource_id access count window producer seq prev);
my %NUM = map { $_ => 1 } qw(status count window seq);

sub rfc3339 {
    my ($ms) = @_;
    return strftime('%Y-%m-%dT%H:%M:%S', gmtime int($ms / 1000)) . sprintf('.%03dZ', $ms % 1000);
}

sub uuid7 {
    my ($ms) = @_;
    return sprintf('%08x-%04x-7%03x-%04x-%04x%08x', int($ms / 65536), $ms % 65536,
                   int(rand 4096), 0x8000 | int(rand 0x4000), int(rand 65536), int(rand 2**32));
}

my (%chain, %by_seq, %ts_of);

# one compact JSON line, members in the module's order, chained per producer
sub event {
    my (%f) = @_;
    my $c = $chain{ $f{producer} } //= { seq => 0, prev => undef };
    $f{seq} = $c->{seq}++;
    $f{prev} = $c->{prev};
    $f{id} = uuid7($f{ms});
    $f{ts} = rfc3339(delete $f{ms});
    $f{severity} //= 'info';
    $f{request_id} //= sprintf('%032x', int rand 2**32);
    $f{user_agent} //= 'Mozilla/5.0 (X11; Linux x86_64)';
    my $line = '{' . join(',', map {
        my $v = $f{$_};
        $JSON->encode($_) . ':' . (!defined $v ? 'null' : $NUM{$_} ? int $v : $JSON->encode($v));
    } grep { exists $f{$_} } @ORDER) . '}';
    $c->{prev} = sha256_hex($line);
    $by_seq{ $f{producer} }[ $f{seq} ] = { %f, line => $line };
    $ts_of{ $f{producer} }[ $f{seq} ] = $f{ts};
    return $line;
}

my $A = 'web1/1763866800123/0';
my $B = 'web1/1675209000000/1';
my $base = (time - 3600) * 1000;
my $old = 1675209580000;    # 2023-01-31T23:59:40Z: B spans two months without partitions
my %req = (ip => '10.0.0.9', method => 'GET', status => 200);

my @a = (
    event(producer => $A, ms => $base + 0,  action => 'login_failure', severity => 'warning', ip => '10.0.0.5',
          method => 'POST', route => '/login', status => 401, attempted_user => 'mallory@example.org',
          reason => 'invalid_credentials'),
    event(producer => $A, ms => $base + 10000, action => 'login_failure', severity => 'warning', ip => '10.0.0.5',
          method => 'POST', route => '/login', status => 401, attempted_user => 'mallory@example.org',
          reason => 'invalid_credentials'),
    event(producer => $A, ms => $base + 20000, action => 'login_failure', severity => 'warning', ip => '10.0.0.5',
          method => 'POST', route => '/login', status => 401, attempted_user => 'mallory@example.org',
          reason => 'invalid_credentials'),
    event(producer => $A, ms => $base + 20001, action => 'bruteforce_suspected', severity => 'critical',
          ip => '10.0.0.5', method => 'POST', route => '/login', status => 401, reason => 'ip',
          attempted_user => 'mallory@example.org', count => 3, window => 300),
    event(producer => $A, ms => $base + 40000, action => 'login_failure', severity => 'warning', ip => '2001:db8::7',
          method => 'POST', route => '/login', status => 401, attempted_user => 'alice@example.org',
          reason => 'invalid_credentials'),
    event(producer => $A, ms => $base + 50000, action => 'login_success', %req, method => 'POST', route => '/login',
          status => 302, user_id => 'u-alice', role => 'doctor', session_id => 's-alice'),
    event(producer => $A, ms => $base + 50000, action => 'session_create', %req, method => 'POST', route => '/login',
          status => 302, user_id => 'u-alice', role => 'doctor', session_id => 's-alice'),
    event(producer => $A, ms => $base + 70000, action => 'authz_check', %req, route => '/patients/42',
          user_id => 'u-alice', role => 'doctor', session_id => 's-alice', decision => 'permitted',
          rule => 'doctor nurse'),
    event(producer => $A, ms => $base + 80000, action => 'record_access', %req, route => '/patients/42',
          user_id => 'u-alice', role => 'doctor', session_id => 's-alice', resource_type => 'patient',
          resource_id => '42', access => 'viewed'),
    # another worker's clock: 2 s behind (reordered, informational)
    event(producer => $A, ms => $base + 78000, action => 'record_access', %req, ip => '10.0.0.10',
          route => '/patients/42', user_id => 'u-bob', role => 'nurse,scheduler', session_id => 's-bob',
          resource_type => 'patient', resource_id => '42', access => 'viewed'),
    event(producer => $A, ms => $base + 90000, action => 'authz_check', severity => 'warning', %req,
          ip => '10.0.0.10', route => '/admin/users', status => 403, user_id => 'u-bob',
          role => 'nurse,scheduler', session_id => 's-bob', decision => 'denied', rule => 'admin'),
    event(producer => $A, ms => $base + 100000, action => 'record_access', %req, method => 'PUT',
          route => '/patients/42', user_id => 'u-alice', role => 'doctor', session_id => 's-alice',
          resource_type => 'patient', resource_id => '42', access => 'updated'),
    event(producer => $A, ms => $base + 110000, action => 'record_access', %req, route => '/patients/43',
          user_id => 'u-alice', role => 'doctor', session_id => 's-alice', resource_type => 'patient',
          resource_id => '43', access => 'viewed'),
    # quotes, backslashes, a tab and non-ASCII: escaped in JSON, then in COPY
    event(producer => $A, ms => $base + 120000, action => 'session_invalid', severity => 'warning', %req,
          route => '/search?q="x"\\y&name=Zoë', status => 401, user_agent => "Mozilla\t5 \"é\" \\",
          reason => 'expired', user_id => 'u-bob'),
    # no usable address; a NUL in the account tried
    event(producer => $A, ms => $base + 130000, action => 'login_failure', severity => 'warning', ip => 'unix:',
          method => 'POST', route => '/login', status => 401, attempted_user => "bad\x{0}user",
          reason => 'invalid_credentials'),
    event(producer => $A, ms => $base + 140000, action => 'session_destroy', %req, route => '/logout',
          user_id => 'u-alice', session_id => 's-alice'),
    event(producer => $A, ms => $base + 150000, action => 'record_access', %req, route => '/patients/42',
          user_id => 'u-carol', role => 'admin', session_id => 's-carol', resource_type => 'patient',
          resource_id => '42', access => 'viewed'),
);

my @b = (
    event(producer => $B, ms => $old + 0, action => 'login_failure', severity => 'warning', ip => '192.0.2.1',
          method => 'POST', route => '/login', status => 401, attempted_user => 'mallory@example.org',
          reason => 'invalid_credentials'),
    event(producer => $B, ms => $old + 10000, action => 'login_failure', severity => 'warning', ip => '192.0.2.1',
          method => 'POST', route => '/login', status => 401, attempted_user => 'mallory@example.org',
          reason => 'invalid_credentials'),
    event(producer => $B, ms => $old + 20000, action => 'record_access', %req, route => '/patients/42',
          user_id => 'u-dave', role => 'doctor', session_id => 's-dave', resource_type => 'patient',
          resource_id => '42', access => 'viewed'),
    event(producer => $B, ms => $old + 30000, action => 'record_access', %req, route => '/patients/7',
          user_id => 'u-dave', role => 'doctor', session_id => 's-dave', resource_type => 'patient',
          resource_id => '7', access => 'viewed'),
    event(producer => $B, ms => $old + 40000, action => 'authz_check', %req, route => '/patients/8',
          user_id => 'u-dave', role => 'doctor', session_id => 's-dave', decision => 'permitted',
          rule => 'doctor'),
    event(producer => $B, ms => $old + 50000, action => 'session_destroy', %req, route => '/logout',
          user_id => 'u-dave', session_id => 's-dave'),
);

# --- ingest, as the shipper does it --------------------------------------------------

my @warnings;
my $w = $t->dbh(db => 'audit', user => 'audit_writer');
$w->do('CREATE TEMP TABLE IF NOT EXISTS audit_staging (line text) ON COMMIT DELETE ROWS');

sub ship {
    my ($dbh, @lines) = @_;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    $dbh->begin_work;
    $dbh->do('COPY audit_staging (line) FROM STDIN');
    for my $line (@lines) {
        (my $row = $line) =~ s/\\/\\\\/g;    # COPY text format
        $dbh->pg_putcopydata(decode_utf8("$row\n"));    # DBD::Pg sends it as UTF-8
    }
    $dbh->pg_putcopyend;
    my ($n) = $dbh->selectrow_array('SELECT audit.ingest()');
    $dbh->commit;
    return $n;
}

is(ship($w, @a[0 .. 8]), 9, 'ingest: a first batch of 9 lines, 9 rows');
is(ship($w, @a[9 .. $#a]), @a - 9, 'ingest: the rest of producer A');
is(ship($w, @b), scalar @b, 'ingest: producer B, in months without a partition');
is($t->psql(q{SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
              WHERE relname IN ('events_2023_01', 'events_2023_02')}, db => 'audit'),
   'events_2023_01,events_2023_02', '... which ingest() created');
my $total = @a + @b;
is($t->psql('SELECT count(*) FROM audit.events', db => 'audit'), $total, "$total rows");
is(ship($w, @a, @b), 0, 'the same lines again: no new row');
is(ship($w, @b[2, 3], @b[2, 3]), 0, '... nor twice in one batch');
is($t->psql('SELECT count(*) FROM audit.events', db => 'audit'), $total, "still $total rows");
is($w->selectrow_array('SELECT count(*) FROM audit_staging'), 0, 'the staging table is empty after commit');

# the shipper's own form: one simple query, its implicit transaction
{
    my $line = event(producer => $A, ms => $base + 160000, action => 'authz_check', %req,
                     route => '/patients/44', user_id => 'u-carol', role => 'admin',
                     session_id => 's-carol', decision => 'permitted', rule => 'admin');
    push @a, $line;
    (my $row = $line) =~ s/\\/\\\\/g;
    my $in = $t->file('batch.copy', "$row\n");
    my $port = $t->pg_port;
    my $got = qx{psql -X -A -t -q -h 127.0.0.1 -p $port -U audit_writer -d audit -c "CREATE TEMP TABLE audit_staging (line text) ON COMMIT DELETE ROWS; COPY audit_staging (line) FROM STDIN; SELECT audit.ingest()" < '$in' 2>&1};
    is($got, "1\n", 'COPY ...; SELECT audit.ingest() as one simple query: 1 row');
    $total++;
}

# lines that cannot be stored are set aside; the rest of the batch is not lost
{
    @warnings = ();
    my $good = event(producer => $A, ms => $base + 170000, action => 'session_invalid', severity => 'warning',
                     %req, route => '/patients/42', status => 401, reason => 'missing');
    push @a, $good;
    my $n = ship($w, 'this is not JSON', '{"id":"not-a-uuid","ts":"2026-01-01T00:00:00.000Z","action":"x"}',
                 $good, '{"ts":"2026-01-01T00:00:00.000Z","action":"no id"}');
    is($n, 1, 'a batch with 3 bad lines: the good one is stored');
    $total++;
    like(join('', @warnings), qr/3 line\(s\) rejected/, '... and a WARNING says 3 were rejected');
    is($t->psql('SELECT count(*) FROM audit.rejected_lines', db => 'audit'), 3,
       '... which are kept in audit.rejected_lines');
    is(ship($w, 'this is not JSON', $good), 0, 'sent again: nothing new');
    is($t->psql('SELECT count(*) FROM audit.rejected_lines', db => 'audit'), 3, '... nor rejected twice');
}

# --- what the rows hold ----------------------------------------------------------------

my $su = $t->dbh(db => 'audit');
{
    my $row = $su->selectrow_hashref('SELECT * FROM audit.events WHERE producer = ? AND seq = 13', undef, $A);
    is(encode_utf8($row->{line}), $a[13], 'line: exactly the line shipped, byte for byte');
    is($row->{route}, '/search?q="x"\\y&name=Zoë', 'route: unescaped');
    is_deeply(decode_json(encode_utf8($row->{extra})), { user_agent => "Mozilla\t5 \"é\" \\" },
              'extra: the members without a column');
    is($row->{ts}, $su->selectrow_array('SELECT ?::timestamptz', undef, $ts_of{$A}[13]), 'ts');

    $row = $su->selectrow_hashref('SELECT * FROM audit.events WHERE producer = ? AND seq = 14', undef, $A);
    is($row->{ip}, undef, 'ip "unix:": NULL');
    is(decode_json(encode_utf8($row->{extra}))->{ip}, 'unix:', '... and kept in extra');
    is($row->{attempted_user}, "bad\x{FFFD}user", 'a NUL (\\u0000) is read as U+FFFD');

    $row = $su->selectrow_hashref('SELECT * FROM audit.events WHERE producer = ? AND seq = 3', undef, $A);
    is_deeply([@$row{qw(action severity reason attempted_user status seq)}],
              ['bruteforce_suspected', 'critical', 'ip', 'mallory@example.org', 401, 3], 'columns of a line');
    is_deeply(decode_json(encode_utf8($row->{extra})),
              { count => 3, window => 300, user_agent => 'Mozilla/5.0 (X11; Linux x86_64)' }, 'count, window in extra');
    is($row->{prev}, sha256_hex($a[2]), 'prev');
    is($su->selectrow_array('SELECT host(ip) FROM audit.events WHERE producer = ? AND seq = 4', undef, $A),
       '2001:db8::7', 'an IPv6 address');
}

# --- the query functions, as audit_reader ------------------------------------------------

my $r = $t->dbh(db => 'audit', user => 'audit_reader');
my $since = $r->selectrow_array(q{SELECT now() - interval '2 hours'});

my $hist = $r->selectall_arrayref(
    q{SELECT user_id, role, access, ts, request_id FROM audit.record_history('patient', '42', ?)}, undef, $since);
is_deeply([map { "$_->[0] $_->[1] $_->[2]" } @$hist],
          ['u-bob nurse,scheduler viewed', 'u-alice doctor viewed', 'u-alice doctor updated', 'u-carol admin viewed'],
          'record_history: who viewed and changed patient 42, in time order');
is($hist->[1][4], $by_seq{$A}[8]{request_id}, '... with the request id');
$hist = $r->selectall_arrayref(q{SELECT user_id FROM audit.record_history('patient', '42', NULL)});
is_deeply([map { $_->[0] } @$hist], [qw(u-dave u-bob u-alice u-alice u-carol)], 'record_history since NULL: ever');
is_deeply($r->selectall_arrayref(q{SELECT user_id FROM audit.record_history('patient', '7', ?)}, undef, $since),
          [], 'record_history: none since then for patient 7');

# ids typed as numbers, as an admin types them (0005): the same rows
{
    my $typed = eval { $r->selectall_arrayref(q{SELECT user_id, access FROM audit.record_history('patient', 42)}) };
    is($@, '', 'record_history(\'patient\', 42): an integer id is accepted');
    is_deeply([map { "$_->[0] $_->[1]" } @{ $typed || [] }],
              [map { "$_->[0] $_->[1]" }
               @{ $r->selectall_arrayref(q{SELECT user_id, access FROM audit.record_history('patient', '42')}) }],
              '... and returns the rows of record_history(\'patient\', \'42\')');
    is(scalar @{ $typed || [] }, 5, '... all five of them');
    is_deeply($r->selectall_arrayref(
                  q{SELECT user_id FROM audit.record_history('patient', 42, now() - interval '2 hours')}),
              [map { [$_] } qw(u-bob u-alice u-alice u-carol)], '... and with since');
    is_deeply($r->selectall_arrayref(q{SELECT user_id FROM audit.record_history('patient', 42::bigint, NULL)}),
              $hist, '... a bigint id too');
    my $users = eval { $r->selectall_arrayref(q{SELECT action FROM audit.user_activity(42)}) };
    is($@, '', 'user_activity(42): an integer user id is accepted');
    is_deeply($users, $r->selectall_arrayref(q{SELECT action FROM audit.user_activity('42')}),
              '... the same as user_activity(\'42\')');
}

my $act = $r->selectall_arrayref(
    q{SELECT action, route, status, resource_id, decision FROM audit.user_activity('u-alice', ?)},
    undef, $since);
is_deeply([map { $_->[0] } @$act],
          [qw(login_success session_create authz_check record_access record_access record_access session_destroy)],
          'user_activity: what u-alice did, in order');
is_deeply($act->[2], ['authz_check', '/patients/42', 200, undef, 'permitted'], '... with route, status, decision');
is_deeply([map { join ' ', map { $_ // '-' } @$_[0, 2, 4] }
           @{ $r->selectall_arrayref(q{SELECT action, route, status, resource_id, decision
                                       FROM audit.user_activity('u-bob', ?)}, undef, $since) }],
          ['record_access 200 -', 'authz_check 403 denied', 'session_invalid 401 -'],
          'user_activity: u-bob, with the denial');

my $fl = $r->selectall_arrayref(q{SELECT kind, key, count, first, last FROM audit.failed_logins(?, 3)}, undef, $since);
is_deeply([map { "$_->[0] $_->[1] $_->[2]" } @$fl],
          ['attempted_user mallory@example.org 3', 'ip 10.0.0.5 3'],
          'failed_logins(min_count 3): one address, one account');
my ($first, $last) = map { $r->selectrow_array('SELECT ?::timestamptz', undef, $ts_of{$A}[$_]) } 0, 2;
is_deeply([@{ $fl->[1] }[3, 4]], [$first, $last], '... first and last failure');
$fl = $r->selectall_arrayref(q{SELECT kind, key, count FROM audit.failed_logins(?, 1)}, undef, $since);
is_deeply([sort map { "$_->[0] $_->[1] $_->[2]" } @$fl],
          ['attempted_user alice@example.org 1', "attempted_user bad\x{FFFD}user 1",
           'attempted_user mallory@example.org 3', 'ip 10.0.0.5 3', 'ip 2001:db8::7 1'],
          'failed_logins(min_count 1): every group (no group for an unparsable address)');
$fl = $r->selectall_arrayref(q{SELECT kind, key, count FROM audit.failed_logins(NULL, 2)});
is_deeply([map { "$_->[0] $_->[1] $_->[2]" } @$fl],
          ['attempted_user mallory@example.org 5', 'ip 10.0.0.5 3', 'ip 192.0.2.1 2'],
          'failed_logins since NULL: both producers');

# --- the chain ---------------------------------------------------------------------------

sub chain {
    my ($since) = @_;
    my $rows = $r->selectall_arrayref('SELECT * FROM audit.verify_chain(?)', { Slice => {} }, $since);
    return { map { $_->{producer} => $_ } @$rows };
}

my $c = chain(undef);
is_deeply([sort keys %$c], [sort $A, $B], 'verify_chain: one row per producer');
is_deeply([@{ $c->{$A} }{qw(events first_seq last_seq missing ok)}], [scalar @a, 0, $#a, 0, 1],
          "producer A: $#a events from seq 0, nothing missing, ok");
is_deeply($c->{$A}{reordered}, [9], '... seq 9 is older than seq 8: reordered (informational)');
is_deeply([@{ $c->{$A} }{qw(gaps broken_links tampered)}], [[], [], []], '... no gap, broken link, tampered row');
is_deeply([@{ $c->{$B} }{qw(events first_seq last_seq ok)}], [6, 0, 5, 1], 'producer B: ok');
is($r->selectrow_array('SELECT bool_and(ok) FROM audit.verify_chain(?)', undef, $since), 1,
   'verify_chain(since): ok');

# a deleted row: a gap
$su->do('DELETE FROM audit.events WHERE producer = ? AND seq = 5', undef, $A);
$c = chain(undef);
is_deeply([@{ $c->{$A} }{qw(ok missing gaps broken_links tampered)}], [0, 1, ['5'], [], []],
          'a deleted row: reported as gap 5');
ok($c->{$B}{ok}, '... B still ok');
$c = chain($ts_of{$A}[6]);
ok($c->{$A}{ok}, 'verify_chain from seq 6 on: no gap before the first row checked');
is($c->{$A}{first_seq}, 6, '... checking starts at seq 6');
ok(!exists $c->{$B}, '... and B (2023) is not checked');
$su->do('DELETE FROM audit.events WHERE producer = ? AND seq IN (6, 7)', undef, $A);
is_deeply(chain(undef)->{$A}{gaps}, ['5-7'], 'three deleted rows: gap 5-7');
is(chain(undef)->{$A}{missing}, 3, '... 3 missing');

# an edited column: tampered
$su->do(q{UPDATE audit.events SET user_id = 'u-mallory' WHERE producer = ? AND seq = 11}, undef, $A);
$c = chain(undef)->{$A};
is_deeply([@$c{qw(tampered broken_links)}], [[11], []], 'user_id edited: row 11 tampered, no link broken');
$su->do(q{UPDATE audit.events SET status = 200 WHERE producer = ? AND seq = 10}, undef, $A);
is_deeply(chain(undef)->{$A}{tampered}, [10, 11], 'status edited: row 10 tampered');

# an edited line: the next row's link breaks
{
    my $line = $by_seq{$B}[3]{line};
    (my $forged = $line) =~ s/"resource_id":"7"/"resource_id":"9"/ or die;
    $su->do(q{UPDATE audit.events SET line = ?, resource_id = '9' WHERE producer = ? AND seq = 3}, undef, $forged, $B);
    $c = chain(undef)->{$B};
    is_deeply([@$c{qw(ok broken_links tampered)}], [0, [4], [3]],
              'line and column edited together: link 3 -> 4 broken, row 3 tampered');
    ($forged = $by_seq{$A}[13]{line}) =~ s/"reason":"expired"/"reason":"revoked"/ or die;
    $su->do('UPDATE audit.events SET line = ? WHERE producer = ? AND seq = 13', undef, $forged, $A);
    $c = chain(undef)->{$A};
    is_deeply([@$c{qw(broken_links tampered)}], [[14], [10, 11, 13]], 'line edited alone: link 14 broken, 13 tampered');
    $su->do(q{UPDATE audit.events SET line = 'garbage' WHERE producer = ? AND seq = 15}, undef, $A);
    $c = chain(undef)->{$A};
    is_deeply([@$c{qw(broken_links tampered)}], [[14, 16], [10, 11, 13, 15]],
              'a line that no longer parses: tampered, next link broken');
    $su->do(q{UPDATE audit.events SET prev = NULL WHERE producer = ? AND seq = 17}, undef, $A);
    is_deeply(chain(undef)->{$A}{tampered}, [10, 11, 13, 15, 17], 'prev column edited: tampered');
}

# a forged row with a seq already taken
{
    my $dup = $su->selectrow_hashref('SELECT * FROM audit.events WHERE producer = ? AND seq = 12', undef, $A);
    $su->do(q{INSERT INTO audit.events SELECT gen_random_uuid(), ts, action, severity, 'u-eve', role, session_id,
              attempted_user, ip, method, route, status, resource_type, resource_id, access, reason, decision,
              rule, request_id, producer, seq, prev, replace(line, 'u-alice', 'u-eve'), extra
              FROM audit.events WHERE producer = ? AND seq = 12}, undef, $A);
    $c = chain(undef)->{$A};
    ok((grep { $_ == 12 } @{ $c->{tampered} }), 'a second row with seq 12: tampered');
    ok(!$c->{ok}, '... not ok');
}

# --- least privilege ---------------------------------------------------------------------

sub denied {
    my ($dbh, $sql, $name) = @_;
    my $ok = eval { $dbh->do($sql); 1 };
    my $err = $@;
    ok(!$ok && $err =~ /permission denied/, $name) or diag $ok ? 'it was allowed' : $err;
}

denied($w, 'SELECT * FROM audit.events LIMIT 1', 'audit_writer cannot SELECT audit.events');
denied($w, 'DELETE FROM audit.events', 'audit_writer cannot DELETE from audit.events');
denied($w, q{UPDATE audit.events SET user_id = 'x'}, 'audit_writer cannot UPDATE audit.events');
denied($w, q{INSERT INTO audit.events (id, ts, action, line) VALUES (gen_random_uuid(), now(), 'x', '{}')},
       'audit_writer cannot INSERT directly');
denied($w, q{SELECT * FROM audit.record_history('patient', '42', NULL)}, 'audit_writer cannot query');
denied($w, q{SELECT * FROM audit.record_history('patient', 42)}, '... nor with an integer id');
denied($w, q{SELECT * FROM audit.user_activity(42)}, '... nor user_activity with an integer id');
denied($w, q{SELECT audit.ensure_partitions(current_date, 1)}, 'audit_writer cannot create partitions');
denied($w, q{SELECT * FROM audit.error_groups}, 'audit_writer cannot read error groups');
denied($r, q{INSERT INTO audit.events (id, ts, action, line) VALUES (gen_random_uuid(), now(), 'x', '{}')},
       'audit_reader cannot INSERT');
denied($r, 'DELETE FROM audit.events', 'audit_reader cannot DELETE');
denied($r, 'SELECT audit.ingest()', 'audit_reader cannot call ingest()');
denied($r, q{SELECT audit.record_error('f', 't', '{}')}, 'audit_reader cannot call record_error()');
denied($r, q{SELECT audit.drop_partitions_before('2100-01-01')}, 'audit_reader cannot drop partitions');

{
    my $w2 = $t->dbh(db => 'audit', user => 'audit_writer');
    ok(!eval { $w2->do('SELECT audit.ingest()'); 1 } && $@ =~ /no temporary table audit_staging/,
       'ingest() without the staging table: a clear error') or diag $@;
    $w2->do(q{CREATE TEMP VIEW audit_staging AS SELECT 'x'::text AS line});
    ok(!eval { $w2->do('SELECT audit.ingest()'); 1 } && $@ =~ /must be a plain temporary table/,
       'ingest() refuses a temporary view in its place') or diag $@;
    $w2->disconnect;
}

# --- error groups -------------------------------------------------------------------------

# (login_failure rows ingested above are grouped by a trigger: use a
# fingerprint of the module's own faults here)
is($w->selectrow_array(q{SELECT audit.record_error('module_fault:pg_down', 'PostgreSQL down', '{"ip":"10.0.0.5"}')}), 1,
   'record_error: a new group, count 1');
is($w->selectrow_array(q{SELECT audit.record_error('module_fault:pg_down', 'PostgreSQL down', '{"ip":"10.0.0.6"}')}), 2,
   '... the same fingerprint again: count 2');
is($w->selectrow_array(q{SELECT audit.record_error('session_expired', 'Session expired', '{}')}), 1,
   '... another fingerprint: its own group');
my $g = $r->selectrow_hashref(q{SELECT * FROM audit.error_groups WHERE fingerprint = 'module_fault:pg_down'});
is_deeply([$g->{count}, $g->{title}, decode_json(encode_utf8($g->{last_tags}))->{ip}], [2, 'PostgreSQL down', '10.0.0.6'],
          'audit_reader sees count, title, last tags');
ok($g->{last_seen} ge $g->{first_seen}, '... first and last seen');

# --- retention -----------------------------------------------------------------------------

is_deeply($su->selectcol_arrayref(q{SELECT * FROM audit.drop_partitions_before('2023-02-01')}),
          ['audit.events_2023_01'], 'drop_partitions_before(2023-02-01): January 2023 dropped');
is($su->selectrow_array(q{SELECT count(*) FROM audit.events WHERE producer = ?}, undef, $B), 4,
   '... with its 2 rows');
is_deeply(chain(undef)->{$B}{gaps}, ['0-1'], 'verify_chain(NULL) then sees the head of B missing');
is_deeply(chain('2023-02-01')->{$B}{gaps}, [], 'verify_chain(cutoff) does not');
is_deeply($su->selectcol_arrayref(q{SELECT * FROM audit.drop_partitions_before('2023-02-28')}), [],
          'a month not over by the cutoff is kept');

# --- the fast ingest (0003): one statement per batch, failures counted per batch -------------
#
# In a database of its own (audit4), so that its failures do not change
# what the query functions answer above. The usual batch is one plain
# INSERT; a replay falls back to ON CONFLICT DO NOTHING, a bad line to line
# by line; every stored failure counts once in audit.error_groups, whichever
# path stored it, and a replay (also a concurrent one) counts nothing.

$t->psql('CREATE DATABASE audit4');
($rc, $out) = migrate($t->pg_conninfo('audit4', 'postgres'));
is($rc, 0, 'audit4: migrated') or diag $out;
{
    my $su4 = $t->dbh(db => 'audit4');
    my $w4 = $t->dbh(db => 'audit4', user => 'audit_writer');
    my $w5 = $t->dbh(db => 'audit4', user => 'audit_writer');
    $_->do('CREATE TEMP TABLE audit_staging (line text) ON COMMIT DELETE ROWS') for $w4, $w5;

    my %fp_want;    # fingerprint => count of the failures stored
    sub fingerprint {
        my ($line) = @_;
        my $e = decode_json($line);
        my $a = $e->{action};
        return 'login_failure' if $a eq 'login_failure';
        return 'session_invalid:' . ($e->{reason} // 'unknown') if $a eq 'session_invalid';
        return 'authz_denied:' . ($e->{rule} // 'unknown') if $a eq 'authz_check' && ($e->{decision} // '') eq 'denied';
        return 'bruteforce_suspected' if $a eq 'bruteforce_suspected';
        return 'request_rejected:' . ($e->{reason} // 'unknown') if $a eq 'request_rejected';
        return undef;
    }
    my $stored = sub { for (@_) { my $f = fingerprint($_); $fp_want{$f}++ if defined $f } };
    my $groups = sub {
        return { map { split /=/ } split /\n/,
                 $t->psql(q{SELECT fingerprint || '=' || count FROM audit.error_groups}, db => 'audit4') };
    };
    my $rows = sub { $t->psql('SELECT count(*) FROM audit.events', db => 'audit4') };

    my $C = 'web2/1763866800999/0';
    my $ms = $base + 200000;
    my $n = 0;
    my sub failures {    # $k lines: every kind of failure, and what is not one
        my ($k) = @_;
        my @kinds = (
            [action => 'login_failure', severity => 'warning', ip => '10.0.3.' . ($n % 250), method => 'POST',
             route => '/login', status => 401, attempted_user => "user$n\@example.org", reason => 'invalid_credentials'],
            [action => 'session_invalid', severity => 'warning', %req, route => '/patients/1', status => 401,
             reason => ('expired', 'missing')[$n % 2]],
            [action => 'session_invalid', severity => 'warning', %req, route => '/patients/1', status => 401],
            [action => 'authz_check', severity => 'warning', %req, route => '/admin', status => 403, user_id => 'u-x',
             role => 'nurse', session_id => 's-x', decision => 'denied', rule => ('admin', 'admin audit')[$n % 2]],
            [action => 'authz_check', %req, route => '/patients/2', user_id => 'u-x', role => 'nurse',
             session_id => 's-x', decision => 'permitted', rule => 'nurse'],
            [action => 'bruteforce_suspected', severity => 'critical', ip => '10.0.3.1', method => 'POST',
             route => '/login', status => 401, reason => 'ip', count => 5, window => 300],
            [action => 'record_access', %req, route => '/patients/2', user_id => 'u-x', role => 'nurse',
             session_id => 's-x', resource_type => 'patient', resource_id => '2', access => 'viewed'],
            [action => 'request_rejected', severity => 'warning', %req, route => '/admin/..%2fpatients/42',
             status => 400, user_id => 'u-x', reason => ('encoded_slash', 'method_override')[$n % 2]],
        );
        return map { $n++; event(producer => $C, ms => $ms += 1000, @{ $kinds[$n % @kinds] }) } 1 .. $k;
    }
    my sub xids_for {    # transaction ids one ship() took: 1 + its subtransactions
        my ($dbh, @lines) = @_;
        my ($x0) = $w4->selectrow_array('SELECT pg_current_xact_id()::text::bigint');
        my $k = ship($dbh, @lines);
        my ($x1) = $w4->selectrow_array('SELECT pg_current_xact_id()::text::bigint');
        return ($k, $x1 - $x0 - 1);
    }

    my @c1 = failures(40);
    my ($k, $xids) = xids_for($w4, @c1);
    is($k, 40, 'fast ingest: a batch of 40 new lines, 40 rows');
    cmp_ok($xids, '<=', 3, '... stored by one statement, not line by line (no subtransaction per line)')
        or diag "$xids transaction ids";
    $stored->(@c1);
    is_deeply($groups->(), \%fp_want, '... its failures counted once per group');
    my $g = $su4->selectrow_hashref(q{SELECT * FROM audit.error_groups WHERE fingerprint = 'login_failure'});
    my @lf = grep { fingerprint($_) && fingerprint($_) eq 'login_failure' } @c1;
    is_deeply([@$g{qw(title first_seen last_seen)}],
              ['Failed login', map { $su4->selectrow_array('SELECT ?::timestamptz', undef, decode_json($_)->{ts}) }
                                   @lf[0, -1]],
              '... title, first and last seen');
    is(decode_json(encode_utf8($g->{last_tags}))->{ip}, decode_json($lf[-1])->{ip}, '... tags of the newest');
    ok((grep { /^request_rejected:/ } keys %{ $groups->() }) >= 1, '... a rejected request has its group');
    is($su4->selectrow_array(q{SELECT title FROM audit.error_groups WHERE fingerprint LIKE 'request_rejected:%' ORDER BY fingerprint LIMIT 1}),
       'Rejected request: ' . ($su4->selectrow_array(q{SELECT split_part(fingerprint, ':', 2) FROM audit.error_groups
                                                       WHERE fingerprint LIKE 'request_rejected:%' ORDER BY fingerprint LIMIT 1}))[0],
       '... titled "Rejected request: <reason>"');

    ($k, $xids) = xids_for($w4, @c1);
    is($k, 0, 'the batch again: no new row');
    cmp_ok($xids, '<=', 4, '... found in one statement (ON CONFLICT DO NOTHING), not line by line') or diag "$xids transaction ids";
    is_deeply($groups->(), \%fp_want, '... and no failure counted again');

    my @c2 = failures(14);
    is(ship($w4, @c1[30 .. 39], @c2, @c1[0 .. 3]), 14, 'a batch partly stored: only the new lines stored');
    $stored->(@c2);
    is_deeply($groups->(), \%fp_want, '... and only their failures counted');

    my @c3 = failures(7);
    is(ship($w4, @c3, @c3[2, 3]), 7, 'a new batch with lines twice: each stored once');
    $stored->(@c3);
    is_deeply($groups->(), \%fp_want, '... and counted once');

    my @c4 = failures(7);
    {
        local $SIG{__WARN__} = sub { push @warnings, $_[0] };
        @warnings = ();
        is(ship($w4, $c4[0], '{"id":"nope","ts":"2026-01-01T00:00:00.000Z","action":"x"}', @c4[1 .. 6], 'not json'),
           7, 'a batch with 2 bad lines: the 7 good ones stored (line by line)');
        like(join('', @warnings), qr/2 line\(s\) rejected/, '... 2 rejected');
    }
    $stored->(@c4);
    is_deeply($groups->(), \%fp_want, '... their failures counted once');
    is(ship($w4, @c4, 'not json'), 0, '... sent again: nothing new');
    is_deeply($groups->(), \%fp_want, '... nothing counted again');
    is($t->psql('SELECT count(*) FROM audit.rejected_lines', db => 'audit4'), 2, '... nor rejected twice');

    {
        my $now_ms = $ms;
        $ms = 1654041600000;    # 2022-06-01: a month without a partition
        my @c5 = failures(7);
        is(ship($w4, @c5), 7, 'a batch in a month without a partition: stored');
        $stored->(@c5);
        is_deeply($groups->(), \%fp_want, '... its failures counted once');
        $ms = $now_ms;
    }

    # two connections send the same new batch at once: the second one's
    # plain INSERT waits for the first, then meets its rows (unique_violation)
    # and stores the batch again with ON CONFLICT DO NOTHING: nothing
    use DBD::Pg qw(:async);
    my $stage = sub {
        my ($dbh, @lines) = @_;
        $dbh->begin_work;
        $dbh->do('COPY audit_staging (line) FROM STDIN');
        $dbh->pg_putcopydata(decode_utf8(s/\\/\\\\/gr . "\n")) for @lines;
        $dbh->pg_putcopyend;
    };
    my $waiting = sub {
        my ($dbh) = @_;
        my $pid = $dbh->{pg_pid};
        return $t->wait_until(sub {
            $t->psql("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid", db => 'audit4') eq 't'
        }, timeout => 10, interval => 0.1);
    };
    for my $first_commits (1, 0) {
        my @c6 = failures(21);
        my $before = $rows->();
        $stage->($w4, @c6);
        is($w4->selectrow_array('SELECT audit.ingest()'), 21, 'concurrent: the first connection stores 21 rows');
        $stage->($w5, @c6);
        my $sth = $w5->prepare('SELECT audit.ingest()', { pg_async => PG_ASYNC });
        $sth->execute;
        ok($waiting->($w5), '... the second one, the same lines, waits for it');
        if ($first_commits) {
            $w4->commit;
            $w5->pg_result;
            is(($sth->fetchrow_array)[0], 0, '... the first commits: the second stores nothing');
            $stored->(@c6);
        } else {
            $w4->rollback;
            $w5->pg_result;
            is(($sth->fetchrow_array)[0], 21, '... the first rolls back: the second stores the 21');
            $stored->(@c6);
        }
        $sth->finish;
        $w5->commit;
        is($rows->(), $before + 21, '... 21 rows either way');
        is_deeply($groups->(), \%fp_want, '... and their failures counted once');
    }

    is($rows->(), 40 + 14 + 7 + 7 + 7 + 21 + 21, 'audit4: every line stored once');
    my $chk = $su4->selectrow_hashref('SELECT * FROM audit.verify_chain(NULL) WHERE producer = ?', undef, $C);
    is_deeply([@$chk{qw(events missing ok)}], [$n, 0, 1], 'verify_chain: the chain of every path is whole and matches its lines');
    $_->disconnect for $w4, $w5, $su4;
}

# --- migrated by the database's owner, not a superuser ---------------------------------------

$t->psql('CREATE ROLE audit_owner LOGIN CREATEROLE; CREATE DATABASE audit2 OWNER audit_owner');
($rc, $out) = migrate($t->pg_conninfo('audit2', 'audit_owner'));
is($rc, 0, 'sql/migrate run by the database owner') or diag $out;
($rc, $out) = migrate(undef, AUDIT_PG => $t->pg_conninfo('audit2', 'audit_owner'));
unlike($out, qr/applied \d/, '... twice: nothing the second time');
is($t->psql(q{SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'audit'}, db => 'audit2'),
   'audit_owner', '... who owns the schema');
{
    my $w3 = $t->dbh(db => 'audit2', user => 'audit_writer');
    $w3->do('CREATE TEMP TABLE audit_staging (line text) ON COMMIT DELETE ROWS');
    is(ship($w3, @b), scalar @b, 'ingest() owned by a non-superuser reads the writer\'s staging table');
    my $r3 = $t->dbh(db => 'audit2', user => 'audit_reader');
    is($r3->selectrow_array('SELECT bool_and(ok) FROM audit.verify_chain(NULL)'), 1, '... and the chain is ok');
    $_->disconnect for $w3, $r3;
}

# ... by an owner who may not create roles: told what a superuser must grant
$t->psql('CREATE ROLE audit_owner2 LOGIN; CREATE DATABASE audit3 OWNER audit_owner2');
($rc, $out) = migrate($t->pg_conninfo('audit3', 'audit_owner2'));
isnt($rc, 0, 'sql/migrate by an owner without audit_writer\'s privileges fails');
like($out, qr/GRANT audit_writer TO audit_owner2/, '... naming the GRANT a superuser must make') or diag $out;
is($t->psql(q{SELECT to_regclass('audit.events') IS NULL}, db => 'audit3'), 't', '... and leaves nothing half done');
$t->psql('GRANT audit_writer TO audit_owner2');
($rc, $out) = migrate($t->pg_conninfo('audit3', 'audit_owner2'));
is($rc, 0, '... after which it succeeds') or diag $out;

# --- a "\u0000" escape, and a backslash before the text u0000 (0010) --------------------

$t->psql('CREATE DATABASE audit5');
($rc, $out) = migrate($t->pg_conninfo('audit5', 'postgres'));
is($rc, 0, 'audit5: migrated') or diag $out;
{
    my $D = 'web9/1763866800999/0';
    my @d = (event(producer => $D, ms => $base + 1, action => 'login_failure', severity => 'warning', %req,
                   status => 401, attempted_user => "victim\\u0000\@clinic.example", reason => 'invalid_credentials'),
             event(producer => $D, ms => $base + 2, action => 'login_failure', severity => 'warning', %req,
                   status => 401, attempted_user => "nul\x{0}here", reason => 'invalid_credentials'));
    like($d[0], qr/"victim\\\\u0000\@clinic\.example"/, 'the line holds an escaped backslash, then u0000');
    my $w5 = $t->dbh(db => 'audit5', user => 'audit_writer');
    $w5->do('CREATE TEMP TABLE audit_staging (line text) ON COMMIT DELETE ROWS');
    is(ship($w5, @d), 2, 'both stored');
    my $s5 = $t->dbh(db => 'audit5');
    my $who = sub {
        $s5->selectrow_array('SELECT attempted_user FROM audit.events WHERE producer = ? AND seq = ?', undef, $D, $_[0]);
    };
    my $ok = sub { $s5->selectrow_array('SELECT ok FROM audit.verify_chain(NULL) WHERE producer = ?', undef, $D) };
    is($who->(0), "victim\\u0000\@clinic.example", 'the account as typed: a backslash and u0000 (before: U+FFFD)');
    is($who->(1), "nul\x{FFFD}here", 'a NUL (the \\u0000 escape): U+FFFD, as before');
    ok($ok->(), 'verify_chain: the rows are their lines');

    # a row stored by 0001's function, then 0010 applied
    $s5->do('UPDATE audit.events SET attempted_user = ? WHERE producer = ? AND seq = 0', undef,
            "victim\x{FFFD}\@clinic.example", $D);
    ok(!$ok->(), 'a row as 0001 stored it is not its line to verify_chain');
    $s5->do(q{DELETE FROM audit.schema_migrations WHERE version = '0010_nul_escape'});
    ($rc, $out) = migrate($t->pg_conninfo('audit5', 'postgres'));
    like($out, qr/applied 0010_nul_escape/, '0010 applied to it') or diag $out;
    is($who->(0), "victim\\u0000\@clinic.example", '... rewrites that row from its line');
    is($who->(1), "nul\x{FFFD}here", '... and leaves the real escape as it was');
    ok($ok->(), '... and verify_chain finds the rows their lines again');
    $_->disconnect for $w5, $s5;
}

$_->disconnect for $w, $r, $su;
$t->stop_all_and_check;
done_testing;
