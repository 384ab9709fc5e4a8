# The audit console in a real browser: Debian's chromium, headless, driven
# by puppeteer-core (t/console-browser.js; npm ci --prefix t). It logs in
# through the portal, keeps the console open while the test makes traffic
# (failed logins, a refused role, patient 42 viewed by two users), and
# reads what a person sees: the live feed updating without a reload, the
# failed-login panel with the address and its count, who accessed patient
# 42, the errors-only filter, no JavaScript error, no request outside the
# console's origin. A screenshot of each panel goes to build/, the whole
# page to build/console.png; AUDIT_UPDATE_DOCS=1 copies it to
# docs/console.png (docs/console.md), so a run leaves the tree as it was.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IPC::Open2 qw(open2);
use File::Path qw(make_path);
use Audit::Console;

my $root = Audit::Test->repo_root;
plan skip_all => 'no /usr/bin/chromium (scripts/deps.sh installs it)' unless -x '/usr/bin/chromium';
plan skip_all => 't/node_modules/puppeteer-core is missing: run npm ci --prefix t'
    unless -d "$root/t/node_modules/puppeteer-core";

my $c = Audit::Console->setup(pg => 1);
my $t = $c->t;
my $shots = "$root/build";
make_path($shots);

$SIG{PIPE} = "IGNORE";
my $pid = open2(my $from, my $to, 'node', "$root/t/console-browser.js");
$t->track($pid, 'chromium driver');
my $json = JSON::PP->new->utf8;
print $to $json->encode({ base => $c->base_url, path => $Audit::Console::PATH,
                          email => 'admin@clinic.example',
                          password => $c->password('admin@clinic.example'),
                          shots => $shots, doc => "$shots/console.png" }), "\n";
$to->flush;

my $ready = $json->decode(scalar(<$from>) // '{}');
is($ready->{step}, 'ready', 'the console is open in chromium') or diag explain $ready;
is($ready->{redirected}, '/login', 'without a session the browser was sent to the login');
is($ready->{login}, 302, 'the portal\'s login answered 302 with the session');

$c->traffic;
print $to "traffic\n";
$to->flush;

my $line = <$from> // '{}';
my $r = $json->decode($line);
waitpid $pid, 0;
is($r->{exception}, undef, 'the walk through the page completed') or diag $r->{exception};

is($r->{same_page}, 'same page', 'the live feed updated without a reload');
my @feed = @{ $r->{feed} || [] };
my @fail = grep { $_->{action} eq 'login_failure' } @feed;
is(scalar @fail, 4, 'the feed shows the four failed logins');
my @views = grep { $_->{action} eq 'record_access' && $_->{cells}[6] =~ m{patient/42} } @feed;
is_deeply([sort map { $_->{cells}[2] } @views], ['u-ann', 'u-bob'], '... and patient 42 viewed by ann and bob');
ok(grep({ $_->{action} eq 'authz_check' && $_->{cells}[2] eq 'u-bob' && $_->{cells}[6] =~ /denied/ } @feed),
   '... and the refusal of bob\'s role') or diag explain [map { $_->{cells} } @feed];
like($views[0]{utc} // '', qr/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, 'times carry UTC on hover');
like($r->{dialog} // '', qr/"request_id"/, 'a row opens the whole event');

my ($ip) = grep { $_->[0] =~ /^127\.0\.0\.1/ } @{ $r->{failed_ip} || [] };
ok($ip, 'the failed-login panel shows 127.0.0.1') or diag explain $r->{failed_ip};
is($ip->[1], '4', '... with its count in the last 5 minutes: 4');
like($r->{failed_alert} // '', qr/4 failed attempts from 127\.0\.0\.1 in the last 5 minutes/,
     '... and a brute-force alert');

# an account typed as "\x{202E}nimda-u\x{200B}" shows its invisible
# characters as escapes: it reads as no other account, reverses nothing
my @shown = map { $_->[0] } @{ $r->{failed_user} || [] };
ok(grep({ $_ eq '\u202Enimda-u\u200B' } @shown), 'an account with a right-to-left override and a zero-width space: shown as \u202Enimda-u\u200B')
    or diag explain \@shown;
ok(!grep({ /[\x{202E}\x{200B}]/ } @shown, map { @{ $_->{cells} } } @feed),
   '... and neither character is on the page as itself');
ok(grep({ $_->{cells}[2] eq '\u202Enimda-u\u200B' } @fail), '... also in the feed');

my %who = map { $_->[1] => $_->[3] } @{ $r->{record} || [] };
is_deeply([sort keys %who], ['u-ann', 'u-bob'], 'who accessed patient 42: ann and bob')
    or diag explain $r->{record}, $r->{record_note};
is($who{'u-ann'}, 'viewed', '... viewed');
like($r->{record_note} // '', qr/PostgreSQL/, '... from PostgreSQL');
like($r->{record_csv} // '', qr{api/record\.csv\?type=patient&id=42}, '... with a CSV download');
ok(grep({ $_->[1] eq 'authz_check' } @{ $r->{user} || [] }), 'what did bob do: the refusal');

like($r->{legend} // '', qr/login_failure: 4/, 'the 24 hours: 4 failed logins this day');
like($r->{top_records} // '', qr{patient/42 \(2\)}, '... patient/42 among the top records');
like($r->{health} // '', qr/PostgreSQL: workers connected/, 'the health panel');
like($r->{chain} // '', qr/^\d+ chains checked, all intact\.$/, '... and the chain check');

my @sev = @{ $r->{errors_only} || [] };
ok(@sev && !grep({ $_ eq 'info' } @sev), 'errors only: ' . scalar(@sev) . ' rows, no info event');
like($r->{errors_url} // '', qr/[?&]severity=errors/, '... shareable in the URL');
is($r->{shared_severity}, 'errors', 'the shared URL opens the same filter');
ok(@{ $r->{shared_rows} || [] } && !grep({ $_ eq 'info' } @{ $r->{shared_rows} }), '... and the same rows');

is_deeply($r->{errors}, [], 'no JavaScript error') or diag explain $r->{errors};
is_deeply($r->{foreign}, [], 'no request outside the console\'s origin') or diag explain $r->{foreign};

for my $panel (qw(feed failed record user stats health errors-only)) {
    ok(-s "$shots/console-$panel.png", "screenshot build/console-$panel.png");
}
ok(-s "$shots/console.png", 'the whole page: build/console.png');
if ($ENV{AUDIT_UPDATE_DOCS}) {
    require File::Copy;
    File::Copy::copy("$shots/console.png", "$root/docs/console.png")
        or diag "docs/console.png: $!";
}

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'nginx: no alert or crash');
$t->stop_all_and_check;
done_testing;
