//! What the CPU sees of the machine around it: port I/O and memory-mapped I/O.
//!
//! The machine (in `src/`) implements [`Bus`]; the CPU calls it at exact instruction
//! counts (port I/O ends a block, and `icount` is the number of instructions retired
//! before the accessing instruction).

/// What a device access asks of the CPU loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusAction {
    Continue,
    /// Stop running guest code after this instruction (the machine decides why).
    Stop,
}

pub trait Bus {
    fn port_in(&mut self, port: u16, size: u8, icount: u64) -> u32;
    fn port_out(&mut self, port: u16, size: u8, value: u32, icount: u64) -> BusAction;
    /// Physical addresses outside RAM. Reads of nothing return all ones.
    fn mmio_read(&mut self, addr: u64, size: u8, icount: u64) -> u64;
    fn mmio_write(&mut self, addr: u64, size: u8, value: u64, icount: u64) -> BusAction;
}

/// A bus with nothing on it: reads float high, writes vanish.
pub struct EmptyBus;

impl Bus for EmptyBus {
    fn port_in(&mut self, _port: u16, size: u8, _icount: u64) -> u32 {
        crate::flags::size_mask(size) as u32
    }
    fn port_out(&mut self, _: u16, _: u8, _: u32, _: u64) -> BusAction {
        BusAction::Continue
    }
    fn mmio_read(&mut self, _addr: u64, size: u8, _icount: u64) -> u64 {
        crate::flags::size_mask(size)
    }
    fn mmio_write(&mut self, _: u64, _: u8, _: u64, _: u64) -> BusAction {
        BusAction::Continue
    }
}
