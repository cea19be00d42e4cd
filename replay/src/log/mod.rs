//! The log format: writer ([`LogWriter`]) and reader ([`LogReader`]) side by side.
//!
//! All integers are little-endian; `varint` is unsigned LEB128 (7 bits a byte, low group
//! first, high bit set on every byte but the last). docs/replay.md has the same layout.
//!
//! # File header (written first, once)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `RPRSLOG\0` |
//! | 8 | 2 | format version (u16, now 3; versions 2 and 3 are read) |
//! | 10 | 4 | header body length `H` (u32, at most 64 MiB) |
//! | 14 | 4 | CRC-32 (IEEE) of the header body |
//! | 18 | H | header body |
//!
//! Header body, in order: `varint len + UTF-8` producer ("reprise 0.1.0"); `u8` shift mode
//! (0 fixed, 1 auto); `u8` shift (the fixed shift, or auto's initial one, ≤ 10); `u8` sleep
//! (0 off, 1 on); `varint len + bytes` machine configuration (opaque to this crate);
//! `varint` image count, then per image `varint len + UTF-8` path, `varint` size in bytes,
//! 32 bytes SHA-256 of the contents.
//!
//! # Chunks (the rest of the file)
//!
//! Each chunk is a 32-byte frame followed by `stored length` bytes:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | chunk magic `RCHK` |
//! | 4 | 1 | chunk kind: 0 records, 1 snapshot |
//! | 5 | 3 | reserved, zero |
//! | 8 | 4 | stored (compressed) length `C` (u32) |
//! | 12 | 4 | uncompressed length `U` (u32; equal to `C` for a snapshot) |
//! | 16 | 8 | first icount: the instruction count of the chunk's first record (of the snapshot) |
//! | 24 | 4 | number of records in the chunk (0 for a snapshot) |
//! | 28 | 4 | CRC-32 of frame bytes 0..28 followed by the `C` stored bytes |
//!
//! A records chunk stores one zstd frame which decompresses to `U` bytes (at most 256 MiB)
//! of records. A snapshot chunk stores a snapshot as [`crate::snapshot`] encodes it (it is
//! compressed on its own). The writer ends a records chunk when its records pass 64 KiB,
//! when the machine calls `flush()`, before a snapshot and at the end; only `finish()`
//! fsyncs.
//!
//! # Records (inside a records chunk)
//!
//! | field | encoding |
//! |---|---|
//! | kind | varint (numbers in [`crate::event::kind`]) |
//! | icount delta | varint: this record's icount minus the previous record's in the same chunk (the first record's is relative to the frame's first icount, so 0) |
//! | length | varint payload length |
//! | payload | `length` bytes (layout per kind in [`crate::event::codec`]) |
//!
//! Each chunk decodes on its own (the delta chain restarts at every chunk), which is what
//! lets a player start right after a snapshot chunk. A reader skips records of kinds it
//! does not know. Instruction counts never decrease through the file.
//!
//! # Damage
//!
//! A log cut at any byte reads up to its last whole chunk, then [`LogError::Truncated`]
//! says "log ends at instruction N (chunk K incomplete: …)". A log that ends cleanly
//! between chunks but has no end record gets the same error (the recorder was killed
//! right after a flush). A checksum mismatch, a wrong magic, another format version and a
//! truncated header are each their own error.

mod error;
pub mod frame;
mod header;
mod reader;
mod writer;

pub use error::LogError;
pub use header::{LogHeader, FORMAT_VERSION, MAGIC, OLDEST_READABLE};
pub use reader::{ChunkInfo, ChunkStats, LogReader, Record};
pub use writer::{LogWriter, SharedSink, Sink, SnapshotPos, DEFAULT_CHUNK_SIZE};
