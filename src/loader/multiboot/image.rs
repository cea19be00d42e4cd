//! What to load where: from the header's address fields, or from an ELF32 (i386)
//! file's program headers. Everything is checked against the file and the RAM size.

use super::header::{u32_at, AddressFields, Header};
use super::{MultibootError, LOW_RESERVED_END};

/// One piece of the kernel image: `filesz` bytes from `offset` in the file to `paddr`,
/// then zeros up to `memsz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub paddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// A validated Multiboot kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultibootImage {
    pub header: Header,
    pub entry: u32,
    pub chunks: Vec<Chunk>,
}

impl MultibootImage {
    /// First byte after the highest chunk (bss included).
    pub fn end(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| c.paddr + c.memsz)
            .max()
            .unwrap_or(0)
    }
}

/// The hole the memory map reports as reserved (EBDA, VGA, ROMs): nothing loads there.
pub const HOLE_START: u64 = 0x9_fc00;
pub const HOLE_END: u64 = 0x10_0000;

/// Checks that `[start, end)` is usable RAM for the kernel or a module.
pub(super) fn check_range(start: u64, end: u64, ram: u64) -> Result<(), MultibootError> {
    if end > ram || end < start {
        return Err(MultibootError::OutsideRam { start, end, ram });
    }
    if start < LOW_RESERVED_END || (start < HOLE_END && end > HOLE_START) {
        return Err(MultibootError::InReservedArea { start, end });
    }
    Ok(())
}

pub(super) fn from_address_fields(
    header: Header,
    a: AddressFields,
    file: &[u8],
    ram: u64,
) -> Result<MultibootImage, MultibootError> {
    if a.load_addr > a.header_addr {
        return Err(MultibootError::LoadAddrAfterHeader {
            load_addr: a.load_addr,
            header_addr: a.header_addr,
        });
    }
    let before = (a.header_addr - a.load_addr) as usize;
    let offset = header
        .offset
        .checked_sub(before)
        .ok_or(MultibootError::LoadStartBeforeFile {
            header_offset: header.offset,
            header_addr: a.header_addr,
            load_addr: a.load_addr,
        })?;
    let filesz = if a.load_end_addr == 0 {
        (file.len() - offset) as u64
    } else if a.load_end_addr <= a.load_addr {
        return Err(MultibootError::LoadEndBeforeLoad {
            load_addr: a.load_addr,
            load_end_addr: a.load_end_addr,
        });
    } else {
        (a.load_end_addr - a.load_addr) as u64
    };
    if offset as u64 + filesz > file.len() as u64 {
        return Err(MultibootError::DataOutsideFile {
            offset: offset as u64,
            size: filesz,
            len: file.len(),
        });
    }
    let load_end = a.load_addr as u64 + filesz;
    let memsz = if a.bss_end_addr == 0 {
        filesz
    } else if (a.bss_end_addr as u64) < load_end {
        return Err(MultibootError::BssEndBeforeLoadEnd {
            load_end: load_end as u32,
            bss_end_addr: a.bss_end_addr,
        });
    } else {
        a.bss_end_addr as u64 - a.load_addr as u64
    };
    let start = a.load_addr as u64;
    check_range(start, start + memsz, ram)?;
    let entry = a.entry_addr as u64;
    if entry < start || entry >= start + memsz {
        return Err(MultibootError::EntryOutsideImage {
            entry: a.entry_addr,
        });
    }
    Ok(MultibootImage {
        header,
        entry: a.entry_addr,
        chunks: vec![Chunk {
            paddr: start,
            offset: offset as u64,
            filesz,
            memsz,
        }],
    })
}

const EM_386: u16 = 3;
const ET_EXEC: u16 = 2;
const PT_LOAD: u32 = 1;
const EHDR32: usize = 52;
const PHDR32: usize = 32;

fn u16_at(f: &[u8], off: usize) -> u16 {
    f.get(off..off + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .unwrap_or(0)
}

pub(super) fn from_elf32(
    header: Header,
    file: &[u8],
    ram: u64,
) -> Result<MultibootImage, MultibootError> {
    use MultibootError as E;
    if file.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(E::NotElfWithoutAddressFields);
    }
    match file.get(4) {
        Some(1) => {}
        Some(2) => return Err(E::Elf64WithoutAddressFields),
        _ => return Err(E::Elf32Invalid("unknown ELF class".into())),
    }
    if file.len() < EHDR32 {
        return Err(E::Elf32Invalid(format!(
            "the file is {} bytes, too short for an ELF32 header (52 bytes): truncated?",
            file.len()
        )));
    }
    if file.get(5) != Some(&1) {
        return Err(E::Elf32Invalid("big-endian; x86 is little-endian".into()));
    }
    let machine = u16_at(file, 18);
    if machine != EM_386 {
        return Err(E::Elf32Invalid(format!("machine {machine}, not i386 (3)")));
    }
    let e_type = u16_at(file, 16);
    if e_type != ET_EXEC {
        return Err(E::Elf32Invalid(format!(
            "type {e_type}, not an executable (ET_EXEC = 2); link with -static -no-pie"
        )));
    }
    let entry = u32_at(file, 24).unwrap_or(0);
    let phoff = u32_at(file, 28).unwrap_or(0) as u64;
    let phentsize = u16_at(file, 42);
    let phnum = u16_at(file, 44);
    if phnum > 0 && phentsize as usize != PHDR32 {
        return Err(E::Elf32Invalid(format!(
            "program headers are {phentsize} bytes each, expected 32"
        )));
    }
    if phoff + phnum as u64 * PHDR32 as u64 > file.len() as u64 {
        return Err(E::Elf32Invalid(format!(
            "the program header table (offset {phoff:#x}, {phnum} entries) runs past the end \
             of the {}-byte file: truncated?",
            file.len()
        )));
    }
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut vranges = Vec::new();
    for i in 0..phnum as usize {
        let ph = phoff as usize + i * PHDR32;
        let field = |k: usize| u32_at(file, ph + 4 * k).unwrap_or(0) as u64;
        if field(0) != PT_LOAD as u64 {
            continue;
        }
        let (offset, vaddr, paddr, filesz, memsz) =
            (field(1), field(2), field(3), field(4), field(5));
        if filesz > memsz {
            return Err(E::Elf32Invalid(format!(
                "segment {i} at {paddr:#x}: file size {filesz:#x} is larger than memory size {memsz:#x}"
            )));
        }
        if offset + filesz > file.len() as u64 {
            return Err(E::DataOutsideFile {
                offset,
                size: filesz,
                len: file.len(),
            });
        }
        if memsz == 0 {
            continue;
        }
        check_range(paddr, paddr + memsz, ram)?;
        if let Some(c) = chunks
            .iter()
            .find(|c| paddr < c.paddr + c.memsz && c.paddr < paddr + memsz)
        {
            return Err(E::Elf32Invalid(format!(
                "segment {i} at {paddr:#x} overlaps the segment at {:#x}",
                c.paddr
            )));
        }
        chunks.push(Chunk {
            paddr,
            offset,
            filesz,
            memsz,
        });
        vranges.push((vaddr, paddr, memsz));
    }
    if chunks.is_empty() {
        return Err(E::Elf32Invalid(
            "no PT_LOAD segment: nothing to load".into(),
        ));
    }
    // The entry point is physical; a kernel linked higher up (p_vaddr != p_paddr) may
    // give a virtual one, which is translated through its segment.
    let e = entry as u64;
    let phys = if chunks.iter().any(|c| e >= c.paddr && e < c.paddr + c.memsz) {
        Some(e)
    } else {
        vranges
            .iter()
            .find(|(v, _, m)| e >= *v && e < v + m)
            .map(|(v, p, _)| e - v + p)
    };
    match phys {
        Some(p) => Ok(MultibootImage {
            header,
            entry: p as u32,
            chunks,
        }),
        None => Err(E::EntryOutsideImage { entry }),
    }
}
