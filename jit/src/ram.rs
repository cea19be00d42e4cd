//! Guest RAM: one anonymous mapping, physical address 0 upwards.

use memmap2::MmapMut;

pub struct GuestRam {
    map: MmapMut,
}

#[derive(Debug, thiserror::Error)]
pub enum RamError {
    #[error("cannot allocate {mib} MiB of guest RAM: {source} (try a smaller --memory)")]
    Alloc { mib: u64, source: std::io::Error },
    #[error("guest RAM must be between 2 and 65536 MiB, got {0} MiB")]
    Size(u64),
}

impl GuestRam {
    pub fn new(mib: u64) -> Result<Self, RamError> {
        if !(2..=65536).contains(&mib) {
            return Err(RamError::Size(mib));
        }
        let map = MmapMut::map_anon((mib << 20) as usize)
            .map_err(|source| RamError::Alloc { mib, source })?;
        Ok(GuestRam { map })
    }
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.map
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.map
    }
    pub fn base_ptr(&mut self) -> *mut u8 {
        self.map.as_mut_ptr()
    }
    /// Copies `data` to physical address `addr`; false if it does not fit in RAM.
    pub fn write_at(&mut self, addr: u64, data: &[u8]) -> bool {
        let Some(end) = addr.checked_add(data.len() as u64) else {
            return false;
        };
        if end > self.len() {
            return false;
        }
        self.map[addr as usize..end as usize].copy_from_slice(data);
        true
    }
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        let a = addr as usize;
        let b = self.map.get(a..a.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
    pub fn write_u64(&mut self, addr: u64, v: u64) -> bool {
        self.write_at(addr, &v.to_le_bytes())
    }
    /// For each 4 KiB page, whether the host has ever backed it with memory. A page
    /// that is not resident has never been written (the mapping is anonymous and
    /// private) and reads as zeros, so scans of RAM can skip it without touching it
    /// (touching would fault it in). `None` if the host cannot tell.
    pub fn resident_pages(&self) -> Option<Vec<bool>> {
        let pages = self.map.len().div_ceil(4096);
        let mut v = vec![0u8; pages];
        // SAFETY: the range is exactly our own mapping (page-aligned start from mmap),
        // and `v` has one byte per page of it, as mincore(2) requires.
        let r = unsafe {
            libc::mincore(
                self.map.as_ptr() as *mut libc::c_void,
                self.map.len(),
                v.as_mut_ptr(),
            )
        };
        (r == 0).then(|| v.into_iter().map(|b| b & 1 != 0).collect())
    }

    /// Digest of RAM contents; all-zero pages are hashed by their count only, so the
    /// digest is cheap for mostly empty machines (pages never touched are not read).
    pub fn digest_into(&self, h: &mut crate::digest::Digest) {
        let resident = self.resident_pages();
        let mut zero_run = 0u64;
        for (i, page) in self.map.chunks(4096).enumerate() {
            let untouched = resident
                .as_ref()
                .is_some_and(|r| !r.get(i).copied().unwrap_or(true));
            if untouched || is_zero(page) {
                zero_run += 1;
                continue;
            }
            h.write_u64(i as u64 ^ zero_run << 40);
            zero_run = 0;
            h.write(page);
        }
        h.write_u64(zero_run);
    }
}

/// True if every byte is zero (compared eight bytes at a time).
fn is_zero(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let all = words
        .by_ref()
        .all(|w| u64::from_ne_bytes(w.try_into().unwrap_or([1; 8])) == 0);
    all && words.remainder().iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_pages_are_not_resident_and_digest_like_zeros() {
        let mut ram = GuestRam::new(4).unwrap();
        let mut h0 = crate::digest::Digest::default();
        ram.digest_into(&mut h0);
        if let Some(r) = ram.resident_pages() {
            assert_eq!(r.len(), 1024);
            assert!(!r[700], "a fresh anonymous page is not resident");
        }
        ram.write_at(700 * 4096 + 5, &[1]);
        assert!(ram.resident_pages().is_none_or(|r| r[700]));
        let mut h1 = crate::digest::Digest::default();
        ram.digest_into(&mut h1);
        assert_ne!(h0.finish(), h1.finish());
        ram.write_at(700 * 4096 + 5, &[0]);
        let mut h2 = crate::digest::Digest::default();
        ram.digest_into(&mut h2);
        assert_eq!(
            h0.finish(),
            h2.finish(),
            "a page written back to zero digests as zero"
        );
    }
}
