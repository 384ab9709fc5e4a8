# What audit_ring cannot save is still counted and named: a hard stop of
# the whole of nginx (kill -9 of the master and its worker) takes the
# shared memory with the events the worker held for PostgreSQL.  The next
# nginx reads the worker's snapshot (audit_ring state=DIR) and reports the
# loss: the error log names the process, the chain and its seqs, audit_status
# counts it, the tracker gets one issue.  A graceful stop loses nothing
# and counts nothing.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use Audit::Test;
use Audit::Token;
use Audit::Ring;

# batches wait 30 s: the events are only in memory when nginx goes
my $s = Audit::Ring->setup(workers => 1, ring => '1m', flush => '30s', project => 6, key => 'lostkey');
my ($t, $rx, $tok, $log) = @$s{qw(t rx tok log)};
my $dir = $t->dir;
sub status { $s->status }
sub rows { $s->rows }
sub snapshots { opendir my $d, "$dir/ring" or die; grep { /^audit-ring-\d+\.state$/ } readdir $d }

ok($t->wait_until(sub { $t->error_log =~ /connected to PostgreSQL/ }, timeout => 15),
   'the worker is connected to PostgreSQL');

# 1. a graceful stop: the worker spools what it holds, nothing is lost

$t->request(GET => "/patients/$_", cookie => "session=$tok") for 1 .. 3;
$t->wait_events($log, 3);
my ($worker) = $t->worker_pids;
is_deeply([snapshots()], ["audit-ring-$worker.state"], 'the worker keeps a snapshot of its ring');
$t->stop_nginx;
is_deeply([snapshots()], [], 'a graceful stop leaves no snapshot: nothing was outstanding');
$t->start_nginx;
ok($t->wait_until(sub { rows() >= 6 }, timeout => 20, interval => 0.5),
   'the spooled events reach PostgreSQL after the restart');
unlike($t->error_log, qr/are lost|is lost/, 'nothing counted as lost');
is(status()->{postgresql}{events_lost}, 0, 'audit_status: events_lost = 0');

# 2. a hard stop: the shared memory goes with the events in it

my $before = () = $t->log_lines($log);
$t->request(GET => "/patients/$_", cookie => "session=$tok") for 11 .. 20;
my @events = $t->wait_events($log, $before + 20);
sleep 0.3;                          # the log is flushed every 100 ms
@events = $t->log_events($log);
my @new = @events[$before .. $#events];
is(scalar(@new), 20, '20 new events in the log');
is(rows(), $before, '... none in PostgreSQL yet');

($worker) = $t->worker_pids;
my $snap = "$dir/ring/audit-ring-$worker.state";
ok($t->wait_until(sub { -e $snap && (do { local (@ARGV, $/) = $snap; <> } =~ /events=20 /) }, timeout => 5),
   'the snapshot says the ring holds 20 events not yet stored');

my $master = $t->nginx_pid;
is(kill(KILL => $master, $worker), 2, "master $master and worker $worker killed with -9");
ok($t->wait_until(sub { !$t->process_alive($master) && !$t->process_alive($worker) }, timeout => 5),
   'nginx is gone, and its shared memory with it');

$t->start_nginx;
my $chain = $new[0]{producer};
my ($first, $last) = ($new[0]{seq}, $new[-1]{seq});
ok($t->wait_until(sub { $t->error_log =~ /shared memory of an earlier nginx is gone/ }, timeout => 10),
   'the new nginx reports the lost shared memory');
like($t->error_log,
     qr/\[alert\].*worker process $worker still held 20 audit events not yet stored \(0 not in the JSON log, 20 not in PostgreSQL\) of chain "\Q$chain\E" seq $first to $last: they are lost/,
     'the error log counts and names the loss: process, chain, seqs');
is(status()->{postgresql}{events_lost}, 20, 'audit_status: events_lost = 20');
ok($t->wait_until(sub { $rx->issues->{'module_fault:events_lost'} }, timeout => 10),
   'the tracker gets module_fault:events_lost');
is($rx->issues->{'module_fault:events_lost'}{count}, 1, '... once');
is_deeply([grep { $_ ne "audit-ring-" . ($t->worker_pids)[0] . ".state" } snapshots()], [],
          'the dead worker\'s snapshot is gone: the loss is counted once');

# the log kept them (it had written them): PostgreSQL has what was not lost
my $lost = $t->psql("SELECT count(*) FROM audit.events WHERE producer = '$chain'", db => 'audit');
is($lost, 0, 'PostgreSQL has none of the lost chain\'s events');

# the new worker's first event names the lost chain and its last seq
$t->request(GET => '/patients/30', cookie => "session=$tok");
my @after = $t->wait_events($log, @events + 2);
my ($next) = grep { $_->{producer} ne $chain && $_->{seq} == 0 } @after[scalar(@events) .. $#after];
is($next && $next->{after}, "$chain:$last", 'the next chain names the lost one and its last seq');

# counted once: another restart counts nothing more
$t->stop_nginx;
$t->start_nginx;
my $counted = () = $t->error_log =~ /shared memory of an earlier nginx is gone/g;
is($counted, 1, 'a later restart does not count the loss again');
is(status()->{postgresql}{events_lost}, 0, 'audit_status of the next nginx: events_lost = 0');

# verify_chain names the loss: the lost chain, with its 20 events missing
ok($t->wait_until(sub { rows() >= $before + 2 }, timeout => 20, interval => 0.5),
   'the next chain\'s events reach PostgreSQL');
my %chain = map { my @f = split /\|/; ($f[0] => { events => $f[1], missing => $f[2], ok => $f[3] }) }
    split /\n/, $t->psql(q{SELECT producer || '|' || events || '|' || missing || '|' || ok
                           FROM audit.verify_chain()}, db => 'audit', user => 'audit_reader');
is_deeply($chain{$chain}, { events => 0, missing => 20, ok => 'false' },
          'verify_chain: the lost chain, 20 events missing');
is($chain{$next->{producer}}{ok}, 'true', '... the next chain is intact');

# bad configuration fails nginx -t, naming the directive and its line
for my $bad (['audit_ring 1k;', qr/invalid size "1k" in "audit_ring", at least 64k/],
             ['audit_ring 1m state=%%DIR%%/nowhere;', qr/"audit_ring" state directory ".*nowhere" is not usable \(\d+: No such file or directory\)/],
             ['audit_ring 1m stat=x;', qr/invalid parameter "stat=x" in "audit_ring"/],
             ["audit_ring 1m;\n    audit_ring 2m;", qr/"audit_ring" directive is duplicate/],
             ['audit_ring off state=x;', qr/"audit_ring off" takes no parameters/]) {
    my ($line, $want) = @$bad;
    $t->write_nginx_conf(<<"CONF", workers => 1);
    audit_zone audit:1m;
    $line
    audit_log %%DIR%%/audit.jsonl;
    server { listen 127.0.0.1:%%PORT%%; }
CONF
    my ($ok, $out) = $t->nginx_test;
    ok(!$ok, "nginx -t fails: $line");
    like($out, qr/\[emerg\].*$want in \S+nginx\.conf:\d+/, '... naming the directive and its line') or diag $out;
}

$t->stop_all_and_check;
done_testing;
