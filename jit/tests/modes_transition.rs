//! Mode switches: real mode → protected mode (MOV CR0.PE, far JMP) → long mode (CR4.PAE,
//! EFER.LME, CR0.PG → EFER.LMA) through compatibility mode into 64-bit code; segment
//! bases in real and protected mode; far CALL/RETF between 64-bit and compatibility
//! code; the #GP checks of MOV CR0/CR4 and WRMSR EFER.

mod modes_harness;
use iced_x86::code_asm::*;
use modes_harness::*;
use reprise_jit::state::{seg, EFER_LMA};
use reprise_jit::{Cpu, CpuConfig, CpuState, EmptyBus, GuestRam, RunExit, Tier};

const RM_GDT: u64 = 0x500;
const RM_GDTR: u64 = 0x600;
const RM_PML4: u64 = 0x20000;
const RM_PDPT: u64 = 0x21000;
const CODE16: u64 = 0x8000;
const CODE32: u64 = 0x9000;
const CODE64: u64 = 0xa000;

fn boot_machine(tier: Tier) -> Cpu {
    let mut ram = GuestRam::new(16).unwrap();
    let gdt: [u64; 5] = [
        0,
        0x00cf_9a00_0000_ffff, // 0x08 code 32
        0x00cf_9200_0000_ffff, // 0x10 data
        0x00af_9a00_0000_ffff, // 0x18 code 64
        0x00cf_9210_0000_ffff, // 0x20 data, base 0x100000
    ];
    for (k, d) in gdt.iter().enumerate() {
        ram.write_u64(RM_GDT + 8 * k as u64, *d);
    }
    let mut gdtr = vec![(gdt.len() * 8 - 1) as u8, 0];
    gdtr.extend_from_slice(&(RM_GDT as u32).to_le_bytes());
    ram.write_at(RM_GDTR, &gdtr);
    ram.write_u64(RM_PML4, RM_PDPT | 3);
    ram.write_u64(RM_PDPT, 0x83);
    let c16 = assemble(16, CODE16, &|a| {
        a.cli().unwrap();
        a.mov(ax, 0x100u32).unwrap();
        a.mov(ds, ax).unwrap();
        a.mov(word_ptr(0x10), 0xbeefu32).unwrap();
        a.xor(ax, ax).unwrap();
        a.mov(ds, ax).unwrap();
        a.lgdt(ptr(RM_GDTR)).unwrap();
        a.mov(eax, cr0).unwrap();
        a.or(eax, 1).unwrap();
        a.mov(cr0, eax).unwrap();
        a.jmp_far(0x08, CODE32 as u32).unwrap();
    });
    let c32 = assemble(32, CODE32, &|a| {
        let mut top = a.create_label();
        a.mov(ax, 0x10u32).unwrap();
        a.mov(ds, ax).unwrap();
        a.mov(es, ax).unwrap();
        a.mov(ss, ax).unwrap();
        a.mov(esp, 0x7000u32).unwrap();
        a.mov(dword_ptr(0x1020), 0x3232_3232u32).unwrap();
        a.mov(ax, 0x20u32).unwrap();
        a.mov(fs, ax).unwrap();
        a.mov(dword_ptr(0x10).fs(), 0x44u32).unwrap();
        a.mov(eax, cr4).unwrap();
        a.or(eax, 0x20).unwrap();
        a.mov(cr4, eax).unwrap();
        a.mov(eax, RM_PML4 as u32).unwrap();
        a.mov(cr3, eax).unwrap();
        a.mov(ecx, 0xc000_0080u32).unwrap();
        a.rdmsr().unwrap();
        a.or(eax, 0x100).unwrap();
        a.wrmsr().unwrap();
        a.mov(eax, cr0).unwrap();
        a.or(eax, 0x8000_0000u32 as i32).unwrap();
        a.mov(cr0, eax).unwrap();
        // Compatibility mode: 32-bit code, 4-level paging. A loop for the JIT.
        a.xor(eax, eax).unwrap();
        a.mov(ecx, 200u32).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(eax, ecx).unwrap();
        a.push(eax).unwrap();
        a.pop(edx).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.mov(dword_ptr(0x1030), eax).unwrap();
        a.jmp_far(0x18, CODE64 as u32).unwrap();
    });
    let c64 = assemble(64, CODE64, &|a| {
        a.mov(rax, 0x1122_3344_5566_7788u64).unwrap();
        a.mov(qword_ptr(0x1040), rax).unwrap();
        a.mov(rbx, qword_ptr(0x1030)).unwrap();
        a.hlt().unwrap();
    });
    ram.write_at(CODE16, &c16);
    ram.write_at(CODE32, &c32);
    ram.write_at(CODE64, &c64);
    let st = CpuState {
        rip: CODE16,
        ..CpuState::default()
    };
    let cfg = CpuConfig {
        tier,
        hot_threshold: 2,
        ..Default::default()
    };
    let mut cpu = Cpu::new(ram, cfg).unwrap();
    *cpu.state_mut() = st;
    cpu
}

#[test]
fn real_to_protected_to_long_mode() {
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = boot_machine(tier);
        let r = cpu.run(&mut EmptyBus, 100_000);
        assert_eq!(
            r,
            RunExit::Halted {
                interrupts_enabled: false
            },
            "{tier:?}"
        );
        let st = cpu.state();
        let ram = cpu.ram();
        assert_ne!(st.efer & EFER_LMA, 0, "long mode active");
        assert_eq!(st.code_bitness(), 64);
        assert_eq!(st.segs[seg::CS].selector, 0x18);
        assert_eq!(
            ram.read_u64(0x1010).map(|v| v as u16),
            Some(0xbeef),
            "real-mode DS base"
        );
        assert_eq!(ram.read_u64(0x1020).map(|v| v as u32), Some(0x3232_3232));
        assert_eq!(
            ram.read_u64(0x10_0010).map(|v| v as u32),
            Some(0x44),
            "FS base"
        );
        assert_eq!(ram.read_u64(0x1040), Some(0x1122_3344_5566_7788));
        assert_eq!(st.gpr[3] & 0xffff_ffff, 20100, "compat-mode loop");
        // Accessed bits set in the loaded descriptors.
        for sel in [0x08u64, 0x10, 0x18, 0x20] {
            let d = ram.read_u64(RM_GDT + sel).unwrap_or(0);
            assert_ne!(d & 1 << 40, 0, "accessed bit of {sel:#x}");
        }
        if tier == Tier::Tiered {
            assert!(cpu.stats().blocks_compiled > 0);
        }
        states.push((st.clone(), cpu.digest()));
    }
    assert_eq!(states[0], states[1], "tiers disagree");
}

#[test]
fn far_call_to_compat_code_and_retf_back() {
    for tier in TIERS {
        let compat_fn = KERNEL + 0x800;
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                a.mov(rax, DATA).unwrap();
                a.mov(dword_ptr(rax), compat_fn as u32).unwrap();
                a.mov(word_ptr(rax + 4), KCODE32 as u32).unwrap();
                a.mov(r8, rsp).unwrap();
                a.call(fword_ptr(rax)).unwrap();
                a.mov(r9, rsp).unwrap();
                a.mov(r10, 0x77u64).unwrap();
            },
            &|_| {},
            &|_| {},
        );
        let f = assemble(32, compat_fn, &|a| {
            a.mov(eax, 0x12345u32).unwrap();
            a.mov(edi, dword_ptr(esp)).unwrap();
            a.retf().unwrap();
        });
        cpu.ram_mut().write_at(compat_fn, &f);
        run_to_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(report(&cpu), None, "{tier:?}");
        assert_eq!(st.gpr[0], 0x12345);
        assert_eq!(st.gpr[10], 0x77);
        assert_eq!(st.gpr[8], st.gpr[9], "RETF restored RSP");
        assert_eq!(st.segs[seg::CS].selector, KCODE as u64);
        assert_eq!(st.code_bitness(), 64);
        // The return EIP pushed by the 32-bit far call.
        assert_eq!(st.gpr[7] & !0xff, KERNEL);
    }
}

/// Runs 64-bit ring-0 code and returns (vector, error code) of the first exception.
fn fault_of(kernel: &dyn Fn(&mut CodeAssembler)) -> Option<(u64, u64)> {
    let mut out = Vec::new();
    for tier in TIERS {
        let mut cpu = kernel_machine(tier, kernel, &|_| {}, &|_| {});
        run_to_halt(&mut cpu);
        out.push(report(&cpu).map(|r| (r.0, r.1)));
    }
    assert_eq!(out[0], out[1], "tiers disagree");
    out[0]
}

fn load(sreg: AsmRegisterSegment, sel: u16) -> impl Fn(&mut CodeAssembler) {
    move |a| {
        a.mov(ax, sel as u32).unwrap();
        a.mov(sreg, ax).unwrap();
    }
}

fn far_jmp(sel: u16) -> impl Fn(&mut CodeAssembler) {
    move |a| {
        a.mov(rax, DATA).unwrap();
        a.mov(dword_ptr(rax), KERNEL as u32).unwrap();
        a.mov(word_ptr(rax + 4), sel as u32).unwrap();
        a.jmp(fword_ptr(rax)).unwrap();
    }
}

#[test]
fn descriptor_checks_raise_the_right_faults() {
    assert_eq!(
        fault_of(&load(ds, 0x60)),
        Some((13, 0x60)),
        "beyond GDT limit"
    );
    assert_eq!(
        fault_of(&load(ds, 0x4)),
        Some((13, 0x4)),
        "LDT selector, no LDT"
    );
    assert_eq!(
        fault_of(&load(ds, NP_DATA)),
        Some((11, NP_DATA as u64)),
        "not present"
    );
    assert_eq!(
        fault_of(&load(ss, NP_STACK)),
        Some((12, NP_STACK as u64)),
        "SS not present"
    );
    assert_eq!(
        fault_of(&load(ss, UDATA | 3)),
        Some((13, UDATA as u64)),
        "SS RPL != CPL"
    );
    assert_eq!(
        fault_of(&load(ss, KCODE)),
        Some((13, KCODE as u64)),
        "SS code segment"
    );
    assert_eq!(
        fault_of(&load(ds, TSS_SEL)),
        Some((13, TSS_SEL as u64)),
        "system descriptor"
    );
    assert_eq!(
        fault_of(&far_jmp(NP_CODE)),
        Some((11, NP_CODE as u64)),
        "code not present"
    );
    assert_eq!(
        fault_of(&far_jmp(KDATA)),
        Some((13, KDATA as u64)),
        "jump to data"
    );
    assert_eq!(fault_of(&far_jmp(0)), Some((13, 0)), "jump to null");
    let ltr_twice = |a: &mut CodeAssembler| {
        a.mov(ax, TSS_SEL as u32).unwrap();
        a.ltr(ax).unwrap();
        a.ltr(ax).unwrap();
    };
    assert_eq!(fault_of(&ltr_twice), Some((13, TSS_SEL as u64)), "TSS busy");
    let ltr_data = |a: &mut CodeAssembler| {
        a.mov(ax, KDATA as u32).unwrap();
        a.ltr(ax).unwrap();
    };
    assert_eq!(fault_of(&ltr_data), Some((13, KDATA as u64)));
    // Loads that must succeed: DPL-3 data at CPL 0, null DS and SS in 64-bit mode.
    assert_eq!(fault_of(&load(ds, UDATA)), None);
    assert_eq!(fault_of(&load(ds, 0)), None);
    assert_eq!(fault_of(&load(ss, 0)), None);
}

#[test]
fn ltr_sets_busy_and_lar_lsl_verr_verw() {
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                a.mov(ax, TSS_SEL as u32).unwrap();
                a.ltr(ax).unwrap();
                a.str(si).unwrap();
                a.mov(cx, KCODE as u32).unwrap();
                a.lar(ebx, ecx).unwrap();
                a.setz(r8b).unwrap();
                a.mov(cx, KDATA as u32).unwrap();
                a.lsl(edx, ecx).unwrap();
                a.setz(r9b).unwrap();
                a.mov(cx, KCODE as u32).unwrap();
                a.verr(cx).unwrap();
                a.setz(r10b).unwrap();
                a.verw(cx).unwrap();
                a.setnz(r11b).unwrap();
                a.xor(ecx, ecx).unwrap();
                a.lar(edi, ecx).unwrap();
                a.setnz(r15b).unwrap();
            },
            &|_| {},
            &|st| {
                for r in [8, 9, 10, 11, 15] {
                    st.gpr[r] = 0;
                }
            },
        );
        run_to_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(report(&cpu), None, "{tier:?}");
        assert_eq!(st.gpr[6] & 0xffff, TSS_SEL as u64);
        assert_eq!(st.tr.attr & 0xf, 0xb, "TR busy");
        let d = cpu.ram().read_u64(GDT + TSS_SEL as u64).unwrap_or(0);
        assert_eq!((d >> 40) & 0xf, 0xb, "busy bit in the GDT");
        assert_eq!(st.gpr[3], 0x00a0_9a00, "LAR of the kernel code segment");
        assert_eq!(st.gpr[2], 0xffff_ffff, "LSL of flat data");
        assert_eq!(
            [st.gpr[8], st.gpr[9], st.gpr[10], st.gpr[11], st.gpr[15]],
            [1; 5]
        );
    }
}

#[test]
fn control_register_checks() {
    // CR4.PAE cannot be cleared in long mode.
    let clear_pae = |a: &mut CodeAssembler| {
        a.mov(rax, cr4).unwrap();
        a.and(eax, !0x20).unwrap();
        a.mov(cr4, rax).unwrap();
    };
    assert_eq!(fault_of(&clear_pae), Some((13, 0)));
    // Paging cannot be turned off in 64-bit mode.
    let clear_pg = |a: &mut CodeAssembler| {
        a.mov(rax, cr0).unwrap();
        a.btr(eax, 31).unwrap();
        a.mov(cr0, rax).unwrap();
    };
    assert_eq!(fault_of(&clear_pg), Some((13, 0)));
    // Reserved CR4 bit (bit 25).
    let reserved = |a: &mut CodeAssembler| {
        a.mov(rax, cr4).unwrap();
        a.bts(eax, 25).unwrap();
        a.mov(cr4, rax).unwrap();
    };
    assert_eq!(fault_of(&reserved), Some((13, 0)));
    // CR0 upper half.
    let upper = |a: &mut CodeAssembler| {
        a.mov(rax, cr0).unwrap();
        a.bts(rax, 40).unwrap();
        a.mov(cr0, rax).unwrap();
    };
    assert_eq!(fault_of(&upper), Some((13, 0)));
    // EFER.LME cannot change while paging is on.
    let lme = |a: &mut CodeAssembler| {
        a.mov(ecx, 0xc000_0080u32).unwrap();
        a.rdmsr().unwrap();
        a.btr(eax, 8).unwrap();
        a.wrmsr().unwrap();
    };
    assert_eq!(fault_of(&lme), Some((13, 0)));
    // CR8 keeps four bits; writes above are #GP.
    let cr8_bad = |a: &mut CodeAssembler| {
        a.mov(eax, 0x10u32).unwrap();
        a.mov(cr8, rax).unwrap();
    };
    assert_eq!(fault_of(&cr8_bad), Some((13, 0)));
    // Toggling CR4.PGE and writing CR3 back are fine.
    let ok = |a: &mut CodeAssembler| {
        a.mov(rax, cr4).unwrap();
        a.bts(eax, 7).unwrap();
        a.mov(cr4, rax).unwrap();
        a.mov(rax, cr3).unwrap();
        a.mov(cr3, rax).unwrap();
        a.mov(eax, 0xfu32).unwrap();
        a.mov(cr8, rax).unwrap();
    };
    assert_eq!(fault_of(&ok), None);
}

#[test]
fn segment_register_instructions_and_misc_system_registers() {
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                a.mov(ax, KDATA as u32).unwrap();
                a.mov(fs, ax).unwrap();
                a.push(fs).unwrap();
                a.pop(gs).unwrap();
                a.mov(ebx, gs).unwrap();
                a.mov(rax, DATA).unwrap();
                a.mov(qword_ptr(rax), 0x7_0000i32).unwrap();
                a.mov(word_ptr(rax + 8), KDATA as u32).unwrap();
                a.lss(rsi, ptr(rax)).unwrap();
                a.mov(r8, ss).unwrap();
                a.mov(rax, 0x1234u64).unwrap();
                a.mov(dr0, rax).unwrap();
                a.mov(r9, dr0).unwrap();
                a.mov(r10, dr6).unwrap();
                a.mov(r11, dr7).unwrap();
                a.clts().unwrap();
                a.smsw(r12d).unwrap();
                wrmsr(a, 0xc000_0103, 7);
                a.rdpid(r13).unwrap();
                a.mov(ax, 0u32).unwrap();
                a.mov(ds, ax).unwrap();
                a.mov(r15, ds).unwrap();
            },
            &|_| {},
            &|st| {
                st.cr0 |= reprise_jit::state::CR0_TS;
                st.gpr[15] = 0xffff;
            },
        );
        run_to_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(report(&cpu), None, "{tier:?}");
        assert_eq!(st.segs[seg::GS].selector, KDATA as u64, "POP GS");
        assert_eq!(st.gpr[3], KDATA as u64, "MOV r32, GS");
        assert_eq!(st.gpr[6], 0x7_0000, "LSS offset");
        assert_eq!(st.gpr[8], KDATA as u64, "LSS selector");
        assert_eq!(st.gpr[9], 0x1234, "DR0");
        assert_eq!(st.gpr[10], 0xffff_0ff0, "DR6 reset value");
        assert_eq!(st.gpr[11], 0x400, "DR7 reset value");
        assert_eq!(st.cr0 & reprise_jit::state::CR0_TS, 0, "CLTS");
        assert_eq!(st.gpr[12], st.cr0 & 0xffff_ffff, "SMSW");
        assert_eq!(st.gpr[13], 7, "RDPID");
        assert_eq!(st.gpr[15], 0, "null DS loads in 64-bit mode");
        states.push(st.clone());
    }
    assert_eq!(states[0], states[1]);
}

#[test]
fn real_mode_far_call_and_retf() {
    for tier in TIERS {
        let mut ram = GuestRam::new(2).unwrap();
        // 0000:8000 calls 0900:0010 (linear 0x9010), which returns with RETF.
        let main = assemble(16, CODE16, &|a| {
            a.mov(sp, 0x7000u32).unwrap();
            a.call_far(0x0900, 0x10).unwrap();
            a.mov(bx, 0x55u32).unwrap();
            a.hlt().unwrap();
        });
        let f = assemble(16, 0x10, &|a| {
            a.mov(ax, cs).unwrap();
            a.mov(cx, word_ptr(0).ss()).unwrap();
            a.retf().unwrap();
        });
        ram.write_at(CODE16, &main);
        ram.write_at(0x9010, &f);
        let mut cpu = Cpu::new(
            ram,
            CpuConfig {
                tier,
                hot_threshold: 2,
                ..Default::default()
            },
        )
        .unwrap();
        cpu.state_mut().rip = CODE16;
        let r = cpu.run(&mut EmptyBus, 1000);
        assert!(matches!(r, RunExit::Halted { .. }), "{r:?}");
        let st = cpu.state();
        assert_eq!(st.gpr[0] & 0xffff, 0x900, "CS inside the callee");
        assert_eq!(st.gpr[3] & 0xffff, 0x55);
        assert_eq!(st.segs[seg::CS].selector, 0);
        assert_eq!(st.gpr[4] & 0xffff, 0x7000);
        assert_eq!(st.rip, CODE16 + main.len() as u64);
    }
}

#[test]
fn retf_to_ring3_loads_ss_rsp_and_nulls_kernel_data_segments() {
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                a.mov(ax, KDATA as u32).unwrap();
                a.mov(ds, ax).unwrap();
                a.mov(ax, UDATA as u32 | 3).unwrap();
                a.mov(es, ax).unwrap();
                a.push((UDATA | 3) as i32).unwrap();
                a.push(USTACK as i32).unwrap();
                a.push((UCODE64 | 3) as i32).unwrap();
                a.push(USER as i32).unwrap();
                // RETFQ.
                a.db(&[0x48, 0xcb]).unwrap();
            },
            &|a| {
                a.mov(r9d, 0x99u32).unwrap();
                a.mov(r10, rsp).unwrap();
                a.mov(r8d, ss).unwrap();
                a.hlt().unwrap();
            },
            &|st| set_tr(st),
        );
        run_to_halt(&mut cpu);
        let st = cpu.state();
        let (v, _, rip, pcs) = report(&cpu).expect("HLT at ring 3 must fault");
        assert_eq!((v, pcs), (13, (UCODE64 | 3) as u64), "{tier:?}");
        assert_eq!(rip, USER + 6 + 3 + 3, "the HLT");
        assert_eq!(st.gpr[9], 0x99);
        assert_eq!(st.gpr[10], USTACK);
        assert_eq!(st.gpr[8], (UDATA | 3) as u64);
        assert_eq!(st.segs[seg::DS].selector, 0, "DPL-0 DS nulled");
        assert_eq!(
            st.segs[seg::ES].selector,
            (UDATA | 3) as u64,
            "DPL-3 ES kept"
        );
    }
}

#[test]
fn gates_and_wrong_system_descriptors_are_gp() {
    // A TSS as a far JMP target (a task switch) and LLDT of a TSS.
    assert_eq!(fault_of(&far_jmp(TSS_SEL)), Some((13, TSS_SEL as u64)));
    let lldt_tss = |a: &mut CodeAssembler| {
        a.mov(ax, TSS_SEL as u32).unwrap();
        a.lldt(ax).unwrap();
    };
    assert_eq!(fault_of(&lldt_tss), Some((13, TSS_SEL as u64)));
    let lldt_null = |a: &mut CodeAssembler| {
        a.xor(eax, eax).unwrap();
        a.lldt(ax).unwrap();
        a.sldt(bx).unwrap();
    };
    assert_eq!(fault_of(&lldt_null), None);
}
