#!/bin/sh
#
# Regenerates the test vectors in this directory and the fuzz seed corpora
# with the openssl CLI.  The outputs are committed, so tests never need the
# CLI; rerun this only to change the vectors (keys are new random ones each
# time, so commit everything it writes together).
#
# Tokens expire at 4102444800 (2100-01-01); tests pass "now" explicitly.

set -eu

cd "$(dirname "$0")"

CORPUS=../../fuzz/corpus

umask 022

b64url() {
    base64 -w0 | tr '+/' '-_' | tr -d '='
}

hex2bin() {
    perl -e 'print pack("H*", $ARGV[0])' "$1"
}

# the 32 bytes of an ECDSA P-256 signature integer, left-padded
pad32() {
    printf '%064s' "$1" | tr ' ' 0
}


# keys

openssl genrsa -out rs1.key 2048 2>/dev/null
openssl genrsa -out rs2.key 2048 2>/dev/null
openssl genrsa -out rsa1024.key 1024 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out ec1.key
openssl ecparam -name prime256v1 -genkey -noout -out ec2.key
openssl ecparam -name secp384r1 -genkey -noout -out ec384.key

for k in rs1 rs2 rsa1024 ec1 ec2 ec384; do
    openssl pkey -in $k.key -pubout -out $k.pub
done

# the 1024-bit and P-384 private keys are not needed by any test
rm -f rsa1024.key ec384.key

# a printable secret of 48 bytes, stored with a final newline
openssl rand -hex 24 > hmac.key
printf '%s\n' "$(openssl rand -hex 16 | cut -c1-31)" > hmac31.key

cat rs1.pub ec1.pub > multi.pub

printf '{ garbage \001\377 that is long enough to be a secret\n' > garbage.txt


# JWKs

rsa_jwk() {    # file kid extra-members
    grep -q 'Exponent: 65537' <<EOF
$(openssl pkey -pubin -in "$1" -noout -text)
EOF
    n=$(hex2bin "$(openssl rsa -pubin -in "$1" -noout -modulus | cut -d= -f2)" \
        | b64url)
    printf '{"kty":"RSA","kid":"%s","n":"%s","e":"AQAB"%s}' "$2" "$n" "$3"
}

ec_jwk() {     # file kid crv coordinate-length extra-members
    openssl pkey -pubin -in "$1" -outform DER > ec.der
    len=$4
    x=$(tail -c $((2 * len)) ec.der | head -c "$len" | b64url)
    y=$(tail -c "$len" ec.der | b64url)
    rm -f ec.der
    printf '{"kty":"EC","kid":"%s","crv":"%s","x":"%s","y":"%s"%s}' \
        "$2" "$3" "$x" "$y" "$5"
}

oct_jwk() {    # secret-file kid
    k=$(tr -d '\n' < "$1" | b64url)
    printf '{"kty":"oct","kid":"%s","k":"%s","alg":"HS256"}' "$2" "$k"
}

{
    printf '{"keys":[\n'
    printf '%s,\n' "$(oct_jwk hmac.key hs1)"
    printf '%s,\n' "$(rsa_jwk rs1.pub rs1 ',"use":"sig","alg":"RS256"')"
    printf '%s,\n' "$(rsa_jwk rs2.pub rs2 ',"key_ops":["verify"]')"
    printf '%s,\n' "$(ec_jwk ec1.pub ec1 P-256 32 ',"use":"sig","alg":"ES256"')"
    printf '%s,\n' "$(ec_jwk ec2.pub ec2 P-256 32 '')"
    printf '%s,\n' "$(rsa_jwk rs1.pub enc1 ',"use":"enc"')"
    printf '%s,\n' "$(rsa_jwk rs2.pub ops1 ',"key_ops":["encrypt"]')"
    printf '%s,\n' "$(rsa_jwk rs2.pub ps1 ',"alg":"PS256"')"
    printf '{"kty":"OKP","kid":"okp1","crv":"Ed25519","x":"AAAA"}\n'
    printf ']}\n'
} > jwks.json

printf '{"keys":[%s]}\n' "$(rsa_jwk rs1.pub enc1 ',"use":"enc"')" \
    > jwks-enc-only.json
printf '{"keys":[%s,\n%s]}\n' "$(rsa_jwk rs1.pub dup '')" \
    "$(ec_jwk ec1.pub dup P-256 32 '')" > jwks-dup-kid.json
printf '{"keys":[%s]}\n' "$(rsa_jwk rsa1024.pub small '')" \
    > jwks-rsa1024.json
printf '{"keys":[%s]}\n' "$(ec_jwk ec384.pub p384 P-384 48 '')" \
    > jwks-p384.json
printf '{"keys":[%s]}\n' "$(oct_jwk hmac31.key short)" > jwks-hmac31.json
printf '{"keys":[%s]}\n' "$(rsa_jwk rs1.pub rs1 ',"alg":"ES256"')" \
    > jwks-alg-mismatch.json


# tokens

PAYLOAD='{"iss":"https://issuer.example","aud":["audit","other"],'\
'"sub":"alice","role":["admin","ops"],"sid":"s-123","iat":1700000000,'\
'"exp":4102444800}'

hs_sign() {
    openssl dgst -sha256 -mac HMAC -macopt key:"$(tr -d '\n' < hmac.key)" \
        -binary
}

rs_sign() {
    openssl dgst -sha256 -sign "$1" -binary
}

# ES256 wants r||s of 32 bytes each, openssl dgst gives DER
es_sign_raw() {
    openssl dgst -sha256 -sign "$1" -binary > sig.der
    set -- $(openssl asn1parse -inform DER -in sig.der \
             | sed -n 's/.*prim: INTEGER *://p')
    rm -f sig.der
    hex2bin "$(pad32 "$1")$(pad32 "$2")"
}

token() {     # output header signer signer-arg
    input="$(printf '%s' "$2" | b64url).$(printf '%s' "$PAYLOAD" | b64url)"
    sig=$(printf '%s' "$input" | $3 ${4:-} | b64url)
    printf '%s.%s' "$input" "$sig" > "$1"
}

token hs256.jwt '{"alg":"HS256","typ":"JWT","kid":"hs1"}' hs_sign
token hs256-nokid.jwt '{"alg":"HS256","typ":"JWT"}' hs_sign
token rs256.jwt '{"alg":"RS256","typ":"JWT","kid":"rs1"}' rs_sign rs1.key
token rs256-nokid.jwt '{"alg":"RS256","typ":"JWT"}' rs_sign rs1.key
token rs256-kid-rs1-by-rs2.jwt '{"alg":"RS256","typ":"JWT","kid":"rs1"}' \
    rs_sign rs2.key
token es256.jwt '{"alg":"ES256","typ":"JWT","kid":"ec1"}' es_sign_raw ec1.key
token es256-nokid.jwt '{"alg":"ES256","typ":"JWT"}' es_sign_raw ec1.key
token es256-der.jwt '{"alg":"ES256","typ":"JWT","kid":"ec1"}' rs_sign ec1.key


# fuzz seeds: tokens as they are, and "J" + header + NUL + payload for the
# mode of fuzz_jws that signs what it is given

mkdir -p $CORPUS/jws $CORPUS/keys

for t in *.jwt; do
    cp "$t" "$CORPUS/jws/$t"
done

printf 'J{"alg":"HS256","kid":"hs1"}\0%s' "$PAYLOAD" > $CORPUS/jws/sign-kid
printf 'J{"alg":"HS256","typ":"JWT"}\0%s' "$PAYLOAD" > $CORPUS/jws/sign-nokid
printf 'J{"alg":"HS256"}\0{"exp":1.5e9,"nbf":2e9,"sub":7,"aud":"audit"}' \
    > $CORPUS/jws/sign-times

for k in jwks.json jwks-dup-kid.json jwks-p384.json multi.pub rsa1024.pub \
         hmac.key ec1.pub
do
    cp "$k" "$CORPUS/keys/$k"
done
