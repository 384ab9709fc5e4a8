package Audit::Checkpoint;

# Helpers for the signed-checkpoint tests (t/36-checkpoint.t,
# t/37-checkpoint-conf.t): Ed25519 keys from the openssl CLI, the offline
# verifier build/audit-verify, and what an attacker does to a JSON log:
# edit a line and recompute every later link of its chain.

use strict;
use warnings;
use Carp qw(croak);
use Digest::SHA qw(sha256_hex);
use IPC::Open3 qw(open3);
use JSON::PP;
use Symbol qw(gensym);

my $JSON = JSON::PP->new->canonical;

# openssl genpkey -algorithm ed25519: ($private_pem_path, $public_pem_path)
sub keypair {
    my ($dir, $name) = @_;
    my ($key, $pub) = ("$dir/$name.key", "$dir/$name.pub");
    system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out', $key) == 0
        or croak "openssl genpkey failed";
    system('openssl', 'pkey', '-in', $key, '-pubout', '-out', $pub) == 0
        or croak "openssl pkey -pubout failed";
    return ($key, $pub);
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or croak "$path: $!";
    local $/;
    return scalar <$fh>;
}

# Runs build/audit-verify with @args; returns (exit status, output).
sub verify {
    my ($root, @args) = @_;
    my $pid = open3(my $in, my $out, undef, "$root/build/audit-verify", @args);
    close $in;
    my $text = do { local $/; <$out> } // '';
    waitpid $pid, 0;
    return ($? >> 8, $text);
}

# The verdict line of one producer in audit-verify's output.
sub verdict {
    my ($out, $producer) = @_;
    my ($line) = grep { index($_, "$producer: ") == 0 } split /\n/, $out;
    return $line // '';
}

# Lines (without "\n") of a log; edits the line of $producer at $seq with
# $edit (a sub getting and returning the decoded event) and rehashes:
# every later line of that producer gets "prev" = SHA-256 of its new
# predecessor, members in the module's order kept by editing the text.
sub rehash {
    my ($lines, $producer, $seq, $edit) = @_;
    my @out;
    my $hash;
    for (@$lines) {
        my $line = $_;              # a copy: the caller's lines stay as they are
        my $e = JSON::PP->new->decode($line);
        if (($e->{producer} // '') eq $producer && $e->{seq} >= $seq) {
            if ($e->{seq} == $seq) {
                my $new = $edit->($line);
                croak 'rehash: the edit changed nothing' if $new eq $line;
                $line = $new;
            } elsif (defined $hash) {
                $line =~ s/"prev":"[0-9a-f]{64}"/"prev":"$hash"/ or croak 'rehash: no prev';
            }
            $hash = sha256_hex($line);
        }
        push @out, $line;
    }
    return @out;
}

1;
