//! Unit tests: header search, both image kinds, the info area, every defect, and a
//! small deterministic fuzzer.

use super::*;

const RAM: u64 = 16 << 20;
const BASE: u32 = 0x10_0000;

fn put(f: &mut [u8], off: usize, v: u32) {
    f[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// A flat image loaded at BASE: header at `hoff`, then code, `bss` bytes of bss.
fn flat(hoff: usize, flags: u32, code: &[u8], bss: u32) -> Vec<u8> {
    let mut f = vec![0x90u8; hoff + 32];
    let flags = flags | header::FLAG_ADDRESS_FIELDS;
    put(&mut f, hoff, HEADER_MAGIC);
    put(&mut f, hoff + 4, flags);
    put(
        &mut f,
        hoff + 8,
        0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(flags),
    );
    let entry = BASE + f.len() as u32;
    f.extend_from_slice(code);
    let end = BASE + f.len() as u32;
    for (k, v) in [BASE + hoff as u32, BASE, end, end + bss, entry]
        .into_iter()
        .enumerate()
    {
        put(&mut f, hoff + 12 + 4 * k, v);
    }
    f
}

/// An ELF32 i386 executable with a Multiboot header (no address fields) in its first
/// segment: (paddr, data, memsz) per segment.
fn elf32(entry: u32, segs: &[(u32, Vec<u8>, u32)]) -> Vec<u8> {
    let mut f = vec![0u8; 52];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 1;
    f[5] = 1;
    f[6] = 1;
    f[16] = 2;
    f[18] = 3;
    put(&mut f, 24, entry);
    put(&mut f, 28, 52);
    f[42] = 32;
    f[44] = segs.len() as u8;
    let mut off = 52 + 32 * segs.len();
    let mut data = Vec::new();
    for (paddr, bytes, memsz) in segs {
        let mut ph = [0u8; 32];
        for (k, v) in [
            1,
            off as u32,
            *paddr,
            *paddr,
            bytes.len() as u32,
            *memsz,
            7,
            4,
        ]
        .into_iter()
        .enumerate()
        {
            put(&mut ph, 4 * k, v);
        }
        f.extend_from_slice(&ph);
        data.extend_from_slice(bytes);
        off += bytes.len();
    }
    f.extend_from_slice(&data);
    f
}

fn mb_code() -> Vec<u8> {
    let mut c = vec![0u8; 12];
    put(&mut c, 0, HEADER_MAGIC);
    put(&mut c, 4, 3);
    put(&mut c, 8, 0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(3));
    c.extend_from_slice(&[0xf4; 20]);
    c
}

fn good_elf32() -> Vec<u8> {
    elf32(
        BASE + 12,
        &[
            (BASE, mb_code(), 0x100),
            (BASE + 0x1000, b"data".to_vec(), 0x2000),
        ],
    )
}

#[test]
fn finds_the_header_only_aligned_and_with_a_good_checksum() {
    let f = flat(64, 0, &[0xf4], 0);
    assert!(matches!(search(&f), Found::Header(h) if h.offset == 64));
    let mut g = vec![0u8; 2];
    g.extend_from_slice(&f);
    assert!(matches!(search(&g), Found::None), "unaligned header found");
    let mut b = f.clone();
    b[72] ^= 1;
    assert!(matches!(search(&b), Found::BadChecksum { offset: 64, .. }));
    // Beyond 8192 bytes: not looked at.
    let far = flat(8192, 0, &[0xf4], 0);
    assert_eq!(search(&far), Found::None);
    assert!(matches!(
        search(&flat(8180, 0, &[0xf4], 0)),
        Found::Header(_)
    ));
    assert_eq!(search(&flat(8184, 0, &[0xf4], 0)), Found::None);
    // Found, but the address fields would end past 8192 bytes.
    let e = err(&flat(8164, 0, &[0xf4], 0));
    assert_eq!(e, MultibootError::HeaderBeyondSearch { offset: 8164 });
}

#[test]
fn loads_a_flat_image_with_address_fields() {
    let f = flat(0, 0, &[0xb0, 0x10, 0xe6, 0xf4], 0x3000);
    let img = parse_multiboot(&f, RAM).unwrap().unwrap();
    assert_eq!(img.entry, BASE + 32);
    assert_eq!(img.chunks.len(), 1);
    assert_eq!(img.chunks[0].memsz, 36 + 0x3000);
    let mut ram = GuestRam::new(16).unwrap();
    ram.as_mut_slice()[BASE as usize + 40] = 0xaa;
    let b = load_multiboot(img, &f, &MultibootOptions::default(), &mut ram).unwrap();
    assert_eq!(b.info_addr, 0x9000);
    let r = ram.as_slice();
    assert_eq!(
        &r[BASE as usize + 32..BASE as usize + 36],
        &[0xb0, 0x10, 0xe6, 0xf4]
    );
    assert_eq!(r[BASE as usize + 40], 0, "bss not zeroed");
}

#[test]
fn load_end_zero_means_the_rest_of_the_file() {
    let mut f = flat(16, 0, &[0xf4; 10], 0);
    put(&mut f, 16 + 20, 0);
    let img = parse_multiboot(&f, RAM).unwrap().unwrap();
    assert_eq!(img.chunks[0].filesz, f.len() as u64);
}

#[test]
fn loads_elf32_segments_and_translates_a_virtual_entry() {
    let img = parse_multiboot(&good_elf32(), RAM).unwrap().unwrap();
    assert_eq!(img.entry, BASE + 12);
    assert_eq!(img.chunks.len(), 2);
    // A higher-half entry point that lies in a segment's virtual range.
    let mut f = good_elf32();
    put(&mut f, 24, 0xc010_000c);
    put(&mut f, 52 + 8, 0xc010_0000); // p_vaddr of segment 0
    assert_eq!(parse_multiboot(&f, RAM).unwrap().unwrap().entry, BASE + 12);
}

#[test]
fn info_structure_contents() {
    let img = parse_multiboot(&good_elf32(), RAM).unwrap().unwrap();
    let opts = MultibootOptions {
        cmdline: "kernel.elf console=ttyS0".into(),
        modules: vec![
            BootModule {
                data: b"first module".to_vec(),
                cmdline: "m1.bin a=1".into(),
            },
            BootModule {
                data: vec![7; 5000],
                cmdline: "m2.bin".into(),
            },
        ],
    };
    let mut ram = GuestRam::new(16).unwrap();
    let b = load_multiboot(img, &good_elf32(), &opts, &mut ram).unwrap();
    let r = ram.as_slice();
    let rd = |a: u32| u32::from_le_bytes(r[a as usize..a as usize + 4].try_into().unwrap());
    let cstr = |a: u32| {
        let s = &r[a as usize..];
        String::from_utf8(s[..s.iter().position(|&c| c == 0).unwrap()].to_vec()).unwrap()
    };
    let i = b.info_addr;
    assert_eq!(rd(i), 1 | 4 | 8 | 64 | 512);
    assert_eq!(rd(i + 4), 639);
    assert_eq!(rd(i + 8), (16 << 10) - 1024);
    assert_eq!(cstr(rd(i + 16)), "kernel.elf console=ttyS0");
    assert_eq!(cstr(rd(i + 64)), "reprise");
    // Modules: page-aligned after the kernel (which ends at BASE + 0x3000).
    assert_eq!(rd(i + 20), 2);
    let mods = rd(i + 24);
    assert_eq!(rd(mods), BASE + 0x3000);
    assert_eq!(rd(mods + 4), BASE + 0x3000 + 12);
    assert_eq!(cstr(rd(mods + 8)), "m1.bin a=1");
    assert_eq!(rd(mods + 16), BASE + 0x4000);
    assert_eq!(rd(mods + 20), BASE + 0x4000 + 5000);
    assert_eq!(cstr(rd(mods + 24)), "m2.bin");
    assert_eq!(&r[(BASE + 0x3000) as usize..][..12], b"first module");
    assert_eq!(r[(BASE + 0x4000 + 4999) as usize], 7);
    // Memory map: 4 entries of 24 bytes (size 20).
    assert_eq!(rd(i + 44), 96);
    let mmap = rd(i + 48);
    let mut got = Vec::new();
    for k in 0..4 {
        let e = mmap + 24 * k;
        assert_eq!(rd(e), 20);
        let base = rd(e + 4) as u64 | (rd(e + 8) as u64) << 32;
        let len = rd(e + 12) as u64 | (rd(e + 16) as u64) << 32;
        got.push((base, len, rd(e + 20)));
    }
    assert_eq!(
        got,
        vec![
            (0, 0x9_fc00, 1),
            (0x9_fc00, 0x400, 2),
            (0xf_0000, 0x1_0000, 2),
            (0x10_0000, RAM - 0x10_0000, 1)
        ]
    );
}

fn err(f: &[u8]) -> MultibootError {
    parse_multiboot(f, RAM).unwrap_err()
}

#[test]
fn rejects_bad_headers() {
    let mut f = flat(0, 0, &[0xf4], 0);
    put(&mut f, 4, (1 << 16) | (1 << 5));
    put(
        &mut f,
        8,
        0u32.wrapping_sub(HEADER_MAGIC)
            .wrapping_sub((1 << 16) | (1 << 5)),
    );
    let e = err(&f);
    assert!(
        matches!(e, MultibootError::UnsupportedFlags { unknown: 0x20, .. }),
        "{e}"
    );
    // Bit 2 (video mode) is ignored.
    let f = flat(0, 4, &[0xf4], 0);
    assert!(parse_multiboot(&f, RAM).unwrap().is_some());
    // Address fields cut off by the end of the file.
    let f = flat(0, 0, &[], 0);
    let e = err(&f[..20]);
    assert!(matches!(e, MultibootError::HeaderTruncated { .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn rejects_bad_address_fields() {
    let base = flat(0, 0, &[0xf4; 8], 0x100);
    let with = |k: usize, v: u32| {
        let mut f = base.clone();
        put(&mut f, 12 + 4 * k, v);
        err(&f)
    };
    assert!(matches!(
        with(1, BASE + 4),
        MultibootError::LoadAddrAfterHeader { .. }
    ));
    assert!(matches!(
        with(1, BASE - 16),
        MultibootError::LoadStartBeforeFile { .. }
    ));
    assert!(matches!(
        with(2, BASE),
        MultibootError::LoadEndBeforeLoad { .. }
    ));
    let e = with(2, BASE + 0x1000);
    assert!(matches!(e, MultibootError::DataOutsideFile { .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    assert!(matches!(
        with(3, BASE + 4),
        MultibootError::BssEndBeforeLoadEnd { .. }
    ));
    let e = with(3, RAM as u32 + 0x1000);
    assert!(matches!(e, MultibootError::OutsideRam { .. }), "{e}");
    assert!(e.to_string().contains("--memory"), "{e}");
    let e = with(4, BASE + 0x10_0000);
    assert_eq!(
        e,
        MultibootError::EntryOutsideImage {
            entry: BASE + 0x10_0000
        }
    );
}

#[test]
fn rejects_loads_into_the_info_area_or_the_bios_hole() {
    for at in [0x8000u32, 0x9_fbf0, 0xf_8000] {
        let mut f = flat(0, 0, &[0xf4; 8], 0);
        for k in [0, 1] {
            put(&mut f, 12 + 4 * k, at);
        }
        let len = f.len() as u32;
        put(&mut f, 20, at + len);
        put(&mut f, 24, 0);
        put(&mut f, 28, at + 32);
        let e = err(&f);
        assert!(
            matches!(e, MultibootError::InReservedArea { .. }),
            "{at:#x}: {e}"
        );
    }
    // Just above the info area is fine.
    let mut f = flat(0, 0, &[0xf4; 8], 0);
    for (k, v) in [0x1_0000, 0x1_0000, 0x1_0000 + 40, 0, 0x1_0020]
        .into_iter()
        .enumerate()
    {
        put(&mut f, 12 + 4 * k, v);
    }
    assert!(parse_multiboot(&f, RAM).unwrap().is_some());
}

#[test]
fn rejects_elf64_and_non_elf_without_address_fields() {
    let mut f = good_elf32();
    f[4] = 2;
    assert_eq!(err(&f), MultibootError::Elf64WithoutAddressFields);
    let mut f = mb_code();
    f.extend_from_slice(&[0; 64]);
    assert_eq!(err(&f), MultibootError::NotElfWithoutAddressFields);
    let mut f = good_elf32();
    f[18] = 62;
    assert!(matches!(err(&f), MultibootError::Elf32Invalid(m) if m.contains("i386")));
    let f = elf32(BASE + 0x9000, &[(BASE, mb_code(), 0x100)]);
    assert!(matches!(err(&f), MultibootError::EntryOutsideImage { .. }));
    let f = elf32(
        BASE + 12,
        &[(BASE, mb_code(), 0x100), (BASE + 0x80, b"x".to_vec(), 1)],
    );
    assert!(matches!(err(&f), MultibootError::Elf32Invalid(m) if m.contains("overlaps")));
}

#[test]
fn modules_that_do_not_fit_and_oversized_command_lines() {
    let f = good_elf32();
    let img = parse_multiboot(&f, RAM).unwrap().unwrap();
    let mut ram = GuestRam::new(16).unwrap();
    let big = MultibootOptions {
        cmdline: String::new(),
        modules: vec![BootModule {
            data: vec![0; RAM as usize],
            cmdline: "big".into(),
        }],
    };
    let e = load_multiboot(img.clone(), &f, &big, &mut ram).unwrap_err();
    assert!(matches!(e, MultibootError::OutsideRam { .. }), "{e}");
    let long = MultibootOptions {
        cmdline: "x".repeat(40_000),
        modules: vec![],
    };
    let e = load_multiboot(img, &f, &long, &mut ram).unwrap_err();
    assert!(matches!(e, MultibootError::InfoTooLarge { .. }), "{e}");
    assert!(e.to_string().contains("--append"), "{e}");
}

#[test]
fn truncation_at_every_length_never_panics() {
    for f in [good_elf32(), flat(8, 2, &[0xf4; 40], 0x100)] {
        for n in 0..f.len() {
            if let Err(e) = parse_multiboot(&f[..n], RAM) {
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// Random byte, word and length mutations of valid files never panic, and whatever
/// parses also loads.
#[test]
fn fuzz_mutations_never_panic() {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let seeds = [good_elf32(), flat(0, 3, &[0xf4; 64], 0x2000)];
    let mut ram = GuestRam::new(4).unwrap();
    let opts = MultibootOptions {
        cmdline: "k a=b".into(),
        modules: vec![BootModule {
            data: vec![1; 100],
            cmdline: "m".into(),
        }],
    };
    let mut parsed = 0;
    for iter in 0..20_000 {
        let mut f = seeds[iter % seeds.len()].clone();
        for _ in 0..1 + rnd() % 4 {
            let pos = (rnd() % f.len() as u64) as usize;
            match rnd() % 4 {
                0 => f[pos] = rnd() as u8,
                1 => f[pos] ^= 1 << (rnd() % 8),
                2 => {
                    let v = [0, 1, u32::MAX, 1 << 31, BASE, 4 << 20, 0x9_fc00, 0xffff]
                        [(rnd() % 8) as usize];
                    let p = pos.min(f.len().saturating_sub(4));
                    let end = (p + 4).min(f.len());
                    f[p..end].copy_from_slice(&v.to_le_bytes()[..end - p]);
                }
                _ => f.truncate(pos),
            }
            if f.is_empty() {
                break;
            }
        }
        if let Ok(Some(img)) = parse_multiboot(&f, ram.len()) {
            parsed += 1;
            let r = load_multiboot(img, &f, &opts, &mut ram);
            assert!(
                r.is_ok() || matches!(r, Err(MultibootError::OutsideRam { .. })),
                "{r:?}"
            );
        }
    }
    assert!(parsed > 0, "the fuzzer never produced a valid file");
}
