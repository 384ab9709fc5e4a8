# "satisfy any": the clinic's LAN (allow 127.0.0.1) or a doctor's session.
# A request the module refused but an "allow" let through is answered by
# the portal, so the trail says what it was given: the refusal (authz_check
# denied, or session_invalid) and the record_access beside it, for the
# nurse's session and for no session at all.  An error page answering a
# refusal (error_page 401 = @signin) gives nobody the record: no
# record_access there.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
$t->start_portal;
my $secret = 'satisfy any test: an HMAC-SHA256 secret, 32+ bytes';
$t->file('hmac.key', $secret);
$t->write_nginx_conf(<<'CONF', workers => 1);
    audit_zone audit:1m;
    audit_log %%DIR%%/a.jsonl flush=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        audit_session_keys %%DIR%%/hmac.key;
        location ~ ^/patients/(\d+)$ {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            audit_require_role doctor;
            audit_record patient $1;
            proxy_pass http://%%PORTAL%%;
        }
        location ~ ^/letters/(\d+)$ {
            audit_require_role doctor;
            audit_record letter $1;
            error_page 401 403 = @signin;
            proxy_pass http://%%PORTAL%%;
        }
        location @signin { return 200 "please sign in\n"; }
    }
CONF
$t->start_nginx;
my $log = $t->dir . '/a.jsonl';
sub session {
    my ($sub, $role) = @_;
    return 'session=' . Audit::Token::hs256($secret, { sub => $sub, role => $role, sid => "s-$sub",
                                                       exp => time + 3600 });
}
my $api = { Accept => 'application/json' };

my @want;
for my $c (['a doctor', session('u-ann', 'doctor'), 'u-ann'],
           ['a nurse', session('u-bob', 'nurse'), 'u-bob'],
           ['no session', undef, undef]) {
    my ($who, $cookie, $user) = @$c;
    my $r = $t->request(GET => '/patients/42', cookie => $cookie, headers => $api);
    is($r->{status}, 200, "$who: /patients/42 answered by the portal (satisfy any)");
    is($r->{json}{uri}, '/patients/42', '... which served the record');
    push @want, $r->{headers}{'x-request-id'};
}
my @ev = $t->wait_events($log, 6);
for my $i (0 .. 2) {
    my @mine = grep { ($_->{request_id} // '') eq $want[$i] } @ev;
    my ($rec) = grep { $_->{action} eq 'record_access' } @mine;
    ok($rec, "request " . ($i + 1) . ': a record_access is in the trail');
    is($rec && $rec->{resource_id}, '42', '... for patient 42');
    is($rec && $rec->{user_id}, ('u-ann', 'u-bob', undef)[$i], '... naming the session\'s user, or nobody');
}
my ($denied) = grep { $_->{action} eq 'authz_check' && ($_->{decision} // '') eq 'denied' } @ev;
is($denied && $denied->{user_id}, 'u-bob', "the nurse's refusal stands beside it (authz_check denied)");
ok((grep { $_->{action} eq 'session_invalid' } @ev), '... as does the missing session\'s');

# an error page answering the refusal gives nobody the letter
my $r = $t->request(GET => '/letters/7', cookie => session('u-bob', 'nurse'), headers => $api);
is($r->{status}, 200, 'a nurse asking for a letter gets the sign-in page (error_page 403 = @signin)');
is($r->{content}, "please sign in\n", '... not the letter');
my $id = $r->{headers}{'x-request-id'};
@ev = $t->wait_events($log, 7);
sleep 0.3;
@ev = grep { ($_->{request_id} // '') eq ($id // '') } $t->log_events($log);
ok((grep { $_->{action} eq 'authz_check' && $_->{decision} eq 'denied' } @ev), '... the refusal is logged');
ok(!(grep { $_->{action} eq 'record_access' } @ev), '... and no record_access');

$t->stop_all_and_check;
done_testing;
