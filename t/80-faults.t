# Faults under load, and nothing lost: PostgreSQL's backend killed with -9
# mid-batch, a key file replaced by garbage and a reload, a tracker that
# resets every connection; then a spool that fills up (max_size=) while
# PostgreSQL is down, recovered from the JSON log with sql/backfill.  Each
# phase ends with rows = JSON log lines and audit.verify_chain clean.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Audit::Test;
use Audit::Token;
use Audit::Sentry;

plan skip_all => 'wrk not installed' unless -x '/usr/bin/wrk';

my $t = Audit::Test->new;
my $dir = $t->dir;
my $rx = Audit::Sentry->start($t, project => 8, key => 'faultskey');
$rx->set(mode => 'reset');

my $writer = $t->audit_db;

my $secret = 'faults under load: a secret long enough';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $tok = Audit::Token::hs256($secret, { sub => 'u-fay', role => 'doctor', sid => 's-f',
                                         exp => time + 3600 });

sub conf {
    my ($spool) = @_;
    $t->write_nginx_conf(<<'CONF', workers => 2, vars => { CONN => $writer, DSN => $rx->dsn, SPOOL => $spool });
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=200 flush=100ms;
    audit_spool %%DIR%%/spool %%SPOOL%%;
    audit_sentry_dsn %%DSN%%;
    upstream portal { server %%PORTAL%%; keepalive 16; }
    server {
        listen 127.0.0.1:%%PORT%%;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location ~ ^/patients/(\d+) { audit_record patient $1; proxy_pass http://portal; }
        location / { proxy_pass http://portal; }
    }
CONF
}

my $log = "$dir/audit.jsonl";
sub rows { $t->psql('SELECT count(*) FROM audit.events', db => 'audit') }
sub lines { scalar(() = $t->log_lines($log)) }
sub chain_ok {
    $t->psql("SELECT coalesce(bool_and(ok), false) FROM audit.verify_chain(now() - interval '1 hour')",
             db => 'audit', user => 'audit_reader');
}
sub settled {
    my $want = lines();
    $t->wait_until(sub { rows() >= $want }, timeout => 60, interval => 0.5);
    sleep 0.5;
    return (rows(), lines());
}

conf('max_size=1g');
$t->start_portal;
$t->start_nginx;

# --- phase 1: faults under load -------------------------------------------

my $wrk = $t->start_wrk(path => '/patients/7', seconds => 8, cookie => "session=$tok");
sleep 2;
my @backends = grep { /^\d+$/ } split /\n/, $t->psql(
    q{SELECT pid FROM pg_stat_activity WHERE usename = 'audit_writer'}, db => 'audit');
ok(scalar @backends, 'the shipper\'s PostgreSQL backends: ' . join(' ', @backends));
kill KILL => @backends;                 # PostgreSQL restarts all its processes
$t->wait_until(sub { eval { $t->psql('SELECT 1', db => 'audit') } }, timeout => 30);
like($t->pg_log, qr/terminated by signal 9/, 'PostgreSQL saw its backend killed with -9');

sleep 1;
$t->file('hmac.key', '{"keys": [ {"kty": "oct", "k": "!!", ');
ok(!eval { $t->reload(timeout => 3); 1 }, 'a reload with a garbage key file is refused');
like($t->error_log, qr/\[emerg\].*audit_session_keys/, '... naming audit_session_keys');

sleep 1;
$rx->set(mode => 'ok');
my $load = $t->wrk_result($wrk);
ok($load->{requests} > 500, "wrk completed $load->{requests} requests") or diag $load->{report};
ok(!$load->{non_2xx}, 'every response was a 2xx: the old key kept verifying') or diag $load->{report};

my ($rows, $lines) = settled();
is($rows, $lines, "after the backend kill: rows = log lines ($lines)");
is($t->psql('SELECT count(*) - count(DISTINCT id) FROM audit.events', db => 'audit'), 0,
   'no duplicate rows: the batch that died with the backend was sent again once');
is(chain_ok(), 't', 'verify_chain: every chain intact');

# --- phase 2: the spool fills up while PostgreSQL is down ------------------

$t->file('hmac.key', $secret);
conf('max_size=64k');
$t->reload;
my $stored = rows();
$t->stop_pg;

my $before = lines();
for my $i (1 .. 300) {
    $t->request(GET => "/patients/$i", cookie => "session=$tok")->{status} == 200
        or fail("request $i"), last;
}
my $want = $before + 600;
$t->wait_events($log, $want);
is(lines(), $want, 'the JSON log has every event (300 record views, 2 events each)');
$t->wait_until(sub { $t->error_log =~ /audit_spool_full/ }, timeout => 10);
like($t->error_log, qr/\[alert\].*audit: audit_spool_full: .* reached 65536 bytes/,
     'the error log says audit_spool_full');
$t->wait_until(sub { $rx->issues->{'module_fault:spool_full'} }, timeout => 15);
ok($rx->issues->{'module_fault:spool_full'}, 'the tracker has a module_fault:spool_full issue');

# what the spool holds: one row a line (COPY's text format escapes newlines)
my $held = 0;
for my $f (glob "$dir/spool/*.spool") {
    open my $fh, '<:raw', $f or next;
    $held += () = do { local $/; <$fh> // '' } =~ /\n/g;
}
cmp_ok($held, '>', 0, "the spool holds $held events while PostgreSQL is down");

$t->start_pg_again;
# (glob in list context: a scalar glob is an iterator, true every other call)
ok($t->wait_until(sub { my @left = glob "$dir/spool/*.spool"; !@left }, timeout => 60, interval => 0.5),
   'the spool emptied once PostgreSQL was back');
sleep 1;
($rows, $lines) = (rows(), lines());
cmp_ok($rows - $stored, '>=', $held,
       "the spool replayed what it held: $held events, rows $stored -> $rows");
cmp_ok($rows, '<', $lines,
       "... and what the full spool turned away is only in the JSON log: $rows rows of $lines lines");

# SHELL=/bin/sh: split(1) runs backfill's filter through $SHELL, and where
# that is dash (as under CI) bash's exported functions do not get through
local $ENV{SHELL} = '/bin/sh';
my $backfill = `sql/backfill "$writer" "$log" 2>&1`;
is($? >> 8, 0, 'sql/backfill from the JSON log') or diag $backfill;
like($backfill, qr/^\Q$log\E: @{[ $lines - $rows ]} rows added$/m,
     'it adds exactly the missing rows (' . ($lines - $rows) . ')');
is(rows(), $lines, "rows = log lines ($lines)");
is(chain_ok(), 't', 'verify_chain: every chain intact');
like(scalar `sql/backfill "$writer" "$log" 2>&1`, qr/: 0 rows added$/m, 'a second backfill adds nothing');

unlike($t->error_log, qr/exited on signal|\[emerg\](?!.*audit_session_keys)/, 'no crash');

$t->stop_all_and_check;
done_testing;
