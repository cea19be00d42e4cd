//! The port bus: decodes ports through `layout` and forwards offsets to the devices.

use crate::layout::{self, PortDevice};
use reprise_devices::{DebugExit, Uart};
use reprise_jit::{Bus, BusAction};
use std::io::Write;

/// The machine's port bus.
pub(super) struct PortBus {
    pub com1: Uart<Box<dyn Write + Send>>,
    pub debug_exit: DebugExit,
    /// Set by a debug-exit write: (value, status).
    pub exit: Option<(u32, u64)>,
}

impl Bus for PortBus {
    fn port_in(&mut self, port: u16, size: u8, _icount: u64) -> u32 {
        match layout::port_device(port) {
            Some((PortDevice::DebugExit, off)) => self.debug_exit.read(off, size),
            Some((PortDevice::Com1, _)) => {
                // Wider accesses read consecutive byte registers, as on the ISA bus.
                let mut v = 0u32;
                for k in 0..size.min(4) as u16 {
                    let b = match layout::port_device(port.wrapping_add(k)) {
                        Some((PortDevice::Com1, off)) => self.com1.read(off as u8),
                        _ => 0xff,
                    };
                    v |= (b as u32) << (8 * k);
                }
                v
            }
            None => (reprise_jit::flags::size_mask(size) & 0xffff_ffff) as u32,
        }
    }

    fn port_out(&mut self, port: u16, size: u8, value: u32, _icount: u64) -> BusAction {
        match layout::port_device(port) {
            Some((PortDevice::DebugExit, off)) => {
                let status = self.debug_exit.write(off, size, value);
                let v = ((status >> 1) & 0xffff_ffff) as u32;
                self.exit = Some((v, status));
                BusAction::Stop
            }
            Some((PortDevice::Com1, _)) => {
                for k in 0..size.min(4) as u16 {
                    if let Some((PortDevice::Com1, off)) = layout::port_device(port.wrapping_add(k))
                    {
                        // A host output error loses the byte; the guest cannot tell.
                        let _ = self.com1.write(off as u8, (value >> (8 * k)) as u8);
                    }
                }
                BusAction::Continue
            }
            None => BusAction::Continue,
        }
    }

    fn mmio_read(&mut self, _addr: u64, size: u8, _icount: u64) -> u64 {
        reprise_jit::flags::size_mask(size)
    }

    fn mmio_write(&mut self, _: u64, _: u8, _: u64, _: u64) -> BusAction {
        BusAction::Continue
    }
}
