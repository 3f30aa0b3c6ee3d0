#!/bin/bash
# Signs a firmware image for an update over CoAPS (the format: modules/update/image.ts):
#   certs/sign-image.sh KEY.pem VERSION APP.bin OUT.img [CHIP]
# VERSION is major.minor.patch; APP.bin the ESP-IDF app image (mcconfig's build of
# this firmware); CHIP ESP-IDF's esp_chip_id_t (5, the ESP32-C3, by default).
# Writes the 128-byte header (magic, format, chip, version, payload length, SHA-256,
# the ECDSA P-256 signature of the first 48 bytes), then APP.bin.
set -euo pipefail
key=${1:?usage: sign-image.sh KEY.pem VERSION APP.bin OUT.img [CHIP]}
version=${2:?version major.minor.patch}
app=${3:?app image}
out=${4:?output}
chip=${5:-5}
IFS=. read -r major minor patch <<< "$version"
[[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ && "$patch" =~ ^[0-9]+$ && $major -le 65535 && $minor -le 255 && $patch -le 255 ]] || { echo "sign-image: version must be major.minor.patch" >&2; exit 2; }
number=$(( (major << 16) | (minor << 8) | patch ))
length=$(stat -c %s "$app")
byte() { printf "\\x$(printf %02x $(( $1 & 255 )))"; }
be16() { byte $(( $1 >> 8 )); byte "$1"; }
be32() { byte $(( $1 >> 24 )); byte $(( $1 >> 16 )); byte $(( $1 >> 8 )); byte "$1"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{ printf 'C3FW'; byte 1; byte 0; be16 "$chip"; be32 "$number"; be32 "$length"; openssl dgst -sha256 -binary "$app"; } > "$work/signed"
openssl dgst -sha256 -sign "$key" -out "$work/signature" "$work/signed"
size=$(stat -c %s "$work/signature")
{ cat "$work/signed"; byte "$size"; cat "$work/signature"; head -c $(( 72 - size + 7 )) /dev/zero; cat "$app"; } > "$out"
echo "signed $out: version $version, chip $chip, $length bytes of payload"
