//! The Multiboot information structure and everything it points to, laid out in the
//! info area (`INFO_ADDR .. INFO_END`):
//!
//! ```text
//!   INFO_ADDR + 0x000   multiboot_info (88 bytes)
//!   INFO_ADDR + 0x080   memory map: 4 entries of 24 bytes (size field 20)
//!   INFO_ADDR + 0x100   module list: 16 bytes per module
//!   then                strings: boot loader name, kernel command line, module
//!                       command lines (NUL-terminated)
//! ```

use super::{MultibootError, INFO_ADDR, INFO_END};
use crate::loader::multiboot::image::{HOLE_END, HOLE_START};

/// The magic a Multiboot loader leaves in EAX.
pub const BOOTLOADER_MAGIC: u32 = 0x2bad_b002;
/// The name reprise gives itself in `boot_loader_name`.
pub const LOADER_NAME: &str = "reprise";

pub const INFO_MEMORY: u32 = 1 << 0;
pub const INFO_CMDLINE: u32 = 1 << 2;
pub const INFO_MODS: u32 = 1 << 3;
pub const INFO_MMAP: u32 = 1 << 6;
pub const INFO_LOADER_NAME: u32 = 1 << 9;

const MMAP_OFF: u64 = 0x80;
const MODS_OFF: u64 = 0x100;
const MMAP_AVAILABLE: u32 = 1;
const MMAP_RESERVED: u32 = 2;
/// The BIOS area the memory map reports reserved below 1 MiB.
const BIOS_START: u64 = 0xf_0000;

/// A module placed in RAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedModule {
    pub start: u64,
    pub end: u64,
    pub cmdline: String,
}

/// The memory map reported for `ram` bytes of RAM: (base, length, type).
pub fn memory_map(ram: u64) -> Vec<(u64, u64, u32)> {
    let mut m = vec![(0, HOLE_START.min(ram), MMAP_AVAILABLE)];
    m.push((HOLE_START, 0xa_0000 - HOLE_START, MMAP_RESERVED));
    m.push((BIOS_START, HOLE_END - BIOS_START, MMAP_RESERVED));
    if ram > HOLE_END {
        m.push((HOLE_END, ram - HOLE_END, MMAP_AVAILABLE));
    }
    m
}

/// Builds the info area's bytes (to be written at `INFO_ADDR`).
pub fn build(ram: u64, cmdline: &str, modules: &[PlacedModule]) -> Result<Vec<u8>, MultibootError> {
    let mut strings: Vec<u8> = Vec::new();
    let strings_off = MODS_OFF + 16 * modules.len() as u64;
    let mut add = |s: &str| -> u32 {
        let at = INFO_ADDR + strings_off + strings.len() as u64;
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        at as u32
    };
    let name_at = add(LOADER_NAME);
    let cmdline_at = add(cmdline);
    let mod_cmdlines: Vec<u32> = modules.iter().map(|m| add(&m.cmdline)).collect();
    let total = strings_off + strings.len() as u64;
    if INFO_ADDR + total > INFO_END {
        return Err(MultibootError::InfoTooLarge {
            need: total,
            room: INFO_END - INFO_ADDR,
        });
    }
    let mut b = vec![0u8; total as usize];
    let mut put = |off: u64, v: u32| {
        let o = off as usize;
        b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    };
    let map = memory_map(ram);
    put(
        0,
        INFO_MEMORY | INFO_CMDLINE | INFO_MODS | INFO_MMAP | INFO_LOADER_NAME,
    );
    put(4, (HOLE_START.min(ram) / 1024) as u32);
    put(
        8,
        (ram.saturating_sub(HOLE_END) / 1024).min(u32::MAX as u64) as u32,
    );
    put(12, 0xffff_ffff); // boot_device: none (flag bit 1 clear)
    put(16, cmdline_at);
    put(20, modules.len() as u32);
    put(24, (INFO_ADDR + MODS_OFF) as u32);
    put(44, (map.len() * 24) as u32);
    put(48, (INFO_ADDR + MMAP_OFF) as u32);
    put(64, name_at);
    for (k, (base, len, ty)) in map.iter().enumerate() {
        let e = MMAP_OFF + 24 * k as u64;
        put(e, 20);
        put(e + 4, *base as u32);
        put(e + 8, (*base >> 32) as u32);
        put(e + 12, *len as u32);
        put(e + 16, (*len >> 32) as u32);
        put(e + 20, *ty);
    }
    for (k, m) in modules.iter().enumerate() {
        let e = MODS_OFF + 16 * k as u64;
        put(e, m.start as u32);
        put(e + 4, m.end as u32);
        put(e + 8, mod_cmdlines[k]);
    }
    let s = strings_off as usize;
    b[s..].copy_from_slice(&strings);
    Ok(b)
}
