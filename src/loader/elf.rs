//! Loads a static ELF64 x86-64 executable (ET_EXEC): every PT_LOAD segment is copied to
//! its physical address `p_paddr`, the rest of the segment up to `p_memsz` (bss) is
//! zeroed, and the entry point is `e_entry`. Since the boot page tables identity-map the
//! first 4 GiB, the entry point must lie inside a loaded segment's physical range.
//!
//! The headers are parsed by hand with bounds-checked reads: whatever the file holds,
//! parsing returns an [`ElfError`] naming the cause (and the offending address or
//! offset) rather than panicking. [`parse_elf`] validates everything against the RAM
//! size without touching RAM; [`load_elf`] then copies.

use reprise_jit::GuestRam;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("kernel file is {len} bytes, too short for an ELF64 header (64 bytes)")]
    TooShort { len: usize },
    #[error("kernel is not an ELF file (its first bytes are not \\x7fELF)")]
    NotElf,
    #[error("kernel is a 32-bit ELF (ELFCLASS32); reprise boots only ELF64 x86-64 executables")]
    Elf32,
    #[error("kernel has unknown ELF class {0}; reprise boots only ELF64 x86-64 executables")]
    BadClass(u8),
    #[error("kernel is a big-endian ELF; reprise boots only little-endian x86-64 executables")]
    BigEndian,
    #[error("kernel is an ELF for machine {0} (not x86-64, which is 62)")]
    WrongMachine(u16),
    #[error("kernel is a position-independent ELF (ET_DYN); link it with -static -no-pie at a fixed address")]
    Dynamic,
    #[error("kernel is an ELF of type {0}, not an executable (ET_EXEC)")]
    NotExecutable(u16),
    #[error("kernel's program headers are {0} bytes each, expected 56")]
    BadPhentsize(u16),
    #[error("kernel's program header table (offset {offset:#x}, {count} entries) runs past the end of the {len}-byte file: truncated?")]
    PhdrsOutsideFile { offset: u64, count: u16, len: usize },
    #[error("kernel's section header table (offset {offset:#x}, {count} entries) runs past the end of the {len}-byte file: truncated?")]
    ShdrsOutsideFile { offset: u64, count: u16, len: usize },
    #[error("kernel has no PT_LOAD segment: nothing to load")]
    NoLoadSegment,
    #[error("segment {index} at {paddr:#x}: file size {filesz:#x} is larger than memory size {memsz:#x}")]
    FileszExceedsMemsz {
        index: usize,
        paddr: u64,
        filesz: u64,
        memsz: u64,
    },
    #[error("segment {index} at {paddr:#x}: its data (file offset {offset:#x}, {filesz:#x} bytes) runs past the end of the {len}-byte file: truncated?")]
    DataOutsideFile {
        index: usize,
        paddr: u64,
        offset: u64,
        filesz: u64,
        len: usize,
    },
    #[error("segment {index} at {paddr:#x}..{end:#x} lies outside guest RAM (0..{ram:#x}); give the machine more --memory or link lower")]
    OutsideRam {
        index: usize,
        paddr: u64,
        end: u128,
        ram: u64,
    },
    #[error("segment {index} at {paddr:#x} overlaps the loader's reserved area below {reserved_end:#x}; link the kernel at or above {reserved_end:#x} (1 MiB is usual)")]
    InReservedArea {
        index: usize,
        paddr: u64,
        reserved_end: u64,
    },
    #[error("segments {first} and {second} overlap at {addr:#x}")]
    Overlap {
        first: usize,
        second: usize,
        addr: u64,
    },
    #[error("entry point {entry:#x} is not inside any loaded segment (segments load at p_paddr, which is identity-mapped)")]
    EntryOutsideSegments { entry: u64 },
}

/// One PT_LOAD segment, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index in the program header table.
    pub index: usize,
    pub paddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// A validated executable: what to load where, and where to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfImage {
    pub entry: u64,
    pub segments: Vec<Segment>,
}

fn bytes<const N: usize>(f: &[u8], off: usize) -> [u8; N] {
    let mut b = [0u8; N];
    if let Some(s) = off.checked_add(N).and_then(|end| f.get(off..end)) {
        b.copy_from_slice(s);
    }
    b
}
fn u16_at(f: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(bytes(f, off))
}
fn u32_at(f: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(bytes(f, off))
}
fn u64_at(f: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(bytes(f, off))
}

/// Checks `file` and returns what [`load_elf`] would load into `ram_size` bytes of RAM.
pub fn parse_elf(file: &[u8], ram_size: u64) -> Result<ElfImage, ElfError> {
    if file.len() < 4 || file[..4] != *b"\x7fELF" {
        return Err(
            if file.len() < 4 && b"\x7fELF".starts_with(file) && !file.is_empty() {
                ElfError::TooShort { len: file.len() }
            } else {
                ElfError::NotElf
            },
        );
    }
    if file.len() < EHDR_SIZE {
        return Err(ElfError::TooShort { len: file.len() });
    }
    match file[4] {
        2 => {}
        1 => return Err(ElfError::Elf32),
        c => return Err(ElfError::BadClass(c)),
    }
    if file[5] != 1 {
        return Err(ElfError::BigEndian);
    }
    let e_type = u16_at(file, 16);
    let e_machine = u16_at(file, 18);
    if e_machine != EM_X86_64 {
        return Err(ElfError::WrongMachine(e_machine));
    }
    match e_type {
        ET_EXEC => {}
        ET_DYN => return Err(ElfError::Dynamic),
        t => return Err(ElfError::NotExecutable(t)),
    }
    let entry = u64_at(file, 24);
    let phoff = u64_at(file, 32);
    let phentsize = u16_at(file, 54);
    let phnum = u16_at(file, 56);
    if phnum > 0 && phentsize as usize != PHDR_SIZE {
        return Err(ElfError::BadPhentsize(phentsize));
    }
    let table_end = (phnum as u64)
        .checked_mul(PHDR_SIZE as u64)
        .and_then(|n| n.checked_add(phoff));
    let table_start = match (usize::try_from(phoff), table_end) {
        (Ok(start), Some(end)) if end <= file.len() as u64 => start,
        _ => {
            return Err(ElfError::PhdrsOutsideFile {
                offset: phoff,
                count: phnum,
                len: file.len(),
            })
        }
    };
    // Sections are not loaded, but a table that runs past the end of the file means
    // the file was cut short.
    let shoff = u64_at(file, 40);
    let shentsize = u16_at(file, 58);
    let shnum = u16_at(file, 60);
    if shoff != 0 && shoff as u128 + shnum as u128 * shentsize as u128 > file.len() as u128 {
        return Err(ElfError::ShdrsOutsideFile {
            offset: shoff,
            count: shnum,
            len: file.len(),
        });
    }

    let mut segments = Vec::new();
    for index in 0..phnum as usize {
        let ph = table_start + index * PHDR_SIZE;
        if u32_at(file, ph) != PT_LOAD {
            continue;
        }
        let offset = u64_at(file, ph + 8);
        let paddr = u64_at(file, ph + 24);
        let filesz = u64_at(file, ph + 32);
        let memsz = u64_at(file, ph + 40);
        if filesz > memsz {
            return Err(ElfError::FileszExceedsMemsz {
                index,
                paddr,
                filesz,
                memsz,
            });
        }
        if offset as u128 + filesz as u128 > file.len() as u128 {
            return Err(ElfError::DataOutsideFile {
                index,
                paddr,
                offset,
                filesz,
                len: file.len(),
            });
        }
        if memsz == 0 {
            continue;
        }
        let end = paddr as u128 + memsz as u128;
        if paddr < crate::layout::LOADER_RESERVED_END {
            return Err(ElfError::InReservedArea {
                index,
                paddr,
                reserved_end: crate::layout::LOADER_RESERVED_END,
            });
        }
        if end > ram_size as u128 {
            return Err(ElfError::OutsideRam {
                index,
                paddr,
                end,
                ram: ram_size,
            });
        }
        segments.push(Segment {
            index,
            paddr,
            offset,
            filesz,
            memsz,
        });
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadSegment);
    }
    let mut sorted = segments.clone();
    sorted.sort_by_key(|s| s.paddr);
    for w in sorted.windows(2) {
        if w[0].paddr + w[0].memsz > w[1].paddr {
            return Err(ElfError::Overlap {
                first: w[0].index.min(w[1].index),
                second: w[0].index.max(w[1].index),
                addr: w[1].paddr,
            });
        }
    }
    if !segments
        .iter()
        .any(|s| entry >= s.paddr && entry - s.paddr < s.memsz)
    {
        return Err(ElfError::EntryOutsideSegments { entry });
    }
    Ok(ElfImage { entry, segments })
}

/// Parses `file` and copies its segments into `ram` (bss zeroed). Returns the image.
pub fn load_elf(file: &[u8], ram: &mut GuestRam) -> Result<ElfImage, ElfError> {
    let image = parse_elf(file, ram.len())?;
    for s in &image.segments {
        // parse_elf checked that the data lies in the file and the segment in RAM.
        let data = file
            .get(s.offset as usize..(s.offset + s.filesz) as usize)
            .unwrap_or_default();
        let zeros = vec![0u8; (s.memsz - s.filesz) as usize];
        if !ram.write_at(s.paddr, data) || !ram.write_at(s.paddr + s.filesz, &zeros) {
            return Err(ElfError::OutsideRam {
                index: s.index,
                paddr: s.paddr,
                end: s.paddr as u128 + s.memsz as u128,
                ram: ram.len(),
            });
        }
    }
    Ok(image)
}

/// Builds small ELF64 files for tests.
#[cfg(test)]
pub(crate) mod build {
    /// (paddr, data, memsz) per segment.
    pub fn elf(entry: u64, segs: &[(u64, &[u8], u64)]) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        let mut data_off = 64 + 56 * segs.len();
        let mut data = Vec::new();
        for (paddr, bytes, memsz) in segs {
            let mut ph = [0u8; 56];
            ph[0..4].copy_from_slice(&1u32.to_le_bytes());
            ph[4..8].copy_from_slice(&7u32.to_le_bytes());
            ph[8..16].copy_from_slice(&(data_off as u64).to_le_bytes());
            ph[16..24].copy_from_slice(&paddr.to_le_bytes());
            ph[24..32].copy_from_slice(&paddr.to_le_bytes());
            ph[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            ph[40..48].copy_from_slice(&memsz.to_le_bytes());
            ph[48..56].copy_from_slice(&0x1000u64.to_le_bytes());
            f.extend_from_slice(&ph);
            data.extend_from_slice(bytes);
            data_off += bytes.len();
        }
        f.extend_from_slice(&data);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::build::elf;
    use super::*;

    const RAM: u64 = 16 << 20;
    const BASE: u64 = 0x10_0000;

    fn good() -> Vec<u8> {
        elf(
            BASE,
            &[
                (BASE, &[0xf4, 0x90, 0x90], 0x10),
                (BASE + 0x1000, b"data", 0x2000),
            ],
        )
    }

    #[test]
    fn parses_a_good_file() {
        let img = parse_elf(&good(), RAM).unwrap();
        assert_eq!(img.entry, BASE);
        assert_eq!(img.segments.len(), 2);
        assert_eq!(img.segments[1].paddr, BASE + 0x1000);
        assert_eq!(img.segments[1].memsz, 0x2000);
    }

    #[test]
    fn loads_segments_and_zeroes_bss() {
        let mut ram = GuestRam::new(16).unwrap();
        ram.as_mut_slice()[BASE as usize + 5] = 0xaa; // must be zeroed as bss
        load_elf(&good(), &mut ram).unwrap();
        let r = ram.as_slice();
        assert_eq!(&r[BASE as usize..BASE as usize + 3], &[0xf4, 0x90, 0x90]);
        assert_eq!(r[BASE as usize + 5], 0);
        assert_eq!(&r[BASE as usize + 0x1000..BASE as usize + 0x1004], b"data");
    }

    #[test]
    fn rejects_non_elf() {
        assert_eq!(parse_elf(b"", RAM), Err(ElfError::NotElf));
        assert_eq!(
            parse_elf(b"#!/bin/sh\necho hi\n", RAM),
            Err(ElfError::NotElf)
        );
        assert_eq!(
            parse_elf(b"\x7fEL", RAM),
            Err(ElfError::TooShort { len: 3 })
        );
        assert_eq!(
            parse_elf(b"\x7fELF\x02", RAM),
            Err(ElfError::TooShort { len: 5 })
        );
    }

    #[test]
    fn rejects_elf32_big_endian_and_other_machines() {
        let mut f = good();
        f[4] = 1;
        assert_eq!(parse_elf(&f, RAM), Err(ElfError::Elf32));
        let mut f = good();
        f[5] = 2;
        assert_eq!(parse_elf(&f, RAM), Err(ElfError::BigEndian));
        let mut f = good();
        f[18] = 40; // ARM
        assert_eq!(parse_elf(&f, RAM), Err(ElfError::WrongMachine(40)));
        let mut f = good();
        f[16] = 3;
        assert_eq!(parse_elf(&f, RAM), Err(ElfError::Dynamic));
        let mut f = good();
        f[16] = 1;
        assert_eq!(parse_elf(&f, RAM), Err(ElfError::NotExecutable(1)));
    }

    #[test]
    fn rejects_truncation_at_every_length() {
        let f = good();
        for n in 0..f.len() {
            let e = parse_elf(&f[..n], RAM).unwrap_err();
            let msg = e.to_string();
            assert!(!msg.is_empty());
            if n >= 64 {
                assert!(msg.contains("truncated"), "{n}: {msg}");
            }
        }
    }

    #[test]
    fn rejects_segments_outside_ram_or_in_reserved_area() {
        let f = elf(BASE, &[(BASE, &[0xf4], 0x10), (RAM - 8, b"x", 0x10)]);
        let e = parse_elf(&f, RAM).unwrap_err();
        assert!(matches!(e, ElfError::OutsideRam { index: 1, .. }), "{e:?}");
        assert!(e.to_string().contains("0xfffff8"), "{e}");
        let f = elf(0x7_f000, &[(0x7_f000, &[0xf4], 0x10)]);
        let e = parse_elf(&f, RAM).unwrap_err();
        assert!(matches!(e, ElfError::InReservedArea { .. }), "{e:?}");
        assert!(e.to_string().contains("0x7f000"), "{e}");
        // Wrap-around at the top of the address space.
        let f = elf(BASE, &[(BASE, &[0xf4], 0x10), (u64::MAX - 4, b"x", 0x10)]);
        assert!(matches!(
            parse_elf(&f, RAM),
            Err(ElfError::OutsideRam { .. })
        ));
    }

    #[test]
    fn rejects_filesz_larger_than_memsz() {
        let f = elf(BASE, &[(BASE, &[0xf4, 0, 0, 0], 2)]);
        let e = parse_elf(&f, RAM).unwrap_err();
        assert!(matches!(e, ElfError::FileszExceedsMemsz { .. }), "{e:?}");
        assert!(e.to_string().contains("0x100000"), "{e}");
    }

    #[test]
    fn rejects_overlap_missing_segments_and_bad_entry() {
        let f = elf(BASE, &[(BASE, &[0xf4], 0x100), (BASE + 0x80, b"x", 1)]);
        assert!(matches!(
            parse_elf(&f, RAM),
            Err(ElfError::Overlap { addr, .. }) if addr == BASE + 0x80
        ));
        let f = elf(BASE, &[]);
        assert_eq!(parse_elf(&f, RAM), Err(ElfError::NoLoadSegment));
        let f = elf(0x20_0000, &[(BASE, &[0xf4], 0x10)]);
        assert_eq!(
            parse_elf(&f, RAM),
            Err(ElfError::EntryOutsideSegments { entry: 0x20_0000 })
        );
    }

    #[test]
    fn rejects_bad_program_header_table() {
        let mut f = good();
        f[54] = 32;
        assert_eq!(parse_elf(&f, RAM), Err(ElfError::BadPhentsize(32)));
        let mut f = good();
        f[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            parse_elf(&f, RAM),
            Err(ElfError::PhdrsOutsideFile { .. })
        ));
        let mut f = good();
        f[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(matches!(
            parse_elf(&f, RAM),
            Err(ElfError::PhdrsOutsideFile { .. })
        ));
    }

    /// A small deterministic fuzzer: random byte, word and length mutations of valid
    /// files never panic, and whatever parses also loads.
    #[test]
    fn fuzz_mutations_never_panic() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let seeds = [good(), elf(BASE, &[(BASE, &[0xf4; 200], 0x1000)])];
        let mut ram = GuestRam::new(4).unwrap();
        let mut parsed = 0;
        for iter in 0..20_000 {
            let mut f = seeds[iter % seeds.len()].clone();
            for _ in 0..1 + rnd() % 4 {
                let pos = (rnd() % f.len() as u64) as usize;
                match rnd() % 4 {
                    0 => f[pos] = rnd() as u8,
                    1 => f[pos] ^= 1 << (rnd() % 8),
                    2 => {
                        // An interesting 8-byte value over a header field.
                        let v = [0, 1, u64::MAX, 1 << 63, BASE, 4 << 20, 0x7_ffff]
                            [(rnd() % 7) as usize];
                        let p = pos.min(f.len().saturating_sub(8));
                        let end = (p + 8).min(f.len());
                        f[p..end].copy_from_slice(&v.to_le_bytes()[..end - p]);
                    }
                    _ => f.truncate(pos),
                }
                if f.is_empty() {
                    break;
                }
            }
            if let Ok(img) = parse_elf(&f, ram.len()) {
                parsed += 1;
                assert_eq!(load_elf(&f, &mut ram), Ok(img));
            }
        }
        assert!(parsed > 0, "the fuzzer never produced a valid file");
    }
}
