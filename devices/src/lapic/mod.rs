//! The local APIC of the one CPU (APIC ID 0), in xAPIC (MMIO) and x2APIC (MSR) modes.
//!
//! Modelled: ID, version (0x14, six LVT entries), TPR/PPR, EOI with EOI broadcast for
//! level-triggered vectors, LDR/DFR (flat and cluster models), the spurious-interrupt
//! vector register with software enable, ISR/TMR/IRR, ESR (write-to-update) and the
//! error LVT, ICR (fixed, lowest-priority and NMI IPIs that reach this CPU, by
//! shorthand or destination), the x2APIC SELF_IPI register, the LVT timer, thermal,
//! performance, LINT0 and LINT1 entries, and the timer ([`timer`]). INIT, SIPI and SMI
//! IPIs are accepted and dropped (there is no other CPU). IA32_APIC_BASE's global
//! enable and x2APIC enable bits switch the access path.
//!
//! The state at reset is what firmware leaves behind on a PC: APIC globally enabled at
//! 0xfee00000, software-disabled (SVR 0xff), LINT0 in ExtINT mode and LINT1 in NMI mode
//! (virtual-wire mode), so the 8259 reaches the CPU until the OS programs the APIC.

mod delivery;
mod regs;
pub mod timer;

pub use timer::{divisor, TimerMode, TimerState, LAPIC_BUS_HZ};

use serde::{Deserialize, Serialize};

/// IA32_APIC_BASE bits.
pub mod base {
    pub const BSP: u64 = 1 << 8;
    pub const X2APIC: u64 = 1 << 10;
    pub const ENABLE: u64 = 1 << 11;
    pub const DEFAULT: u64 = 0xfee0_0000 | ENABLE | BSP;
}

/// MSR numbers the local APIC answers.
pub mod msr {
    pub const APIC_BASE: u32 = 0x1b;
    pub const TSC_DEADLINE: u32 = 0x6e0;
    pub const X2APIC_FIRST: u32 = 0x800;
    pub const X2APIC_LAST: u32 = 0x8ff;
    pub const X2APIC_ICR: u32 = 0x830;
    pub const X2APIC_EOI: u32 = 0x80b;
    pub const X2APIC_SELF_IPI: u32 = 0x83f;
}

/// Index of each local vector table entry in [`LapicState::lvt`].
pub mod lvt {
    pub const TIMER: usize = 0;
    pub const THERMAL: usize = 1;
    pub const PERF: usize = 2;
    pub const LINT0: usize = 3;
    pub const LINT1: usize = 4;
    pub const ERROR: usize = 5;
    pub const COUNT: usize = 6;
    pub const MASKED: u32 = 1 << 16;
    /// Delivery modes (bits 8-10).
    pub const DM_FIXED: u32 = 0;
    pub const DM_NMI: u32 = 4;
    pub const DM_EXTINT: u32 = 7;
}

/// The version register: version 0x14, maximum LVT entry 5.
pub const LAPIC_VERSION: u32 = 0x14 | ((lvt::COUNT as u32 - 1) << 16);
const SVR_ENABLE: u32 = 1 << 8;
/// ESR bits.
const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
const ESR_RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
const ESR_ILLEGAL_REGISTER: u32 = 1 << 7;

/// Serializable local APIC state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LapicState {
    pub apic_base: u64,
    /// The xAPIC ID (bits 24-31 of the ID register); 0.
    pub id: u8,
    pub tpr: u8,
    pub ldr: u32,
    pub dfr: u32,
    pub svr: u32,
    pub isr: [u32; 8],
    pub tmr: [u32; 8],
    pub irr: [u32; 8],
    /// ESR as last made visible by a write.
    pub esr: u32,
    /// Errors collected since.
    pub esr_pending: u32,
    pub icr_lo: u32,
    pub icr_hi: u32,
    pub lvt: [u32; lvt::COUNT],
    pub timer: TimerState,
    pub nmi_pending: bool,
}

impl LapicState {
    fn reset() -> Self {
        let mut lvt = [lvt::MASKED; lvt::COUNT];
        lvt[lvt::LINT0] = lvt::DM_EXTINT << 8;
        lvt[lvt::LINT1] = lvt::DM_NMI << 8;
        LapicState {
            apic_base: base::DEFAULT,
            id: 0,
            tpr: 0,
            ldr: 0,
            dfr: 0xffff_ffff,
            svr: 0xff,
            isr: [0; 8],
            tmr: [0; 8],
            irr: [0; 8],
            esr: 0,
            esr_pending: 0,
            icr_lo: 0,
            icr_hi: 0,
            lvt,
            timer: TimerState::default(),
            nmi_pending: false,
        }
    }
}

fn highest(bits: &[u32; 8]) -> Option<u8> {
    (0..8usize).rev().find_map(|i| {
        let w = bits.get(i).copied().unwrap_or(0);
        (w != 0).then(|| (i * 32 + 31 - w.leading_zeros() as usize) as u8)
    })
}

fn bit(bits: &[u32; 8], v: u8) -> bool {
    bits.get(usize::from(v >> 5))
        .is_some_and(|w| w & (1 << (v & 31)) != 0)
}

fn set_bit(bits: &mut [u32; 8], v: u8, on: bool) {
    if let Some(w) = bits.get_mut(usize::from(v >> 5)) {
        if on {
            *w |= 1 << (v & 31);
        } else {
            *w &= !(1 << (v & 31));
        }
    }
}

/// The local APIC.
#[derive(Clone, Debug)]
pub struct Lapic {
    s: LapicState,
}

impl Default for Lapic {
    fn default() -> Self {
        Self::new()
    }
}

impl Lapic {
    pub fn new() -> Self {
        Lapic {
            s: LapicState::reset(),
        }
    }

    pub fn state(&self) -> LapicState {
        self.s.clone()
    }

    pub fn from_state(state: &LapicState) -> Self {
        let mut s = state.clone();
        s.timer.divide &= 0xb;
        Lapic { s }
    }

    /// IA32_APIC_BASE bit 11.
    pub fn hw_enabled(&self) -> bool {
        self.s.apic_base & base::ENABLE != 0
    }

    /// IA32_APIC_BASE bits 10 and 11.
    pub fn x2apic(&self) -> bool {
        self.hw_enabled() && self.s.apic_base & base::X2APIC != 0
    }

    /// SVR bit 8.
    pub fn sw_enabled(&self) -> bool {
        self.s.svr & SVR_ENABLE != 0
    }

    pub fn apic_base(&self) -> u64 {
        self.s.apic_base
    }

    pub fn lvt(&self, index: usize) -> u32 {
        self.s.lvt.get(index).copied().unwrap_or(lvt::MASKED)
    }

    fn timer_mode(&self) -> TimerMode {
        TimerMode::of_lvt(self.lvt(lvt::TIMER))
    }

    /// A write of IA32_APIC_BASE. Clearing the global enable resets the APIC's
    /// registers (as on hardware, the APIC then comes back software-disabled);
    /// setting x2APIC mode makes the LDR the x2APIC logical ID.
    pub fn apic_base_written(&mut self, value: u64) {
        let was_enabled = self.hw_enabled();
        let value = value & (0xf_ffff_f000 | base::X2APIC | base::ENABLE | base::BSP);
        if value & base::ENABLE == 0 {
            if was_enabled {
                let mut s = LapicState::reset();
                s.lvt = [lvt::MASKED; lvt::COUNT];
                // An NMI already latched for the core is not the APIC's to drop.
                s.nmi_pending = self.s.nmi_pending;
                self.s = s;
            }
            self.s.apic_base = value & !base::X2APIC;
            return;
        }
        self.s.apic_base = value;
        if self.x2apic() {
            let id = u32::from(self.s.id);
            self.s.ldr = ((id >> 4) << 16) | (1 << (id & 15));
        }
    }

    /// TPR bits 7-4 as CR8 sees them.
    pub fn cr8(&self) -> u64 {
        u64::from(self.s.tpr >> 4)
    }

    pub fn set_cr8(&mut self, value: u64) {
        self.s.tpr = ((value & 0xf) << 4) as u8;
    }

    /// Processor priority.
    pub fn ppr(&self) -> u8 {
        let isrv = highest(&self.s.isr).unwrap_or(0);
        if self.s.tpr >> 4 >= isrv >> 4 {
            self.s.tpr
        } else {
            isrv & 0xf0
        }
    }

    /// The highest requested vector, if it beats the processor priority.
    pub fn deliverable(&self) -> Option<u8> {
        if !self.hw_enabled() {
            return None;
        }
        let v = highest(&self.s.irr)?;
        (v >> 4 > self.ppr() >> 4).then_some(v)
    }

    /// The INTA cycle at the APIC: the best deliverable vector moves from IRR to ISR.
    pub fn acknowledge(&mut self) -> Option<u8> {
        let v = self.deliverable()?;
        set_bit(&mut self.s.irr, v, false);
        set_bit(&mut self.s.isr, v, true);
        Some(v)
    }

    /// Accepts a fixed interrupt. Vectors 0-15 are illegal: they set the ESR instead.
    /// A software-disabled APIC accepts no fixed interrupts (NMIs still get through).
    pub fn accept_fixed(&mut self, vector: u8, level: bool) {
        if !self.hw_enabled() || !self.sw_enabled() {
            return;
        }
        if vector < 16 {
            self.error(ESR_RECEIVE_ILLEGAL_VECTOR);
            return;
        }
        set_bit(&mut self.s.irr, vector, true);
        set_bit(&mut self.s.tmr, vector, level);
    }

    /// Takes a pending NMI.
    pub fn take_nmi(&mut self) -> bool {
        std::mem::take(&mut self.s.nmi_pending)
    }

    pub fn raise_nmi(&mut self) {
        self.s.nmi_pending = true;
    }

    /// Records an error and raises the error LVT's interrupt if it is unmasked.
    fn error(&mut self, bits: u32) {
        let new = self.s.esr_pending | bits;
        if new == self.s.esr_pending {
            return;
        }
        self.s.esr_pending = new;
        let e = self.lvt(lvt::ERROR);
        let v = (e & 0xff) as u8;
        if e & lvt::MASKED == 0 && v >= 16 {
            self.accept_fixed(v, false);
        }
    }

    /// EOI: the highest in-service vector leaves service. Returns the vector if it was
    /// level-triggered (the I/O APIC must see the EOI).
    fn eoi(&mut self) -> Option<u8> {
        let v = highest(&self.s.isr)?;
        set_bit(&mut self.s.isr, v, false);
        if bit(&self.s.tmr, v) {
            set_bit(&mut self.s.tmr, v, false);
            return Some(v);
        }
        None
    }

    /// When the timer next expires.
    ///
    /// A masked timer keeps counting but needs no attention: its expiries are
    /// accounted for when the LVT entry, the count or the divisor is next written.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.hw_enabled() || self.lvt(lvt::TIMER) & lvt::MASKED != 0 {
            return None;
        }
        self.s.timer.next_fire_ns
    }

    /// Fires the timer for everything due by `now_ns`.
    pub fn advance(&mut self, now_ns: u64) {
        if !self.hw_enabled() {
            return;
        }
        let mode = self.timer_mode();
        if self.s.timer.advance(mode, now_ns) {
            self.local_interrupt(lvt::TIMER);
        }
    }

    /// Timer expiries so far (for tests and statistics).
    pub fn timer_expirations(&self) -> u64 {
        self.s.timer.expirations
    }

    pub fn irr_bit(&self, v: u8) -> bool {
        bit(&self.s.irr, v)
    }

    pub fn isr_bit(&self, v: u8) -> bool {
        bit(&self.s.isr, v)
    }
}
