//! End-to-end checks of the CPU tiers on assembled code: both tiers must agree on
//! results, instruction counts and state digests.

use iced_x86::code_asm::*;
use reprise_jit::{boot, Cpu, CpuConfig, EmptyBus, GuestRam, RunExit, Tier};

const CODE: u64 = 0x10_0000;
const DATA: u64 = 0x20_0000;

fn machine(tier: Tier, build: &dyn Fn(&mut CodeAssembler)) -> Cpu {
    let mut a = CodeAssembler::new(64).unwrap();
    build(&mut a);
    a.hlt().unwrap();
    let bytes = a.assemble(CODE).unwrap();
    let mut ram = GuestRam::new(16).unwrap();
    assert!(ram.write_at(CODE, &bytes));
    let mut state = reprise_jit::CpuState::default();
    boot::enter_long_mode(&mut ram, &mut state, CODE);
    state.gpr[4] = 0x8_0000;
    let cfg = CpuConfig {
        tier,
        hot_threshold: 2,
        ..Default::default()
    };
    let mut cpu = Cpu::new(ram, cfg).unwrap();
    *cpu.state_mut() = state;
    cpu
}

fn run(tier: Tier, build: &dyn Fn(&mut CodeAssembler)) -> Cpu {
    let mut cpu = machine(tier, build);
    let r = cpu.run(&mut EmptyBus, 10_000_000);
    assert_eq!(
        r,
        RunExit::Halted {
            interrupts_enabled: false
        },
        "{tier:?}"
    );
    cpu
}

/// Runs in both tiers, checks they agree, returns the tiered CPU.
fn both(build: &dyn Fn(&mut CodeAssembler)) -> Cpu {
    let a = run(Tier::Interpreter, build);
    let b = run(Tier::Tiered, build);
    assert_eq!(a.state(), b.state(), "tiers disagree on state");
    assert_eq!(a.digest(), b.digest(), "tiers disagree on digest");
    b
}

fn sum_loop(a: &mut CodeAssembler) {
    let mut top = a.create_label();
    a.xor(rax, rax).unwrap();
    a.mov(rcx, 100u64).unwrap();
    a.set_label(&mut top).unwrap();
    a.add(rax, rcx).unwrap();
    a.dec(rcx).unwrap();
    a.jnz(top).unwrap();
    a.push(rax).unwrap();
    a.pop(rbx).unwrap();
}

#[test]
fn loop_sums_in_both_tiers() {
    let cpu = both(&sum_loop);
    assert_eq!(cpu.state().gpr[0], 5050);
    assert_eq!(cpu.state().gpr[3], 5050);
    assert_eq!(cpu.state().icount, 2 + 300 + 3);
    assert!(
        cpu.stats().blocks_compiled > 0,
        "the loop was never compiled"
    );
    assert!(cpu.stats().jit_entries > 0);
}

#[test]
fn icount_limit_stops_exactly_inside_compiled_loop() {
    for limit in [1u64, 7, 50, 151, 299, 304] {
        for tier in [Tier::Interpreter, Tier::Tiered] {
            let mut cpu = machine(tier, &sum_loop);
            assert_eq!(cpu.run(&mut EmptyBus, limit), RunExit::IcountLimit);
            assert_eq!(cpu.state().icount, limit, "{tier:?}");
            // Resume to the end: same final state as an uninterrupted run.
            let r = cpu.run(&mut EmptyBus, 10_000);
            assert_eq!(
                r,
                RunExit::Halted {
                    interrupts_enabled: false
                }
            );
            assert_eq!(cpu.state().gpr[0], 5050);
            assert_eq!(cpu.state().icount, 305);
        }
    }
}

#[test]
fn memory_calls_and_returns() {
    let cpu = both(&|a| {
        let mut f = a.create_label();
        let mut top = a.create_label();
        let mut done = a.create_label();
        a.mov(rdi, DATA).unwrap();
        a.mov(ecx, 200u32).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(rax, rcx).unwrap();
        a.call(f).unwrap();
        a.mov(qword_ptr(rdi + rcx * 8), rax).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.mov(rax, qword_ptr(rdi + 8 * 7)).unwrap();
        a.mov(bl, byte_ptr(rdi + 8 * 7 + 1)).unwrap();
        a.jmp(done).unwrap();
        // f(x) = 3x + 3, via the stack.
        a.set_label(&mut f).unwrap();
        a.push(rbx).unwrap();
        a.mov(rbx, rax).unwrap();
        a.lea(rax, qword_ptr(rax + rbx * 2)).unwrap();
        a.add(rax, 3i32).unwrap();
        a.pop(rbx).unwrap();
        a.ret().unwrap();
        a.set_label(&mut done).unwrap();
    });
    let st = cpu.state();
    assert_eq!(st.gpr[0], 3 * 7 + 3);
    assert_eq!(st.gpr[3] & 0xff, 0);
    assert_eq!(st.gpr[4], 0x8_0000, "stack balanced");
}

#[test]
fn self_modifying_code_is_seen_by_both_tiers() {
    // A loop runs `mov eax, imm32` hot, then rewrites the immediate and runs again.
    let cpu = both(&|a| {
        let mut body = a.create_label();
        let mut outer = a.create_label();
        a.xor(r8, r8).unwrap();
        a.mov(edx, 2u32).unwrap();
        a.set_label(&mut outer).unwrap();
        a.mov(ecx, 20u32).unwrap();
        a.set_label(&mut body).unwrap();
        a.mov(eax, 0x11u32).unwrap();
        a.add(r8, rax).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(body).unwrap();
        // Rewrite the immediate (one byte past the B8 opcode).
        a.lea(rbx, ptr(body)).unwrap();
        a.mov(dword_ptr(rbx + 1), 0x1000u32).unwrap();
        a.dec(edx).unwrap();
        a.jnz(outer).unwrap();
    });
    assert_eq!(cpu.state().gpr[8], 20 * 0x11 + 20 * 0x1000);
}

#[test]
fn jump_into_unmapped_memory_is_a_triple_fault_without_idt() {
    for tier in [Tier::Interpreter, Tier::Tiered] {
        let mut cpu = machine(tier, &|a| {
            a.mov(rax, 0x1_0000_0000_0u64).unwrap();
            a.jmp(rax).unwrap();
        });
        match cpu.run(&mut EmptyBus, 1000) {
            RunExit::TripleFault { .. } => {}
            other => panic!("{tier:?}: expected a triple fault, got {other:?}"),
        }
    }
}
