# The Sentry receiver of the test harness (t/lib/Audit/Sentry.pm): strict
# envelope parsing, auth, the behaviour modes, the issues view, and a real
# producer (@sentry/node, installed by `npm ci --prefix t`). Needs neither
# nginx nor our module.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Audit::Test;
use Audit::Sentry;
use File::Spec;
use HTTP::Tiny;
use IO::Compress::Gzip qw(gzip);
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);

my $JSON = JSON::PP->new->utf8->canonical;
my $t = Audit::Test->new;
my $rx = Audit::Sentry->start($t, project => 3, key => 'k3y');

my $ID  = '0123456789abcdef0123456789abcdef';
my $ID2 = 'fedcba9876543210fedcba9876543210';

# --- helpers --------------------------------------------------------------------

# One request to the receiver. Options: body, auth => 'header' (default) |
# 'query' | 'none', key, project, path (replaces the envelope path), query
# (appended), method, headers, chunked => [pieces] (one chunk each),
# timeout. Returns HTTP::Tiny's response plus json and elapsed.
sub post {
    my (%o) = @_;
    my $key  = $o{key} // 'k3y';
    my $path = $o{path} // '/api/' . ($o{project} // 3) . '/envelope/';
    my $auth = $o{auth} // 'header';
    my %h = %{ $o{headers} || {} };
    my @query;
    if ($auth eq 'header') {
        $h{'X-Sentry-Auth'} = "Sentry sentry_version=7, sentry_key=$key, "
            . 'sentry_client=audit-test/1.0';
    } elsif ($auth eq 'query') {
        push @query, "sentry_version=7&sentry_key=$key&sentry_client=audit-test%2F1.0";
    }
    push @query, $o{query} if defined $o{query};
    $path .= '?' . join '&', @query if @query;
    my $content = $o{body};
    if ($o{chunked}) {
        my @pieces = @{ $o{chunked} };
        $content = sub { shift @pieces };
    }
    my $http = HTTP::Tiny->new(timeout => $o{timeout} // 5, keep_alive => 0,
                               agent => 'audit-test/1');
    my $start = time;
    my $res = $http->request($o{method} // 'POST', 'http://127.0.0.1:' . $rx->port . $path,
        {headers => \%h, (defined $content ? (content => $content) : ())});
    $res->{elapsed} = time - $start;
    $res->{json} = eval { $JSON->decode($res->{content}) };
    return $res;
}

sub last_envelope { ($rx->envelopes)[-1] }

sub stored_count { scalar(() = $rx->envelopes) }

# stdout+stderr and exit status of a command, killed (by its PID) after
# $timeout seconds.
sub run_cmd {
    my ($timeout, @cmd) = @_;
    my $out = $t->file('cmd.out', '');
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec { $cmd[0] } @cmd }
        POSIX::_exit(127);
    }
    my $deadline = time + $timeout;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        if (time > $deadline) { kill KILL => $pid; waitpid $pid, 0; last }
        sleep 0.05;
    }
    my $status = $?;
    return ($status, join "\n", $t->log_lines($out));
}

sub which {
    my ($prog) = @_;
    for my $dir (File::Spec->path) {
        my $path = "$dir/$prog";
        return $path if -f $path && -x _;
    }
    return undef;
}

# --- tests ------------------------------------------------------------------------

subtest 'start, dsn, control' => sub {
    like $rx->dsn, qr{\Ahttp://k3y\@127\.0\.0\.1:(\d+)/3\z}, 'dsn';
    is $rx->port, ($rx->dsn =~ /:(\d+)\//)[0], 'port is the one in the dsn';
    ok $t->process_alive($rx->pid), 'server runs';
    ok((grep { $_ == $rx->pid } $t->tracked_pids), 'the harness tracks its PID');
    is $rx->control->{mode}, 'ok', 'starts in ok mode';
    ok !eval { $rx->set(mode => 'nonsense'); 1 }, 'unknown mode refused';
    like $@, qr/unknown mode/, '... saying so';
};

subtest 'well-formed envelopes are accepted' => sub {
    my $event = $JSON->encode({event_id => $ID, message => 'hello', level => 'warning'});

    my $res = post(body => qq({"event_id":"$ID","sent_at":"2024-05-01T10:00:00.123Z"}\n)
        . '{"type":"event","length":' . length($event) . "}\n$event\n");
    is $res->{status}, 200, 'with length, X-Sentry-Auth, Content-Length: 200';
    is_deeply $res->{json}, {id => $ID}, '... answering {"id": event_id}';
    my $env = last_envelope();
    is $env->{headers}{event_id}, $ID, '... stored: envelope header';
    is $env->{items}[0]{header}{type}, 'event', '... item header';
    is $env->{items}[0]{payload}{message}, 'hello', '... payload decoded';
    is $env->{request}{auth_via}, 'header', '... auth via header';
    is $env->{request}{framing}, 'length', '... Content-Length body';
    is $env->{request}{path}, '/api/3/envelope/', '... path';
    like $env->{request}{headers}{'x-sentry-auth'}, qr/sentry_key=k3y/, '... request headers';

    $res = post(auth => 'query', body => qq({"event_id":"$ID2"}\n{"type":"event"}\n)
        . qq({"event_id":"$ID2","message":"no length"}));
    is $res->{status}, 200, 'without length, key in the query string, no final newline: 200';
    $env = last_envelope();
    is $env->{request}{auth_via}, 'query', '... auth via query';
    is $env->{request}{query}{sentry_key}, 'k3y', '... query decoded';
    is $env->{request}{query}{sentry_client}, 'audit-test/1.0', '... %-decoded';
    is $env->{items}[0]{payload}{message}, 'no length', '... payload';

    $res = post(chunked => ['{"event_id":"', $ID, qq("}\n{"type":"ev), qq(ent"}\n{"mess),
                            qq(age":"chunked"}\n)]);
    is $res->{status}, 200, 'chunked body split mid-line: 200';
    $env = last_envelope();
    is $env->{request}{framing}, 'chunked', '... framing chunked';
    is $env->{items}[0]{payload}{message}, 'chunked', '... payload';

    my $bin = "\x00\x01\n\xff\n";
    my $session = '{"sid":"abc","status":"ok","init":true}';
    my $report = '{"timestamp":1714557600,"discarded_events":'
        . '[{"reason":"queue_overflow","category":"error","quantity":3}]}';
    $res = post(body => "{}\n"
        . qq({"type":"session"}\n$session\n)
        . qq({"type":"attachment","length":5,"filename":"a.bin"}\n$bin\n)
        . qq({"type":"attachment","length":0}\n\n)
        . qq({"type":"attachment"}\n\n)
        . qq({"type":"client_report","length":) . length($report) . "}\n$report");
    is $res->{status}, 200, '{} header, five items, binary with newlines, empty payloads: 200';
    is_deeply $res->{json}, {}, '... {} without an event id';
    $env = last_envelope();
    is_deeply [map { $_->{header}{type} } @{ $env->{items} }],
        [qw(session attachment attachment attachment client_report)], '... all items';
    is $env->{items}[1]{size}, 5, '... binary payload of 5 bytes';
    is $env->{items}[1]{payload}, $bin, '... kept byte for byte';
    is $env->{items}[2]{size}, 0, '... empty payload with length 0';
    is $env->{items}[3]{size}, 0, '... empty payload without length';
    is $env->{items}[4]{payload}{discarded_events}[0]{quantity}, 3, '... client report';

    $res = post(body => "{}");
    is $res->{status}, 200, 'an envelope without items: 200';

    my $gz;
    gzip \qq({"event_id":"$ID"}\n{"type":"event"}\n{"message":"gzipped"}\n) => \$gz;
    $res = post(body => $gz, headers => {'Content-Encoding' => 'gzip'});
    is $res->{status}, 200, 'Content-Encoding: gzip: 200';
    is last_envelope()->{items}[0]{payload}{message}, 'gzipped', '... decoded';

    my $dsn = $rx->dsn;
    $res = post(body => qq({"event_id":"$ID","dsn":"$dsn"}\n{"type":"event"}\n{}\n));
    is $res->{status}, 200, 'envelope header dsn naming this key and project: 200';

    my $one = qq({"event_id":"$ID"}\n{"type":"event"}\n{"message":"pipelined"}\n);
    my $auth = 'X-Sentry-Auth: Sentry sentry_version=7, sentry_key=k3y';
    my $req = "POST /api/3/envelope/ HTTP/1.1\r\nHost: x\r\n$auth\r\n"
        . 'Content-Length: ' . length($one) . "\r\n\r\n$one";
    my $raw = $t->raw_request($req x 2, port => $rx->port, responses => 2);
    is scalar(() = $raw =~ m{HTTP/1\.1 200 OK\r\n}g), 2, 'two pipelined requests, keep-alive: 2 x 200';
};

subtest 'malformed envelopes: 400 saying what' => sub {
    my $before = stored_count();
    my $ev = '{"message":"x"}';
    my @cases = (
        ['empty body', '', qr/empty body/],
        ['bad JSON header', qq({"event_id":\n{"type":"event"}\n$ev\n),
            qr/envelope header is not a JSON object: bad JSON/],
        ['header is an array', qq([]\n{"type":"event"}\n$ev\n),
            qr/envelope header is not a JSON object: a JSON array/],
        ['header with trailing garbage', qq({} x\n{"type":"event"}\n$ev\n),
            qr/envelope header is not a JSON object/],
        ['length too short', qq({}\n{"type":"event","length":5}\n$ev\n),
            qr/item 1 \(event\): length 5 is too short or too long/],
        ['length too long (past the end)', qq({}\n{"type":"event","length":99}\n$ev\n),
            qr/item 1 \(event\): length 99 is too long: only 16 bytes left/],
        ['length too long (swallows the newline)',
            qq({}\n{"type":"attachment","length":3}\nab\n{"type":"event"}\n$ev\n),
            qr/item 1 \(attachment\): length 3 is too short or too long/],
        ['length as a string', qq({}\n{"type":"event","length":"15"}\n$ev\n),
            qr/length is not a non-negative integer/],
        ['negative length', qq({}\n{"type":"event","length":-1}\n$ev\n),
            qr/length is not a non-negative integer/],
        ['missing type', qq({}\n{"length":15}\n$ev\n), qr/item 1: header has no type/],
        ['empty type', qq({}\n{"type":""}\n$ev\n), qr/item 1: header has no type/],
        ['item header without newline', qq({}\n{"type":"event"}), qr/no newline after the item header/],
        ['trailing garbage after the items', qq({}\n{"type":"event"}\n$ev\ngarbage\n),
            qr/item 2: header is not a JSON object: bad JSON/],
        ['blank line between items', qq({}\n{"type":"event"}\n$ev\n\n{"type":"session"}\n{}\n),
            qr/item 2: header is not a JSON object: empty line/],
        ['event payload not JSON', qq({}\n{"type":"event"}\nnot json\n),
            qr/item 1 \(event\): payload is not a JSON object/],
        ['event payload a JSON array', qq({}\n{"type":"event"}\n[1]\n),
            qr/item 1 \(event\): payload is not a JSON object: a JSON array/],
        ['bad event_id in the header', qq({"event_id":"xyz"}\n{"type":"event"}\n$ev\n),
            qr/envelope header event_id is not 32 lowercase hex/],
        ['uppercase event_id', '{"event_id":"' . uc($ID) . qq("}\n{"type":"event"}\n$ev\n),
            qr/event_id is not 32 lowercase hex/],
        ['bad event_id in the event', qq({}\n{"type":"event"}\n{"event_id":"123"}\n),
            qr/item 1 \(event\): event_id is not 32/],
        ['event_id differs', qq({"event_id":"$ID"}\n{"type":"event"}\n{"event_id":"$ID2"}\n),
            qr/event_id $ID2 differs from the envelope header's $ID/],
        ['two events', qq({}\n{"type":"event"}\n$ev\n{"type":"event"}\n$ev\n),
            qr/item 2 \(event\): more than one event/],
        ['dsn with another key', qq({"dsn":"http://other\@127.0.0.1:1/3"}\n),
            qr/dsn names key 'other'/],
        ['dsn with another project', qq({"dsn":"http://k3y\@127.0.0.1:1/4"}\n),
            qr/dsn names project 4, not 3/],
        ['dsn not a DSN', qq({"dsn":"nonsense"}\n), qr/dsn is not a DSN/],
        ['bad sent_at', qq({"sent_at":"yesterday"}\n), qr/sent_at is not an RFC 3339/],
        ['bad client report', qq({}\n{"type":"client_report"}\n)
            . qq({"discarded_events":[{"reason":"x","category":"error","quantity":0}]}\n),
            qr/discarded_events\[0\] is not/],
        ['session payload not JSON', qq({}\n{"type":"session"}\nsession\n),
            qr/item 1 \(session\): payload is not a JSON object/],
    );
    for my $case (@cases) {
        my ($name, $body, $detail) = @$case;
        my $res = post(body => $body);
        is $res->{status}, 400, "$name: 400"
            or diag $res->{content};
        like $res->{json}{detail} // '', $detail, "... detail: " . ($res->{json}{detail} // '');
    }
    is stored_count(), $before, 'none of them stored';
    my @rejected = grep { $_->{status} == 400 } $rx->requests;
    cmp_ok scalar @rejected, '>=', scalar @cases, 'all in the request log';
};

subtest 'auth, routing, encodings' => sub {
    my $before = stored_count();
    my $body = qq({}\n{"type":"event"}\n{"message":"x"}\n);
    my @cases = (
        ['missing auth', 401, qr/missing authorization/, auth => 'none'],
        ['wrong key in X-Sentry-Auth', 401, qr/invalid sentry_key/, key => 'nope'],
        ['wrong key in the query', 401, qr/invalid sentry_key/, auth => 'query', key => 'nope'],
        ['empty sentry_key', 401, qr/no sentry_key/, auth => 'query', key => ''],
        ['X-Sentry-Auth not "Sentry ..."', 401, qr/bad X-Sentry-Auth/, auth => 'none',
            headers => {'X-Sentry-Auth' => 'Bearer k3y'}],
        ['X-Sentry-Auth without sentry_key', 401, qr/no sentry_key in the header/,
            auth => 'none', headers => {'X-Sentry-Auth' => 'Sentry sentry_version=7'}],
        ['bad sentry_version', 401, qr/bad sentry_version/, auth => 'none',
            headers => {'X-Sentry-Auth' => 'Sentry sentry_version=x, sentry_key=k3y'}],
        ['wrong project', 404, qr/unknown project 4/, project => 4],
        ['no trailing slash', 404, qr/no route/, path => '/api/3/envelope'],
        ['the old store endpoint', 404, qr/no route/, path => '/api/3/store/'],
        ['GET', 405, qr/method GET not allowed/, method => 'GET'],
        ['Content-Encoding: br', 415, qr/unsupported Content-Encoding: br/,
            headers => {'Content-Encoding' => 'br'}],
        ['gzip that is not', 400, qr/cannot decode gzip/,
            headers => {'Content-Encoding' => 'gzip'}],
    );
    for my $case (@cases) {
        my ($name, $status, $detail, %o) = @$case;
        my $res = post(body => $body, %o);
        is $res->{status}, $status, "$name: $status" or diag $res->{content};
        like $res->{json}{detail} // '', $detail, '... detail: ' . ($res->{json}{detail} // '');
    }
    is stored_count(), $before, 'none of them stored';

    my $res = post(body => $body, query => 'sentry_key=nope');
    is $res->{status}, 200, 'X-Sentry-Auth wins over the query string';
    is last_envelope()->{request}{auth_via}, 'header', '... auth via header';

    my $raw = $t->raw_request("POST /api/3/envelope/ HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", port => $rx->port);
    like $raw, qr{\AHTTP/1\.1 400 .*both Transfer-Encoding and Content-Length}s,
        'Content-Length with chunked: 400';
};

subtest 'ratelimit mode' => sub {
    my $before = stored_count();
    $rx->set(mode => 'ratelimit', retry_after => 7);
    my $body = qq({"event_id":"$ID"}\n{"type":"event"}\n{"message":"x"}\n);
    my $res = post(body => $body);
    is $res->{status}, 429, 'status 429';
    is $res->{headers}{'retry-after'}, '7', '... Retry-After: 7';
    is $res->{headers}{'x-sentry-rate-limits'}, '7:error:organization',
        '... X-Sentry-Rate-Limits: 7:error:organization';
    is stored_count(), $before, '... not stored';
    is +($rx->requests)[-1]{mode}, 'ratelimit', '... logged with the mode';

    $res = post(body => "{\n");
    is $res->{status}, 400, 'a malformed envelope still gets 400';

    $rx->set(mode => 'ratelimit', retry_after => 30, rate_limits => undef);
    $res = post(body => $body);
    is $res->{status}, 429, 'Retry-After only: 429';
    is $res->{headers}{'retry-after'}, '30', '... Retry-After: 30';
    ok !exists $res->{headers}{'x-sentry-rate-limits'}, '... no X-Sentry-Rate-Limits';

    $rx->set(mode => 'ratelimit', retry_after => undef, rate_limits => '60::organization:quota');
    $res = post(body => $body);
    ok !exists $res->{headers}{'retry-after'}, 'X-Sentry-Rate-Limits only: no Retry-After';
    is $res->{headers}{'x-sentry-rate-limits'}, '60::organization:quota', '... as configured';

    $rx->set(mode => 'fail', status => 503);
    $res = post(body => $body);
    is $res->{status}, 503, 'fail mode: 503';
    is stored_count(), $before, '... not stored';

    $rx->set(mode => 'ok');
    is post(body => $body)->{status}, 200, 'back to ok: 200';
};

subtest 'slow mode' => sub {
    $rx->set(mode => 'slow', delay => 1);
    my $body = qq({"event_id":"$ID"}\n{"type":"event"}\n{"message":"slow"}\n);
    my $res = post(body => $body);
    is $res->{status}, 200, 'status 200';
    cmp_ok $res->{elapsed}, '>=', 0.9, sprintf '... after %.2f s', $res->{elapsed};
    cmp_ok $res->{elapsed}, '<', 3, '... but not much later';

    my $before = stored_count();
    $rx->set(mode => 'slow', delay => 3);
    $res = post(body => $body, timeout => 0.5);
    is $res->{status}, 599, 'a client giving up after 0.5 s times out';
    is stored_count(), $before + 1, '... yet the envelope was stored (a retry would duplicate it)';

    $rx->set(mode => 'ok');
    $res = post(body => $body);
    is $res->{status}, 200, 'other connections are served while an answer is held back';
    cmp_ok $res->{elapsed}, '<', 1, '... at once';
};

subtest 'reset mode' => sub {
    $rx->set(mode => 'reset');
    my $sock = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $rx->port);
    ok $sock, 'connect succeeds (the kernel completes the handshake)';
    SKIP: {
        skip 'no connection', 2 unless $sock;
        ok(IO::Select->new($sock)->can_read(3), 'the socket turns readable');
        my $n = sysread($sock, my $buf, 100);
        ok !defined $n && $!{ECONNRESET}, 'read fails with ECONNRESET'
            or diag defined $n ? "read $n bytes" : "error: $!";
    }
    my $res = post(body => "{}\n");
    is $res->{status}, 599, 'an HTTP client gets no response';
    like $res->{content}, qr/reset|closed|broken pipe/i, "... $res->{content}" =~ s/\s+\z//r;

    $rx->set(mode => 'ok');
    is post(body => "{}\n")->{status}, 200, 'back to ok: 200';
};

subtest 'blackhole mode' => sub {
    my $before = stored_count();
    my $requests = scalar(() = $rx->requests);
    $rx->set(mode => 'blackhole');
    my $res = post(body => qq({}\n{"type":"event"}\n{"message":"lost"}\n), timeout => 1);
    is $res->{status}, 599, 'a client with a 1 s timeout gets no answer';
    like $res->{content}, qr/timed out/i, '... it timed out';
    cmp_ok $res->{elapsed}, '>=', 0.9, sprintf '... after %.2f s', $res->{elapsed};
    cmp_ok $res->{elapsed}, '<', 3, '... not later';
    is stored_count(), $before, '... nothing stored';
    is scalar(() = $rx->requests), $requests, '... nothing answered';

    my $held = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $rx->port);
    syswrite $held, "POST /api/3/envelope/ HTTP/1.1\r\nHost: x\r\n\r\n";
    ok(!IO::Select->new($held)->can_read(0.5), 'a raw request gets no answer either');
    $rx->set(mode => 'ok');
    is post(body => "{}\n")->{status}, 200, 'back to ok: new connections are answered';
    ok(!IO::Select->new($held)->can_read(0.5), '... the blackholed one stays silent and open');
    close $held;
};

subtest 'issues' => sub {
    $rx->clear;
    is stored_count(), 0, 'clear empties the store';
    my @events = (
        {event_id => $ID, fingerprint => ['db', 'timeout'], level => 'error',
         message => 'db timed out', tags => {route => '/a'}},
        {event_id => $ID2, fingerprint => ['db', 'timeout'], level => 'error',
         message => 'db timed out again', tags => [['route', '/b'], ['worker', '2']]},
        {exception => {values => [{type => 'Error', value => 'x < y'}]}},
        {exception => {values => [{type => 'Error', value => 'x < y'}]},
         fingerprint => ['{{ default }}', 'extra']},
    );
    for my $e (@events) {
        my $body = $JSON->encode({}) . "\n" . qq({"type":"event"}\n) . $JSON->encode($e) . "\n";
        is post(body => $body)->{status}, 200, 'event posted';
    }
    my $issues = $rx->issues;
    is_deeply [sort keys %$issues], ['Error: x < y', 'Error: x < y|extra', 'db|timeout'],
        'grouped by fingerprint ({{ default }}: the exception)';
    my $db = $issues->{'db|timeout'};
    is $db->{count}, 2, 'two events in one issue';
    is $db->{title}, 'db timed out again', '... title from the last event';
    is_deeply $db->{last_tags}, {route => '/b', worker => '2'}, '... last tags (from pairs)';
    is $db->{last_event_id}, $ID2, '... last event id';
    cmp_ok $db->{first_seen}, '<=', $db->{last_seen}, '... first_seen <= last_seen';
    is $issues->{'Error: x < y'}{count}, 1, 'exception without fingerprint: its own issue';
    is $issues->{'Error: x < y'}{title}, 'Error: x < y', '... "Type: value" title';
    my $html = $rx->issues_html;
    like $html, qr{\A<table class="sentry-issues">}, 'issues_html: a table';
    is scalar(() = $html =~ /<tr>/g), 4, '... header row and three issues';
    like $html, qr{<td>db\|timeout</td><td>db timed out again</td><td>error</td><td>2</td>},
        '... the db issue with its count';
    like $html, qr{<td>Error: x &lt; y</td>}, '... HTML-escaped';
    is scalar($rx->events), 4, 'events returns the four payloads';
};

subtest '@sentry/node (the real producer)' => sub {
    my $node = which('node');
    my $sdk = $t->repo_root . '/t/node_modules/@sentry/node';
    plan skip_all => 'node not found on PATH' unless $node;
    plan skip_all => 't/node_modules/@sentry/node is missing: run npm ci --prefix t'
        unless -d $sdk;
    $rx->clear;
    my $marker = "node-$$";
    my ($status, $out) = run_cmd(60, $node, $t->repo_root . '/t/sentry-node-send.js',
                                 $rx->dsn, $marker);
    is $status, 0, 'sentry-node-send.js exits 0' or diag $out;
    my ($env) = $rx->wait_envelopes(1, type => 'event', timeout => 10);
    ok $env, 'the event envelope was parsed and stored' or return;
    my ($item) = grep { $_->{header}{type} eq 'event' } @{ $env->{items} };
    ok !exists $item->{header}{length}, '... item header without length';
    my $exc = $item->{payload}{exception}{values}[-1];
    is $exc->{type}, 'TypeError', '... exception type';
    is $exc->{value}, "audit test exception $marker", '... exception value';
    is $item->{payload}{event_id}, $env->{headers}{event_id}, '... event_id as in the header';
    is $item->{payload}{tags}{audit_test}, $marker, '... tag';
    is $env->{request}{auth_via}, 'query', '... key from the query string';
    is $env->{request}{query}{sentry_version}, '7', '... sentry_version=7';
    like $env->{request}{sentry_client}, qr{\Asentry\.javascript\.node/8\.}, '... sentry_client';
    is $env->{request}{framing}, 'chunked', '... chunked body';
    ok !exists $env->{request}{headers}{'content-type'}, '... no Content-Type';
    my @sessions = $rx->wait_envelopes(1, type => 'session');
    ok @sessions, 'the session envelope was parsed too';
    is $rx->issues->{"sentry-node-send|$marker"}{title}, "TypeError: audit test exception $marker",
        'it shows as an issue';
    my @bad = grep { $_->{status} != 200 } $rx->requests;
    is scalar @bad, 0, 'no request was refused' or diag explain \@bad;
};

my $pid = $rx->pid;
$t->stop_all_and_check;
ok !$t->process_alive($pid), 'the receiver is stopped by stop_all';
done_testing;
