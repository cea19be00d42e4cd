//! Builds the guests in guests/ with the system gcc into $OUT_DIR/guests/NAME.elf.
//! The demo is embedded in the binary (src/lib.rs); tests find the others through
//! the REPRISE_GUESTS_DIR environment variable exported here.

use std::path::{Path, PathBuf};
use std::process::Command;

/// C programs: linked with the runtime (crt0 + rt).
const C_GUESTS: &[&str] = &[
    "intmath",
    "sort",
    "crc32",
    "sha256",
    "strings",
    "sse",
    "x87",
    "recursion",
    "smc",
    "demo",
];
/// Stand-alone assembly guests: (output name, source).
const ASM_GUESTS: &[(&str, &str)] = &[
    ("hello", "hello.S"),
    ("spin", "spin.S"),
    ("halt_cli", "bad/halt_cli.S"),
    ("unmapped", "bad/unmapped.S"),
    ("outside_ram", "bad/outside_ram.S"),
    ("ud", "bad/ud.S"),
    ("avx", "bad/avx.S"),
    ("cr3_outside", "bad/cr3_outside.S"),
    ("stack_off_ram", "bad/stack_off_ram.S"),
    ("irq_storm", "bad/irq_storm.S"),
    ("kbd_reset", "bad/kbd_reset.S"),
];

/// Multiboot system guests (guests/mb/NAME.c, linked with guests/mb/rt): they start in
/// 32-bit protected mode at the Multiboot entry and switch to long mode themselves.
const MB_GUESTS: &[&str] = &[
    "mb_info",
    "ring3_syscall",
    "page_fault",
    "apic_timer",
    "pit_timer",
    "rtc",
    "pci_scan",
    "rr_inputs",
    "virtio_blk",
    "virtio_rng",
    "ac97_tone",
    "kbd_echo",
    "reset_count",
    "disk_bench",
    "virtio_drives",
    "virtio_net",
    // Guests for benches/ (system.rs, record.rs), not part of the test suite.
    "sys_bench",
    "tick_serial",
];

const CFLAGS: &[&str] = &[
    "-O2",
    "-ffreestanding",
    "-nostdlib",
    "-static",
    "-fno-pic",
    "-no-pie",
    "-mno-red-zone",
    "-fno-stack-protector",
    "-march=x86-64",
    "-fno-asynchronous-unwind-tables",
    "-Wall",
    "-Wno-unused-function",
];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let src = root.join("guests");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("guests");
    println!("cargo:rerun-if-changed=guests");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC_GUEST");
    println!("cargo:rustc-env=REPRISE_GUESTS_DIR={}", out.display());
    if let Err(e) = std::fs::create_dir_all(&out) {
        fail(&format!("cannot create {}: {e}", out.display()));
    }
    let gcc = std::env::var("CC_GUEST").unwrap_or_else(|_| "gcc".to_string());
    match Command::new(&gcc).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => fail(&format!(
            "`{gcc}` was not found: reprise's test and demo guests (guests/) are built with the \
             system gcc. Install it (Debian/Ubuntu: `apt-get install gcc`) and build again."
        )),
    }
    let rt = src.join("rt");
    let link = src.join("link.ld");
    let crt0 = out.join("crt0.o");
    let rt_o = out.join("rt.o");
    cc(&gcc, &[], &rt.join("crt0.S"), &crt0, &rt);
    cc(
        &gcc,
        &["-mgeneral-regs-only", "-fno-tree-loop-distribute-patterns"],
        &rt.join("rt.c"),
        &rt_o,
        &rt,
    );
    for name in C_GUESTS {
        let obj = out.join(format!("{name}.o"));
        cc(&gcc, &[], &src.join(format!("{name}.c")), &obj, &rt);
        ld(
            &gcc,
            &link,
            &[&crt0, &rt_o, &obj],
            &out.join(format!("{name}.elf")),
        );
    }
    for (name, file) in ASM_GUESTS {
        let obj = out.join(format!("{name}.o"));
        cc(&gcc, &[], &src.join(file), &obj, &rt);
        ld(&gcc, &link, &[&obj], &out.join(format!("{name}.elf")));
    }
    build_multiboot_guests(&gcc, &src.join("mb"), &out);
}

/// The Multiboot guests: C without SSE (the entry leaves CR4.OSFXSR clear), one
/// contiguous loadable segment (guests/mb/link.ld) described by the header's address
/// fields, so QEMU's -kernel loads the ELF64 file as reprise does.
fn build_multiboot_guests(gcc: &str, mb: &Path, out: &Path) {
    let rt = mb.join("rt");
    let entry = out.join("mb_entry.o");
    let mbrt = out.join("mbrt.o");
    let flags = ["-mgeneral-regs-only", "-fno-tree-loop-distribute-patterns"];
    cc(gcc, &[], &rt.join("entry.S"), &entry, &rt);
    cc(gcc, &flags, &rt.join("mbrt.c"), &mbrt, &rt);
    // An ELF32 i386 Multiboot kernel without address fields (assembly only: no 32-bit
    // libgcc needed).
    let mut c = Command::new(gcc);
    c.args(["-m32", "-nostdlib", "-static", "-no-pie", "-ffreestanding"])
        .arg(format!("-Wl,-T,{}", mb.join("link32.ld").display()))
        .arg("-Wl,--build-id=none")
        .arg("-o")
        .arg(out.join("elf32_hello.elf"))
        .arg(mb.join("elf32_hello.S"));
    run(c, "building guests/mb/elf32_hello.S (gcc -m32)");
    let link = mb.join("link.ld");
    for name in MB_GUESTS {
        let obj = out.join(format!("{name}.o"));
        cc(gcc, &flags, &mb.join(format!("{name}.c")), &obj, &rt);
        ld(
            gcc,
            &link,
            &[&entry, &mbrt, &obj],
            &out.join(format!("{name}.elf")),
        );
    }
}

fn cc(gcc: &str, extra: &[&str], src: &Path, obj: &Path, include: &Path) {
    let mut c = Command::new(gcc);
    c.args(CFLAGS)
        .args(extra)
        .arg("-I")
        .arg(include)
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(obj);
    run(c, &format!("compiling {}", src.display()));
}

fn ld(gcc: &str, script: &Path, objs: &[&Path], out: &Path) {
    let mut c = Command::new(gcc);
    c.args(CFLAGS)
        .arg(format!("-Wl,-T,{}", script.display()))
        .arg("-Wl,--build-id=none")
        .arg("-Wl,--no-warn-rwx-segments")
        .arg("-o")
        .arg(out)
        .args(objs)
        .arg("-lgcc");
    run(c, &format!("linking {}", out.display()));
}

fn run(mut c: Command, what: &str) {
    match c.output() {
        Ok(o) if o.status.success() => {
            let err = String::from_utf8_lossy(&o.stderr);
            for line in err.lines().filter(|l| !l.trim().is_empty()) {
                println!("cargo:warning={line}");
            }
        }
        Ok(o) => fail(&format!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => fail(&format!("{what}: cannot run the compiler: {e}")),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    println!("cargo:warning={}", msg.lines().next().unwrap_or(msg));
    std::process::exit(1);
}
