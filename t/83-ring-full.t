# A full ring blocks nothing and overwrites nothing: once a worker's ring
# holds as much as it can that PostgreSQL has not stored, further events go
# straight to the spool (and the log writes them at once); a kill -9 then
# still loses none of them.  audit_status counts each event that found
# the ring full, and the ring adopted after the kill with what it held.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $dir = $t->dir;
my $writer = $t->audit_db;

my $secret = 'ring full test secret, long enough!';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $tok = Audit::Token::hs256($secret, { sub => 'u-ray', role => 'doctor', sid => 's-3',
                                         exp => time + 3600 });

# 64k for 2 rings (one worker, and room for a reload): 32k each, ~60 events;
# batches wait 30 s, so the ring fills with events PostgreSQL has not stored
$t->write_nginx_conf(<<'CONF', workers => 1, vars => { CONN => $writer });
    audit_zone audit:1m;
    audit_ring 64k;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=10000 flush=30s;
    audit_spool %%DIR%%/spool;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/patients/(\d+) { audit_record patient $1; proxy_pass http://%%PORTAL%%; }
        location = /_audit/status { audit_status; audit_public on; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $log = "$dir/audit.jsonl";
sub rows { $t->psql('SELECT count(*) FROM audit.events', db => 'audit') }
sub status { decode_json($t->request(GET => '/_audit/status', headers => { Accept => 'application/json' })->{content}) }
sub metric {
    my ($name) = @_;
    my $text = $t->request(GET => '/_audit/status?format=prometheus')->{content};
    return $text =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}
sub spooled { my $n = 0; for (glob "$dir/spool/*.spool") { open my $f, '<', $_ or next; $n++ while <$f> } $n }

ok($t->wait_until(sub { $t->error_log =~ /connected to PostgreSQL/ }, timeout => 15),
   'the worker is connected to PostgreSQL');

my $ok = 0;
for (1 .. 100) {
    $ok++ if $t->request(GET => "/patients/$_", cookie => "session=$tok")->{status} == 200;
}
is($ok, 100, 'every request is answered while the ring fills');
my @events = $t->wait_events($log, 200);
is(scalar(@events), 200, '200 events in the log');
like($t->error_log, qr/\[warn\].*audit_ring: the ring of \d+ bytes is full, events are written out at once/,
     'the error log says the ring is full');
my $spooled = spooled();
ok($spooled > 0 && $spooled < 200, "$spooled events went straight to the spool, the others wait in the ring");
is(rows(), 0, 'PostgreSQL has none yet');

my $ring = status()->{ring};
is($ring->{overflow}, $spooled, "audit_status: ring overflow $spooled, one for each event that found it full");
is($ring->{adopted}, 0, '... no ring adopted yet');
is($ring->{recovered}, 0, '... nothing recovered yet');
is($ring->{rings}, 2, '... 2 rings');
is(metric('audit_ring_overflow_total'), $spooled, "Prometheus: audit_ring_overflow_total $spooled");

my ($worker) = $t->worker_pids;
ok(kill(KILL => $worker), "worker $worker killed with -9");
ok($t->wait_until(sub { $t->error_log =~ /worker process $worker is gone; (\d+) audit events/ }, timeout => 10),
   'the next worker takes what the ring held');
my ($taken) = $t->error_log =~ /worker process $worker is gone; (\d+) audit events/;
is($taken + $spooled, 200, "the ring's $taken and the spool's $spooled: all 200, none overwritten");
$ring = status()->{ring};
is($ring->{adopted}, 1, 'audit_status: the dead worker\'s ring adopted');
is($ring->{recovered}, $taken, "... its $taken events recovered");
is($ring->{torn}, 0, '... no half-written entry');
is($ring->{overflow}, $spooled, '... the overflow count stays');
is(metric('audit_ring_adopted_total'), 1, 'Prometheus: audit_ring_adopted_total 1');
is(metric('audit_ring_recovered_total'), $taken, "Prometheus: audit_ring_recovered_total $taken");
is(metric('audit_ring_torn_total'), 0, 'Prometheus: audit_ring_torn_total 0');

ok($t->wait_until(sub { rows() >= 200 }, timeout => 30, interval => 0.5),
   'PostgreSQL gets all 200');
sleep 0.5;
is(rows(), 200, '... once each');
is(scalar(() = $t->log_lines($log)), 200, 'the log has each line once');
unlike($t->error_log, qr/lost/, 'nothing lost');

$t->stop_all_and_check;
done_testing;
