package Audit::HTTP;

=head1 NAME

Audit::HTTP - the HTTP/1.1 request reader shared by the test servers

=head1 SYNOPSIS

    use Audit::HTTP qw(take_request keep_alive bad);

    # $c->{in} holds what was read from the connection so far
    my $req = take_request($c, $max_body) or next;    # undef: need more
    if ($req->{error}) { ... answer $req->{error} $req->{reason} ... }
    my $keep = keep_alive($req);

A request is C<{method, target, version, headers (lower-case names,
repeated ones joined by ", "), body, framing ('length', 'chunked' or
'none')}>; a malformed one is C<{error => STATUS, reason => TEXT}>. Used by
the stub portal (L<Audit::Portal>) and the Sentry receiver
(L<Audit::Sentry>).

=cut

use strict;
use warnings;
use Exporter qw(import);

our @EXPORT_OK = qw(take_request keep_alive bad);

use constant MAX_HEAD => 64 * 1024;

sub take_request {
    my ($c, $max_body) = @_;
    unless ($c->{req}) {
        $c->{in} =~ s/\A(?:\r\n)+//;
        my $end = index $c->{in}, "\r\n\r\n";
        if ($end < 0) {
            return length $c->{in} > MAX_HEAD ? bad(431, 'request head too large') : undef;
        }
        my $head = substr($c->{in}, 0, $end + 4, '');
        my $req = _parse_head($head, $max_body);
        return $req if $req->{error};
        $c->{req} = $req;
        $c->{out} .= "HTTP/1.1 100 Continue\r\n\r\n"
            if lc($req->{headers}{expect} // '') eq '100-continue' && $req->{pending};
    }
    my $req = $c->{req};
    my $done = $req->{framing} eq 'chunked' ? _take_chunked($c, $req, $max_body)
                                            : _take_fixed($c, $req);
    return $done if !$done || $done->{error};
    delete $c->{req};
    $req->{peer} = $c->{peer};
    return $req;
}

sub _parse_head {
    my ($head, $max_body) = @_;
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $target, $version) =
        ($line // '') =~ m{\A([A-Za-z]+) (\S+) HTTP/(1\.[01])\z}
        or return bad(400, 'bad request line');
    my %h;
    for (@lines) {
        my ($name, $value) = /\A([!#\$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*\z/s
            or return bad(400, 'bad header line');
        push @{ $h{ lc $name } }, $value;
    }
    my $req = {method => uc $method, target => $target, version => $version,
               headers => {map { $_ => join(', ', @{ $h{$_} }) } keys %h}, body => ''};
    my $te = $req->{headers}{'transfer-encoding'};
    my $cl = $req->{headers}{'content-length'};
    if (defined $te) {
        return bad(400, 'both Transfer-Encoding and Content-Length') if defined $cl;
        return bad(501, "unsupported Transfer-Encoding: $te") if lc $te ne 'chunked';
        @$req{qw(framing pending)} = ('chunked', 1);
    } elsif (defined $cl) {
        my %distinct = map { $_ => 1 } @{ $h{'content-length'} };
        return bad(400, 'bad Content-Length') if keys %distinct > 1 || $cl !~ /\A\d{1,12}\z/;
        return bad(413, 'body too large') if $cl > $max_body;
        @$req{qw(framing pending)} = ('length', $cl);
    } else {
        @$req{qw(framing pending)} = ('none', 0);
    }
    return $req;
}

sub _take_fixed {
    my ($c, $req) = @_;
    return undef if length $c->{in} < $req->{pending};
    $req->{body} = substr($c->{in}, 0, $req->{pending}, '');
    return $req;
}

sub _take_chunked {
    my ($c, $req, $max_body) = @_;
    while (1) {
        if ($req->{trailer}) {
            return $req if $c->{in} =~ s/\A\r\n//;
            my $end = index $c->{in}, "\r\n\r\n";
            if ($end < 0) {
                return length $c->{in} > MAX_HEAD ? bad(400, 'trailer too large') : undef;
            }
            substr($c->{in}, 0, $end + 4, '');
            return $req;
        }
        if (!$req->{chunk_left}) {
            my $eol = index $c->{in}, "\r\n";
            if ($eol < 0) {
                return length $c->{in} > 1024 ? bad(400, 'bad chunk size') : undef;
            }
            my $line = substr($c->{in}, 0, $eol + 2, '');
            my ($hex) = $line =~ /\A([0-9a-fA-F]{1,8})[ \t]*(?:;[^\r\n]*)?\r\n\z/
                or return bad(400, 'bad chunk size');
            my $size = hex $hex;
            if ($size == 0) { $req->{trailer} = 1; next }
            return bad(413, 'body too large')
                if length($req->{body}) + $size > $max_body;
            $req->{chunk_left} = $size;
        }
        return undef if length $c->{in} < $req->{chunk_left} + 2;
        $req->{body} .= substr($c->{in}, 0, $req->{chunk_left}, '');
        return bad(400, 'bad chunk end') unless $c->{in} =~ s/\A\r\n//;
        $req->{chunk_left} = 0;
    }
}

sub _bad { return {error => $_[0], reason => $_[1]} }

sub bad { return {error => $_[0], reason => $_[1]} }

sub keep_alive {
    my ($req) = @_;
    my $conn = lc($req->{headers}{connection} || '');
    return $conn !~ /\bclose\b/ if $req->{version} eq '1.1';
    return $conn =~ /\bkeep-alive\b/;
}

1;
