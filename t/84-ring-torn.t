# A worker killed while it copies an event into its ring: the entry at the
# head has its number but no commit bit.  The next worker skips it, counts
# it as torn and as lost, and says so; audit_status shows it.  gdb stops
# the worker on the line that would set the commit bit (after the line is
# copied) and kills it there, so the kill lands where it must, not by luck.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use HTTP::Tiny;
use POSIX ();
use Audit::Test;
use Audit::Token;

my $gdb = '/usr/bin/gdb';
plan skip_all => "needs $gdb (Debian's gdb)" unless -x $gdb;

my $t = Audit::Test->new;
my $dir = $t->dir;

my $secret = 'ring torn test secret, long enough!!';
$t->file('hmac.key', $secret);
my $tok = Audit::Token::hs256($secret, { sub => 'u-tor', role => 'doctor', sid => 's-4',
                                         exp => time + 3600 });

$t->write_nginx_conf(<<'CONF', workers => 1);
    audit_zone audit:1m;
    audit_ring 1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/patients/(\d+) { audit_record patient $1; proxy_pass http://%%PORTAL%%; }
        location = /_audit/status { audit_status; audit_public on; }
    }
CONF
$t->start_portal;
$t->start_nginx;

sub status { decode_json($t->request(GET => '/_audit/status', headers => { Accept => 'application/json' })->{content}) }

is($t->request(GET => '/patients/1', cookie => "session=$tok")->{status}, 200, 'a request is answered');
my $ring = status()->{ring};
is($ring->{torn}, 0, 'audit_status: no torn entry yet');
is($ring->{adopted}, 0, '... no ring adopted yet');

# the line in ngx_http_audit_ring_append() that sets the commit bit
my $src = 'ngx_http_audit_module/ngx_http_audit_ring.c';
open my $fh, '<', $src or die "$src: $!";
my $line;
while (<$fh>) { if (/e->tag \|= NGX_HTTP_AUDIT_RING_COMMIT;/) { $line = $.; last } }
close $fh;
ok($line, "the commit bit is set at $src:$line");

my ($worker) = $t->worker_pids;
my $out = "$dir/gdb.out";
my $ready = "$dir/gdb.ready";
my $gpid = fork // die "fork: $!";
if (!$gpid) {
    open STDOUT, '>', $out or POSIX::_exit(1);
    open STDERR, '>&', \*STDOUT;
    { exec $gdb, '-nx', '-batch', '-p', $worker,
           '-ex', "break ngx_http_audit_ring.c:$line", '-ex', "shell touch $ready",
           '-ex', 'continue', '-ex', 'kill' }
    POSIX::_exit(1);
}
$t->track($gpid, 'gdb');
ok($t->wait_until(sub { -e $ready }, timeout => 30, interval => 0.2),
   "gdb holds worker $worker with a breakpoint");

# the next event stops the worker half-way; the request never gets an answer
my $rpid = fork // die "fork: $!";
if (!$rpid) {
    HTTP::Tiny->new(timeout => 10)->get('http://127.0.0.1:' . $t->port . '/patients/2',
                                        { headers => { Cookie => "session=$tok" } });
    POSIX::_exit(0);
}
$t->track($rpid, 'request');

waitpid $gpid, 0;
my $g = do { local $/; open my $gf, '<', $out; <$gf> };
like($g, qr/Breakpoint 1, .*ngx_http_audit_ring_append/s, 'the worker stopped before the commit bit')
    or diag $g;
ok($t->wait_until(sub { !kill(0, $worker) }, timeout => 10), '... and was killed there');
waitpid $rpid, 0;

ok($t->wait_until(sub { $t->error_log =~ /died writing an audit event: 1 half-written entry skipped/ },
                  timeout => 15), 'the next worker skips the half-written entry and says so');
$ring = status()->{ring};
is($ring->{torn}, 1, 'audit_status: ring torn 1');
is($ring->{adopted}, 1, '... the dead worker\'s ring adopted');
is(status()->{postgresql}{events_lost}, 1, '... and the event counted as lost');
my $prom = $t->request(GET => '/_audit/status?format=prometheus')->{content};
like($prom, qr/^audit_ring_torn_total 1$/m, 'Prometheus: audit_ring_torn_total 1');

is($t->request(GET => '/patients/3', cookie => "session=$tok")->{status}, 200, 'the next worker serves');

$t->stop_all_and_check;
done_testing;
