//! The Multiboot (v1) header: found in the first 8192 bytes of the file, 32-bit
//! aligned, `magic + flags + checksum == 0` (mod 2^32).

use super::MultibootError;

pub const HEADER_MAGIC: u32 = 0x1bad_b002;
/// How far into the file the header may start.
pub const SEARCH_LEN: usize = 8192;

/// Flag bit 0: align modules on 4 KiB boundaries (reprise always does).
pub const FLAG_PAGE_ALIGN: u32 = 1 << 0;
/// Flag bit 1: the kernel needs mem_lower/mem_upper and the memory map (always given).
pub const FLAG_MEMORY_INFO: u32 = 1 << 1;
/// Flag bit 2: the kernel asks for a video mode. Ignored, as QEMU does: the kernel
/// gets no video information (info flags bits 11 and 12 stay clear).
pub const FLAG_VIDEO_MODE: u32 = 1 << 2;
/// Flag bit 16: the header's address fields say where to load the image.
pub const FLAG_ADDRESS_FIELDS: u32 = 1 << 16;
/// The required-feature bits (0-15) that reprise knows.
const KNOWN_REQUIRED: u32 = FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO | FLAG_VIDEO_MODE;

/// A validated header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Offset of the magic in the file.
    pub offset: usize,
    pub flags: u32,
    /// The address fields, when flag bit 16 is set.
    pub addresses: Option<AddressFields>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressFields {
    pub header_addr: u32,
    pub load_addr: u32,
    pub load_end_addr: u32,
    pub bss_end_addr: u32,
    pub entry_addr: u32,
}

pub(super) fn u32_at(f: &[u8], off: usize) -> Option<u32> {
    let b = f.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// What the search found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// A header with a good checksum.
    Header(Header),
    /// The magic, but no good checksum anywhere: (offset of the first magic, its sum).
    BadChecksum { offset: usize, sum: u32 },
    /// No magic at all.
    None,
}

/// Looks for the header. The first magic with a good checksum wins, as in QEMU and
/// GRUB; a magic whose checksum fails is skipped (it may be data).
pub fn search(file: &[u8]) -> Found {
    let mut bad = None;
    // The header (12 bytes at least) must lie wholly in the first 8192 bytes.
    for offset in (0..file.len().min(SEARCH_LEN - 11)).step_by(4) {
        if u32_at(file, offset) != Some(HEADER_MAGIC) {
            continue;
        }
        match (u32_at(file, offset + 4), u32_at(file, offset + 8)) {
            (Some(flags), Some(sum)) if HEADER_MAGIC.wrapping_add(flags).wrapping_add(sum) == 0 => {
                return Found::Header(Header {
                    offset,
                    flags,
                    addresses: None,
                })
            }
            (flags, sum) => {
                if bad.is_none() {
                    let s = HEADER_MAGIC
                        .wrapping_add(flags.unwrap_or(0))
                        .wrapping_add(sum.unwrap_or(0));
                    bad = Some((offset, s));
                }
            }
        }
    }
    match bad {
        Some((offset, sum)) => Found::BadChecksum { offset, sum },
        None => Found::None,
    }
}

/// Checks the flags of a header found by [`search`] and reads its address fields.
pub fn validate(mut h: Header, file: &[u8]) -> Result<Header, MultibootError> {
    let unknown = h.flags & 0xffff & !KNOWN_REQUIRED;
    if unknown != 0 {
        return Err(MultibootError::UnsupportedFlags {
            flags: h.flags,
            unknown,
        });
    }
    if h.flags & FLAG_ADDRESS_FIELDS != 0 {
        if h.offset + 32 > SEARCH_LEN {
            return Err(MultibootError::HeaderBeyondSearch { offset: h.offset });
        }
        let f = |k: usize| u32_at(file, h.offset + 12 + 4 * k);
        match (f(0), f(1), f(2), f(3), f(4)) {
            (Some(a), Some(b), Some(c), Some(d), Some(e)) => {
                h.addresses = Some(AddressFields {
                    header_addr: a,
                    load_addr: b,
                    load_end_addr: c,
                    bss_end_addr: d,
                    entry_addr: e,
                })
            }
            _ => {
                return Err(MultibootError::HeaderTruncated {
                    offset: h.offset,
                    len: file.len(),
                })
            }
        }
    }
    Ok(h)
}
