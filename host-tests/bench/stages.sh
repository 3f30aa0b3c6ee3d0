#!/bin/sh
# Instructions per stage inside the host under callgrind, one line per stage: of a GET
# (stages.ts), or with the argument `fanout`, of an Observe fan-out (fanout.ts).
set -e
cd "$(dirname "$0")/../.."
node host-tests/cli.mjs build
out=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$out/cg" --dump-instr=no build/host/xshost -I host-tests/host/js -I build/ts/modules -I build/ts ./build/ts/host-tests/bench/${1:-stages}.js 2>/dev/null
for f in "$out"/cg.*; do
  label=$(sed -n 's/^desc: Trigger: Client Request: //p' "$f")
  total=$(sed -n 's/^summary: //p;s/^totals: //p' "$f" | head -1)
  n=${label##*x}
  [ -n "$label" ] && echo "$label: $((total / n)) instructions each"
done
rm -rf "$out"
