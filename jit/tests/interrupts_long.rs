//! Long mode: delivery with privilege change and IST, IRETQ to ring 3 and back, the
//! gate DPL check for software interrupts, exception vectors with their error codes and
//! RIPs, page faults (CR2, error code bits), and #DF / triple-fault escalation.

mod interrupts_util;

use iced_x86::code_asm::*;
use interrupts_util::*;
use reprise_jit::exception::vec;
use reprise_jit::state::{fl, seg};
use reprise_jit::{Cpu, RunExit, Tier};

type Body = fn(&mut CodeAssembler);

/// Kernel code that IRETQs to ring 3 at `USER_CODE` (IF set, user stack).
fn kernel_to_user(a: &mut CodeAssembler) {
    a.push(UDATA as i32).unwrap();
    a.push(USTACK as i32).unwrap();
    a.push(0x202).unwrap();
    a.push(UCODE64 as i32).unwrap();
    a.push(USER_CODE as i32).unwrap();
    a.iretq().unwrap();
}

fn run_halt(cpu: &mut Cpu) {
    let r = cpu.run(&mut TestBus::default(), 100_000);
    assert!(matches!(r, RunExit::Halted { .. }), "{r:?}");
}

#[test]
fn int_from_ring3_switches_to_rsp0_and_iretq_returns() {
    let user = |a: &mut CodeAssembler| {
        a.mov(rbx, 0x1234u64).unwrap();
        a.int(0x80).unwrap();
        a.mov(rdx, rsp).unwrap();
        a.int(0x81).unwrap();
    };
    let ua = insn_addrs(64, USER_CODE, user);
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, kernel_to_user);
        place(&mut cpu, 64, USER_CODE, user);
        // 0x80: DPL 3; copies the frame and RSP into registers, returns.
        let h = handler_addr(0x80);
        place(&mut cpu, 64, h, |a| {
            for (k, r) in [r8, r9, r10, r11, r12].into_iter().enumerate() {
                a.mov(r, qword_ptr(rsp + k as i32 * 8)).unwrap();
            }
            a.mov(r13, rsp).unwrap();
            a.iretq().unwrap();
        });
        gate64(&mut cpu, 0x80, h, 3, 0, false);
        // 0x81: DPL 0, so INT 0x81 from ring 3 is #GP(0x81 * 8 + 2).
        gate64(&mut cpu, 0x81, handler_addr(0x30), 0, 0, false);
        recorder64(&mut cpu, vec::GP, 0, 0);
        run_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(st.gpr[8], ua[2], "{tier:?}: pushed RIP is after INT");
        assert_eq!(st.gpr[9], UCODE64 as u64, "pushed CS");
        assert_ne!(st.gpr[10] & fl::IF, 0, "pushed RFLAGS");
        assert_eq!(st.gpr[11], USTACK, "pushed RSP");
        assert_eq!(st.gpr[12], UDATA as u64, "pushed SS");
        assert_eq!(st.gpr[13], KSTACK - 40, "stack from TSS.RSP0");
        assert_eq!(st.gpr[2], USTACK, "{tier:?}: IRETQ restored the user stack");
        assert_eq!(st.gpr[3], 0x1234);
        let s = seen(&cpu);
        assert_eq!(s.frame[0], 0x81 * 8 + 2, "{tier:?}: #GP(vector*8+2)");
        assert_eq!(s.frame[1], ua[3], "the fault is on INT 0x81");
        assert_eq!(s.frame[2], UCODE64 as u64);
        assert_eq!(s.rsp, KSTACK - 48);
        assert_eq!(st.segs[seg::CS].selector, KCODE64 as u64);
        assert_eq!(st.segs[seg::SS].selector, 0, "null SS with RPL 0");
        assert_eq!(
            st.segs[seg::DS].selector,
            0,
            "{tier:?}: IRETQ to ring 3 nulled the DPL-0 DS"
        );
        states.push((st.clone(), s));
    }
    assert_eq!(states[0], states[1]);
}

#[test]
fn ist_stack_is_used_with_and_without_privilege_change() {
    for from_user in [false, true] {
        for tier in TIERS {
            let mut cpu = cpu(tier);
            long_mode(&mut cpu, CODE);
            if from_user {
                place(&mut cpu, 64, CODE, kernel_to_user);
                place(&mut cpu, 64, USER_CODE, |a| {
                    a.int(0x82).unwrap();
                });
            } else {
                place(&mut cpu, 64, CODE, |a| {
                    a.int(0x82).unwrap();
                });
            }
            recorder64(&mut cpu, 0x82, 3, 1);
            run_halt(&mut cpu);
            let s = seen(&cpu);
            assert_eq!(s.rsp, IST1 - 40, "{tier:?} user={from_user}");
            let want_ss = if from_user {
                UDATA as u64
            } else {
                KDATA as u64
            };
            assert_eq!(s.frame[4], want_ss);
        }
    }
}

#[test]
fn same_privilege_frame_is_aligned_to_16_bytes() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, |a| {
            a.mov(rsp, KSTACK - 0x1008).unwrap();
            a.int(0x83).unwrap();
        });
        recorder64(&mut cpu, 0x83, 0, 0);
        run_halt(&mut cpu);
        let s = seen(&cpu);
        assert_eq!(s.rsp, KSTACK - 0x1010 - 40, "{tier:?}");
        assert_eq!(s.frame[3], KSTACK - 0x1008, "pushed the unaligned RSP");
    }
}

/// Runs `body` at CPL 0 with recorders for every exception vector; returns what the
/// handler saw and the vector it was.
fn exception_of(tier: Tier, body: impl Fn(&mut CodeAssembler)) -> (u8, Seen, Cpu) {
    let mut cpu = cpu(tier);
    long_mode(&mut cpu, CODE);
    place(&mut cpu, 64, CODE, &body);
    for v in 0..32u8 {
        recorder64(&mut cpu, v, 0, 0);
    }
    run_halt(&mut cpu);
    let rip = cpu.state().rip;
    let v = ((rip - HANDLERS) / 0x100) as u8;
    (v, seen(&cpu), cpu)
}

#[test]
fn exception_vectors_error_codes_and_rips() {
    struct Case {
        name: &'static str,
        body: fn(&mut CodeAssembler),
        vector: u8,
        code: Option<u64>,
        /// Index of the instruction the frame's RIP names.
        rip_insn: usize,
    }
    let cases = [
        Case {
            name: "div by zero",
            body: |a| {
                a.xor(ecx, ecx).unwrap();
                a.div(rcx).unwrap();
            },
            vector: vec::DE,
            code: None,
            rip_insn: 1,
        },
        Case {
            name: "int3",
            body: |a| {
                a.nop().unwrap();
                a.int3().unwrap();
                a.nop().unwrap();
            },
            vector: vec::BP,
            code: None,
            rip_insn: 2,
        },
        Case {
            name: "int1",
            body: |a| {
                a.int1().unwrap();
                a.nop().unwrap();
            },
            vector: vec::DB,
            code: None,
            rip_insn: 1,
        },
        Case {
            name: "ud2",
            body: |a| {
                a.nop().unwrap();
                a.ud2().unwrap();
            },
            vector: vec::UD,
            code: None,
            rip_insn: 1,
        },
        Case {
            name: "non-canonical load",
            body: |a| {
                a.mov(rax, 0x8000_0000_0000_0000u64).unwrap();
                a.mov(rbx, qword_ptr(rax)).unwrap();
            },
            vector: vec::GP,
            code: Some(0),
            rip_insn: 1,
        },
        Case {
            name: "x87 with CR0.TS",
            body: |a| {
                a.mov(rax, cr0).unwrap();
                a.or(rax, 8).unwrap();
                a.mov(cr0, rax).unwrap();
                a.fld1().unwrap();
            },
            vector: vec::NM,
            code: None,
            rip_insn: 3,
        },
        Case {
            name: "unmasked x87 invalid with CR0.NE, reported at the next waiting insn",
            body: |a| {
                a.mov(rax, cr0).unwrap();
                a.or(rax, 0x20).unwrap();
                a.mov(cr0, rax).unwrap();
                a.fninit().unwrap();
                a.push(0x37e).unwrap();
                a.fldcw(word_ptr(rsp)).unwrap();
                a.fld1().unwrap();
                a.fchs().unwrap();
                a.fsqrt().unwrap();
                a.nop().unwrap();
                a.wait().unwrap();
            },
            vector: vec::MF,
            code: None,
            rip_insn: 10,
        },
        Case {
            name: "unmasked SSE invalid with CR4.OSXMMEXCPT",
            body: |a| {
                a.push(0x1f00).unwrap();
                a.ldmxcsr(dword_ptr(rsp)).unwrap();
                a.mov(rax, 0xbf80_0000u64).unwrap();
                a.movq(xmm0, rax).unwrap();
                a.sqrtss(xmm1, xmm0).unwrap();
            },
            vector: vec::XM,
            code: None,
            rip_insn: 4,
        },
        Case {
            name: "int to a gate whose type is not a 64-bit gate",
            body: |a| {
                a.int(0x90).unwrap();
            },
            vector: vec::GP,
            code: Some(0x90 * 8 + 2),
            rip_insn: 0,
        },
        Case {
            name: "int to a not-present gate",
            body: |a| {
                a.int(0x91).unwrap();
            },
            vector: vec::NP,
            code: Some(0x91 * 8 + 2),
            rip_insn: 0,
        },
        Case {
            name: "int past the IDT limit",
            body: |a| {
                a.int(0xff).unwrap();
            },
            vector: vec::GP,
            code: Some(0xff * 8 + 2),
            rip_insn: 0,
        },
    ];
    for c in &cases {
        let addrs = insn_addrs(64, CODE, c.body);
        let mut runs = Vec::new();
        for tier in TIERS {
            let mut cpu = cpu(tier);
            long_mode(&mut cpu, CODE);
            place(&mut cpu, 64, CODE, c.body);
            for v in 0..32u8 {
                recorder64(&mut cpu, v, 0, 0);
            }
            // 0x90: a 32-bit-style interrupt gate (type 6), invalid in long mode.
            gate64(&mut cpu, 0x90, handler_addr(1), 0, 0, false);
            let lo = cpu.ram().read_u64(IDT + 0x90 * 16).unwrap();
            assert!(cpu
                .ram_mut()
                .write_u64(IDT + 0x90 * 16, lo & !(0xf << 40) | 6 << 40));
            gate64_absent(&mut cpu, 0x91);
            cpu.state_mut().idtr.limit = 0xff * 16 - 1;
            run_halt(&mut cpu);
            let v = ((cpu.state().rip - HANDLERS) / 0x100) as u8;
            let s = seen(&cpu);
            assert_eq!(v, c.vector, "{}: {tier:?}", c.name);
            let (rip, code) = match c.code {
                Some(_) => (s.frame[1], Some(s.frame[0])),
                None => (s.frame[0], None),
            };
            assert_eq!(code, c.code, "{}: {tier:?} error code", c.name);
            let want = addrs.get(c.rip_insn).copied().unwrap_or(CODE + 0x1000);
            assert_eq!(rip, want, "{}: {tier:?} pushed RIP", c.name);
            runs.push(s);
        }
        assert_eq!(runs[0], runs[1], "{}", c.name);
    }
}

#[test]
fn page_faults_report_cr2_and_error_code_bits() {
    const UNMAPPED: u64 = 0x1_0000_0000;
    // (user code, expected error code, faulting address)
    let cases: [(Body, u64); 3] = [
        (
            |a| {
                a.mov(rax, UNMAPPED + 0x10).unwrap();
                a.mov(rbx, qword_ptr(rax)).unwrap();
            },
            0x4,
        ),
        (
            |a| {
                a.mov(rax, UNMAPPED + 0x10).unwrap();
                a.mov(qword_ptr(rax), rbx).unwrap();
            },
            0x6,
        ),
        (
            |a| {
                a.mov(rax, UNMAPPED + 0x10).unwrap();
                a.jmp(rax).unwrap();
            },
            0x14,
        ),
    ];
    for (k, (user, code)) in cases.into_iter().enumerate() {
        let ua = insn_addrs(64, USER_CODE, user);
        for tier in TIERS {
            let mut cpu = cpu(tier);
            long_mode(&mut cpu, CODE);
            place(&mut cpu, 64, CODE, kernel_to_user);
            place(&mut cpu, 64, USER_CODE, user);
            recorder64(&mut cpu, vec::PF, 0, 0);
            run_halt(&mut cpu);
            let s = seen(&cpu);
            assert_eq!(s.cr2, UNMAPPED + 0x10, "case {k} {tier:?}: CR2");
            assert_eq!(s.frame[0], code, "case {k} {tier:?}: error code");
            let rip = if k == 2 { UNMAPPED + 0x10 } else { ua[1] };
            assert_eq!(s.frame[1], rip, "case {k} {tier:?}: faulting RIP");
            assert_eq!(s.frame[2], UCODE64 as u64);
            assert_eq!(s.rsp, KSTACK - 48);
        }
    }
}

#[test]
fn fault_while_delivering_a_page_fault_is_a_double_fault() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, |a| {
            a.mov(rax, 0x1_0000_0000u64).unwrap();
            a.mov(rbx, qword_ptr(rax)).unwrap();
        });
        gate64_absent(&mut cpu, vec::PF);
        recorder64(&mut cpu, vec::DF, 0, 1);
        recorder64(&mut cpu, vec::NP, 0, 0);
        run_halt(&mut cpu);
        let v = (cpu.state().rip - HANDLERS) / 0x100;
        assert_eq!(v, vec::DF as u64, "{tier:?}: the #DF handler ran");
        let s = seen(&cpu);
        assert_eq!(s.frame[0], 0, "#DF error code");
        assert_eq!(s.rsp, IST1 - 48, "#DF on its IST stack");
        assert_eq!(s.cr2, 0x1_0000_0000);
    }
}

#[test]
fn fault_while_delivering_a_double_fault_is_a_triple_fault() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, |a| {
            a.mov(rax, 0x1_0000_0000u64).unwrap();
            a.mov(rbx, qword_ptr(rax)).unwrap();
        });
        gate64_absent(&mut cpu, vec::PF);
        gate64_absent(&mut cpu, vec::DF);
        match cpu.run(&mut TestBus::default(), 1000) {
            RunExit::TripleFault {
                original, fault, ..
            } => {
                assert_eq!(original.vector, vec::PF, "{tier:?}");
                assert_eq!(fault.vector, vec::NP);
                assert_eq!(fault.error_code, Some(vec::DF as u32 * 8 + 2 + 1));
            }
            other => panic!("{tier:?}: {other:?}"),
        }
    }
}

#[test]
fn external_interrupt_through_a_missing_gate_sets_ext() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, |a| {
            a.sti().unwrap();
            a.nop().unwrap();
            a.nop().unwrap();
            a.hlt().unwrap();
        });
        gate64_absent(&mut cpu, 0x50);
        recorder64(&mut cpu, vec::NP, 0, 0);
        let mut bus = TestBus {
            line: true,
            vector: 0x50,
            ..Default::default()
        };
        let r = cpu.run(&mut bus, 1000);
        assert!(matches!(r, RunExit::Halted { .. }));
        let s = seen(&cpu);
        assert_eq!(s.frame[0], 0x50 * 8 + 2 + 1, "{tier:?}: IDT bit and EXT");
        assert_eq!(s.frame[1], CODE + 2, "{tier:?}: after sti and its shadow");
    }
}

#[test]
fn iretq_checks_the_return_frame() {
    // Returning to ring 3 with a ring-0 SS is #GP(SS selector); to a non-canonical RIP
    // in 64-bit code is #GP(0).
    let bad_ss = |a: &mut CodeAssembler| {
        a.push(KDATA as i32).unwrap();
        a.push(USTACK as i32).unwrap();
        a.push(0x2).unwrap();
        a.push(UCODE64 as i32).unwrap();
        a.push(USER_CODE as i32).unwrap();
        a.iretq().unwrap();
    };
    let bad_rip = |a: &mut CodeAssembler| {
        a.push(UDATA as i32).unwrap();
        a.push(USTACK as i32).unwrap();
        a.push(0x2).unwrap();
        a.push(UCODE64 as i32).unwrap();
        a.mov(rax, 0x8000_0000_0000_0000u64).unwrap();
        a.push(rax).unwrap();
        a.iretq().unwrap();
    };
    for (body, code) in [
        (bad_ss as fn(&mut CodeAssembler), KDATA as u64),
        (bad_rip, 0),
    ] {
        for tier in TIERS {
            let (v, s, cpu) = exception_of(tier, body);
            assert_eq!(v, vec::GP, "{tier:?}");
            assert_eq!(s.frame[0], code);
            assert_eq!(cpu.state().segs[seg::CS].selector, KCODE64 as u64);
            assert_eq!(s.frame[4], KSTACK - 0x1000 - 40, "IRETQ popped nothing");
        }
    }
}

/// RFLAGS.TF: a #DB trap after every instruction that starts with TF set — including
/// the POPF that clears it, not the one that sets it — with DR6.BS, the pushed RIP at
/// the next instruction, and the handler entered with TF clear.
#[test]
fn single_step_traps_after_each_instruction() {
    let body = |a: &mut CodeAssembler| {
        a.xor(r15, r15).unwrap();
        a.pushfq().unwrap();
        a.or(qword_ptr(rsp), 0x100).unwrap();
        a.popfq().unwrap(); // sets TF: no trap after it
        for _ in 0..5 {
            a.nop().unwrap(); // 5 traps
        }
        a.pushfq().unwrap(); // trap
        a.and(qword_ptr(rsp), !0x100i32).unwrap(); // trap
        a.popfq().unwrap(); // clears TF, still traps
        a.nop().unwrap(); // no trap
        a.hlt().unwrap();
    };
    let addrs = insn_addrs(64, CODE, body);
    for tier in TIERS {
        let mut cpu = cpu(tier);
        long_mode(&mut cpu, CODE);
        place(&mut cpu, 64, CODE, body);
        // #DB: count, remember the last pushed RIP and the flags inside, return.
        let h = handler_addr(vec::DB);
        place(&mut cpu, 64, h, |a| {
            a.inc(r15).unwrap();
            a.mov(r14, qword_ptr(rsp)).unwrap();
            a.pushfq().unwrap();
            a.pop(r13).unwrap();
            a.mov(rax, dr6).unwrap();
            a.mov(r12, rax).unwrap();
            a.iretq().unwrap();
        });
        gate64(&mut cpu, vec::DB, h, 0, 0, false);
        run_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(st.gpr[15], 8, "{tier:?}: one trap per stepped instruction");
        assert_eq!(
            st.gpr[14], addrs[12],
            "{tier:?}: the last trap points past POPF"
        );
        assert_eq!(st.gpr[13] & fl::TF, 0, "the handler runs without TF");
        assert_ne!(st.gpr[12] & (1 << 14), 0, "DR6.BS");
        assert_eq!(st.rflags() & fl::TF, 0);
    }
}
