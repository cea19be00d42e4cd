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
            a.mov(rax, 0x0010_0000_0000_u64).unwrap();
            a.jmp(rax).unwrap();
        });
        match cpu.run(&mut EmptyBus, 1000) {
            RunExit::TripleFault { .. } => {}
            other => panic!("{tier:?}: expected a triple fault, got {other:?}"),
        }
    }
}

/// Writes a 64-bit interrupt gate for `vector` pointing at `handler` into an IDT at
/// `idt` and loads IDTR.
fn install_gate(cpu: &mut Cpu, idt: u64, vector: u8, handler: u64) {
    let lo = (handler & 0xffff)
        | (boot::CODE64_SELECTOR << 16)
        | (0x8e << 40)
        | ((handler >> 16) & 0xffff) << 48;
    let hi = handler >> 32;
    let ram = cpu.ram_mut();
    assert!(ram.write_u64(idt + vector as u64 * 16, lo));
    assert!(ram.write_u64(idt + vector as u64 * 16 + 8, hi));
    cpu.state_mut().idtr = reprise_jit::state::DescTable {
        base: idt,
        limit: 256 * 16 - 1,
        _pad: 0,
    };
}

#[test]
fn undefined_opcode_is_delivered_through_the_idt() {
    let handler = CODE + 0x800;
    for tier in [Tier::Interpreter, Tier::Tiered] {
        let mut cpu = machine(tier, &|a| {
            a.mov(rbx, 7u64).unwrap();
            a.ud2().unwrap();
        });
        // Handler: r15 = faulting RIP from the frame, then halt.
        let mut h = CodeAssembler::new(64).unwrap();
        h.mov(r15, qword_ptr(rsp)).unwrap();
        h.mov(r14, qword_ptr(rsp + 8)).unwrap();
        h.hlt().unwrap();
        let code = h.assemble(handler).unwrap();
        assert!(cpu.ram_mut().write_at(handler, &code));
        install_gate(&mut cpu, 0x9000, 6, handler);
        let r = cpu.run(&mut EmptyBus, 1000);
        assert_eq!(
            r,
            RunExit::Halted {
                interrupts_enabled: false
            },
            "{tier:?}"
        );
        let st = cpu.state();
        assert_eq!(st.gpr[3], 7);
        // ud2 sits after the 10-byte mov rbx, imm64.
        assert_eq!(
            st.gpr[15],
            CODE + 10,
            "{tier:?}: pushed RIP is the faulting one"
        );
        assert_eq!(st.gpr[14], boot::CODE64_SELECTOR, "{tier:?}: pushed CS");
        assert_eq!(st.gpr[4], 0x8_0000 - 40, "{tier:?}: five-slot frame");
    }
}

#[test]
fn tiny_code_cache_flushes_and_stays_correct() {
    let build = |a: &mut CodeAssembler| {
        // Many distinct hot blocks: 40 loops one after another.
        a.xor(rax, rax).unwrap();
        for k in 0..40u32 {
            let mut top = a.create_label();
            a.mov(ecx, 50u32).unwrap();
            a.set_label(&mut top).unwrap();
            a.add(rax, k as i32 + 1).unwrap();
            a.dec(ecx).unwrap();
            a.jnz(top).unwrap();
        }
    };
    let mut a = CodeAssembler::new(64).unwrap();
    build(&mut a);
    a.hlt().unwrap();
    let bytes = a.assemble(CODE).unwrap();
    let mut ram = GuestRam::new(16).unwrap();
    assert!(ram.write_at(CODE, &bytes));
    let mut st = reprise_jit::CpuState::default();
    boot::enter_long_mode(&mut ram, &mut st, CODE);
    let cfg = CpuConfig {
        tier: Tier::Tiered,
        hot_threshold: 2,
        code_cache_bytes: 2048,
        background_compile: false,
    };
    let mut cpu = Cpu::new(ram, cfg).unwrap();
    *cpu.state_mut() = st;
    let flushes_before = cpu.stats().cache_flushes;
    assert_eq!(
        cpu.run(&mut EmptyBus, 1_000_000),
        RunExit::Halted {
            interrupts_enabled: false
        }
    );
    assert_eq!(cpu.state().gpr[0], 50 * (1..=40u64).sum::<u64>());
    assert!(
        cpu.stats().cache_flushes > flushes_before,
        "{:?}",
        cpu.stats()
    );
    assert!(cpu.stats().blocks_compiled >= 40, "{:?}", cpu.stats());
}

#[test]
fn background_compilation_gives_the_same_results() {
    let build = |a: &mut CodeAssembler| {
        let mut top = a.create_label();
        a.xor(rax, rax).unwrap();
        a.mov(rcx, 300_000u64).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(rax, rcx).unwrap();
        a.xor(rax, 0x5a5a).unwrap();
        a.dec(rcx).unwrap();
        a.jnz(top).unwrap();
    };
    let reference = run(Tier::Interpreter, &build);
    let mut cpu = machine(Tier::Tiered, &build);
    let mut bg = cpu.config().clone();
    bg.background_compile = true;
    let mut cpu2 = Cpu::new(GuestRam::new(16).unwrap(), bg).unwrap();
    // Same guest in a CPU that compiles on the background thread.
    let ram = cpu.ram().as_slice().to_vec();
    assert!(cpu2.ram_mut().write_at(0, &ram));
    *cpu2.state_mut() = cpu.state().clone();
    assert_eq!(
        cpu2.run(&mut EmptyBus, 10_000_000),
        RunExit::Halted {
            interrupts_enabled: false
        }
    );
    assert_eq!(cpu2.state(), reference.state());
    assert_eq!(cpu2.digest(), reference.digest());
    assert!(cpu2.stats().blocks_compiled > 0, "{:?}", cpu2.stats());
    let _ = &mut cpu;
}

/// A loop of several blocks (an if/else inside): the Cranelift tier compiles it as one
/// region whose internal jumps re-check the budget.
fn branchy_loop(a: &mut CodeAssembler) {
    let mut top = a.create_label();
    let mut even = a.create_label();
    let mut next = a.create_label();
    a.xor(rax, rax).unwrap();
    a.mov(rcx, 300u64).unwrap();
    a.set_label(&mut top).unwrap();
    a.test(rcx, 1i32).unwrap();
    a.jz(even).unwrap();
    a.add(rax, rcx).unwrap();
    a.jmp(next).unwrap();
    a.set_label(&mut even).unwrap();
    a.sub(rax, 1i32).unwrap();
    a.set_label(&mut next).unwrap();
    a.dec(rcx).unwrap();
    a.jnz(top).unwrap();
}

#[test]
fn icount_limit_is_exact_inside_a_compiled_region() {
    let full = run(Tier::Interpreter, &branchy_loop);
    let total = full.state().icount;
    for limit in [3u64, 40, 41, 42, 777, 1000, total - 2] {
        let mut reference = machine(Tier::Interpreter, &branchy_loop);
        assert_eq!(reference.run(&mut EmptyBus, limit), RunExit::IcountLimit);
        let mut cpu = machine(Tier::Tiered, &branchy_loop);
        assert_eq!(cpu.run(&mut EmptyBus, limit), RunExit::IcountLimit);
        assert_eq!(cpu.state(), reference.state(), "limit {limit}");
        assert_eq!(
            cpu.run(&mut EmptyBus, 10_000_000),
            RunExit::Halted {
                interrupts_enabled: false
            }
        );
        assert_eq!(cpu.state(), full.state(), "limit {limit}, resumed");
        assert!(cpu.stats().blocks_compiled > 0);
    }
}
