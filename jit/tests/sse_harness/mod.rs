//! Test harness for SSE: runs one instruction in the guest (both tiers) and the same
//! instruction bytes natively on the host, from the same register, memory and MXCSR
//! state, and compares the results.
//!
//! Memory operands address `[rsi + disp]`: in the guest RSI points at `DATA`, on the
//! host at a buffer holding the same bytes; RDI points 16 bytes further (for
//! MASKMOVDQU). RSI, RDI and RSP are not compared.

#![allow(dead_code)]

use iced_x86::code_asm::*;
use reprise_jit::state::{CpuState, CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXMMEXCPT};
use reprise_jit::{boot, Cpu, CpuConfig, EmptyBus, GuestRam, RunExit, Tier};

pub const CODE: u64 = 0x10_0000;
pub const DATA: u64 = 0x20_0000;
pub const IDT: u64 = 0x30_0000;
pub const HANDLERS: u64 = 0x31_0000;
pub const MEM: usize = 64;
pub const RSI: usize = 6;
pub const RSP: usize = 4;
pub const RDI: usize = 7;
pub const ARITH: u64 = 0x8d5;

/// Inputs and outputs of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Io {
    pub xmm: [[u64; 2]; 16],
    pub gpr: [u64; 16],
    pub mxcsr: u32,
    /// Arithmetic flags after the instruction.
    pub flags: u64,
    pub mem: [u8; MEM],
}

impl Default for Io {
    fn default() -> Self {
        Io {
            xmm: [[0; 2]; 16],
            gpr: [0; 16],
            mxcsr: 0x1f80,
            flags: 0,
            mem: [0; MEM],
        }
    }
}

pub type Build = fn(&mut CodeAssembler) -> Result<(), IcedError>;

pub fn assemble(b: Build) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    b(&mut a).unwrap();
    a.assemble(0).unwrap()
}

const XMMS: [AsmRegisterXmm; 16] = [
    xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14,
    xmm15,
];
const GPRS: [AsmRegister64; 16] = [
    rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
];

/// Layout shared with the generated host wrapper.
#[repr(C, align(16))]
struct HostState {
    xmm: [[u64; 2]; 16],
    gpr: [u64; 16],
    mxcsr: u32,
    _pad: u32,
    flags: u64,
    saved: u32,
    _pad2: u32,
}

const OFF_GPR: i32 = 256;
const OFF_MXCSR: i32 = 384;
const OFF_FLAGS: i32 = 392;
const OFF_SAVED: i32 = 400;

/// Native execution of instruction bytes on the host.
pub struct Host {
    map: memmap2::MmapMut,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            map: memmap2::MmapMut::map_anon(1 << 14).unwrap(),
        }
    }
}

fn wrapper(insn: &[u8], ip: u64) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let st = rdi;
    for r in [rbx, rbp, r12, r13, r14, r15] {
        a.push(r).unwrap();
    }
    a.push(st).unwrap();
    a.stmxcsr(dword_ptr(st + OFF_SAVED)).unwrap();
    for (k, x) in XMMS.iter().enumerate() {
        a.movdqu(*x, xmmword_ptr(st + (k as i32 * 16))).unwrap();
    }
    a.ldmxcsr(dword_ptr(st + OFF_MXCSR)).unwrap();
    for (k, r) in GPRS.iter().enumerate() {
        if k != RSP && k != 7 {
            a.mov(*r, qword_ptr(st + (OFF_GPR + k as i32 * 8))).unwrap();
        }
    }
    a.mov(rdi, qword_ptr(st + (OFF_GPR + 7 * 8))).unwrap();
    a.db(insn).unwrap();
    a.xchg(qword_ptr(rsp), rdi).unwrap();
    for (k, r) in GPRS.iter().enumerate() {
        if k != RSP && k != 7 {
            a.mov(qword_ptr(st + (OFF_GPR + k as i32 * 8)), *r).unwrap();
        }
    }
    a.pushfq().unwrap();
    a.pop(rax).unwrap();
    a.mov(qword_ptr(st + OFF_FLAGS), rax).unwrap();
    a.pop(rax).unwrap();
    a.mov(qword_ptr(st + (OFF_GPR + 7 * 8)), rax).unwrap();
    a.stmxcsr(dword_ptr(st + OFF_MXCSR)).unwrap();
    for (k, x) in XMMS.iter().enumerate() {
        a.movdqu(xmmword_ptr(st + (k as i32 * 16)), *x).unwrap();
    }
    a.ldmxcsr(dword_ptr(st + OFF_SAVED)).unwrap();
    for r in [r15, r14, r13, r12, rbp, rbx] {
        a.pop(r).unwrap();
    }
    a.ret().unwrap();
    a.assemble(ip).unwrap()
}

impl Host {
    /// Runs `insn` natively. Only for inputs that cannot fault (all MXCSR exceptions
    /// masked, memory operands inside the buffer).
    pub fn run(&mut self, insn: &[u8], input: &Io) -> Io {
        let mut map = std::mem::replace(&mut self.map, memmap2::MmapMut::map_anon(1).unwrap());
        let ip = map.as_ptr() as u64;
        let code = wrapper(insn, ip);
        map[..code.len()].copy_from_slice(&code);
        let exec = map.make_exec().unwrap();
        let mut mem = Box::new([0u128; MEM / 16]);
        // SAFETY: a [u128; 4] is 64 plain bytes.
        let bytes = unsafe { &mut *(mem.as_mut_ptr() as *mut [u8; MEM]) };
        bytes.copy_from_slice(&input.mem);
        let mut st = HostState {
            xmm: input.xmm,
            gpr: input.gpr,
            mxcsr: input.mxcsr,
            _pad: 0,
            flags: 0,
            saved: 0,
            _pad2: 0,
        };
        st.gpr[RSI] = bytes.as_mut_ptr() as u64;
        st.gpr[RDI] = st.gpr[RSI] + 16;
        // SAFETY: `exec` holds the wrapper just assembled for this address: it saves
        // and restores every callee-saved register and the host MXCSR, and the tested
        // instruction only touches registers and the 64-byte buffer RSI points at.
        let f: extern "C" fn(*mut HostState) = unsafe { std::mem::transmute(exec.as_ptr()) };
        f(&mut st);
        self.map = exec.make_mut().unwrap();
        let mut out = Io {
            xmm: st.xmm,
            gpr: st.gpr,
            mxcsr: st.mxcsr,
            flags: st.flags & ARITH,
            mem: *bytes,
        };
        out.gpr[RSI] = input.gpr[RSI];
        out.gpr[RDI] = input.gpr[RDI];
        out.gpr[RSP] = input.gpr[RSP];
        out
    }
}

/// A guest CPU in 64-bit mode with an IDT whose handler for vector `v` does
/// `mov r15d, v; hlt`.
pub struct Guest {
    pub cpu: Cpu,
    base: CpuState,
    /// Start of guest RAM (the mapping stays put while `cpu` lives).
    ram: *mut u8,
}

impl Guest {
    pub fn new(tier: Tier) -> Guest {
        let ram = GuestRam::new(16).unwrap();
        let mut cpu = Cpu::new(
            ram,
            CpuConfig {
                tier,
                hot_threshold: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let mut st = CpuState::default();
        boot::enter_long_mode(cpu.ram_mut(), &mut st, CODE);
        for v in 0..32u64 {
            let h = HANDLERS + v * 16;
            // mov r15d, imm32; hlt
            let mut code = vec![0x41, 0xbf];
            code.extend_from_slice(&(v as u32).to_le_bytes());
            code.push(0xf4);
            cpu.ram_mut().write_at(h, &code);
            let lo = (h & 0xffff) | 0x08 << 16 | 0x8e00 << 32 | ((h >> 16) & 0xffff) << 48;
            cpu.ram_mut().write_u64(IDT + v * 16, lo);
            cpu.ram_mut().write_u64(IDT + v * 16 + 8, h >> 32);
        }
        st.idtr.base = IDT;
        st.idtr.limit = 32 * 16 - 1;
        let ram = cpu.ram_mut().as_mut_slice().as_mut_ptr();
        Guest { cpu, base: st, ram }
    }

    /// Runs `insn` from `input` with CR0/CR4 adjusted by `setup`; returns the state
    /// and the exception vector taken (or None).
    pub fn run_with(
        &mut self,
        insn: &[u8],
        input: &Io,
        setup: impl Fn(&mut CpuState),
    ) -> (Io, Option<u8>) {
        let mut code = insn.to_vec();
        code.push(0xf4);
        self.cpu.ram_mut().write_at(CODE, &code);
        // With a hot threshold of 1 the first run interprets the block and compiles
        // it; the second run executes the compiled code. Data is rewritten without
        // `ram_mut`, which would drop the translations.
        let runs = if self.cpu.config().tier == Tier::Tiered {
            2
        } else {
            1
        };
        for _ in 0..runs {
            self.write_data(&input.mem);
            let st = self.cpu.state_mut();
            *st = self.base.clone();
            st.xmm = input.xmm;
            st.gpr = input.gpr;
            st.gpr[RSI] = DATA;
            st.gpr[RDI] = DATA + 16;
            st.gpr[RSP] = 0x8_0000;
            st.gpr[15] = 0xdead;
            st.mxcsr = input.mxcsr;
            setup(st);
            let r = self.cpu.run(&mut EmptyBus, 100);
            assert!(matches!(r, RunExit::Halted { .. }), "{r:?}");
        }
        let st = self.cpu.state();
        let fault = if st.rip == CODE + code.len() as u64 {
            None
        } else {
            Some(st.gpr[15] as u8)
        };
        let mut mem = [0u8; MEM];
        mem.copy_from_slice(&self.cpu.ram().as_slice()[DATA as usize..DATA as usize + MEM]);
        let mut out = Io {
            xmm: st.xmm,
            gpr: st.gpr,
            mxcsr: st.mxcsr,
            flags: st.rflags() & ARITH,
            mem,
        };
        out.gpr[RSI] = input.gpr[RSI];
        out.gpr[RDI] = input.gpr[RDI];
        out.gpr[RSP] = input.gpr[RSP];
        if fault.is_none() {
            out.gpr[15] = input.gpr[15];
        }
        (out, fault)
    }

    fn write_data(&mut self, mem: &[u8; MEM]) {
        // SAFETY: DATA + MEM lies inside guest RAM (16 MiB), which stays mapped as long
        // as `self.cpu`; nothing else accesses it while no guest code runs, and the
        // page holds no translated code.
        unsafe { std::ptr::copy_nonoverlapping(mem.as_ptr(), self.ram.add(DATA as usize), MEM) };
    }

    pub fn run(&mut self, insn: &[u8], input: &Io) -> (Io, Option<u8>) {
        self.run_with(insn, input, |_| {})
    }
}

pub fn both_tiers() -> [Guest; 2] {
    [Guest::new(Tier::Interpreter), Guest::new(Tier::Tiered)]
}

pub fn sse_off(st: &mut CpuState) {
    st.cr4 &= !CR4_OSFXSR;
}
pub fn em_on(st: &mut CpuState) {
    st.cr0 |= CR0_EM;
}
pub fn ts_on(st: &mut CpuState) {
    st.cr0 |= CR0_TS;
}
pub fn no_xmm_exc(st: &mut CpuState) {
    st.cr4 &= !CR4_OSXMMEXCPT;
}

/// Deterministic xorshift generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn f32_special(&mut self) -> u32 {
        const S: [u32; 16] = [
            0x0000_0000,
            0x8000_0000,
            0x3f80_0000,
            0xbf80_0000,
            0x7f80_0000,
            0xff80_0000,
            0x7fc0_0000,
            0xffc0_0001,
            0x7f80_0001,
            0x0000_0001,
            0x807f_ffff,
            0x7f7f_ffff,
            0x0080_0000,
            0x4f00_0000,
            0xcf00_0000,
            0x3fc0_0000,
        ];
        let k = self.below(S.len() as u64) as usize;
        S[k]
    }

    fn f64_special(&mut self) -> u64 {
        const S: [u64; 16] = [
            0,
            0x8000_0000_0000_0000,
            0x3ff0_0000_0000_0000,
            0xbff0_0000_0000_0000,
            0x7ff0_0000_0000_0000,
            0xfff0_0000_0000_0000,
            0x7ff8_0000_0000_0000,
            0xfff8_0000_0000_0001,
            0x7ff0_0000_0000_0001,
            1,
            0x800f_ffff_ffff_ffff,
            0x7fef_ffff_ffff_ffff,
            0x0010_0000_0000_0000,
            0x43e0_0000_0000_0000,
            0xc1e0_0000_0000_0000,
            0x41df_ffff_ffc0_0000,
        ];
        let k = self.below(S.len() as u64) as usize;
        S[k]
    }

    /// A random float-ish number in `[lo, hi]` exponent range, as f32 bits.
    fn f32_normal(&mut self) -> u32 {
        let v =
            (self.next() as f64 / u64::MAX as f64 - 0.5) * 2f64.powi(self.below(80) as i32 - 40);
        (v as f32).to_bits()
    }

    /// A 64-bit chunk mixing special values, ordinary numbers and random bits.
    pub fn chunk(&mut self) -> u64 {
        match self.below(6) {
            0 => self.next(),
            1 => self.f64_special(),
            2 => (self.f32_special() as u64) | (self.f32_special() as u64) << 32,
            3 => (self.f32_normal() as u64) | (self.f32_normal() as u64) << 32,
            4 => {
                let v = (self.next() as f64 / u64::MAX as f64 - 0.5)
                    * 2f64.powi(self.below(140) as i32 - 70);
                v.to_bits()
            }
            _ => self.next() & 0x8000_8080_ff00_ff7f,
        }
    }

    /// A random input: registers, memory and an MXCSR with all exceptions masked and a
    /// random rounding mode, DAZ, FTZ and sticky flags.
    pub fn input(&mut self) -> Io {
        let mut io = Io::default();
        for x in io.xmm.iter_mut() {
            *x = [self.chunk(), self.chunk()];
        }
        // Often make XMM2 and the first 16 bytes of memory close to XMM1, so that
        // equal lanes (compares, min/max, equal floats) are common.
        if self.below(3) == 0 {
            let keep = self.next() & self.next();
            let keep_m = self.next() | self.next();
            for h in 0..2 {
                let x = io.xmm[1][h];
                io.xmm[2][h] = (x & keep) | (io.xmm[2][h] & !keep);
                let m = u64::from_le_bytes(io.mem[h * 8..h * 8 + 8].try_into().unwrap());
                let v = (x & keep_m) | (m & !keep_m);
                io.mem[h * 8..h * 8 + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        // XMM3 holds a plausible shift count.
        io.xmm[3][0] = self.below(80);
        for g in io.gpr.iter_mut() {
            *g = match self.below(3) {
                0 => self.next(),
                1 => self.next() as i32 as i64 as u64,
                _ => self.below(1000),
            };
        }
        for k in 0..MEM / 8 {
            let c = self.chunk();
            io.mem[k * 8..k * 8 + 8].copy_from_slice(&c.to_le_bytes());
        }
        let rc = (self.below(4) as u32) << 13;
        let daz = if self.below(3) == 0 { 1 << 6 } else { 0 };
        let ftz = if self.below(3) == 0 { 1 << 15 } else { 0 };
        let sticky = if self.below(2) == 0 {
            self.below(64) as u32
        } else {
            0
        };
        io.mxcsr = 0x1f80 | rc | daz | ftz | sticky;
        io
    }
}
