# A worker dies holding events for PostgreSQL just as a reload takes
# audit_pg out of the configuration: the worker that adopts its ring has
# no PostgreSQL to store them in.  They are not dropped silently: the
# error log names the process, how many and where, events_lost counts
# them, and the tracker gets one events_lost issue.  What the log sink had
# not written is still written.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Audit::Test;
use Audit::Token;
use Audit::Sentry;

my $t = Audit::Test->new;
my $dir = $t->dir;
my $rx = Audit::Sentry->start($t, project => 8, key => 'gonekey');
my $writer = $t->audit_db;
my $secret = 'ring sink gone test secret, long enough';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $tok = Audit::Token::hs256($secret, { sub => 'u-gus', role => 'doctor', sid => 's-7',
                                         exp => time + 3600 });

my %vars = (CONN => $writer, DSN => $rx->dsn);
my $conf = <<'CONF';
    audit_zone audit:1m;
    audit_ring 1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    %%PG%%
    audit_sentry_dsn %%DSN%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /patients/ { proxy_pass http://%%PORTAL%%; }
        location = /_audit/status { audit_status; audit_public on; }
    }
CONF
# batches wait a minute: the events are only in memory (and the ring)
$t->write_nginx_conf($conf, workers => 1, vars => { %vars, PG => "audit_pg \"$writer\" batch=10000 flush=60s; audit_spool $dir/spool;" });
$t->start_portal;
$t->start_nginx;

sub status { decode_json($t->request(GET => '/_audit/status', headers => { Accept => 'application/json' })->{content}) }

ok($t->wait_until(sub { $t->error_log =~ /connected to PostgreSQL/ }, timeout => 15),
   'the worker is connected to PostgreSQL');
for my $n (1 .. 5) {
    is($t->request(GET => "/patients/$n", cookie => "session=$tok")->{status}, 200, "request $n: 200");
}
my @ev = $t->wait_events("$dir/audit.jsonl", 5);
is(scalar @ev, 5, 'five events in the log');
is($t->psql('SELECT count(*) FROM audit.events', db => 'audit'), 0, '... none in PostgreSQL yet');

# the old worker stopped, the reload drops audit_pg, the old worker killed
my ($old) = $t->worker_pids;
kill STOP => $old or die "kill STOP $old: $!";
$t->write_nginx_conf($conf, workers => 1, vars => { %vars, PG => '' });
$t->signal_nginx('HUP');
ok($t->wait_until(sub { grep { $_ != $old } $t->worker_pids }, timeout => 10), 'a new worker runs');
kill KILL => $old or die "kill KILL $old: $!";

ok($t->wait_until(sub { $t->error_log =~ /audit_ring: worker process $old is gone; 5 audit events it had not stored in PostgreSQL yet are lost there: this configuration has no audit_pg/ },
                  timeout => 10),
   'the error log names the process, the count, the store and the directive')
    or diag $t->error_log;
is(status()->{postgresql}{events_lost}, 5, 'audit_status: events_lost = 5');
ok($t->wait_until(sub { $rx->issues->{'module_fault:events_lost'} }, timeout => 10),
   'the tracker gets module_fault:events_lost');
unlike($t->error_log, qr/worker process $old is gone; \d+ audit events it had not stored yet were taken/,
       'nothing claims they were stored');
@ev = $t->log_events("$dir/audit.jsonl");
is(scalar @ev, 5, 'the log still holds each event once');
is($t->psql('SELECT count(*) FROM audit.events', db => 'audit'), 0, 'PostgreSQL holds none of them');

$t->stop_all_and_check;
done_testing;
