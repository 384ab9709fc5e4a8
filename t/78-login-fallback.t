# A login or logout answered from somewhere else than its own location:
# "error_page 502 = @backup" when the primary login service is down, into a
# named location with no key set.  The login is still the one the access
# phase judged: the new session is verified against the login location's
# keys (before, the response was checked against the fallback's empty key
# set and the worker died on signal 11), the events name who logged in, and
# a logout answered by the fallback revokes the session for every worker;
# a token without a session id is revoked by the token itself.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $secret = 'login fallback test secret, long enough';
$t->file('hmac.key', $secret);
my %users = ('ann@clinic.example' => { password => 'correct-horse', user_id => 'u-ann', role => 'doctor' });
my $n = 0;
sub mint {
    my ($u) = @_;
    return Audit::Token::hs256($secret, { sub => $u->{user_id}, role => $u->{role},
                                          sid => "sess-$u->{user_id}-" . ++$n, exp => time + 3600 });
}
my $dead = $t->free_port;            # the primary login service: nothing listens

$t->write_nginx_conf(<<'CONF', workers => 2, vars => { DEAD => $dead });
    audit_zone audit:1m;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /login {
            audit_session_keys %%DIR%%/hmac.key;
            audit_public on;
            audit_login username_field=email;
            audit_bruteforce 3/5m;
            proxy_pass http://127.0.0.1:%%DEAD%%;
            error_page 502 = @backup;
        }
        location = /logout {
            audit_session_keys %%DIR%%/hmac.key;
            audit_logout;
            proxy_pass http://127.0.0.1:%%DEAD%%;
            error_page 502 = @backup;
        }
        location @backup { proxy_pass http://%%PORTAL%%; }
        location / {
            audit_session_keys %%DIR%%/hmac.key;
            audit_require_role doctor;
            proxy_pass http://%%PORTAL%%;
        }
    }
CONF
$t->start_portal(users => \%users, token_cb => \&mint);
$t->start_nginx;
my @workers = $t->worker_pids;
my $log = $t->dir . '/audit.jsonl';

my $r = $t->request(POST => '/login', form => { email => 'ann@clinic.example', password => 'correct-horse' });
is($r->{status}, 302, 'the backup login service answers the login: 302');
my ($cookie) = ($r->{headers}{'set-cookie'} // '') =~ /^(session=[^;]+)/;
ok($cookie, '... with the session cookie');

my @ev = $t->wait_events($log, 2);
my ($ok) = grep { $_->{action} eq 'login_success' } @ev;
ok($ok, 'login_success is logged');
is($ok && $ok->{user_id}, 'u-ann', '... for the user of the new session');
my ($made) = grep { $_->{action} eq 'session_create' } @ev;
is($made && $made->{session_id}, 'sess-u-ann-1', 'session_create names the session');

$r = $t->request(POST => '/login', form => { email => 'ann@clinic.example', password => 'wrong' });
is($r->{status}, 401, 'a wrong password through the backup: 401');
@ev = $t->wait_events($log, 3);
my ($fail) = grep { $_->{action} eq 'login_failure' } @ev;
is($fail && $fail->{attempted_user}, 'ann@clinic.example', 'login_failure names the account tried');

$t->request(POST => '/login', form => { email => 'ann@clinic.example', password => "wrong $_" }) for 2, 3;
ok($t->wait_until(sub { grep { $_->{action} eq 'bruteforce_suspected' } $t->log_events($log) }, timeout => 5), 'the third failure through the backup is a bruteforce_suspected (the login location\'s limit)');

$r = $t->request(GET => '/chart', cookie => $cookie);
is($r->{status}, 200, 'the session opens the chart');
$r = $t->request(POST => '/logout', cookie => $cookie);
is($r->{status}, 302, 'the backup answers the logout: 302');
my @refused = map { $t->request(GET => '/chart', cookie => $cookie)->{status} } 1 .. 4;
is_deeply(\@refused, [401, 401, 401, 401], 'the session is revoked: every replay is refused');
sub destroyed { grep { $_->{action} eq 'session_destroy' && ($_->{session_id} // '') eq 'sess-u-ann-1' } @_ }
ok($t->wait_until(sub { destroyed($t->log_events($log)) }, timeout => 5), 'session_destroy is logged');
@ev = $t->log_events($log);

# a token without a session id is revoked by itself, and only it
my $nosid = 'session=' . Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor', exp => time + 3600 });
my $other = 'session=' . Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor', exp => time + 3601 });
is($t->request(GET => '/chart', cookie => $nosid)->{status}, 200, 'a token without "sid" opens the chart');
is($t->request(POST => '/logout', cookie => $nosid)->{status}, 302, '... its logout: 302');
@refused = map { $t->request(GET => '/chart', cookie => $nosid)->{status} } 1 .. 4;
is_deeply(\@refused, [401, 401, 401, 401], '... and every replay of it is refused');
is($t->request(GET => '/chart', cookie => $other)->{status}, 200, '... while another token of the same user still works');

is_deeply([sort $t->worker_pids], [sort @workers], 'no worker died');
unlike($t->error_log, qr/exited on signal|\[alert\]|\[crit\]/, 'no crash, alert or crit in the error log');
unlike($t->error_log . join('', map { "$_" } @ev), qr/correct-horse/, 'the password is nowhere');

$t->stop_all_and_check;
done_testing;
