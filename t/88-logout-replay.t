# A logged-out token must stay refused in every encoding that still
# verifies.  A token without a "sid" is revoked by what its signature
# signs, not by its bytes: an ECDSA signature (r, s) verifies as (r, n - s)
# too, and base64url's unused low bits give the same signature another
# spelling; before, either brought a stolen, logged-out ES256 (or HS256)
# cookie back.  A "sid" that is not a string is refused: before it was
# ignored, so audit_session_revoked never matched it.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Math::BigInt;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $ec = Audit::Token::gen_ec($t->dir, 'ec-1');
my $secret = 'logout replay test: an HMAC-SHA256 secret of 32+ bytes';
$t->file('keys.jwks', Audit::Token::jwks($ec->{jwk}, Audit::Token::oct_jwk($secret, 'hs-1')));
$t->file('revoked.txt', "12345\n");
$t->write_nginx_conf(<<'CONF');
    audit_session_keys %%DIR%%/keys.jwks;
    audit_session_revoked %%DIR%%/revoked.txt;
    audit_zone audit:1m;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /logout { audit_logout; proxy_pass http://%%PORTAL%%; }
        location / { audit_require_role doctor; proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $api = { Accept => 'application/json' };
my $get = sub { $t->request(GET => '/patients/42', cookie => "session=$_[0]", headers => $api) };
my $N = Math::BigInt->from_hex('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

# ES256 without sid: the doctor logs out; a copy of the cookie re-signed as (r, n - s)
my $es = Audit::Token::es256($ec->{private}, { sub => 'u-doc', role => 'doctor', exp => time + 3600 },
                             { kid => 'ec-1' });
my ($h, $p, $sig) = split /\./, $es;
my $raw = Audit::Token::b64url_decode($sig);
my $s = Math::BigInt->from_hex(unpack 'H*', substr($raw, 32));
my $flipped = "$h.$p." . Audit::Token::b64url(substr($raw, 0, 32)
    . pack('H*', substr(('0' x 64) . (($N - $s)->as_hex =~ s/^0x//r), -64)));
isnt($flipped, $es, 'the re-signed copy is another string');
is($get->($flipped)->{status}, 200, '... that verifies, before any logout');
is($get->($es)->{status}, 200, 'ES256 without sid: the session opens the chart');
is($t->request(POST => '/logout', cookie => "session=$es", body => '')->{status}, 302, '... the doctor logs out');
my $r = $get->($es);
is($r->{status}, 401, 'the same cookie: refused');
is($r->{json}{error}, 'session_revoked', '... revoked');
$r = $get->($flipped);
is($r->{status}, 401, 'the copy re-signed as (r, n - s): refused too');
is($r->{json}{error}, 'session_revoked', '... revoked');

# HS256 without sid: the signature spelled with other unused low bits
my $hs = Audit::Token::hs256($secret, { sub => 'u-doc2', role => 'doctor', exp => time + 3600 }, { kid => 'hs-1' });
my $alphabet = join '', 'A' .. 'Z', 'a' .. 'z', 0 .. 9, '-', '_';
my $last = index $alphabet, substr($hs, -1);
my $respelled = substr($hs, 0, -1) . substr($alphabet, $last ^ 1, 1);
is(Audit::Token::b64url_decode((split /\./, $respelled)[2]), Audit::Token::b64url_decode((split /\./, $hs)[2]),
   'HS256: a signature spelled with another unused low bit decodes the same');
is($t->request(POST => '/logout', cookie => "session=$hs", body => '')->{status}, 302, '... its owner logs out');
is($get->($hs)->{status}, 401, '... the cookie is refused');
is($get->($respelled)->{status}, 401, '... and so is the other spelling');

# a sid that is not a string: an integer is its decimal (and so revocable
# by audit_session_revoked), any other type is refused
my $num = Audit::Token::hs256($secret, { sub => 'u-doc3', role => 'doctor', sid => 12345, exp => time + 3600 },
                              { kid => 'hs-1' });
$r = $get->($num);
is($r->{status}, 401, '"sid": 12345 (a number), listed in audit_session_revoked as 12345: refused');
is($r->{json}{error}, 'session_revoked', '... revoked');
my $real = Audit::Token::hs256($secret, { sub => 'u-doc4', role => 'doctor', sid => 1.5, exp => time + 3600 },
                               { kid => 'hs-1' });
$r = $get->($real);
is($r->{status}, 401, '"sid": 1.5: refused');
is($r->{json}{error}, 'session_malformed', '... as malformed');
my $ok = Audit::Token::hs256($secret, { sub => 'u-doc5', role => 'doctor', sid => 777, exp => time + 3600 },
                             { kid => 'hs-1' });
$r = $get->($ok);
is($r->{status}, 200, '"sid": 777, not revoked: admitted');
is($r->{json}{headers}{'x-audit-session-id'}, '777', '... the portal gets session id 777');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');
$t->stop_all_and_check;
done_testing;
