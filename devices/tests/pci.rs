//! The PCI bus at register level: configuration mechanism #1 at every width, the
//! chipset functions, BAR sizing and decode, the command register, INTx → PIRQ routing,
//! firmware setup, timers and state.

use reprise_devices::pci::header::{command, STATUS_INTERRUPT};
use reprise_devices::pci::{
    pirq_of, BarKind, FirmwareConfig, FunctionHost, NullHost, Pci, PciFunction, PciIdentity,
    CONFIG_ADDRESS, CONFIG_DATA, RESET_CONTROL,
};
use std::sync::{Arc, Mutex};

/// What the test function saw, shared with the test.
#[derive(Debug, Default)]
struct Seen {
    accesses: Vec<(&'static str, usize, u64, Vec<u8>)>,
    bus_master: Option<bool>,
    irq: bool,
    deadline: Option<u64>,
    advanced: Vec<u64>,
    config: [u8; 4],
    resets: u32,
}

struct TestFn {
    seen: Arc<Mutex<Seen>>,
    bars: [Option<BarKind>; 6],
    pin: u8,
}

const TEST_ID: PciIdentity = PciIdentity {
    vendor_id: 0x1234,
    device_id: 0x5678,
    revision: 0x42,
    class: 0x04_01_00,
    subsystem_vendor_id: 0xabcd,
    subsystem_id: 0xef01,
    interrupt_pin: 1,
};

impl TestFn {
    fn new(bars: [Option<BarKind>; 6], pin: u8) -> (TestFn, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (
            TestFn {
                seen: seen.clone(),
                bars,
                pin,
            },
            seen,
        )
    }
}

impl PciFunction for TestFn {
    fn identity(&self) -> PciIdentity {
        PciIdentity {
            interrupt_pin: self.pin,
            ..TEST_ID
        }
    }
    fn bars(&self) -> [Option<BarKind>; 6] {
        self.bars
    }
    fn bar_read(
        &mut self,
        bar: usize,
        off: u64,
        data: &mut [u8],
        _: u64,
        _: &mut dyn FunctionHost,
    ) {
        for (k, b) in data.iter_mut().enumerate() {
            *b = (bar as u8) << 4 | (off as u8).wrapping_add(k as u8);
        }
        let mut s = self.seen.lock().unwrap();
        s.accesses.push(("r", bar, off, data.to_vec()));
    }
    fn bar_write(&mut self, bar: usize, off: u64, data: &[u8], _: u64, _: &mut dyn FunctionHost) {
        let mut s = self.seen.lock().unwrap();
        s.accesses.push(("w", bar, off, data.to_vec()));
    }
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        let s = self.seen.lock().unwrap();
        for (k, b) in data.iter_mut().enumerate() {
            *b = match usize::from(offset) + k {
                o @ 0x40..=0x43 => s.config[o - 0x40],
                _ => 0,
            };
        }
    }
    fn config_write(&mut self, offset: u16, data: &[u8]) {
        let mut s = self.seen.lock().unwrap();
        for (k, &b) in data.iter().enumerate() {
            if let o @ 0x40..=0x43 = usize::from(offset) + k {
                s.config[o - 0x40] = b;
            }
        }
    }
    fn irq_level(&self) -> bool {
        self.seen.lock().unwrap().irq
    }
    fn set_bus_master(&mut self, enabled: bool) {
        self.seen.lock().unwrap().bus_master = Some(enabled);
    }
    fn next_deadline(&self) -> Option<u64> {
        self.seen.lock().unwrap().deadline
    }
    fn advance(&mut self, now_ns: u64, _: &mut dyn FunctionHost) {
        let mut s = self.seen.lock().unwrap();
        s.advanced.push(now_ns);
        s.deadline = None;
    }
    fn reset(&mut self) {
        self.seen.lock().unwrap().resets += 1;
    }
    fn save_state(&self) -> Vec<u8> {
        self.seen.lock().unwrap().config.to_vec()
    }
    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.seen.lock().unwrap().config = bytes.try_into().map_err(|_| "bad length")?;
        Ok(())
    }
}

const IO64: Option<BarKind> = Some(BarKind::Io { size: 64 });
const MEM4K: Option<BarKind> = Some(BarKind::Mem32 { size: 4096 });

/// A PC bus with the test function in `slot` (I/O BAR0 of 64 bytes, memory BAR1 of
/// 4 KiB).
fn bus_with(slot: u8) -> (Pci, Arc<Mutex<Seen>>) {
    let mut p = Pci::pc();
    let (f, seen) = TestFn::new([IO64, MEM4K, None, None, None, None], 1);
    p.add_function(slot, Box::new(f)).unwrap();
    (p, seen)
}

fn select(p: &mut Pci, slot: u8, reg: u16) {
    let a = 0x8000_0000u32 | u32::from(slot) << 11 | u32::from(reg & 0xfc);
    p.port_write(CONFIG_ADDRESS, &a.to_le_bytes());
}

/// A read through CONFIG_DATA of `width` bytes at `reg` (not crossing a dword).
fn cfg_read(p: &mut Pci, slot: u8, reg: u16, width: usize) -> u32 {
    select(p, slot, reg);
    let mut b = [0u8; 4];
    p.port_read(CONFIG_DATA + (reg & 3), &mut b[..width]);
    u32::from_le_bytes(b)
}

fn cfg_write(p: &mut Pci, slot: u8, reg: u16, width: usize, v: u32) {
    select(p, slot, reg);
    p.port_write(CONFIG_DATA + (reg & 3), &v.to_le_bytes()[..width]);
}

const FW: FirmwareConfig = FirmwareConfig {
    io_start: 0xc000,
    io_end: 0x1_0000,
    mem_start: 0xe000_0000,
    mem_end: 0xfec0_0000,
    pirq_irqs: [10, 10, 11, 11],
};

#[test]
fn config_address_takes_dword_accesses_only() {
    let mut p = Pci::pc();
    p.port_write(CONFIG_ADDRESS, &0x8012_3457u32.to_le_bytes());
    let mut b = [0u8; 4];
    p.port_read(CONFIG_ADDRESS, &mut b);
    // Bits 30:24 and 1:0 are reserved and read 0.
    assert_eq!(u32::from_le_bytes(b), 0x8012_3454);
    // Byte and word accesses at 0xcf8 go to the ISA bus: nothing there.
    p.port_write(CONFIG_ADDRESS, &[0]);
    p.port_write(CONFIG_ADDRESS, &[0, 0]);
    p.port_read(CONFIG_ADDRESS, &mut b);
    assert_eq!(u32::from_le_bytes(b), 0x8012_3454);
    let mut w = [0u8; 2];
    p.port_read(CONFIG_ADDRESS, &mut w);
    assert_eq!(w, [0xff, 0xff]);
    let mut one = [0u8; 1];
    p.port_read(2, &mut one);
    assert_eq!(one, [0xff]);
}

#[test]
fn chipset_identity_reads_at_every_width() {
    let mut p = Pci::pc();
    assert_eq!(cfg_read(&mut p, 0, 0, 4), 0x1237_8086);
    assert_eq!(cfg_read(&mut p, 0, 0, 2), 0x8086);
    assert_eq!(cfg_read(&mut p, 0, 2, 2), 0x1237);
    assert_eq!(cfg_read(&mut p, 0, 1, 1), 0x80);
    assert_eq!(cfg_read(&mut p, 0, 3, 1), 0x12);
    assert_eq!(cfg_read(&mut p, 0, 0x08, 4) >> 8, 0x06_00_00);
    assert_eq!(cfg_read(&mut p, 0, 0x0b, 1), 0x06);
    assert_eq!(cfg_read(&mut p, 1, 0, 4), 0x7000_8086);
    assert_eq!(cfg_read(&mut p, 1, 0x0a, 2), 0x0601);
    // Header type 0, single function; no capabilities.
    assert_eq!(cfg_read(&mut p, 1, 0x0e, 1), 0);
    assert_eq!(cfg_read(&mut p, 1, 0x06, 2) & 0x10, 0);
    assert_eq!(cfg_read(&mut p, 1, 0x34, 1), 0);
    // PIRQ route registers reset to disabled.
    assert_eq!(cfg_read(&mut p, 1, 0x60, 4), 0x8080_8080);
}

#[test]
fn absent_targets_read_all_ones_and_ignore_writes() {
    let mut p = Pci::pc();
    assert_eq!(cfg_read(&mut p, 5, 0, 4), 0xffff_ffff);
    assert_eq!(cfg_read(&mut p, 31, 0, 2), 0xffff);
    cfg_write(&mut p, 5, 0x3c, 1, 9);
    assert_eq!(cfg_read(&mut p, 5, 0x3c, 4), 0xffff_ffff);
    let mut b = [0u8; 4];
    // Function 1 of slot 0, bus 1, and the enable bit clear: nothing answers.
    for a in [0x8000_0100u32, 0x8001_0000, 0x0000_0000] {
        p.port_write(CONFIG_ADDRESS, &a.to_le_bytes());
        p.port_read(CONFIG_DATA, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0xffff_ffff, "{a:#x}");
    }
    // A dword read at 0xcfe: the two bytes past the window float.
    select(&mut p, 0, 0);
    p.port_read(CONFIG_DATA + 2, &mut b);
    assert_eq!(u32::from_le_bytes(b), 0xffff_1237);
}

#[test]
fn test_function_header_and_device_specific_registers() {
    let (mut p, seen) = bus_with(3);
    assert_eq!(cfg_read(&mut p, 3, 0, 4), 0x5678_1234);
    assert_eq!(cfg_read(&mut p, 3, 0x08, 4), 0x0401_0042);
    assert_eq!(cfg_read(&mut p, 3, 0x2c, 4), 0xef01_abcd);
    assert_eq!(cfg_read(&mut p, 3, 0x3d, 1), 1);
    cfg_write(&mut p, 3, 0x3c, 1, 0x0b);
    assert_eq!(cfg_read(&mut p, 3, 0x3c, 2), 0x010b);
    // The pin is read-only.
    cfg_write(&mut p, 3, 0x3c, 4, 0xffff_ff05);
    assert_eq!(cfg_read(&mut p, 3, 0x3c, 4), 0x0000_0105);
    // 0x40.. reaches the function, at the width written.
    cfg_write(&mut p, 3, 0x41, 2, 0xbeef);
    assert_eq!(seen.lock().unwrap().config, [0, 0xef, 0xbe, 0]);
    assert_eq!(cfg_read(&mut p, 3, 0x40, 4), 0x00be_ef00);
    assert_eq!(cfg_read(&mut p, 3, 0x42, 1), 0xbe);
}

#[test]
fn bar_sizing_io_and_memory() {
    let (mut p, _) = bus_with(3);
    for i in 0..6u16 {
        cfg_write(&mut p, 3, 0x10 + 4 * i, 4, 0xffff_ffff);
    }
    // I/O: size mask with bit 0 set; memory: size mask, type bits 0 (32-bit,
    // not prefetchable); unimplemented BARs read 0.
    assert_eq!(cfg_read(&mut p, 3, 0x10, 4), 0xffff_ffc1);
    assert_eq!(cfg_read(&mut p, 3, 0x14, 4), 0xffff_f000);
    for i in 2..6u16 {
        assert_eq!(cfg_read(&mut p, 3, 0x10 + 4 * i, 4), 0);
    }
    // Expansion ROM: none.
    cfg_write(&mut p, 3, 0x30, 4, 0xffff_f800);
    assert_eq!(cfg_read(&mut p, 3, 0x30, 4), 0);
    // Programming keeps the bits above the size only.
    cfg_write(&mut p, 3, 0x10, 4, 0xc07f);
    assert_eq!(cfg_read(&mut p, 3, 0x10, 4), 0xc041);
    cfg_write(&mut p, 3, 0x14, 4, 0xe000_1fff);
    assert_eq!(cfg_read(&mut p, 3, 0x14, 4), 0xe000_1000);
    // A word write to the upper half of a BAR merges with the rest.
    cfg_write(&mut p, 3, 0x16, 2, 0xf000);
    assert_eq!(cfg_read(&mut p, 3, 0x14, 4), 0xf000_1000);
    // Byte write to the low byte of an I/O BAR: bit 0 stays set.
    cfg_write(&mut p, 3, 0x10, 1, 0x00);
    assert_eq!(cfg_read(&mut p, 3, 0x10, 4), 0xc001);
}

#[test]
fn decode_follows_the_command_register() {
    let (mut p, seen) = bus_with(3);
    let h = &mut NullHost;
    cfg_write(&mut p, 3, 0x10, 4, 0xc040);
    cfg_write(&mut p, 3, 0x14, 4, 0xe000_0000);
    let mut b = [0u8; 2];
    // Decode off after reset.
    assert!(!p.io_read(0xc044, &mut b, 0, h));
    assert!(!p.mmio_read(0xe000_0010, &mut b, 0, h));
    cfg_write(&mut p, 3, 0x04, 2, u32::from(command::IO));
    assert!(p.io_read(0xc044, &mut b, 0, h));
    assert_eq!(b, [0x04, 0x05]);
    assert!(!p.mmio_read(0xe000_0010, &mut b, 0, h));
    cfg_write(&mut p, 3, 0x04, 2, u32::from(command::MEMORY));
    assert!(!p.io_read(0xc044, &mut b, 0, h));
    assert!(p.mmio_write(0xe000_0ffe, &[1, 2], 0, h));
    // Outside the windows, or straddling the end: not decoded.
    assert!(!p.mmio_write(0xe000_0fff, &[1, 2], 0, h));
    assert!(!p.mmio_read(0xe000_1000, &mut b, 0, h));
    assert!(!p.io_read(0xc080, &mut b, 0, h));
    cfg_write(&mut p, 3, 0x04, 2, u32::from(command::MEMORY | command::IO));
    assert!(p.io_write(0xc07f, &[9], 0, h));
    assert!(!p.io_write(0xc03f, &[9], 0, h));
    assert_eq!(
        seen.lock().unwrap().accesses,
        vec![
            ("r", 0, 4, vec![0x04, 0x05]),
            ("w", 1, 0xffe, vec![1, 2]),
            ("w", 0, 0x3f, vec![9]),
        ]
    );
    // Only the writable command bits stick.
    cfg_write(&mut p, 3, 0x04, 2, 0xffff);
    assert_eq!(cfg_read(&mut p, 3, 0x04, 2), u32::from(command::WRITABLE));
}

#[test]
fn bus_master_changes_reach_the_function() {
    let (mut p, seen) = bus_with(3);
    cfg_write(&mut p, 3, 0x04, 2, u32::from(command::IO));
    assert_eq!(seen.lock().unwrap().bus_master, None);
    cfg_write(
        &mut p,
        3,
        0x04,
        1,
        u32::from(command::IO | command::BUS_MASTER),
    );
    assert_eq!(seen.lock().unwrap().bus_master, Some(true));
    // A write to the status half leaves the command alone.
    cfg_write(&mut p, 3, 0x06, 2, 0xffff);
    assert_eq!(seen.lock().unwrap().bus_master, Some(true));
    cfg_write(&mut p, 3, 0x04, 4, 0);
    assert_eq!(seen.lock().unwrap().bus_master, Some(false));
}

#[test]
fn intx_status_disable_and_swizzle() {
    assert_eq!(pirq_of(0, 1), Some(0));
    assert_eq!(pirq_of(3, 1), Some(3));
    assert_eq!(pirq_of(3, 2), Some(0));
    assert_eq!(pirq_of(5, 4), Some(0));
    assert_eq!(pirq_of(5, 0), None);
    assert_eq!(pirq_of(5, 5), None);
    for slot in [2u8, 3, 4, 5] {
        let (mut p, seen) = bus_with(slot);
        assert_eq!(p.pirq_levels(), [false; 4]);
        seen.lock().unwrap().irq = true;
        let mut want = [false; 4];
        want[usize::from(slot) % 4] = true;
        assert_eq!(p.pirq_levels(), want, "slot {slot}");
        assert_ne!(
            cfg_read(&mut p, slot, 0x06, 2) & u32::from(STATUS_INTERRUPT),
            0
        );
        // Interrupt Disable masks the line; the status bit still shows it.
        cfg_write(&mut p, slot, 0x05, 1, u32::from(command::INTX_DISABLE >> 8));
        assert_eq!(p.pirq_levels(), [false; 4]);
        assert_ne!(
            cfg_read(&mut p, slot, 0x04, 4) & u32::from(STATUS_INTERRUPT) << 16,
            0
        );
        cfg_write(&mut p, slot, 0x05, 1, 0);
        assert_eq!(p.pirq_levels(), want);
        seen.lock().unwrap().irq = false;
        assert_eq!(cfg_read(&mut p, slot, 0x06, 2), 0);
    }
    // Pin B of slot 3 lands on PIRQA.
    let mut p = Pci::pc();
    let (f, seen) = TestFn::new([None; 6], 2);
    p.add_function(3, Box::new(f)).unwrap();
    seen.lock().unwrap().irq = true;
    assert_eq!(p.pirq_levels(), [true, false, false, false]);
}

#[test]
fn pirq_route_registers() {
    let mut p = Pci::pc();
    assert_eq!(p.pirq_routes(), [None; 4]);
    cfg_write(&mut p, 1, 0x60, 4, 0x0b0a_0509);
    assert_eq!(p.pirq_routes(), [Some(9), Some(5), Some(10), Some(11)]);
    // Bit 7 disables; reserved IRQs (0, 1, 2, 8, 13) route nowhere.
    cfg_write(&mut p, 1, 0x61, 1, 0x85);
    cfg_write(&mut p, 1, 0x62, 2, 0x0d08);
    assert_eq!(p.pirq_routes(), [Some(9), None, None, None]);
    // Reserved bits 6:4 read 0.
    cfg_write(&mut p, 1, 0x60, 1, 0x7f);
    assert_eq!(cfg_read(&mut p, 1, 0x60, 1), 0x0f);
    // Without an ISA bridge nothing is routed.
    assert_eq!(Pci::new().pirq_routes(), [None; 4]);
}

#[test]
fn firmware_assigns_bars_routes_and_lines() {
    let mut p = Pci::pc();
    let (a, _) = TestFn::new(
        [
            IO64,
            MEM4K,
            Some(BarKind::Io { size: 256 }),
            None,
            None,
            None,
        ],
        1,
    );
    let (b, _) = TestFn::new(
        [
            Some(BarKind::Mem32 { size: 1 << 20 }),
            IO64,
            None,
            None,
            None,
            None,
        ],
        1,
    );
    p.add_function(3, Box::new(a)).unwrap();
    p.add_function(4, Box::new(b)).unwrap();
    p.firmware_setup(&FW).unwrap();
    assert_eq!(
        p.header(3).unwrap().bars,
        [0xc000, 0xe000_0000, 0xc100, 0, 0, 0]
    );
    // Naturally aligned: the 1 MiB BAR skips to the next MiB.
    assert_eq!(p.header(4).unwrap().bars, [0xe010_0000, 0xc200, 0, 0, 0, 0]);
    for s in [0u8, 1, 3, 4] {
        let c = p.header(s).unwrap().command;
        assert_eq!(c, command::IO | command::MEMORY, "slot {s}");
    }
    assert_eq!(p.pirq_routes(), [Some(10), Some(10), Some(11), Some(11)]);
    // Slot 3 INTA -> PIRQD -> 11, slot 4 INTA -> PIRQA -> 10.
    assert_eq!(cfg_read(&mut p, 3, 0x3c, 1), 11);
    assert_eq!(cfg_read(&mut p, 4, 0x3c, 1), 10);
    assert_eq!(cfg_read(&mut p, 0, 0x3c, 1), 0);
    // A window too small is an error, not a panic.
    let mut q = Pci::pc();
    let (c, _) = TestFn::new([MEM4K; 6], 0);
    q.add_function(2, Box::new(c)).unwrap();
    let small = FirmwareConfig {
        mem_end: 0xe000_4000,
        ..FW
    };
    let e = q.firmware_setup(&small).unwrap_err();
    assert!(e.contains("slot 2 BAR4"), "{e}");
}

#[test]
fn add_function_rejects_bad_slots_and_bars() {
    let mut p = Pci::pc();
    let (f, _) = TestFn::new([None; 6], 1);
    assert!(p
        .add_function(32, Box::new(f))
        .unwrap_err()
        .contains("slot 32"));
    let (f, _) = TestFn::new([None; 6], 1);
    let e = p.add_function(1, Box::new(f)).unwrap_err();
    assert!(e.contains("already holds 8086:7000"), "{e}");
    for bad in [
        BarKind::Io { size: 2 },
        BarKind::Io { size: 0x2_0000 },
        BarKind::Io { size: 48 },
        BarKind::Mem32 { size: 8 },
        BarKind::Mem32 { size: 0 },
    ] {
        let (f, _) = TestFn::new([None, Some(bad), None, None, None, None], 1);
        let e = p.add_function(4, Box::new(f)).unwrap_err();
        assert!(e.contains("BAR1"), "{e}");
    }
}

#[test]
fn reset_control_register() {
    let mut p = Pci::pc();
    assert!(!p.take_reset_request());
    p.port_write(RESET_CONTROL, &[0x02]);
    assert!(!p.take_reset_request());
    let mut b = [0u8];
    p.port_read(RESET_CONTROL, &mut b);
    assert_eq!(b, [0x02]);
    p.port_write(RESET_CONTROL, &[0x06]);
    assert!(p.take_reset_request());
    assert!(!p.take_reset_request());
    // A word write at 0xcf9 is not the reset register.
    p.port_write(RESET_CONTROL, &[0x06, 0]);
    assert!(!p.take_reset_request());
}

#[test]
fn timers_reach_due_functions_only() {
    let (mut p, seen) = bus_with(3);
    assert_eq!(p.next_deadline(), None);
    seen.lock().unwrap().deadline = Some(500);
    assert_eq!(p.next_deadline(), Some(500));
    p.advance(499, &mut NullHost);
    assert!(seen.lock().unwrap().advanced.is_empty());
    p.advance(700, &mut NullHost);
    assert_eq!(seen.lock().unwrap().advanced, vec![700]);
    assert_eq!(p.next_deadline(), None);
}

#[test]
fn state_round_trip_and_mismatches() {
    let (mut p, seen) = bus_with(3);
    p.firmware_setup(&FW).unwrap();
    cfg_write(&mut p, 3, 0x40, 4, 0x0102_0304);
    cfg_write(&mut p, 3, 0x04, 2, 0x07);
    cfg_write(&mut p, 1, 0x60, 1, 0x05);
    select(&mut p, 3, 0x3c);
    let st = p.state();
    let bytes = bincode::serde::encode_to_vec(&st, bincode::config::standard()).unwrap();
    let (back, _): (reprise_devices::pci::PciState, _) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    assert_eq!(back, st);

    let (mut q, seen_q) = bus_with(3);
    q.restore(&back).unwrap();
    assert_eq!(q.state(), st);
    assert_eq!(seen_q.lock().unwrap().config, seen.lock().unwrap().config);
    assert_eq!(seen_q.lock().unwrap().bus_master, Some(true));
    assert_eq!(q.pirq_routes(), [Some(5), Some(10), Some(11), Some(11)]);
    // CONFIG_ADDRESS came back too: a data read hits slot 3's interrupt register.
    let mut b = [0u8; 4];
    q.port_read(CONFIG_DATA, &mut b);
    assert_eq!(u32::from_le_bytes(b) & 0xffff, 0x010b);

    // Another function in the slot, a function missing, one too many: errors.
    let mut r = Pci::pc();
    let e = r.restore(&st).unwrap_err();
    assert!(e.contains("slot 3"), "{e}");
    let (mut s, _) = bus_with(4);
    assert!(s.restore(&st).is_err());
    let (mut t, _) = bus_with(3);
    let (f, _) = TestFn::new([None; 6], 1);
    t.add_function(6, Box::new(f)).unwrap();
    let e = t.restore(&st).unwrap_err();
    assert!(e.contains("slot 6"), "{e}");
    // A corrupt function blob is an error.
    let mut bad = st.clone();
    bad.functions[2].function = vec![1];
    let (mut u, _) = bus_with(3);
    assert!(u.restore(&bad).is_err());
    let mut bad = st.clone();
    bad.functions[0].function = vec![1, 2, 3];
    let (mut u, _) = bus_with(3);
    assert!(u.restore(&bad).unwrap_err().contains("host bridge"));
}

#[test]
fn reset_clears_headers_and_resets_functions() {
    let (mut p, seen) = bus_with(3);
    p.firmware_setup(&FW).unwrap();
    p.reset();
    assert_eq!(seen.lock().unwrap().resets, 1);
    assert_eq!(p.header(3).unwrap().bars, [0; 6]);
    assert_eq!(p.header(3).unwrap().command, 0);
    assert_eq!(p.pirq_routes(), [None; 4]);
    assert!(!p.io_read(0xc000, &mut [0u8; 1], 0, &mut NullHost));
}

#[test]
fn garbage_port_and_memory_accesses_never_panic() {
    let (mut p, _) = bus_with(3);
    p.firmware_setup(&FW).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let off = (x % 9) as u16;
        let len = [1usize, 2, 3, 4, 8][(x >> 8) as usize % 5];
        let mut b = [0u8; 8];
        let v = (x >> 16).to_le_bytes();
        if x & 1 == 0 {
            p.port_write(
                CONFIG_ADDRESS,
                &((x >> 20) as u32 | 0x8000_0000).to_le_bytes(),
            );
            p.port_write(off, &v[..len]);
        } else {
            p.port_read(off, &mut b[..len]);
        }
        let addr = 0xe000_0000 + (x >> 40) % 0x2000;
        p.mmio_read(addr, &mut b[..len], 0, &mut NullHost);
        p.io_write(
            0xc000 + (x >> 48) as u16 % 0x100,
            &v[..len],
            0,
            &mut NullHost,
        );
    }
    // Slot 0 still answers.
    assert_eq!(cfg_read(&mut p, 0, 0, 4), 0x1237_8086);
}

#[test]
fn intc_drives_pic_inputs_and_ioapic_pins_separately() {
    let mut i = reprise_devices::Intc::new();
    i.set_pic_irq(11, true);
    assert_eq!(i.pic().state().slave.lines, 1 << 3);
    assert_eq!(i.ioapic().state().lines, 0);
    i.set_ioapic_pin(11, true);
    i.set_ioapic_pin(23, true);
    assert_eq!(i.ioapic().state().lines, 1 << 11 | 1 << 23);
    i.set_pic_irq(11, false);
    assert_eq!(i.pic().state().slave.lines, 0);
    assert_eq!(i.ioapic().state().lines, 1 << 11 | 1 << 23);
    // Out of range: ignored.
    i.set_pic_irq(16, true);
    i.set_ioapic_pin(24, true);
    assert_eq!(i.ioapic().state().lines, 1 << 11 | 1 << 23);
}
