//! What the CPU sees of the machine around it: port I/O, memory-mapped I/O, device
//! MSRs and the interrupt lines.
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

    /// MSRs that belong to devices (the x2APIC range 0x800–0x8FF, IA32_TSC_DEADLINE
    /// 0x6E0). `None`: no device implements `msr` (the CPU raises #GP). MOV to and
    /// from CR8 also come here, as the pseudo-MSR `CR8_ALIAS` (0xFFFF_0008) with the
    /// CR8 value, since CR8 is the local APIC's task priority.
    fn msr_read(&mut self, _msr: u32, _icount: u64) -> Option<u64> {
        None
    }
    /// `None`: no device implements `msr` (the CPU raises #GP). Writes to
    /// IA32_APIC_BASE (0x1B) are also passed here after the CPU stored them, so the
    /// local APIC sees its enable and x2APIC bits; the result is ignored for it.
    fn msr_write(&mut self, _msr: u32, _value: u64, _icount: u64) -> Option<BusAction> {
        None
    }

    /// Is the maskable interrupt request (INTR) asserted? The CPU asks at instruction
    /// boundaries where RFLAGS.IF = 1 and no interrupt shadow is in force.
    fn intr_pending(&mut self) -> bool {
        false
    }
    /// The interrupt-acknowledge cycle: the vector to deliver, now in service at the
    /// controller. `None`: the request went away meanwhile (nothing is delivered).
    fn intr_acknowledge(&mut self, _icount: u64) -> Option<u8> {
        None
    }
    /// Random bits for RDRAND (`seed` false) or RDSEED (`seed` true), `size` bytes
    /// (2, 4 or 8). `None`: no entropy available now (the instruction reports failure
    /// with CF = 0, as hardware may). `Stop` ends the run after the instruction (the
    /// machine could not supply the bits, e.g. a replay that diverged).
    fn random(&mut self, _seed: bool, _size: u8, _icount: u64) -> (Option<u64>, BusAction) {
        (None, BusAction::Continue)
    }
    /// Takes a pending NMI edge (true at most once per NMI).
    fn take_nmi(&mut self) -> bool {
        false
    }
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
