# audit_health: a verdict an uptime monitor and a Kubernetes probe read as
# is.  healthy (200) -> degraded (200) as PostgreSQL stops -> unhealthy
# (503) as the spool grows past its threshold -> healthy again once
# PostgreSQL is back and the spool is replayed; each check says what it
# saw and the threshold it was judged by.  The keys: a key file that
# cannot be read degrades once the keys in use are older than keys=, with
# their age shown; fixed, healthy again.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $dir = $t->dir;
my $writer = $t->audit_db;

my $secret = 'health test secret that is long enough';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $tok = Audit::Token::hs256($secret, { sub => 'u-h', role => 'doctor', exp => time + 3600 });

$t->write_nginx_conf(<<'CONF', workers => 2, vars => { CONN => $writer });
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key refresh=1s;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=50 flush=100ms;
    audit_spool %%DIR%%/spool;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /healthz { audit_health spool=4k error_rate=50% activity=1h keys=2s; audit_public on; }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

sub health { $t->request(GET => '/healthz', headers => { Accept => 'application/json' }) }
sub wait_status {
    my ($want) = @_;
    my $r;
    $t->wait_until(sub { $r = health(); ($r->{json}{status} // '') eq $want }, timeout => 30,
                   interval => 0.2);
    return $r;
}

my $r = wait_status('healthy');
is($r->{status}, 200, 'both workers connected: 200');
is($r->{json}{status}, 'healthy', '... healthy');
is($r->{headers}{'content-type'}, 'application/json', '... as JSON');
my $pg = $r->{json}{checks}{postgresql};
is($pg->{status}, 'healthy', 'postgresql check: healthy');
is($pg->{connected_workers}, 2, '... 2 workers connected');
is($pg->{workers}, 2, '... of 2');
is($pg->{spool_bytes}, 0, '... nothing spooled');
is($pg->{threshold}{unhealthy}, 'spool_bytes > 4096', '... judged by the configured threshold');
is_deeply([sort keys %{ $r->{json}{checks} }],
          [qw(activity alerts error_rate events_lost keys postgresql revocations tracker)], 'every check is there');
like($r->{json}{checks}{error_rate}{threshold}{degraded}, qr/> 50%/, 'error_rate: its threshold');
like($r->{json}{checks}{activity}{threshold}{degraded}, qr/3600 s/, 'activity: its threshold');
is($t->request(HEAD => '/healthz')->{status}, 200, 'HEAD: 200 too');
is($t->request(POST => '/healthz')->{status}, 405, 'POST: 405');

# PostgreSQL stops: degraded, still 200 (an uptime monitor does not page)
$t->stop_pg;
$t->request(GET => "/a$_", cookie => "session=$tok") for 1 .. 3;
$r = wait_status('degraded');
is($r->{status}, 200, 'PostgreSQL down: 200');
is($r->{json}{status}, 'degraded', '... degraded');
is($r->{json}{checks}{postgresql}{status}, 'degraded', '... the postgresql check says so');
ok($r->{json}{checks}{postgresql}{connected_workers} < 2, '... fewer workers connected');

# the spool grows past 4k: unhealthy, 503
my $n = 0;
$t->wait_until(sub {
    $t->request(GET => '/patients/' . ('x' x 200) . ++$n, cookie => "session=$tok") for 1 .. 5;
    ($t->request(GET => '/healthz')->{status}) == 503;
}, timeout => 30, interval => 0.1);
$r = health();
is($r->{status}, 503, 'spool over 4k: 503');
is($r->{json}{status}, 'unhealthy', '... unhealthy');
is($r->{json}{checks}{postgresql}{status}, 'unhealthy', '... from the postgresql check');
ok($r->{json}{checks}{postgresql}{spool_bytes} > 4096, "... spool_bytes $r->{json}{checks}{postgresql}{spool_bytes}");
is($t->request(GET => '/still-served', cookie => "session=$tok")->{status}, 200,
   'requests are still served meanwhile');

# PostgreSQL returns: the spool is replayed, healthy again
$t->start_pg_again;
$r = wait_status('healthy');
is($r->{status}, 200, 'PostgreSQL back: 200');
is($r->{json}{checks}{postgresql}{spool_bytes}, 0, '... spool replayed');
is($r->{json}{checks}{postgresql}{connected_workers}, 2, '... both workers connected');

my $keys = $r->{json}{checks}{keys};
is($keys->{status}, 'healthy', 'keys: healthy');
is($keys->{last_read_ok}, JSON::PP::true, '... the last read of the key file was fine');
is($keys->{failing_workers}, 0, '... in every worker');
is($keys->{last_failure_age_s}, -1, '... and none ever failed');
is($keys->{failing_age_s}, -1, '... so no keys are kept past a failed read');
ok($keys->{age_s} >= 0, "... the keys in use are $keys->{age_s} s old");
like($keys->{threshold}{degraded}, qr/failed and the keys kept in use are 2 s old/,
     '... judged by keys=2s');

# the key file is gone (a bad rotation): degraded, with the age of the
# keys still in use
rename "$dir/hmac.key", "$dir/hmac.key.bak" or die;
$r = wait_status('degraded');
$keys = $r->{json}{checks}{keys};
is($r->{status}, 200, 'key file unreadable on re-read: 200');
is($keys->{status}, 'degraded', '... the keys check is degraded');
is($keys->{last_read_ok}, JSON::PP::false, '... the last read failed');
ok($keys->{failing_workers} >= 1, "... in $keys->{failing_workers} worker(s)");
ok($keys->{failing_age_s} >= 2, "... the keys kept in use are $keys->{failing_age_s} s old, past keys=2s");
ok($keys->{age_s} >= $keys->{failing_age_s}, "... the oldest keys in use: $keys->{age_s} s");
ok($keys->{last_failure_age_s} >= 0 && $keys->{last_failure_age_s} <= $keys->{failing_age_s},
   "... the last failure $keys->{last_failure_age_s} s ago, since they were read");
ok($keys->{failed_rereads} >= 1, '... counting the failed re-reads');
is($r->{json}{checks}{postgresql}{status}, 'healthy', '... PostgreSQL is fine');
is($t->request(GET => '/ok', cookie => "session=$tok")->{status}, 200, '... sessions still verify');

# fixed: the next re-read succeeds everywhere, healthy again
rename "$dir/hmac.key.bak", "$dir/hmac.key" or die;
$r = wait_status('healthy');
$keys = $r->{json}{checks}{keys};
is($keys->{status}, 'healthy', 'key file back: the keys check is healthy');
is($keys->{last_read_ok}, JSON::PP::true, '... the last read was fine');
is($keys->{failing_workers}, 0, '... in every worker');
is($keys->{failing_age_s}, -1, '... no keys kept past a failed read');
ok($keys->{last_failure_age_s} >= 0, '... the last failure is still shown');

# broken content is a failed read too
$t->file('hmac.key', 'short');
$r = wait_status('degraded');
is($r->{json}{checks}{keys}{status}, 'degraded', 'a key file that does not parse: degraded');
is($r->{json}{checks}{keys}{last_read_ok}, JSON::PP::false, '... the last read failed');
$t->file('hmac.key', $secret);
$r = wait_status('healthy');
is($r->{json}{checks}{keys}{status}, 'healthy', '... fixed: healthy');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no crash');
$t->stop_all_and_check;
done_testing;
