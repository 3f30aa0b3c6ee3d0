#!/bin/sh
# Compile-checks bus.c without the Moddable SDK or ESP-IDF: the real xsmc.h/xs.h of
# the XS engine the simulator host uses (.cache/), stand-in headers for ESP-IDF and
# Moddable (include/ beside this script), host gcc with warnings as errors, then the RISC-V
# cross compiler (Debian gcc-riscv64-unknown-elf with picolibc-riscv64-unknown-elf) for the ESP32-C3's rv32imc ABI.
# It proves the C is well-formed against those declarations; not that it runs.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
source="$root/modules/sensors/esp32/bus.c"
xs=$(ls -d "$root"/.cache/xsnap-*/moddable/xs 2>/dev/null | head -n 1)
[ -n "$xs" ] || { echo "no XS sources in .cache: run npm run build first" >&2; exit 1; }
flags="-std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -I$here/include -I$xs/includes -I$xs/platforms"
gcc -fsyntax-only $flags -include stddef.h "$source"
echo "gcc -fsyntax-only: ok"
if command -v riscv64-unknown-elf-gcc >/dev/null; then
	riscv64-unknown-elf-gcc --specs=picolibc.specs -march=rv32imc_zicsr -mabi=ilp32 -Os -c -o /dev/null -include stddef.h $flags "$source"
	echo "riscv64-unknown-elf-gcc -march=rv32imc -mabi=ilp32 -c: ok"
else
	echo "riscv64-unknown-elf-gcc not installed: cross compile skipped (apt-get install gcc-riscv64-unknown-elf)"
fi
