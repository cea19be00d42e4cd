//! Differential test of the two tiers on random straight-line code run hot in a loop:
//! the interpreter and the Cranelift tier must end in exactly the same state (registers,
//! lazy flags as observed through RFLAGS, memory). Single instructions are checked
//! against the host CPU by the oracle crate; this test covers what only shows up across
//! instructions in compiled blocks: register caching, flag records carried from one
//! instruction to the next, memory operands, chaining and exits.

use iced_x86::code_asm::*;
use reprise_jit::{boot, Cpu, CpuConfig, EmptyBus, GuestRam, RunExit, Tier};

const CODE: u64 = 0x10_0000;
const DATA: u64 = 0x18_0000;

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const R64: [AsmRegister64; 8] = [rax, rbx, rcx, rdx, rsi, rdi, r8, r9];
const R32: [AsmRegister32; 8] = [eax, ebx, ecx, edx, esi, edi, r8d, r9d];
const R16: [AsmRegister16; 8] = [ax, bx, cx, dx, si, di, r8w, r9w];
const R8: [AsmRegister8; 8] = [al, bl, cl, dl, sil, dil, r8b, r9b];

/// Emits one random instruction. r15 points at the data area; r10 is the loop counter.
fn random_insn(a: &mut CodeAssembler, g: &mut Rng) -> Result<(), IcedError> {
    let (x, y) = (g.below(8) as usize, g.below(8) as usize);
    let imm = g.next() as i32 >> g.below(31);
    let disp = (g.below(64) * 8) as i32;
    let size = [8, 16, 32, 64][g.below(4) as usize];
    macro_rules! alu {
        ($op:ident) => {
            match (size, g.below(4)) {
                (64, 0) => a.$op(R64[x], R64[y]),
                (64, 1) => a.$op(R64[x], imm),
                (64, 2) => a.$op(R64[x], qword_ptr(r15 + disp)),
                (64, _) => a.$op(qword_ptr(r15 + disp), R64[y]),
                (32, 0) => a.$op(R32[x], R32[y]),
                (32, 1) => a.$op(R32[x], imm),
                (32, 2) => a.$op(R32[x], dword_ptr(r15 + disp)),
                (32, _) => a.$op(dword_ptr(r15 + disp), R32[y]),
                (16, 0) => a.$op(R16[x], R16[y]),
                (16, 1) => a.$op(R16[x], imm as i16 as i32),
                (16, 2) => a.$op(R16[x], word_ptr(r15 + disp)),
                (16, _) => a.$op(word_ptr(r15 + disp), R16[y]),
                (_, 0) => a.$op(R8[x], R8[y]),
                (_, 1) => a.$op(R8[x], imm as i8 as i32),
                (_, 2) => a.$op(R8[x], byte_ptr(r15 + disp)),
                (_, _) => a.$op(byte_ptr(r15 + disp), R8[y]),
            }
        };
    }
    macro_rules! unary {
        ($op:ident) => {
            match size {
                64 => a.$op(R64[x]),
                32 => a.$op(R32[x]),
                16 => a.$op(R16[x]),
                _ => a.$op(R8[x]),
            }
        };
    }
    macro_rules! shift {
        ($op:ident) => {
            match (size, g.below(2)) {
                (64, 0) => a.$op(R64[x], cl),
                (64, _) => a.$op(R64[x], (imm & 63) as u32),
                (32, 0) => a.$op(dword_ptr(r15 + disp), cl),
                (32, _) => a.$op(R32[x], (imm & 31) as u32),
                (16, 0) => a.$op(R16[x], cl),
                (16, _) => a.$op(R16[x], 1u32),
                (_, 0) => a.$op(R8[x], cl),
                (_, _) => a.$op(byte_ptr(r15 + disp), (imm & 7) as u32),
            }
        };
    }
    match g.below(34) {
        22 => shift!(shl),
        23 => shift!(shr),
        24 => shift!(sar),
        25 => shift!(rol),
        26 => shift!(rcr),
        27 => match g.below(3) {
            0 => a.imul_2(R64[x], R64[y]),
            1 => a.imul_3(R32[x], R32[y], imm),
            _ => a.mul(R64[y]),
        },
        28 => a.bt(R64[x], (imm & 63) as u32),
        29 => a.bts(qword_ptr(r15 + disp), (imm & 63) as u32),
        30 => a.bsf(R64[x], R64[y]),
        31 => a.popcnt(R32[x], R32[y]),
        32 => a.shld(R64[x], R64[y], cl),
        33 => a.lzcnt(R64[x], R64[y]),
        0 => alu!(add),
        1 => alu!(sub),
        2 => alu!(adc),
        3 => alu!(sbb),
        4 => alu!(and),
        5 => alu!(or),
        6 => alu!(xor),
        7 => alu!(cmp),
        8 => match g.below(3) {
            0 => a.mov(R64[x], R64[y]),
            1 => a.mov(R64[x], g.next()),
            _ => a.mov(dword_ptr(r15 + disp), R32[y]),
        },
        9 => unary!(inc),
        10 => unary!(dec),
        11 => unary!(neg),
        12 => unary!(not),
        13 => a.lea(R64[x], qword_ptr(R64[y] + R64[x] * 4 + imm)),
        14 => match g.below(4) {
            0 => a.cmovl(R64[x], R64[y]),
            1 => a.cmovbe(R32[x], R32[y]),
            2 => a.cmovo(R64[x], qword_ptr(r15 + disp)),
            _ => a.cmovp(R16[x], R16[y]),
        },
        15 => match g.below(4) {
            0 => a.setg(R8[x]),
            1 => a.setb(R8[x]),
            2 => a.sets(byte_ptr(r15 + disp)),
            _ => a.setnp(R8[x]),
        },
        16 => match g.below(3) {
            0 => a.movzx(R64[x], R8[y]),
            1 => a.movsx(R32[x], R16[y]),
            _ => a.movsxd(R64[x], dword_ptr(r15 + disp)),
        },
        17 => a.xchg(qword_ptr(r15 + disp), R64[x]),
        18 => a.bswap(R64[x]),
        19 => {
            a.push(R64[x])?;
            a.pop(R64[y])
        }
        20 => a.xadd(dword_ptr(r15 + disp), R32[x]),
        _ => a.cmpxchg(qword_ptr(r15 + disp), R64[x]),
    }
}

/// A counted loop around `n` random instructions, a forward branch on the flags in the
/// middle, then HLT.
fn program(seed: u64, n: usize) -> Vec<u8> {
    let mut g = Rng(seed | 1);
    let mut a = CodeAssembler::new(64).unwrap();
    let mut top = a.create_label();
    let mut skip = a.create_label();
    a.mov(r15, DATA).unwrap();
    a.mov(r10, 40u64).unwrap();
    a.set_label(&mut top).unwrap();
    for k in 0..n {
        if k == n / 2 {
            a.jl(skip).unwrap();
        }
        random_insn(&mut a, &mut g).unwrap();
        if k == (n / 2 + 2).min(n - 1) {
            a.set_label(&mut skip).unwrap();
            a.nop().unwrap();
        }
    }
    a.dec(r10).unwrap();
    a.jnz(top).unwrap();
    a.pushfq().unwrap();
    a.pop(r11).unwrap();
    a.hlt().unwrap();
    a.assemble(CODE).unwrap()
}

fn run(tier: Tier, code: &[u8], seed: u64) -> Cpu {
    let mut ram = GuestRam::new(2).unwrap();
    assert!(ram.write_at(CODE, code));
    let mut g = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
    let data: Vec<u8> = (0..1024).map(|_| g.next() as u8).collect();
    assert!(ram.write_at(DATA, &data));
    let mut st = reprise_jit::CpuState::default();
    boot::enter_long_mode(&mut ram, &mut st, CODE);
    for r in [0, 1, 2, 3, 6, 7, 8, 9] {
        st.gpr[r] = g.next() >> g.below(64);
    }
    st.gpr[4] = 0x8_0000;
    let cfg = CpuConfig {
        tier,
        hot_threshold: 3,
        ..Default::default()
    };
    let mut cpu = Cpu::new(ram, cfg).unwrap();
    *cpu.state_mut() = st;
    let r = cpu.run(&mut EmptyBus, 1_000_000);
    assert_eq!(
        r,
        RunExit::Halted {
            interrupts_enabled: false
        },
        "seed {seed}"
    );
    cpu
}

#[test]
fn random_blocks_agree_between_tiers() {
    let mut compiled = 0;
    for seed in 1..=600u64 {
        let code = program(seed, 4 + (seed as usize % 28));
        let a = run(Tier::Interpreter, &code, seed);
        let b = run(Tier::Tiered, &code, seed);
        compiled += b.stats().blocks_compiled;
        let (sa, sb) = (a.state(), b.state());
        assert_eq!(sa.gpr, sb.gpr, "seed {seed}: registers differ");
        assert_eq!(sa.rflags(), sb.rflags(), "seed {seed}: RFLAGS differ");
        assert_eq!(
            sa.icount, sb.icount,
            "seed {seed}: instruction counts differ"
        );
        assert_eq!(a.digest(), b.digest(), "seed {seed}: state digests differ");
    }
    assert!(compiled >= 600, "the JIT compiled only {compiled} blocks");
}

#[test]
#[ignore]
fn debug_one_seed() {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let code = program(seed, 4 + (seed as usize % 28));
    let dec = iced_x86::Decoder::with_ip(64, &code, CODE, 0);
    for i in dec {
        println!("{:x} {}", i.ip(), i);
    }
    for tier in [Tier::Interpreter, Tier::Tiered] {
        let mut ram = GuestRam::new(2).unwrap();
        let _ = &mut ram;
        let cpu = std::panic::catch_unwind(|| run(tier, &code, seed));
        println!("{tier:?}: {:?}", cpu.as_ref().map(|c| c.state().gpr));
    }
}
