# Subrequests (SSI "include virtual" here; add_before_body and mirror work
# the same way) skip nginx's access phase and share the main request's
# headers.  A page that includes a protected location must not get past
# that location's policy: not without a session, not with a session whose
# role the location does not admit, not with identity headers the client
# made up, not with a session proved against other keys.  The portal
# records every request it receives: a refused include never reaches it.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $secret = 'subrequest test secret, long enough to use';
$t->file('hmac.key', $secret);
$t->file('other.key', 'another realm entirely, also long enough');
my $record = $t->dir . '/portal-requests.jsonl';

my $page = "<p>before</p><!--# include virtual=\"/admin/secret\" --><p>after</p>\n";
for my $dir (qw(open ward lobby)) {
    mkdir $t->dir . "/www";
    mkdir $t->dir . "/www/$dir";
    $t->file("www/$dir/page.html", $page);
}
$t->file('www/ward/other.html', "<!--# include virtual=\"/other/x\" -->\n");
$t->file('www/ward/public.html', "<!--# include virtual=\"/help/x\" -->\n");
$t->file('www/open/public.html', "<!--# include virtual=\"/help/x\" -->\n");

$t->write_nginx_conf(<<'CONF');
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        ssi on;
        ssi_types text/html;
        root %%DIR%%/www;
        location /open/ { }
        location /ward/ {
            audit_session_keys %%DIR%%/hmac.key;
            audit_require_role nurse doctor admin;
        }
        location /lobby/ {
            audit_session_keys %%DIR%%/hmac.key;
            audit_public on;
        }
        location /admin/ {
            audit_session_keys %%DIR%%/hmac.key;
            audit_require_role admin;
            proxy_pass http://%%PORTAL%%;
        }
        location /other/ {
            audit_session_keys %%DIR%%/other.key;
            audit_require_role nurse;
            proxy_pass http://%%PORTAL%%;
        }
        location /help/ {
            audit_session_keys %%DIR%%/hmac.key;
            audit_public on;
            proxy_pass http://%%PORTAL%%;
        }
    }
CONF
$t->start_portal(users => {}, token_cb => sub { '' }, record => $record);
$t->start_nginx;

my $now = int time;
sub cookie {
    my (%c) = @_;
    return 'session=' . Audit::Token::hs256($secret, { sub => 'u-nurse', role => 'nurse', sid => 's-n',
                                                       exp => $now + 3600, %c });
}
my $nurse = cookie();
my $admin = cookie(sub => 'u-admin', role => 'admin', sid => 's-a');
my $forged = { 'X-Audit-User-Id' => 'u-admin', 'X-Audit-Role' => 'admin' };

sub portal_requests {
    open(my $fh, '<', $record) or return ();
    return map { JSON::PP::decode_json($_) } grep { /\S/ } <$fh>;
}

sub page {
    my ($path, %o) = @_;
    return $t->request(GET => $path, cookie => $o{cookie}, headers => { Accept => 'text/html', %{ $o{headers} || {} } });
}

# the control: the admin's page includes the admin's view
my $r = page('/ward/page.html', cookie => $admin);
is($r->{status}, 200, 'the admin opens the ward page: 200');
like($r->{content}, qr/before.*"uri":"\/admin\/secret".*after/s, '... with the admin page included');
my @seen = grep { $_->{uri} eq '/admin/secret' } portal_requests();
is(scalar @seen, 1, '... which the portal served once');
my @uh = grep { /u-admin/ } values %{ $seen[0]{headers} || {} };
ok(@uh, '... for the admin\'s identity');

my @cases = (
    ['a page without the module, no session', '/open/page.html', undef, {}],
    ['a page without the module, forged identity headers', '/open/page.html', undef, $forged],
    ['a page without the module, a nurse\'s cookie', '/open/page.html', $nurse, $forged],
    ['a public page, no session', '/lobby/page.html', undef, $forged],
    ['a nurse\'s ward page including the admin\'s', '/ward/page.html', $nurse, $forged],
    ['a public page with a nurse\'s session', '/lobby/page.html', $nurse, {}],
);
for my $c (@cases) {
    my ($what, $path, $cookie, $hdrs) = @$c;
    my $before = () = portal_requests();
    $r = page($path, cookie => $cookie, headers => $hdrs);
    is($r->{status}, 200, "$what: the page itself: 200");
    like($r->{content}, qr/before.*after/s, '... its own content');
    unlike($r->{content}, qr{"uri"|/admin/secret"}, '... but not the admin page');
    unlike($r->{content}, qr{<title>|<center>}, '... nor an error page in its place');
    my @new = portal_requests(); splice(@new, 0, $before);
    is(scalar(grep { $_->{uri} eq '/admin/secret' } @new), 0, '... which the portal never received');
}

my $before = () = portal_requests();
$r = page('/ward/other.html', cookie => $nurse);
unlike($r->{content}, qr/"uri"/, 'a location checked against other keys: not included for this session');
$r = page('/ward/public.html', cookie => $nurse);
like($r->{content}, qr{"uri":"/help/x"}, 'a public location: included');
my @new = portal_requests(); splice(@new, 0, $before);
is_deeply([map { $_->{uri} } @new], ['/help/x'], 'the portal saw the public include only');

# a public location greets whoever its identity headers name: from a page
# this module did not judge, they are the client's, and must not arrive
sub help_headers {
    my ($path, %o) = @_;
    my $n = () = portal_requests();
    my $res = page($path, %o);
    my @got = portal_requests(); splice(@got, 0, $n);
    my ($h) = map { $_->{headers} } grep { $_->{uri} eq '/help/x' } @got;
    return ($res, $h || {});
}
my ($pr, $h) = help_headers('/open/public.html', headers => { %$forged, 'X-Original-URL' => '/admin/users' });
like($pr->{content}, qr{"uri":"/help/x"}, 'a page without the module includes a public location');
is_deeply([grep { /^x-audit-|^x-original-url$/ } sort keys %$h], [],
          '... whose upstream gets none of the identity or path headers the client forged');
($pr, $h) = help_headers('/open/public.html', cookie => $nurse, headers => $forged);
is($h->{'x-audit-user-id'}, undef, '... not with a session cookie either (nothing proved it there)');
($pr, $h) = help_headers('/ward/public.html', cookie => $nurse, headers => $forged);
is($h->{'x-audit-user-id'}, 'u-nurse', 'from the nurse\'s ward page: the nurse\'s identity, not the forged one');
is($h->{'x-audit-role'}, 'nurse', '... and role');

my $log = $t->error_log;
like($log, qr/audit: subrequest "\/admin\/secret" refused: the main request proved no session/,
     'the error log names a refused include without a session');
like($log, qr/audit: subrequest "\/admin\/secret" refused: role "nurse" not admitted/,
     '... and one the role does not admit');
unlike($log, qr/\Q$secret\E|session=ey/, '... and no secret or cookie');

# the main requests are audited as ever, one line each, valid JSON
$t->wait_until(sub { -s $t->dir . '/audit.jsonl' }, timeout => 5);
sleep 0.3;
open(my $fh, '<', $t->dir . '/audit.jsonl') or die;
my @lines = <$fh>;
my @bad = grep { !eval { JSON::PP::decode_json($_); 1 } } @lines;
is(scalar @bad, 0, 'every audit line is JSON');
ok(scalar(grep { /"route":"\/ward\/page\.html"/ } @lines) >= 1, '... the ward page is audited');

$t->stop_all_and_check;
done_testing;
