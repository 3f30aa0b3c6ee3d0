#!/bin/sh
# Makes TEST certificates for DTLS certificate mode (ECDSA P-256, openssl), the way
# the usual openssl walkthroughs do it:
#
#   ca.crt / ca.key                 a test CA
#   server.crt / server.key         the node's certificate, signed by the CA: CN is the
#                                   first name given, subjectAltName holds every name
#                                   (DNS:) and address (IP:) given
#   client.crt / client.key         a client certificate signed by the CA (CN coap-client)
#   other-ca.crt / other-ca.key     a second, unrelated CA
#   other-client.crt / .key         a client certificate signed by the second CA
#   expired-client.crt / .key       a client certificate signed by the CA, expired in 2021
#   *.der                           the same certificates and keys in DER (smaller, no PEM
#                                   parser needed on the device)
#
# Usage: sh certs/make-test-certs.sh OUTDIR [NAME_OR_ADDRESS...]
#        (default names: 127.0.0.1 localhost)
#
# The keys are test keys: the tests make them in a scratch folder at run time and
# nothing here is ever committed (certs/.gitignore). For a real deployment make the CA
# on a machine you trust, keep ca.key off the device and out of the repository, and
# give each node its own key (certs/README.md).
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 OUTDIR [NAME_OR_ADDRESS...]" >&2
  exit 2
fi
out=$1
shift
[ $# -gt 0 ] || set -- 127.0.0.1 localhost
command -v openssl >/dev/null || { echo "$0: openssl is not installed" >&2; exit 1; }

mkdir -p "$out"
cd "$out"
umask 077   # private keys readable by their owner only

cn=$1
san=""
for name in "$@"; do
  case $name in
    *[!0-9.]* ) case $name in *:*) kind=IP ;; *) kind=DNS ;; esac ;;   # IPv6 literals have colons
    * ) kind=IP ;;
  esac
  san="${san:+$san,}$kind:$name"
done

key() {   # a P-256 key in PKCS#8 PEM (what mbedTLS, OpenSSL and GnuTLS all read)
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$1.key" 2>/dev/null
}

ca() {   # NAME SUBJECT: a self-signed CA certificate valid for 10 years
  key "$1"
  openssl req -new -x509 -sha256 -key "$1.key" -subj "$2" -days 3650 -out "$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
}

cat > extensions.cnf <<EOF
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
# the node is also a DTLS client (coaps:// telemetry, RD): its certificate serves both ways
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = $san
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
EOF

leaf() {   # NAME SUBJECT CA SECTION: a certificate valid for 2 years signed by CA
  key "$1"
  openssl req -new -sha256 -key "$1.key" -subj "$2" -out "$1.csr"
  openssl x509 -req -sha256 -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 730 -extfile extensions.cnf -extensions "$4" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr"
}

expired() {   # NAME SUBJECT CA: valid 2020-01-01 .. 2021-01-01 (openssl x509 cannot backdate; openssl ca can)
  key "$1"
  openssl req -new -sha256 -key "$1.key" -subj "$2" -out "$1.csr"
  mkdir -p expired-ca
  : > expired-ca/index.txt
  cat > expired-ca/ca.cnf <<EOF
[ca]
default_ca = test
[test]
database = expired-ca/index.txt
new_certs_dir = expired-ca
serial = expired-ca/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
EOF
  openssl rand -hex 8 > expired-ca/serial
  openssl ca -batch -config expired-ca/ca.cnf -cert "$3.crt" -keyfile "$3.key" -in "$1.csr" -out "$1.crt" -notext \
    -startdate 20200101000000Z -enddate 20210101000000Z -extfile extensions.cnf -extensions client 2>/dev/null
  rm -rf "$1.csr" expired-ca
}

ca ca "/CN=CoAP Test CA"
leaf server "/CN=$cn" ca server
leaf client "/CN=coap-client" ca client
ca other-ca "/CN=Other Test CA"
leaf other-client "/CN=coap-client" other-ca client
expired expired-client "/CN=expired-client" ca
rm -f extensions.cnf

for name in ca server client other-ca other-client expired-client; do
  openssl x509 -in "$name.crt" -outform DER -out "$name.der"
done
for name in server client; do
  openssl pkey -in "$name.key" -outform DER -out "$name-key.der"
done

echo "test certificates in $out: CA \"CoAP Test CA\", server CN=$cn subjectAltName=$san, clients coap-client (CA), coap-client (other CA), expired-client (expired)"
