//! Snapshots: the machine's whole state at one instruction count, stored in the log as a
//! chunk of their own (kind 1, see [`crate::log`]); the chunk frames form the index that
//! [`crate::Player::open_at`] scans to find the nearest snapshot at or before an icount.
//!
//! Encoding of a snapshot (the chunk's payload): 4 bytes magic `RSNP`, 1 byte version
//! (1), then one zstd frame that decompresses to: `varint` icount; `varint len + bytes`
//! CPU state; `varint` device count, then per device `varint len + UTF-8` name and
//! `varint len + bytes` state (in name order); `varint` RAM size in bytes; `varint` count
//! of stored pages, then per page `varint` page number (address / 4096, increasing) and
//! its 4096 bytes. Pages that are all zero are not stored; a restore zeroes them.

use crate::codec::{put_bytes, put_varint, Dec, DecodeError};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use thiserror::Error;

pub const PAGE_SIZE: usize = 4096;
const MAGIC: [u8; 4] = *b"RSNP";
const VERSION: u8 = 1;
/// A snapshot that decompresses to more than this is refused (guards against bombs).
const MAX_DECOMPRESSED: u64 = 1 << 38;

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("not a snapshot (no RSNP magic); the log is damaged")]
    BadMagic,
    #[error("snapshot version {0} is not known to this reprise (it reads version 1); use the reprise that recorded the log")]
    Version(u8),
    #[error("snapshot data does not decompress: {0}; the log is damaged")]
    Decompress(std::io::Error),
    #[error("cannot compress the snapshot: {0}")]
    Compress(std::io::Error),
    #[error("snapshot does not parse: {0}; the log is damaged")]
    Decode(#[from] DecodeError),
    #[error(
        "snapshot page {page} lies beyond the {size}-byte RAM it says it has; the log is damaged"
    )]
    PageOutOfRange { page: u64, size: u64 },
    #[error("the snapshot holds {snapshot} bytes of RAM but the machine has {machine}; replay with the machine configuration of the log")]
    RamSize { snapshot: u64, machine: u64 },
    #[error(
        "the snapshot says instruction {snapshot} but its chunk says {chunk}; the log is damaged"
    )]
    IcountMismatch { snapshot: u64, chunk: u64 },
    #[error("the snapshot has no state for device \"{0}\"; the machine and the log do not match")]
    MissingDevice(String),
}

/// RAM with its zero pages left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RamPages {
    size: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
}

/// True if every byte of `b` is zero; compares eight bytes at a time (a snapshot scans
/// all of RAM, so this loop is the fixed cost of taking one).
fn is_zero(b: &[u8]) -> bool {
    let mut words = b.chunks_exact(8);
    let words_zero = words.by_ref().fold(0u64, |acc, w| {
        acc | u64::from_ne_bytes(w.try_into().unwrap_or([1; 8]))
    }) == 0;
    words_zero && words.remainder().iter().all(|&x| x == 0)
}

impl RamPages {
    /// Keeps the non-zero 4 KiB pages of `ram` (a last partial page is padded with zeros).
    pub fn capture(ram: &[u8]) -> Self {
        Self::capture_resident(ram, None)
    }

    /// As [`RamPages::capture`], skipping without reading the pages `resident` says
    /// were never touched (they are zero; reading them would fault them in).
    pub fn capture_resident(ram: &[u8], resident: Option<&[bool]>) -> Self {
        let mut pages = BTreeMap::new();
        for (i, page) in ram.chunks(PAGE_SIZE).enumerate() {
            if resident.is_some_and(|r| !r.get(i).copied().unwrap_or(true)) {
                continue;
            }
            if !is_zero(page) {
                let mut p = vec![0u8; PAGE_SIZE];
                p[..page.len()].copy_from_slice(page);
                pages.insert(i as u64, p.into_boxed_slice());
            }
        }
        RamPages {
            size: ram.len() as u64,
            pages,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many pages are stored (the non-zero ones).
    pub fn stored_pages(&self) -> usize {
        self.pages.len()
    }

    /// Writes the snapshot's RAM into `ram` (zeroing the pages that were zero).
    pub fn restore(&self, ram: &mut [u8]) -> Result<(), SnapshotError> {
        if ram.len() as u64 != self.size {
            return Err(SnapshotError::RamSize {
                snapshot: self.size,
                machine: ram.len() as u64,
            });
        }
        for (i, page) in ram.chunks_mut(PAGE_SIZE).enumerate() {
            match self.pages.get(&(i as u64)) {
                Some(p) => page.copy_from_slice(p.get(..page.len()).unwrap_or_default()),
                None => page.fill(0),
            }
        }
        Ok(())
    }
}

/// The machine's state at `icount`, filled by the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub icount: u64,
    /// The CPU's state, serialised by the machine.
    pub cpu: Vec<u8>,
    /// Each device's state by name.
    pub devices: BTreeMap<String, Vec<u8>>,
    pub ram: RamPages,
}

impl Snapshot {
    /// A device's state, or an error naming the device.
    pub fn device(&self, name: &str) -> Result<&[u8], SnapshotError> {
        self.devices
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| SnapshotError::MissingDevice(name.to_string()))
    }

    /// Encodes (and compresses) the snapshot.
    pub fn encode(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        let mut z = zstd::stream::write::Encoder::new(out, 3).map_err(SnapshotError::Compress)?;
        let mut head = Vec::new();
        put_varint(&mut head, self.icount);
        put_bytes(&mut head, &self.cpu);
        put_varint(&mut head, self.devices.len() as u64);
        for (name, state) in &self.devices {
            put_bytes(&mut head, name.as_bytes());
            put_bytes(&mut head, state);
        }
        put_varint(&mut head, self.ram.size);
        put_varint(&mut head, self.ram.pages.len() as u64);
        z.write_all(&head).map_err(SnapshotError::Compress)?;
        let mut idx = Vec::with_capacity(10);
        for (n, page) in &self.ram.pages {
            idx.clear();
            put_varint(&mut idx, *n);
            z.write_all(&idx).map_err(SnapshotError::Compress)?;
            z.write_all(page).map_err(SnapshotError::Compress)?;
        }
        z.finish().map_err(SnapshotError::Compress)
    }

    /// Decodes a snapshot; never panics on damaged input.
    pub fn decode(blob: &[u8]) -> Result<Snapshot, SnapshotError> {
        if blob.get(..4) != Some(&MAGIC[..]) {
            return Err(SnapshotError::BadMagic);
        }
        match blob.get(4) {
            Some(&VERSION) => {}
            Some(&v) => return Err(SnapshotError::Version(v)),
            None => return Err(SnapshotError::BadMagic),
        }
        let mut body = Vec::new();
        zstd::stream::read::Decoder::new(blob.get(5..).unwrap_or_default())
            .and_then(|d| d.take(MAX_DECOMPRESSED).read_to_end(&mut body))
            .map_err(SnapshotError::Decompress)?;
        let mut d = Dec::new(&body, "snapshot");
        let icount = d.varint()?;
        let cpu = d.bytes()?.to_vec();
        let ndev = d.varint()?;
        let mut devices = BTreeMap::new();
        for _ in 0..ndev {
            let name = d.string()?;
            let state = d.bytes()?.to_vec();
            devices.insert(name, state);
        }
        let size = d.varint()?;
        let npages = d.varint()?;
        let mut pages = BTreeMap::new();
        for _ in 0..npages {
            let page = d.varint()?;
            if page.saturating_mul(PAGE_SIZE as u64) >= size {
                return Err(SnapshotError::PageOutOfRange { page, size });
            }
            let bytes = d.take(PAGE_SIZE as u64)?;
            pages.insert(page, bytes.to_vec().into_boxed_slice());
        }
        d.finish()?;
        Ok(Snapshot {
            icount,
            cpu,
            devices,
            ram: RamPages { size, pages },
        })
    }
}

#[cfg(test)]
mod zero_tests {
    use super::is_zero;

    #[test]
    fn zero_check_sees_every_byte() {
        assert!(is_zero(&[]));
        assert!(is_zero(&[0; 4096]));
        for len in [1usize, 7, 8, 9, 4096, 4099] {
            for at in [0, len / 2, len - 1] {
                let mut b = vec![0u8; len];
                b[at] = 1;
                assert!(!is_zero(&b), "len {len}, byte {at}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_skips_zero_pages() {
        let mut ram = vec![0u8; 64 * PAGE_SIZE + 100];
        ram[5] = 1;
        ram[10 * PAGE_SIZE + 7] = 0xff;
        let last = ram.len() - 1;
        ram[last] = 9;
        let mut s = Snapshot {
            icount: 12345,
            cpu: vec![1, 2, 3],
            ..Default::default()
        };
        s.devices.insert("uart0".into(), b"state".to_vec());
        s.devices.insert("pit".into(), vec![]);
        s.ram = RamPages::capture(&ram);
        assert_eq!(s.ram.stored_pages(), 3);
        let blob = s.encode().unwrap();
        assert!(blob.len() < 1000, "{} bytes", blob.len());
        let back = Snapshot::decode(&blob).unwrap();
        assert_eq!(back, s);
        let mut ram2 = vec![0xeeu8; ram.len()];
        back.ram.restore(&mut ram2).unwrap();
        assert_eq!(ram2, ram);
        assert_eq!(back.device("uart0").unwrap(), b"state");
        assert!(matches!(
            back.device("rtc"),
            Err(SnapshotError::MissingDevice(_))
        ));
        let mut small = vec![0u8; 10];
        assert!(matches!(
            back.ram.restore(&mut small),
            Err(SnapshotError::RamSize { .. })
        ));
    }

    #[test]
    fn damaged_snapshots_are_errors() {
        let s = Snapshot {
            icount: 1,
            ram: RamPages::capture(&[7u8; PAGE_SIZE * 2]),
            ..Default::default()
        };
        let blob = s.encode().unwrap();
        for cut in 0..blob.len() {
            assert!(Snapshot::decode(&blob[..cut]).is_err(), "cut at {cut}");
        }
        let mut v = blob.clone();
        v[4] = 2;
        assert!(matches!(
            Snapshot::decode(&v),
            Err(SnapshotError::Version(2))
        ));
    }
}
