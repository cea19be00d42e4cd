//! The 32-byte chunk frame (see the module doc of [`crate::log`]).

use crate::codec::Dec;

pub const CHUNK_MAGIC: [u8; 4] = *b"RCHK";
pub const FRAME_LEN: usize = 32;

/// Chunk kinds.
pub const KIND_RECORDS: u8 = 0;
pub const KIND_SNAPSHOT: u8 = 1;

/// Largest chunk payload a reader accepts for a records chunk (a snapshot chunk may use
/// the whole u32 range).
pub const MAX_RECORDS_CHUNK: u32 = 256 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub compressed_len: u32,
    pub uncompressed_len: u32,
    pub first_icount: u64,
    pub records: u32,
    pub checksum: u32,
}

impl Frame {
    /// The frame's bytes; `checksum` is computed over bytes 0..28 and then `payload`.
    pub fn to_bytes(&self, payload: &[u8]) -> [u8; FRAME_LEN] {
        let mut b = [0u8; FRAME_LEN];
        b[0..4].copy_from_slice(&CHUNK_MAGIC);
        b[4] = self.kind;
        b[8..12].copy_from_slice(&self.compressed_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.uncompressed_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.first_icount.to_le_bytes());
        b[24..28].copy_from_slice(&self.records.to_le_bytes());
        let crc = checksum(&b[0..28], payload);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses a frame; `Err` carries the reason it is not one. The reserved bytes must be
    /// zero, so that `to_bytes` of a parsed frame gives back the bytes it was parsed from
    /// (the checksum is checked over those).
    pub fn parse(b: &[u8; FRAME_LEN]) -> Result<Frame, String> {
        if b[0..4] != CHUNK_MAGIC {
            return Err(format!(
                "no chunk magic (found {:02x?}, expected \"RCHK\")",
                &b[0..4]
            ));
        }
        if b[5..8] != [0, 0, 0] {
            return Err(format!(
                "reserved frame bytes are {:02x?}, not zero",
                &b[5..8]
            ));
        }
        let mut d = Dec::new(&b[8..], "chunk frame");
        let le32 = |d: &mut Dec<'_>| d.array::<4>().map(u32::from_le_bytes);
        let compressed_len = le32(&mut d).map_err(|e| e.to_string())?;
        let uncompressed_len = le32(&mut d).map_err(|e| e.to_string())?;
        let first_icount = d.u64_le().map_err(|e| e.to_string())?;
        let records = le32(&mut d).map_err(|e| e.to_string())?;
        let checksum = le32(&mut d).map_err(|e| e.to_string())?;
        let f = Frame {
            kind: b[4],
            compressed_len,
            uncompressed_len,
            first_icount,
            records,
            checksum,
        };
        match f.kind {
            KIND_RECORDS if f.uncompressed_len > MAX_RECORDS_CHUNK => Err(format!(
                "records chunk claims {} uncompressed bytes, more than the {MAX_RECORDS_CHUNK} limit",
                f.uncompressed_len
            )),
            KIND_RECORDS => Ok(f),
            KIND_SNAPSHOT if f.compressed_len != f.uncompressed_len => Err(
                "snapshot chunk with different stored and uncompressed lengths".to_string(),
            ),
            KIND_SNAPSHOT => Ok(f),
            k => Err(format!("unknown chunk kind {k}")),
        }
    }
}

pub fn checksum(frame_head: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(frame_head);
    h.update(payload);
    h.finalize()
}
