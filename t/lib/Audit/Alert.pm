package Audit::Alert;

=head1 NAME

Audit::Alert - PagerDuty, Slack and webhook receivers for the alert tests

=head1 SYNOPSIS

    use Audit::Alert;

    my $pd = Audit::Alert->start($t, kind => 'pagerduty');
    my $sl = Audit::Alert->start($t, kind => 'slack');
    my $wh = Audit::Alert->start($t, kind => 'webhook');
    $pd->url;                       # http://127.0.0.1:PORT/v2/enqueue
    my @m = $pd->wait_messages(1, timeout => 10);
    $pd->set(mode => 'fail', status => 500);     # while running
    $t->stop_all_and_check;         # stops the receivers too

A small single-process HTTP/1.1 server on a free loopback port, forked and
tracked by the harness like L<Audit::Sentry>'s receiver. Every request is
parsed with L<Audit::HTTP> and its JSON body checked field by field against
what the service documents; a message that passes is appended to
C<messages.jsonl> before the answer, every request (with what was wrong) to
C<requests.jsonl>.

=head1 WHAT IS CHECKED

=over

=item B<pagerduty>: Events API v2, "Send an Alert Event"
(developer.pagerduty.com). C<POST /v2/enqueue>, C<Content-Type:
application/json>, a JSON object with only the documented top-level members
(C<routing_key>, C<event_action>, C<dedup_key>, C<payload>, C<client>,
C<client_url>, C<links>, C<images>); C<routing_key> a string of 32
characters; C<event_action> C<trigger>, C<acknowledge> or C<resolve>;
C<dedup_key> a string of at most 255 characters, required for C<acknowledge>
and C<resolve>. A trigger needs C<payload> with C<summary> (a non-empty
string, at most 1024 characters), C<source> (non-empty string) and
C<severity> (C<critical>, C<error>, C<warning> or C<info>); C<timestamp>, if
present, is ISO 8601; C<component>, C<group>, C<class> are strings;
C<custom_details> an object; no other payload member. Accepted: B<202>
C<{"status":"success","message":"Event processed","dedup_key":...}>; invalid:
B<400> C<{"status":"invalid event","message":"Event object is invalid",
"errors":[...]}>.

=item B<slack>: incoming webhooks and Block Kit (api.slack.com). C<POST> to
the webhook path (C</services/T000/B000/XXXX> here; another path: 404
C<no_service>), C<Content-Type: application/json>; a JSON object with a
non-empty string C<text> (at most 40000 characters; it is what the
notification shows) and, if present, C<blocks>: an array of at most 50
blocks, each of type C<header> (a C<plain_text> text object of at most 150
characters), C<section> (a text object, C<plain_text> or C<mrkdwn>, at most
3000 characters), C<context> (1 to 10 elements, text objects) or
C<divider>; in C<text>, C<< < >> and C<< > >> only as Slack's own markup
(here: never) and C<&> only as an entity. Accepted: B<200> C<ok> as
C<text/plain>; invalid: B<400> C<invalid_payload> / C<invalid_blocks> /
C<no_text>.

=item B<webhook>: the shape docs/alerts.md documents (Alertmanager's
webhook, version 4). C<POST /hook>, JSON with C<version> C<"4">, C<status>
C<firing> or C<resolved>, C<receiver> and C<groupKey> strings, C<alerts> a
non-empty array of objects with the same C<status>, C<labels> (an object of
strings with C<alertname> and C<severity>), C<annotations> (an object of
strings with C<summary>), C<startsAt> and C<endsAt> (RFC 3339; C<endsAt> is
C<0001-01-01T00:00:00Z> while firing and not before C<startsAt> once
resolved) and C<fingerprint> (non-empty string). Accepted: B<200>.

=back

=head1 BEHAVIOUR

C<ok> (validate, store, answer), C<fail> (validate, answer C<status>, default
500, without storing), C<ratelimit> (answer 429 with C<Retry-After:
retry_after>, default 1), C<blackhole> (read, never answer), C<slow> (answer
C<delay> seconds late). C<set> takes effect at the next request.

=cut

use strict;
use warnings;
use Carp qw(croak);
use Fcntl qw(O_WRONLY O_APPEND O_CREAT);
use File::Path qw(make_path);
use IO::Select;
use IO::Socket::IP;
use JSON::PP;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(sleep time);

use Audit::Test;
use Audit::HTTP qw(take_request keep_alive);

my $HOST = '127.0.0.1';
my $JSON = JSON::PP->new->canonical->utf8;
my %MODES = map { $_ => 1 } qw(ok fail ratelimit blackhole slow);
my %PATH = (pagerduty => '/v2/enqueue', slack => '/services/T000/B000/XXXX',
            webhook => '/hook');
my %REASON = (200 => 'OK', 202 => 'Accepted', 400 => 'Bad Request',
              404 => 'Not Found', 405 => 'Method Not Allowed',
              415 => 'Unsupported Media Type', 429 => 'Too Many Requests',
              500 => 'Internal Server Error', 503 => 'Service Unavailable');
my $RFC3339 = qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)\z/;

{
    no warnings 'redefine';
    my $stop_all = \&Audit::Test::stop_all;
    *Audit::Test::stop_all = sub {
        my ($t) = @_;
        my @ret = $stop_all->(@_);
        if ($t->{owner} == $$) {
            $_->stop for grep { defined } @{ $t->{alert_receivers} || [] };
        }
        return @ret;
    };
}

sub start {
    my ($class, $t, %o) = @_;
    my $kind = $o{kind} or croak 'Audit::Alert->start: kind';
    croak "Audit::Alert: unknown kind $kind" unless $PATH{$kind};
    my $port = $o{port} || $t->free_port;
    my $sock = IO::Socket::IP->new(LocalHost => $HOST, LocalPort => $port,
        Listen => 128, ReuseAddr => 1)
        or croak "Audit::Alert: cannot listen on $port: $@";
    my $dir = $t->dir . "/alert-$kind-$port";
    make_path($dir);
    my $self = bless {kind => $kind, port => $port, dir => $dir, t => $t}, $class;
    weaken $self->{t};
    $self->set(map { exists $o{$_} ? ($_ => $o{$_}) : () } qw(mode status retry_after delay));
    _append("$dir/$_", '') for qw(messages.jsonl requests.jsonl);
    my $parent = $$;
    my $pid = fork;
    croak "Audit::Alert: fork: $!" unless defined $pid;
    if (!$pid) {
        $SIG{INT} = $SIG{TERM} = 'DEFAULT';
        open STDOUT, '>>', "$dir/server.log";
        open STDERR, '>&', \*STDOUT;
        eval { $self->_serve($sock, $parent) };
        print STDERR "alert receiver: $@" if $@;
        POSIX::_exit(0);
    }
    close $sock;
    $self->{pid} = $pid;
    $t->track($pid, "$kind receiver :$port");
    push @{ $t->{alert_receivers} }, $self;
    return $self;
}

sub port { $_[0]{port} }
sub kind { $_[0]{kind} }
sub url  { "http://$HOST:$_[0]{port}$PATH{ $_[0]{kind} }" }

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    if ($self->{t}) { $self->{t}->stop_tracked($pid) } else { kill TERM => $pid }
    waitpid $pid, WNOHANG;
    return;
}

sub set {
    my ($self, %o) = @_;
    my $mode = $o{mode} // 'ok';
    croak "Audit::Alert: unknown mode $mode" unless $MODES{$mode};
    my $path = "$self->{dir}/control.json";
    _write("$path.tmp", $JSON->encode({mode => $mode, status => $o{status} // 500,
        retry_after => $o{retry_after} // 1, delay => $o{delay} // 3}));
    rename "$path.tmp", $path or croak "rename: $!";
    return;
}

sub messages { $_[0]->_jsonl('messages.jsonl') }
sub requests { $_[0]->_jsonl('requests.jsonl') }
sub rejected { grep { @{ $_->{errors} } } $_[0]->requests }

sub wait_messages {
    my ($self, $n, %o) = @_;
    my @m;
    my $deadline = time + ($o{timeout} // 10);
    while (1) {
        @m = $self->messages;
        @m = grep { $o{where}->($_) } @m if $o{where};
        last if @m >= $n || time >= $deadline;
        sleep 0.05;
    }
    return @m;
}

sub _jsonl {
    my ($self, $name) = @_;
    open my $fh, '<:raw', "$self->{dir}/$name" or return ();
    local $/;
    my $data = <$fh> // '';
    return map { $JSON->decode($_) } grep { length } $data =~ /([^\n]*)\n/g;
}

# --- server ------------------------------------------------------------------------

sub _serve {
    my ($self, $listen, $parent) = @_;
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    local $SIG{PIPE} = 'IGNORE';
    $listen->blocking(0);
    my $sel = IO::Select->new($listen);
    my %conns;
    while (!$stop && getppid() == $parent) {
        my @ready = $sel->can_read(0.2);
        for my $c (values %conns) {
            next unless $c->{due} && time >= $c->{due};
            delete $c->{due};
            syswrite $c->{sock}, delete $c->{held};
        }
        for my $fh (@ready) {
            if ($fh == $listen) {
                while (my $s = $listen->accept) {
                    $s->blocking(0);
                    $conns{ fileno $s } = {sock => $s, in => ''};
                    $sel->add($s);
                }
                next;
            }
            my $c = $conns{ fileno $fh } or next;
            my $n = sysread $fh, $c->{in}, 65536, length $c->{in};
            next if !defined $n && $!{EAGAIN};
            if (!$n) { $sel->remove($fh); delete $conns{ fileno $fh }; close $fh; next }
            my $ctl = $self->_control;
            if ($ctl->{mode} eq 'blackhole') { $c->{in} = ''; next }
            while (my $req = take_request($c, 1 << 20)) {
                my ($status, $ctype, $body, $headers) = $self->_handle($req, $ctl);
                my $keep = !$req->{error} && keep_alive($req);
                my $out = "HTTP/1.1 $status " . ($REASON{$status} || 'Status') . "\r\n"
                    . "Content-Type: $ctype\r\nContent-Length: " . length($body) . "\r\n"
                    . ($headers // '') . 'Connection: ' . ($keep ? 'keep-alive' : 'close')
                    . "\r\n\r\n$body";
                if ($ctl->{mode} eq 'slow') {
                    $c->{held} = $out;
                    $c->{due} = time + $ctl->{delay};
                    last;
                }
                syswrite $fh, $out;
                last unless $keep;
            }
        }
    }
    return;
}

sub _control {
    my ($self) = @_;
    my $ctl = eval {
        open my $fh, '<:raw', "$self->{dir}/control.json" or die;
        local $/;
        $JSON->decode(<$fh>);
    };
    $self->{ctl} = $ctl if $ctl;
    return $self->{ctl} || {mode => 'ok'};
}

sub _handle {
    my ($self, $req, $ctl) = @_;
    my $kind = $self->{kind};
    my @errors;
    my ($status, $ctype, $body, $headers) = (200, 'text/plain', 'ok', '');
    my $msg;
    if ($req->{error}) {
        @errors = ($req->{reason});
        $status = $req->{error};
    } elsif (($req->{target} // '') ne $PATH{$kind}) {
        @errors = ('no such path');
        $status = 404;
        $body = $kind eq 'slack' ? 'no_service' : '{"error":"not found"}';
    } elsif ($req->{method} ne 'POST') {
        @errors = ('method');
        $status = 405;
    } elsif (($req->{headers}{'content-type'} // '') !~ m{\Aapplication/json(?:\s*;.*)?\z}i) {
        @errors = ('content-type');
        $status = $kind eq 'slack' ? 400 : 415;
        $body = 'invalid_payload' if $kind eq 'slack';
    } else {
        $msg = eval { JSON::PP->new->utf8->decode($req->{body}) };
        if (ref $msg ne 'HASH') {
            @errors = ('body is not a JSON object');
        } else {
            @errors = $kind eq 'pagerduty' ? _check_pagerduty($msg)
                    : $kind eq 'slack'     ? _check_slack($msg)
                    :                        _check_webhook($msg);
        }
        $status = @errors ? 400 : $kind eq 'pagerduty' ? 202 : 200;
    }
    if ($kind eq 'pagerduty' && $status >= 400 && $status < 500) {
        ($ctype, $body) = ('application/json', $JSON->encode({status => 'invalid event',
            message => 'Event object is invalid', errors => \@errors}));
    } elsif ($kind eq 'pagerduty') {
        ($ctype, $body) = ('application/json', $JSON->encode({status => 'success',
            message => 'Event processed', dedup_key => $msg->{dedup_key}}));
    } elsif ($kind eq 'slack' && $status == 400 && $body eq 'ok') {
        $body = (grep { /block/ } @errors) ? 'invalid_blocks'
              : (grep { /text/ } @errors) ? 'no_text' : 'invalid_payload';
    } elsif ($kind eq 'webhook') {
        ($ctype, $body) = ('application/json', $status == 200 ? '{}' : $JSON->encode({errors => \@errors}));
    }
    my $mode = $ctl->{mode};
    if (!@errors && $status < 300) {
        if ($mode eq 'fail') {
            $status = $ctl->{status};
            $body = 'failing';
        } elsif ($mode eq 'ratelimit') {
            $status = 429;
            $headers = "Retry-After: $ctl->{retry_after}\r\n";
        } else {
            _append("$self->{dir}/messages.jsonl", $JSON->encode($msg) . "\n");
        }
    }
    _append("$self->{dir}/requests.jsonl", $JSON->encode({time => time, status => $status,
        mode => $mode, errors => \@errors, body => $req->{body} // ''}) . "\n");
    return ($status, $ctype, $body, $headers);
}

sub _str { defined $_[0] && !ref $_[0] && length $_[0] }

sub _check_pagerduty {
    my ($m) = @_;
    my @e;
    my %top = map { $_ => 1 } qw(routing_key event_action dedup_key payload client client_url links images);
    push @e, "unknown member $_" for grep { !$top{$_} } sort keys %$m;
    push @e, 'routing_key must be 32 characters'
        unless _str($m->{routing_key}) && length $m->{routing_key} == 32;
    my $action = $m->{event_action} // '';
    push @e, 'event_action' unless $action =~ /\A(?:trigger|acknowledge|resolve)\z/;
    if (defined $m->{dedup_key}) {
        push @e, 'dedup_key must be a string of at most 255 characters'
            unless _str($m->{dedup_key}) && length $m->{dedup_key} <= 255;
    } elsif ($action ne 'trigger') {
        push @e, 'dedup_key is required';
    }
    return @e if $action ne 'trigger';
    my $p = $m->{payload};
    return (@e, 'payload is required') unless ref $p eq 'HASH';
    my %pk = map { $_ => 1 } qw(summary source severity timestamp component group class custom_details);
    push @e, "unknown payload member $_" for grep { !$pk{$_} } sort keys %$p;
    push @e, 'summary' unless _str($p->{summary}) && length $p->{summary} <= 1024;
    push @e, 'source' unless _str($p->{source});
    push @e, 'severity' unless ($p->{severity} // '') =~ /\A(?:critical|error|warning|info)\z/;
    push @e, 'timestamp' if defined $p->{timestamp} && $p->{timestamp} !~ $RFC3339;
    for (qw(component group class)) {
        push @e, $_ if exists $p->{$_} && !_str($p->{$_});
    }
    push @e, 'custom_details' if exists $p->{custom_details} && ref $p->{custom_details} ne 'HASH';
    return @e;
}

sub _text_object {
    my ($o, $max, @types) = @_;
    return 'not a text object' unless ref $o eq 'HASH';
    my %t = map { $_ => 1 } @types;
    return "text type $o->{type}" unless $t{ $o->{type} // '' };
    return 'empty text' unless _str($o->{text});
    return "text over $max" if length $o->{text} > $max;
    return;
}

sub _check_slack {
    my ($m) = @_;
    my @e;
    push @e, 'text is required' unless _str($m->{text});
    push @e, 'text over 40000' if _str($m->{text}) && length $m->{text} > 40000;
    push @e, 'text holds a raw < or > or a bare &'
        if _str($m->{text}) && ($m->{text} =~ /[<>]/ || $m->{text} =~ /&(?!amp;|lt;|gt;)/);
    return @e unless exists $m->{blocks};
    my $b = $m->{blocks};
    return (@e, 'blocks must be an array of at most 50') unless ref $b eq 'ARRAY' && @$b <= 50;
    for my $blk (@$b) {
        my $type = ref $blk eq 'HASH' ? $blk->{type} // '' : '';
        if ($type eq 'header') {
            push @e, map { "header block: $_" } _text_object($blk->{text}, 150, 'plain_text');
        } elsif ($type eq 'section') {
            push @e, map { "section block: $_" } _text_object($blk->{text}, 3000, 'plain_text', 'mrkdwn');
        } elsif ($type eq 'context') {
            my $el = $blk->{elements};
            if (ref $el ne 'ARRAY' || !@$el || @$el > 10) {
                push @e, 'context block: 1 to 10 elements';
            } else {
                push @e, map { "context block: $_" } map { _text_object($_, 3000, 'plain_text', 'mrkdwn') } @$el;
            }
        } elsif ($type ne 'divider') {
            push @e, "block type '$type'";
        }
    }
    return @e;
}

sub _check_webhook {
    my ($m) = @_;
    my @e;
    push @e, 'version' unless ($m->{version} // '') eq '4';
    my $st = $m->{status} // '';
    push @e, 'status' unless $st =~ /\A(?:firing|resolved)\z/;
    push @e, $_ for grep { !_str($m->{$_}) } qw(receiver groupKey);
    my $alerts = $m->{alerts};
    return (@e, 'alerts must be a non-empty array') unless ref $alerts eq 'ARRAY' && @$alerts;
    for my $a (@$alerts) {
        push @e, 'alert status' unless ($a->{status} // '') eq $st;
        for my $map (qw(labels annotations)) {
            if (ref $a->{$map} ne 'HASH' || grep { !_str($_) } values %{ $a->{$map} }) {
                push @e, "$map must be an object of strings";
            }
        }
        push @e, 'labels.alertname' unless _str($a->{labels}{alertname});
        push @e, 'labels.severity' unless _str($a->{labels}{severity});
        push @e, 'annotations.summary' unless _str($a->{annotations}{summary});
        push @e, 'startsAt' unless ($a->{startsAt} // '') =~ $RFC3339;
        push @e, 'endsAt' unless ($a->{endsAt} // '') =~ $RFC3339;
        if ($st eq 'firing') {
            push @e, 'endsAt while firing' unless ($a->{endsAt} // '') eq '0001-01-01T00:00:00Z';
        } elsif (($a->{endsAt} // '') lt ($a->{startsAt} // '')) {
            push @e, 'endsAt before startsAt';
        }
        push @e, 'fingerprint' unless _str($a->{fingerprint});
    }
    return @e;
}

sub _append {
    my ($path, $data) = @_;
    sysopen my $fh, $path, O_WRONLY | O_APPEND | O_CREAT or die "$path: $!";
    binmode $fh;
    syswrite $fh, $data;
    close $fh;
}

sub _write {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or croak "$path: $!";
    print {$fh} $data;
    close $fh;
}

1;
