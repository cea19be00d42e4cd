//! The reading side of the log.

use super::frame::{Frame, FRAME_LEN, KIND_RECORDS, KIND_SNAPSHOT};
use super::header::PREFIX_LEN;
use super::{LogError, LogHeader};
use crate::codec::Dec;
use crate::event::{decode, Event};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// One raw record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub icount: u64,
    pub kind: u64,
    pub payload: Vec<u8>,
    /// The chunk it came from.
    pub chunk: u64,
}

/// A chunk as seen by a scan of the frames (payloads not read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkInfo {
    pub index: u64,
    pub offset: u64,
    pub frame: Frame,
}

/// Byte counts over the chunks read so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkStats {
    pub chunks: u64,
    pub compressed: u64,
    pub uncompressed: u64,
    pub snapshot_chunks: u64,
    pub snapshot_bytes: u64,
}

/// Reads a log record by record. After an error it yields nothing more.
pub struct LogReader<R: Read + Seek> {
    r: R,
    name: String,
    header: LogHeader,
    file_len: u64,
    /// Offset of the next chunk to read.
    offset: u64,
    /// Number of the next chunk to read.
    chunk: u64,
    /// The current chunk's records (decompressed) and read position.
    buf: Vec<u8>,
    pos: usize,
    cur_chunk: u64,
    /// Records the current chunk's frame announces, and how many were read.
    cur_expected: u32,
    cur_read: u32,
    /// Icount of the last record returned.
    icount: u64,
    saw_end: bool,
    failed: bool,
    stats: ChunkStats,
    data_start: u64,
}

impl LogReader<std::io::BufReader<std::fs::File>> {
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let name = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|e| LogError::io("cannot open log", &name, e))?;
        Self::new(std::io::BufReader::new(f), &name)
    }
}

impl<R: Read + Seek> LogReader<R> {
    /// Reads and checks the header of the log in `r`; `name` is used in messages.
    pub fn new(mut r: R, name: &str) -> Result<Self, LogError> {
        let io = |e| LogError::io("cannot read log", name, e);
        let file_len = r.seek(SeekFrom::End(0)).map_err(io)?;
        r.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut prefix = Vec::new();
        (&mut r)
            .take(PREFIX_LEN as u64)
            .read_to_end(&mut prefix)
            .map_err(io)?;
        let (len, crc) = LogHeader::parse_prefix(&prefix)?;
        let mut body = Vec::new();
        (&mut r)
            .take(u64::from(len))
            .read_to_end(&mut body)
            .map_err(io)?;
        if body.len() < len as usize {
            return Err(LogError::TruncatedHeader {
                needed: PREFIX_LEN as u64 + u64::from(len),
                have: (PREFIX_LEN + body.len()) as u64,
            });
        }
        let computed = crc32fast::hash(&body);
        if computed != crc {
            return Err(LogError::HeaderChecksum {
                found: crc,
                computed,
            });
        }
        let header = LogHeader::parse_body(&body)?;
        let data_start = PREFIX_LEN as u64 + u64::from(len);
        Ok(LogReader {
            r,
            name: name.to_string(),
            header,
            file_len,
            offset: data_start,
            chunk: 0,
            buf: Vec::new(),
            pos: 0,
            cur_chunk: 0,
            cur_expected: 0,
            cur_read: 0,
            icount: 0,
            saw_end: false,
            failed: false,
            stats: ChunkStats::default(),
            data_start,
        })
    }

    pub fn header(&self) -> &LogHeader {
        &self.header
    }

    /// The icount of the last record read.
    pub fn icount(&self) -> u64 {
        self.icount
    }

    /// Whether the end record was read.
    pub fn saw_end(&self) -> bool {
        self.saw_end
    }

    pub fn stats(&self) -> ChunkStats {
        self.stats
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    fn io(&self, e: std::io::Error) -> LogError {
        LogError::io("cannot read log", &self.name, e)
    }

    fn fail<T>(&mut self, e: LogError) -> Result<T, LogError> {
        self.failed = true;
        Err(e)
    }

    fn truncated(&mut self, detail: String) -> LogError {
        self.failed = true;
        LogError::Truncated {
            icount: self.icount,
            chunk: self.chunk,
            detail,
        }
    }

    /// Reads the frame at `self.offset`. `Ok(None)` at a clean end of file.
    fn read_frame(&mut self) -> Result<Option<Frame>, LogError> {
        let left = self.file_len.saturating_sub(self.offset);
        if left == 0 {
            return Ok(None);
        }
        if left < FRAME_LEN as u64 {
            return Err(self.truncated(format!(
                "{left} of the {FRAME_LEN} bytes of its frame were written"
            )));
        }
        self.r
            .seek(SeekFrom::Start(self.offset))
            .map_err(|e| self.io(e))?;
        let mut fb = [0u8; FRAME_LEN];
        self.r.read_exact(&mut fb).map_err(|e| self.io(e))?;
        let frame = match Frame::parse(&fb) {
            Ok(f) => f,
            Err(reason) => {
                let e = LogError::BadChunk {
                    chunk: self.chunk,
                    offset: self.offset,
                    reason,
                    icount: self.icount,
                };
                return self.fail(e);
            }
        };
        let have = left - FRAME_LEN as u64;
        if have < u64::from(frame.compressed_len) {
            return Err(self.truncated(format!(
                "{have} of its {} bytes were written",
                frame.compressed_len
            )));
        }
        Ok(Some(frame))
    }

    /// Reads a chunk's payload (after its frame) and checks its checksum.
    fn read_payload(&mut self, frame: &Frame) -> Result<Vec<u8>, LogError> {
        // Bytes 0..28 of a parsed frame are exactly what `to_bytes` writes.
        let fb = frame.to_bytes(&[]);
        let mut z = Vec::new();
        (&mut self.r)
            .take(u64::from(frame.compressed_len))
            .read_to_end(&mut z)
            .map_err(|e| self.io(e))?;
        if z.len() < frame.compressed_len as usize {
            return Err(self.truncated("the file shrank while it was read".into()));
        }
        let computed = super::frame::checksum(fb.get(..28).unwrap_or_default(), &z);
        if computed != frame.checksum {
            let e = LogError::ChunkChecksum {
                chunk: self.chunk,
                offset: self.offset,
                found: frame.checksum,
                computed,
                icount: self.icount,
            };
            return self.fail(e);
        }
        Ok(z)
    }

    fn bad_chunk(&mut self, reason: String) -> LogError {
        self.failed = true;
        LogError::BadChunk {
            chunk: self.cur_chunk,
            offset: self.offset,
            reason,
            icount: self.icount,
        }
    }

    fn decompress(&mut self, frame: &Frame, z: &[u8]) -> Result<Vec<u8>, LogError> {
        let mut out = Vec::new();
        let res = zstd::stream::read::Decoder::new(z).and_then(|d| {
            d.take(u64::from(frame.uncompressed_len) + 1)
                .read_to_end(&mut out)
        });
        if let Err(e) = res {
            return Err(self.bad_chunk(format!("zstd data does not decompress: {e}")));
        }
        if out.len() != frame.uncompressed_len as usize {
            return Err(self.bad_chunk(format!(
                "decompresses to {} bytes, its frame says {}",
                out.len(),
                frame.uncompressed_len
            )));
        }
        Ok(out)
    }

    /// Loads the next records chunk; skips snapshot chunks. `Ok(false)` at the end.
    fn load_chunk(&mut self) -> Result<bool, LogError> {
        loop {
            let Some(frame) = self.read_frame()? else {
                if !self.saw_end {
                    return Err(self.truncated(
                        "no chunk follows and there is no end record: the recording was stopped before it finished".into(),
                    ));
                }
                return Ok(false);
            };
            let next = self.offset + FRAME_LEN as u64 + u64::from(frame.compressed_len);
            if frame.kind == KIND_SNAPSHOT {
                self.stats.snapshot_chunks += 1;
                self.stats.snapshot_bytes += u64::from(frame.compressed_len);
                self.offset = next;
                self.chunk += 1;
                continue;
            }
            debug_assert_eq!(frame.kind, KIND_RECORDS);
            let z = self.read_payload(&frame)?;
            self.cur_chunk = self.chunk;
            let out = self.decompress(&frame, &z)?;
            if frame.first_icount < self.icount {
                return Err(self.bad_chunk(format!(
                    "starts at instruction {} before the previous chunk's {}",
                    frame.first_icount, self.icount
                )));
            }
            self.stats.chunks += 1;
            self.stats.compressed += u64::from(frame.compressed_len) + FRAME_LEN as u64;
            self.stats.uncompressed += u64::from(frame.uncompressed_len);
            self.buf = out;
            self.pos = 0;
            self.cur_expected = frame.records;
            self.cur_read = 0;
            self.icount = frame.first_icount;
            self.offset = next;
            self.chunk += 1;
            return Ok(true);
        }
    }

    /// The next record, `Ok(None)` after the end record and a clean end of file.
    pub fn next_record(&mut self) -> Result<Option<Record>, LogError> {
        if self.failed {
            return Ok(None);
        }
        while self.pos >= self.buf.len() {
            if self.cur_read != self.cur_expected {
                let (read, expected) = (self.cur_read, self.cur_expected);
                return Err(
                    self.bad_chunk(format!("holds {read} records, its frame says {expected}"))
                );
            }
            if !self.load_chunk()? {
                return Ok(None);
            }
        }
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let mut d = Dec::new(rest, "record");
        let parsed = (|| {
            let kind = d.varint()?;
            let delta = d.varint()?;
            let payload = d.bytes()?.to_vec();
            Ok::<_, crate::codec::DecodeError>((kind, delta, payload))
        })();
        let (kind, delta, payload) = match parsed {
            Ok(x) => x,
            Err(e) => return Err(self.bad_chunk(format!("record framing: {e}"))),
        };
        let Some(icount) = self.icount.checked_add(delta) else {
            return Err(self.bad_chunk("instruction count overflows".into()));
        };
        self.pos += d.pos();
        self.icount = icount;
        self.cur_read = self.cur_read.saturating_add(1);
        if kind == crate::event::kind::END {
            self.saw_end = true;
        }
        Ok(Some(Record {
            icount,
            kind,
            payload,
            chunk: self.cur_chunk,
        }))
    }

    /// The next record decoded as an event.
    pub fn next_event(&mut self) -> Result<Option<(u64, Event)>, LogError> {
        let Some(rec) = self.next_record()? else {
            return Ok(None);
        };
        match decode(rec.kind, &rec.payload) {
            Ok(ev) => Ok(Some((rec.icount, ev))),
            Err(e) => Err(self.bad_chunk(format!(
                "record of kind {} at instruction {}: {e}",
                rec.kind, rec.icount
            ))),
        }
    }

    /// Scans every chunk frame from the start (payloads skipped, not checked) and comes
    /// back to where it was. Stops quietly at a truncated or malformed frame.
    pub fn scan_chunks(&mut self) -> Result<Vec<ChunkInfo>, LogError> {
        let mut out = Vec::new();
        let mut off = self.data_start;
        let mut index = 0;
        while self.file_len.saturating_sub(off) >= FRAME_LEN as u64 {
            self.r.seek(SeekFrom::Start(off)).map_err(|e| self.io(e))?;
            let mut fb = [0u8; FRAME_LEN];
            self.r.read_exact(&mut fb).map_err(|e| self.io(e))?;
            let Ok(frame) = Frame::parse(&fb) else { break };
            let end = off + FRAME_LEN as u64 + u64::from(frame.compressed_len);
            if end > self.file_len {
                break;
            }
            out.push(ChunkInfo {
                index,
                offset: off,
                frame,
            });
            off = end;
            index += 1;
        }
        Ok(out)
    }

    /// Reads (and checks) the payload of a snapshot chunk found by [`Self::scan_chunks`].
    pub fn read_snapshot_chunk(&mut self, info: &ChunkInfo) -> Result<Vec<u8>, LogError> {
        self.r
            .seek(SeekFrom::Start(info.offset + FRAME_LEN as u64))
            .map_err(|e| self.io(e))?;
        let saved = (self.chunk, self.offset, self.icount);
        self.chunk = info.index;
        self.offset = info.offset;
        self.icount = info.frame.first_icount;
        let r = self.read_payload(&info.frame);
        (self.chunk, self.offset, self.icount) = saved;
        r
    }

    /// Continues reading at the chunk after `info` (a snapshot chunk), as if every record
    /// before it had been read; the instruction count is the snapshot's.
    pub fn resume_after(&mut self, info: &ChunkInfo) {
        self.offset = info.offset + FRAME_LEN as u64 + u64::from(info.frame.compressed_len);
        self.chunk = info.index + 1;
        self.icount = info.frame.first_icount;
        self.buf.clear();
        self.pos = 0;
        self.cur_expected = 0;
        self.cur_read = 0;
        self.failed = false;
        self.saw_end = false;
    }

    /// The instruction count of the last record of the last whole records chunk (the
    /// total of a finished log: for a progress bar), without reading the whole log.
    /// The reading position is left as it was.
    pub fn last_icount(&mut self) -> Result<u64, LogError> {
        let chunks = self.scan_chunks()?;
        let Some(info) = chunks.iter().rev().find(|c| c.frame.kind == KIND_RECORDS) else {
            return Ok(chunks.last().map_or(0, |c| c.frame.first_icount));
        };
        let saved = (
            self.chunk,
            self.offset,
            self.icount,
            self.cur_chunk,
            self.failed,
        );
        self.chunk = info.index;
        self.cur_chunk = info.index;
        self.offset = info.offset;
        self.icount = info.frame.first_icount;
        let res = (|| {
            self.r
                .seek(SeekFrom::Start(info.offset + FRAME_LEN as u64))
                .map_err(|e| self.io(e))?;
            let z = self.read_payload(&info.frame)?;
            let out = self.decompress(&info.frame, &z)?;
            let mut d = Dec::new(&out, "record");
            let mut icount = info.frame.first_icount;
            while d.left() > 0 {
                let walk = (|| {
                    d.varint()?;
                    let delta = d.varint()?;
                    d.bytes()?;
                    Ok::<u64, crate::codec::DecodeError>(delta)
                })();
                match walk {
                    Ok(delta) => icount = icount.saturating_add(delta),
                    Err(e) => return Err(self.bad_chunk(format!("record framing: {e}"))),
                }
            }
            Ok(icount)
        })();
        (
            self.chunk,
            self.offset,
            self.icount,
            self.cur_chunk,
            self.failed,
        ) = saved;
        res
    }
}
