# A worker killed with -9 loses nothing (audit_ring): its events wait in a
# ring in shared memory until the log has written them and PostgreSQL has
# committed or spooled them; the worker started in its place (or any live
# one) takes what is outstanding from the dead worker's ring.  Several
# workers killed under load, with PostgreSQL up and down, then a quit with
# PostgreSQL down and a restart: every event of every answered request is
# in the JSON log and in PostgreSQL exactly once, verify_chain is clean,
# events_lost is 0.  audit_status counts the rings adopted and the events
# recovered from them, as many as the error log names.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(sleep time);
use Audit::Test;
use Audit::Token;
use Audit::Ring;

# batches wait 8 s: events are still only in the workers' memory at a kill
my $s = Audit::Ring->setup(workers => 2, ring => '4m', flush => '8s', project => 5, key => 'killkey');
my ($t, $rx, $tok, $log) = @$s{qw(t rx tok log)};
my $dir = $t->dir;
sub status { $s->status }
sub rows { $s->rows }
sub gone_count { my $n = 0; my $e = $t->error_log; $n += $1 while $e =~ /worker process \d+ is gone; (\d+) audit events/g; $n }

# Both workers must hold their events for PostgreSQL (not spool them), so
# both are connected first.  Under ASan on CI one worker sometimes hung
# before its event loop: a UBSan report (suppressed, in ngx_sprintf for a
# NULL "%V" the ring's state file passed) made it ask the symbolizer
# process it shares with the other worker, and it waited on the pipe
# forever.  The NULL is gone; should a worker hang again, what it is doing
# is printed (kernel wait channel, gdb's backtrace) and nginx is started
# once more; a second such start fails the test.
sub connected { (() = $t->error_log =~ /connected to PostgreSQL/g) >= 2 }
sub not_connected {
    my %up = map { $_ => 1 } $t->error_log =~ /(\d+)#\d+: audit: connected to PostgreSQL/g;
    diag(join '', grep { /PostgreSQL|worker process|audit/ } split /^/m, $t->error_log);
    for my $p (grep { !$up{$_} } $t->worker_pids) {
        my $wchan = do { local (@ARGV, $/) = ("/proc/$p/wchan"); <> } // '?';
        diag("worker $p did not connect; in kernel: $wchan\n"
             . `gdb -p $p -batch -ex 'bt 30' 2>&1 | grep -E '^#'`);
    }
}
my $up = $t->wait_until(\&connected, timeout => 40, interval => 0.2);
if (!$up) {
    not_connected();
    $t->stop_nginx;
    truncate $t->error_log_path, 0;
    $t->start_nginx;
    $up = $t->wait_until(\&connected, timeout => 40, interval => 0.2) or not_connected();
}
ok($up, 'both workers are connected to PostgreSQL');

# 1. both workers killed while they hold every event for PostgreSQL

my %answered;
for (1 .. 10) {
    my $r = $t->request(GET => "/patients/$_", cookie => "session=$tok");
    $answered{$r->{headers}{'x-request-id'}} = 1 if $r->{status} == 200;
}
is(scalar keys %answered, 10, '10 requests answered');
$t->wait_events($log, 10);
sleep 0.3;                          # the log is flushed every 100 ms
my @first = $t->log_events($log);
my $held = @first;
my %per;
$per{$_->{request_id}}++ for @first;
my ($k) = values %per;
ok($k >= 1 && !grep({ $_ != $k } values %per), "each request has $k events ($held in all)");
is(rows(), 0, "$held events logged, none stored yet: they are in the workers' memory");

my @victims = $t->worker_pids;
is(kill(KILL => @victims), 2, "both workers (@victims) killed with -9");
my %dead = map { $_ => 1 } @victims;
ok($t->wait_until(sub { (grep { !$dead{$_} } $t->worker_pids) >= 2 }, timeout => 10),
   'the master started two workers in their place');

ok($t->wait_until(sub { gone_count() >= $held }, timeout => 10),
   "the new workers took the $held events from the dead workers' rings");
is(gone_count(), $held, '... exactly those');
unlike($t->error_log, qr/died with|are lost|is lost/, 'no loss in the error log');
is(status()->{postgresql}{events_lost}, 0, 'audit_status: events_lost = 0');
my $ring = status()->{ring};
is($ring->{adopted}, 2, 'audit_status: both dead workers\' rings adopted');
is($ring->{recovered}, $held, "... their $held events recovered");
is($ring->{torn}, 0, '... no half-written entry skipped');
is($ring->{overflow}, 0, '... no ring was full');
my $prom = $t->request(GET => '/_audit/status?format=prometheus')->{content};
like($prom, qr/^audit_ring_adopted_total 2$/m, 'Prometheus: audit_ring_adopted_total 2');
like($prom, qr/^audit_ring_recovered_total $held$/m, "Prometheus: audit_ring_recovered_total $held");

# their new chains name where the dead ones ended.  Only the worker in the
# place of a dead worker that had written events has a chain to continue,
# and the kernel may hand every connection to the other one: requests go
# on (up to 40) until a chain naming a dead one starts.
my %dead_chain = map { $_->{producer} => 1 } @first;
my ($more, @all, @starts, @after) = (0);
while ($more < 40 && !@after) {
    $t->request(GET => '/patients/' . (11 + $more++), cookie => "session=$tok");
    @all = $t->wait_events($log, $held + $more * $k);
    @starts = grep { !$dead_chain{$_->{producer}} && $_->{seq} == 0 } @all;
    @after = grep { $_->{after} } @starts;
}
ok(@starts >= 1, 'new workers start new chains');
ok(@after && !grep({ !$dead_chain{(split /:(?=\d+$)/, $_->{after})[0]} } @after),
   "... which name the dead chains ($more more requests)");
is(scalar(@all), $held + $more * $k, 'the log has no line twice');

ok($t->wait_until(sub { rows() >= @all }, timeout => 40, interval => 0.5),
   'PostgreSQL gets every event, those of the dead workers too');

# 2. under load: kills with PostgreSQL up, down, and up again

my $port = $t->port;
sub loader {
    my ($file, $seconds) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open my $fh, '>', $file or POSIX::_exit(1);
        $fh->autoflush(1);
        my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
        my $end = time + $seconds;
        my $n = 0;
        while (time < $end) {
            my $res = $http->get("http://127.0.0.1:$port/patients/" . (100 + ++$n % 50),
                                 { headers => { Cookie => "session=$tok" } });
            print $fh "$res->{headers}{'x-request-id'}\n" if $res->{status} == 200;
        }
        POSIX::_exit(0);
    }
    $t->track($pid, 'loader');
    return $pid;
}

sub kill_one {
    my ($why) = @_;
    my @w = $t->worker_pids;
    ok(@w && kill(KILL => $w[0]), "worker $w[0] killed with -9 $why");
    $t->wait_until(sub { $t->worker_pids >= 2 && !grep { $_ == $w[0] } $t->worker_pids }, timeout => 10);
}

my @loaders = map { loader("$dir/answered.$_", 9) } 1 .. 2;
sleep 1.5;
kill_one('under load, PostgreSQL up');
sleep 1;
$t->stop_pg;
sleep 1;
kill_one('under load, PostgreSQL down');
sleep 1;
kill_one('under load, PostgreSQL still down');
sleep 1;
$t->start_pg_again;
sleep 1;
kill_one('under load, PostgreSQL up again');
waitpid $_, 0 for @loaders;

for my $f (map { "$dir/answered.$_" } 1 .. 2) {
    open my $fh, '<', $f or die "$f: $!";
    while (<$fh>) { chomp; $answered{$_} = 1 if length }
}
ok(keys(%answered) > 50, scalar(keys %answered) . ' requests answered in all');

sleep 0.5;
is(status()->{postgresql}{events_lost}, 0, 'audit_status: events_lost = 0 after the kills');

# a reload keeps the zone and its rings: the new generation's are recovered too
$t->reload;
# once the spools are replayed, new events wait in the workers' queues again
my $logged = () = $t->log_lines($log);
$t->wait_until(sub { rows() >= $logged && !(() = glob("$dir/spool/*.spool")) }, timeout => 60, interval => 0.5);
my $gone = gone_count();
$t->request(GET => "/patients/$_", cookie => "session=$tok") for 200 .. 204;
sleep 0.3;
my @gen = $t->worker_pids;
is(kill(KILL => @gen), 2, "after a reload, both new workers (@gen) killed with -9");
ok($t->wait_until(sub { gone_count() >= $gone + 10 }, timeout => 10),
   '... their events are taken from their rings');
$t->wait_until(sub { $t->worker_pids >= 2 && !grep { my $p = $_; grep { $_ == $p } @gen } $t->worker_pids },
               timeout => 10);
# the reload kept the ring zone and its counters: the rings of the 2 + 4
# + 2 killed workers, and the 2 the reload's old workers left at their
# graceful exit
$ring = status()->{ring};
is($ring->{adopted}, 10, "after the kills and a reload: 10 rings adopted, one per worker gone");
is($ring->{recovered}, gone_count(), "... $ring->{recovered} events recovered, as the error log says");
is($ring->{torn}, 0, '... no half-written entry skipped');
for (200 .. 204) {
    my $r = $t->request(GET => "/patients/$_", cookie => "session=$tok");
    $answered{$r->{headers}{'x-request-id'}} = 1 if $r->{status} == 200;
}

# 3. a quit with PostgreSQL down, a restart with it up

$t->stop_pg;
$t->stop_nginx;
$t->start_pg_again;
$t->start_nginx;

my @events = $t->log_events($log);
my (%ids, %by_request);
$ids{$_->{id}}++ for @events;
$by_request{$_->{request_id} // ''}++ for @events;
is(scalar(grep { $_ > 1 } values %ids), 0, scalar(@events) . ' events in the log, none twice');
my @short = grep { ($by_request{$_} // 0) != $k } keys %answered;
is(scalar(@short), 0, "every answered request has its $k events in the log")
    or diag("short: @short[0 .. ($#short < 4 ? $#short : 4)]");

ok($t->wait_until(sub { rows() >= @events }, timeout => 60, interval => 0.5),
   'PostgreSQL catches up with the log');
sleep 0.5;
is(rows(), scalar(@events), 'PostgreSQL has as many events as the log');
my %in_db = map { $_ => 1 } split /\n/, $t->psql('SELECT id FROM audit.events', db => 'audit');
is(scalar(grep { !$in_db{$_} } keys %ids), 0, '... the same events');

my @chains = map { my @f = split /\|/; { producer => $f[0], missing => $f[1], ok => $f[2] } }
    split /\n/, $t->psql(q{SELECT producer || '|' || missing || '|' || ok
                           FROM audit.verify_chain()}, db => 'audit', user => 'audit_reader');
ok(@chains >= 6, scalar(@chains) . ' chains');
is_deeply([grep { $_->{ok} ne 'true' || $_->{missing} != 0 } @chains], [],
          'verify_chain: every chain intact, nothing missing')
    or diag(explain([grep { $_->{ok} ne 'true' || $_->{missing} != 0 } @chains]),
            $t->psql(q{SELECT * FROM audit.verify_chain()}, db => 'audit', user => 'audit_reader'),
            join '', grep { /gone|died|lost|torn|adopt|spool/ } split /^/m, $t->error_log);

unlike($t->error_log, qr/died with|are lost|is lost|half-written/, 'no loss in the error log');
ok(!$rx->issues->{'module_fault:events_lost'}, 'no events_lost issue at the tracker');
is(status()->{postgresql}{events_lost}, 0, 'audit_status after the restart: events_lost = 0');

$t->stop_all_and_check;
done_testing;
