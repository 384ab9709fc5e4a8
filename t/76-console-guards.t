# What an attacker tried on the audit console, audit_test and audit_health
# (docs/console.md, docs/security.md): a subrequest (an SSI include on a
# page the attacker can load) reaching them with its parent's context;
# "satisfy any" letting a signed-in nurse past the role the location
# requires; a CSV value that a spreadsheet runs as a formula after a
# blank; a string filter on api/events making the worker copy the whole
# ring into the request's memory.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $secret = 'console guards secret that is long enough';
$t->file('hmac.key', $secret);
$t->file('p.txt', "p\n");
mkdir $t->dir . '/html';
$t->file('html/events.html',
         "<p>before</p>\n<!--# include virtual=\"/_audit/console/api/events\" -->\n<p>after</p>\n");
$t->file('html/page.html', "<p>before</p>\n<!--# include virtual=\"/_audit/console/\" -->\n<p>after</p>\n");
$t->file('html/any.html', "<p>before</p>\n<!--# include virtual=\"/any/api/events\" -->\n<p>after</p>\n");
$t->file('html/health.html', "<p>before</p>\n<!--# include virtual=\"/hz\" -->\n<p>after</p>\n");

$t->audit_db;
$t->psql("CREATE ROLE console_reader LOGIN IN ROLE audit_reader", db => 'audit');
mkdir $t->dir . '/spool';
my %vars = (HISTORY => 'audit_console_pg "' . $t->pg_conninfo('audit', 'console_reader')
                       . '"; audit_console_pg_timeout 3s;',
            PG => 'audit_pg "' . $t->pg_conninfo('audit', 'audit_writer')
                  . '" batch=50 flush=100ms; audit_spool ' . $t->dir . '/spool;');
$t->write_nginx_conf(<<'CONF', workers => 1, vars => \%vars);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_login_url /login;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    %%PG%%
    audit_console_zone console:4m;
    %%HISTORY%%
    server {
        listen 127.0.0.1:%%PORT%%;
        large_client_header_buffers 4 16k;
        location /_audit/console/ { audit_require_role admin; audit_console; }
        location /any/ {
            satisfy any; allow 127.0.0.1; deny all;
            audit_require_role admin;
            audit_console;
        }
        location = /anytest {
            satisfy any; allow 127.0.0.1; deny all;
            audit_require_role admin;
            audit_test;
        }
        location = /hz { deny all; audit_public on; audit_health; }
        location /pages/ { ssi on; audit_public on; alias %%DIR%%/html/; }
        location ~ ^/docs/(.+)$ { audit_record document $1; alias %%DIR%%/p.txt; }
        location ~ ^/x/ { alias %%DIR%%/p.txt; }
        location /open/ { audit_public on; error_page 404 /_audit/console/api/events; }
    }
CONF
$t->start_nginx;

my $bob = 'session=' . Audit::Token::hs256($secret, { sub => 'u-bob', role => 'nurse', sid => 's1',
                                                     exp => time + 3600 });
my $adm = 'session=' . Audit::Token::hs256($secret, { sub => 'u-admin', role => 'admin', sid => 's2',
                                                     exp => time + 3600 });
my $json = { Accept => 'application/json' };

sub events {
    my ($q) = @_;
    my $r = $t->request(GET => "/_audit/console/api/events$q", cookie => $adm, headers => $json);
    return $r->{json} ? @{ $r->{json}{events} } : ();
}

$t->request(GET => '/x/secret-route', cookie => $adm) for 1 .. 3;
ok($t->wait_until(sub { grep { ($_->{route} // '') eq '/x/secret-route' } events('') }),
   'the admin\'s requests are in the console\'s feed');

subtest 'a subrequest gets nothing from the console, audit_test or audit_health' => sub {
    is($t->request(GET => '/_audit/console/api/events', cookie => $bob, headers => $json)->{status}, 403,
       'a nurse asking the console directly: 403');
    for my $who (['a nurse', $bob], ['the admin', $adm], ['no one signed in', undef]) {
        my ($name, $cookie) = @$who;
        my $r = $t->request(GET => '/pages/events.html', cookie => $cookie);
        is($r->{status}, 200, "$name loads a page that includes api/events: the page itself, 200");
        like($r->{content}, qr/<p>after<\/p>/, '... served to its end');
        unlike($r->{content}, qr/secret-route|"events"/, '... without the feed in it');
        $r = $t->request(GET => '/pages/page.html', cookie => $cookie);
        unlike($r->{content}, qr/console\.js|<title>/i, "$name: an included console page is not in it");
        $r = $t->request(GET => '/pages/any.html', cookie => $cookie);
        unlike($r->{content}, qr/secret-route|"events"/,
               "$name: an include of a satisfy-any console location neither");
    }
    my $e = $t->request(GET => '/open/nothing-here', cookie => $bob, headers => $json);
    unlike($e->{content}, qr/secret-route|"events"/, 'a nurse: the console as an error page shows no event');
    is($t->request(GET => '/hz', headers => $json)->{status}, 403, 'audit_health behind "deny all": 403');
    my $r = $t->request(GET => '/pages/health.html');
    like($r->{content}, qr/<p>after<\/p>/, 'a page including it: served');
    unlike($r->{content}, qr/"checks"|"status"/, '... without the health report');
};

subtest 'satisfy any: an allow does not stand in for the role' => sub {
    for my $m ('GET', 'HEAD') {
        my $r = $t->request($m => '/any/api/events', cookie => $bob, headers => $json);
        is($r->{status}, 403, "a nurse from an allowed address, $m api/events: 403");
        unlike($r->{content}, qr/secret-route/, '... and no event');
    }
    is($t->request(GET => '/any/', cookie => $bob)->{status}, 403, 'a nurse, the console page: 403');
    my $none = $t->request(GET => '/any/api/events', headers => $json);
    is($none->{status}, 401, 'no session, let in by the allow: 401');
    is($none->{json}{error}, 'session_required', '... session_required: the console needs one whatever the location allows');
    my $r = $t->request(GET => '/any/api/events', cookie => $adm, headers => $json);
    is($r->{status}, 200, 'the admin: 200');
    like($r->{content}, qr/secret-route/, '... with the feed');
    $r = $t->request(POST => '/anytest', cookie => $bob, body => '',
                     headers => { %$json, 'Sec-Fetch-Site' => 'same-origin' });
    is($r->{status}, 403, 'a nurse, audit_test under satisfy any: 403');
};

subtest 'CSV: a formula after blanks is guarded' => sub {
    for my $p ('%20=1+3', '%20%20+1+5', '%20-1+6', '%20@SUM(A1)', '=1+4', 'plain-7') {
        is($t->request(GET => "/docs/$p", cookie => $bob)->{status}, 200, "document $p: 200");
    }
    my %ids;
    $t->wait_until(sub {
        my $r = $t->request(GET => '/_audit/console/api/user.csv?id=u-bob', cookie => $adm);
        %ids = map { /^"[^"]*","record_access",(?:[^,]*,){4}"((?:[^"]|"")*)"/ ? ($1 => 1) : () }
               split /\n/, $r->{content};
        keys %ids >= 6;
    }, timeout => 10);
    for my $v (" =1+3", "  +1+5", " -1+6", " \@SUM(A1)", "=1+4") {
        ok($ids{"'$v"}, "\"$v\" goes out as \"'$v\"") or diag explain \%ids;
        ok(!$ids{$v}, '... never bare');
    }
    ok($ids{'plain-7'}, 'a plain value is left as it is');
};

subtest 'a string filter on api/events copies one chunk, not the ring' => sub {
    # lines of ~3 KB (a long route, the same as the record id, a long
    # User-Agent) until the ring (about 4 MB) has gone round: pipelined
    my $pad = 'a' x 1000;
    my $ua = 'u' x 250;
    for my $batch (1 .. 12) {
        my $req = join '', map {
            "GET /docs/$batch-$_-$pad HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: $bob\r\n"
            . "User-Agent: $ua\r\n" . ($_ == 100 ? "Connection: close\r\n" : '') . "\r\n"
        } 1 .. 100;
        $t->raw_request($req, responses => 100, timeout => 30);
    }
    $t->request(GET => '/docs/last-marker', cookie => $bob);
    my $r;
    ok($t->wait_until(sub {
        $r = $t->request(GET => '/_audit/console/api/events?limit=1', cookie => $adm, headers => $json);
        $r->{json} && $r->{json}{first} > 1 && $r->{content} =~ /last-marker/ }, timeout => 20),
       'the ring went round') or diag substr($r->{content}, 0, 300);
    my ($n) = $r->{json}{cursor} - $r->{json}{first};
    cmp_ok($n, '>', 1000, "the ring holds over 1000 lines ($n)");
    my ($worker) = $t->worker_pids;
    my $hwm = sub {
        open my $fh, '<', "/proc/$worker/status" or return;
        local $/;
        return <$fh> =~ /^VmHWM:\s+(\d+) kB/m ? $1 : undef;
    };
    my $before = $hwm->();
    $r = $t->request(GET => '/_audit/console/api/events?user=nobody', cookie => $adm, headers => $json);
    is($r->{status}, 200, 'a filter nothing matches: 200');
    is($r->{json}{count}, 0, '... no event');
    my $after = $hwm->();
    ok(defined $before && defined $after, 'the worker\'s peak memory is readable');
    cmp_ok($after - $before, '<', 1024,
           'its peak grew by less than 1 MB for a walk over the ~4 MB ring')
        or diag "VmHWM $before kB -> $after kB";
    diag "VmHWM $before kB -> $after kB" if $ENV{AUDIT_DIAG};
    $r = $t->request(GET => '/_audit/console/api/events?route=last-marker', cookie => $adm, headers => $json);
    ok($r->{json}{count} >= 1, 'a filter the newest request matches: its lines');
    is(scalar(grep { $_->{route} !~ /last-marker/ } @{ $r->{json}{events} }), 0, '... only those');
};

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no crash');
$t->stop_all_and_check;
done_testing;
