# Failures that are not audit events reach the tracker too, each its own
# issue: an upstream's 5xx, PostgreSQL down, an unreadable key file.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;
use Audit::Sentry;

my $t = Audit::Test->new;
my $rx = Audit::Sentry->start($t, project => 9, key => 'faultkey');

my $secret = 'faults test secret that is long enough';
$t->file('hmac.key', $secret);
mkdir $t->dir . '/spool' or die;
my $tok = Audit::Token::hs256($secret, { sub => 'u-f', role => 'doctor', exp => time + 3600 });

my $dead = $t->free_port;     # nothing listens there: PostgreSQL is "down"
my %vars = (DSN => $rx->dsn, DEAD => $dead);
$t->write_nginx_conf(<<'CONF', vars => \%vars);
    audit_session_keys %%DIR%%/hmac.key refresh=1s;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "host=127.0.0.1 port=%%DEAD%% dbname=audit user=audit_writer connect_timeout=2";
    audit_spool %%DIR%%/spool;
    audit_sentry_dsn %%DSN%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $r = $t->request(GET => '/status/502', cookie => "session=$tok");
is($r->{status}, 502, 'the portal fails: 502 passed on');
$t->request(GET => '/status/503', cookie => "session=$tok");

$t->file('hmac.key', 'short');     # the rotated key file is broken
$t->wait_until(sub { my $i = $rx->issues; $i->{'module_fault:keys_unreadable'} }, timeout => 10);

my $issues = $rx->issues;
ok($issues->{'upstream_error:502'}, 'upstream 502: issue upstream_error:502');
ok($issues->{'upstream_error:503'}, 'upstream 503: its own issue');
is($issues->{'module_fault:pg_down'}{count}, 1, 'PostgreSQL down: one module_fault:pg_down for the outage');
ok($issues->{'module_fault:keys_unreadable'}, 'broken key file: module_fault:keys_unreadable');

my ($up) = grep { join('|', @{ $_->{fingerprint} }) eq 'upstream_error:502' } $rx->events;
like($up->{tags}{request_id} // '', qr/^[0-9a-f]{32}$/, 'the upstream error carries the request id');
is($up->{user}{id}, 'u-f', '... and who it was');

# requests still work with the old key
is($t->request(GET => '/ok', cookie => "session=$tok")->{status}, 200,
   'the previous keys stay in use');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

$t->stop_all_and_check;
done_testing;
