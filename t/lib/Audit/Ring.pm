package Audit::Ring;

# The nginx the audit_ring tests (t/81, t/82) run: rings with a state
# directory, the JSON log, PostgreSQL with batches that wait (so events are
# only in memory when a process goes), the spool, an error tracker
# receiver and audit_status; a doctor's session for /patients/N.
#
#   my $s = Audit::Ring->setup(workers => 2, ring => '4m', flush => '8s',
#                              project => 5, key => 'killkey');
#   $s->{t}, $s->{rx}, $s->{tok}, $s->{log}, $s->status, $s->rows

use strict;
use warnings;
use JSON::PP ();
use Audit::Test;
use Audit::Token;
use Audit::Sentry;

sub setup {
    my ($class, %o) = @_;
    my $t = Audit::Test->new;
    my $dir = $t->dir;
    my $rx = Audit::Sentry->start($t, project => $o{project}, key => $o{key});
    my $writer = $t->audit_db;
    my $secret = "ring test secret for $o{key}, long enough";
    $t->file('hmac.key', $secret);
    mkdir "$dir/spool" or die "mkdir $dir/spool: $!\n";
    mkdir "$dir/ring" or die "mkdir $dir/ring: $!\n";
    my $tok = Audit::Token::hs256($secret, { sub => 'u-kim', role => 'doctor', sid => 's-9',
                                             exp => time + 3600 });
    my %vars = (CONN => $writer, DSN => $rx->dsn, RING => $o{ring}, FLUSH => $o{flush});
    $t->write_nginx_conf(<<'CONF', workers => $o{workers}, vars => \%vars);
    audit_zone audit:1m;
    audit_ring %%RING%% state=%%DIR%%/ring;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=10000 flush=%%FLUSH%%;
    audit_spool %%DIR%%/spool;
    audit_sentry_dsn %%DSN%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/patients/(\d+) { audit_record patient $1; proxy_pass http://%%PORTAL%%; }
        location = /_audit/status { audit_status; audit_public on; }
    }
CONF
    $t->start_portal;
    $t->start_nginx;
    return bless { t => $t, rx => $rx, tok => $tok, log => "$dir/audit.jsonl" }, $class;
}

sub status {
    my ($self) = @_;
    return JSON::PP::decode_json($self->{t}->request(GET => '/_audit/status',
                                 headers => { Accept => 'application/json' })->{content});
}

sub rows { $_[0]{t}->psql('SELECT count(*) FROM audit.events', db => 'audit') }

1;
