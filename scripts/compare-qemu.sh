#!/usr/bin/env bash
# Runs the Multiboot system guests (guests/mb/) under reprise and under QEMU
# (qemu-system-x86_64 -kernel, TCG) and compares them: serial output (only line endings
# normalised) and exit status must be identical, and the status must be 33 (PASS: the
# guest wrote 0x10 to isa-debug-exit). Prints a table; exits non-zero on any
# difference or failure. See docs/boot.md, "Comparing with QEMU".
#
# usage: scripts/compare-qemu.sh [--no-install] [--timeout SECONDS] [--keep DIR] [GUEST...]
#   --no-install   do not install QEMU with apt-get when qemu-system-x86_64 is missing
#   --timeout S    per-run time limit (default 60)
#   --keep DIR     keep each run's serial output and stderr in DIR
#   GUEST...       a subset of: elf32_hello mb_info ring3_syscall page_fault apic_timer pit_timer rtc pci_scan
set -u

ALL_GUESTS="elf32_hello mb_info ring3_syscall page_fault apic_timer pit_timer rtc pci_scan"
INSTALL=1
TIMEOUT=60
KEEP=""
GUESTS=""
MEMORY=128
PASS_STATUS=33

while [ $# -gt 0 ]; do
    case "$1" in
        --no-install) INSTALL=0 ;;
        --timeout) TIMEOUT="$2"; shift ;;
        --keep) KEEP="$2"; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        -*) echo "compare-qemu: unknown option $1 (try --help)" >&2; exit 2 ;;
        *) GUESTS="$GUESTS $1" ;;
    esac
    shift
done
[ -n "$GUESTS" ] || GUESTS="$ALL_GUESTS"

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    if [ "$INSTALL" = 1 ]; then
        echo "compare-qemu: installing QEMU (apt-get install qemu-system-x86)" >&2
        SUDO=""
        [ "$(id -u)" = 0 ] || SUDO=sudo
        $SUDO apt-get install -y qemu-system-x86 >/dev/null || {
            echo "compare-qemu: could not install qemu-system-x86; install it or pass --no-install" >&2
            exit 2
        }
    else
        echo "compare-qemu: qemu-system-x86_64 not found (and --no-install given)" >&2
        exit 2
    fi
fi

echo "compare-qemu: building reprise and the guests (cargo build)" >&2
OUT_DIR=$(cargo build --message-format=json 2>/dev/null | python3 -c '
import json, sys
out = ""
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "build-script-executed" and "#reprise@" in m.get("package_id", ""):
        out = m.get("out_dir", "")
print(out)
' 2>/dev/null)
if [ -z "$OUT_DIR" ] || [ ! -d "$OUT_DIR/guests" ]; then
    cargo build >/dev/null 2>&1 || { echo "compare-qemu: cargo build failed" >&2; exit 2; }
    OUT_DIR=$(ls -td target/debug/build/reprise-*/out 2>/dev/null | while read -r d; do
        [ -f "$d/guests/mb_info.elf" ] && { echo "$d"; break; }; done)
fi
GDIR="$OUT_DIR/guests"
REPRISE="$ROOT/target/debug/reprise"
if [ ! -f "$GDIR/mb_info.elf" ] || [ ! -x "$REPRISE" ]; then
    echo "compare-qemu: cannot find the built guests or target/debug/reprise" >&2
    exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
[ -n "$KEEP" ] && mkdir -p "$KEEP"

# Paths are given relative to the repository root, identically to both, so the
# command lines the guests see are the same.
cp "$GDIR"/*.elf "$WORK"/ || exit 2
ln -s "$WORK" "$ROOT/target/mb-guests.$$" || exit 2
trap 'rm -rf "$WORK" "$ROOT/target/mb-guests.$$"' EXIT
KDIR="target/mb-guests.$$"
MODULE="guests/mb/module.txt"

printf '%-15s %-8s %-8s %s\n' guest qemu reprise result
FAILED=0
for g in $GUESTS; do
    k="$KDIR/$g.elf"
    if [ ! -f "$k" ]; then
        printf '%-15s %-8s %-8s %s\n' "$g" - - "unknown guest"
        FAILED=1
        continue
    fi
    rargs=(); qargs=()
    if [ "$g" = mb_info ]; then
        rargs=(--append "mbtest=ok second=2" --module "$MODULE,modarg=7")
        qargs=(-append "mbtest=ok second=2" -initrd "$MODULE modarg=7")
    fi
    # QEMU's default VGA and NIC would show up in the PCI scan; reprise has neither.
    if [ "$g" = pci_scan ]; then qargs=(-vga none -nic none); fi
    timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -m "$MEMORY" -display none \
        -monitor none -no-reboot -serial "file:$WORK/$g.qemu.raw" \
        -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$k" "${qargs[@]}" \
        >"$WORK/$g.qemu.err" 2>&1
    qs=$?
    timeout "$TIMEOUT" "$REPRISE" run --memory "$MEMORY" --kernel "$k" "${rargs[@]}" \
        >"$WORK/$g.reprise.raw" 2>"$WORK/$g.reprise.err"
    rs=$?
    tr -d '\r' <"$WORK/$g.qemu.raw" >"$WORK/$g.qemu.out" 2>/dev/null
    tr -d '\r' <"$WORK/$g.reprise.raw" >"$WORK/$g.reprise.out"
    if [ "$qs" = 124 ]; then qshow=timeout; else qshow=$qs; fi
    if [ "$rs" = 124 ]; then rshow=timeout; else rshow=$rs; fi
    if ! cmp -s "$WORK/$g.qemu.out" "$WORK/$g.reprise.out"; then
        result="output differs"
        FAILED=1
    elif [ "$qs" != "$rs" ]; then
        result="status differs"
        FAILED=1
    elif [ "$qs" != "$PASS_STATUS" ]; then
        result="same, but not PASS"
        FAILED=1
    else
        result="same, PASS"
    fi
    printf '%-15s %-8s %-8s %s\n' "$g" "$qshow" "$rshow" "$result"
    if [ "$result" != "same, PASS" ]; then
        diff -u --label "qemu $g" --label "reprise $g" "$WORK/$g.qemu.out" "$WORK/$g.reprise.out" \
            | sed -n '1,40p' | sed 's/^/    /'
        grep -v '^reprise: [0-9]* instructions' "$WORK/$g.reprise.err" | sed -n '1,5p' | sed 's/^/    /'
    fi
    [ -n "$KEEP" ] && cp "$WORK/$g".* "$KEEP"/
done
exit $FAILED
