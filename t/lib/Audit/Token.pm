package Audit::Token;

=head1 NAME

Audit::Token - mint session tokens (JWS compact form) for the tests

=head1 SYNOPSIS

    use Audit::Token;
    my $hs  = Audit::Token::hs256('secret', {sub => 'u1', exp => time + 60},
                                  {kid => 'k1'});
    my $key = Audit::Token::gen_ec($dir, 'ec1');
    my $es  = Audit::Token::es256($key->{private}, {sub => 'u1'}, {kid => 'ec1'});
    my $bad = Audit::Token::raw('{"alg":"none"}', '{"sub":"x"}', '');
    my $set = Audit::Token::jwks($key->{jwk});

Headers and payloads are encoded as canonical JSON (sorted keys), so the
same input always gives the same token (RS256 and HS256 are deterministic;
ECDSA signatures are not). Asymmetric signing uses the C<openssl> CLI.

=cut

use strict;
use warnings;
use Carp qw(croak);
use Digest::SHA qw(hmac_sha256);
use File::Temp ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);

my $JSON = JSON::PP->new->utf8->canonical;

# --- encoding ---------------------------------------------------------------

sub b64url {
    my ($bytes) = @_;
    my $s = encode_base64($bytes, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+\z//;
    return $s;
}

sub b64url_decode {
    my ($s) = @_;
    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}

sub encode_json_canonical { return $JSON->encode($_[0]) }

# header.payload, both canonical JSON; $extra may override alg/typ too
# (useful for hostile tokens such as alg "none").
sub _signing_input {
    my ($alg, $payload, $extra) = @_;
    my %header = (alg => $alg, typ => 'JWT', %{ $extra || {} });
    return b64url($JSON->encode(\%header)) . '.' . b64url($JSON->encode($payload));
}

# --- signing ----------------------------------------------------------------

sub hs256 {
    my ($secret, $payload, $extra) = @_;
    my $input = _signing_input('HS256', $payload, $extra);
    return $input . '.' . b64url(hmac_sha256($input, $secret));
}

sub rs256 {
    my ($pem, $payload, $extra) = @_;
    my $input = _signing_input('RS256', $payload, $extra);
    return $input . '.' . b64url(openssl_sign($pem, $input));
}

sub es256 {
    my ($pem, $payload, $extra) = @_;
    my $input = _signing_input('ES256', $payload, $extra);
    return $input . '.' . b64url(ecdsa_der_to_raw(openssl_sign($pem, $input)));
}

# A token from literal parts, for hostile input: nothing is checked.
sub raw {
    my ($header_json, $payload_json, $sig) = @_;
    return join '.', b64url($header_json), b64url($payload_json),
        b64url(defined $sig ? $sig : '');
}

# `openssl dgst -sha256 -sign` over $data; returns the signature bytes
# (PKCS#1 v1.5 for RSA, DER ECDSA-Sig-Value for EC).
sub openssl_sign {
    my ($pem, $data) = @_;
    my $tmp = File::Temp->newdir;
    my ($in, $out) = ("$tmp/in", "$tmp/sig");
    _write_file($in, $data);
    _openssl('dgst', '-sha256', '-sign', $pem, '-out', $out, $in);
    return _read_file($out);
}

# --- ECDSA signature formats --------------------------------------------------

# DER SEQUENCE { INTEGER r, INTEGER s } -> r || s, 32 bytes each (JWS form).
sub ecdsa_der_to_raw {
    my ($der) = @_;
    my ($pos, $seq_len) = _der_header($der, 0, 0x30);
    my @ints;
    for (1 .. 2) {
        my ($start, $len) = _der_header($der, $pos, 0x02);
        my $int = substr($der, $start, $len);
        $int =~ s/\A\x00+//;
        croak 'ECDSA integer longer than 32 bytes' if length $int > 32;
        push @ints, ("\x00" x (32 - length $int)) . $int;
        $pos = $start + $len;
    }
    return join '', @ints;
}

# r || s -> DER, for checking a JWS signature with `openssl dgst -verify`.
sub ecdsa_raw_to_der {
    my ($raw) = @_;
    croak 'raw ECDSA signature must be 64 bytes' unless length $raw == 64;
    my $body = join '', map { _der_int(substr($raw, $_, 32)) } 0, 32;
    return "\x30" . _der_len(length $body) . $body;
}

sub _der_int {
    my ($bytes) = @_;
    $bytes =~ s/\A\x00+//;
    $bytes = "\x00" . $bytes if $bytes eq '' || ord($bytes) & 0x80;
    return "\x02" . _der_len(length $bytes) . $bytes;
}

sub _der_len {
    my ($n) = @_;
    return chr($n) if $n < 0x80;
    my $b = pack('N', $n);
    $b =~ s/\A\x00+//;
    return chr(0x80 | length $b) . $b;
}

# Returns (offset of content, content length) of the element at $pos,
# checking its tag.
sub _der_header {
    my ($der, $pos, $tag) = @_;
    croak sprintf('DER: expected tag 0x%02x at %d', $tag, $pos)
        unless $pos < length $der && ord(substr $der, $pos, 1) == $tag;
    my $len = ord(substr $der, $pos + 1, 1);
    $pos += 2;
    if ($len & 0x80) {
        my $n = $len & 0x7f;
        $len = 0;
        $len = ($len << 8) | ord(substr $der, $pos++, 1) for 1 .. $n;
    }
    croak 'DER: truncated' if $pos + $len > length $der;
    return ($pos, $len);
}

# --- keys -------------------------------------------------------------------

# RSA key pair in $dir/$name.key (PKCS#8) and $dir/$name.pub (SPKI PEM).
sub gen_rsa {
    my ($dir, $name, $bits) = @_;
    $bits ||= 2048;
    my $key = "$dir/$name.key";
    _openssl('genpkey', '-quiet', '-algorithm', 'RSA', '-pkeyopt', "rsa_keygen_bits:$bits",
        '-out', $key);
    my $pub  = _pubout($key, "$dir/$name.pub");
    my $text = _key_text($pub);
    my ($mod) = $text =~ /^Modulus:\s*\n((?:\s+[0-9a-f:]+\n)+)/m
        or croak "no modulus in openssl output for $pub";
    my ($exp) = $text =~ /^Exponent:\s*(\d+)/m
        or croak "no exponent in openssl output for $pub";
    my $e = pack('N', $exp);
    $e =~ s/\A\x00+//;
    return {
        private => $key,
        public  => $pub,
        jwk     => {kty => 'RSA', kid => $name, n => b64url(_hex_block($mod)),
                    e => b64url($e)},
    };
}

# P-256 key pair, same layout as gen_rsa.
sub gen_ec {
    my ($dir, $name) = @_;
    my $key = "$dir/$name.key";
    _openssl('genpkey', '-quiet', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
        '-out', $key);
    my $pub  = _pubout($key, "$dir/$name.pub");
    my $text = _key_text($pub);
    my ($hex) = $text =~ /^pub:\s*\n((?:\s+[0-9a-f:]+\n)+)/m
        or croak "no public point in openssl output for $pub";
    my $point = _hex_block($hex, 1);
    croak 'expected an uncompressed P-256 point'
        unless length $point == 65 && substr($point, 0, 1) eq "\x04";
    return {
        private => $key,
        public  => $pub,
        jwk     => {kty => 'EC', kid => $name, crv => 'P-256',
                    x => b64url(substr $point, 1, 32),
                    y => b64url(substr $point, 33, 32)},
    };
}

# JWK of a shared HMAC secret.
sub oct_jwk {
    my ($secret, $kid) = @_;
    return {kty => 'oct', k => b64url($secret), (defined $kid ? (kid => $kid) : ())};
}

sub jwks { return $JSON->encode({keys => [@_]}) }

sub _pubout {
    my ($key, $pub) = @_;
    _openssl('pkey', '-in', $key, '-pubout', '-out', $pub);
    return $pub;
}

sub _key_text {
    my ($pub) = @_;
    my $tmp = File::Temp->newdir;
    _openssl('pkey', '-pubin', '-in', $pub, '-text', '-noout', '-out', "$tmp/t");
    return _read_file("$tmp/t");
}

# "00:c3:1f:..." spread over lines -> bytes; leading zero bytes are dropped
# (big-endian unsigned integer) unless $keep_zeros.
sub _hex_block {
    my ($text, $keep_zeros) = @_;
    (my $hex = $text) =~ s/[^0-9a-f]//g;
    my $bytes = pack('H*', $hex);
    $bytes =~ s/\A\x00+// unless $keep_zeros;
    return $bytes;
}

# --- files and processes ------------------------------------------------------

sub _openssl {
    my @cmd = ('openssl', @_);
    system(@cmd) == 0 or croak "failed ($?): @cmd";
}

sub _write_file {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or croak "$path: $!";
    print {$fh} $data;
    close $fh or croak "$path: $!";
}

sub _read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or croak "$path: $!";
    local $/;
    return scalar <$fh>;
}

1;
