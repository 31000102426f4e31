#!/usr/bin/env bash
# Certificates for the private broker's TLS listener and the TLS tests, made with Debian's openssl:
#
#   scripts/tls-certs.sh DIR     make DIR/{ca,server,client,stranger-ca}.{pem,key} unless they are there and valid
#                                for another day; prints nothing on success
#
#   ca.pem / ca.key              the test CA: it signs the broker's certificate and the client certificate
#   server.pem / server.key      the broker: CN localhost, subjectAltName IP:127.0.0.1 and DNS:localhost
#   client.pem / client.key      a client certificate from the same CA (mutual TLS)
#   stranger-ca.pem              a CA that signed nothing the broker uses: a client that trusts only it must be refused
#
# For tests on loopback only: the keys are unencrypted and the CA is thrown away with DIR. Never use these files for a
# real broker. Readable by the rabbitmq user (the broker reads server.key as that user).
set -euo pipefail

dir=${1:?usage: tls-certs.sh DIR}
days=30

say() { printf 'tls-certs: %s\n' "$*" >&2; }

# Valid for at least another day and signed by the CA beside it: then nothing is made again.
current() {
    local f
    for f in ca stranger-ca server client; do
        [[ -s $dir/$f.pem && -s $dir/$f.key ]] || return 1
        openssl x509 -checkend 86400 -noout -in "$dir/$f.pem" >/dev/null 2>&1 || return 1
    done
    openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" "$dir/client.pem" >/dev/null 2>&1
}

mkdir -p "$dir"
current && exit 0
command -v openssl >/dev/null || { say "openssl is missing (Debian package openssl)"; exit 1; }

work=$(mktemp -d "$dir/.make.XXXXXX")
trap 'rm -rf "$work"' EXIT
quiet() { "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; }

# Two self-signed CAs.
for ca in ca stranger-ca; do
    quiet openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=cloudbus-worker test $ca" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$work/$ca.key" -out "$work/$ca.pem"
done

# A leaf signed by the test CA: $1 name, $2 extensions.
leaf() {
    quiet openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$work/$1.key" -out "$work/$1.csr"
    printf '%s\n' "$2" >"$work/$1.ext"
    quiet openssl x509 -req -in "$work/$1.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
        -days "$days" -extfile "$work/$1.ext" -out "$work/$1.pem"
}
leaf server $'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost' localhost
leaf client $'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth' cloudbus-worker-test-client

for f in ca stranger-ca server client; do
    mv -f "$work/$f.pem" "$work/$f.key" "$dir/"
done
chmod 0755 "$dir"
chmod 0644 "$dir"/*.pem "$dir"/*.key
if id rabbitmq >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then chown -R rabbitmq:rabbitmq "$dir"; fi
current || { say "the certificates in $dir do not verify after making them"; exit 1; }
