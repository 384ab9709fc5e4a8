# A flood of failed logins (no session needed, a new account name each
# time, from many addresses) fills audit_zone with brute-force counters.
# Logouts after it must still be stored, and no revocation still in force
# may be dropped to make room: before, the next logout evicted the oldest
# revocation and a logged-out cookie worked again.  Cached tokens and
# counters make room instead.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::IP;
use Audit::Test;
use Audit::Token;

my $ZONE = '64k';            # small: 600 counters fill it
my $FLOOD = 600;
my $t = Audit::Test->new;
$t->start_portal;
my $secret = 'zone flood test: an HMAC-SHA256 secret of 32+ bytes';
$t->file('hmac.key', $secret);
$t->write_nginx_conf(<<'CONF', workers => 2, vars => {ZONE => $ZONE});
    audit_zone audit:%%ZONE%%;
    audit_log %%DIR%%/a.jsonl flush=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        audit_session_keys %%DIR%%/hmac.key;
        location = /login {
            audit_public on;
            audit_login username_field=email;
            audit_bruteforce 5/5m;
            if ($audit_bruteforce) { return 429; }
            proxy_pass http://%%PORTAL%%;
        }
        location = /logout { audit_logout; proxy_pass http://%%PORTAL%%; }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_nginx;
my $tok = sub { 'session=' . Audit::Token::hs256($secret, {sub => $_[0], role => 'doctor', sid => $_[1], exp => time + 3600}) };
my $get = sub { $t->request(GET => '/chart', cookie => $_[0], headers => {Accept => 'application/json'})->{status} };
my $ann = $tok->('u-ann', 's-ann-1');
is($get->($ann), 200, "ann's session opens the chart");
is($t->request(POST => '/logout', cookie => $ann, body => '')->{status}, 302, '... she logs out');
is($get->($ann), 401, "... and a copy of her cookie is refused");

# the flood: unauthenticated, 5 failures per source address (127.0.x.y)
my %st;
for my $i (0 .. $FLOOD - 1) {
    my $ip = sprintf '127.0.%d.%d', 1 + int($i / 5 / 250), 2 + int($i / 5) % 250;
    my $user = sprintf('u%07d@e.x', $i);   # short: the slab size of a revocation
    my $body = "email=$user&password=nope";
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port, LocalHost => $ip, Timeout => 5)
        or BAIL_OUT("connect from $ip: $@");
    print $s "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           . "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
    my $resp = do { local $/; <$s> };
    my ($code) = ($resp // '') =~ m{^HTTP/1\.1 (\d+)};
    $st{$code // 'none'}++;
}
is_deeply(\%st, { 401 => $FLOOD }, "$FLOOD failed logins with $FLOOD account names: 401 each");

# logouts after the flood
my $eve = $tok->('u-eve', 's-eve-1');
is($t->request(POST => '/logout', cookie => $eve, body => '')->{status}, 302, "the attacker's own account logs out");
is($get->($ann), 401, "ann's copied cookie is still refused: her revocation was not dropped for it");
my $bob = $tok->('u-bob', 's-bob-1');
is($t->request(POST => '/logout', cookie => $bob, body => '')->{status}, 302, 'bob logs out');
is($get->($bob), 401, "... and a copy of bob's cookie is refused");
is($get->($eve), 401, "... as is the attacker's after her logout");
my $cal = $tok->('u-cal', 's-cal-1');
is($get->($cal), 200, 'a session never logged out still works');
unlike($t->error_log, qr/a logged-out session stays valid|exited on signal/, 'every revocation was stored; no crash');

$t->stop_all_and_check;
done_testing;
