//! Runs one instruction at a time on a fresh register state in both tiers and returns
//! what it did.

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, Decoder, DecoderOptions, Instruction, OpKind};
use reprise_jit::{boot, Cpu, CpuConfig, EmptyBus, GuestRam, RunExit, Tier};

pub const CODE: u64 = 0x10_0000;
/// R15 points here; memory operands use it as their base.
pub const DATA: u64 = 0x20_0000;
/// The memory window compared after each run: DATA - MEM_BEFORE .. + MEM_LEN.
pub const MEM_BEFORE: u64 = 32;
pub const MEM_LEN: usize = 64;
const STACK_TOP: u64 = 0x8_0000;
const IDT: u64 = 0x3_0000;
/// The handler of vector k is a HLT at HANDLERS + 16 * k.
const HANDLERS: u64 = 0x3_1000;

pub const R15: usize = 15;
pub const RSP: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub gpr: [u64; 16],
    pub rflags: u64,
    pub mem: [u8; MEM_LEN],
}

impl Default for Input {
    fn default() -> Self {
        Input {
            gpr: [0; 16],
            rflags: 2,
            mem: [0; MEM_LEN],
        }
    }
}

impl Input {
    /// Sets the `size`-byte memory operand at DATA (offset 0 of the operand).
    pub fn set_mem(&mut self, off: i64, v: u64, size: u8) {
        for k in 0..size as usize {
            let idx = (MEM_BEFORE as i64 + off) as usize + k;
            self.mem[idx] = (v >> (8 * k)) as u8;
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub gpr: [u64; 16],
    pub rflags: u64,
    pub mem: [u8; MEM_LEN],
    /// The vector of the exception raised, if any (RIP then pointed at the instruction).
    pub fault: Option<u8>,
}

impl Output {
    pub fn mem_at(&self, off: i64, size: u8) -> u64 {
        let mut v = 0u64;
        for k in 0..size as usize {
            let idx = (MEM_BEFORE as i64 + off) as usize + k;
            v |= (self.mem[idx] as u64) << (8 * k);
        }
        v
    }
}

pub struct Machine {
    cpu: Cpu,
    /// With the tiered configuration, an interpreter-only CPU that runs the cases not
    /// sampled for compilation (compiling every case would take minutes in debug).
    plain: Option<Cpu>,
    cases: u64,
}

pub const TIERS: [Tier; 2] = [Tier::Interpreter, Tier::Tiered];

/// Every `jit_sample()`-th case runs compiled in the tiered configuration; set
/// REPRISE_JIT_SAMPLE=1 to compile all of them.
fn jit_sample() -> u64 {
    std::env::var("REPRISE_JIT_SAMPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
        .max(1)
}

fn new_cpu(tier: Tier) -> Cpu {
    let mut ram = GuestRam::new(16).unwrap();
    let mut st = reprise_jit::CpuState::default();
    boot::enter_long_mode(&mut ram, &mut st, CODE);
    for v in 0..32u64 {
        let h = HANDLERS + 16 * v;
        assert!(ram.write_at(h, &[0xf4]));
        let lo = (h & 0xffff) | (0x08 << 16) | (0x8e00u64 << 32) | ((h >> 16) & 0xffff) << 48;
        assert!(ram.write_u64(IDT + 16 * v, lo));
        assert!(ram.write_u64(IDT + 16 * v + 8, h >> 32));
    }
    st.idtr.base = IDT;
    st.idtr.limit = 32 * 16 - 1;
    let mut cpu = Cpu::new(
        ram,
        CpuConfig {
            tier,
            hot_threshold: 1,
            ..Default::default()
        },
    )
    .unwrap();
    *cpu.state_mut() = st;
    cpu
}

impl Machine {
    pub fn new(tier: Tier) -> Machine {
        Machine {
            cpu: new_cpu(tier),
            plain: (tier == Tier::Tiered).then(|| new_cpu(Tier::Interpreter)),
            cases: 0,
        }
    }

    /// The CPU for the next case and how often to run it: twice when it is compiled
    /// after the first run (hot threshold 1), so the second run is compiled code.
    fn next_cpu(&mut self) -> (&mut Cpu, usize) {
        self.cases += 1;
        // The first cases of every test all compile (small tests are fully covered).
        let sampled = self.cases <= 64 || self.cases.is_multiple_of(jit_sample());
        match (&mut self.plain, sampled) {
            (Some(p), false) => (p, 1),
            (Some(_), true) => (&mut self.cpu, 2),
            (None, _) => (&mut self.cpu, 1),
        }
    }

    /// Runs the instruction(s) `body` emits on `inp`. Instructions with a memory operand
    /// get a prologue that stores `inp.mem` into the window around DATA; without one,
    /// the window must stay as it was.
    pub fn run(&mut self, body: &dyn Fn(&mut CodeAssembler), inp: &Input) -> Output {
        let mut probe = CodeAssembler::new(64).unwrap();
        body(&mut probe);
        let uses_mem = probe
            .instructions()
            .iter()
            .any(|i| (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Memory));
        let mut a = CodeAssembler::new(64).unwrap();
        if uses_mem {
            for k in 0..MEM_LEN / 4 {
                let off = k as i32 * 4 - MEM_BEFORE as i32;
                let w = u32::from_le_bytes(inp.mem[k * 4..k * 4 + 4].try_into().unwrap());
                a.mov(dword_ptr(r15 + off), w).unwrap();
            }
        }
        let prologue = a.instructions().len();
        body(&mut a);
        a.hlt().unwrap();
        let res = a
            .assemble_options(CODE, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
            .unwrap();
        let bytes = res.inner.code_buffer;
        let insn_at = CODE + res.inner.new_instruction_offsets[prologue] as u64;
        self.run_bytes(&bytes, insn_at, inp, false, uses_mem)
    }

    /// Runs raw 32-bit code (then HLT) in compatibility mode. With `uses_mem`, a
    /// prologue of absolute-address stores prepares the window from `inp.mem`;
    /// otherwise memory must not change.
    pub fn run_compat(&mut self, code: &[u8], inp: &Input, uses_mem: bool) -> Output {
        let mut bytes = Vec::new();
        if uses_mem {
            for k in 0..MEM_LEN / 4 {
                // mov dword [abs32], imm32
                let addr = (DATA - MEM_BEFORE) as u32 + k as u32 * 4;
                bytes.extend([0xc7, 0x05]);
                bytes.extend(addr.to_le_bytes());
                bytes.extend(&inp.mem[k * 4..k * 4 + 4]);
            }
        }
        let insn_at = CODE + bytes.len() as u64;
        bytes.extend(code);
        bytes.push(0xf4);
        self.run_bytes(&bytes, insn_at, inp, true, uses_mem)
    }

    fn run_bytes(
        &mut self,
        bytes: &[u8],
        insn_at: u64,
        inp: &Input,
        compat: bool,
        uses_mem: bool,
    ) -> Output {
        let (cpu, runs) = self.next_cpu();
        let end = CODE + bytes.len() as u64;
        assert!(cpu.ram_mut().write_at(CODE, bytes));
        let mut first: Option<Output> = None;
        for run in 0..runs {
            let entries = cpu.stats().jit_entries;
            let before = window(cpu);
            let mut out = once(cpu, inp, insn_at, end, bytes, compat);
            if !uses_mem {
                assert_eq!(out.mem, before, "memory changed: {}", describe(bytes));
                out.mem = inp.mem;
            }
            // Once the JIT compiles anything, every second run must be compiled code.
            if run == 1 && cpu.stats().blocks_compiled > 0 {
                assert!(
                    cpu.stats().jit_entries > entries,
                    "block not compiled: {}",
                    describe(bytes)
                );
            }
            if let Some(f) = &first {
                assert_eq!(f, &out, "tiers disagree between runs: {}", describe(bytes));
            }
            first = Some(out);
        }
        first.unwrap()
    }
}

fn window(cpu: &Cpu) -> [u8; MEM_LEN] {
    let base = (DATA - MEM_BEFORE) as usize;
    let mut mem = [0u8; MEM_LEN];
    mem.copy_from_slice(&cpu.ram().as_slice()[base..base + MEM_LEN]);
    mem
}

fn once(cpu: &mut Cpu, inp: &Input, insn_at: u64, end: u64, bytes: &[u8], compat: bool) -> Output {
    let st = cpu.state_mut();
    // 64-bit code segment, or a 32-bit one (L = 0, D = 1) for compatibility mode.
    st.segs[1].selector = 0x08;
    st.segs[1].attr = if compat { 0xc09b } else { 0xa09b };
    st.gpr = inp.gpr;
    st.gpr[R15] = DATA;
    st.gpr[RSP] = STACK_TOP;
    st.set_rflags(inp.rflags);
    st.rip = CODE;
    let limit = st.icount + 1000;
    let r = cpu.run(&mut EmptyBus, limit);
    assert!(
        matches!(r, RunExit::Halted { .. }),
        "{r:?} running {}",
        describe(bytes)
    );
    let st = cpu.state();
    let fault = if st.rip == end {
        None
    } else {
        let v = st.rip.wrapping_sub(HANDLERS + 1) / 16;
        assert_eq!(st.rip, HANDLERS + 16 * v + 1, "{}", describe(bytes));
        // The frame's RIP is the faulting instruction; vectors 8, 10-14 and 17 push an
        // error code below it.
        let stack = st.gpr[RSP] + if matches!(v, 8 | 10..=14 | 17) { 8 } else { 0 };
        let ret = cpu.ram().read_u64(stack).unwrap();
        assert_eq!(ret, insn_at, "fault RIP: {}", describe(bytes));
        Some(v as u8)
    };
    let st = cpu.state();
    let mut gpr = st.gpr;
    gpr[RSP] = 0;
    gpr[R15] = 0;
    Output {
        gpr,
        rflags: st.rflags(),
        mem: window(cpu),
        fault,
    }
}

/// The instructions after the memory prologue, disassembled.
pub fn describe(bytes: &[u8]) -> String {
    let mut d = Decoder::with_ip(64, bytes, CODE, DecoderOptions::NONE);
    let mut out = Vec::new();
    let mut i = Instruction::default();
    while d.can_decode() {
        d.decode_out(&mut i);
        let s = i.to_string();
        if !s.starts_with("mov dword ptr [r15") {
            out.push(s);
        }
    }
    out.join("; ")
}

/// A small deterministic pseudo-random generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Interesting operand values at `size` bytes, plus a few random ones.
pub fn values(size: u8, rng: &mut Rng, extra: usize) -> Vec<u64> {
    let m = mask(size);
    let top = 1u64 << (size as u32 * 8 - 1);
    let mut v = vec![
        0,
        1,
        2,
        3,
        0x7f,
        0x80,
        0xff,
        top,
        top - 1,
        top | 1,
        m,
        m - 1,
        0x5a5a_5a5a_5a5a_5a5a & m,
        0x8421_8421_8421_8421 & m,
    ];
    for _ in 0..extra {
        v.push(rng.next() & m);
    }
    v.sort_unstable();
    v.dedup();
    v
}

pub fn mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size as u32 * 8)) - 1
    }
}

pub fn sext(v: u64, size: u8) -> u64 {
    let sh = 64 - size as u32 * 8;
    (((v << sh) as i64) >> sh) as u64
}

/// Writes `v` to a register image with x86's partial-write rules.
pub fn write_reg(r: &mut u64, v: u64, size: u8, high8: bool) {
    match (size, high8) {
        (1, true) => *r = (*r & !0xff00) | (v & 0xff) << 8,
        (4, _) => *r = v & 0xffff_ffff,
        (8, _) => *r = v,
        (s, _) => *r = (*r & !mask(s)) | (v & mask(s)),
    }
}

/// Flags bits.
pub const CF: u64 = 1;
pub const PF: u64 = 1 << 2;
pub const AF: u64 = 1 << 4;
pub const ZF: u64 = 1 << 6;
pub const SF: u64 = 1 << 7;
pub const OF: u64 = 1 << 11;
pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;

/// ZF, SF, PF of `r` at `size`.
pub fn szp(r: u64, size: u8) -> u64 {
    let r = r & mask(size);
    let mut f = 0;
    if r == 0 {
        f |= ZF;
    }
    if r >> (size as u32 * 8 - 1) & 1 == 1 {
        f |= SF;
    }
    if (r & 0xff).count_ones().is_multiple_of(2) {
        f |= PF;
    }
    f
}

/// Compares an output against expectations; `defined` masks the arithmetic flags the
/// SDM defines for this case (other RFLAGS bits must be unchanged).
pub fn check(what: &str, out: &Output, want: &Output, defined: u64) {
    let ok = out.gpr == want.gpr
        && out.mem == want.mem
        && out.fault == want.fault
        && (out.rflags ^ want.rflags) & (defined | !ARITH) == 0;
    if !ok {
        let mut diffs = Vec::new();
        for r in 0..16 {
            if out.gpr[r] != want.gpr[r] {
                diffs.push(format!(
                    "r{r}: got {:#x} want {:#x}",
                    out.gpr[r], want.gpr[r]
                ));
            }
        }
        if out.mem != want.mem {
            diffs.push(format!(
                "mem: got {:02x?}\n want {:02x?}",
                out.mem, want.mem
            ));
        }
        if out.fault != want.fault {
            diffs.push(format!("fault: got {:?} want {:?}", out.fault, want.fault));
        }
        diffs.push(format!(
            "rflags: got {:#x} want {:#x} (compared bits {:#x})",
            out.rflags,
            want.rflags,
            defined | (!ARITH & 0xfff)
        ));
        panic!("{what}:\n  {}", diffs.join("\n  "));
    }
}

/// The expected output when nothing but what `f` changes changes.
pub fn expect(inp: &Input) -> Output {
    let mut gpr = inp.gpr;
    gpr[RSP] = 0;
    gpr[R15] = 0;
    Output {
        gpr,
        rflags: inp.rflags | 2,
        mem: inp.mem,
        fault: None,
    }
}
