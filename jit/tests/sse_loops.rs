//! A floating-point loop run hot in the Cranelift tier must end exactly where the
//! interpreter ends: SSE arithmetic in compiled code calls the SSE helper with only the
//! XMM registers written back and reloaded around it (general registers and flags stay
//! in SSA values, and the loop becomes a region), and the MXCSR-free path and the
//! general one alternate as the operands change (a division by zero half-way makes
//! infinities, and later NaNs). Checked with exceptions masked, with divide-by-zero
//! unmasked (#XM in the middle of the loop, with general registers changed earlier in
//! the same iteration), and with the run cut at many instruction counts.

mod tier_pair;

use iced_x86::code_asm::*;
use reprise_jit::{Cpu, EmptyBus, RunExit, Tier};
use tier_pair::{assert_same, cut_at_limits, CODE};

const DATA: u64 = 0x18_0000;
/// Iterations; the divisor is zero in iteration `ZERO_AT`.
const N: i32 = 3000;
const ZERO_AT: i32 = 1700;

fn program() -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut top = a.create_label();
    a.mov(rdi, DATA).unwrap();
    a.mov(rax, 1.0f64.to_bits()).unwrap();
    a.movq(xmm5, rax).unwrap();
    a.movq(xmm0, rax).unwrap();
    a.movq(xmm4, rax).unwrap();
    a.mov(rax, (-f64::from(ZERO_AT)).to_bits()).unwrap();
    a.movq(xmm1, rax).unwrap();
    a.mov(rax, 1.0001f64.to_bits()).unwrap();
    a.movq(xmm6, rax).unwrap();
    a.xor(ecx, ecx).unwrap();
    a.xor(ebx, ebx).unwrap();
    a.set_label(&mut top).unwrap();
    a.add(rcx, 1).unwrap();
    a.add(rbx, rcx).unwrap();
    a.addsd(xmm1, xmm5).unwrap(); // -ZERO_AT + rcx
    a.movapd(xmm2, xmm5).unwrap();
    a.divsd(xmm2, xmm1).unwrap(); // 1 / (rcx - ZERO_AT)
    a.addsd(xmm0, xmm2).unwrap();
    a.sqrtsd(xmm3, xmm0).unwrap();
    a.mulsd(xmm4, xmm6).unwrap();
    a.mulpd(xmm7, xmm4).unwrap();
    a.minsd(xmm3, xmm4).unwrap();
    a.movsd_2(qword_ptr(rdi), xmm3).unwrap();
    a.add(rdi, 8).unwrap();
    a.sub(rbx, 3).unwrap();
    a.cmp(ecx, N).unwrap();
    a.jne(top).unwrap();
    a.stmxcsr(dword_ptr(rdi)).unwrap();
    a.hlt().unwrap();
    a.assemble(CODE).unwrap()
}

fn machine(tier: Tier, mxcsr: u32) -> Cpu {
    tier_pair::machine(&program(), tier, |_, st| st.mxcsr = mxcsr)
}

const HALTED: RunExit = RunExit::Halted {
    interrupts_enabled: false,
};

#[test]
fn float_loop_agrees_between_tiers() {
    let mut a = machine(Tier::Interpreter, 0x1f80);
    let mut b = machine(Tier::Tiered, 0x1f80);
    assert_eq!(a.run(&mut EmptyBus, 10_000_000), HALTED);
    assert_eq!(b.run(&mut EmptyBus, 10_000_000), HALTED);
    assert!(b.stats().blocks_compiled >= 1, "the loop was not compiled");
    assert_same(&a, &b, "whole run");
    // The division by zero raised ZE (and PE), sticky in MXCSR.
    let mxcsr = a.state().mxcsr;
    assert_eq!(mxcsr & 0x24, 0x24, "MXCSR {mxcsr:#x}");
    let n = N as u64;
    assert_eq!(a.state().gpr[3], n * (n + 1) / 2 - 3 * n, "RBX");
}

#[test]
fn unmasked_divide_by_zero_faults_at_the_same_place() {
    // ZM clear: the division by zero in iteration ZERO_AT raises #XM. No IDT is set
    // up, so the machine stops on the fault; both tiers must stop in the same state
    // (RBX and RCX already updated in that iteration, XMM2 not written).
    let csr = 0x1f80 & !(1 << 9);
    let mut a = machine(Tier::Interpreter, csr);
    let mut b = machine(Tier::Tiered, csr);
    let ra = a.run(&mut EmptyBus, 10_000_000);
    let rb = b.run(&mut EmptyBus, 10_000_000);
    assert_eq!(ra, rb, "the tiers stopped differently");
    assert_ne!(ra, HALTED, "no #XM");
    assert!(b.stats().blocks_compiled >= 1, "the loop was not compiled");
    assert_same(&a, &b, "at the fault");
    assert_eq!(a.state().gpr[1], ZERO_AT as u64, "RCX at the fault");
}

#[test]
fn float_loop_stops_exactly_at_every_limit() {
    let mut a = machine(Tier::Interpreter, 0x1f80);
    let mut b = machine(Tier::Tiered, 0x1f80);
    cut_at_limits(&mut a, &mut b, (0..40).map(|k| 89 + k * 997));
    assert_eq!(a.run(&mut EmptyBus, 10_000_000), HALTED);
    assert_eq!(b.run(&mut EmptyBus, 10_000_000), HALTED);
    assert_same(&a, &b, "after the limits");
}
