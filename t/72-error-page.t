# error_page into a protected location: a 404 from a public location that
# nginx answers with a protected page is judged like a request for that
# page (before, every error page was waved through: a nurse, or nobody,
# got the admin page).  The error page answering the module's own refusal
# (error_page 401 = @signin, a 403 page) is still served as it is.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $secret = 'error page test secret that is long enough';
$t->file('hmac.key', $secret);
$t->file('admin.txt', "ADMIN ONLY\n");
$t->file('denied.html', "<p>not for you</p>\n");
sub session {
    my ($role) = @_;
    return 'session=' . Audit::Token::hs256($secret, { sub => "u-$role", role => $role,
                                                       sid => "s-$role", exp => time + 3600 });
}

$t->write_nginx_conf(<<'CONF', workers => 1);
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /pub/ { audit_public on; error_page 404 = /admin/x; }
        location /pub2/ { audit_public on; error_page 404 /admin/x; }
        location = /admin/x { audit_require_role admin; alias %%DIR%%/admin.txt; }
        location /friendly/ {
            audit_require_role admin;
            error_page 401 = @signin;
            error_page 403 /denied.html;
            alias %%DIR%%/;
        }
        location = /denied.html { audit_public on; root %%DIR%%; }
        location @signin { return 200 "sign in\n"; }
    }
CONF
$t->start_nginx;
my $api = { Accept => 'application/json' };

my $r = $t->request(GET => '/admin/x', cookie => session('nurse'), headers => $api);
is($r->{status}, 403, 'the admin page, asked for by a nurse: 403');
for my $path ('/pub/nothing', '/pub2/nothing') {
    $r = $t->request(GET => $path, cookie => session('nurse'), headers => $api);
    is($r->{status}, 403, "$path, answered by the admin page, for a nurse: 403");
    unlike($r->{content} // '', qr/ADMIN ONLY/, '... without the page');
    $r = $t->request(GET => $path, headers => $api);
    is($r->{status}, 401, "$path without a session: 401");
    unlike($r->{content} // '', qr/ADMIN ONLY/, '... without the page');
}
$r = $t->request(GET => '/pub/nothing', cookie => session('admin'), headers => $api);
is($r->{status}, 200, 'the same for an admin: the admin page');
like($r->{content}, qr/ADMIN ONLY/, '... served');

# the module's own refusals and their error pages
$r = $t->request(GET => '/friendly/admin.txt', headers => $api);
is($r->{status}, 200, 'error_page 401 = @signin still takes over');
is($r->{content}, "sign in\n", '... with its page');
$r = $t->request(GET => '/friendly/admin.txt', cookie => session('nurse'), headers => $api);
is($r->{status}, 403, 'error_page 403 /denied.html: still 403');
like($r->{content}, qr/not for you/, '... with the error page, not refused again');

my @ev = $t->wait_events($t->dir . '/audit.jsonl', 9);
my @via = grep { ($_->{route} // '') =~ m{^/pub2?/nothing$} } @ev;
is(scalar(grep { $_->{action} eq 'authz_check' && $_->{decision} eq 'denied'
                 && ($_->{user_id} // '') eq 'u-nurse' } @via), 2,
   'the log: the nurse refused through each error page (authz_check denied)');
is(scalar(grep { $_->{action} eq 'session_invalid' } @via), 2,
   '... and the requests without a session (session_invalid)');
unlike($t->error_log, qr/\[(?:alert|crit|emerg)\]|signal \d+/, 'no crash');

$t->stop_all_and_check;
done_testing;
