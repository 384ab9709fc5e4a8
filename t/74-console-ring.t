# The console's ring in audit_console_zone when it is full: the oldest
# events go, the newest stay whole and in order, across the ring's end
# (lines start again at 0) and the index's end, with a zone of the
# smallest size and lines of every length.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $secret = 'console ring test secret that is long enough';
$t->file('hmac.key', $secret);
my $cookie = 'session=' . Audit::Token::hs256($secret, { sub => 'u-admin', role => 'admin',
                                                         sid => 's-1', exp => time + 3600 });
$t->write_nginx_conf(<<'CONF', workers => 1);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_console_zone console:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/patients/(\d+)$ {
            audit_record patient $1;
            audit_authz_log denied;
            proxy_pass http://%%PORTAL%%;
        }
        location /_audit/console/ { audit_console; audit_require_role admin; audit_authz_log denied; }
    }
CONF
$t->start_portal;
$t->start_nginx;

# 2500 record accesses, lines from ~400 bytes to ~1.4 kB: more than 1m holds
my $N = 2500;
my $sock;
for my $i (1 .. $N) {
    if ($i % 500 == 1) {    # under keepalive_requests
        close $sock if $sock;
        $sock = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port) or die "connect: $@";
    }
    my $pad = 'p' x (($i * 37) % 1000);
    print $sock "GET /patients/$i?pad=$pad HTTP/1.1\r\nHost: x\r\nCookie: $cookie\r\n\r\n";
    my $head = '';
    while ($head !~ /\r\n\r\n/) { sysread($sock, $head, 1, length $head) or die 'closed' }
    my ($len) = $head =~ /Content-Length: (\d+)/i;
    read($sock, my $body, $len // 0);
}
close $sock;

my $api = sub {
    my $r = $t->request(GET => "/_audit/console/api/events?$_[0]", cookie => $cookie);
    return $r->{json} // die "not JSON: $r->{content}";
};
my $j = $api->('limit=500');
is($j->{cursor}, $N, "the cursor is the $N-th event");
ok($j->{first} > 1, "the oldest went (first kept: $j->{first})");
is($j->{events}[0]{resource_id}, $N, 'the newest event is the last request');

my @ids = map { $_->{resource_id} } @{ $j->{events} };
is_deeply(\@ids, [reverse $N - 499 .. $N], 'the newest 500, each whole, newest first');

# the oldest kept line is whole too (a search reads the whole ring)
my $first = $j->{first};
my $old = $api->("record_type=patient&record_id=$first");
is(scalar @{ $old->{events} }, 1, "the oldest kept event (patient $first) is found");
like($old->{events}[0]{route} // '', qr{^/patients/$first\?pad=p*$}, '... whole');
is(scalar @{ $api->('record_id=' . ($first - 1))->{events} }, 0, '... the one before it is gone');
my $all = $api->('record_type=patient&limit=500');
is($all->{count}, 500, 'a filter over the whole ring: 500 found');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'nginx: no alert or crash');
$t->stop_all_and_check;
done_testing;
