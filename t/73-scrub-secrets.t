# Credentials outside the scrub list: a JWT in ?jwt=, in a path segment, in
# a query name, %-encoded, a Bearer token in the query, a JWT or a Bearer
# token in the User-Agent.  What the log line, PostgreSQL and the Sentry
# tracker get is "[Filtered]", never the token; what is not a token stays.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use Audit::Test;
use Audit::Token;
use Audit::Sentry;
use JSON::PP ();

my $t = Audit::Test->new;
my $rx = Audit::Sentry->start($t, project => 73, key => 'key73');
my $writer = $t->audit_db;

my $secret = 'scrub secrets test secret, long enough to be accepted';
$t->file('hmac.key', $secret);
mkdir $t->dir . '/spool' or die "spool: $!";
my $now = time;
sub session {
    return Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor',
                                          sid => 's-ann', exp => $now + 3600, @_ });
}
my $expired = session(exp => $now - 600);

# tokens a client leaks: real JWTs (signed with some other key) and an
# opaque Bearer token, each different, so that each search is exact; the
# same bytes every run (a fixed exp), so that what the scrubber's other
# rules make of their text does not change from run to run
my $n = 0;
sub jwt {
    my $tag = shift;
    return Audit::Token::hs256('not the portal key ' . $tag,
        { sub => "leak-$tag", purpose => 'reset', n => ++$n, exp => 4102444800 });
}
my %tok = (
    query  => jwt('query'),
    path   => jwt('path'),
    name   => jwt('name'),
    pctdot => jwt('pctdot'),
    pctchar => jwt('pctchar'),
    ua_jwt => jwt('ua'),
    bearer => 'opaque-' . substr(sha256_hex('bearer'), 0, 24),
    ua_bearer => 'uabearer-' . substr(sha256_hex('ua'), 0, 24),
);
like($tok{$_}, qr/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/, "the $_ token is a JWT")
    for qw(query path name pctdot pctchar ua_jwt);
(my $pct = $tok{pctdot}) =~ s/\./%2E/g;
# its first character, and one inside the payload, %-encoded
(my $pctchar = $tok{pctchar}) =~ s/^e/%65/;
$pctchar =~ s/^([^.]+\.eyJ[\w-]{4})([\w-])/sprintf '%s%%%02X', $1, ord $2/e;

my %vars = (CONN => $writer, DSN => $rx->dsn);
$t->write_nginx_conf(<<'CONF', vars => \%vars);
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=50 flush=100ms;
    audit_spool %%DIR%%/spool;
    audit_sentry_dsn %%DSN%%;
    audit_sentry_timeout 1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { proxy_pass http://%%PORTAL%%; }
        location ~ ^/patients/(\d+) {
            audit_record patient $1;
            proxy_pass http://%%PORTAL%%;
        }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $log = $t->dir . '/audit.jsonl';
my $api = { Accept => 'application/json' };

# each request: [ what, path, User-Agent, session, the route the log must
# show, the User-Agent it must show ]; the refused ones (expired session)
# go to Sentry too
my @cases = (
    [ 'JWT in ?jwt=', "/chart?jwt=$tok{query}&page=2", undef, $expired,
      '/chart?jwt=[Filtered]&page=2' ],
    [ 'JWT as a path segment', "/reset/$tok{path}/confirm", undef, $expired,
      '/reset/[Filtered]/confirm' ],
    # (the value stays, unless the token's text happens to hold a
    # secret-looking word such as "key" or "sid": then it goes too)
    [ 'JWT as a query name', "/chart?$tok{name}=1", undef, $expired,
      qr{^/chart\?\[Filtered\]=(?:1|\[Filtered\])$} ],
    [ 'JWT with %2E for its dots', "/reset/$pct", undef, $expired,
      '/reset/[Filtered]' ],
    [ 'JWT with %-encoded characters', "/chart?next=$pctchar", undef, $expired,
      '/chart?next=[Filtered]' ],
    [ 'Bearer token in the query', "/chart?h=Bearer+$tok{bearer}&x=1", undef, $expired,
      '/chart?h=Bearer+[Filtered]&x=1' ],
    [ 'JWT in the User-Agent', '/patients/7', "Mozilla/5.0 (X11) reset=$tok{ua_jwt}; x",
      session(), '/patients/7', 'Mozilla/5.0 (X11) reset=[Filtered]; x' ],
    [ 'Bearer token in the User-Agent', '/chart/ua', "curl/8.0 Bearer $tok{ua_bearer}",
      $expired, '/chart/ua', 'curl/8.0 Bearer [Filtered]' ],
    [ 'nothing secret', '/files/app.min.js?v=1.2.3&f=a.b.c', 'tool/1.2.3 (a.b.c)',
      session(), '/files/app.min.js?v=1.2.3&f=a.b.c', 'tool/1.2.3 (a.b.c)' ],
);

my %by_rid;
for my $c (@cases) {
    my ($what, $path, $ua, $cookie) = @$c;
    my $r = $t->request(GET => $path, cookie => "session=$cookie",
                        headers => { %$api, defined $ua ? ('User-Agent' => $ua) : () });
    my $want = $cookie eq $expired ? 401 : 200;
    is($r->{status}, $want, "$what: $want");
    my $rid = $r->{headers}{'x-request-id'} // '';
    like($rid, qr/^[0-9a-f]{32}$/, "$what: a request id");
    $by_rid{$rid} = $c;
}

# 7 refusals (session_invalid), 1 view (authz_check + record_access), and
# "nothing secret" (authz_check only: no audit_record there)
my $want_events = 7 + 2 + 1;
$t->wait_events($log, $want_events, timeout => 10);
my @ev = $t->log_events($log);
is(scalar @ev, $want_events, "$want_events events in the log");

# what the log line shows, per request (PostgreSQL and Sentry must show
# the same route)
my %logged;
for my $rid (sort keys %by_rid) {
    my ($what, $path, $ua, $cookie, $route, $ua_want) = @{ $by_rid{$rid} };
    my @mine = grep { ($_->{request_id} // '') eq $rid } @ev;
    ok(@mine, "$what: has events") or next;
    for my $e (@mine) {
        ref $route ? like($e->{route}, $route, "$what: $e->{action}: route $route")
                   : is($e->{route}, $route, "$what: $e->{action}: route $route");
        $logged{$rid} //= $e->{route};
    }
    if (defined $ua_want) {
        is($_->{user_agent}, $ua_want, "$what: $_->{action}: user_agent $ua_want") for @mine;
    }
}

# ... and no token, nor a piece of one, anywhere in the log
my $text = join "\n", $t->log_lines($log);
for my $k (sort keys %tok) {
    my @parts = grep { length > 8 } split /\./, $tok{$k};
    push @parts, $pct if $k eq 'pctdot';
    is(scalar(grep { index($text, $_) >= 0 } @parts), 0,
       "log: no part of the $k token");
}
my $filtered = () = $text =~ /\[Filtered\]/g;
cmp_ok($filtered, '>=', 8, "log: [Filtered] where the tokens were ($filtered times)");
ok(index($text, '/files/app.min.js?v=1.2.3&f=a.b.c') >= 0,
   'log: dotted names and versions are kept as they are');

# PostgreSQL: the same rows, the same scrubbing
$t->wait_until(sub { $t->psql('SELECT count(*) FROM audit.events', db => 'audit') >= $want_events },
               timeout => 30, interval => 0.25);
is($t->psql('SELECT count(*) FROM audit.events', db => 'audit'), $want_events,
   "PostgreSQL: $want_events rows");
for my $rid (sort keys %by_rid) {
    my ($what, undef, undef, undef, undef, $ua_want) = @{ $by_rid{$rid} };
    my $route = $logged{$rid} // '?';
    my $rows = $t->psql("SELECT DISTINCT route || ' | ' || coalesce(extra->>'user_agent', '-')"
                        . " FROM audit.events WHERE request_id = '$rid'",
                        db => 'audit', user => 'audit_reader');
    my $ua_col = defined $ua_want ? $ua_want : 'audit-test/1';
    is($rows, "$route | $ua_col", "PostgreSQL: $what: route and user_agent as the log has them");
}
my $db = $t->psql('SELECT e::text FROM audit.events e', db => 'audit')
         . "\n" . $t->psql('SELECT g::text FROM audit.error_groups g', db => 'audit');
for my $k (sort keys %tok) {
    my @parts = grep { length > 8 } split /\./, $tok{$k};
    is(scalar(grep { index($db, $_) >= 0 } @parts), 0, "PostgreSQL: no part of the $k token");
}
like($db, qr/\[Filtered\]/, 'PostgreSQL: [Filtered] stored');

# Sentry: an event for each refusal, its url and route tag scrubbed
my @refused = grep { $by_rid{$_}[3] eq $expired } keys %by_rid;
$rx->wait_envelopes(scalar @refused, type => 'event', timeout => 10);
my @events = $rx->events;
is(scalar @events, scalar @refused, 'Sentry: one event per refusal (' . scalar(@refused) . ')');
my %sent = map { ($_->{tags}{request_id} // '') => $_ } @events;
for my $rid (sort @refused) {
    my ($what) = @{ $by_rid{$rid} };
    my $route = $logged{$rid} // '?';
    my $e = $sent{$rid};
    ok($e, "Sentry: $what: sent") or next;
    is($e->{request}{url}, $route, "Sentry: $what: request.url $route");
    (my $path = $route) =~ s/\?.*//s;
    is($e->{tags}{route}, $path, "Sentry: $what: route tag $path");
}
my $raw = join '', map { $_->{raw} // '' } $rx->envelopes;
my $dump = JSON::PP->new->canonical->encode([ map { $_->{items} } $rx->envelopes ]);
for my $k (sort keys %tok) {
    my @parts = grep { length > 8 } split /\./, $tok{$k};
    push @parts, $pct if $k eq 'pctdot';
    is(scalar(grep { index($dump, $_) >= 0 || index($raw, $_) >= 0 } @parts), 0,
       "Sentry: no part of the $k token in any envelope");
}
like($dump, qr/\[Filtered\]/, 'Sentry: [Filtered] sent');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

$t->stop_all_and_check;
done_testing;
