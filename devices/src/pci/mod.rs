//! PCI: bus 0 behind a host bridge with configuration mechanism #1, the functions on it
//! ([`PciFunction`]), and their INTx lines swizzled onto PIRQ A-D.
//!
//! * Configuration: CONFIG_ADDRESS (dword at offset 0 of the bus's 8-port window, port
//!   0xcf8 on a PC: enable bit 31, bus 23:16, device 15:11, function 10:8, register
//!   7:2) selects a dword that CONFIG_DATA (offsets 4..8) reads and writes at byte,
//!   word or dword width. Only bus 0, function 0 of each of the 32 slots exists; every
//!   other target reads all ones. A byte at offset 1 is the PIIX reset control register
//!   (port 0xcf9): writing bit 2 requests a machine reset ([`Pci::take_reset_request`]).
//! * The bus keeps each function's type-0 header ([`header`]); offsets 0x40..0x100
//!   go to the function's own `config_read`/`config_write`.
//! * Decode: an I/O or memory access that falls inside a BAR window whose decode the
//!   command register enables reaches the function as `(bar, offset)`.
//! * Interrupts: function in slot `s` asserting pin `p` (1 = INTA#) drives PIRQ
//!   `(s + p - 1) % 4` ([`pirq_of`]); [`Pci::pirq_levels`] gives the four wired-OR
//!   levels and [`Pci::pirq_routes`] what the PIIX3's route registers say about the ISA
//!   IRQ each one drives. The machine wires both.
//! * [`Pci::firmware_setup`] does what a BIOS does before the OS: assigns BARs from
//!   the windows it is given, enables decode, programs the PIRQ routes and interrupt
//!   lines.

mod chipset;
mod firmware;
mod function;
pub mod header;
mod state;

pub use chipset::{HostBridge, Piix3, PIRQ_DISABLE, PIRQ_ROUTE_REG};
pub use firmware::FirmwareConfig;
pub use function::{BarKind, FunctionHost, NullHost, PciFunction, PciIdentity};
pub use state::{FunctionState, PciState};

use header::{command, Header};

/// Slots on bus 0.
pub const SLOTS: usize = 32;
/// Where the chipset functions sit ([`Pci::pc`]).
pub const HOST_BRIDGE_SLOT: u8 = 0;
pub const ISA_BRIDGE_SLOT: u8 = 1;

/// Offsets inside the bus's port window (0xcf8..0xd00 on a PC).
pub const CONFIG_ADDRESS: u16 = 0;
pub const RESET_CONTROL: u16 = 1;
pub const CONFIG_DATA: u16 = 4;
pub const PORT_WINDOW: u16 = 8;

/// CONFIG_ADDRESS's enable bit.
pub const CONFIG_ENABLE: u32 = 1 << 31;
/// Reset control bit 2: reset the CPU (the machine) now.
pub const RESET_CPU: u8 = 1 << 2;

/// The PIRQ (0 = A .. 3 = D) that interrupt pin `pin` (1..=4) of slot `slot` drives.
pub fn pirq_of(slot: u8, pin: u8) -> Option<usize> {
    (1..=4)
        .contains(&pin)
        .then(|| (usize::from(slot) + usize::from(pin) - 1) % 4)
}

struct Slot {
    f: Box<dyn PciFunction>,
    h: Header,
}

/// Bus 0.
pub struct Pci {
    slots: Vec<Option<Slot>>,
    config_address: u32,
    reset_control: u8,
    reset_request: bool,
}

impl Default for Pci {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Pci {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let id = s.as_ref()?.h.id;
                Some(format!(
                    "{i:02x}: {:04x}:{:04x}",
                    id.vendor_id, id.device_id
                ))
            })
            .collect();
        f.debug_struct("Pci").field("functions", &ids).finish()
    }
}

impl Pci {
    /// An empty bus.
    pub fn new() -> Pci {
        Pci {
            slots: (0..SLOTS).map(|_| None).collect(),
            config_address: 0,
            reset_control: 0,
            reset_request: false,
        }
    }

    /// A PC's bus: the 440FX host bridge in slot 0, the PIIX3 ISA bridge in slot 1.
    pub fn pc() -> Pci {
        let mut p = Pci::new();
        // Both slots are free on a new bus and both functions are valid.
        let _ = p.add_function(HOST_BRIDGE_SLOT, Box::new(HostBridge::new()));
        let _ = p.add_function(ISA_BRIDGE_SLOT, Box::new(Piix3::new()));
        p
    }

    /// Plugs `f` into `slot` (0..32) as function 0. Errors: the slot is out of range or
    /// taken, or a BAR is not a power of two of at least 4 (I/O, at most 64 KiB) or
    /// 16 (memory) bytes. (The PCI specification caps I/O BARs at 256 bytes; QEMU's
    /// AC'97 has a 1 KiB one, so the bus does not insist.)
    pub fn add_function(&mut self, slot: u8, f: Box<dyn PciFunction>) -> Result<(), String> {
        let id = f.identity();
        let name = format!("PCI function {:04x}:{:04x}", id.vendor_id, id.device_id);
        let Some(entry) = self.slots.get_mut(usize::from(slot)) else {
            return Err(format!(
                "{name}: slot {slot} does not exist (bus 0 has slots 0..{SLOTS})"
            ));
        };
        if let Some(other) = entry {
            return Err(format!(
                "{name}: slot {slot} already holds {:04x}:{:04x}; choose another slot",
                other.h.id.vendor_id, other.h.id.device_id
            ));
        }
        let kinds = f.bars();
        for (i, k) in kinds.iter().enumerate() {
            let ok = match *k {
                Some(BarKind::Io { size }) => {
                    size.is_power_of_two() && (4..=0x1_0000).contains(&size)
                }
                Some(BarKind::Mem32 { size }) => size.is_power_of_two() && size >= 16,
                None => true,
            };
            if !ok {
                return Err(format!("{name}: BAR{i} {k:?} has an invalid size (I/O: a power of two of 4 bytes to 64 KiB, memory: a power of two of at least 16)"));
            }
        }
        *entry = Some(Slot {
            h: Header::new(id, kinds),
            f,
        });
        Ok(())
    }

    /// The function in `slot`, if any.
    pub fn function_mut(&mut self, slot: u8) -> Option<&mut (dyn PciFunction + 'static)> {
        self.slot_mut(slot).map(|s| s.f.as_mut())
    }

    /// The header registers the bus keeps for `slot`.
    pub fn header(&self, slot: u8) -> Option<&header::HeaderState> {
        self.slots.get(usize::from(slot))?.as_ref().map(|s| &s.h.s)
    }

    fn slot_mut(&mut self, slot: u8) -> Option<&mut Slot> {
        self.slots.get_mut(usize::from(slot))?.as_mut()
    }

    // ---- configuration mechanism #1 ---------------------------------------------

    /// A read of `data.len()` bytes at `offset` in the bus's port window.
    pub fn port_read(&mut self, offset: u16, data: &mut [u8]) {
        match (offset, data.len()) {
            (CONFIG_ADDRESS, 4) => data.copy_from_slice(&self.config_address.to_le_bytes()),
            (RESET_CONTROL, 1) => data.fill(self.reset_control),
            (CONFIG_DATA.., _) if offset < PORT_WINDOW => {
                let sub = offset - CONFIG_DATA;
                let n = data.len().min(usize::from(PORT_WINDOW - offset));
                let (inside, rest) = data.split_at_mut(n);
                rest.fill(0xff);
                match self.selected() {
                    Some((slot, reg)) => self.config_read(slot, reg + sub, inside),
                    None => inside.fill(0xff),
                }
            }
            // Narrower or wider accesses to 0xcf8..0xcfb pass to the ISA bus: nothing.
            _ => data.fill(0xff),
        }
    }

    /// A write of `data` at `offset` in the bus's port window.
    pub fn port_write(&mut self, offset: u16, data: &[u8]) {
        match (offset, data) {
            (CONFIG_ADDRESS, &[a, b, c, d]) => {
                self.config_address = u32::from_le_bytes([a, b, c, d]) & 0x80ff_fffc;
            }
            (RESET_CONTROL, &[v]) => {
                // Bits 1 (hard reset) and 3 (full reset) are kept; bit 2 acts.
                self.reset_control = v & 0x0a;
                if v & RESET_CPU != 0 {
                    self.reset_request = true;
                }
            }
            (CONFIG_DATA.., _) if offset < PORT_WINDOW => {
                let sub = offset - CONFIG_DATA;
                let n = data.len().min(usize::from(PORT_WINDOW - offset));
                if let (Some((slot, reg)), Some(d)) = (self.selected(), data.get(..n)) {
                    self.config_write(slot, reg + sub, d);
                }
            }
            _ => {}
        }
    }

    /// The slot and dword register CONFIG_ADDRESS selects, when it is enabled and
    /// names bus 0, function 0.
    fn selected(&self) -> Option<(u8, u16)> {
        let a = self.config_address;
        let bus = (a >> 16) & 0xff;
        let func = (a >> 8) & 7;
        (a & CONFIG_ENABLE != 0 && bus == 0 && func == 0)
            .then_some((((a >> 11) & 0x1f) as u8, (a & 0xfc) as u16))
    }

    /// A guest asked for a reset through port 0xcf9 (taken once).
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }

    /// Reads `data.len()` (1, 2 or 4, not crossing a dword) bytes of `slot`'s
    /// configuration space at `offset`; an empty slot reads all ones.
    pub fn config_read(&mut self, slot: u8, offset: u16, data: &mut [u8]) {
        let Some(s) = self.slot_mut(slot) else {
            data.fill(0xff);
            return;
        };
        let offset = offset & 0xff;
        if offset >= header::reg::DEVICE_SPECIFIC {
            s.f.config_read(offset, data);
            return;
        }
        let v = s.h.read_dword(offset & !3, s.f.irq_level()).to_le_bytes();
        let sub = usize::from(offset & 3);
        for (k, b) in data.iter_mut().enumerate() {
            *b = v.get(sub + k).copied().unwrap_or(0xff);
        }
    }

    /// Writes `data` (1, 2 or 4 bytes, not crossing a dword) to `slot`'s configuration
    /// space at `offset`; writes to an empty slot vanish.
    pub fn config_write(&mut self, slot: u8, offset: u16, data: &[u8]) {
        let Some(s) = self.slot_mut(slot) else {
            return;
        };
        let offset = offset & 0xff;
        if offset >= header::reg::DEVICE_SPECIFIC {
            s.f.config_write(offset, data);
            return;
        }
        let reg = offset & !3;
        let mut v = s.h.read_dword(reg, false).to_le_bytes();
        let sub = usize::from(offset & 3);
        for (k, &b) in data.iter().enumerate() {
            if let Some(d) = v.get_mut(sub + k) {
                *d = b;
            }
        }
        let before = s.h.s.command;
        s.h.write_dword(reg, u32::from_le_bytes(v));
        let after = s.h.s.command;
        if (before ^ after) & command::BUS_MASTER != 0 {
            s.f.set_bus_master(after & command::BUS_MASTER != 0);
        }
    }

    /// Reads a whole dword of configuration space (firmware and tests).
    pub fn config_read32(&mut self, slot: u8, reg: u16) -> u32 {
        let mut b = [0u8; 4];
        self.config_read(slot, reg & !3, &mut b);
        u32::from_le_bytes(b)
    }

    /// Writes a whole dword of configuration space (firmware and tests).
    pub fn config_write32(&mut self, slot: u8, reg: u16, value: u32) {
        self.config_write(slot, reg & !3, &value.to_le_bytes());
    }

    // ---- decode ---------------------------------------------------------------------

    /// The slot and BAR whose enabled window holds `len` bytes at `addr`, and the
    /// offset inside it.
    fn decode(&self, io: bool, addr: u64, len: usize) -> Option<(usize, usize, u64)> {
        self.slots.iter().enumerate().find_map(|(si, s)| {
            let s = s.as_ref()?;
            (0..6).find_map(|bar| {
                let (is_io, base, size) = s.h.window(bar)?;
                let off = addr.checked_sub(base)?;
                (is_io == io && off.checked_add(len as u64)? <= size).then_some((si, bar, off))
            })
        })
    }

    fn decoded(&mut self, io: bool, addr: u64, len: usize) -> Option<(&mut Slot, usize, u64)> {
        let (si, bar, off) = self.decode(io, addr, len)?;
        let s = self.slots.get_mut(si)?.as_mut()?;
        Some((s, bar, off))
    }

    /// An I/O read: `true` when a function's I/O BAR decoded it.
    pub fn io_read(
        &mut self,
        port: u16,
        data: &mut [u8],
        now_ns: u64,
        host: &mut dyn FunctionHost,
    ) -> bool {
        let Some((s, bar, off)) = self.decoded(true, u64::from(port), data.len()) else {
            return false;
        };
        s.f.bar_read(bar, off, data, now_ns, host);
        true
    }

    /// An I/O write: `true` when a function's I/O BAR decoded it.
    pub fn io_write(
        &mut self,
        port: u16,
        data: &[u8],
        now_ns: u64,
        host: &mut dyn FunctionHost,
    ) -> bool {
        let Some((s, bar, off)) = self.decoded(true, u64::from(port), data.len()) else {
            return false;
        };
        s.f.bar_write(bar, off, data, now_ns, host);
        true
    }

    /// A memory read: `true` when a function's memory BAR decoded it.
    pub fn mmio_read(
        &mut self,
        addr: u64,
        data: &mut [u8],
        now_ns: u64,
        host: &mut dyn FunctionHost,
    ) -> bool {
        let Some((s, bar, off)) = self.decoded(false, addr, data.len()) else {
            return false;
        };
        s.f.bar_read(bar, off, data, now_ns, host);
        true
    }

    /// A memory write: `true` when a function's memory BAR decoded it.
    pub fn mmio_write(
        &mut self,
        addr: u64,
        data: &[u8],
        now_ns: u64,
        host: &mut dyn FunctionHost,
    ) -> bool {
        let Some((s, bar, off)) = self.decoded(false, addr, data.len()) else {
            return false;
        };
        s.f.bar_write(bar, off, data, now_ns, host);
        true
    }

    // ---- interrupts -----------------------------------------------------------------

    /// The levels of PIRQ A-D: the wired OR of the INTx lines swizzled onto each,
    /// with functions whose Interrupt Disable bit is set left out.
    pub fn pirq_levels(&self) -> [bool; 4] {
        let mut l = [false; 4];
        for (slot, s) in self.slots.iter().enumerate() {
            let Some(s) = s else { continue };
            if s.h.s.command & command::INTX_DISABLE != 0 || !s.f.irq_level() {
                continue;
            }
            if let Some(p) = pirq_of(slot as u8, s.h.id.interrupt_pin) {
                l[p] = true;
            }
        }
        l
    }

    /// The ISA IRQ each PIRQ drives, as the PIIX3's route registers (in
    /// [`ISA_BRIDGE_SLOT`]) say; all `None` without an ISA bridge.
    pub fn pirq_routes(&mut self) -> [Option<u8>; 4] {
        let Some(s) = self.slot_mut(ISA_BRIDGE_SLOT) else {
            return [None; 4];
        };
        let mut r = [0u8; 4];
        s.f.config_read(PIRQ_ROUTE_REG, &mut r);
        Piix3::routes(r)
    }

    /// The pages every function wrote by DMA since the last call.
    pub fn take_dirty_pages(&mut self) -> Vec<u64> {
        let mut v = Vec::new();
        for s in self.slots.iter_mut().flatten() {
            v.extend(s.f.take_dirty_pages());
        }
        v
    }

    // ---- time -----------------------------------------------------------------------

    /// The earliest virtual time at which a function needs [`Pci::advance`].
    pub fn next_deadline(&self) -> Option<u64> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|s| s.f.next_deadline())
            .min()
    }

    /// Runs every function whose deadline is due at `now_ns`.
    pub fn advance(&mut self, now_ns: u64, host: &mut dyn FunctionHost) {
        for s in self.slots.iter_mut().flatten() {
            if s.f.next_deadline().is_some_and(|d| d <= now_ns) {
                s.f.advance(now_ns, host);
            }
        }
    }

    /// A PCI reset: every function back to power-on state, headers cleared (BARs
    /// unassigned, decode off); firmware must run again.
    pub fn reset(&mut self) {
        for s in self.slots.iter_mut().flatten() {
            s.f.reset();
            s.h.s = header::HeaderState::default();
        }
        self.config_address = 0;
        self.reset_control = 0;
        self.reset_request = false;
    }
}
