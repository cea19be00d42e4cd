//! The machine's memory map, I/O ports and IRQ lines, in address order. This file is the
//! one place that says where things are; devices only know offsets inside their window.
//!
//! ```text
//! Physical memory (RAM starts at 0 and is --memory MiB long)
//!   0x0000_0000 .. 0x0000_1000   reserved (null page, never loaded)
//!   0x0000_1000 .. 0x0000_1018   boot GDT: null, 0x08 64-bit code, 0x10 flat data
//!   0x0000_2000 .. 0x0000_3000   boot PML4
//!   0x0000_3000 .. 0x0000_4000   boot PDPT (four 1 GiB pages: 0 .. 4 GiB identity)
//!   0x0000_4000 .. 0x0008_0000   reserved for the loader's future tables
//!   0x0008_0000 .. RAM end       free for the guest; ELF segments load here
//!   0x0010_0000                  where reprise's own guests are linked (1 MiB)
//!   RAM end     .. 4 GiB         identity-mapped but not RAM: reads float high,
//!                                executing there stops the machine
//!
//! I/O ports
//!   0x00f4 .. 0x00f8   isa-debug-exit: write v -> exit status (v << 1) | 1
//!   0x03f8 .. 0x0400   COM1, 16550A UART (IRQ 4 once interrupts exist)
//!   anything else      reads all ones, writes ignored
//! ```

use reprise_jit::boot;

// ---- Physical memory -------------------------------------------------------------

/// RAM is one block from physical address 0.
pub const RAM_START: u64 = 0;
/// The boot GDT (written by `jit::boot::enter_long_mode`).
pub const BOOT_GDT: u64 = boot::GDT_ADDR;
/// The boot page tables: PML4, then the PDPT with 1 GiB identity pages.
pub const BOOT_PML4: u64 = boot::PML4_ADDR;
pub const BOOT_PDPT: u64 = boot::PDPT_ADDR;
/// Everything below this is reserved for the loader; ELF segments must start at or
/// above it.
pub const LOADER_RESERVED_END: u64 = boot::RESERVED_END;
/// Where reprise's test and demo guests are linked.
pub const GUEST_LINK_BASE: u64 = 0x10_0000;
/// The identity mapping set up at boot covers this much of the address space.
pub const IDENTITY_MAP_END: u64 = 4 << 30;

/// Default guest RAM size in MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 128;

// ---- I/O ports ---------------------------------------------------------------------

/// isa-debug-exit, as QEMU's `-device isa-debug-exit,iobase=0xf4,iosize=4`.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
pub const DEBUG_EXIT_SIZE: u16 = reprise_devices::DebugExit::SIZE;
/// COM1.
pub const COM1_PORT: u16 = 0x3f8;
pub const COM1_SIZE: u16 = 8;

// ---- IRQ lines ---------------------------------------------------------------------

/// COM1's interrupt line (not connected yet: there is no interrupt controller).
pub const COM1_IRQ: u8 = 4;

// The boot tables lie in the reserved area, below where guests are linked.
const _: () = {
    assert!(BOOT_GDT < BOOT_PML4 && BOOT_PML4 < BOOT_PDPT);
    assert!(BOOT_PDPT + 0x1000 <= LOADER_RESERVED_END);
    assert!(LOADER_RESERVED_END <= GUEST_LINK_BASE);
};

/// A device on the port bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDevice {
    DebugExit,
    Com1,
}

/// The port map in address order: (first port, size, device).
pub const PORT_MAP: &[(u16, u16, PortDevice)] = &[
    (DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, PortDevice::DebugExit),
    (COM1_PORT, COM1_SIZE, PortDevice::Com1),
];

/// Which device decodes `port`, and the offset inside its window.
pub fn port_device(port: u16) -> Option<(PortDevice, u16)> {
    PORT_MAP.iter().find_map(|&(base, size, dev)| {
        let off = port.wrapping_sub(base);
        (port >= base && off < size).then_some((dev, off))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_map_is_sorted_and_disjoint() {
        for w in PORT_MAP.windows(2) {
            assert!(w[0].0 as u32 + w[0].1 as u32 <= w[1].0 as u32, "{w:?}");
        }
    }

    #[test]
    fn ports_decode_to_devices() {
        assert_eq!(port_device(0xf4), Some((PortDevice::DebugExit, 0)));
        assert_eq!(port_device(0xf7), Some((PortDevice::DebugExit, 3)));
        assert_eq!(port_device(0xf8), None);
        assert_eq!(port_device(0x3f8), Some((PortDevice::Com1, 0)));
        assert_eq!(port_device(0x3fd), Some((PortDevice::Com1, 5)));
        assert_eq!(port_device(0x3ff), Some((PortDevice::Com1, 7)));
        assert_eq!(port_device(0x400), None);
        assert_eq!(port_device(0), None);
        assert_eq!(port_device(0xffff), None);
    }
}
