package Audit::Sentry;

=head1 NAME

Audit::Sentry - a Sentry-protocol receiver (envelope endpoint) for the tests

=head1 SYNOPSIS

    use Audit::Test;
    use Audit::Sentry;

    my $t  = Audit::Test->new;
    my $rx = Audit::Sentry->start($t, project => 3, key => 'k3y');
    $rx->dsn;     # http://k3y@127.0.0.1:PORT/3
    ... point the producer at $rx->dsn ...
    my @envelopes = $rx->wait_envelopes(1, timeout => 5, type => 'event');
    is $envelopes[0]{items}[0]{payload}{exception}{values}[0]{type}, 'TypeError';

    $rx->set(mode => 'ratelimit', retry_after => 30);    # switch while running
    $rx->set(mode => 'ok');

    $t->stop_all_and_check;    # stops the receiver too

A small single-process HTTP/1.1 server on a free loopback port, forked and
tracked by the harness like the portal: C<< $t->stop_all >> (and so
C<stop_all_and_check>, DESTROY, the END block and SIGINT/SIGTERM) stops it
after nginx, the portal and PostgreSQL; it also exits by itself when the
process that started it goes away. Its files live in
C<< $t->dir . "/sentry-PORT/" >>: C<envelopes.jsonl> (one accepted envelope a
line), C<requests.jsonl> (every answered request), C<control.json> (the
behaviour, re-read for each connection and each request) and C<server.log>.

=head1 THE PROTOCOL AS CHECKED

Requests are parsed strictly as develop.sentry.dev documents them
(envelopes, auth, rate limits, client reports):

=over

=item * C<POST /api/PROJECT/envelope/> only, with the trailing slash (Relay
also takes it without; the documented form is required here). Any other path,
or another project id: 404. Another method on the envelope path: 405.

=item * Auth from C<X-Sentry-Auth: Sentry sentry_version=7, sentry_key=KEY,
sentry_client=...> or, when that header is absent, from the query string
(C<?sentry_key=KEY&sentry_version=7>). Missing, malformed or wrong key: B<401>
(Relay answers 401 or 403 depending on the case; here it is always 401).
C<sentry_version>, when given, must be an integer.

=item * Body by Content-Length or chunked (both at once: 400; another
Transfer-Encoding: 501). C<Content-Encoding> C<gzip>, C<x-gzip> and
C<deflate> are decoded (bad data: 400); any other encoding: B<415>. Bodies
over C<max_body> (default 20 MiB, after decoding too): 413.

=item * The envelope: a first line holding a JSON object (may be C<{}>), then
items. Each item is a header line (a JSON object with a non-empty string
C<type>, and an optional C<length>, a non-negative integer) and a payload:
with C<length> exactly that many bytes, which must be followed by C<\n> or the
end of the body; without it, everything up to the next C<\n> or the end. The
final C<\n> is optional. An envelope with no items is accepted.

=item * Envelope header: C<event_id>, if present, is 32 lowercase hex digits
(as the event payload's is documented; Relay itself also takes other UUID
spellings); C<dsn>, if present, names this receiver's key and project (host
and port are not compared); C<sent_at>, if present, is an RFC 3339 string.

=item * Items: C<event>, C<transaction>, C<session>, C<sessions>,
C<client_report>, C<user_report>, C<check_in> and C<log> payloads must parse
as JSON objects; an C<event>'s C<event_id>, if present, is 32 lowercase hex
and equals the envelope header's; at most one C<event>/C<transaction> per
envelope; a C<client_report>'s C<discarded_events>, if present, is a list of
C<{reason, category, quantity}> with a positive integer quantity. Other item
types (attachments...) are kept as they are.

=back

Anything malformed: 400 with a JSON body C<{"detail": "what is wrong"}>
(Sentry's own error shape); the other errors carry the same shape.
Accepted: 200 C<{"id": EVENT_ID}> (C<{}> when the envelope has no event id),
written to C<envelopes.jsonl> before the answer is sent.

=head1 BEHAVIOUR (modes)

    $rx->set(mode => 'ok');                        # the default
    $rx->set(mode => 'ratelimit', retry_after => 60,
             rate_limits => '60:error:organization');
    $rx->set(mode => 'slow', delay => 3);
    $rx->set(mode => 'blackhole');
    $rx->set(mode => 'reset');
    $rx->set(mode => 'fail', status => 503);

=over

=item C<ok>: validate, store, answer 200.

=item C<ratelimit>: validate (a malformed envelope still gets its 4xx), then
answer 429 without storing. C<retry_after> (default 60) gives C<Retry-After>,
C<rate_limits> (default C<"RETRY_AFTER:error:organization">) gives
C<X-Sentry-Rate-Limits>; set either to undef to leave that header out.

=item C<slow>: handle the request as in C<ok> (so an accepted envelope is
stored at once) but send the answer C<delay> seconds (default 3) later.

=item C<blackhole>: accept connections and read (and drop) everything, never
answer, never close (until the peer does or the receiver stops).

=item C<reset>: close each new connection at once with a TCP RST (SO_LINGER
0); a keep-alive connection already open is reset at its next request.

=item C<fail>: validate, then answer C<status> (default 503) without storing.

=back

The control file is re-read when a connection is accepted and when a request
is complete, so C<set> takes effect for the next request.

=head1 METHODS

    start($t, project => 1, key => 'public', port => N, mode => 'ok', ...)
    dsn  port  project  key  url  dir  pid
    set(%control)  control
    envelopes  events  requests  clear
    wait_envelopes($n, timeout => 5, type => 'event')
    wait_requests($n, timeout => 5)
    issues  issues_html
    stop

C<envelopes> returns the stored envelopes, oldest first, each

    {seq, received_at (epoch seconds),
     headers => {...},                          # the envelope header
     items   => [{header => {...}, payload => DATA, size => BYTES}],
     request => {method, path, query => {...}, auth_via => 'header'|'query',
                 key, sentry_version, sentry_client,
                 headers => {lower-case name => value}, framing => 'length'|'chunked',
                 content_encoding, peer}}

where DATA is the decoded JSON when the payload is JSON, else the payload as
text (bytes that are not UTF-8 as one character each). C<events> returns the
C<event> payloads. C<requests> returns one record per answered request:
C<{seq, time, method, target, status, detail, mode, auth_via, event_id,
types}>. C<clear> empties both logs.

C<wait_envelopes> waits until at least C<$n> envelopes (with C<type>: that
many holding an item of that type, and only those are returned) are stored,
and returns them, however many there are at the deadline.

C<issues> groups the stored events as a Sentry dashboard would, by their
C<fingerprint> joined with C<|> (C<{{ default }}>, or no fingerprint, stands
for the exception's type and value, else the message):
C<< {KEY => {count, first_seen, last_seen (epoch seconds received),
title, level, last_event_id, last_tags => {name => value}}} >>.
C<issues_html> returns the same as an HTML C<< <table> >>.

=cut

use strict;
use warnings;
use Carp qw(croak);
use Fcntl qw(O_WRONLY O_APPEND O_CREAT);
use File::Path qw(make_path);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG strftime);
use Scalar::Util qw(weaken);
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(sleep time);

use Audit::Test;
use Audit::HTTP qw(take_request keep_alive);

my $JSON = eval { require JSON::XS; JSON::XS->new->utf8->canonical }
    || do { require JSON::PP; JSON::PP->new->utf8->canonical };

my $HOST = '127.0.0.1';

use constant {
    MAX_BODY  => 20 * 1024 * 1024,
    READ_SIZE => 64 * 1024,
};

my %REASON = (
    100 => 'Continue', 200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
    404 => 'Not Found', 405 => 'Method Not Allowed', 413 => 'Payload Too Large',
    415 => 'Unsupported Media Type', 429 => 'Too Many Requests',
    431 => 'Request Header Fields Too Large', 500 => 'Internal Server Error',
    501 => 'Not Implemented', 502 => 'Bad Gateway', 503 => 'Service Unavailable',
    504 => 'Gateway Timeout',
);

my %MODES = map { $_ => 1 } qw(ok ratelimit slow blackhole reset fail);

# Item types whose payload is documented as a JSON object.
my %JSON_ITEM = map { $_ => 1 }
    qw(event transaction session sessions client_report user_report check_in log);

my $HEX32 = qr/\A[0-9a-f]{32}\z/;

# --- harness integration ---------------------------------------------------------

# Audit::Test::stop_all stops nginx, the portal and PostgreSQL; receivers are
# stopped after those (nginx may still be sending on its way out). Wrapped
# here so that stop_all_and_check, DESTROY, END and the signal handlers of
# the harness cover receivers without a change to Audit::Test.
{
    no warnings 'redefine';
    my $stop_all = \&Audit::Test::stop_all;
    *Audit::Test::stop_all = sub {
        my ($t) = @_;
        my @ret = $stop_all->(@_);
        if ($t->{owner} == $$) {
            $_->stop for grep { defined } @{ $t->{sentry_receivers} || [] };
        }
        return @ret;
    };
}

# --- lifecycle --------------------------------------------------------------------

sub start {
    my ($class, $t, %o) = @_;
    croak 'Audit::Sentry->start: need an Audit::Test' unless ref $t;
    my $port = $o{port} || $t->free_port;
    my $sock = IO::Socket::IP->new(LocalHost => $HOST, LocalPort => $port,
        Listen => 128, ReuseAddr => 1)
        or croak "Audit::Sentry: cannot listen on $port: $@";
    my $dir = $t->dir . "/sentry-$port";
    make_path($dir);
    my $self = bless {
        port     => $port,
        project  => defined $o{project} ? "$o{project}" : '1',
        key      => defined $o{key} ? $o{key} : 'public',
        max_body => $o{max_body} || MAX_BODY,
        dir      => $dir,
        t        => $t,
    }, $class;
    weaken $self->{t};
    croak "Audit::Sentry: project must be a number" unless $self->{project} =~ /\A\d+\z/;
    croak "Audit::Sentry: key must be [A-Za-z0-9_-]+" unless $self->{key} =~ /\A[\w-]+\z/;
    my %control = (mode => 'ok');
    for (qw(mode retry_after rate_limits delay status)) {
        $control{$_} = $o{$_} if exists $o{$_};
    }
    $self->set(%control);
    $self->_touch($_) for qw(envelopes.jsonl requests.jsonl);

    my $parent = $$;
    my $pid = fork;
    croak "Audit::Sentry: fork: $!" unless defined $pid;
    if (!$pid) {
        $SIG{INT} = $SIG{TERM} = 'DEFAULT';
        open STDOUT, '>>', "$dir/server.log";
        open STDERR, '>&', \*STDOUT;
        eval { $self->_serve($sock, $parent) };
        print STDERR "sentry receiver: $@" if $@;
        POSIX::_exit(0);    # never run this process's END blocks or DESTROY
    }
    close $sock;
    $self->{pid} = $pid;
    $t->track($pid, "sentry receiver :$port");
    push @{ $t->{sentry_receivers} }, $self;
    return $self;
}

sub port    { $_[0]{port} }
sub project { $_[0]{project} }
sub key     { $_[0]{key} }
sub dir     { $_[0]{dir} }
sub pid     { $_[0]{pid} }
sub dsn     { my ($s) = @_; "http://$s->{key}\@$HOST:$s->{port}/$s->{project}" }
sub url     { my ($s) = @_; "http://$HOST:$s->{port}/api/$s->{project}/envelope/" }

# TERM, up to 5 s, then KILL. Safe to call more than once.
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    my $t = $self->{t};
    if ($t) {
        $t->stop_tracked($pid);
    } else {
        kill TERM => $pid;
    }
    waitpid $pid, WNOHANG;
    return;
}

# --- control ----------------------------------------------------------------------

# Replaces the behaviour (see BEHAVIOUR); options not given take their
# defaults. Written atomically; the server picks it up at the next request.
sub set {
    my ($self, %o) = @_;
    my $mode = $o{mode} // 'ok';
    croak "Audit::Sentry: unknown mode '$mode'" unless $MODES{$mode};
    my $retry = exists $o{retry_after} ? $o{retry_after} : 60;
    my %control = (
        mode        => $mode,
        retry_after => $retry,
        rate_limits => exists $o{rate_limits} ? $o{rate_limits}
                     : (defined $retry ? $retry : 60) . ':error:organization',
        delay       => $o{delay} // 3,
        status      => $o{status} // 503,
    );
    my $path = "$self->{dir}/control.json";
    _write_file("$path.tmp", $JSON->encode(\%control));
    rename "$path.tmp", $path or croak "rename $path: $!";
    return \%control;
}

sub control { _decode_file("$_[0]{dir}/control.json") }

# --- reading what was received ------------------------------------------------------

sub envelopes { $_[0]->_jsonl('envelopes.jsonl') }

sub requests { $_[0]->_jsonl('requests.jsonl') }

sub events {
    my ($self) = @_;
    return map { $_->{payload} }
        grep { $_->{header}{type} eq 'event' && ref $_->{payload} eq 'HASH' }
        map { @{ $_->{items} } } $self->envelopes;
}

sub clear {
    my ($self) = @_;
    _write_file("$self->{dir}/$_", '') for qw(envelopes.jsonl requests.jsonl);
    return;
}

sub wait_envelopes {
    my ($self, $n, %o) = @_;
    my @found;
    my $check = sub {
        @found = $self->envelopes;
        @found = grep { _has_type($_, $o{type}) } @found if defined $o{type};
        return @found >= $n;
    };
    _wait_until($check, $o{timeout} // 5);
    return @found;
}

sub wait_requests {
    my ($self, $n, %o) = @_;
    my @found;
    _wait_until(sub { @found = $self->requests; @found >= $n }, $o{timeout} // 5);
    return @found;
}

sub _has_type {
    my ($env, $type) = @_;
    return scalar grep { $_->{header}{type} eq $type } @{ $env->{items} };
}

sub _wait_until {
    my ($code, $timeout) = @_;
    my $deadline = time + $timeout;
    until ($code->()) {
        return 0 if time >= $deadline;
        sleep 0.05;
    }
    return 1;
}

# Complete lines only: the server may be writing the last one.
sub _jsonl {
    my ($self, $name) = @_;
    my $path = "$self->{dir}/$name";
    open my $fh, '<:raw', $path or return ();
    local $/;
    my $data = <$fh> // '';
    my @records;
    while ($data =~ /\G([^\n]*)\n/gc) {
        next unless length $1;
        my $rec = eval { $JSON->decode($1) };
        croak "Audit::Sentry: $path: bad line: $@" unless $rec;
        push @records, $rec;
    }
    return @records;
}

# --- issues (the dashboard view) -------------------------------------------------------

sub issues {
    my ($self) = @_;
    my %issues;
    for my $env ($self->envelopes) {
        for my $item (@{ $env->{items} }) {
            next unless $item->{header}{type} eq 'event';
            my $event = $item->{payload};
            next unless ref $event eq 'HASH';
            my $key = _group_key($event);
            my $when = $env->{received_at};
            my $issue = $issues{$key} ||= {count => 0, first_seen => $when};
            $issue->{count}++;
            $issue->{last_seen} = $when;
            $issue->{title} = _title($event);
            $issue->{level} = $event->{level} // 'error';
            $issue->{last_event_id} = $event->{event_id} // $env->{headers}{event_id};
            $issue->{last_tags} = _tags($event->{tags});
        }
    }
    return \%issues;
}

sub issues_html {
    my ($self) = @_;
    my $issues = $self->issues;
    my @keys = sort { $issues->{$b}{last_seen} <=> $issues->{$a}{last_seen} || $a cmp $b }
        keys %$issues;
    my $html = qq{<table class="sentry-issues">\n<thead><tr><th>Fingerprint</th>}
        . qq{<th>Title</th><th>Level</th><th>Events</th><th>First seen</th>}
        . qq{<th>Last seen</th><th>Tags</th></tr></thead>\n<tbody>\n};
    for my $key (@keys) {
        my $i = $issues->{$key};
        my $tags = join ', ', map { "$_=$i->{last_tags}{$_}" } sort keys %{ $i->{last_tags} };
        $html .= '<tr>' . join('', map { '<td>' . _html($_) . '</td>' }
            $key, $i->{title}, $i->{level}, $i->{count}, _iso($i->{first_seen}),
            _iso($i->{last_seen}), $tags) . "</tr>\n";
    }
    $html .= "</tbody>\n</table>\n";
    return $html;
}

sub _group_key {
    my ($event) = @_;
    my $fp = $event->{fingerprint};
    my @parts = ref $fp eq 'ARRAY' && @$fp ? @$fp : ('{{ default }}');
    return join '|', map { defined $_ && $_ eq '{{ default }}' ? _title($event) : $_ // '' }
        @parts;
}

# "Type: value" of the last (outermost) exception, else the message.
sub _title {
    my ($event) = @_;
    my $values = ref $event->{exception} eq 'HASH' ? $event->{exception}{values}
               : ref $event->{exception} eq 'ARRAY' ? $event->{exception} : undef;
    if (ref $values eq 'ARRAY' && @$values && ref $values->[-1] eq 'HASH') {
        my $e = $values->[-1];
        return join ': ', grep { defined && length } $e->{type}, $e->{value};
    }
    my $msg = $event->{logentry} // $event->{message};
    $msg = $msg->{formatted} // $msg->{message} if ref $msg eq 'HASH';
    return defined $msg && !ref $msg ? $msg : '<untitled>';
}

# Tags come as an object or as a list of [name, value] pairs.
sub _tags {
    my ($tags) = @_;
    return {%$tags} if ref $tags eq 'HASH';
    return {} unless ref $tags eq 'ARRAY';
    return {map { ref $_ eq 'ARRAY' && @$_ == 2 ? ($_->[0] => $_->[1]) : () } @$tags};
}

sub _iso { defined $_[0] ? strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_[0]) : '' }

sub _html {
    my ($s) = @_;
    $s = '' unless defined $s;
    $s =~ s/&/&amp;/g;
    $s =~ s/</&lt;/g;
    $s =~ s/>/&gt;/g;
    $s =~ s/"/&quot;/g;
    return $s;
}

# --- server: event loop (in the child) ------------------------------------------------

sub _serve {
    my ($self, $listen, $parent) = @_;
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    local $SIG{INT}  = sub { $stop = 1 };
    local $SIG{PIPE} = 'IGNORE';
    $listen->blocking(0);
    $self->{readers} = IO::Select->new($listen);
    $self->{writers} = IO::Select->new;
    $self->{conns} = {};
    $self->{seq} = 0;
    while (!$stop) {
        last if getppid() != $parent;
        my $timeout = 0.5;
        for my $c (values %{ $self->{conns} }) {
            next unless defined $c->{due};
            my $left = $c->{due} - time;
            $timeout = $left if $left < $timeout;
        }
        $timeout = 0 if $timeout < 0;
        my ($r, $w) = IO::Select->select($self->{readers}, $self->{writers}, undef, $timeout);
        for my $fh (@{ $w || [] }) {
            my $c = $self->{conns}{ fileno $fh } or next;
            $self->_flush($c);
        }
        for my $fh (@{ $r || [] }) {
            if ($fh == $listen) { $self->_accept($listen); next }
            my $c = $self->{conns}{ fileno $fh } or next;
            $self->_read($c);
        }
        for my $c (values %{ $self->{conns} }) {
            next unless defined $c->{due} && time >= $c->{due};
            delete $c->{due};
            $c->{out} .= delete $c->{held};
            $self->_process($c);
        }
    }
    $self->_close($_) for values %{ $self->{conns} };
    return;
}

sub _accept {
    my ($self, $listen) = @_;
    for (1 .. 64) {
        my $sock = $listen->accept or return;
        my $mode = $self->_read_control->{mode};
        if ($mode eq 'reset') { _reset_close($sock); next }
        $sock->blocking(0);
        binmode $sock;
        my $c = {sock => $sock, in => '', out => '',
                 peer => $sock->peerhost . ':' . $sock->peerport};
        $c->{blackhole} = 1 if $mode eq 'blackhole';
        $self->{conns}{ fileno $sock } = $c;
        $self->{readers}->add($sock);
    }
}

sub _reset_close {
    my ($sock) = @_;
    setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $sock;
}

sub _read {
    my ($self, $c) = @_;
    my $n = sysread($c->{sock}, $c->{in}, READ_SIZE, length $c->{in});
    return if !defined $n && ($!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR});
    return $self->_close($c) unless $n;
    if ($c->{blackhole}) { $c->{in} = ''; return }
    $self->_process($c);
}

# Answers every complete request in the buffer, in order; stops while a
# slow answer is held back.
sub _process {
    my ($self, $c) = @_;
    while (!$c->{closing} && !defined $c->{due} && !$c->{blackhole}) {
        my $req = take_request($c, $self->{max_body}) or last;
        my $ctl = $self->_read_control;
        if ($ctl->{mode} eq 'reset') {
            $self->_forget($c);
            _reset_close($c->{sock});
            return;
        }
        if ($ctl->{mode} eq 'blackhole') {
            @$c{qw(blackhole in out)} = (1, '', '');
            last;
        }
        my ($status, $headers, $body, $info) = $req->{error}
            ? ($req->{error}, [], _detail($req->{reason}), {detail => $req->{reason}})
            : $self->_handle($req, $ctl, $c);
        $self->_log_request($req, $status, $ctl, $info);
        my $keep = !$req->{error} && $status != 413 && keep_alive($req);
        my $resp = _response($status, $headers, $body, $keep);
        $c->{closing} = 1 unless $keep;
        if ($ctl->{mode} eq 'slow') {
            $c->{held} = $resp;
            $c->{due} = time + ($ctl->{delay} || 0);
            last;
        }
        $c->{out} .= $resp;
    }
    $self->_flush($c);
}

sub _flush {
    my ($self, $c) = @_;
    while (length $c->{out}) {
        my $n = syswrite($c->{sock}, $c->{out});
        if (!defined $n) {
            last if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
            return $self->_close($c);
        }
        substr($c->{out}, 0, $n, '');
    }
    if (length $c->{out}) {
        $self->{writers}->add($c->{sock}) unless $self->{writers}->exists($c->{sock});
        return;
    }
    $self->{writers}->remove($c->{sock});
    $self->_close($c) if $c->{closing} && !defined $c->{due};
}

sub _forget {
    my ($self, $c) = @_;
    $self->{readers}->remove($c->{sock});
    $self->{writers}->remove($c->{sock});
    delete $self->{conns}{ fileno $c->{sock} };
}

sub _close {
    my ($self, $c) = @_;
    $self->_forget($c);
    close $c->{sock};
}

# The control file, re-read each time (it is tiny); the last good one if it
# cannot be read.
sub _read_control {
    my ($self) = @_;
    my $ctl = eval { _decode_file("$self->{dir}/control.json") };
    $self->{control} = $ctl if ref $ctl eq 'HASH' && $MODES{ $ctl->{mode} // '' };
    return $self->{control} || {mode => 'ok'};
}

# --- server: HTTP framing ----------------------------------------------------------------

# One complete request off the connection's buffer; undef when more bytes
# are needed; {error => status, reason => ...} for bad framing (the
# connection is then closed).
sub _response {
    my ($status, $headers, $body, $keep) = @_;
    my $out = "HTTP/1.1 $status " . ($REASON{$status} || 'Status') . "\r\n"
        . "Server: audit-test-sentry\r\n"
        . 'Connection: ' . ($keep ? 'keep-alive' : 'close') . "\r\n"
        . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n";
    for (my $i = 0; $i < @$headers; $i += 2) {
        $out .= "$headers->[$i]: $headers->[$i + 1]\r\n";
    }
    return "$out\r\n$body";
}

sub _detail { $JSON->encode({detail => $_[0]}) }

# --- server: the envelope endpoint -------------------------------------------------------

# Returns (status, [header => value...], body, {detail, auth_via, event_id, types}).
sub _handle {
    my ($self, $req, $ctl, $c) = @_;
    my ($path, $query) = $req->{target} =~ m{\A([^?#]*)(?:\?([^#]*))?};
    my %info;
    my $fail = sub {
        my ($status, $detail, @headers) = @_;
        $info{detail} = $detail;
        return ($status, \@headers, _detail($detail), \%info);
    };
    my ($project) = $path =~ m{\A/api/(\d+)/envelope/\z}
        or return $fail->(404, "no route for $path");
    return $fail->(404, "unknown project $project") if $project ne $self->{project};
    return $fail->(405, "method $req->{method} not allowed", Allow => 'POST')
        if $req->{method} ne 'POST';

    my %q = _parse_query($query);
    my ($auth, $auth_err) = _auth($req->{headers}{'x-sentry-auth'}, \%q);
    return $fail->(401, $auth_err) unless $auth;
    $info{auth_via} = $auth->{via};
    return $fail->(401, 'invalid sentry_key') if $auth->{key} ne $self->{key};

    my ($body, $enc_status, $enc_err) = $self->_decode_body($req);
    return $fail->($enc_status, $enc_err) unless defined $body;

    my ($env, $err) = $self->_parse_envelope($body);
    return $fail->(400, "invalid envelope: $err") unless $env;
    $info{event_id} = $env->{event_id};
    $info{types} = [map { $_->{header}{type} } @{ $env->{items} }];

    if ($ctl->{mode} eq 'ratelimit') {
        my @h;
        push @h, 'Retry-After' => $ctl->{retry_after} if defined $ctl->{retry_after};
        push @h, 'X-Sentry-Rate-Limits' => $ctl->{rate_limits}
            if defined $ctl->{rate_limits} && length $ctl->{rate_limits};
        return $fail->(429, 'rate limited', @h);
    }
    return $fail->($ctl->{status} || 503, 'failing on purpose') if $ctl->{mode} eq 'fail';

    my %record = (
        seq         => ++$self->{stored},
        received_at => time,
        headers     => $env->{headers},
        items       => [map { {header => $_->{header}, payload => _payload($_->{payload}),
                               size => length $_->{payload}} } @{ $env->{items} }],
        request     => {
            method   => $req->{method},
            path     => $path,
            query    => \%q,
            auth_via => $auth->{via},
            key      => $auth->{key},
            sentry_version => $auth->{sentry_version},
            sentry_client  => $auth->{sentry_client},
            headers  => {map { $_ => _text($req->{headers}{$_}) } keys %{ $req->{headers} }},
            framing  => $req->{framing},
            content_encoding => $req->{headers}{'content-encoding'},
            peer     => $req->{peer},
        },
    );
    _append("$self->{dir}/envelopes.jsonl", $JSON->encode(\%record) . "\n");
    my $id = $env->{event_id};
    return (200, [], $JSON->encode(defined $id ? {id => $id} : {}), \%info);
}

sub _parse_query {
    my ($query) = @_;
    my %q;
    for my $pair (split /&/, $query // '') {
        next unless length $pair;
        my ($k, $v) = map { _unescape($_) } split /=/, $pair, 2;
        $q{$k} = $v // '' unless exists $q{$k};
    }
    return %q;
}

sub _unescape {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    utf8::decode($s);
    return $s;
}

# X-Sentry-Auth when present, else the query string.
sub _auth {
    my ($header, $q) = @_;
    my %a;
    if (defined $header) {
        my ($params) = $header =~ /\ASentry\s+(.+)\z/i
            or return (undef, 'bad X-Sentry-Auth header: not "Sentry key=value, ..."');
        for my $kv (split /\s*,\s*/, $params) {
            my ($k, $v) = $kv =~ /\A\s*(\w+)\s*=\s*(.*?)\s*\z/
                or return (undef, "bad X-Sentry-Auth header: bad parameter '$kv'");
            $a{$k} = $v;
        }
        $a{via} = 'header';
    } elsif (exists $q->{sentry_key}) {
        %a = (%$q, via => 'query');
    } else {
        return (undef, 'missing authorization information (X-Sentry-Auth or sentry_key)');
    }
    return (undef, "no sentry_key in the $a{via}")
        unless defined $a{sentry_key} && length $a{sentry_key};
    return (undef, "bad sentry_version '$a{sentry_version}'")
        if defined $a{sentry_version} && $a{sentry_version} !~ /\A\d+\z/;
    return ({via => $a{via}, key => $a{sentry_key}, sentry_version => $a{sentry_version},
             sentry_client => $a{sentry_client}});
}

# The body after Content-Encoding; (undef, status, detail) when it cannot be.
sub _decode_body {
    my ($self, $req) = @_;
    my $enc = lc($req->{headers}{'content-encoding'} // 'identity');
    return ($req->{body}) if $enc eq 'identity';
    my ($out, $ok);
    if ($enc eq 'gzip' || $enc eq 'x-gzip') {
        require IO::Uncompress::Gunzip;
        $ok = IO::Uncompress::Gunzip::gunzip(\$req->{body}, \$out, Transparent => 0);
    } elsif ($enc eq 'deflate') {
        require IO::Uncompress::Inflate;
        require IO::Uncompress::RawInflate;
        $ok = IO::Uncompress::Inflate::inflate(\$req->{body}, \$out, Transparent => 0)
           || IO::Uncompress::RawInflate::rawinflate(\$req->{body}, \$out, Transparent => 0);
    } else {
        return (undef, 415, "unsupported Content-Encoding: $enc");
    }
    return (undef, 400, "cannot decode $enc body") unless $ok;
    return (undef, 413, 'body too large after decoding') if length $out > $self->{max_body};
    return ($out);
}

# Parses an envelope; returns ({headers, event_id, items => [{header,
# payload (bytes)}]}) or (undef, what is wrong).
sub _parse_envelope {
    my ($self, $body) = @_;
    return (undef, 'empty body') unless length $body;
    my $pos = 0;
    my $len = length $body;
    my $line = sub {    # up to the next \n or the end; moves past the \n
        my $nl = index $body, "\n", $pos;
        my $end = $nl < 0 ? $len : $nl;
        my $text = substr($body, $pos, $end - $pos);
        $pos = $nl < 0 ? $len : $nl + 1;
        return ($text, $nl >= 0);
    };
    my ($head_text) = $line->();
    my $headers = _json_object($head_text)
        // return (undef, 'envelope header is not a JSON object: ' . _json_error($head_text));
    my $err = $self->_check_envelope_headers($headers);
    return (undef, $err) if $err;

    my (@items, %events);
    while ($pos < $len) {
        my $n = @items + 1;
        my ($text, $had_nl) = $line->();
        my $ih = _json_object($text)
            // return (undef, "item $n: header is not a JSON object: " . _json_error($text));
        return (undef, "item $n: header has no type")
            unless defined $ih->{type} && !ref $ih->{type} && length $ih->{type};
        return (undef, "item $n ($ih->{type}): no newline after the item header")
            unless $had_nl;
        my $payload;
        if (exists $ih->{length}) {
            my $l = $ih->{length};
            return (undef, "item $n ($ih->{type}): length is not a non-negative integer")
                unless defined $l && !ref $l && $l =~ /\A\d+\z/ && _is_json_number($ih, 'length');
            return (undef, "item $n ($ih->{type}): length $l is too long: only "
                . ($len - $pos) . ' bytes left') if $pos + $l > $len;
            $payload = substr($body, $pos, $l);
            $pos += $l;
            if ($pos < $len) {
                return (undef, "item $n ($ih->{type}): length $l is too short or too long: "
                    . 'the payload is not followed by a newline (found '
                    . _show(substr($body, $pos, 16)) . ')')
                    unless substr($body, $pos, 1) eq "\n";
                $pos++;
            }
        } else {
            ($payload) = $line->();
        }
        my $type = $ih->{type};
        if ($JSON_ITEM{$type}) {
            my $data = _json_object($payload)
                // return (undef, "item $n ($type): payload is not a JSON object: "
                    . _json_error($payload));
            $err = $self->_check_item($type, $data, $headers);
            return (undef, "item $n ($type): $err") if $err;
        }
        if ($type eq 'event' || $type eq 'transaction') {
            return (undef, "item $n ($type): more than one event or transaction item")
                if $events{any}++;
        }
        push @items, {header => $ih, payload => $payload};
    }
    return ({headers => $headers, event_id => $headers->{event_id}, items => \@items});
}

sub _check_envelope_headers {
    my ($self, $h) = @_;
    if (exists $h->{event_id}) {
        return 'envelope header event_id is not 32 lowercase hex digits'
            unless defined $h->{event_id} && !ref $h->{event_id} && $h->{event_id} =~ $HEX32;
    }
    if (exists $h->{dsn}) {
        my $dsn = $h->{dsn};
        my ($key, $project) = (defined $dsn && !ref $dsn ? $dsn : '')
            =~ m{\A[a-z][a-z0-9+.-]*://([^:@/]+)(?::[^@/]*)?@[^/]+(?:/[^?#]*)?/(\d+)/?\z}i
            or return 'envelope header dsn is not a DSN';
        return "envelope header dsn names key '$key', not this receiver's"
            if $key ne $self->{key};
        return "envelope header dsn names project $project, not $self->{project}"
            if $project ne $self->{project};
    }
    if (exists $h->{sent_at}) {
        return 'envelope header sent_at is not an RFC 3339 timestamp'
            unless defined $h->{sent_at} && !ref $h->{sent_at} && $h->{sent_at}
                =~ /\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)\z/;
    }
    return undef;
}

sub _check_item {
    my ($self, $type, $data, $headers) = @_;
    if ($type eq 'event' && exists $data->{event_id}) {
        my $id = $data->{event_id};
        return 'event_id is not 32 lowercase hex digits'
            unless defined $id && !ref $id && $id =~ $HEX32;
        return "event_id $id differs from the envelope header's $headers->{event_id}"
            if defined $headers->{event_id} && $headers->{event_id} ne $id;
    }
    if ($type eq 'client_report' && exists $data->{discarded_events}) {
        my $list = $data->{discarded_events};
        return 'discarded_events is not a list' unless ref $list eq 'ARRAY';
        for my $i (0 .. $#$list) {
            my $d = $list->[$i];
            return "discarded_events[$i] is not {reason, category, quantity}"
                unless ref $d eq 'HASH'
                    && defined $d->{reason} && !ref $d->{reason}
                    && defined $d->{category} && !ref $d->{category}
                    && defined $d->{quantity} && !ref $d->{quantity}
                    && $d->{quantity} =~ /\A[1-9]\d*\z/;
        }
    }
    return undef;
}

# A JSON number, not a string holding digits: re-encode the one key.
sub _is_json_number {
    my ($h, $key) = @_;
    return $JSON->encode([$h->{$key}]) =~ /\A\[\d+\]\z/;
}

sub _json_object {
    my ($bytes) = @_;
    my $data = eval { $JSON->decode($bytes) };
    return ref $data eq 'HASH' ? $data : undef;
}

sub _json_error {
    my ($bytes) = @_;
    return 'empty line' unless length $bytes;
    my $data = eval { $JSON->decode($bytes) };
    return 'a JSON ' . (ref $data eq 'ARRAY' ? 'array' : 'scalar') unless $@;
    (my $e = $@) =~ s/ at \S+ line \d+\.?\n?\z//;
    $e =~ s/\s+\z//;
    return "bad JSON ($e)";
}

sub _show {
    my ($bytes) = @_;
    (my $s = $bytes) =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
    return "\"$s\"";
}

# Decoded JSON if the payload is JSON, else text.
sub _payload {
    my ($bytes) = @_;
    my $data = length $bytes ? eval { $JSON->decode($bytes) } : undef;
    return defined $data ? $data : _text($bytes);
}

# Bytes as text for JSON: UTF-8 where valid, else each byte as a code point.
sub _text {
    my ($bytes) = @_;
    my $s = $bytes;
    utf8::decode($s);
    return $s;
}

sub _log_request {
    my ($self, $req, $status, $ctl, $info) = @_;
    my $rec = {
        seq    => ++$self->{seq},
        time   => time,
        method => $req->{method},
        target => defined $req->{target} ? _text($req->{target}) : undef,
        status => $status,
        mode   => $ctl->{mode},
        map { defined $info->{$_} ? ($_ => $info->{$_}) : () }
            qw(detail auth_via event_id types),
    };
    _append("$self->{dir}/requests.jsonl", $JSON->encode($rec) . "\n");
}

# --- files ---------------------------------------------------------------------------

# One write per record, O_APPEND: readers never see two records interleaved.
sub _append {
    my ($path, $data) = @_;
    sysopen my $fh, $path, O_WRONLY | O_APPEND | O_CREAT or die "$path: $!";
    binmode $fh;
    my $n = syswrite $fh, $data;
    die "$path: short write" unless defined $n && $n == length $data;
    close $fh;
}

sub _touch { my ($self, $name) = @_; _append("$self->{dir}/$name", '') }

sub _write_file {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or croak "$path: $!";
    print {$fh} $data;
    close $fh or croak "$path: $!";
}

sub _decode_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or croak "$path: $!";
    local $/;
    return $JSON->decode(scalar <$fh> // '');
}

1;
