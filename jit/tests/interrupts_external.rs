//! External interrupts and NMIs: taken at exact instruction boundaries in both tiers,
//! never while IF = 0 or inside an interrupt shadow, waking HLT, NMI blocking until
//! IRET, promptly after device accesses, and MMIO seeing exact instruction counts from
//! compiled code.

mod interrupts_util;

use iced_x86::code_asm::*;
use interrupts_util::*;
use reprise_jit::state::fl;
use reprise_jit::{Cpu, RunExit, Tier};

const VEC: u8 = 0x40;

/// A handler that records the interrupted RIP in r9, counts in r10, copies rbx to r11.
fn counting_handler(cpu: &mut Cpu, v: u8) {
    let h = HANDLERS + v as u64 * 0x100;
    place(cpu, 64, h, |a| {
        a.mov(r9, qword_ptr(rsp)).unwrap();
        a.inc(r10).unwrap();
        a.mov(r11, rbx).unwrap();
        a.iretq().unwrap();
    });
    gate64(cpu, v, h, 0, 0, false);
}

fn sum_loop(a: &mut CodeAssembler) {
    let mut top = a.create_label();
    a.mov(ecx, 2000u32).unwrap();
    a.set_label(&mut top).unwrap();
    a.add(rax, rcx).unwrap();
    a.inc(rbx).unwrap();
    a.dec(rcx).unwrap();
    a.jnz(top).unwrap();
    a.hlt().unwrap();
}

fn loop_machine(tier: Tier) -> Cpu {
    let mut cpu = cpu(tier);
    long_mode(&mut cpu, CODE);
    place(&mut cpu, 64, CODE, sum_loop);
    counting_handler(&mut cpu, VEC);
    cpu.state_mut().set_rflags(fl::FIXED1 | fl::IF);
    cpu
}

#[test]
fn interrupt_is_taken_exactly_at_the_boundary_the_line_rose() {
    for t in [1u64, 2, 5, 999, 1002, 4003, 8000] {
        let mut results = Vec::new();
        for tier in TIERS {
            let mut cpu = loop_machine(tier);
            let mut bus = TestBus {
                vector: VEC,
                ..Default::default()
            };
            assert_eq!(cpu.run(&mut bus, t), RunExit::IcountLimit);
            assert_eq!(cpu.state().icount, t);
            let rip_at_t = cpu.state().rip;
            let rbx_at_t = cpu.state().gpr[3];
            if tier == Tier::Tiered && t > 100 {
                assert!(cpu.stats().jit_entries > 0, "t={t}: ran compiled code");
            }
            bus.line = true;
            let r = cpu.run(&mut bus, 1_000_000);
            assert!(matches!(r, RunExit::Halted { .. }), "{tier:?} t={t}: {r:?}");
            let st = cpu.state();
            assert_eq!(bus.acks, vec![t], "{tier:?}: acknowledged at the boundary");
            assert_eq!(st.gpr[9], rip_at_t, "{tier:?} t={t}: interrupted RIP");
            assert_eq!(st.gpr[11], rbx_at_t, "{tier:?} t={t}: nothing ran before");
            assert_eq!(st.gpr[10], 1);
            assert_eq!(
                st.gpr[0],
                2000 * 2001 / 2,
                "{tier:?}: the loop resumed intact"
            );
            assert_eq!(st.icount, 1 + 4 * 2000 + 1 + 4);
            results.push(cpu.state().clone());
        }
        assert_eq!(results[0], results[1], "t={t}: tiers agree");
    }
}

#[test]
fn pending_interrupt_is_taken_before_anything_runs() {
    for tier in TIERS {
        let mut cpu = loop_machine(tier);
        let mut bus = TestBus {
            vector: VEC,
            line: true,
            ..Default::default()
        };
        // A zero-instruction run still delivers: the handler starts at the limit.
        assert_eq!(cpu.run(&mut bus, 0), RunExit::IcountLimit);
        assert_eq!(bus.acks, vec![0]);
        assert_eq!(cpu.state().rip, HANDLERS + VEC as u64 * 0x100, "{tier:?}");
    }
}

#[test]
fn no_interrupt_while_if_is_clear() {
    for tier in TIERS {
        let mut cpu = loop_machine(tier);
        cpu.state_mut().set_rflags(fl::FIXED1);
        let mut bus = TestBus {
            vector: VEC,
            line: true,
            ..Default::default()
        };
        let r = cpu.run(&mut bus, 1_000_000);
        assert_eq!(
            r,
            RunExit::Halted {
                interrupts_enabled: false
            }
        );
        assert!(bus.acks.is_empty(), "{tier:?}");
        assert_eq!(cpu.state().gpr[10], 0);
        // Still pending, still not taken while halted with IF = 0.
        assert_eq!(
            cpu.run(&mut bus, 1_000_000),
            RunExit::Halted {
                interrupts_enabled: false
            }
        );
        assert!(bus.acks.is_empty());
    }
}

/// Per iteration: cli; add; add; sti; inc rbx; dec rcx; jnz — 7 instructions after
/// a 1-instruction prologue.
fn sti_loop(a: &mut CodeAssembler) {
    let mut top = a.create_label();
    a.mov(ecx, 300u32).unwrap();
    a.set_label(&mut top).unwrap();
    a.cli().unwrap();
    a.add(rax, 1).unwrap();
    a.add(rax, 2).unwrap();
    a.sti().unwrap();
    a.inc(rbx).unwrap();
    a.dec(rcx).unwrap();
    a.jnz(top).unwrap();
    a.hlt().unwrap();
}

#[test]
fn interrupt_waits_for_sti_and_its_shadow() {
    let addrs = insn_addrs(64, CODE, sti_loop);
    let dec_addr = addrs[6];
    for k in [0u64, 1, 50, 200] {
        let base = 1 + 7 * k;
        // Raised after cli (IF = 0), after the first add, right after sti (in the
        // shadow): all are taken after `inc rbx`, at boundary base + 5.
        for raise in [base + 1, base + 2, base + 4] {
            let mut states = Vec::new();
            for tier in TIERS {
                let mut cpu = cpu(tier);
                long_mode(&mut cpu, CODE);
                place(&mut cpu, 64, CODE, sti_loop);
                counting_handler(&mut cpu, VEC);
                let mut bus = TestBus {
                    vector: VEC,
                    ..Default::default()
                };
                assert_eq!(cpu.run(&mut bus, raise), RunExit::IcountLimit);
                if tier == Tier::Tiered && k >= 50 {
                    assert!(cpu.stats().blocks_compiled > 0);
                }
                bus.line = true;
                let r = cpu.run(&mut bus, 1_000_000);
                assert!(matches!(r, RunExit::Halted { .. }), "{r:?}");
                let st = cpu.state();
                assert_eq!(bus.acks, vec![base + 5], "{tier:?} k={k} raise={raise}");
                assert_eq!(st.gpr[9], dec_addr, "{tier:?}: after inc rbx");
                assert_eq!(st.gpr[11], k + 1, "{tier:?}: inc rbx retired first");
                assert_eq!(st.gpr[3], 300);
                states.push(st.clone());
            }
            assert_eq!(states[0], states[1]);
        }
    }
}

#[test]
fn shadow_survives_a_run_boundary() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, sti_loop);
        counting_handler(&mut cpu, VEC);
        let mut bus = TestBus {
            vector: VEC,
            ..Default::default()
        };
        // Stop right after the sti of iteration 3 (in its shadow).
        let after_sti = 1 + 7 * 3 + 4;
        assert_eq!(cpu.run(&mut bus, after_sti), RunExit::IcountLimit);
        bus.line = true;
        // Not inside the shadow: a zero-length run delivers nothing.
        assert_eq!(cpu.run(&mut bus, after_sti), RunExit::IcountLimit);
        assert!(bus.acks.is_empty(), "{tier:?}: not inside the shadow");
        // One more instruction (inc rbx) runs, then the interrupt is delivered.
        assert_eq!(cpu.run(&mut bus, after_sti + 1), RunExit::IcountLimit);
        assert_eq!(bus.acks, vec![after_sti + 1], "{tier:?}");
        assert_eq!(
            cpu.state().gpr[3],
            4,
            "{tier:?}: inc rbx of iteration 3 retired"
        );
        assert_eq!(cpu.state().rip, HANDLERS + VEC as u64 * 0x100);
    }
}

#[test]
fn hlt_waits_and_an_interrupt_wakes_it() {
    let addrs = insn_addrs(64, CODE, |a| {
        a.sti().unwrap();
        a.hlt().unwrap();
        a.mov(rbx, 5u64).unwrap();
        a.hlt().unwrap();
    });
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, |a| {
            a.sti().unwrap();
            a.hlt().unwrap();
            a.mov(rbx, 5u64).unwrap();
            a.hlt().unwrap();
        });
        counting_handler(&mut cpu, VEC);
        let mut bus = TestBus {
            vector: VEC,
            ..Default::default()
        };
        let halted = RunExit::Halted {
            interrupts_enabled: true,
        };
        assert_eq!(cpu.run(&mut bus, 1000), halted);
        assert_eq!(cpu.state().icount, 2);
        assert_eq!(cpu.state().halted, 1);
        assert_eq!(cpu.state().rip, addrs[2], "RIP is past HLT");
        // Nothing pending: stays halted without retiring anything.
        assert_eq!(cpu.run(&mut bus, 1000), halted);
        assert_eq!(cpu.state().icount, 2);
        bus.line = true;
        assert_eq!(cpu.run(&mut bus, 1000), halted);
        let st = cpu.state();
        assert_eq!(bus.acks, vec![2]);
        assert_eq!(
            st.gpr[9], addrs[2],
            "{tier:?}: the handler returns past HLT"
        );
        assert_eq!(st.gpr[10], 1);
        assert_eq!(st.gpr[3], 5);
        assert_eq!(st.icount, 2 + 4 + 2);
    }
}

#[test]
fn sti_hlt_with_a_pending_interrupt_wakes_at_once() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, |a| {
            a.sti().unwrap();
            a.hlt().unwrap();
            a.mov(rbx, 5u64).unwrap();
            a.hlt().unwrap();
        });
        counting_handler(&mut cpu, VEC);
        let mut bus = TestBus {
            vector: VEC,
            line: true,
            ..Default::default()
        };
        // IF = 0 at first: the line waits; sti's shadow covers hlt; then it wakes it.
        let r = cpu.run(&mut bus, 1000);
        assert_eq!(
            r,
            RunExit::Halted {
                interrupts_enabled: true
            }
        );
        assert_eq!(bus.acks, vec![2], "{tier:?}");
        assert_eq!(cpu.state().gpr[3], 5);
    }
}

#[test]
fn nmi_wakes_hlt_with_if_clear_and_is_blocked_until_iret() {
    let main = |a: &mut CodeAssembler| {
        let mut top = a.create_label();
        a.cli().unwrap();
        a.out(NMI_PORT as u32, al).unwrap();
        a.mov(ecx, 100u32).unwrap();
        a.set_label(&mut top).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
        a.inc(r15).unwrap();
        a.hlt().unwrap();
    };
    let addrs = insn_addrs(64, CODE, main);
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, main);
        let h = HANDLERS + 0x200;
        // Count, raise another NMI from inside (it must wait for IRET), record
        // whether anything nested, and the return RIP.
        place(&mut cpu, 64, h, |a| {
            a.inc(r12).unwrap();
            a.mov(r14, r12).unwrap();
            a.out(NMI_PORT as u32, al).unwrap();
            a.nop().unwrap();
            a.mov(r13, r12).unwrap();
            a.sub(r13, r14).unwrap();
            a.add(r11, r13).unwrap();
            a.mov(rax, qword_ptr(rsp)).unwrap();
            a.push(rax).unwrap();
            a.pop(qword_ptr(r12 * 8 + 0x4_0000)).unwrap();
            a.iretq().unwrap();
        });
        gate64(&mut cpu, 2, h, 0, 0, false);
        let mut bus = TestBus {
            nmi_budget: 3,
            ..Default::default()
        };
        let r = cpu.run(&mut bus, 100_000);
        assert_eq!(
            r,
            RunExit::Halted {
                interrupts_enabled: false
            }
        );
        let st = cpu.state();
        // NMI 1 (from main's out) raises NMI 2 (blocked until IRET), which raises NMI 3.
        assert_eq!(st.gpr[12], 3, "{tier:?}: three NMIs handled");
        assert_eq!(st.gpr[11], 0, "{tier:?}: none nested");
        for n in 1..=3u64 {
            let ret = cpu.ram().read_u64(0x4_0000 + n * 8).unwrap();
            assert_eq!(ret, addrs[2], "{tier:?}: NMI {n} returned after main's out");
        }
        // An NMI wakes HLT even with IF = 0.
        bus.nmi = true;
        let r = cpu.run(&mut bus, 100_000);
        assert!(matches!(r, RunExit::Halted { .. }));
        assert_eq!(cpu.state().gpr[12], 4);
        assert_eq!(
            cpu.state().gpr[15],
            1,
            "{tier:?}: resumed after the first HLT"
        );
    }
}

#[test]
fn port_write_that_raises_intr_is_followed_by_the_interrupt() {
    let main = |a: &mut CodeAssembler| {
        let mut top = a.create_label();
        a.sti().unwrap();
        a.mov(ecx, 200u32).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(eax, ecx).unwrap();
        a.out(RAISE_PORT as u32, al).unwrap();
        a.inc(rbx).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    };
    let addrs = insn_addrs(64, CODE, main);
    let inc_addr = addrs[4];
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, main);
        counting_handler(&mut cpu, VEC);
        let mut bus = TestBus {
            vector: VEC,
            raise_on_out_value: Some(40),
            ..Default::default()
        };
        let r = cpu.run(&mut bus, 100_000);
        assert!(matches!(r, RunExit::Halted { .. }));
        let out_at = bus.outs.iter().find(|o| o.1 == 40).unwrap().2;
        assert_eq!(out_at, 2 + 5 * 160 + 1, "{tier:?}: exact count at the OUT");
        assert_eq!(bus.acks, vec![out_at + 1], "{tier:?}: right after the OUT");
        assert_eq!(cpu.state().gpr[9], inc_addr);
        assert_eq!(cpu.state().gpr[11], 160, "{tier:?}");
        if tier == Tier::Tiered {
            assert!(cpu.stats().blocks_compiled > 0);
        }
    }
}

#[test]
fn mmio_write_that_raises_intr_is_followed_by_the_interrupt() {
    let main = |a: &mut CodeAssembler| {
        let mut top = a.create_label();
        a.sti().unwrap();
        a.mov(ecx, 200u32).unwrap();
        a.mov(rsi, MMIO).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(dword_ptr(rsi), ecx).unwrap();
        a.inc(rbx).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    };
    let addrs = insn_addrs(64, CODE, main);
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, main);
        counting_handler(&mut cpu, VEC);
        let mut bus = TestBus {
            vector: VEC,
            raise_on_mmio_value: Some(33),
            ..Default::default()
        };
        let r = cpu.run(&mut bus, 100_000);
        assert!(matches!(r, RunExit::Halted { .. }));
        let w = bus.mmio_writes.iter().find(|w| w.1 == 33).unwrap();
        // Writes happen at 3 + 4k for k = 200 - value.
        assert_eq!(
            w.2,
            3 + 4 * (200 - 33),
            "{tier:?}: exact count at the write"
        );
        assert_eq!(bus.acks, vec![w.2 + 1], "{tier:?}: right after the write");
        assert_eq!(cpu.state().gpr[9], addrs[4]);
        assert_eq!(cpu.state().gpr[11], 200 - 33);
        if tier == Tier::Tiered {
            assert!(cpu.stats().jit_entries > 0);
        }
    }
}

#[test]
fn mmio_reads_see_exact_instruction_counts_in_compiled_code() {
    let main = |a: &mut CodeAssembler| {
        let mut top = a.create_label();
        a.mov(ecx, 300u32).unwrap();
        a.mov(rsi, MMIO + 0x390).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(rdx, 1).unwrap();
        a.mov(eax, dword_ptr(rsi)).unwrap();
        a.add(rbx, rax).unwrap();
        a.mov(rax, qword_ptr(rsi + 8)).unwrap();
        a.add(rbx, rax).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    };
    let mut logs = Vec::new();
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, main);
        let mut bus = TestBus::default();
        let r = cpu.run(&mut bus, 100_000);
        assert!(matches!(r, RunExit::Halted { .. }));
        assert_eq!(bus.mmio_reads.len(), 600);
        for (k, &(addr, icount)) in bus.mmio_reads.iter().enumerate() {
            let iter = k as u64 / 2;
            let (want_addr, off) = if k % 2 == 0 {
                (MMIO + 0x390, 1)
            } else {
                (MMIO + 0x398, 3)
            };
            assert_eq!(addr, want_addr);
            assert_eq!(icount, 2 + 7 * iter + off, "{tier:?}: read {k}");
        }
        if tier == Tier::Tiered {
            assert!(cpu.stats().blocks_compiled > 0);
            assert!(cpu.stats().jit_entries > 100, "{:?}", cpu.stats());
        }
        logs.push((bus.mmio_reads, cpu.state().clone()));
    }
    assert_eq!(logs[0], logs[1]);
}

/// A compiled block that leaves through an unlinked direct jump records its link slot
/// for the dispatcher; an interrupt delivered at that boundary must not make the
/// dispatcher link that jump to the handler.
#[test]
fn interrupt_after_an_unlinked_jump_does_not_link_it_to_the_handler() {
    // A: inc rbx; jmp B. B starts with STI (interpreted only, so A's jump stays
    // unlinked) and loops back through an indirect jump (no region).
    let main = |a: &mut CodeAssembler| {
        let mut block_a = a.create_label();
        let mut block_b = a.create_label();
        let mut done = a.create_label();
        a.mov(ecx, 400u32).unwrap();
        a.lea(rax, ptr(block_a)).unwrap();
        a.set_label(&mut block_a).unwrap();
        a.inc(rbx).unwrap();
        a.jmp(block_b).unwrap();
        a.nop().unwrap();
        a.set_label(&mut block_b).unwrap();
        a.sti().unwrap();
        a.dec(rcx).unwrap();
        a.jz(done).unwrap();
        a.jmp(rax).unwrap();
        a.set_label(&mut done).unwrap();
        a.hlt().unwrap();
    };
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, main);
        counting_handler(&mut cpu, VEC);
        cpu.state_mut().set_rflags(fl::FIXED1 | fl::IF);
        let mut bus = TestBus {
            vector: VEC,
            ..Default::default()
        };
        // Iteration k: A at 2 + 6k (2 insns), then B (4 insns).
        for k in (10..300).step_by(10) {
            let after_a = 2 + 6 * k + 2;
            assert_eq!(cpu.run(&mut bus, after_a), RunExit::IcountLimit);
            bus.line = true;
        }
        let r = cpu.run(&mut bus, 100_000);
        assert!(matches!(r, RunExit::Halted { .. }), "{tier:?}: {r:?}");
        let st = cpu.state();
        assert_eq!(st.gpr[3], 400, "{tier:?}");
        assert_eq!(st.gpr[10], 29, "{tier:?}: one handler run per interrupt");
        states.push(st.clone());
    }
    assert_eq!(states[0], states[1]);
}
