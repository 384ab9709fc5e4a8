# README.md's configuration is a whole nginx.conf that nginx -t accepts:
# taken from the README as it is, with the production paths and hosts
# replaced the way t/60-demo.t does for examples/nginx.conf
# (Audit::Test::production_conf: files under the temp dir, db.internal and
# sentry.clinic.example as loopback names).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;

my $t = Audit::Test->new;

# the indented block after "## A configuration", unindented
my $readme = do {
    open my $fh, '<', $t->repo_root . '/README.md' or die "README.md: $!";
    local $/;
    <$fh>;
};
my ($section) = $readme =~ /^## A configuration\n(.*?)^## /ms;
ok(defined $section, 'README.md has "## A configuration"') or BAIL_OUT('no section');
my ($block) = $section =~ /^((?: {4}.*\n)(?:(?: {4}.*)?\n)*)/m;
$block =~ s/\n+\z/\n/;
$block =~ s/^ {4}//mg;
like($block, qr/\Aload_module modules\/ngx_http_audit_module\.so;\n/, 'it starts with load_module');

for my $want (qr/^events \{/m, qr/^http \{/m, qr/^\s*user\s+www-data;/m,
              qr/^\s*listen 443 ssl;/m, qr/^\s*ssl_certificate\s/m, qr/^\s*ssl_certificate_key\s/m,
              qr/keepalive \d+;/, qr/^\s*proxy_http_version 1\.1;/m,
              qr/^\s*proxy_set_header Connection "";/m,
              qr/^\s*audit_pg\s/m, qr/^\s*audit_spool\s/m, qr/^\s*audit_sentry_dsn\s/m) {
    like($block, $want, "has $want");
}

my $prod = $t->production_conf($block, name => 'readme');
ok($prod->{replaced}{$_}, "$_ replaced") for (
    'modules/ngx_http_audit_module.so', '/etc/nginx/audit/', '/etc/ssl/clinic/',
    '/var/log/nginx/', '/var/lib/nginx/audit-spool',
    '@sentry.clinic.example/', 'host=db.internal ');
is("@{ $prod->{left} }", '', 'no production path is left');

my ($ok, $out) = $t->nginx_test_file($t->file('readme/nginx.conf', $prod->{conf}));
ok($ok, 'nginx -t accepts the README configuration') or diag "$out\n$prod->{conf}";
# (not as root, nginx says it ignores "user": true, and not the README's fault)
unlike($out =~ s/^.*"user" directive makes sense only.*\n//mr, qr/\[(?:warn|emerg|alert)\]/,
       '... without a warning') or diag $out;

$t->stop_all_and_check;
done_testing;
