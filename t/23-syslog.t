# audit_log to syslog: one message per event, the JSON object intact.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::IP;
use IO::Select;
use JSON::PP;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $secret = 'syslog test secret that is long enough';
$t->file('hmac.key', $secret);
my $tok = Audit::Token::hs256($secret, { sub => 'u-s', role => 'doctor', exp => time + 3600 });

my $udp = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Proto => 'udp')
    or die "udp: $!";
my %vars = (SYSLOG => $udp->sockport);
$t->write_nginx_conf(<<'CONF', vars => \%vars);
    audit_session_keys %%DIR%%/hmac.key;
    audit_log syslog:server=127.0.0.1:%%SYSLOG%%,facility=local3,tag=audit;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

$t->request(GET => '/a', cookie => "session=$tok");
$t->request(GET => '/b', headers => { 'User-Agent' => "evil \"agent\"" });

my @msgs;
my $sel = IO::Select->new($udp);
while (@msgs < 2 && $sel->can_read(5)) {
    my $m;
    $udp->recv($m, 65536);
    push @msgs, $m;
}
is(scalar @msgs, 2, 'two events, two syslog messages');
like($msgs[0], qr/^<15\d>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ audit: \{/,
     'RFC 3164 header: local3 facility, host, tag');
my @ev = map { my ($j) = /audit: (\{.*\})\z/s; eval { decode_json($j) } } @msgs;
is($ev[0]{action}, 'authz_check', 'first: authz_check');
is($ev[1]{action}, 'session_invalid', 'second: session_invalid');
is($ev[1]{reason}, 'missing', '... missing');
unlike($msgs[1], qr/\n/, 'no line break inside a message');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

my ($ok, $out);
$t->write_nginx_conf("    audit_log syslog:server=127.0.0.1:9 buffer=4k;\n");
($ok, $out) = $t->nginx_test;
like($out, qr/"audit_log" to syslog takes no buffer= or flush=/, 'syslog with buffer= is refused');

$t->stop_all_and_check;
done_testing;
