# A worker killed with -9 loses at most the events it still held in memory
# (its PostgreSQL queue): the worker started in its place counts them
# (error log, audit_status, one tracker issue), its first event names the
# dead chain's last seq, and audit.verify_chain reports exactly that many
# missing.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use Audit::Test;
use Audit::Token;
use Audit::Sentry;

my $t = Audit::Test->new;
my $dir = $t->dir;
my $rx = Audit::Sentry->start($t, project => 5, key => 'killkey');

my $writer = $t->audit_db;

my $secret = 'worker kill test secret, long enough';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $tok = Audit::Token::hs256($secret, { sub => 'u-kim', role => 'doctor', sid => 's-9',
                                         exp => time + 3600 });

# batches wait 8 s: the first events are still in memory at the kill
my %vars = (CONN => $writer, DSN => $rx->dsn);
$t->write_nginx_conf(<<'CONF', workers => 1, vars => \%vars);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=10000 flush=8s;
    audit_spool %%DIR%%/spool;
    audit_sentry_dsn %%DSN%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/patients/(\d+) { audit_record patient $1; proxy_pass http://%%PORTAL%%; }
        location = /_audit/status { audit_status; audit_public on; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $log = "$dir/audit.jsonl";
sub status { decode_json($t->request(GET => '/_audit/status', headers => { Accept => 'application/json' })->{content}) }
sub rows { $t->psql('SELECT count(*) FROM audit.events', db => 'audit') }

ok($t->wait_until(sub { $t->error_log =~ /connected to PostgreSQL/ }, timeout => 15),
   'the worker is connected to PostgreSQL');

$t->request(GET => "/patients/$_", cookie => "session=$tok") for 1 .. 10;
$t->wait_events($log, 20);
sleep 0.3;                          # the log is flushed every 100 ms
my @first = $t->log_events($log);
my $held = @first;
is(rows(), 0, "$held events logged, none stored yet: they are in the worker's memory");

my ($victim) = $t->worker_pids;
ok(kill(KILL => $victim), "worker $victim killed with -9");
my $next;
$t->wait_until(sub { ($next) = grep { $_ != $victim } $t->worker_pids; $next }, timeout => 10);
ok($next, "the master started worker $next in its place");

# counted: the error log, audit_status, the tracker
$t->wait_until(sub { $t->error_log =~ /died with/ }, timeout => 10);
like($t->error_log, qr/\[alert\].*worker process $victim died with $held audit events not yet stored/,
     "the new worker logs the loss: $held events");
is(status()->{postgresql}{events_lost}, $held, "audit_status: events_lost = $held");
$t->wait_until(sub { $rx->issues->{'module_fault:events_lost'} }, timeout => 10);
is($rx->issues->{'module_fault:events_lost'}{count}, 1, 'one tracker issue: module_fault:events_lost');

# the new chain names where the dead one ended
$t->request(GET => "/patients/$_", cookie => "session=$tok") for 11 .. 15;
my @all = $t->wait_events($log, $held + 10);
my $dead = $first[0]{producer};
my ($start) = grep { $_->{producer} ne $dead } @all;
is($start->{seq}, 0, 'the new worker starts a new chain');
is($start->{after}, "$dead:" . ($held - 1), 'its first event names the dead chain and its last seq');

# once the new worker's batch is stored: everything but the lost events
my $lines = () = $t->log_lines($log);
$t->wait_until(sub { rows() >= $lines - $held }, timeout => 30, interval => 0.5);
sleep 0.5;
is(rows(), $lines - $held, "rows = log lines - lost ($lines - $held)");

my %chain = map { my @f = split /\|/; ($f[0] => { events => $f[1], missing => $f[2], ok => $f[3] }) }
    split /\n/, $t->psql(q{SELECT producer || '|' || events || '|' || missing || '|' || ok
                           FROM audit.verify_chain()}, db => 'audit', user => 'audit_reader');
is_deeply($chain{$dead}, { events => 0, missing => $held, ok => 'false' },
          "verify_chain: the dead chain is reported with $held missing, the loss counted");
is($chain{$start->{producer}}{ok}, 'true', '... the new chain is intact');
my $missing = 0;
$missing += $_->{missing} for values %chain;
is($missing, $held, 'verify_chain\'s gap equals the loss counted after the restart');

# a reload is not a death: the old worker exits gracefully, nothing counted
$t->request(GET => "/patients/$_", cookie => "session=$tok") for 16 .. 18;
$t->reload;
$t->request(GET => '/patients/19', cookie => "session=$tok");
$t->stop_nginx;
my $counted = () = $t->error_log =~ /died with/g;
is($counted, 1, 'only the killed worker\'s loss was counted, none at the reload');

$t->stop_all_and_check;
done_testing;
