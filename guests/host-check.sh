#!/usr/bin/env bash
# Builds every guest as a Linux process (RT_HOST: serial -> write(2), exit -> exit(2))
# and runs it on the host CPU: checks the guests themselves, independent of reprise.
# Usage: guests/host-check.sh [program ...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/../target/guests-host}
mkdir -p "$out"
flags=(${OPT:--O2} -ffreestanding -nostdlib -static -fno-pic -no-pie -mno-red-zone
       -fno-stack-protector -march=x86-64 -fno-asynchronous-unwind-tables -DRT_HOST -I"$here/rt")
progs=("$@")
[ ${#progs[@]} -eq 0 ] && progs=(intmath sort crc32 sha256 strings sse x87 recursion smc demo)
gcc "${flags[@]}" -c "$here/rt/crt0.S" -o "$out/crt0.o"
gcc "${flags[@]}" -mgeneral-regs-only -fno-tree-loop-distribute-patterns -c "$here/rt/rt.c" -o "$out/rt.o"
fail=0
for p in "${progs[@]}"; do
    gcc "${flags[@]}" -c "$here/$p.c" -o "$out/$p.o"
    gcc "${flags[@]}" -Wl,--no-warn-rwx-segments -Wl,--build-id=none -Wl,-T,"$here/link.ld" -o "$out/$p" "$out/crt0.o" "$out/rt.o" "$out/$p.o" -lgcc
    if "$out/$p"; then echo "== $p: exit 0"; else echo "== $p: exit $?"; fail=1; fi
done
exit $fail
