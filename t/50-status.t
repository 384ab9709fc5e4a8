# /_audit/status: counters from the shared zone, summed over workers, as
# JSON and as Prometheus text; protected like any location.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;
use Audit::Sentry;

my $t = Audit::Test->new;
my $secret = 'status test secret, long enough to use';
$t->file('hmac.key', $secret);
my $now = time;
sub token { Audit::Token::hs256($secret, { sub => 'u-1', role => 'doctor', sid => 's-1',
                                           exp => $now + 3600, @_ }) }

$t->write_nginx_conf(<<'CONF', workers => 2);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { audit_require_role doctor admin; proxy_pass http://%%PORTAL%%; }
        location /admin/ { audit_require_role admin; proxy_pass http://%%PORTAL%%; }
        location = /_audit/status { audit_status; audit_require_role admin; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $api = { Accept => 'application/json' };
$t->request(GET => "/p/$_", cookie => 'session=' . token(), headers => $api) for 1 .. 10;
$t->request(GET => '/admin/x', cookie => 'session=' . token(), headers => $api) for 1 .. 3;
$t->request(GET => '/p/1', headers => $api) for 1 .. 2;
$t->request(GET => '/p/1', cookie => 'session=' . token(exp => $now - 999), headers => $api);
$t->wait_events($t->dir . '/audit.jsonl', 16);
sleep 0.3;

my $admin = 'session=' . token(role => 'admin');
my $r = $t->request(GET => '/_audit/status', headers => $api, cookie => 'session=' . token());
is($r->{status}, 403, 'status is protected by the location\'s policy');

$r = $t->request(GET => '/_audit/status', headers => $api, cookie => $admin);
is($r->{status}, 200, 'admin gets the status');
is($r->{headers}{'content-type'}, 'application/json', 'JSON by default');
my $s = $r->{json};
ok($s, 'valid JSON') or diag $r->{content};
is($s->{events}{authz_check}, 13 + 1, 'authz_check counted across workers (incl. the 403 above)');
is($s->{events}{session_invalid}, 3, 'session_invalid counted');
is($s->{decisions}{denied}, 4, 'denials');
is($s->{decisions}{unauthenticated}, 3, 'unauthenticated');
is($s->{reasons}{missing}, 2, 'reason missing');
is($s->{reasons}{expired}, 1, 'reason expired');
is($s->{reasons}{role}, 4, 'reason role');
ok(exists $s->{token_cache}{worker_hits}, 'token cache counters present');
cmp_ok($s->{token_cache}{worker_hits}, '>=', 5, 'the session cache is hit');
# neither PostgreSQL nor a tracker is configured here: every one of their
# numbers is 0 (t/40 and t/31 check them counting)
is_deeply($s->{sentry}, { sent => 0, dropped => 0, queued => 0, breaker_open_workers => 0 },
          'no tracker: the Sentry numbers are all 0');
is(scalar(grep { $s->{postgresql}{$_} != 0 } keys %{ $s->{postgresql} }), 0,
   'no PostgreSQL: the PostgreSQL numbers are all 0')
    or diag explain $s->{postgresql};

# the Prometheus sample of each JSON number besides events and reasons
my %prometheus = (
    'decisions.permitted'            => 'audit_decisions_total{decision="permitted"}',
    'decisions.denied'               => 'audit_decisions_total{decision="denied"}',
    'decisions.unauthenticated'      => 'audit_decisions_total{decision="unauthenticated"}',
    'postgresql.connected_workers'   => 'audit_pg_connected_workers',
    'postgresql.queue_bytes'         => 'audit_pg_queue_bytes',
    'postgresql.spool_bytes'         => 'audit_pg_spool_bytes',
    'postgresql.rows_sent'           => 'audit_pg_rows_sent_total',
    'postgresql.rows_inserted'       => 'audit_pg_rows_inserted_total',
    'postgresql.batches'             => 'audit_pg_batches_total',
    'postgresql.failures'            => 'audit_pg_failures_total',
    'postgresql.events_lost'         => 'audit_events_lost_total',
    'sentry.sent'                    => 'audit_sentry_sent_total',
    'sentry.dropped'                 => 'audit_sentry_dropped_total',
    'sentry.queued'                  => 'audit_sentry_queued',
    'sentry.breaker_open_workers'    => 'audit_sentry_breaker_open_workers',
    'bruteforce.tracked'             => 'audit_bruteforce_tracked',
    'bruteforce.alerts'              => 'audit_events_total{action="bruteforce_suspected"}',
    'token_cache.shared_hits'        => 'audit_token_cache_total{cache="shared",result="hit"}',
    'token_cache.shared_misses'      => 'audit_token_cache_total{cache="shared",result="miss"}',
    'token_cache.worker_hits'        => 'audit_token_cache_total{cache="worker",result="hit"}',
    'token_cache.worker_misses'      => 'audit_token_cache_total{cache="worker",result="miss"}',
    'token_cache.shared_entries'     => 'audit_token_cache_shared_entries',
    'sessions.revoked'               => 'audit_sessions_revoked',
    'sessions.revocations_lost'      => 'audit_revocations_lost_total',
);
is(join(' ', sort keys %$s), 'bruteforce decisions events postgresql reasons sentry sessions token_cache version',
   'the JSON sections');

# Prometheus text: by query and by Accept
for my $how ([ '/_audit/status?format=prometheus', {} ],
             [ '/_audit/status', { Accept => 'text/plain' } ])
{
    $r = $t->request(GET => $how->[0], headers => $how->[1], cookie => $admin);
    is($r->{status}, 200, "prometheus via $how->[0] " . join(',', %{ $how->[1] }));
    like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, '... exposition content type');
    my ($ok, $why, %samples) = parse_prometheus($r->{content});
    ok($ok, '... valid exposition format') or diag $why;
    next unless $how->[0] =~ /format/;
    is($samples{'audit_events_total{action="authz_check"}'}, $s->{events}{authz_check} + 1,
       '... same counts as the JSON (plus the JSON request itself)');
    is($samples{"audit_refusals_total{reason=\"$_\"}"}, $s->{reasons}{$_}, "... reason $_")
        for sort keys %{ $s->{reasons} };

    # every other JSON number has its sample; those this request does not
    # move (it is permitted, and looks its token up) have the same value
    my %moves = map { $_ => 1 } qw(decisions.permitted token_cache.shared_hits
        token_cache.shared_misses token_cache.worker_hits token_cache.worker_misses);
    for my $group (qw(decisions postgresql sentry bruteforce token_cache)) {
        for my $name (sort keys %{ $s->{$group} }) {
            my $sample = $prometheus{"$group.$name"};
            ok(defined $sample && exists $samples{$sample}, "... $group.$name is $sample")
                or next;
            is($samples{$sample}, $s->{$group}{$name}, "... $group.$name: same value")
                unless $moves{"$group.$name"};
        }
    }
}

# a strict reading of the text format 0.0.4: HELP/TYPE before samples of
# the family, names and labels well-formed, values numbers, no duplicates
sub parse_prometheus {
    my ($text) = @_;
    my (%type, %samples, $family);
    return (0, 'does not end with a newline') unless $text =~ /\n\z/;
    for my $line (split /\n/, $text) {
        if ($line =~ /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/) { next }
        if ($line =~ /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/) {
            return (0, "TYPE twice for $1") if $type{$1}++;
            $family = $1;
            next;
        }
        return (0, "bad comment: $line") if $line =~ /^#/;
        my ($name, $labels, $value) =
            $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (-?[0-9.eE+]+|NaN|[+-]Inf)$/
            or return (0, "bad sample: $line");
        return (0, "sample $name before its TYPE") unless defined $family && $name =~ /^\Q$family\E/;
        my $key = $name . ($labels // '');
        return (0, "duplicate $key") if exists $samples{$key};
        $samples{$key} = $value;
    }
    return (1, '', %samples);
}

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

# --- the Sentry counters: values, against a real receiver --------------------
#
# One worker, so the breaker count is exact; every envelope ends sent or
# dropped, so the counters are polled until they match (or the deadline).

$t->stop_nginx;
my $rx = Audit::Sentry->start($t, project => 5, key => 'statuskey');
my $sentry_conf = <<'CONF';
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/sentry.jsonl flush=100ms;
    audit_sentry_dsn %%DSN%%;
    audit_sentry_timeout 10s;
    %%RATE%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { audit_require_role doctor admin; proxy_pass http://%%PORTAL%%; }
        location = /_audit/status { audit_status; audit_public on; }
    }
CONF

sub start_sentry {
    my ($rate) = @_;
    $t->stop_nginx;
    $t->write_nginx_conf($sentry_conf, vars => { DSN => $rx->dsn, RATE => $rate // '' });
    $t->start_nginx;
}
sub fail_session {    # one session_invalid event; its fingerprint by reason
    my ($i, $tok) = @_;
    $t->request(GET => "/p/$i", cookie => 'session=' . ($tok // token(exp => $now - 999)),
                headers => $api);
}
my $bad_sig = Audit::Token::hs256('another secret, long enough to use',
                                  { sub => 'u-1', role => 'doctor', exp => $now + 3600 });
sub sentry_is {
    my ($want, $name) = @_;
    my $got = {};
    $t->wait_until(sub {
        $got = $t->request(GET => '/_audit/status', headers => $api)->{json}{sentry} || {};
        !grep { ($got->{$_} // -1) != $want->{$_} } keys %$want;
    }, timeout => 10);
    is_deeply({ map { $_ => $got->{$_} } keys %$want }, $want, $name);
}
sub event_requests {    # requests carrying an event the receiver answered with $status
    my ($status) = @_;
    return scalar grep { $_->{status} == $status && grep { $_ eq 'event' } @{ $_->{types} || [] } }
        $rx->requests;
}

start_sentry();
fail_session($_) for 1 .. 4;
sentry_is({ sent => 4, dropped => 0, queued => 0, breaker_open_workers => 0 },
          'tracker up: 4 failures, sent 4, nothing dropped or queued');
is(scalar $rx->events, 4, '... and the receiver holds 4 events');

$rx->set(mode => 'fail', status => 500);
fail_session($_) for 5 .. 7;
sentry_is({ sent => 4, dropped => 3, queued => 0, breaker_open_workers => 0 },
          'tracker answers 500: 3 dropped, the breaker stays closed');
is(event_requests(500), 3, '... each tried once, not retried');

$rx->set(mode => 'reset');
fail_session($_) for 8 .. 12;
sentry_is({ sent => 4, dropped => 8, queued => 0, breaker_open_workers => 1 },
          'connections reset: 5 more dropped, the breaker opens');
like($t->error_log, qr/Sentry circuit breaker open/, '... as the error log says');
fail_session($_) for 13 .. 14;
sentry_is({ sent => 4, dropped => 10, queued => 0, breaker_open_workers => 1 },
          'breaker open: 2 more dropped without trying');

# audit_sentry_rate, then a 429 with Retry-After
$rx->set(mode => 'ok');
$rx->clear;
start_sentry('audit_sentry_rate 3/m;');
fail_session($_) for 1 .. 5;
sentry_is({ sent => 3, dropped => 2, queued => 0, breaker_open_workers => 0 },
          'audit_sentry_rate 3/m: 3 of 5 sent, 2 dropped (a new nginx: counters from 0)');
is(scalar $rx->events, 3, '... and the receiver holds 3');

$rx->set(mode => 'ratelimit', retry_after => 60, rate_limits => undef);
fail_session(6, $bad_sig);
sentry_is({ sent => 3, dropped => 3, queued => 0 }, 'tracker answers 429: dropped');
is(event_requests(429), 1, '... after one request');
fail_session($_, $bad_sig) for 7 .. 8;
sentry_is({ sent => 3, dropped => 5, queued => 0 }, 'during Retry-After: 2 more dropped');
is(event_requests(429), 1, '... without a request to the tracker');

# a tracker that never answers: the queue fills (64 per worker, the one in
# flight included; its timeout is 10 s), the rest is dropped
$rx->set(mode => 'blackhole');
start_sentry();
fail_session($_) for 1 .. 70;
sentry_is({ sent => 0, dropped => 6, queued => 64, breaker_open_workers => 0 },
          'tracker stalled: 64 queued, 6 dropped for a full queue');
$r = $t->request(GET => '/_audit/status?format=prometheus', cookie => $admin);
like($r->{content}, qr/^audit_sentry_queued 64$/m, '... the same in Prometheus');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');


$t->stop_all_and_check;
done_testing;
