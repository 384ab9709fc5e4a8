# A refusal answered by an error page that would serve the refused target
# itself: "error_page 403 = @portal_page" with a named location that
# proxies (a named location keeps the URI, and its proxy_pass can name no
# other).  Before, the named location was judged afresh ("=" sets
# err_status to 0), the portal served a nurse the record with her
# identity headers, and the trail said "permitted"; without "=" the portal
# served it under a 403.  Now the error page is refused again (nginx's own
# page, the module's JSON or login redirect), the portal is not reached,
# and the log keeps the refusal.  An error page at another URI ("= /403")
# is still served, and its refusal is still the one logged.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $secret = 'named error page test: an HMAC-SHA256 secret of 32+ bytes';
$t->file('hmac.key', $secret);
$t->write_nginx_conf(<<'CONF', workers => 1);
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/patients/(\d+)$ {
            audit_require_role doctor;
            audit_record patient $1;
            error_page 403 = @portal_page;
            proxy_pass http://%%PORTAL%%;
        }
        location ~ ^/notes/(\d+)$ {
            audit_require_role doctor;
            audit_record note $1;
            error_page 401 403 @portal_page;
            proxy_pass http://%%PORTAL%%;
        }
        location ~ ^/labs/(\d+)$ {
            audit_require_role doctor;
            audit_record lab $1;
            error_page 403 = /403;
            proxy_pass http://%%PORTAL%%;
        }
        location @portal_page { proxy_pass http://%%PORTAL%%; }
        location = /403 { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $api = { Accept => 'application/json' };
my $tok = sub { 'session=' . Audit::Token::hs256($secret, { sub => "u-$_[0]", role => $_[0], sid => "s-$_[0]",
                                                             exp => time + 3600 }) };
my $log = $t->dir . '/audit.jsonl';

for my $case (['/patients/42', 'error_page 403 = @portal_page'], ['/notes/42', 'error_page 403 @portal_page']) {
    my ($path, $what) = @$case;
    my $r = $t->request(GET => $path, cookie => $tok->('nurse'), headers => $api);
    is($r->{status}, 403, "$what, a nurse: 403");
    ok(!defined $r->{json}{uri}, '... the portal was not reached (no echo of the record)')
        or diag explain $r->{json};
    is($r->{json}{error}, 'forbidden', "... the module's own JSON answer");
    $r = $t->request(GET => $path, cookie => $tok->('doctor'), headers => $api);
    is($r->{status}, 200, '... a doctor: 200');
    is($r->{json}{uri}, $path, '... served by the portal');
}
my $r = $t->request(GET => '/notes/7', headers => $api);
is($r->{status}, 401, 'error_page 401 @portal_page, no session: 401');
ok(!defined $r->{json}{uri}, '... the portal was not reached');

$r = $t->request(GET => '/labs/42', cookie => $tok->('nurse'), headers => $api);
is($r->{status}, 200, 'error_page 403 = /403 (another URI): its page is served');
is($r->{json}{uri}, '/403', '... the portal was asked for /403, not the lab');

my @ev = $t->wait_events($log, 9);
sleep 0.3;
@ev = $t->log_events($log);
my %nurse;
for my $e (grep { ($_->{user_id} // '') eq 'u-nurse' } @ev) {
    push @{ $nurse{$e->{route}} }, "$e->{action}:" . ($e->{decision} // '');
}
is_deeply(\%nurse, { '/patients/42' => ['authz_check:denied'], '/notes/42' => ['authz_check:denied'],
                     '/labs/42' => ['authz_check:denied'] },
          "the nurse's three requests: each one authz_check denied, no record_access, no permitted")
    or diag explain \%nurse;
like($t->error_log, qr/the error_page answering the refusal would serve the refused target: refused again, client: 127\.0\.0\.1, request: "GET \/patients\/42"/,
     'the error log says why the error page was refused');
unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no crash');

$t->stop_all_and_check;
done_testing;
