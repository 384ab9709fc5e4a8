# The console's tables hold what the log line holds, never more: a token
# or an Authorization value typed as a login's username, or carried as a
# record id ("/docs/<jwt>"), is "[Filtered]" in api/failed and in api/stats'
# top records as it is in the JSON line (before, the console kept the raw
# values the line had filtered).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA ();
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
$t->start_portal;
my $secret = 'console scrub test: an HMAC-SHA256 secret, 32+ bytes';
$t->file('hmac.key', $secret);
$t->write_nginx_conf(<<'CONF', workers => 1);
    audit_zone audit:1m;
    audit_log %%DIR%%/a.jsonl flush=100ms;
    audit_console_zone console:2m;
    server {
        listen 127.0.0.1:%%PORT%%;
        audit_session_keys %%DIR%%/hmac.key;
        location ~ ^/docs/(.+)$ { audit_record document $1; proxy_pass http://%%PORTAL%%; }
        location = /login { audit_public on; audit_login username_field=email; proxy_pass http://%%PORTAL%%; }
        location /_audit/console/ { audit_require_role admin; audit_console; }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_nginx;

my $jwt = Audit::Token::hs256('some other service key, 32 bytes long!!', { sub => 'svc' });
my @typed = ('Bearer sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'Basic YWRtaW46aHVudGVyMg==', $jwt);
$t->request(POST => '/login', form => { email => $_, password => 'x' }) for @typed, 'ann@clinic.example';
my $adm = 'session=' . Audit::Token::hs256($secret, { sub => 'u-admin', role => 'admin', sid => 's-a',
                                                      exp => time + 3600 });
my $in = Audit::Token::b64url('{"alg":"HS256"}') . '.' . Audit::Token::b64url('{"sub":"svc"}');
my $doc = $in . '.' . Audit::Token::b64url(Digest::SHA::hmac_sha256($in, 'k' x 32));
is($t->request(GET => "/docs/$doc", cookie => $adm)->{status}, 200, 'a record id that is a token: 200');
is($t->request(GET => '/docs/letter-7', cookie => $adm)->{status}, 200, 'a plain record id: 200');

my @ev = $t->wait_events($t->dir . '/a.jsonl', 8);
my @lines = grep { $_->{action} eq 'login_failure' } @ev;
is_deeply([sort map { $_->{attempted_user} } @lines],
          [sort 'Bearer [Filtered]', 'Basic [Filtered]', '[Filtered]', 'ann@clinic.example'],
          'the log lines filter the credentials typed as usernames');

my $api = { Accept => 'application/json' };
my $r = $t->request(GET => '/_audit/console/api/failed', cookie => $adm, headers => $api);
is($r->{status}, 200, 'api/failed: 200');
is_deeply([sort map { $_->{key} } @{ $r->{json}{attempted_user} || [] }],
          [sort 'Bearer [Filtered]', 'Basic [Filtered]', '[Filtered]', 'ann@clinic.example'],
          '... the accounts tried, as the log lines have them');
$r = $t->request(GET => '/_audit/console/api/stats', cookie => $adm, headers => $api);
my @records = sort map { $_->{key} } @{ $r->{json}{top}{records} || [] };
is_deeply(\@records, ['document/[Filtered]', 'document/letter-7'], 'api/stats top records: the token filtered');

my $all = join '', map { $t->request(GET => "/_audit/console/api/$_", cookie => $adm, headers => $api)->{content} }
                   qw(failed stats events);
for my $secret_seen ('sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'YWRtaW46aHVudGVyMg==', $jwt, $doc) {
    unlike($all, qr/\Q$secret_seen\E/, 'no API answer carries ' . substr($secret_seen, 0, 12) . '...');
}

$t->stop_all_and_check;
done_testing;
