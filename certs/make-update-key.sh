#!/bin/bash
# Makes the key pair that signs firmware images (ECDSA P-256, with openssl):
#   certs/make-update-key.sh DIR
# writes DIR/update-signing.key.pem (the private key: keep it off the node and out of
# any repository) and DIR/update-signing.pub.hex (the 65-byte public key, uncompressed
# point, as hex: what the firmware is built with to check images).
set -euo pipefail
dir=${1:?usage: make-update-key.sh DIR}
mkdir -p "$dir"
umask 077
openssl ecparam -name prime256v1 -genkey -noout -out "$dir/update-signing.key.pem"
# the public key's DER ends with the 65-byte point
openssl ec -in "$dir/update-signing.key.pem" -pubout -outform DER 2>/dev/null | tail -c 65 | od -An -v -tx1 | tr -d ' \n' > "$dir/update-signing.pub.hex"
echo "update key: $dir/update-signing.key.pem (private), $dir/update-signing.pub.hex (public: $(cut -c1-16 "$dir/update-signing.pub.hex")...)"
