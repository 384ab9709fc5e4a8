# audit_record's ID is the location's capture: "$1" is taken in the access
# phase, before a map with a regex of its own (here on the User-Agent,
# evaluated by proxy_set_header) replaces the captures.  Before, a phone's
# request for /patients/42 was logged as a view of patient "Android".

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
$t->start_portal;
my $secret = 'record capture test: an HMAC-SHA256 secret, 32+ bytes';
$t->file('hmac.key', $secret);
$t->write_nginx_conf(<<'CONF', workers => 1);
    audit_log %%DIR%%/a.jsonl flush=100ms;
    map $http_user_agent $client_kind { ~*(mobile|android) $1; default desktop; }
    server {
        listen 127.0.0.1:%%PORT%%;
        audit_session_keys %%DIR%%/hmac.key;
        location ~ ^/patients/(\d+)$ {
            audit_require_role doctor;
            audit_record patient $1;
            proxy_set_header X-Client-Kind $client_kind;
            proxy_pass http://%%PORTAL%%;
        }
    }
CONF
$t->start_nginx;
my $doc = 'session=' . Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor', sid => 's-ann',
                                                      exp => time + 3600 });
my @ua = ('Mozilla/5.0 (X11; Linux x86_64)', 'Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36');
for my $i (0, 1) {
    my $r = $t->request(GET => '/patients/' . (42 + $i), cookie => $doc, headers => { 'User-Agent' => $ua[$i] });
    is($r->{status}, 200, "GET /patients/" . (42 + $i) . ($i ? ' from a phone' : ' from a desktop') . ': 200');
    is($r->{json}{headers}{'x-client-kind'}, $i ? 'Android' : 'desktop', '... the map ran (its own capture)');
}
my @ev = grep { $_->{action} eq 'record_access' } $t->wait_events($t->dir . '/a.jsonl', 4);
is_deeply([map { "$_->{resource_type}/$_->{resource_id}" } @ev], ['patient/42', 'patient/43'],
          'record_access names the records asked for, not the map\'s capture');

$t->stop_all_and_check;
done_testing;
