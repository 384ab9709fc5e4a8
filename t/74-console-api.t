# The audit console's JSON API (audit_console, docs/console.md): what a
# client without a session, with the wrong role, or with hostile filter
# values gets; the live feed, the 24 h statistics and the failed logins
# from the console's zone; the history from PostgreSQL as console_reader
# (audited), and a clear 503 while PostgreSQL is down, the worker serving
# on.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Console;

my $c = Audit::Console->setup(pg => 1);
my $t = $c->t;
my $admin = $c->login('admin@clinic.example');
my $sessions = $c->traffic;

sub get {
    my ($path, %o) = @_;
    return $t->request(GET => $c->url($path), cookie => exists $o{cookie} ? $o{cookie} : $admin,
                       headers => { Accept => 'application/json', %{ $o{headers} || {} } });
}

subtest 'protection' => sub {
    my $r = get('api/events', cookie => undef);
    is($r->{status}, 401, 'no session: 401');
    is($r->{json}{error}, 'session_missing', '... as JSON');
    $r = $t->request(GET => $c->url(''), headers => { Accept => 'text/html' });
    is($r->{status}, 302, 'no session, a browser: the login redirect');
    $r = get('api/events', cookie => $sessions->{bob});
    is($r->{status}, 403, 'a nurse: 403');
    # an audit_public console location fails nginx -t (below)
    $r = $t->request(POST => $c->url('api/events'), cookie => $admin, body => 'x=1',
                     headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });
    is($r->{status}, 405, 'POST: 405');
    for my $path ('', 'console.js', 'api/events') {
        $r = get($path);
        is($r->{status}, 200, "/$path: 200");
        like($r->{headers}{'content-security-policy'} // '', qr/default-src 'none'.*script-src 'self'/,
             '... a strict Content-Security-Policy');
        is($r->{headers}{'cache-control'}, 'no-store', '... Cache-Control: no-store');
        is($r->{headers}{'x-content-type-options'}, 'nosniff', '... nosniff');
    }
    like(get('')->{content}, qr/<script src="console\.js"/, 'the page loads its own script');
    (my $bare = $c->url('')) =~ s{/\z}{};
    $r = $t->request(GET => $bare, cookie => $admin);
    is($r->{status}, 301, "$bare: 301");
    like($r->{headers}{location} // '', qr{\Q$bare\E/\z}, '... to the console with its slash');
    unlike(get('')->{content}, qr{https?://}, 'the page names no other origin');
};

subtest 'the live feed' => sub {
    my @ev;
    $t->wait_until(sub { @ev = @{ get('api/events')->{json}{events} }; @ev >= 12 });
    my %n;
    $n{$_->{action}}++ for @ev;
    is($n{login_failure}, 4, 'the four failed logins');
    is($n{record_access}, 2, 'two views of patient 42');
    ok($ev[0]{ts} ge $ev[-1]{ts}, 'newest first');
    my $r = get('api/events?severity=errors');
    ok(@{ $r->{json}{events} } >= 5, 'errors only: the failures and the refusal');
    is(scalar(grep { $_->{severity} eq 'info' } @{ $r->{json}{events} }), 0, '... and no info event');
    $r = get('api/events?action=record_access&record_type=patient&record_id=42');
    is_deeply([sort map { $_->{user_id} } @{ $r->{json}{events} }], ['u-ann', 'u-bob'],
              'record filter: patient 42 viewed by ann and bob');
    my $cursor = $r->{json}{cursor};
    $t->request(GET => '/patients/7', cookie => $sessions->{ann});
    my $new;
    $t->wait_until(sub { $new = get("api/events?after=$cursor"); @{ $new->{json}{events} } });
    is($new->{json}{events}[0]{resource_id}, '7', 'after the cursor: only what is new');
    ok(!grep({ ($_->{resource_id} // '') eq '42' } @{ $new->{json}{events} }), '... not what was seen');
};

subtest 'hostile filter values: 400 or nothing, never an error from below' => sub {
    for my $q ("user=%27%20OR%201%3D1--", "user=a%22b", "ip=%00", "route=x%00y",
               'user=' . ('A' x 10240), 'action=drop%20table', 'severity=%27',
               'after=-1', 'limit=abc', 'since=%27') {
        my $r = get("api/events?$q");
        ok($r->{status} == 400 || ($r->{status} == 200 && !@{ $r->{json}{events} }),
           "api/events?" . substr($q, 0, 40) . ": $r->{status}") or diag $r->{content};
        is(ref $r->{json}, 'HASH', '... JSON');
    }
    for my $q ("type=patient&id=%27%3B%20DROP%20TABLE%20audit.events--", "type=patient&id=%00",
               'type=patient&id=' . ('9' x 10240), "type=x%27&id=1") {
        my $r = get("api/record?$q");
        ok($r->{status} == 400 || ($r->{status} == 200 && !@{ $r->{json}{rows} }),
           "api/record?" . substr($q, 0, 40) . ": $r->{status}") or diag $r->{content};
        unlike($r->{content}, qr/syntax|sqlstate|relation|statement|parameter/i, '... no SQL error shown');
    }
    is($t->psql("SELECT to_regclass('audit.events') IS NOT NULL", db => 'audit'), 't', 'audit.events is still there');
};

subtest 'statistics and failed logins' => sub {
    my $s = get('api/stats')->{json};
    is(scalar @{ $s->{hours} }, 24, '24 hours');
    # the traffic may straddle an hour's boundary: the last two hours hold it
    my $lf = 0;
    $lf += $_->{actions}{login_failure} // 0 for @{ $s->{hours} }[-2, -1];
    is($lf, 4, 'the last hours: 4 failed logins');
    ok($s->{severity}{warning} >= 5, 'warnings counted');
    my %users = map { $_->{key} => $_->{count} } @{ $s->{top}{users} };
    ok($users{'u-ann'}, 'top users name ann');
    my %records = map { $_->{key} => $_->{count} } @{ $s->{top}{records} };
    is($records{'patient/42'}, 2, 'top records: patient/42 twice');
    my $f = get('api/failed')->{json};
    my ($ip) = grep { $_->{key} eq '127.0.0.1' } @{ $f->{ip} };
    is($ip->{last_5m}, 4, 'failed logins from 127.0.0.1: 4 in 5 minutes');
    ok($ip->{alert}, '... flagged as brute force');
    my ($acct) = grep { $_->{key} eq 'ann@clinic.example' } @{ $f->{attempted_user} };
    is($acct->{last_hour}, 3, 'for ann\'s account: 3');
    # every failed login stored before a row of one is edited
    $t->wait_until(sub { $t->psql(q{SELECT count(*) FROM audit.events WHERE action = 'login_failure'},
                                  db => 'audit') == 4 }, timeout => 20, interval => 0.3);
    my $ch;
    $t->wait_until(sub { $ch = get('api/chain'); $ch->{status} == 200 && @{ $ch->{json}{rows} } },
                   timeout => 20, interval => 0.3);
    ok(@{ $ch->{json}{rows} } >= 1, 'api/chain: the chains of the last day');
    is_deeply([grep { $_->{ok} ne 't' } @{ $ch->{json}{rows} }], [], '... all intact');
    # someone edits a stored row: the check says so
    $t->psql(q{UPDATE audit.events SET attempted_user = 'someone-else' WHERE id =
               (SELECT id FROM audit.events WHERE action = 'login_failure' LIMIT 1)}, db => 'audit');
    $ch = get('api/chain');
    my @bad = grep { $_->{ok} eq 'f' } @{ $ch->{json}{rows} || [] };
    is(scalar @bad, 1, 'an edited row: one chain not ok');
    is($bad[0]{tampered}, 1, '... one row tampered');
    my $h = get('api/health')->{json};
    is($h->{console}{history}, JSON::PP::true(), 'health: history configured');
    ok(exists $h->{pg}{connected} && exists $h->{events_lost}, 'health: PostgreSQL and events lost');
};

subtest 'history from PostgreSQL' => sub {
    my $r;
    $t->wait_until(sub { $r = get('api/record?type=patient&id=42'); $r->{status} == 200 && @{ $r->{json}{rows} } >= 2 },
                   timeout => 15, interval => 0.3);
    is($r->{status}, 200, 'who accessed patient 42: 200') or diag $r->{content};
    is_deeply([sort map { $_->{user_id} } @{ $r->{json}{rows} }], ['u-ann', 'u-bob'], '... ann and bob');
    is($r->{json}{rows}[0]{access}, 'viewed', '... viewed');
    like($r->{json}{rows}[0]{ts}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '... times in UTC');
    $r = get('api/record.csv?type=patient&id=42');
    is($r->{status}, 200, 'the CSV');
    like($r->{headers}{'content-type'}, qr{^text/csv}, '... text/csv');
    like($r->{headers}{'content-disposition'}, qr/attachment; filename="audit-patient-42\.csv"/, '... a download');
    like($r->{content}, qr/^"ts","user_id","role","access"/, '... with a header line');
    is(() = $r->{content} =~ /"viewed"/g, 2, '... and both views');
    $r = get('api/user?id=u-bob');
    ok(grep({ $_->{action} eq 'authz_check' } @{ $r->{json}{rows} }), 'what did bob do: the refusal too');
    # looking is audited
    my (@ev, @user);
    $t->wait_until(sub {
        my @all = grep { ($_->{resource_type} // '') eq 'audit_trail' } $t->log_events('audit.jsonl');
        @ev = grep { $_->{resource_id} eq 'patient/42' } @all;
        @user = grep { $_->{resource_id} eq 'user/u-bob' } @all;
        @ev && @user;
    });
    is($ev[0]{user_id}, 'u-admin', 'a history query is an event naming who asked');
    is($ev[0]{role}, 'admin', '... and the role');
    is($ev[0]{access}, 'searched', '... searched, for patient/42');
    is(scalar @user, 1, '... and one for which user (bob)');
};

subtest 'a query PostgreSQL cannot answer in time: the statement timeout, 503' => sub {
    # a lock on audit.events held for 4.5 s: the history query waits for it
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        exec 'psql', '-X', '-q', '-h', '127.0.0.1', '-p', $t->pg_port, '-U', 'postgres', '-d', 'audit',
             '-c', 'BEGIN; LOCK TABLE audit.events IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4.5); COMMIT;';
        exit 127;
    }
    $t->track($pid, 'psql holding a lock');
    $t->wait_until(sub { $t->psql("SELECT count(*) FROM pg_locks WHERE relation = 'audit.events'::regclass AND mode = 'AccessExclusiveLock' AND granted", db => 'audit') > 0 },
                   timeout => 5);
    my $r = get('api/record?type=patient&id=42', cookie => $admin);
    is($r->{status}, 503, 'the history query waiting on a lock: 503 after audit_console_pg_timeout');
    is($r->{json}{error}, 'history_failed', '... history_failed');
    like($t->error_log, qr/history query failed: ERROR:\s+canceling statement due to statement timeout/,
         '... the statement timeout ended it (error log)');
    unlike($r->{content}, qr/statement|timeout|ERROR/, '... which the answer does not show');
    waitpid $pid, 0;
};

subtest 'PostgreSQL down: 503, the worker serves on' => sub {
    $t->stop_pg;
    my $r = get('api/record?type=patient&id=42');
    is($r->{status}, 503, 'history while PostgreSQL is down: 503');
    is($r->{json}{error}, 'history_unavailable', '... history_unavailable, as JSON');
    $r = get('api/user?id=u-ann');
    is($r->{status}, 503, 'again: 503');
    is(get('api/chain')->{status}, 503, 'the chain check too');
    is(get('api/events')->{status}, 200, 'the live feed still answers');
    is($t->request(GET => '/patients/1', cookie => $sessions->{ann})->{status}, 200, 'the portal still answers');
    $t->start_pg_again;
    $t->wait_until(sub { $r = get('api/record?type=patient&id=42'); $r->{status} == 200 }, timeout => 15, interval => 0.3);
    is($r->{status}, 200, 'PostgreSQL back: the history answers again');
};

subtest 'a reload keeps the console\'s events' => sub {
    my $before = get('api/events')->{json}{cursor};
    $t->reload;
    my $after;
    $t->wait_until(sub { $after = get('api/events')->{json}; $after && $after->{cursor} });
    ok($after->{cursor} >= $before, "the cursor goes on ($before, then $after->{cursor})");
    is($after->{first}, 1, '... the first event still there');
};

subtest 'bad configuration fails nginx -t, naming the directive and line' => sub {
    my $bad = Audit::Test->new;
    my @cases = (
        ["audit_console_zone console:2m;\n    server { listen 127.0.0.1:1; location / { audit_console; audit_console; } }",
         qr/"audit_console" directive is duplicate in \S+nginx\.conf:(19|20)/],
        ["server { listen 127.0.0.1:1; location / { audit_console; } }",
         qr/"audit_console" needs "audit_console_zone" before it in \S+nginx\.conf:(19|20)/],
        ["audit_console_zone console:100k;", qr/zone "console" in "audit_console_zone" is too small, at least 1024k in \S+nginx\.conf:(19|20)/],
        ["audit_console_zone console;", qr/invalid zone "console" in "audit_console_zone", expected NAME:SIZE in \S+nginx\.conf:(19|20)/],
        ["audit_console_pg \"host=127.0.0.1 bogus=1\";", qr/invalid connection string in "audit_console_pg": .*bogus.* in \S+nginx\.conf:19/],
        ["audit_console_pg \"host=no-such-host.invalid dbname=audit\";", qr/host "no-such-host\.invalid" of "audit_console_pg" not found in \S+nginx\.conf:(19|20)/],
        ["audit_console_pg_queries 0;", qr/"audit_console_pg_queries" must be between 1 and 64 in \S+nginx\.conf:\d+/],
    );
    for my $case (@cases) {
        $bad->write_nginx_conf("    $case->[0]\n");
        my ($ok, $out) = $bad->nginx_test;
        ok(!$ok, "refused: $case->[0]");
        like($out, $case->[1], '... saying why, where') or diag $out;
    }

    # the console shows who accessed every record: where no role rule
    # applies, any signed-in user (a nurse, a patient) would see it
    $bad->file('hmac.key', 'console config test: an HMAC-SHA256 secret of 32+ bytes');
    my $where = sub {
        open my $f, '<', $bad->dir . '/nginx.conf' or die;
        my @l = <$f>;
        my ($n) = grep { $l[$_ - 1] =~ /audit_console;/ } 1 .. @l;
        return $n;
    };
    # nginx -t of a server holding $inside
    my $test = sub {
        my ($inside) = @_;
        $bad->write_nginx_conf(<<"CONF");
    audit_console_zone console:2m;
    audit_session_keys %%DIR%%/hmac.key;
    server {
        listen 127.0.0.1:1;
        $inside
    }
CONF
        return $bad->nginx_test;
    };
    for my $case (
        ['no role anywhere', "location /c/ {\n            audit_console;\n        }"],
        ['audit_public on', "location /c/ {\n            audit_public on;\n            audit_console;\n        }"],
        ['roles only in a sibling', "location /x/ { audit_require_role admin; }\n        location /c/ {\n            audit_console;\n        }"],
    ) {
        my ($ok, $out) = $test->($case->[1]);
        ok(!$ok, "refused: audit_console, $case->[0]");
        my $n = $where->();
        like($out, qr/"audit_console" needs "audit_require_role" where it is served .* in \S+nginx\.conf:$n\b/,
             "... naming audit_console's line ($n)") or diag $out;
    }
    for my $case (
        ['a role in the location', "location /c/ { audit_console; audit_require_role admin; }"],
        ['a role in the server', "audit_require_role admin;\n        location /c/ { audit_console; }"],
    ) {
        my ($ok, $out) = $test->($case->[1]);
        ok($ok, "accepted: audit_console with $case->[0]") or diag $out;
    }
};

subtest "a '+' in a filter value is a '+' (the page sends %2B), a raw '+' a space" => sub {
    my $r = $t->request(POST => '/login', body => 'email=mallory%2B1%40evil.example&password=nope',
                        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });
    is($r->{status}, 401, "a failed login for mallory+1\@evil.example");
    my $found;
    $t->wait_until(sub { $found = get('api/events?user=mallory%2B1%40evil.example'); @{ $found->{json}{events} } });
    is_deeply([map { $_->{attempted_user} } @{ $found->{json}{events} }], ['mallory+1@evil.example'],
              'user=mallory%2B1%40evil.example: found (before: searched for "mallory 1@...")');
    $r = get('api/events?user=mallory+1%40evil.example');
    is(scalar @{ $r->{json}{events} }, 0, "user=mallory+1%40evil.example (a space): nothing");
};

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'nginx: no alert or crash');
for my $secret (map { $c->password($_) } qw(admin@clinic.example ann@clinic.example bob@clinic.example)) {
    unlike(join("\n", $t->log_lines('audit.jsonl'), $t->error_log), qr/\Q$secret\E/, 'no password in any log');
}
$t->stop_all_and_check;
done_testing;
