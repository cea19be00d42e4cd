//! Runs one instruction in reprise, in the interpreter or the tiered configuration.
//!
//! One [`Cpu`] is kept per runner and reused: for each case the instruction (followed
//! by HLT) is written at [`TEST_IP`], the code cache is flushed, the registers are set
//! directly in `CpuState` and the CPU runs until it halts. Exceptions are delivered
//! through an IDT whose gate for vector `v` points at a HLT at `HANDLERS + 16 v`, so the
//! RIP after the halt tells which exception (if any) the instruction raised.
//!
//! In the tiered configuration the block is hot after one run (`hot_threshold: 1`):
//! the case runs once (interpreted, then compiled), the data area and registers are
//! reset, and it runs again, now as compiled code when the Cranelift tier compiled it.

use crate::layout::*;
use crate::state::X87;
use crate::state::{MachineState, Outcome};
use reprise_jit::{boot, CpuConfig, CpuState, EmptyBus, GuestRam, RunExit, Tier};

/// The full tag (00 valid, 01 zero, 10 special) of a non-empty register.
fn tag_of(v: &[u8; 10]) -> u16 {
    let exp = u16::from_le_bytes([v[8], v[9]]) & 0x7fff;
    let mant = u64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
    if exp == 0 && mant == 0 {
        1
    } else if exp == 0 || exp == 0x7fff || mant >> 63 == 0 {
        2
    } else {
        0
    }
}

/// The x87 state of `st` in FXSAVE terms.
fn x87_of(st: &CpuState) -> X87 {
    let top = (st.fpu.top & 7) as usize;
    let mut x = X87 {
        fcw: st.fpu.fcw,
        fsw: (st.fpu.fsw & !0x3800) | (top as u16) << 11,
        tags: 0,
        st: [[0; 10]; 8],
    };
    for p in 0..8 {
        if (st.fpu.ftw >> (2 * p)) & 3 != 3 {
            x.tags |= 1 << p;
        }
        let mut v = [0u8; 10];
        v.copy_from_slice(&st.fpu.st[p][..10]);
        x.st[(p + 8 - top) & 7] = v;
    }
    x
}

const RAM_MIB: u64 = 512;

/// Which reprise configuration runs the guest side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GuestTier {
    Interp,
    Tiered,
}

impl GuestTier {
    pub fn name(self) -> &'static str {
        match self {
            GuestTier::Interp => "interp",
            GuestTier::Tiered => "tiered",
        }
    }
}

/// The result of a guest run, with how it was executed.
pub struct GuestRun {
    pub outcome: Outcome,
    /// The tiered run executed compiled code for the measured run.
    pub compiled: bool,
}

pub struct Guest {
    cpu: reprise_jit::Cpu,
    ram: *mut u8,
    tier: GuestTier,
    base_state: CpuState,
}

impl Guest {
    pub fn new(tier: GuestTier) -> Result<Guest, String> {
        let mut ram = GuestRam::new(RAM_MIB).map_err(|e| e.to_string())?;
        let mut st = CpuState::default();
        boot::enter_long_mode(&mut ram, &mut st, TEST_IP);
        // IDT: 32 interrupt gates, vector v -> HANDLERS + 16 v, each a HLT.
        for v in 0..32u64 {
            let h = HANDLERS + 16 * v;
            ram.write_at(h, &[0xf4]);
            let lo = (h & 0xffff)
                | (boot::CODE64_SELECTOR << 16)
                | (0x8e00u64 << 32)
                | ((h >> 16) & 0xffff) << 48;
            let hi = h >> 32;
            ram.write_u64(IDT + 16 * v, lo);
            ram.write_u64(IDT + 16 * v + 8, hi);
        }
        st.idtr.base = IDT;
        st.idtr.limit = 32 * 16 - 1;
        let ram_ptr = ram.base_ptr();
        let cfg = match tier {
            GuestTier::Interp => CpuConfig {
                tier: Tier::Interpreter,
                ..Default::default()
            },
            GuestTier::Tiered => CpuConfig {
                tier: Tier::Tiered,
                hot_threshold: 1,
                ..Default::default()
            },
        };
        let mut cpu = reprise_jit::Cpu::new(ram, cfg).map_err(|e| e.to_string())?;
        *cpu.state_mut() = st.clone();
        Ok(Guest {
            cpu,
            ram: ram_ptr,
            tier,
            base_state: st,
        })
    }

    pub fn tier(&self) -> GuestTier {
        self.tier
    }

    pub fn stats(&self) -> reprise_jit::CpuStats {
        self.cpu.stats()
    }

    fn write_ram(&mut self, addr: u64, data: &[u8]) {
        let end = addr as usize + data.len();
        assert!(end <= (RAM_MIB << 20) as usize);
        // SAFETY: `self.ram` is the base of the guest RAM mapping owned by `self.cpu`,
        // which lives as long as `self`; the range was checked against its size. No
        // Rust reference into guest RAM is live here (the CPU only accesses RAM while
        // `run` executes), so writing through the raw pointer does not alias one.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ram.add(addr as usize), data.len())
        };
    }

    fn load(&mut self, input: &MachineState) {
        let st = self.cpu.state_mut();
        *st = self.base_state.clone();
        st.gpr = input.gpr;
        st.set_rflags(input.rflags);
        st.mxcsr = input.mxcsr;
        st.xmm = input.xmm;
        st.rip = TEST_IP;
        let x = &input.x87;
        let top = x.top();
        st.fpu.fcw = x.fcw;
        st.fpu.fsw = x.fsw & !0x3800;
        st.fpu.top = top as u8;
        let mut ftw = 0u16;
        for p in 0..8 {
            let v = x.st[(p + 8 - top) & 7];
            st.fpu.st[p] = [0; 16];
            st.fpu.st[p][..10].copy_from_slice(&v);
            let tag = if x.tags & (1 << p) == 0 {
                3
            } else {
                tag_of(&v)
            };
            ftw |= tag << (2 * p);
        }
        st.fpu.ftw = ftw;
    }

    fn run_once(&mut self, input: &MachineState, len: u64) -> Outcome {
        self.write_ram(DATA, &input.data);
        self.load(input);
        let limit = self.cpu.state().icount + 64;
        let exit = self.cpu.run(&mut EmptyBus, limit);
        let st = self.cpu.state();
        match exit {
            RunExit::Halted { .. } if st.rip == TEST_IP + len + 1 => {
                let mut out = MachineState {
                    gpr: st.gpr,
                    rflags: st.rflags(),
                    mxcsr: st.mxcsr,
                    xmm: st.xmm,
                    x87: x87_of(st),
                    data: [0; DATA_LEN],
                };
                out.data
                    .copy_from_slice(&self.cpu.ram().as_slice()[DATA as usize..][..DATA_LEN]);
                Outcome::Done(Box::new(out))
            }
            RunExit::Halted { .. }
                if (HANDLERS + 1..HANDLERS + 32 * 16).contains(&st.rip)
                    && (st.rip - HANDLERS) % 16 == 1 =>
            {
                Outcome::Fault {
                    vector: ((st.rip - HANDLERS) / 16) as u8,
                }
            }
            // Anything else (a jump somewhere, a triple fault) is reported as an
            // impossible vector so it always mismatches.
            _ => Outcome::Fault { vector: 0xff },
        }
    }

    /// Runs the instruction `code` (encoded for RIP = TEST_IP) on `input`.
    pub fn run(&mut self, code: &[u8], input: &MachineState) -> GuestRun {
        let mut buf = code.to_vec();
        buf.push(0xf4);
        self.write_ram(TEST_IP, &buf);
        self.cpu.flush_code_cache();
        let len = code.len() as u64;
        let first = self.run_once(input, len);
        if self.tier == GuestTier::Interp || matches!(first, Outcome::Fault { vector: 6 }) {
            return GuestRun {
                outcome: first,
                compiled: false,
            };
        }
        let before = self.cpu.stats().jit_entries;
        let second = self.run_once(input, len);
        GuestRun {
            outcome: second,
            compiled: self.cpu.stats().jit_entries > before,
        }
    }
}
