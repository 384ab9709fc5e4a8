# A logout that cannot be stored (audit_zone full of revocations still in
# force: each lasts its token's lifetime) leaves that cookie valid until
# its token expires.  The loss must be visible where an administrator
# looks, not only in the error log: a counter in audit_status (JSON and
# Prometheus), a degraded audit_health verdict, and one module_fault to the
# error tracker and the alert routes.  Revocations stored before are never
# dropped to make room.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;
use Audit::Sentry;

my $t = Audit::Test->new;
my $rx = Audit::Sentry->start($t, project => 4, key => 'revokekey');
my $secret = 'revocation loss test: an HMAC-SHA256 secret of 32+ bytes';
$t->file('hmac.key', $secret);
$t->write_nginx_conf(<<'CONF', vars => { DSN => $rx->dsn });
    audit_zone audit:64k;
    audit_log %%DIR%%/a.jsonl flush=100ms;
    audit_sentry_dsn %%DSN%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        audit_session_keys %%DIR%%/hmac.key;
        location = /logout { audit_logout; proxy_pass http://%%PORTAL%%; }
        location = /status { audit_public on; audit_status; }
        location = /health { audit_public on; audit_health; }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $tok = sub { 'session=' . Audit::Token::hs256($secret, {sub => 'u-loop', role => 'doctor',
                                                           sid => sprintf('s-%06d-%s', $_[0], 'x' x 40),
                                                           exp => time + 3600}) };
my $get = sub { $t->request(GET => '/chart', cookie => $_[0], headers => {Accept => 'application/json'})->{status} };
my $status = sub { $t->request(GET => '/status')->{json} };

is($status->()->{sessions}{revocations_lost}, 0, 'audit_status: no revocation lost yet');
is($t->request(GET => '/health')->{json}{checks}{revocations}{status}, 'healthy', 'audit_health: revocations healthy');

# one user logging in and out in a loop: each logout a revocation in force
my ($n, $lost) = (0, 0);
while ($n < 3000) {
    $n++;
    my $r = $t->request(POST => '/logout', cookie => $tok->($n), body => '');
    BAIL_OUT("logout $n: $r->{status}") unless $r->{status} == 302;
    next if $n % 50;
    last if ($lost = $status->()->{sessions}{revocations_lost}) > 0;
}
cmp_ok($lost, '>', 0, "audit_zone 64k: a logout revoked nothing after $n logouts, and audit_status counts it");
my $st = $status->();
cmp_ok($st->{sessions}{revoked}, '>', 50, "... revocations in force: $st->{sessions}{revoked}");

is($get->($tok->(1)), 401, 'the first logged-out cookie is still refused: a revocation is never dropped');
is($get->($tok->($n)), 200, 'the last one, whose revocation was lost, still opens the chart (documented)');

my $prom = $t->request(GET => '/status', headers => { Accept => 'text/plain' })->{content};
like($prom, qr/^audit_revocations_lost_total [1-9]\d*$/m, 'Prometheus: audit_revocations_lost_total');
like($prom, qr/^audit_sessions_revoked [1-9]\d*$/m, 'Prometheus: audit_sessions_revoked');

my $h = $t->request(GET => '/health');
is($h->{json}{status}, 'degraded', 'audit_health: degraded');
is($h->{json}{checks}{revocations}{status}, 'degraded', '... by the revocations check');
cmp_ok($h->{json}{checks}{revocations}{lost}, '>', 0, '... which counts the lost ones');

$t->wait_until(sub { $rx->issues->{'module_fault:revocation_lost'} }, timeout => 10);
ok($rx->issues->{'module_fault:revocation_lost'}, 'the error tracker has a module_fault:revocation_lost issue');
like($rx->issues->{'module_fault:revocation_lost'}{title} // '', qr/audit_zone full: a logged-out session stays valid/,
     '... titled with why');

like($t->error_log, qr/\[alert\].*audit_zone full, a logged-out session stays valid/, 'the error log says it too');
unlike($t->error_log, qr/exited on signal/, 'no crash');

$t->stop_all_and_check;
done_testing;
