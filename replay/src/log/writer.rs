//! The writing side of the log.

use super::frame::{Frame, KIND_RECORDS, KIND_SNAPSHOT, MAX_RECORDS_CHUNK};
use super::{LogError, LogHeader};
use crate::codec::put_varint;
use crate::event::{encode, Event};
use std::io::Write;
use std::path::Path;

/// Where a log is written: a file (fsynced on finish) or memory (tests).
pub trait Sink: Write {
    /// Makes written data durable.
    fn sync(&mut self) -> std::io::Result<()>;
}

impl Sink for std::fs::File {
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_all()
    }
}

impl Sink for Vec<u8> {
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An in-memory sink that can be read while (and after) a writer owns a clone of it:
/// for tests, benchmarks and tools that keep a log in memory.
#[derive(Clone, Debug, Default)]
pub struct SharedSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedSink {
    /// A copy of the bytes written so far.
    pub fn bytes(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut g) => g.extend_from_slice(buf),
            Err(p) => p.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink for SharedSink {
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A chunk is written when its uncompressed records pass this size.
pub const DEFAULT_CHUNK_SIZE: usize = 64 << 10;
/// zstd level for record chunks (fast; records compress well at any level).
const ZSTD_LEVEL: i32 = 3;

/// Where a snapshot went in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPos {
    pub chunk: u64,
    pub offset: u64,
}

/// Writes a log: the header at creation, then records buffered into chunks.
pub struct LogWriter<W: Sink> {
    out: W,
    name: String,
    buf: Vec<u8>,
    buf_records: u32,
    first_icount: u64,
    last_icount: u64,
    chunk_size: usize,
    /// Chunks written so far (the next chunk's number).
    chunks: u64,
    /// Bytes written so far (the next chunk's offset).
    offset: u64,
}

impl LogWriter<std::fs::File> {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path, header: &LogHeader) -> Result<Self, LogError> {
        let name = path.display().to_string();
        let f =
            std::fs::File::create(path).map_err(|e| LogError::io("cannot create log", &name, e))?;
        Self::new(f, &name, header)
    }
}

impl<W: Sink> LogWriter<W> {
    /// Writes the header to `out`; `name` is used in error messages.
    pub fn new(mut out: W, name: &str, header: &LogHeader) -> Result<Self, LogError> {
        let h = header.to_bytes();
        out.write_all(&h)
            .and_then(|_| out.flush())
            .map_err(|e| LogError::io("cannot write log header to", name, e))?;
        Ok(LogWriter {
            out,
            name: name.to_string(),
            buf: Vec::with_capacity(DEFAULT_CHUNK_SIZE + 1024),
            buf_records: 0,
            first_icount: 0,
            last_icount: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            chunks: 0,
            offset: h.len() as u64,
        })
    }

    /// Changes the size at which a chunk is written (tests use tiny chunks).
    pub fn set_chunk_size(&mut self, bytes: usize) {
        self.chunk_size = bytes.max(1);
    }

    /// The icount of the last record written.
    pub fn last_icount(&self) -> u64 {
        self.last_icount
    }

    fn check_icount(&self, icount: u64) -> Result<(), LogError> {
        if icount < self.last_icount {
            return Err(LogError::IcountBackwards {
                previous: self.last_icount,
                icount,
            });
        }
        Ok(())
    }

    /// Appends one event at `icount`; writes a chunk if the buffer is full.
    pub fn write(&mut self, icount: u64, ev: &Event) -> Result<(), LogError> {
        self.check_icount(icount)?;
        let (kind, payload) = encode(ev);
        if payload.len() > MAX_RECORDS_CHUNK as usize / 2 {
            return Err(LogError::RecordTooLarge {
                len: payload.len(),
                max: MAX_RECORDS_CHUNK as usize / 2,
            });
        }
        if self.buf_records == 0 {
            self.first_icount = icount;
            self.last_icount = icount;
        } else if self.buf.len() + payload.len() + 30 > MAX_RECORDS_CHUNK as usize {
            self.write_chunk()?;
            self.first_icount = icount;
            self.last_icount = icount;
        }
        put_varint(&mut self.buf, kind);
        put_varint(&mut self.buf, icount - self.last_icount);
        put_varint(&mut self.buf, payload.len() as u64);
        self.buf.extend_from_slice(&payload);
        self.buf_records += 1;
        self.last_icount = icount;
        if self.buf.len() >= self.chunk_size {
            self.write_chunk()?;
        }
        Ok(())
    }

    fn emit(&mut self, frame: Frame, payload: &[u8]) -> Result<(), LogError> {
        let fb = frame.to_bytes(payload);
        self.out
            .write_all(&fb)
            .and_then(|_| self.out.write_all(payload))
            .map_err(|e| LogError::io("cannot write log", &self.name, e))?;
        self.chunks += 1;
        self.offset += (fb.len() + payload.len()) as u64;
        Ok(())
    }

    /// Compresses and writes the buffered records as one chunk (nothing if empty).
    fn write_chunk(&mut self) -> Result<(), LogError> {
        if self.buf_records == 0 {
            return Ok(());
        }
        let z = zstd::bulk::compress(&self.buf, ZSTD_LEVEL)
            .map_err(|e| LogError::io("cannot compress a chunk of", &self.name, e))?;
        let frame = Frame {
            kind: KIND_RECORDS,
            compressed_len: z.len() as u32,
            uncompressed_len: self.buf.len() as u32,
            first_icount: self.first_icount,
            records: self.buf_records,
            checksum: 0,
        };
        self.emit(frame, &z)?;
        self.buf.clear();
        self.buf_records = 0;
        Ok(())
    }

    /// Writes buffered records as a chunk and hands the bytes to the OS (no fsync). The
    /// machine calls this regularly so a crash loses little.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.write_chunk()?;
        self.out
            .flush()
            .map_err(|e| LogError::io("cannot write log", &self.name, e))
    }

    /// Writes a snapshot taken at `icount` (already encoded by
    /// [`crate::snapshot::Snapshot::encode`]) as its own chunk, after flushing the records
    /// before it, and logs a [`Event::SnapshotRef`] after it.
    pub fn write_snapshot(&mut self, icount: u64, blob: &[u8]) -> Result<SnapshotPos, LogError> {
        self.check_icount(icount)?;
        let len = u32::try_from(blob.len()).map_err(|_| LogError::RecordTooLarge {
            len: blob.len(),
            max: u32::MAX as usize,
        })?;
        self.write_chunk()?;
        let pos = SnapshotPos {
            chunk: self.chunks,
            offset: self.offset,
        };
        let frame = Frame {
            kind: KIND_SNAPSHOT,
            compressed_len: len,
            uncompressed_len: len,
            first_icount: icount,
            records: 0,
            checksum: 0,
        };
        self.emit(frame, blob)?;
        self.last_icount = icount;
        self.write(
            icount,
            &Event::SnapshotRef {
                chunk: pos.chunk,
                offset: pos.offset,
            },
        )?;
        Ok(pos)
    }

    /// Writes what is buffered and makes the log durable (fsync). Returns the sink.
    pub fn finish(mut self) -> Result<W, LogError> {
        self.flush()?;
        self.out
            .sync()
            .map_err(|e| LogError::io("cannot sync log", &self.name, e))?;
        Ok(self.out)
    }

    /// The sink (for tests that look at a log being written).
    pub fn sink(&self) -> &W {
        &self.out
    }
}
