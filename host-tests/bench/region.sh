#!/bin/sh
# Instructions per GET inside the region marked with globalThis.__region?.() (region.ts), under callgrind.
set -e
cd "$(dirname "$0")/../.."
node host-tests/cli.mjs build
out=$(mktemp -d)
valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out/cg" --dump-instr=no build/host/xshost -I host-tests/host/js -I build/ts/modules -I build/ts ./build/ts/host-tests/bench/region.js 2>/dev/null
total=$(sed -n 's/^summary: //p;s/^totals: //p' "$out"/cg* | head -1)
echo "region: $((total / 2000)) instructions per GET (a toggle pair itself costs about 1,000)"
rm -rf "$out"
