//! Small byte-level helpers shared by the log, the events and snapshots: LEB128 varints
//! (unsigned, 7 bits a byte, low group first, high bit = "more"), zigzag for signed values,
//! length-prefixed byte strings, and a bounds-checked reader that never panics.

use thiserror::Error;

/// A payload or blob ended early or held a value out of range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("{what} runs past the end of its data (needs {needed} more bytes, {left} left)")]
    Short {
        what: &'static str,
        needed: u64,
        left: usize,
    },
    #[error("{what}: a varint is longer than 10 bytes or overflows 64 bits")]
    BadVarint { what: &'static str },
    #[error("{what}: value {value} is out of range")]
    OutOfRange { what: &'static str, value: u64 },
    #[error("{what}: {left} bytes left over after the last field")]
    Trailing { what: &'static str, left: usize },
}

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a signed value zigzag-encoded (0, -1, 1, -2 … → 0, 1, 2, 3 …) as a varint.
pub fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a varint length followed by the bytes.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over a byte slice; every read checks bounds and says what was being read.
pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Dec { buf, pos: 0, what }
    }

    pub fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn short(&self, needed: u64) -> DecodeError {
        DecodeError::Short {
            what: self.what,
            needed,
            left: self.left(),
        }
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.short(1))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        if n > self.left() as u64 {
            return Err(self.short(n));
        }
        let n = n as usize;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u64_le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(DecodeError::BadVarint { what: self.what });
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::BadVarint { what: self.what })
    }

    pub fn zigzag(&mut self) -> Result<i64, DecodeError> {
        let u = self.varint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A varint that must fit in `max`.
    pub fn varint_max(&mut self, max: u64) -> Result<u64, DecodeError> {
        let v = self.varint()?;
        if v > max {
            return Err(DecodeError::OutOfRange {
                what: self.what,
                value: v,
            });
        }
        Ok(v)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        self.take(n)
    }

    pub fn string(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes()?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.left() != 0 {
            return Err(DecodeError::Trailing {
                what: self.what,
                left: self.left(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut d = Dec::new(&b, "t");
            assert_eq!(d.varint().unwrap(), v);
            d.finish().unwrap();
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_zigzag(&mut b, v);
            assert_eq!(Dec::new(&b, "t").zigzag().unwrap(), v);
        }
    }

    #[test]
    fn overlong_and_short_varints_are_errors() {
        let b = [0xffu8; 11];
        assert!(matches!(
            Dec::new(&b, "t").varint(),
            Err(DecodeError::BadVarint { .. })
        ));
        let b = [0x80u8];
        assert!(matches!(
            Dec::new(&b, "t").varint(),
            Err(DecodeError::Short { .. })
        ));
        let mut b = vec![0x80u8; 9];
        b.push(0x02); // bit 64 set
        assert!(Dec::new(&b, "t").varint().is_err());
    }
}
