//! Intel 82801AA (ICH) AC'97 audio controller with an AC'97 2.x codec, as a PCI
//! function — the device Linux drives with snd-intel8x0.
//!
//! * BAR0, I/O, 256 bytes: the codec's mixer registers ([`mixer`]).
//! * BAR1, I/O, 64 bytes: the bus-master boxes and global registers ([`nabm`]).
//! * INTA#, level: any box whose status has an enabled interrupt cause.
//!
//! Audio data moves by DMA through buffer-descriptor lists in guest memory
//! (`vm_memory::GuestMemory`), only while bus mastering is enabled, on the virtual
//! clock ([`dma`]); every sample that enters or leaves goes through the
//! [`FunctionHost`] the machine passes in, which records and replays it.

mod dma;
pub mod mixer;
pub mod nabm;
mod state;

pub use dma::{BD_BUP, BD_IOC, MIC_IN, PCM_IN, PCM_OUT, STEP_NS};
pub use state::{Ac97State, BoxState, BDL_ENTRIES};

use crate::pci::{BarKind, FunctionHost, PciFunction, PciIdentity};
use std::collections::BTreeSet;
use vm_memory::GuestMemory;

/// PCI identity of the 82801AA AC'97 audio function (subsystem as QEMU shows it).
pub const IDENTITY: PciIdentity = PciIdentity {
    vendor_id: 0x8086,
    device_id: 0x2415,
    revision: 0x01,
    class: 0x04_01_00,
    subsystem_vendor_id: 0x8086,
    subsystem_id: 0x0000,
    interrupt_pin: 1,
};

/// BAR0 (mixer) and BAR1 (bus master) sizes.
pub const NAM_SIZE: u32 = 256;
pub const NABM_SIZE: u32 = 64;

/// The AC'97 function over guest memory `M`.
#[derive(Debug)]
pub struct Ac97<M> {
    mem: M,
    s: Ac97State,
    /// Guest pages written by capture DMA since the machine last asked.
    dirty: BTreeSet<u64>,
}

impl<M: GuestMemory> Ac97<M> {
    pub fn new(mem: M) -> Self {
        let mut a = Ac97 {
            mem,
            s: Ac97State::default(),
            dirty: BTreeSet::new(),
        };
        a.power_on();
        a
    }

    fn power_on(&mut self) {
        self.s = Ac97State::default();
        self.s.mixer.reset();
        for b in self.s.boxes.iter_mut() {
            b.reset_regs();
        }
    }

    /// The guest-visible state (for snapshots and tests).
    pub fn state(&self) -> &Ac97State {
        &self.s
    }

    /// Guest page addresses written by DMA since the last call (the machine drops
    /// translated code on them).
    pub fn take_dirty_pages(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.dirty).into_iter().collect()
    }

    fn nam_read(&mut self, off: u64, data: &mut [u8]) {
        self.s.cas = false;
        for (i, byte) in data.iter_mut().enumerate() {
            let o = off + i as u64;
            let reg = self.s.mixer.get((o & !1) as u8);
            *byte = if o < u64::from(NAM_SIZE) {
                (reg >> (8 * (o & 1))) as u8
            } else {
                0
            };
        }
    }

    fn nam_write(&mut self, off: u64, data: &[u8]) {
        self.s.cas = false;
        // Each 16-bit register the access covers; a byte write changes its byte.
        let mut o = off & !1;
        while o < off + data.len() as u64 && o < u64::from(NAM_SIZE) {
            let mut v = self.s.mixer.get(o as u8).to_le_bytes();
            for (k, slot) in v.iter_mut().enumerate() {
                let at = o + k as u64;
                if at >= off {
                    if let Some(&b) = data.get((at - off) as usize) {
                        *slot = b;
                    }
                }
            }
            self.s.mixer.write(o as u8, u16::from_le_bytes(v));
            o += 2;
        }
    }
}

impl<M: GuestMemory + Send> PciFunction for Ac97<M> {
    fn identity(&self) -> PciIdentity {
        IDENTITY
    }

    fn bars(&self) -> [Option<BarKind>; 6] {
        [
            Some(BarKind::Io { size: NAM_SIZE }),
            Some(BarKind::Io { size: NABM_SIZE }),
            None,
            None,
            None,
            None,
        ]
    }

    fn bar_read(
        &mut self,
        bar: usize,
        offset: u64,
        data: &mut [u8],
        _now_ns: u64,
        _host: &mut dyn FunctionHost,
    ) {
        match bar {
            0 => self.nam_read(offset, data),
            1 => self.nabm_read(offset, data),
            _ => data.fill(0xff),
        }
    }

    fn bar_write(
        &mut self,
        bar: usize,
        offset: u64,
        data: &[u8],
        now_ns: u64,
        host: &mut dyn FunctionHost,
    ) {
        // Steps due before this access happen first, so the guest's write lands
        // after them on the sample clock.
        self.advance_boxes(now_ns, host);
        match bar {
            0 => self.nam_write(offset, data),
            1 => self.nabm_write(offset, data, now_ns),
            _ => {}
        }
    }

    fn irq_level(&self) -> bool {
        (0..3).any(|i| self.box_irq(i))
    }

    fn set_bus_master(&mut self, enabled: bool) {
        self.s.bus_master = enabled;
    }

    fn next_deadline(&self) -> Option<u64> {
        self.s.boxes.iter().filter_map(|b| b.next_ns).min()
    }

    fn advance(&mut self, now_ns: u64, host: &mut dyn FunctionHost) {
        self.advance_boxes(now_ns, host);
    }

    fn reset(&mut self) {
        self.power_on();
    }

    fn save_state(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(&self.s, bincode::config::standard()).unwrap_or_default()
    }

    fn take_dirty_pages(&mut self) -> Vec<u64> {
        Ac97::take_dirty_pages(self)
    }

    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let (s, used): (Ac97State, usize) =
            bincode::serde::decode_from_slice(bytes, bincode::config::standard())
                .map_err(|e| format!("AC'97 state does not decode: {e}"))?;
        if used != bytes.len() {
            return Err(format!(
                "AC'97 state has {} trailing bytes (a different version?)",
                bytes.len() - used
            ));
        }
        s.check()?;
        self.s = s;
        Ok(())
    }
}
