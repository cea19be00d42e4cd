//! The file header: magic, version, and the header record (see [`crate::log`]).

use super::LogError;
use crate::clock::{ClockConfig, IcountShift, SleepPolicy};
use crate::codec::{put_bytes, put_varint, Dec, DecodeError};
use crate::image::{ImageId, ImageRecord};

pub const MAGIC: [u8; 8] = *b"RPRSLOG\0";
/// The version this reprise writes. 2: the recorded run gained drives, audio, keyboard,
/// netdev and no-reboot; snapshots carry the PCI bus. 3: snapshots may hold the lazy
/// flag kind of MUL/IMUL (`CcKind::Mul`), which a version-2 reader would take for
/// explicit flags. Logs older than [`OLDEST_READABLE`] are refused with a message
/// naming the versions.
pub const FORMAT_VERSION: u16 = 3;
/// The oldest version this reprise still reads (a version-2 log never holds a flag kind
/// this reprise reads differently).
pub const OLDEST_READABLE: u16 = 2;
/// magic (8) + version (2) + body length (4) + body crc32 (4).
pub const PREFIX_LEN: usize = 18;
/// A header body larger than this is refused (the machine configuration is small).
pub const MAX_HEADER_BODY: u32 = 64 << 20;

/// Everything a replay needs besides the events: who wrote the log, the clock policy, the
/// machine's configuration (opaque to this crate) and the image files used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogHeader {
    /// The program that wrote the log, e.g. "reprise 0.1.0".
    pub producer: String,
    pub clock: ClockConfig,
    /// The machine configuration as the machine serialised it (bincode, serde …).
    pub config: Vec<u8>,
    pub images: Vec<ImageRecord>,
}

impl LogHeader {
    pub fn new(config: Vec<u8>, clock: ClockConfig, images: Vec<ImageRecord>) -> Self {
        LogHeader {
            producer: format!("reprise {}", env!("CARGO_PKG_VERSION")),
            clock,
            config,
            images,
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_bytes(&mut b, self.producer.as_bytes());
        let (mode, shift) = match self.clock.shift {
            IcountShift::Fixed(n) => (0u8, n),
            IcountShift::Auto { initial } => (1u8, initial),
        };
        b.push(mode);
        b.push(shift);
        b.push(match self.clock.sleep {
            SleepPolicy::Off => 0,
            SleepPolicy::On => 1,
        });
        put_bytes(&mut b, &self.config);
        put_varint(&mut b, self.images.len() as u64);
        for im in &self.images {
            put_bytes(&mut b, im.path.as_bytes());
            put_varint(&mut b, im.size);
            b.extend_from_slice(&im.id.0);
        }
        b
    }

    /// The header's bytes as they start the file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = self.body();
        let mut out = Vec::with_capacity(PREFIX_LEN + body.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Checks the fixed prefix; returns the body length and checksum.
    pub fn parse_prefix(p: &[u8]) -> Result<(u32, u32), LogError> {
        let magic_have = p.len().min(MAGIC.len());
        if p.get(..magic_have) != MAGIC.get(..magic_have) {
            return Err(LogError::NotALog {
                found: p.iter().take(8).copied().collect(),
            });
        }
        if p.len() < PREFIX_LEN {
            return Err(LogError::TruncatedHeader {
                needed: PREFIX_LEN as u64,
                have: p.len() as u64,
            });
        }
        let mut d = Dec::new(p.get(8..).unwrap_or_default(), "header prefix");
        let version = u16::from_le_bytes(d.array().map_err(LogError::HeaderDecode)?);
        if !(OLDEST_READABLE..=FORMAT_VERSION).contains(&version) {
            return Err(LogError::Version {
                found: version,
                oldest: OLDEST_READABLE,
                newest: FORMAT_VERSION,
            });
        }
        let len = u32::from_le_bytes(d.array().map_err(LogError::HeaderDecode)?);
        let crc = u32::from_le_bytes(d.array().map_err(LogError::HeaderDecode)?);
        if len > MAX_HEADER_BODY {
            return Err(LogError::HeaderDecode(DecodeError::OutOfRange {
                what: "header length",
                value: u64::from(len),
            }));
        }
        Ok((len, crc))
    }

    /// Parses a header body whose checksum was verified.
    pub fn parse_body(body: &[u8]) -> Result<LogHeader, LogError> {
        Self::parse_body_inner(body).map_err(LogError::HeaderDecode)
    }

    fn parse_body_inner(body: &[u8]) -> Result<LogHeader, DecodeError> {
        let mut d = Dec::new(body, "log header");
        let producer = d.string()?;
        let mode = d.u8()?;
        let shift = d.u8()?;
        if shift > crate::clock::MAX_SHIFT {
            return Err(DecodeError::OutOfRange {
                what: "icount shift",
                value: u64::from(shift),
            });
        }
        let shift = match mode {
            0 => IcountShift::Fixed(shift),
            1 => IcountShift::Auto { initial: shift },
            n => {
                return Err(DecodeError::OutOfRange {
                    what: "icount shift mode",
                    value: u64::from(n),
                })
            }
        };
        let sleep = match d.u8()? {
            0 => SleepPolicy::Off,
            1 => SleepPolicy::On,
            n => {
                return Err(DecodeError::OutOfRange {
                    what: "sleep policy",
                    value: u64::from(n),
                })
            }
        };
        let config = d.bytes()?.to_vec();
        let n = d.varint()?;
        let mut images = Vec::new();
        for _ in 0..n {
            let path = d.string()?;
            let size = d.varint()?;
            let id = ImageId(d.array()?);
            images.push(ImageRecord { path, size, id });
        }
        d.finish()?;
        Ok(LogHeader {
            producer,
            clock: ClockConfig { shift, sleep },
            config,
            images,
        })
    }
}
