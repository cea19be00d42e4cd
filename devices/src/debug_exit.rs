//! An isa-debug-exit-compatible device: a write of value `v` asks the machine to end the
//! run with process exit status `(v << 1) | 1`, exactly as QEMU's
//! `-device isa-debug-exit,iobase=0xf4,iosize=4` does.
//!
//! As in QEMU, the offset inside the window does not matter and the value is the one
//! written with the access's width (an `out dx, al` of 0x10 gives status 0x21). Reads
//! return 0. The status is the full `(v << 1) | 1`; the host keeps its low 8 bits as the
//! process exit code, as it does for QEMU.

use serde::{Deserialize, Serialize};

/// The device has no state; the struct exists so the machine can hold and snapshot it
/// like any other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebugExit;

impl DebugExit {
    /// Bytes of I/O space the device decodes.
    pub const SIZE: u16 = 4;

    pub fn new() -> Self {
        DebugExit
    }

    /// A read of `size` bytes at `offset`: always 0.
    pub fn read(&mut self, _offset: u16, _size: u8) -> u32 {
        0
    }

    /// A write of `size` bytes (1, 2 or 4): returns the exit status the run must end with.
    pub fn write(&mut self, _offset: u16, size: u8, value: u32) -> u64 {
        let v = match size {
            1 => value & 0xff,
            2 => value & 0xffff,
            _ => value,
        };
        ((v as u64) << 1) | 1
    }

    /// The device's (empty) state, for snapshots.
    pub fn state(&self) -> DebugExit {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_value_shifted_with_low_bit_set() {
        let mut d = DebugExit::new();
        assert_eq!(d.write(0, 4, 0), 1);
        assert_eq!(d.write(0, 4, 1), 3);
        assert_eq!(d.write(0, 1, 0x10), 0x21);
        assert_eq!(d.write(0, 4, 0x7f), 0xff);
        assert_eq!(d.write(0, 4, 0xffff_ffff), 0x1_ffff_ffff);
    }

    #[test]
    fn value_is_truncated_to_access_width() {
        let mut d = DebugExit::new();
        assert_eq!(d.write(0, 1, 0x1234_5602), 5);
        assert_eq!(d.write(0, 2, 0x1234_0002), 5);
        // Any offset inside the window behaves the same.
        assert_eq!(d.write(3, 1, 2), 5);
    }

    #[test]
    fn reads_return_zero() {
        let mut d = DebugExit::new();
        for off in 0..DebugExit::SIZE {
            assert_eq!(d.read(off, 1), 0);
        }
        assert_eq!(d.read(0, 4), 0);
    }
}
