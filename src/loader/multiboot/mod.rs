//! Multiboot (v1) kernels, as GRUB and QEMU's `-kernel` boot them.
//!
//! The header is looked for in the first 8192 bytes (32-bit aligned, magic
//! `0x1BADB002`, `magic + flags + checksum == 0`). Flag bit 16 means the header's
//! address fields say what to load (`load_addr .. load_end_addr` from the file,
//! zeros up to `bss_end_addr`, start at `entry_addr`); without it the file must be an
//! ELF32 i386 executable whose `PT_LOAD` segments go to `p_paddr`. An ELF64 file is a
//! Multiboot kernel only with the address fields (QEMU refuses it otherwise too). Flag
//! bit 0 (page-aligned modules) is always honoured, bit 1 (memory information) always
//! given, bit 2 (video mode) ignored as in QEMU; any other bit in 0-15 is refused.
//!
//! Guest physical memory as this loader leaves it:
//!
//! ```text
//!   0x0000_1000 .. 0x0000_1018   a flat 32-bit GDT (jit::boot::enter_protected_mode_flat)
//!   0x0000_9000 .. 0x0001_0000   the info area: multiboot_info, memory map, module
//!                                list, strings (see info.rs)
//!   0x0001_0000 .. 0x0009_fc00   free: kernels may load here
//!   0x0009_fc00 .. 0x0010_0000   reported reserved (EBDA, VGA, BIOS): nothing loads
//!   0x0010_0000 .. RAM end       kernel; modules follow it, each page-aligned
//! ```
//!
//! The machine enters the kernel in 32-bit flat protected mode, paging off, with
//! EAX = `0x2BADB002` and EBX = the info structure's address.

mod header;
mod image;
mod info;
#[cfg(test)]
mod tests;

pub use header::{search, AddressFields, Found, Header, HEADER_MAGIC, SEARCH_LEN};
pub use image::{Chunk, MultibootImage};
pub use info::{memory_map, PlacedModule, BOOTLOADER_MAGIC, LOADER_NAME};

use reprise_jit::GuestRam;

/// Where the info area starts and ends (the lead may move these into layout.rs).
pub const INFO_ADDR: u64 = 0x9000;
pub const INFO_END: u64 = 0x1_0000;
/// Nothing of the kernel or its modules may load below this.
pub const LOW_RESERVED_END: u64 = INFO_END;

/// A module to hand to the kernel: its bytes and its command line.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct BootModule {
    pub data: Vec<u8>,
    pub cmdline: String,
}

impl std::fmt::Debug for BootModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootModule")
            .field("len", &self.data.len())
            .field("cmdline", &self.cmdline)
            .finish()
    }
}

/// What a Multiboot kernel is given besides itself.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MultibootOptions {
    /// The kernel command line (QEMU and GRUB put the kernel's path first).
    pub cmdline: String,
    pub modules: Vec<BootModule>,
}

/// A kernel loaded and ready to enter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultibootBoot {
    pub image: MultibootImage,
    /// The 32-bit entry point.
    pub entry: u32,
    /// EBX at entry: the address of the info structure.
    pub info_addr: u32,
    pub modules: Vec<PlacedModule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultibootError {
    #[error("Multiboot header at file offset {offset:#x} runs past the end of the {len}-byte file: truncated?")]
    HeaderTruncated { offset: usize, len: usize },
    #[error("Multiboot header at file offset {offset:#x} with address fields ends past the first 8192 bytes of the file, where the whole header must lie")]
    HeaderBeyondSearch { offset: usize },
    #[error("Multiboot header at file offset {offset:#x} has a bad checksum (magic + flags + checksum = {sum:#x}, must be 0)")]
    BadChecksum { offset: usize, sum: u32 },
    #[error("Multiboot header flags {flags:#x} ask for features reprise does not provide (bits {unknown:#x}); it knows bits 0 (page-align modules), 1 (memory info), 2 (video mode, ignored) and 16 (address fields)")]
    UnsupportedFlags { flags: u32, unknown: u32 },
    #[error("Multiboot header: load_addr {load_addr:#x} is above header_addr {header_addr:#x}; the header must lie inside the loaded image")]
    LoadAddrAfterHeader { load_addr: u32, header_addr: u32 },
    #[error("Multiboot header at file offset {header_offset:#x}: load_addr {load_addr:#x} would start {} bytes before the file does (header_addr {header_addr:#x})", *header_addr as u64 - *load_addr as u64 - *header_offset as u64)]
    LoadStartBeforeFile {
        header_offset: usize,
        header_addr: u32,
        load_addr: u32,
    },
    #[error(
        "Multiboot header: load_end_addr {load_end_addr:#x} is not above load_addr {load_addr:#x}"
    )]
    LoadEndBeforeLoad { load_addr: u32, load_end_addr: u32 },
    #[error("Multiboot header: bss_end_addr {bss_end_addr:#x} is below the end of the loaded data {load_end:#x}")]
    BssEndBeforeLoadEnd { load_end: u32, bss_end_addr: u32 },
    #[error("Multiboot kernel data (file offset {offset:#x}, {size:#x} bytes) runs past the end of the {len}-byte file: truncated?")]
    DataOutsideFile { offset: u64, size: u64, len: usize },
    #[error("Multiboot kernel or module at {start:#x}..{end:#x} lies outside guest RAM (0..{ram:#x}); give the machine more --memory or link lower")]
    OutsideRam { start: u64, end: u64, ram: u64 },
    #[error("Multiboot kernel at {start:#x}..{end:#x} overlaps memory reprise reserves (below 0x10000: the boot info area; 0x9fc00..0x100000: the BIOS hole); link it at 1 MiB (0x100000)")]
    InReservedArea { start: u64, end: u64 },
    #[error("Multiboot entry point {entry:#x} is not inside the loaded image")]
    EntryOutsideImage { entry: u32 },
    #[error("kernel is an ELF64 file with a Multiboot header but without address fields (flag bit 16): Multiboot loads only ELF32 by itself; set the address fields, or drop the Multiboot header to boot it directly in 64-bit mode")]
    Elf64WithoutAddressFields,
    #[error("kernel has a Multiboot header without address fields (flag bit 16) and is not an ELF file: set the address fields or link it as ELF32")]
    NotElfWithoutAddressFields,
    #[error("Multiboot kernel is a bad ELF32 file: {0}")]
    Elf32Invalid(String),
    #[error("the Multiboot command lines and module list need {need} bytes, more than the {room}-byte info area; shorten --append or the module command lines")]
    InfoTooLarge { need: u64, room: u64 },
}

/// Checks `file` as a Multiboot kernel for `ram` bytes of RAM. `Ok(None)`: there is
/// no valid header (see [`search`] for a header with a bad checksum).
pub fn parse_multiboot(file: &[u8], ram: u64) -> Result<Option<MultibootImage>, MultibootError> {
    let h = match search(file) {
        Found::Header(h) => header::validate(h, file)?,
        _ => return Ok(None),
    };
    match h.addresses {
        Some(a) => image::from_address_fields(h, a, file, ram).map(Some),
        None => image::from_elf32(h, file, ram).map(Some),
    }
}

/// Loads a kernel that [`parse_multiboot`] accepts, its modules and the info area.
pub fn load_multiboot(
    image: MultibootImage,
    file: &[u8],
    opts: &MultibootOptions,
    ram: &mut GuestRam,
) -> Result<MultibootBoot, MultibootError> {
    let size = ram.len();
    let mut next = image.end().next_multiple_of(0x1000);
    let mut placed = Vec::new();
    for m in &opts.modules {
        let start = next;
        let end = start + m.data.len() as u64;
        image::check_range(start, end, size)?;
        placed.push(PlacedModule {
            start,
            end,
            cmdline: m.cmdline.clone(),
        });
        next = end.next_multiple_of(0x1000);
    }
    if next > u32::MAX as u64 {
        return Err(MultibootError::OutsideRam {
            start: image.end(),
            end: next,
            ram: size,
        });
    }
    let info = info::build(size, &opts.cmdline, &placed)?;
    let oops = |start: u64, len: u64| MultibootError::OutsideRam {
        start,
        end: start + len,
        ram: size,
    };
    for c in &image.chunks {
        let data = file
            .get(c.offset as usize..(c.offset + c.filesz) as usize)
            .ok_or(MultibootError::DataOutsideFile {
                offset: c.offset,
                size: c.filesz,
                len: file.len(),
            })?;
        let zeros = vec![0u8; (c.memsz - c.filesz) as usize];
        if !ram.write_at(c.paddr, data) || !ram.write_at(c.paddr + c.filesz, &zeros) {
            return Err(oops(c.paddr, c.memsz));
        }
    }
    for (m, p) in opts.modules.iter().zip(&placed) {
        if !ram.write_at(p.start, &m.data) {
            return Err(oops(p.start, m.data.len() as u64));
        }
    }
    if !ram.write_at(INFO_ADDR, &info) {
        return Err(oops(INFO_ADDR, info.len() as u64));
    }
    Ok(MultibootBoot {
        entry: image.entry,
        image,
        info_addr: INFO_ADDR as u32,
        modules: placed,
    })
}
