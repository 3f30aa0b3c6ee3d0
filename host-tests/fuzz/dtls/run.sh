#!/bin/sh
# Builds and runs the libFuzzer harness of the DTLS binding's record input
# (fuzz-dtls.c, README.md beside it) under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   sh host-tests/fuzz/dtls/run.sh short [SECONDS]   bounded run for npm test (default 20 s)
#   sh host-tests/fuzz/dtls/run.sh long [RUNS]       npm run fuzz:dtls (default 1,000,000 executions)
#   sh host-tests/fuzz/dtls/run.sh build             build only
#   sh host-tests/fuzz/dtls/run.sh replay FILE...    run inputs once (a crash artifact, a corpus file)
#
# Needs clang and its compiler-rt sanitizer and libFuzzer runtimes (Debian 12: clang,
# libclang-rt-14-dev) and libmbedtls-dev. Without them it prints "fuzz-dtls: SKIP: ..."
# and exits 77. Everything it makes goes to build/fuzz/dtls/: the binaries, the seeds
# (made afresh by make-seeds from the binding's own client), the corpus the fuzzer
# grows (kept between runs), and crash artifacts. The last line is a summary:
#   fuzz-dtls: done: runs N, exec/s N, cov N, ft N, corpus N, new units N, peak RSS N MB, findings N
# A finding exits non-zero with the sanitizer's report and the artifact's path above it.
set -eu

mode=${1:-short}
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/host-tests/fuzz/dtls"
out="$root/build/fuzz/dtls"
CC=${FUZZ_CC:-clang}

skip() {
	echo "fuzz-dtls: SKIP: $1"
	exit 77
}

command -v "$CC" >/dev/null 2>&1 || skip "$CC not found (Debian: apt-get install clang libclang-rt-14-dev)"
[ -f /usr/include/mbedtls/ssl.h ] || skip "Mbed TLS headers not found (Debian: libmbedtls-dev)"

mkdir -p "$out/seeds" "$out/corpus" "$out/artifacts"

sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
flags="-g -O1 -I$here -Wall -Wextra -Wno-unused-parameter"
libs="-lmbedtls -lmbedx509 -lmbedcrypto"
sources="$here/fuzz-dtls.c $here/xsmc-shim.c"
# the binding's C files, compiled unchanged; its DRBG seeds from the harness's fixed entropy source
binding=$(ls "$root"/modules/dtls-psk/*.c)
bindingFlags="-Dmbedtls_entropy_func=fuzzEntropy"

# rebuilt when the harness, the shim or the binding changed
stale() {
	[ ! -x "$1" ] && return 0
	for f in $sources "$here/xsmc.h" $binding "$root/modules/dtls-psk/dtls.h" "$here/run.sh"; do
		[ "$f" -nt "$1" ] && return 0
	done
	return 1
}

if stale "$out/fuzz-dtls"; then
	# probe the libFuzzer runtime first, so a missing libclang-rt is a skip, not a failure
	probe="$out/probe.c"
	printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t* d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe"
	"$CC" -fsanitize=fuzzer,address,undefined -o "$out/probe" "$probe" >/dev/null 2>&1 ||
		skip "$CC cannot link -fsanitize=fuzzer,address,undefined (Debian: apt-get install libclang-rt-14-dev)"
	rm -f "$probe" "$out/probe"
	# shellcheck disable=SC2086
	"$CC" $flags $sanitizers $bindingFlags -DFUZZ_MAKE_SEEDS -o "$out/make-seeds" $sources $binding $libs
	# shellcheck disable=SC2086
	"$CC" $flags $sanitizers $bindingFlags -fsanitize=fuzzer -o "$out/fuzz-dtls" $sources $binding $libs
	rm -f "$out"/seeds/*
fi
if [ -z "$(ls -A "$out/seeds")" ]; then
	"$out/make-seeds" "$out/seeds" >"$out/seeds.log"
fi

[ "$mode" = build ] && { cat "$out/seeds.log"; exit 0; }

if [ "$mode" = replay ]; then
	shift
	exec "$out/fuzz-dtls" "$@"
fi

case "$mode" in
short) limit="-max_total_time=${2:-20}" ;;
long) limit="-runs=${2:-1000000} -max_total_time=${FUZZ_MAX_SECONDS:-3600}" ;;
*) echo "usage: run.sh short [SECONDS] | long [RUNS] | build | replay FILE..." >&2; exit 64 ;;
esac

log="$out/$mode.log"
status=0
# -timeout: an input slower than 10 s is a finding (a hang); -rss_limit_mb bounds memory
# shellcheck disable=SC2086
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"$out/fuzz-dtls" $limit -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -max_len=4096 \
	-artifact_prefix="$out/artifacts/" "$out/corpus" "$out/seeds" >"$log" 2>&1 || status=$?

done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
[ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1 || true)
stat() { sed -n "s/^stat::$1:[[:space:]]*//p" "$log" | tail -1; }
field() { echo "$done_line" | sed -n "s/.* $1: \([0-9]*\).*/\1/p"; }
findings=$(grep -cE '^==[0-9]+==ERROR|runtime error:|^SUMMARY: (Address|Undefined|Leak)Sanitizer|deadly signal|libFuzzer: timeout' "$log" || true)
if [ "$status" -ne 0 ]; then
	grep -E 'ERROR|runtime error|SUMMARY|artifact|Test unit written|deadly|timeout|fuzz-dtls:' "$log" | head -20
	echo "(full log: $log)"
fi
corpus=$(ls "$out/corpus" | wc -l)
echo "fuzz-dtls: seeds: $(wc -l <"$out/seeds.log") recorded conversations, $(grep -c " [1-9][0-9]* application" "$out/seeds.log") of them replay to application data"
echo "fuzz-dtls: done: runs $(stat number_of_executed_units), exec/s $(stat average_exec_per_sec), cov $(field cov), ft $(field ft), corpus $corpus, new units $(stat new_units_added), peak RSS $(stat peak_rss_mb) MB, findings $findings, status $status"
exit "$status"
