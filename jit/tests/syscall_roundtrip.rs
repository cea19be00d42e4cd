//! SYSCALL → kernel → SYSRET round trips between ring 3 and ring 0 (compiled by the JIT
//! in the tiered run), SYSRET to compatibility mode, SYSENTER/SYSEXIT, SWAPGS and the
//! FS/GS base instructions.

mod modes_harness;
use iced_x86::code_asm::*;
use modes_harness::*;
use reprise_jit::state::{seg, CR4_FSGSBASE};
use reprise_jit::Tier;

const ENTRY: u64 = KERNEL + 0x800;

fn entry_code(a: &mut CodeAssembler) {
    let mut done = a.create_label();
    a.cmp(eax, 0xffff).unwrap();
    a.je(done).unwrap();
    a.add(r15, rax).unwrap();
    a.mov(r10, r11).unwrap();
    a.sysretq().unwrap();
    a.set_label(&mut done).unwrap();
    a.hlt().unwrap();
}

#[test]
fn syscall_sysret_loop_between_rings() {
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| to_user(a, ENTRY, 0x2),
            &|a| {
                let mut top = a.create_label();
                a.mov(rsp, USTACK).unwrap();
                a.mov(ebx, 100u32).unwrap();
                a.set_label(&mut top).unwrap();
                a.mov(eax, ebx).unwrap();
                a.syscall().unwrap();
                a.dec(ebx).unwrap();
                a.jnz(top).unwrap();
                a.mov(eax, 0xffffu32).unwrap();
                a.syscall().unwrap();
            },
            &|st| {
                set_tr(st);
                st.gpr[15] = 0;
            },
        );
        let e = assemble(64, ENTRY, &entry_code);
        cpu.ram_mut().write_at(ENTRY, &e);
        run_to_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(report(&cpu), None, "{tier:?}: unexpected exception");
        assert_eq!(st.gpr[15], 5050, "{tier:?}");
        assert_eq!(st.segs[seg::CS].selector, KCODE as u64);
        assert_eq!(st.segs[seg::SS].selector, KDATA as u64);
        // RCX: the instruction after the last SYSCALL; R10: user RFLAGS seen by the
        // kernel (IF clear by SFMASK is not visible there: R11 holds the user value).
        assert_eq!(
            st.gpr[1] & 0xfff,
            (USER + 10 + 5 + 2 + 2 + 2 + 2 + 5 + 2) & 0xfff
        );
        assert_eq!(st.gpr[10] & 0x2, 0x2);
        if tier == Tier::Tiered {
            assert!(cpu.stats().blocks_compiled > 0, "nothing compiled");
        }
        states.push((st.clone(), cpu.digest()));
    }
    assert_eq!(states[0], states[1], "tiers disagree");
}

#[test]
fn sysretd_returns_to_compat_mode_where_syscall_is_ud() {
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                wrmsr(
                    a,
                    0xc000_0081,
                    (UCODE32 as u64) << 48 | (KCODE as u64) << 32,
                );
                a.mov(ecx, USER as u32).unwrap();
                a.mov(r11d, 2u32).unwrap();
                a.sysret().unwrap();
            },
            &|_| {},
            &|st| set_tr(st),
        );
        // 32-bit user code: a loop, then SYSCALL (#UD on Intel outside 64-bit mode).
        let u = assemble(32, USER, &|a| {
            let mut top = a.create_label();
            a.mov(esp, USTACK as u32).unwrap();
            a.xor(eax, eax).unwrap();
            a.mov(ecx, 50u32).unwrap();
            a.set_label(&mut top).unwrap();
            a.add(eax, ecx).unwrap();
            a.push(eax).unwrap();
            a.pop(edx).unwrap();
            a.dec(ecx).unwrap();
            a.jnz(top).unwrap();
            a.syscall().unwrap();
        });
        cpu.ram_mut().write_at(USER, &u);
        run_to_halt(&mut cpu);
        let (v, _, rip, pcs) = report(&cpu).expect("no #UD");
        assert_eq!(v, 6, "{tier:?}");
        assert_eq!(pcs, (UCODE32 | 3) as u64);
        assert_eq!(rip, USER + u.len() as u64 - 2);
        assert_eq!(cpu.state().gpr[2] & 0xffff_ffff, 1275);
    }
}

#[test]
fn sysenter_sysexit_64() {
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                wrmsr(a, 0x174, KCODE as u64);
                wrmsr(a, 0x175, KSTACK - 0x100);
                wrmsr(a, 0x176, ENTRY);
                a.mov(rdx, USER).unwrap();
                a.mov(rcx, USTACK).unwrap();
                a.sysexitq().unwrap();
            },
            &|a| {
                a.mov(r15d, 77u32).unwrap();
                a.mov(r9, rsp).unwrap();
                a.sysenter().unwrap();
            },
            &|st| set_tr(st),
        );
        cpu.ram_mut().write_at(ENTRY, &[0xf4]);
        run_to_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(report(&cpu), None);
        assert_eq!(st.gpr[15], 77);
        assert_eq!(st.gpr[9], USTACK, "SYSEXIT loaded RSP from RCX");
        assert_eq!(st.gpr[4], KSTACK - 0x100);
        assert_eq!(st.segs[seg::CS].selector, KCODE as u64);
        assert_eq!(st.segs[seg::SS].selector, KCODE as u64 + 8);
        assert_eq!(st.rip, ENTRY + 1);
    }
}

#[test]
fn swapgs_and_fsgsbase() {
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                a.mov(rax, DATA).unwrap();
                a.mov(qword_ptr(rax), 0x1111i32).unwrap();
                a.mov(qword_ptr(rax + 0x100), 0x2222i32).unwrap();
                wrmsr(a, 0xc000_0101, 0);
                wrmsr(a, 0xc000_0102, DATA + 0x100);
                a.swapgs().unwrap();
                a.mov(rbx, qword_ptr(0).gs()).unwrap();
                a.mov(rax, DATA).unwrap();
                a.wrfsbase(rax).unwrap();
                a.mov(rcx, qword_ptr(0).fs()).unwrap();
                a.rdgsbase(r8).unwrap();
                a.rdfsbase(esi).unwrap();
                a.mov(ecx, 0xc000_0102u32).unwrap();
                a.rdmsr().unwrap();
                a.mov(rdi, rax).unwrap();
            },
            &|_| {},
            &|st| st.cr4 |= CR4_FSGSBASE,
        );
        run_to_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(report(&cpu), None, "{tier:?}");
        assert_eq!(st.gpr[3], 0x2222);
        assert_eq!(st.gpr[8], DATA + 0x100);
        assert_eq!(st.gpr[6], DATA);
        assert_eq!(st.gpr[7], 0, "KERNEL_GS_BASE holds the old GS base");
        assert_eq!(st.segs[seg::FS].base, DATA);
    }
}

#[test]
fn fsgsbase_is_ud_without_cr4_bit() {
    for tier in TIERS {
        let mut cpu = kernel_machine(tier, &|a| a.rdfsbase(rax).unwrap(), &|_| {}, &|_| {});
        run_to_halt(&mut cpu);
        assert_eq!(report(&cpu).map(|r| r.0), Some(6));
    }
}

#[test]
fn syscall_is_ud_without_efer_sce() {
    for tier in TIERS {
        let mut cpu = kernel_machine(tier, &|a| a.syscall().unwrap(), &|_| {}, &|st| {
            st.efer &= !1
        });
        run_to_halt(&mut cpu);
        assert_eq!(report(&cpu).map(|r| r.0), Some(6));
    }
}

#[test]
fn sysret_to_non_canonical_rcx_is_gp() {
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                a.mov(rcx, 0x8000_0000_0000u64).unwrap();
                a.sysretq().unwrap();
            },
            &|_| {},
            &|_| {},
        );
        run_to_halt(&mut cpu);
        let (v, code, rip, pcs) = report(&cpu).expect("no #GP");
        assert_eq!((v, code, pcs), (13, 0, KCODE as u64));
        assert_eq!(rip, KERNEL + 10);
    }
}

#[test]
fn sysenter_sysexit_32_in_protected_mode() {
    use reprise_jit::state::{Segment, CR0_PE};
    use reprise_jit::{Cpu, CpuConfig, CpuState, EmptyBus, GuestRam, RunExit};
    const GDT32: u64 = 0x500;
    const K: u64 = 0x1_0000;
    const U: u64 = 0x2_0000;
    const E: u64 = 0x3_0000;
    for tier in TIERS {
        let mut ram = GuestRam::new(2).unwrap();
        let gdt = [
            0u64,
            0x00cf_9a00_0000_ffff,
            0x00cf_9200_0000_ffff,
            0x00cf_fa00_0000_ffff,
            0x00cf_f200_0000_ffff,
        ];
        for (k, d) in gdt.iter().enumerate() {
            ram.write_u64(GDT32 + 8 * k as u64, *d);
        }
        ram.write_at(
            K,
            &assemble(32, K, &|a| {
                wrmsr(a, 0x174, 0x08);
                wrmsr(a, 0x175, 0x9000);
                wrmsr(a, 0x176, E);
                a.mov(edx, U as u32).unwrap();
                a.mov(ecx, 0x8000u32).unwrap();
                a.sysexit().unwrap();
            }),
        );
        ram.write_at(
            U,
            &assemble(32, U, &|a| {
                a.mov(ebp, cs).unwrap();
                a.push(5i32).unwrap();
                a.pop(edi).unwrap();
                a.mov(esi, esp).unwrap();
                a.sysenter().unwrap();
            }),
        );
        ram.write_at(E, &[0xf4]);
        let mut st = CpuState {
            rip: K,
            cr0: CR0_PE | 0x10,
            ..CpuState::default()
        };
        st.gdtr.base = GDT32;
        st.gdtr.limit = 39;
        let flat = |sel: u64, attr: u32| Segment {
            selector: sel,
            base: 0,
            limit: 0xffff_ffff,
            attr,
        };
        st.segs[seg::CS] = flat(0x08, 0xc09b);
        for s in [seg::SS, seg::DS, seg::ES, seg::FS, seg::GS] {
            st.segs[s] = flat(0x10, 0xc093);
        }
        st.gpr[4] = 0x9000;
        let mut cpu = Cpu::new(
            ram,
            CpuConfig {
                tier,
                hot_threshold: 2,
                ..Default::default()
            },
        )
        .unwrap();
        *cpu.state_mut() = st;
        let r = cpu.run(&mut EmptyBus, 10_000);
        assert!(matches!(r, RunExit::Halted { .. }), "{tier:?}: {r:?}");
        let st = cpu.state();
        assert_eq!(st.gpr[5] & 0xffff, 0x1b, "user CS at ring 3");
        assert_eq!(st.gpr[7], 5);
        assert_eq!(st.gpr[6], 0x8000, "user ESP from ECX");
        assert_eq!(st.gpr[4], 0x9000, "kernel ESP from SYSENTER_ESP");
        assert_eq!(st.segs[seg::CS].selector, 0x08);
        assert_eq!(st.segs[seg::SS].selector, 0x10);
        assert_eq!(st.code_bitness(), 32);
        assert_eq!(st.rip, E + 1);
    }
}
