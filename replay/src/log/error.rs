//! Errors of the log format: each failure mode is its own variant with a message that
//! says what is wrong and what to do.

use crate::codec::DecodeError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not a reprise log: it starts with {found:02x?} instead of the magic \"RPRSLOG\\0\"; give a file written by `reprise record`")]
    NotALog { found: Vec<u8> },
    #[error("the log has format version {found}, this reprise reads versions {oldest} to {newest}; replay it with the reprise that recorded it")]
    Version {
        found: u16,
        oldest: u16,
        newest: u16,
    },
    #[error("the log header is truncated ({have} of {needed} bytes); the recording was cut before it started, record again")]
    TruncatedHeader { needed: u64, have: u64 },
    #[error("the log header is corrupt (checksum {found:08x}, computed {computed:08x}); the file was damaged, record again")]
    HeaderChecksum { found: u32, computed: u32 },
    #[error("the log header does not parse: {0}; the file was damaged or written by an incompatible reprise")]
    HeaderDecode(DecodeError),
    #[error("chunk {chunk} at byte {offset} is corrupt (checksum {found:08x}, computed {computed:08x}); the log can be replayed up to instruction {icount}, where the previous chunk ends")]
    ChunkChecksum {
        chunk: u64,
        offset: u64,
        found: u32,
        computed: u32,
        icount: u64,
    },
    #[error("chunk {chunk} at byte {offset} is malformed: {reason}; the log can be replayed up to instruction {icount}")]
    BadChunk {
        chunk: u64,
        offset: u64,
        reason: String,
        icount: u64,
    },
    #[error("log ends at instruction {icount} (chunk {chunk} incomplete: {detail}); everything before it was read — a recording cut by a crash replays up to here")]
    Truncated {
        icount: u64,
        chunk: u64,
        detail: String,
    },
    #[error("the machine logged instruction {icount} after instruction {previous}: instruction counts must not go backwards (a bug in the machine, please report it)")]
    IcountBackwards { previous: u64, icount: u64 },
    #[error(
        "a record of {len} bytes is larger than the {max}-byte limit of one chunk; split the input"
    )]
    RecordTooLarge { len: usize, max: usize },
    #[error("snapshot: {0}")]
    Snapshot(#[from] crate::snapshot::SnapshotError),
}

impl LogError {
    pub(crate) fn io(action: &'static str, path: &str, source: std::io::Error) -> Self {
        LogError::Io {
            action,
            path: path.to_string(),
            source,
        }
    }
}
