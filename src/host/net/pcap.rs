//! `--pcap FILE`: the guest's traffic in the classic pcap format (linktype Ethernet),
//! which tshark, tcpdump and Wireshark read. Timestamps are the virtual clock (seconds
//! and microseconds since the machine started), so every replay of a recording writes
//! the same file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The classic pcap magic number (microsecond timestamps).
pub const MAGIC: u32 = 0xa1b2_c3d4;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Bytes of each frame kept (every frame here is at most 65550 bytes).
pub const SNAPLEN: u32 = 65550;
/// The global header's length.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Each record's header length.
pub const RECORD_HEADER_LEN: usize = 16;

pub struct PcapWriter {
    out: BufWriter<File>,
    failed: bool,
}

impl PcapWriter {
    /// Creates (truncates) `path` and writes the global header.
    pub fn create(path: &Path) -> Result<PcapWriter, String> {
        let f = File::create(path)
            .map_err(|e| format!("--pcap: cannot create {}: {e}", path.display()))?;
        let mut w = PcapWriter {
            out: BufWriter::new(f),
            failed: false,
        };
        let mut h = Vec::with_capacity(GLOBAL_HEADER_LEN);
        h.extend_from_slice(&MAGIC.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        w.out
            .write_all(&h)
            .map_err(|e| format!("--pcap: cannot write {}: {e}", path.display()))?;
        Ok(w)
    }

    /// Appends one frame seen at virtual time `ns`. A write error stops the capture
    /// (reported once on stderr); the guest is not affected.
    pub fn frame(&mut self, ns: u64, frame: &[u8]) {
        if self.failed {
            return;
        }
        let secs = u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX);
        let usecs = ((ns % 1_000_000_000) / 1000) as u32;
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let kept = len.min(SNAPLEN);
        let mut h = [0u8; RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&usecs.to_le_bytes());
        h[8..12].copy_from_slice(&kept.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        let data = frame.get(..kept as usize).unwrap_or(frame);
        if let Err(e) = self
            .out
            .write_all(&h)
            .and_then(|()| self.out.write_all(data))
        {
            eprintln!("reprise: --pcap: write failed ({e}); capture stopped");
            self.failed = true;
        }
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

impl Drop for PcapWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_records() {
        let p = std::env::temp_dir().join(format!("reprise-pcap-{}.pcap", std::process::id()));
        {
            let mut w = PcapWriter::create(&p).unwrap();
            w.frame(1_500_002_000, &[1, 2, 3]);
            w.frame(7, &[9; 60]);
        }
        let b = std::fs::read(&p).unwrap();
        let _ = std::fs::remove_file(&p);
        assert_eq!(b.len(), 24 + 16 + 3 + 16 + 60);
        assert_eq!(&b[0..4], &MAGIC.to_le_bytes());
        assert_eq!(&b[20..24], &1u32.to_le_bytes());
        assert_eq!(&b[24..28], &1u32.to_le_bytes(), "seconds");
        assert_eq!(&b[28..32], &500_002u32.to_le_bytes(), "microseconds");
        assert_eq!(&b[32..36], &3u32.to_le_bytes());
        assert_eq!(&b[40..43], &[1, 2, 3]);
    }
}
