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
//!   0xd000_0000 .. 0xd000_0200   virtio-mmio: virtio-blk, drive 0 (--drive), I/O APIC pin 16
//!   0xd000_0200 .. 0xd000_0400   virtio-mmio: virtio-rng (--rng on), I/O APIC pin 17
//!   0xd000_0400 .. 0xd000_0600   virtio-mmio: virtio-net (--netdev), I/O APIC pin 18
//!   0xd000_0600 .. 0xd000_0800   virtio-mmio: virtio-blk, drive 1, I/O APIC pin 19
//!   0xd000_0800 .. 0xd000_0a00   virtio-mmio: virtio-blk, drive 2, I/O APIC pin 19
//!   0xd000_0a00 .. 0xd000_0c00   virtio-mmio: virtio-blk, drive 3, I/O APIC pin 19
//!   0xe000_0000 .. 0xfec0_0000   PCI memory window: 32-bit memory BARs (assigned
//!                                at machine build, as firmware does)
//!   0xfec0_0000 .. 0xfec0_1000   I/O APIC (24 pins)
//!   0xfee0_0000 .. 0xfee0_1000   local APIC (xAPIC MMIO window)
//!
//! I/O ports
//!   0x0020 .. 0x0022   8259 PIC, master (IRQ 0-7)
//!   0x0040 .. 0x0044   8254 PIT
//!   0x0060             i8042 PS/2 controller, data
//!   0x0061             system control port B (PIT channel 2 gate, speaker)
//!   0x0064             i8042 PS/2 controller, status / command
//!   0x0070 .. 0x0072   CMOS RTC (index, data)
//!   0x00a0 .. 0x00a2   8259 PIC, slave (IRQ 8-15, cascaded on IRQ 2)
//!   0x00f4 .. 0x00f8   isa-debug-exit: write v -> exit status (v << 1) | 1
//!   0x03f8 .. 0x0400   COM1, 16550A UART
//!   0x04d0 .. 0x04d2   PIC edge/level control registers (ELCR)
//!   0x0cf8             PCI CONFIG_ADDRESS (dword accesses only)
//!   0x0cf9             PIIX3 reset control (byte accesses; bit 2 = reset)
//!   0x0cfc .. 0x0d00   PCI CONFIG_DATA (byte, word, dword)
//!   0xc000 .. 0x1_0000 PCI I/O window: I/O BARs (assigned at machine build)
//!   anything else      reads all ones, writes ignored
//!
//! ISA IRQ lines (PIC input n; I/O APIC pin n, except the PIT: pin 2, as on PCs and
//! as the MP table / ACPI interrupt-source override describe)
//!   0   PIT channel 0
//!   1   i8042 keyboard
//!   4   COM1
//!   8   RTC
//!   10  PCI PIRQA and PIRQB (as routed by firmware; the guest may re-route)
//!   11  PCI PIRQC and PIRQD
//!   12  i8042 mouse
//!
//! PCI-range I/O APIC pins (no 8259 input; level-triggered, active high — Linux's
//! `virtio_mmio.device=0x200@0xd0000000:16` sets them up that way)
//!   16  virtio-blk, drive 0
//!   17  virtio-rng
//!   18  virtio-net
//!   19  virtio-blk, drives 1-3 (shared: the OR of their lines; Linux's virtio_mmio
//!       requests its interrupt shared)
//!   20  PCI PIRQA   (slot s, pin p (1 = INTA#) drives PIRQ (s + p - 1) % 4)
//!   21  PCI PIRQB
//!   22  PCI PIRQC
//!   23  PCI PIRQD
//!
//! PCI bus 0 (configuration mechanism #1)
//!   00:00.0  Intel 440FX host bridge (8086:1237)
//!   00:01.0  Intel PIIX3 ISA bridge (8086:7000), PIRQ route registers 0x60..0x63
//! ```
//!
//! The virtio windows sit below 4 GiB, above RAM: with a virtio device present,
//! `--memory` must end at or below 0xd000_0000 (`check_ram`; RAM has no hole yet).
//! PCI memory BARs sit in the PCI memory window: with one present, RAM must end at or
//! below 0xe000_0000 (`check_ram_below`, checked when the firmware has placed them).

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

/// virtio-mmio windows (`reprise_devices::virtio::MMIO_SIZE` bytes each).
pub const VIRTIO_BLK_BASE: u64 = 0xd000_0000;
pub const VIRTIO_RNG_BASE: u64 = 0xd000_0200;
/// virtio-blk windows by drive number (`--drive` in the order given).
pub const VIRTIO_BLK_BASES: [u64; MAX_DRIVES] =
    [VIRTIO_BLK_BASE, 0xd000_0600, 0xd000_0800, 0xd000_0a00];
/// At most this many `--drive`s.
pub const MAX_DRIVES: usize = 4;
pub const VIRTIO_NET_BASE: u64 = 0xd000_0400;
pub const VIRTIO_SIZE: u64 = reprise_devices::virtio::MMIO_SIZE;

/// The PCI memory window: firmware places 32-bit memory BARs here. RAM must end
/// below it when a function has a memory BAR (`check_ram_below`).
pub const PCI_MEM_BASE: u64 = 0xe000_0000;
pub const PCI_MEM_END: u64 = 0xfec0_0000;

/// The I/O APIC's register window.
pub const IOAPIC_BASE: u64 = 0xfec0_0000;
pub const IOAPIC_SIZE: u64 = 0x1000;
/// The local APIC's xAPIC register window (IA32_APIC_BASE's reset value).
pub const LAPIC_BASE: u64 = 0xfee0_0000;
pub const LAPIC_SIZE: u64 = 0x1000;

/// Default guest RAM size in MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 128;

// ---- I/O ports ---------------------------------------------------------------------

/// The 8259 pair: master command/data, slave command/data, and the ELCR pair.
pub const PIC_MASTER_PORT: u16 = 0x20;
pub const PIC_SLAVE_PORT: u16 = 0xa0;
pub const PIC_SIZE: u16 = 2;
pub const ELCR_PORT: u16 = 0x4d0;
pub const ELCR_SIZE: u16 = 2;
/// The 8254 PIT: counters 0-2 and the mode/command register.
pub const PIT_PORT: u16 = 0x40;
pub const PIT_SIZE: u16 = 4;
/// System control port B: bit 0 gates PIT channel 2, bit 1 enables the speaker,
/// bit 5 reads channel 2's output.
pub const PORT_B: u16 = 0x61;
/// The i8042 PS/2 controller: data port, and status/command port (the device's
/// offsets 0 and 4; port B sits between them).
pub const I8042_DATA_PORT: u16 = 0x60;
pub const I8042_CMD_PORT: u16 = 0x64;
/// CMOS RTC: index register, then data register.
pub const RTC_PORT: u16 = 0x70;
pub const RTC_SIZE: u16 = 2;
/// isa-debug-exit, as QEMU's `-device isa-debug-exit,iobase=0xf4,iosize=4`.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
pub const DEBUG_EXIT_SIZE: u16 = reprise_devices::DebugExit::SIZE;
/// COM1.
pub const COM1_PORT: u16 = 0x3f8;
pub const COM1_SIZE: u16 = 8;
/// The PCI configuration ports: CONFIG_ADDRESS (0xcf8), the PIIX3 reset control
/// register (0xcf9), CONFIG_DATA (0xcfc..0xd00).
pub const PCI_CONFIG_PORT: u16 = 0xcf8;
pub const PCI_CONFIG_SIZE: u16 = reprise_devices::pci::PORT_WINDOW;
/// The PCI I/O window: firmware places I/O BARs from here to the top of I/O space.
pub const PCI_IO_BASE: u16 = 0xc000;
pub const PCI_IO_END: u32 = 0x1_0000;

// ---- IRQ lines ---------------------------------------------------------------------

/// ISA IRQ lines.
pub const PIT_IRQ: u8 = 0;
pub const KBD_IRQ: u8 = 1;
pub const COM1_IRQ: u8 = 4;
pub const RTC_IRQ: u8 = 8;
pub const MOUSE_IRQ: u8 = 12;
/// The I/O APIC pin the PIT is wired to (ISA IRQ 0 is overridden to GSI 2).
pub const PIT_IOAPIC_PIN: u8 = 2;
/// I/O APIC pins of the virtio devices (above the ISA range: the 8259 never sees them).
pub const VIRTIO_BLK_GSI: u8 = 16;
pub const VIRTIO_RNG_GSI: u8 = 17;
/// The I/O APIC pin of virtio-net.
pub const VIRTIO_NET_GSI: u8 = 18;
/// The pin drives 1-3 share.
pub const VIRTIO_BLK_SHARED_GSI: u8 = 19;
/// The I/O APIC pins PIRQ A-D drive (level, active high; no 8259 input of their own).
pub const PCI_PIRQ_GSI: [u8; 4] = [20, 21, 22, 23];
/// The ISA IRQs firmware routes PIRQ A-D to (PIIX3 route registers 0x60..0x63) and
/// writes into the interrupt line register of the functions behind them.
pub const PCI_PIRQ_IRQ: [u8; 4] = [10, 10, 11, 11];

/// The I/O APIC pin of drive `i`.
pub fn virtio_blk_gsi(i: usize) -> u8 {
    if i == 0 {
        VIRTIO_BLK_GSI
    } else {
        VIRTIO_BLK_SHARED_GSI
    }
}

/// Linux's command-line words that describe the virtio devices present: `drives`
/// virtio-blk devices, virtio-rng if `rng`, virtio-net if `net`, in address order.
pub fn virtio_cmdline(drives: usize, rng: bool, net: bool) -> String {
    let dev = |base: u64, gsi: u8| format!("virtio_mmio.device={VIRTIO_SIZE:#x}@{base:#x}:{gsi}");
    let mut v = Vec::new();
    if drives > 0 {
        v.push(dev(VIRTIO_BLK_BASE, VIRTIO_BLK_GSI));
    }
    if rng {
        v.push(dev(VIRTIO_RNG_BASE, VIRTIO_RNG_GSI));
    }
    if net {
        v.push(dev(VIRTIO_NET_BASE, VIRTIO_NET_GSI));
    }
    for (i, &base) in VIRTIO_BLK_BASES
        .iter()
        .enumerate()
        .take(drives.min(MAX_DRIVES))
        .skip(1)
    {
        v.push(dev(base, virtio_blk_gsi(i)));
    }
    v.join(" ")
}

/// Guest RAM must end below the first virtio window (checked when a virtio device is
/// present).
pub fn check_ram(memory_mib: u64) -> Result<(), String> {
    if memory_mib.saturating_mul(1 << 20) > VIRTIO_BLK_BASE {
        return Err(format!(
            "--memory {memory_mib} MiB would overlap the device windows at {VIRTIO_BLK_BASE:#x}; use at most {} MiB",
            VIRTIO_BLK_BASE >> 20
        ));
    }
    Ok(())
}

/// Guest RAM must end at or below `limit` (the start of the device windows above it).
pub fn check_ram_below(memory_mib: u64, limit: u64) -> Result<(), String> {
    if memory_mib.saturating_mul(1 << 20) > limit {
        return Err(format!(
            "--memory {memory_mib} MiB would overlap the device windows at {limit:#x}; use at most {} MiB",
            limit >> 20
        ));
    }
    Ok(())
}

// The boot tables lie in the reserved area, below where guests are linked.
const _: () = {
    assert!(BOOT_GDT < BOOT_PML4 && BOOT_PML4 < BOOT_PDPT);
    assert!(BOOT_PDPT + 0x1000 <= LOADER_RESERVED_END);
    assert!(LOADER_RESERVED_END <= GUEST_LINK_BASE);
    // The PCI windows sit between the virtio windows and the I/O APIC.
    assert!(VIRTIO_RNG_BASE + VIRTIO_SIZE <= PCI_MEM_BASE);
    assert!(PCI_MEM_END <= IOAPIC_BASE);
    assert!(PCI_CONFIG_PORT as u32 + PCI_CONFIG_SIZE as u32 <= PCI_IO_BASE as u32);
};

/// A device on the port bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDevice {
    PicMaster,
    Pit,
    I8042Data,
    PortB,
    I8042Cmd,
    Rtc,
    PicSlave,
    DebugExit,
    Com1,
    Elcr,
    PciConfig,
}

/// The port map in address order: (first port, size, device).
pub const PORT_MAP: &[(u16, u16, PortDevice)] = &[
    (PIC_MASTER_PORT, PIC_SIZE, PortDevice::PicMaster),
    (PIT_PORT, PIT_SIZE, PortDevice::Pit),
    (I8042_DATA_PORT, 1, PortDevice::I8042Data),
    (PORT_B, 1, PortDevice::PortB),
    (I8042_CMD_PORT, 1, PortDevice::I8042Cmd),
    (RTC_PORT, RTC_SIZE, PortDevice::Rtc),
    (PIC_SLAVE_PORT, PIC_SIZE, PortDevice::PicSlave),
    (DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, PortDevice::DebugExit),
    (COM1_PORT, COM1_SIZE, PortDevice::Com1),
    (ELCR_PORT, ELCR_SIZE, PortDevice::Elcr),
    (PCI_CONFIG_PORT, PCI_CONFIG_SIZE, PortDevice::PciConfig),
];

/// A device in the MMIO space above RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioDevice {
    /// virtio-blk, drive n.
    VirtioBlk(u8),
    VirtioRng,
    VirtioNet,
    IoApic,
    Lapic,
}

/// The MMIO map in address order: (base, size, device).
pub const MMIO_MAP: &[(u64, u64, MmioDevice)] = &[
    (VIRTIO_BLK_BASE, VIRTIO_SIZE, MmioDevice::VirtioBlk(0)),
    (VIRTIO_RNG_BASE, VIRTIO_SIZE, MmioDevice::VirtioRng),
    (VIRTIO_NET_BASE, VIRTIO_SIZE, MmioDevice::VirtioNet),
    (0xd000_0600, VIRTIO_SIZE, MmioDevice::VirtioBlk(1)),
    (0xd000_0800, VIRTIO_SIZE, MmioDevice::VirtioBlk(2)),
    (0xd000_0a00, VIRTIO_SIZE, MmioDevice::VirtioBlk(3)),
    (IOAPIC_BASE, IOAPIC_SIZE, MmioDevice::IoApic),
    (LAPIC_BASE, LAPIC_SIZE, MmioDevice::Lapic),
];

/// Which device decodes physical address `addr`, and the offset inside its window.
pub fn mmio_device(addr: u64) -> Option<(MmioDevice, u64)> {
    MMIO_MAP.iter().find_map(|&(base, size, dev)| {
        let off = addr.wrapping_sub(base);
        (addr >= base && off < size).then_some((dev, off))
    })
}

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
    fn mmio_map_is_sorted_disjoint_and_above_ram() {
        for w in MMIO_MAP.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{w:?}");
        }
        assert_eq!(mmio_device(0xfee0_00b0), Some((MmioDevice::Lapic, 0xb0)));
        assert_eq!(mmio_device(0xfec0_0010), Some((MmioDevice::IoApic, 0x10)));
        assert_eq!(mmio_device(0xfee0_1000), None);
        assert_eq!(mmio_device(0x1000), None);
        assert_eq!(
            mmio_device(0xd000_0070),
            Some((MmioDevice::VirtioBlk(0), 0x70))
        );
        assert_eq!(mmio_device(0xd000_0200), Some((MmioDevice::VirtioRng, 0)));
        assert_eq!(mmio_device(0xd000_0400), Some((MmioDevice::VirtioNet, 0)));
        assert_eq!(mmio_device(0xd000_0c00), None);
        assert!(check_ram(DEFAULT_MEMORY_MIB).is_ok());
        assert!(check_ram(4096).is_err());
        assert_eq!(
            virtio_cmdline(1, true, false),
            "virtio_mmio.device=0x200@0xd0000000:16 virtio_mmio.device=0x200@0xd0000200:17"
        );
        assert_eq!(
            virtio_cmdline(3, false, false),
            "virtio_mmio.device=0x200@0xd0000000:16 virtio_mmio.device=0x200@0xd0000600:19 \
             virtio_mmio.device=0x200@0xd0000800:19"
        );
        assert_eq!(
            mmio_device(0xd000_0a04),
            Some((MmioDevice::VirtioBlk(3), 4))
        );
        assert_eq!(
            virtio_cmdline(0, false, true),
            "virtio_mmio.device=0x200@0xd0000400:18"
        );
        for (i, &b) in VIRTIO_BLK_BASES.iter().enumerate() {
            assert_eq!(mmio_device(b), Some((MmioDevice::VirtioBlk(i as u8), 0)));
        }
    }

    #[test]
    fn ports_decode_to_devices() {
        assert_eq!(port_device(0x21), Some((PortDevice::PicMaster, 1)));
        assert_eq!(port_device(0x43), Some((PortDevice::Pit, 3)));
        assert_eq!(port_device(0x60), Some((PortDevice::I8042Data, 0)));
        assert_eq!(port_device(0x61), Some((PortDevice::PortB, 0)));
        assert_eq!(port_device(0x64), Some((PortDevice::I8042Cmd, 0)));
        assert_eq!(port_device(0x71), Some((PortDevice::Rtc, 1)));
        assert_eq!(port_device(0xa1), Some((PortDevice::PicSlave, 1)));
        assert_eq!(port_device(0x4d1), Some((PortDevice::Elcr, 1)));
        assert_eq!(port_device(0xf4), Some((PortDevice::DebugExit, 0)));
        assert_eq!(port_device(0xf7), Some((PortDevice::DebugExit, 3)));
        assert_eq!(port_device(0xf8), None);
        assert_eq!(port_device(0x3f8), Some((PortDevice::Com1, 0)));
        assert_eq!(port_device(0x3fd), Some((PortDevice::Com1, 5)));
        assert_eq!(port_device(0x3ff), Some((PortDevice::Com1, 7)));
        assert_eq!(port_device(0x400), None);
        assert_eq!(port_device(0xcf8), Some((PortDevice::PciConfig, 0)));
        assert_eq!(port_device(0xcff), Some((PortDevice::PciConfig, 7)));
        assert_eq!(port_device(0xd00), None);
        assert!(check_ram_below(3584, PCI_MEM_BASE).is_ok());
        let e = check_ram_below(3585, PCI_MEM_BASE).unwrap_err();
        assert!(e.contains("0xe0000000") && e.contains("3584 MiB"), "{e}");
        assert_eq!(port_device(0), None);
        assert_eq!(port_device(0xffff), None);
    }
}
