//! Real mode and 32-bit protected mode: the interrupt vector table, 32- and 16-bit
//! gates, stack switches from the 32-bit TSS, IRET/IRETD across privilege levels with
//! their RFLAGS rules, the selector error codes (IDT and EXT bits), task gates refused,
//! and escalation to triple fault.

mod interrupts_util;

use iced_x86::code_asm::*;
use interrupts_util::*;
use reprise_jit::exception::vec;
use reprise_jit::state::{fl, seg};
use reprise_jit::{Cpu, RunExit};

fn run_halt(cpu: &mut Cpu, bus: &mut TestBus) {
    let r = cpu.run(bus, 100_000);
    assert!(matches!(r, RunExit::Halted { .. }), "{r:?}");
}

const RCODE: u64 = 0x1000;
const RHANDLER: u64 = 0x2000;

#[test]
fn real_mode_int_and_iret() {
    let main = |a: &mut CodeAssembler| {
        a.sti().unwrap();
        a.mov(ax, 0x1111).unwrap();
        a.int(0x21).unwrap();
        a.mov(bx, 7).unwrap();
        a.hlt().unwrap();
    };
    let addrs = insn_addrs(16, RCODE, main);
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = cpu(tier);
        real_mode(&mut cpu, RCODE);
        place(&mut cpu, 16, RCODE, main);
        place(&mut cpu, 16, RHANDLER, |a| {
            a.mov(bp, sp).unwrap();
            a.mov(cx, sp).unwrap();
            a.mov(dx, word_ptr(bp)).unwrap();
            a.mov(di, word_ptr(bp + 2)).unwrap();
            a.mov(si, word_ptr(bp + 4)).unwrap();
            a.pushf().unwrap();
            a.pop(ax).unwrap();
            a.iret().unwrap();
        });
        ivt(&mut cpu, 0x21, 0, RHANDLER as u16);
        run_halt(&mut cpu, &mut TestBus::default());
        let st = cpu.state();
        let r = |n: usize| st.gpr[n] & 0xffff;
        assert_eq!(r(2), addrs[3], "{tier:?}: pushed IP is after INT");
        assert_eq!(r(7), 0, "pushed CS");
        assert_ne!(r(6) & fl::IF, 0, "pushed FLAGS keep IF");
        assert_eq!(r(0) & fl::IF, 0, "IF is clear in the handler");
        assert_eq!(r(1), 0x7000 - 6, "three words pushed");
        assert_eq!(r(4), 0x7000, "{tier:?}: IRET popped them");
        assert_eq!(r(3), 7);
        assert_ne!(st.rflags() & fl::IF, 0, "IRET restored IF");
        states.push(st.clone());
    }
    assert_eq!(states[0], states[1]);
}

#[test]
fn real_mode_divide_error_and_external_interrupt() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        real_mode(&mut cpu, RCODE);
        place(&mut cpu, 16, RCODE, |a| {
            a.xor(cx, cx).unwrap();
            a.div(cx).unwrap();
        });
        place(&mut cpu, 16, RHANDLER, |a| {
            a.mov(bp, sp).unwrap();
            a.mov(dx, word_ptr(bp)).unwrap();
            a.hlt().unwrap();
        });
        ivt(&mut cpu, vec::DE, 0, RHANDLER as u16);
        run_halt(&mut cpu, &mut TestBus::default());
        assert_eq!(
            cpu.state().gpr[2] & 0xffff,
            RCODE + 2,
            "{tier:?}: #DE names the div"
        );
        assert_eq!(
            cpu.state().gpr[4] & 0xffff,
            0x7000 - 6,
            "no error code in real mode"
        );

        // An external interrupt, with IF set.
        let mut cpu = interrupts_util::cpu(tier);
        real_mode(&mut cpu, RCODE);
        place(&mut cpu, 16, RCODE, |a| {
            let mut top = a.create_label();
            a.sti().unwrap();
            a.mov(cx, 100).unwrap();
            a.set_label(&mut top).unwrap();
            a.dec(cx).unwrap();
            a.jnz(top).unwrap();
            a.hlt().unwrap();
        });
        place(&mut cpu, 16, RHANDLER, |a| {
            a.mov(bp, sp).unwrap();
            a.mov(dx, word_ptr(bp)).unwrap();
            a.mov(bx, cx).unwrap();
            a.iret().unwrap();
        });
        ivt(&mut cpu, 0x08, 0, RHANDLER as u16);
        let mut bus = TestBus {
            vector: 0x08,
            ..Default::default()
        };
        assert_eq!(cpu.run(&mut bus, 51), RunExit::IcountLimit);
        let ip = cpu.state().rip;
        let cx_now = cpu.state().gpr[1] & 0xffff;
        bus.line = true;
        run_halt(&mut cpu, &mut bus);
        assert_eq!(bus.acks, vec![51]);
        assert_eq!(cpu.state().gpr[2] & 0xffff, ip, "{tier:?}");
        assert_eq!(cpu.state().gpr[3] & 0xffff, cx_now);
        assert_eq!(cpu.state().gpr[1] & 0xffff, 0);
    }
}

#[test]
fn real_mode_with_an_empty_ivt_triple_faults() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        real_mode(&mut cpu, RCODE);
        place(&mut cpu, 16, RCODE, |a| {
            a.ud2().unwrap();
        });
        cpu.state_mut().idtr.limit = 0;
        match cpu.run(&mut TestBus::default(), 1000) {
            RunExit::TripleFault { original, .. } => assert_eq!(original.vector, vec::UD),
            other => panic!("{tier:?}: {other:?}"),
        }
    }
}

/// A 32-bit ring-0 handler that records ESP and eight dwords at ESP to [`REC`], then
/// halts (or IRETDs when `ret`).
fn recorder32(cpu: &mut Cpu, v: u8, dpl: u8, ret: bool) -> u64 {
    let h = handler_addr(v);
    place(cpu, 32, h, |a| {
        a.push(eax).unwrap();
        a.push(edi).unwrap();
        a.mov(edi, REC as u32).unwrap();
        a.lea(eax, dword_ptr(esp + 8)).unwrap();
        a.mov(dword_ptr(edi), eax).unwrap();
        for k in 0..8 {
            a.mov(eax, dword_ptr(esp + 8 + k * 4)).unwrap();
            a.mov(dword_ptr(edi + 4 + k * 4), eax).unwrap();
        }
        a.pop(edi).unwrap();
        a.pop(eax).unwrap();
        if ret {
            a.iretd().unwrap();
        } else {
            a.hlt().unwrap();
        }
    });
    gate32(cpu, v, KCODE32, h as u32, 0xe, dpl, true);
    h
}

/// ESP and the eight dwords a [`recorder32`] handler saw.
fn seen32(cpu: &Cpu) -> (u32, [u32; 8]) {
    (
        read_u32(cpu, REC),
        std::array::from_fn(|k| read_u32(cpu, REC + 4 + k as u64 * 4)),
    )
}

fn which_handler(cpu: &Cpu) -> u8 {
    ((cpu.state().rip - HANDLERS) / 0x100) as u8
}

#[test]
fn protected_mode_ring3_int_switches_to_tss_stack_and_iretd_returns() {
    let user = |a: &mut CodeAssembler| {
        a.mov(ebx, 0x55u32).unwrap();
        a.int(0x80).unwrap();
        a.mov(edx, esp).unwrap();
        a.int(0x81).unwrap();
    };
    let ua = insn_addrs(32, USER_CODE, user);
    for tier in TIERS {
        let mut cpu = cpu(tier);
        protected_mode(&mut cpu, CODE);
        to_ring3_32(&mut cpu, USER_CODE);
        place(&mut cpu, 32, USER_CODE, user);
        recorder32(&mut cpu, 0x80, 3, true);
        // 0x81 has DPL 0: #GP(0x81 * 8 + 2) from ring 3.
        gate32(
            &mut cpu,
            0x81,
            KCODE32,
            handler_addr(0x30) as u32,
            0xe,
            0,
            true,
        );
        let gp = handler_addr(vec::GP);
        place(&mut cpu, 32, gp, |a| {
            a.mov(esi, dword_ptr(esp)).unwrap();
            a.mov(edi, dword_ptr(esp + 4)).unwrap();
            a.mov(ebp, esp).unwrap();
            a.hlt().unwrap();
        });
        gate32(&mut cpu, vec::GP, KCODE32, gp as u32, 0xe, 0, true);
        run_halt(&mut cpu, &mut TestBus::default());
        let st = cpu.state();
        // What INT 0x80 pushed: EIP, CS, EFLAGS, ESP, SS on the TSS's ring-0 stack.
        let (entry_sp, f) = seen32(&cpu);
        assert_eq!(
            entry_sp as u64,
            KSTACK - 20,
            "{tier:?}: SS0:ESP0 from the TSS"
        );
        assert_eq!(f[0] as u64, ua[2], "pushed EIP");
        assert_eq!(f[1], UCODE as u32, "pushed CS");
        assert_eq!(f[3] as u64, USTACK, "pushed ESP");
        assert_eq!(f[4], UDATA32 as u32, "pushed SS");
        assert_eq!(
            st.gpr[2], USTACK,
            "{tier:?}: IRETD restored the ring-3 stack"
        );
        assert_eq!(st.gpr[6], 0x81 * 8 + 2, "{tier:?}: #GP(vector*8+2)");
        assert_eq!(st.gpr[7], ua[3], "the #GP names INT 0x81");
        assert_eq!(st.gpr[5], KSTACK - 24, "error code below the 5-slot frame");
        assert_eq!(st.segs[seg::CS].selector, KCODE32 as u64);
        assert_eq!(st.segs[seg::SS].selector, KDATA32 as u64);
        assert_eq!(st.gpr[3], 0x55);
    }
}

#[test]
fn protected_mode_not_present_gate_raises_np_with_idt_and_ext_bits() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        protected_mode(&mut cpu, CODE);
        place(&mut cpu, 32, CODE, |a| {
            a.nop().unwrap();
            a.ud2().unwrap();
        });
        gate32(&mut cpu, vec::UD, KCODE32, 0, 0xe, 0, false);
        recorder32(&mut cpu, vec::NP, 0, false);
        run_halt(&mut cpu, &mut TestBus::default());
        assert_eq!(which_handler(&cpu), vec::NP);
        let (entry_sp, f) = seen32(&cpu);
        assert_eq!(f[0], vec::UD as u32 * 8 + 2 + 1, "{tier:?}: IDT + EXT");
        assert_eq!(f[1] as u64, CODE + 1, "the #UD instruction");
        assert_eq!(entry_sp as u64, KSTACK - 0x1000 - 16);
    }
}

#[test]
fn protected_mode_16_bit_gate_pushes_words() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        protected_mode(&mut cpu, CODE);
        place(&mut cpu, 32, CODE, |a| {
            a.int(0x85).unwrap();
        });
        let h = 0xa000u64;
        place(&mut cpu, 32, h, |a| {
            a.mov(ebp, esp).unwrap();
            a.movzx(esi, word_ptr(esp)).unwrap();
            a.movzx(edi, word_ptr(esp + 2)).unwrap();
            a.hlt().unwrap();
        });
        gate32(&mut cpu, 0x85, KCODE32, h as u32, 0x6, 0, true);
        run_halt(&mut cpu, &mut TestBus::default());
        let st = cpu.state();
        assert_eq!(st.gpr[5], KSTACK - 0x1000 - 6, "{tier:?}: three words");
        assert_eq!(st.gpr[6], (CODE + 2) & 0xffff, "IP");
        assert_eq!(st.gpr[7], KCODE32 as u64, "CS");
    }
}

#[test]
fn protected_mode_task_gate_is_refused_with_gp() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        protected_mode(&mut cpu, CODE);
        place(&mut cpu, 32, CODE, |a| {
            a.int(0x86).unwrap();
        });
        gate32(&mut cpu, 0x86, TSS32_SEL, 0, 0x5, 0, true);
        recorder32(&mut cpu, vec::GP, 0, false);
        run_halt(&mut cpu, &mut TestBus::default());
        let (_, f) = seen32(&cpu);
        assert_eq!(f[0], 0x86 * 8 + 2, "{tier:?}");
        assert_eq!(f[1] as u64, CODE);
    }
}

#[test]
fn protected_mode_bad_tss_stack_escalates_to_triple_fault() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        protected_mode(&mut cpu, CODE);
        to_ring3_32(&mut cpu, USER_CODE);
        place(&mut cpu, 32, USER_CODE, |a| {
            a.int(0x80).unwrap();
        });
        recorder32(&mut cpu, 0x80, 3, false);
        for v in [vec::TS, vec::DF] {
            recorder32(&mut cpu, v, 0, false);
        }
        // SS0 = null: #TS(0) for INT n (software: EXT clear), then #TS(1) delivering
        // that #TS (EXT set), a contributory pair: #DF, which needs the same stack.
        write_u32(&mut cpu, TSS + 8, 0);
        match cpu.run(&mut TestBus::default(), 1000) {
            RunExit::TripleFault {
                original, fault, ..
            } => {
                assert_eq!(original.vector, vec::TS, "{tier:?}");
                assert_eq!(original.error_code, Some(0));
                assert_eq!(fault.vector, vec::TS);
                assert_eq!(fault.error_code, Some(1));
            }
            other => panic!("{tier:?}: {other:?}"),
        }
    }
}

#[test]
fn protected_mode_empty_idt_triple_faults() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        protected_mode(&mut cpu, CODE);
        place(&mut cpu, 32, CODE, |a| {
            a.ud2().unwrap();
        });
        cpu.state_mut().idtr.limit = 0;
        match cpu.run(&mut TestBus::default(), 1000) {
            RunExit::TripleFault {
                original, fault, ..
            } => {
                assert_eq!(original.vector, vec::UD);
                assert_eq!(fault.error_code, Some(vec::DF as u32 * 8 + 2 + 1));
            }
            other => panic!("{tier:?}: {other:?}"),
        }
    }
}

#[test]
fn iretd_flag_rules_depend_on_cpl_and_iopl() {
    // IRETD to the same level with IOPL = 3 and IF = 1 in the image: at CPL 0 both
    // take; at CPL 3 (IOPL 0) neither does.
    let body = |sel: u16| {
        move |a: &mut CodeAssembler| {
            let mut after = a.create_label();
            a.push(0x3202).unwrap();
            a.push(sel as i32).unwrap();
            a.call(after).unwrap();
            a.set_label(&mut after).unwrap();
            // The call pushed EIP of `after`; point it past the iretd.
            a.add(dword_ptr(esp), 5).unwrap();
            a.iretd().unwrap();
            a.pushfd().unwrap();
            a.pop(eax).unwrap();
            a.int(0x80).unwrap();
        }
    };
    for (ring3, want) in [(false, fl::IF | fl::IOPL), (true, 0)] {
        for tier in TIERS {
            let mut cpu = cpu(tier);
            protected_mode(&mut cpu, CODE);
            let (at, sel) = if ring3 {
                to_ring3_32(&mut cpu, USER_CODE);
                (USER_CODE, UCODE)
            } else {
                (CODE, KCODE32)
            };
            let n = place(&mut cpu, 32, at, body(sel));
            assert!(n > 0);
            recorder32(&mut cpu, 0x80, 3, false);
            run_halt(&mut cpu, &mut TestBus::default());
            assert_eq!(which_handler(&cpu), 0x80, "{tier:?} ring3={ring3}");
            let flags = cpu.state().gpr[0];
            assert_eq!(flags & (fl::IF | fl::IOPL), want, "{tier:?} ring3={ring3}");
        }
    }
}

#[test]
fn iretd_to_outer_level_checks_ss() {
    // From ring 0 to ring 3 with SS = a ring-0 data selector: #GP(selector).
    for tier in TIERS {
        let mut cpu = cpu(tier);
        protected_mode(&mut cpu, CODE);
        place(&mut cpu, 32, CODE, |a| {
            a.push(KDATA32 as i32).unwrap();
            a.push(USTACK as i32).unwrap();
            a.push(0x2).unwrap();
            a.push(UCODE as i32).unwrap();
            a.push(USER_CODE as i32).unwrap();
            a.iretd().unwrap();
        });
        recorder32(&mut cpu, vec::GP, 0, false);
        run_halt(&mut cpu, &mut TestBus::default());
        let (_, f) = seen32(&cpu);
        assert_eq!(f[0], KDATA32 as u32, "{tier:?}");
        assert_eq!(cpu.state().segs[seg::CS].selector, KCODE32 as u64);
    }
}

#[test]
fn iretd_to_ring3_nulls_ring0_data_segments() {
    for tier in TIERS {
        let mut cpu = cpu(tier);
        protected_mode(&mut cpu, CODE);
        place(&mut cpu, 32, CODE, |a| {
            a.push(UDATA32 as i32).unwrap();
            a.push(USTACK as i32).unwrap();
            a.push(0x2).unwrap();
            a.push(UCODE as i32).unwrap();
            a.push(USER_CODE as i32).unwrap();
            a.iretd().unwrap();
        });
        place(&mut cpu, 32, USER_CODE, |a| {
            a.mov(ebx, esp).unwrap();
            a.int(0x80).unwrap();
        });
        recorder32(&mut cpu, 0x80, 3, false);
        // ES keeps a user selector; DS, FS, GS hold the ring-0 data segment.
        cpu.state_mut().segs[seg::ES] = flat(UDATA32, 0xc0f3);
        run_halt(&mut cpu, &mut TestBus::default());
        let st = cpu.state();
        assert_eq!(st.gpr[3], USTACK, "{tier:?}");
        assert_eq!(st.segs[seg::DS].selector, 0);
        assert_eq!(st.segs[seg::FS].selector, 0);
        assert_eq!(st.segs[seg::GS].selector, 0);
        assert_eq!(st.segs[seg::ES].selector, UDATA32 as u64);
        assert_eq!(st.segs[seg::SS].selector, KDATA32 as u64, "INT went to SS0");
    }
}

#[test]
fn into_traps_only_when_of_is_set() {
    let body = |a: &mut CodeAssembler| {
        a.mov(al, 0x10).unwrap();
        a.add(al, 1).unwrap();
        a.into().unwrap();
        a.mov(al, 0x7f).unwrap();
        a.add(al, 1).unwrap();
        a.into().unwrap();
        a.nop().unwrap();
    };
    let addrs = insn_addrs(32, CODE, body);
    for tier in TIERS {
        let mut cpu = cpu(tier);
        protected_mode(&mut cpu, CODE);
        place(&mut cpu, 32, CODE, body);
        recorder32(&mut cpu, vec::OF, 0, false);
        run_halt(&mut cpu, &mut TestBus::default());
        assert_eq!(which_handler(&cpu), vec::OF, "{tier:?}");
        let (_, f) = seen32(&cpu);
        assert_eq!(f[0] as u64, addrs[6], "{tier:?}: #OF is a trap (next RIP)");
    }
}
