# Signed checkpoints (audit_checkpoint): with a real nginx, a real
# PostgreSQL and the offline verifier, what a database superuser or an
# editor of the JSON log does to the history is reported, and an
# untouched history, across a key rotation, verifies clean.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Copy qw(copy);
use Time::Local ();
use IO::Compress::Gzip qw(gzip $GzipError);
use Audit::Test;
use Audit::Token;
use Audit::Checkpoint;

my $t = Audit::Test->new;
my $dir = $t->dir;
my $root = $t->repo_root;

plan skip_all => 'build/audit-verify or build/pg/audit_ed25519.so not built (make build)'
    unless -x "$root/build/audit-verify" && -e "$root/build/pg/audit_ed25519.so";

# the server finds audit_ed25519.so where make build put it
$t->start_pg(settings => { dynamic_library_path => "$root/build/pg" });
my $writer = $t->audit_db;
sub sql { $t->psql($_[0], db => 'audit', user => $_[1] // 'postgres') }

is(sql('SELECT audit.ed25519_install()'), 'installed', 'audit.ed25519_verify() is the C function');

# without the library the function is a stand-in that refuses, never one
# that answers
eval { sql(<<'SQL') };
BEGIN;
SET LOCAL dynamic_library_path = '/nonexistent';
SELECT audit.ed25519_install();
SELECT audit.ed25519_verify('\x00', '\x00', '\x00');
ROLLBACK;
SQL
like($@, qr/audit\.ed25519_verify\(\) is not installed/, 'without the library: a stand-in that raises, naming it');

my ($key1, $pub1) = Audit::Checkpoint::keypair($dir, 'ckpt1');
my ($key2, $pub2) = Audit::Checkpoint::keypair($dir, 'ckpt2');
copy($key1, "$dir/checkpoint.key") or die "copy: $!";

my $secret = 'checkpoint test secret that is long enough';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $tok = Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor', sid => 's-1',
                                         exp => time + 3600 });

$t->write_nginx_conf(<<'CONF', workers => 1, vars => { CONN => $writer });
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=100 flush=100ms;
    audit_spool %%DIR%%/spool;
    audit_checkpoint %%DIR%%/checkpoint.key interval=1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/patients/(\d+) {
            audit_record patient $1;
            proxy_pass http://%%PORTAL%%;
        }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $log = "$dir/audit.jsonl";

# the newest checkpoint in the log covers seq >= $seq of the chain
sub covered {
    my ($producer, $seq) = @_;
    return $t->wait_until(sub {
        grep { $_->{action} eq 'checkpoint' && $_->{producer} eq $producer
               && $_->{checkpoint}{seq} >= $seq } $t->log_events($log);
    }, timeout => 10, interval => 0.2);
}

# first chain: 60 record views (an authz_check and a record_access each)
$t->request(GET => "/patients/$_", cookie => "session=$tok") for 1 .. 60;
my @ev = $t->wait_events($log, 120);
my $p1 = $ev[0]{producer};
ok(covered($p1, 119), 'within an interval a checkpoint covers the first 120 events');

my ($cp) = grep { $_->{action} eq 'checkpoint' } $t->log_events($log);
is_deeply([sort keys %{ $cp->{checkpoint} }],
          [qw(count final head interval kid prev_sig seq sig)], 'a checkpoint names what it signs');
is($cp->{checkpoint}{head}, $cp->{prev}, '... its head is the SHA-256 its line links to');
is($cp->{seq}, $cp->{checkpoint}{seq} + 1, '... it covers the event just before it');
ok(!grep({ /PRIVATE|BEGIN/ } $t->log_lines($log)), 'no key material in the log');

# rotation: a new key, nginx -s reload; the old worker signs its last
# checkpoint with the old key as it exits
is(sql(sprintf q{SELECT audit.add_checkpoint_key(%s)}, quote(Audit::Checkpoint::slurp($pub1))),
   kid_of($pub1), 'the first public key is registered under its kid');
my $rotated_at = sql('SELECT now()');
copy($key2, "$dir/checkpoint.key") or die "copy: $!";
$t->reload;
sql(sprintf q{UPDATE audit.checkpoint_keys SET valid_until = now() WHERE kid = '%s'}, kid_of($pub1));

$t->request(GET => "/patients/$_", cookie => "session=$tok") for 61 .. 90;
my $p2;
$t->wait_until(sub {
    ($p2) = map { $_->{producer} } grep { $_->{producer} ne $p1 } $t->log_events($log);
    $p2 && covered($p2, 59);
}, timeout => 10, interval => 0.2);
ok($p2, 'the new worker has its chain, covered by a checkpoint');

my @p1_final = grep { $_->{producer} eq $p1 && $_->{action} eq 'checkpoint'
                      && $_->{checkpoint}{final} } $t->log_events($log);
is(scalar @p1_final, 1, 'the old worker ended its chain with one final checkpoint');
is($p1_final[0]{checkpoint}{kid}, kid_of($pub1), '... signed with the old key');

# a quit: the last worker's final checkpoint; what PostgreSQL did not get
# (spooled at exit) is backfilled from the log
$t->stop_nginx;
my $out = `"$root/sql/backfill" "$writer" "$log" 2>&1`;
is($?, 0, 'sql/backfill stored the rest of the log') or diag $out;
my @lines = $t->log_lines($log);
is(sql('SELECT count(*) FROM audit.events'), scalar @lines, 'every line of the log is a row');
like(Audit::Checkpoint::slurp($log), qr/"final":true.*\n\z/, 'the log ends with a final checkpoint');

my $report = sub {
    my ($sql) = @_;
    my %r;
    for (split /\n/, sql($sql)) {
        my ($producer, @f) = split /\|/;
        $r{$producer} = \@f;
    }
    return \%r;
};
my $VERIFY = q{SELECT producer, ok, closed, unsigned_tail, verified_seq = last_seq - 1,
                      cardinality(bad_signatures), cardinality(unknown_keys), cardinality(rewritten),
                      cardinality(checkpoint_links), missing, cardinality(missing_intervals), verified_seq
               FROM audit.verify_checkpoints(%s)};
sub verify_sql { $report->(sprintf $VERIFY, $_[0] // '') }

# the new key is not registered yet: its checkpoints are unknown
my $r = verify_sql();
is($r->{$p1}[0], 't', 'before the new key is registered the first chain verifies');
is($r->{$p2}[0], 'f', '... the second does not');
cmp_ok($r->{$p2}[5], '>', 0, '... its checkpoints have an unknown key');

sql(sprintf q{SELECT audit.add_checkpoint_key(%s, '%s')}, quote(Audit::Checkpoint::slurp($pub2)), $rotated_at);

# untouched, across the rotation: clean
$r = verify_sql();
is_deeply([sort keys %$r], [sort $p1, $p2], 'verify_checkpoints: one row per chain');
for my $p ($p1, $p2) {
    is_deeply([@{ $r->{$p} }[0 .. 9]], [qw(t t 0 t 0 0 0 0 0 0)], "untouched $p: ok, closed, nothing unsigned, nothing wrong")
        or diag explain $r->{$p};
}
is(sql(q{SELECT count(*) FROM audit.verify_checkpoints() WHERE ok}, 'audit_reader'), 2,
   'audit_reader may run it');
my $mid_ts = sql(qq{SELECT ts FROM audit.events WHERE producer = '$p1' AND seq = 50});
$r = verify_sql("'$mid_ts'");
ok($r->{$p1}[0] eq 't' && $r->{$p2}[0] eq 't', 'since the middle of the first chain: clean')
    or diag explain $r;
cmp_ok($r->{$p1}[10], '>=', 100, '... verified to its end');
$r = verify_sql(q{NULL, now() + interval '1 hour'});
ok($r->{$p1}[0] eq 't' && $r->{$p2}[0] eq 't', 'closed chains are not silent an hour later');

# --- a database superuser rewrites the first chain's last 100 rows, with
# correctly recomputed hashes, and makes the columns match the lines
my $p1_last = sql(qq{SELECT max(seq) FROM audit.events WHERE producer = '$p1'});
my $REWRITE = <<"SQL";
DO \$\$
DECLARE
    r record; h text; l text;
BEGIN
    SELECT encode(sha256(convert_to(line, 'UTF8')), 'hex') INTO h
    FROM audit.events WHERE producer = '$p1' AND seq = $p1_last - 100;
    FOR r IN SELECT id, ts, line FROM audit.events
             WHERE producer = '$p1' AND seq > $p1_last - 100 ORDER BY seq
    LOOP
        l := regexp_replace(replace(r.line, '"user_id":"u-ann"', '"user_id":"u-eve"'),
                            '"prev":"[0-9a-f]{64}"', '"prev":"' || h || '"');
        DELETE FROM audit.events WHERE id = r.id AND ts = r.ts;
        INSERT INTO audit.events SELECT * FROM audit.event_from_line(l);
        h := encode(sha256(convert_to(l, 'UTF8')), 'hex');
    END LOOP;
END
\$\$;
SQL
my ($chain, $ckpt, $export) = split /\n===\n/, sql(<<"SQL");
BEGIN;
$REWRITE
SELECT ok || ',' || cardinality(broken_links) || ',' || cardinality(tampered)
FROM audit.verify_chain(NULL) WHERE producer = '$p1';
SELECT '===';
SELECT ok || ',' || cardinality(rewritten) || ',' || coalesce(verified_seq, -1)
FROM audit.verify_checkpoints() WHERE producer = '$p1';
SELECT '===';
SELECT line FROM audit.events ORDER BY producer, seq;
ROLLBACK;
SQL
is($chain, 'true,0,0', 'rewrite of 100 rows with recomputed hashes: verify_chain sees nothing');
my ($ok, $rewritten, $verified) = split /,/, $ckpt;
is($ok, 'false', '... verify_checkpoints reports it');
cmp_ok($rewritten, '>', 0, '... as rows not matching a signed head');
cmp_ok($verified, '<', $p1_last - 100, '... verified only up to before the rewrite');

# the same rows exported and checked offline, with the key pinned outside
# the database (a superuser could also replace the SQL functions)
open my $fh, '>', "$dir/export.jsonl" or die; print $fh $export, "\n"; close $fh;
my ($status, $text) = Audit::Checkpoint::verify($root, '-k', $pub1, '-k', $pub2, "$dir/export.jsonl");
is($status, 1, 'audit-verify on the rewritten rows exported: exit 1');
like(Audit::Checkpoint::verdict($text, $p1), qr/FAILED.*rewritten/, '... the first chain: rewritten');
like(Audit::Checkpoint::verdict($text, $p2), qr/: ok: /, '... the second: ok');

# --- one byte of a checkpoint in the middle flipped
my $mid = sql(qq{SELECT seq FROM audit.events WHERE producer = '$p1' AND action = 'checkpoint'
                 ORDER BY seq OFFSET 1 LIMIT 1});
my $flip = sql(<<"SQL");
BEGIN;
UPDATE audit.events
   SET line = regexp_replace(line, '"sig":"(.)',
                             CASE WHEN line ~ '"sig":"a' THEN '"sig":"b' ELSE '"sig":"a' END)
 WHERE producer = '$p1' AND seq = $mid;
SELECT ok || ',' || array_to_string(bad_signatures, ' ')
FROM audit.verify_checkpoints() WHERE producer = '$p1';
ROLLBACK;
SQL
is($flip, "false,$mid", 'a checkpoint with one flipped byte: reported as a bad signature at its seq');

# --- the newest rows of the newest chain deleted, once a checkpoint
# covered them (the final one goes with them)
my $p2_last = sql(qq{SELECT max(seq) FROM audit.events WHERE producer = '$p2'});
my ($chain2, $ckpt2) = split /\n===\n/, sql(<<"SQL");
BEGIN;
DELETE FROM audit.events WHERE producer = '$p2' AND seq > $p2_last - 10;
SELECT ok FROM audit.verify_chain(NULL) WHERE producer = '$p2';
SELECT '===';
SELECT ok || ',' || closed || ',' || cardinality(missing_intervals) || ',' || unsigned_tail
FROM audit.verify_checkpoints(NULL, now() + interval '1 hour') WHERE producer = '$p2';
ROLLBACK;
SQL
is($chain2, 't', 'the newest chain cut short: verify_chain sees nothing');
is($ckpt2, 'false,false,1,' . ($p2_last - 9),
   '... verify_checkpoints: not closed, every row unsigned, silent past its interval');

# --- the chain before the reload deleted whole, checkpoints included: the
# chain after it names it (its first event's "after", under its signatures)
my $gone = sql(<<"SQL");
BEGIN;
DELETE FROM audit.events WHERE producer = '$p1';
SELECT ok || ',' || events || ',' || missing FROM audit.verify_checkpoints() WHERE producer = '$p1';
ROLLBACK;
SQL
my $named = sql(qq{SELECT (regexp_match(extra->>'after', ':([0-9]+)\$'))[1] FROM audit.events
                   WHERE producer = '$p2' AND seq = 0});
like($named, qr/^\d+$/, "the chain after the reload names the first up to seq $named");
is($gone, 'false,0,' . ($named + 1),
   'the first chain deleted whole: verify_checkpoints names it, every seq up to the named one missing');

$r = verify_sql();
ok($r->{$p1}[0] eq 't' && $r->{$p2}[0] eq 't', 'after the rollbacks: clean again');

# --- the offline verifier on copies of the JSON log
my $copy = sub {
    my ($name, @l) = @_;
    open my $out, '>', "$dir/$name" or die; print $out map { "$_\n" } @l; close $out;
    return "$dir/$name";
};
my @keys = ('-k', $pub1, '-k', $pub2);

($status, $text) = Audit::Checkpoint::verify($root, @keys, $log);
is($status, 0, 'audit-verify: the untouched log, exit 0') or diag $text;
like(Audit::Checkpoint::verdict($text, $_), qr/: ok: .* 0 unsigned, closed$/, "... $_ ok and closed")
    for $p1, $p2;

gzip($log => "$dir/audit.jsonl.gz") or die $GzipError;
($status) = Audit::Checkpoint::verify($root, @keys, "$dir/audit.jsonl.gz");
is($status, 0, '... and its gzip copy');

# a whole chain deleted, its checkpoints with it: the next one names it
my @without = grep { JSON::PP->new->decode($_)->{producer} ne $p1 } @lines;
like((grep { JSON::PP->new->decode($_)->{producer} eq $p2 } @without)[0], qr/"after":"\Q$p1\E:\d+"/,
     "the chain after the reload names the one before it");
($status, $text) = Audit::Checkpoint::verify($root, @keys, $copy->('no-first-chain.jsonl', @without));
is($status, 1, 'audit-verify: the chain before the reload deleted whole: exit 1');
like(Audit::Checkpoint::verdict($text, $p1), qr/FAILED.*missing/, '... it is named, and missing') or diag $text;
like(Audit::Checkpoint::verdict($text, $p2), qr/: ok: /, '... the chain that names it is fine');

($status, $text) = Audit::Checkpoint::verify($root, '-k', $pub1, $log);
is($status, 1, 'without the new key: exit 1');
like(Audit::Checkpoint::verdict($text, $p2), qr/FAILED.*unknown keys/, '... the new chain\'s key is unknown');

my ($edit_seq) = map { $_->{seq} } grep { $_->{producer} eq $p1 && ($_->{user_id} // '') eq 'u-ann' }
                                    map { JSON::PP->new->decode($_) } @lines;
my @rehashed = Audit::Checkpoint::rehash(\@lines, $p1, $edit_seq + 20,
                                         sub { (my $l = shift) =~ s/"u-ann"/"u-eve"/; $l });
($status, $text) = Audit::Checkpoint::verify($root, @keys, $copy->('rehashed.jsonl', @rehashed));
is($status, 1, 'a line edited and the log rehashed from it: exit 1');
like(Audit::Checkpoint::verdict($text, $p1), qr/FAILED.*rewritten/, '... rewritten');
unlike(Audit::Checkpoint::verdict($text, $p1), qr/broken links/, '... though every link checks');

my @p2_lines = grep { index($_, qq{"producer":"$p2"}) >= 0 } @lines;
my %cut = map { $_ => 1 } @p2_lines[-10 .. -1];
($status, $text) = Audit::Checkpoint::verify($root, @keys, $copy->('cut.jsonl', grep { !$cut{$_} } @lines));
is($status, 1, 'the newest chain\'s last 10 lines cut: exit 1');
like(Audit::Checkpoint::verdict($text, $p2), qr/FAILED.*not closed/, '... not closed');

my @flipped = map { my $l = $_; $l =~ s/("sig":")(.)/$1 . ($2 eq 'a' ? 'b' : 'a')/e
                        if index($l, qq{"producer":"$p1"}) >= 0 && $l =~ /"seq":$mid,/; $l } @lines;
($status, $text) = Audit::Checkpoint::verify($root, @keys, $copy->('flipped.jsonl', @flipped));
is($status, 1, 'a checkpoint with one flipped byte: exit 1');
like(Audit::Checkpoint::verdict($text, $p1), qr/FAILED.*bad signatures/, '... a bad signature');

my @gap = grep { !(index($_, qq{"producer":"$p1"}) >= 0 && /"seq":50,/) } @lines;
($status, $text) = Audit::Checkpoint::verify($root, @keys, $copy->('gap.jsonl', @gap));
like(Audit::Checkpoint::verdict($text, $p1), qr/FAILED.*1 missing/, 'a line deleted in the middle: 1 missing');

# --- issue 18: what the reviewer's copies showed (/tmp/rv), in both
# verifiers.  A forged tail: the newest chain's final checkpoint
# replaced by an event chained to the line before it
my @c2 = grep { index($_, qq{"producer":"$p2"}) >= 0 } @lines;
my ($c2_final) = grep { /"final":true/ } @c2;
my ($c2_tpl) = grep { /"action":"record_access"/ } @c2;
my ($c2_before) = grep { /"seq":@{[ $p2_last - 1 ]},"prev"/ } @c2;
my ($final_ts) = $c2_final =~ /"ts":"([^"]+)"/;
my $forged_late = forge($c2_tpl, $c2_before, $p2_last, ts_add($final_ts, 3600), 1);
my $forged_now = forge($c2_tpl, $c2_before, $p2_last, $final_ts, 2);

my $FORGE = q{BEGIN;
DELETE FROM audit.events WHERE producer = '%s' AND seq = %d;
INSERT INTO audit.events SELECT * FROM audit.event_from_line(%s);
SELECT ok || ',' || array_to_string(missing_intervals, ';')
FROM audit.verify_checkpoints(NULL, '%s') WHERE producer = '%s';
ROLLBACK;};
like(sql(sprintf $FORGE, $p2, $p2_last, quote($forged_late), $final_ts, $p2),
     qr/^false,unsigned: a row at /, 'verify_checkpoints: an unsigned row an hour after the last checkpoint: missing interval');
is(sql(sprintf $FORGE, $p2, $p2_last, quote($forged_now), $final_ts, $p2), 'true,',
   '... one at its time: ok (open)');

my @tail_late = ((grep { $_ ne $c2_final } @lines), $forged_late);
($status, $text) = Audit::Checkpoint::verify($root, '-o', @keys, $copy->('forged-tail.jsonl', @tail_late));
is($status, 1, 'audit-verify -o: a forged unsigned tail an hour later: exit 1');
like(Audit::Checkpoint::verdict($text, $p2), qr/FAILED.*missing checkpoint intervals; first at seq $p2_last$/,
     '... a missing interval at its seq');
my @tail_now = ((grep { $_ ne $c2_final } @lines), $forged_now);
($status, $text) = Audit::Checkpoint::verify($root, '-o', @keys, $copy->('open-tail.jsonl', @tail_now));
is($status, 0, '... one at the checkpoint\'s time: exit 0 (open)') or diag $text;
($status, $text) = Audit::Checkpoint::verify($root, '-o', '--as-of', ts_add($final_ts, 3600), @keys,
                                             "$dir/open-tail.jsonl");
like(Audit::Checkpoint::verdict($text, $p2), qr/FAILED.*missing checkpoint intervals/,
     '... as of an hour later: silent, FAILED');
($status, $text) = Audit::Checkpoint::verify($root, '-o', '--as-of', $final_ts, @keys, "$dir/open-tail.jsonl");
is($status, 0, '... as of its time: exit 0');

# a chain with no checkpoint at all, spanning more than one interval
my $none0 = forge($c2_tpl, undef, 0, $final_ts, 3);
$none0 =~ s/"producer":"[^"]+"/"producer":"web9\/forged\/0"/;
my $none1 = forge($none0, $none0, 1, ts_add($final_ts, 2), 4);
my $none1_now = forge($none0, $none0, 1, $final_ts, 5);
($status, $text) = Audit::Checkpoint::verify($root, '-o', @keys, $copy->('none.jsonl', @lines, $none0, $none1));
like(Audit::Checkpoint::verdict($text, 'web9/forged/0'), qr/FAILED.*0 checkpoints.*missing checkpoint intervals/,
     'audit-verify -o: a chain without checkpoint spanning 2 s of a 1 s interval: FAILED');
is($status, 1, '... exit 1');
($status, $text) = Audit::Checkpoint::verify($root, '-o', @keys, $copy->('none-now.jsonl', @lines, $none0, $none1_now));
is($status, 0, '... within one interval: exit 0') or diag $text;
my $NONE = q{BEGIN;
INSERT INTO audit.events SELECT * FROM audit.event_from_line(%s);
INSERT INTO audit.events SELECT * FROM audit.event_from_line(%s);
SELECT ok || ',' || array_to_string(missing_intervals, ';')
FROM audit.verify_checkpoints(NULL, '%s') WHERE producer = 'web9/forged/0';
ROLLBACK;};
like(sql(sprintf $NONE, quote($none0), quote($none1), $final_ts), qr/^false,no checkpoint: rows from /,
     'verify_checkpoints: the same chain: missing interval');
is(sql(sprintf $NONE, quote($none0), quote($none1_now), $final_ts), 'true,', '... within one interval: ok');

# an event whose chain members were cut, and a log with no chain
my $cut_chain = $c2_tpl =~ s/,"producer".*\}$/}/r;
($status, $text) = Audit::Checkpoint::verify($root, @keys, $copy->('unchained.jsonl', @lines, $cut_chain));
is($status, 1, 'audit-verify: an event without its chain members: exit 1');
like($text, qr/^FAILED: 1 line not an audit event/m, '... counted as malformed');
($status, $text) = Audit::Checkpoint::verify($root, @keys, $copy->('empty.jsonl'));
is($status, 1, 'audit-verify: an empty log: exit 1');
like($text, qr/^FAILED: no chain found$/m, '... no chain found');

# members added to the final checkpoint: its signature and no prev cover them
my $c2_extra = $c2_final =~ s/"severity":"info",/"severity":"info","user_id":"u-mallory","resource_id":"13",/r;
($status, $text) = Audit::Checkpoint::verify($root, @keys,
                                             $copy->('extra.jsonl', map { $_ eq $c2_final ? $c2_extra : $_ } @lines));
is($status, 1, 'audit-verify: the final checkpoint with a user_id added: exit 1');
like(Audit::Checkpoint::verdict($text, $p2), qr/FAILED.*not closed; 1 bad signatures; first at seq $p2_last$/,
     '... a bad checkpoint at its seq, not closed');
my $EDIT = q{BEGIN;
UPDATE audit.events SET line = %s WHERE producer = '%s' AND seq = %d;
SELECT ok || ',' || closed || ',' || array_to_string(bad_signatures, ' ')
FROM audit.verify_checkpoints() WHERE producer = '%s';
ROLLBACK;};
is(sql(sprintf $EDIT, quote($c2_extra), $p2, $p2_last, $p2), "false,false,$p2_last",
   'verify_checkpoints: the same: a bad signature at its seq, not closed');

# a ts PostgreSQL and the C verifier could read differently: refused by both
for my $ts (ts_digit($final_ts), '2026-02-31T00:00:00.000Z', '2026-12-02T23:59:60.000Z') {
    my $l = $c2_final =~ s/"ts":"[^"]+"/"ts":"$ts"/r;
    is(sql(sprintf $EDIT, quote($l), $p2, $p2_last, $p2), "false,false,$p2_last",
       "verify_checkpoints: the final checkpoint's ts $ts: refused");
    ($status, $text) = Audit::Checkpoint::verify($root, @keys,
                                                 $copy->('ts.jsonl', map { $_ eq $c2_final ? $l : $_ } @lines));
    like(Audit::Checkpoint::verdict($text, $p2), qr/FAILED.*not closed/, "... audit-verify: not closed");
    is($status, 1, '... exit 1');
}

# a key only within its validity, as audit.checkpoint_keys' windows
($status, $text) = Audit::Checkpoint::verify($root, '-k', "$pub1\@" . ts_add($final_ts, 60), '-k', $pub2, $log);
is($status, 1, 'audit-verify -k KEY@FROM: the old key valid only from after the run: exit 1');
like(Audit::Checkpoint::verdict($text, $p1), qr/FAILED.*unknown keys/, '... its checkpoints: unknown keys');
(my $start_ts) = $lines[0] =~ /"ts":"([^"]+)"/;
($status, $text) = Audit::Checkpoint::verify($root, '-k', "$pub1\@" . ts_add($start_ts, -60) . ',' . ts_add($final_ts, 60),
                                             '-k', "$pub2\@" . ts_add($start_ts, -60), $log);
is($status, 0, '... valid from before to after it: exit 0') or diag $text;
($status, $text) = Audit::Checkpoint::verify($root, '-k', "$pub1\@2026-13-01T00:00:00Z", $log);
is($status, 2, '... a FROM that is no time: exit 2');

ok($t->error_log !~ /\[(alert|crit|emerg)\]|exited on signal/, 'no alert, crash or emergency in the error log')
    or diag grep { /\[(alert|crit|emerg)\]|exited on signal/ } split /\n/, $t->error_log;

done_testing;


sub quote { my $s = shift; $s =~ s/'/''/g; "'$s'" }

# $tpl, rechained: seq $seq after the line $prev (undef: first), at $ts
sub forge {
    my ($tpl, $prev, $seq, $ts, $n) = @_;
    my $id = sprintf '01a23800-0000-7000-8000-%012d', $n;
    my $h = defined $prev ? '"' . Digest::SHA::sha256_hex($prev) . '"' : 'null';
    my $l = $tpl;
    $l =~ s/"id":"[^"]+"/"id":"$id"/ or die;
    $l =~ s/"ts":"[^"]+"/"ts":"$ts"/ or die;
    $l =~ s/"seq":\d+,"prev":(null|"[0-9a-f]{64}")/"seq":$seq,"prev":$h/ or die;
    return $l;
}

# an RFC 3339 ts of the module's form, $s seconds later
sub ts_add {
    my ($ts, $s) = @_;
    my ($y, $mo, $d, $h, $mi, $sec, $ms) = $ts =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/ or die $ts;
    my @t = gmtime(Time::Local::timegm($sec, $mi, $h, $d, $mo - 1, $y) + $s);
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02d.%sZ', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0], $ms;
}

# the same ts with a fourth digit of the second
sub ts_digit { my $ts = shift; $ts =~ s/Z$/9Z/; $ts }

sub kid_of {
    my ($pub) = @_;
    my $der = `openssl pkey -pubin -in $pub -outform DER`;
    return substr(Digest::SHA::sha256_hex(substr($der, 12)), 0, 16);
}
