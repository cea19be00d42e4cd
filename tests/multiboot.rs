//! Multiboot (v1) boot: format detection, the info structure in guest RAM, the 32-bit
//! entry state, a tiny guest that runs in 32-bit protected mode without paging, and
//! bad input that must end with a message and status 2, never a panic. These pass
//! without the system devices; tests/system_guests.rs runs the full guests.

mod common;
use common::*;
use reprise::loader::{BootModule, MultibootOptions};
use reprise::{Machine, MachineConfig, Outcome, SharedBuffer};
use reprise_jit::state::{reg, seg, Segment, CR0_PE, CR0_PG};
use std::process::Command;

const MAGIC: u32 = 0x1bad_b002;
const BASE: u32 = 0x10_0000;

/// A flat Multiboot image with address fields: the header at BASE, then `code`,
/// entered at its first byte.
fn flat_kernel(code: &[u8]) -> Vec<u8> {
    let flags = 0x0001_0003u32;
    let end = BASE + 32 + code.len() as u32;
    let mut f = Vec::new();
    for v in [
        MAGIC,
        flags,
        0u32.wrapping_sub(MAGIC).wrapping_sub(flags),
        BASE,
        BASE,
        end,
        end + 0x1000,
        BASE + 32,
    ] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    f.extend_from_slice(code);
    f
}

/// 32-bit code: exit with 0x10 if EAX holds the Multiboot magic and EBX points to an
/// info structure whose flags say "memory info", 0x11 otherwise.
fn exit_code() -> Vec<u8> {
    let mut c = vec![0x3d]; // cmp eax, 0x2badb002
    c.extend_from_slice(&0x2bad_b002u32.to_le_bytes());
    c.extend_from_slice(&[0x75, 0x0b]); // jne fail
    c.extend_from_slice(&[0xf6, 0x03, 0x01]); // test byte [ebx], 1
    c.extend_from_slice(&[0x74, 0x06]); // jz fail
    c.extend_from_slice(&[0xb0, 0x10, 0xe6, 0xf4]); // mov al, 0x10; out 0xf4, al
    c.extend_from_slice(&[0xeb, 0x04]); // jmp done
    c.extend_from_slice(&[0xb0, 0x11, 0xe6, 0xf4]); // fail: mov al, 0x11; out 0xf4, al
    c.push(0xf4); // done: hlt
    c
}

fn mb_config(tier: reprise_jit::Tier, boot: MultibootOptions) -> MachineConfig {
    MachineConfig {
        boot,
        ..config(tier)
    }
}

fn start_error(image: &[u8], boot: MultibootOptions) -> String {
    match Machine::new(
        &mb_config(TIERS[0], boot),
        image,
        Box::new(SharedBuffer::default()),
    ) {
        Ok(_) => panic!("machine started"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn entry_state_is_flat_32_bit_protected_mode() {
    let k = flat_kernel(&exit_code());
    let m = Machine::new(&config(TIERS[0]), &k, Box::new(SharedBuffer::default())).unwrap();
    let st = m.cpu().state();
    assert_eq!(st.rip, BASE as u64 + 32);
    assert_eq!(m.entry(), BASE as u64 + 32);
    assert_eq!(st.gpr[reg::RAX], 0x2bad_b002);
    assert_eq!(st.gpr[reg::RBX], 0x9000);
    assert_eq!(st.cr0 & (CR0_PE | CR0_PG), CR0_PE);
    assert_eq!(st.cr0, 0x11);
    assert_eq!(st.efer, 0);
    assert_eq!(st.rflags(), 2);
    assert_eq!(st.code_bitness(), 32);
    assert!(!st.long_mode());
    let cs = st.segs[seg::CS];
    assert_eq!((cs.base, cs.limit), (0, 0xffff_ffff));
    assert_ne!(cs.attr & Segment::ATTR_DB, 0, "CS.D");
    assert_eq!(cs.attr & Segment::ATTR_L, 0, "CS.L");
    assert_eq!(cs.attr & 0x9f, 0x9b, "present execute/read code");
    for s in [seg::DS, seg::ES, seg::SS, seg::FS, seg::GS] {
        let d = st.segs[s];
        assert_eq!(
            (d.base, d.limit, d.attr & 0x9f),
            (0, 0xffff_ffff, 0x93),
            "{s}"
        );
        assert_ne!(d.attr & Segment::ATTR_DB, 0);
    }
}

#[test]
fn tiny_guest_exits_from_32_bit_protected_mode() {
    let k = flat_kernel(&exit_code());
    for tier in TIERS {
        let r = run_image(&k, &config(tier), Some(1000));
        assert_eq!(
            r.outcome,
            Outcome::DebugExit {
                value: 0x10,
                status: 0x21
            },
            "{tier:?}: {}",
            r.outcome.message()
        );
        // cmp, jne, test, jz, mov, out
        assert_eq!(r.icount, 6, "{tier:?}");
    }
}

fn rd(m: &Machine, a: u32) -> u32 {
    let r = m.cpu().ram().as_slice();
    u32::from_le_bytes(r[a as usize..a as usize + 4].try_into().unwrap())
}

fn cstr(m: &Machine, a: u32) -> String {
    let r = &m.cpu().ram().as_slice()[a as usize..];
    String::from_utf8_lossy(&r[..r.iter().position(|&c| c == 0).unwrap()]).into_owned()
}

#[test]
fn info_structure_of_a_built_guest() {
    let k = guest("mb_info");
    let boot = MultibootOptions {
        cmdline: "mb_info.elf mbtest=ok".into(),
        modules: vec![BootModule {
            data: b"module bytes".to_vec(),
            cmdline: "module.txt modarg=7".into(),
        }],
    };
    let m = Machine::new(
        &mb_config(TIERS[0], boot),
        &k,
        Box::new(SharedBuffer::default()),
    )
    .unwrap();
    let st = m.cpu().state();
    let info = st.gpr[reg::RBX] as u32;
    assert_eq!(st.gpr[reg::RAX], 0x2bad_b002);
    assert_eq!(
        rd(&m, info) & 0x24d,
        0x24d,
        "memory, cmdline, mods, mmap, name"
    );
    assert_eq!(rd(&m, info + 4), 639);
    assert_eq!(rd(&m, info + 8), 32 * 1024 - 1024);
    assert_eq!(cstr(&m, rd(&m, info + 16)), "mb_info.elf mbtest=ok");
    assert_eq!(cstr(&m, rd(&m, info + 64)), "reprise");
    assert_eq!(rd(&m, info + 20), 1);
    let mods = rd(&m, info + 24);
    let (start, end) = (rd(&m, mods), rd(&m, mods + 4));
    assert_eq!(start % 4096, 0);
    assert_eq!(end - start, 12);
    assert_eq!(cstr(&m, rd(&m, mods + 8)), "module.txt modarg=7");
    assert_eq!(
        &m.cpu().ram().as_slice()[start as usize..end as usize],
        b"module bytes"
    );
    // The module follows the kernel's bss (the header's bss_end_addr).
    let hdr = k.windows(4).position(|w| w == MAGIC.to_le_bytes()).unwrap();
    let bss_end = u32::from_le_bytes(k[hdr + 24..hdr + 28].try_into().unwrap());
    assert!(start >= bss_end && start - bss_end < 4096);
    assert_eq!(rd(&m, info + 44), 4 * 24);
    // The entry point is the header's, in 32-bit mode.
    let entry = u32::from_le_bytes(k[hdr + 28..hdr + 32].try_into().unwrap());
    assert_eq!(st.rip, entry as u64);
    assert_eq!(st.code_bitness(), 32);
}

#[test]
fn elf64_without_a_multiboot_header_still_boots_directly() {
    let m = Machine::new(
        &config(TIERS[0]),
        &guest("hello"),
        Box::new(SharedBuffer::default()),
    )
    .unwrap();
    assert!(m.cpu().state().long_mode());
    let msg = start_error(
        &guest("hello"),
        MultibootOptions {
            cmdline: "x".into(),
            modules: vec![],
        },
    );
    assert!(msg.contains("Multiboot"), "{msg}");
}

#[test]
fn malformed_kernels_give_clear_messages() {
    let good = flat_kernel(&exit_code());
    let none = MultibootOptions::default;
    // Bad checksum in a file that is not ELF.
    let mut f = good.clone();
    f[8] ^= 1;
    let msg = start_error(&f, none());
    assert!(msg.contains("bad checksum"), "{msg}");
    // Neither format.
    let msg = start_error(b"MZ\x90\x00 a DOS program", none());
    assert!(
        msg.contains("not an ELF file") && msg.contains("Multiboot"),
        "{msg}"
    );
    // Entry outside the image.
    let mut f = good.clone();
    f[28..32].copy_from_slice(&(BASE + 0x10_0000).to_le_bytes());
    let msg = start_error(&f, none());
    assert!(msg.contains("entry point 0x200000"), "{msg}");
    // Load address out of RAM (32 MiB).
    let mut f = good.clone();
    for k in [12, 16] {
        f[k..k + 4].copy_from_slice(&0x4000_0000u32.to_le_bytes());
    }
    let end = 0x4000_0000 + f.len() as u32;
    for (k, v) in [(20, end), (24, 0), (28, 0x4000_0020)] {
        f[k..k + 4].copy_from_slice(&v.to_le_bytes());
    }
    let msg = start_error(&f, none());
    assert!(msg.contains("outside guest RAM"), "{msg}");
    // An ELF64 file whose Multiboot header lacks the address fields.
    let mut f = guest("hello");
    let mut hdr = [0u8; 12];
    hdr[..4].copy_from_slice(&MAGIC.to_le_bytes());
    hdr[8..].copy_from_slice(&0u32.wrapping_sub(MAGIC).to_le_bytes());
    f[0x40 + 56..0x40 + 56 + 12].copy_from_slice(&hdr);
    let msg = start_error(&f, none());
    assert!(
        msg.contains("ELF64") && msg.contains("address fields"),
        "{msg}"
    );
}

#[test]
fn elf32_kernels_need_a_good_multiboot_header() {
    let k = guest("elf32_hello");
    let hdr = k.windows(4).position(|w| w == MAGIC.to_le_bytes()).unwrap();
    let mut f = k.clone();
    f[hdr + 8] ^= 1;
    let msg = start_error(&f, MultibootOptions::default());
    assert!(msg.contains("bad checksum"), "{msg}");
    let mut f = k.clone();
    f[hdr..hdr + 4].copy_from_slice(&[0; 4]);
    let msg = start_error(&f, MultibootOptions::default());
    assert!(
        msg.contains("32-bit ELF without a Multiboot header"),
        "{msg}"
    );
    // Unknown required flag bits are refused.
    let mut f = k.clone();
    let flags = 0x3u32 | 0x8;
    f[hdr + 4..hdr + 8].copy_from_slice(&flags.to_le_bytes());
    f[hdr + 8..hdr + 12]
        .copy_from_slice(&0u32.wrapping_sub(MAGIC).wrapping_sub(flags).to_le_bytes());
    let msg = start_error(&f, MultibootOptions::default());
    assert!(msg.contains("bits 0x8"), "{msg}");
}

#[test]
fn truncated_multiboot_guest_never_panics() {
    let k = guest("mb_info");
    for n in (0..k.len()).step_by(97).chain([k.len() - 1]) {
        let r = Machine::new(
            &config(TIERS[0]),
            &k[..n],
            Box::new(SharedBuffer::default()),
        );
        if let Err(e) = r {
            assert!(!e.to_string().is_empty());
        } else {
            // Cut inside the symbol table: the loaded image is complete.
            let hdr = k.windows(4).position(|w| w == MAGIC.to_le_bytes()).unwrap();
            assert!(n > hdr + 32, "{n}");
        }
    }
    let msg = start_error(&k[..0x1800], MultibootOptions::default());
    assert!(msg.contains("truncated"), "{msg}");
}

fn reprise(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(args)
        .output()
        .expect("run reprise");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_options_and_bad_input() {
    let dir = std::env::temp_dir().join(format!("reprise-mb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tiny = dir.join("tiny.bin");
    std::fs::write(&tiny, flat_kernel(&exit_code())).unwrap();
    let (code, _, stderr) = reprise(&["run", "--kernel", tiny.to_str().unwrap()]);
    assert_eq!(code, 0x21, "{stderr}");
    let module = dir.join("module.txt");
    std::fs::write(&module, b"abc").unwrap();
    let (code, _, stderr) = reprise(&[
        "run",
        "--kernel",
        tiny.to_str().unwrap(),
        "--append",
        "a=1",
        "--initrd",
        module.to_str().unwrap(),
        "--module",
        &format!("{},x=2", module.display()),
    ]);
    assert_eq!(code, 0x21, "{stderr}");

    let bad = dir.join("bad.bin");
    let mut f = flat_kernel(&exit_code());
    f[8] ^= 0x40;
    std::fs::write(&bad, &f).unwrap();
    let (code, _, stderr) = reprise(&["run", "--kernel", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad checksum"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let missing = dir.join("missing.txt");
    let (code, _, stderr) = reprise(&[
        "run",
        "--kernel",
        tiny.to_str().unwrap(),
        "--module",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot read module"), "{stderr}");

    let hello = guest_path("hello");
    let (code, _, stderr) = reprise(&["run", "--kernel", hello.to_str().unwrap(), "--append", "x"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("ELF64") && stderr.contains("--append"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
