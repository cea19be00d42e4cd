//! Paging: global pages survive CR3 writes (CR4.PGE) until INVLPG, non-global entries
//! do not; accessed and dirty bits; NX; CR0.WP; SMEP.

mod modes_harness;
use iced_x86::code_asm::*;
use modes_harness::*;
use reprise_jit::state::{CR0_WP, CR4_PGE, CR4_SMEP};
use reprise_jit::{Cpu, CpuState, Tier};

/// A 4 KiB page table for 4..6 MiB at PT; VA 4 MiB + 4 KiB * k.
const PT: u64 = 0xc000;
const WIN: u64 = 0x40_0000;
const P0: u64 = 0x60_0000;

fn machine(
    tier: Tier,
    kernel: &dyn Fn(&mut CodeAssembler),
    tweak: &dyn Fn(&mut CpuState),
    ptes: &[(u64, u64)],
) -> Cpu {
    // Kernel structures on a supervisor page (SMEP would refuse to run the handlers
    // from a user page).
    let mut cpu = kernel_machine_ex(tier, kernel, &|_| {}, tweak, false);
    let ram = cpu.ram_mut();
    // Identity 4 KiB mappings for the rest of the window (REPORT lives at 5 MiB).
    for k in 0..512u64 {
        ram.write_u64(PT + 8 * k, (WIN + 0x1000 * k) | 3);
    }
    for &(k, pte) in ptes {
        ram.write_u64(PT + 8 * k, pte);
    }
    ram.write_u64(PD + 8 * 2, PT | 3);
    for (k, v) in [0xaaaau64, 0xbbbb, 0xcccc].iter().enumerate() {
        ram.write_u64(P0 + 0x1000 * k as u64, *v);
    }
    // P0 + 0x3000: a RET.
    ram.write_at(P0 + 0x3000, &[0xc3]);
    cpu
}

#[test]
fn global_pages_survive_cr3_writes_until_invlpg() {
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = machine(
            tier,
            &|a| {
                a.mov(r8, qword_ptr(WIN)).unwrap();
                a.mov(r9, qword_ptr(WIN + 0x1000)).unwrap();
                a.mov(qword_ptr(WIN + 0x1000 + 8), 1i32).unwrap();
                // Point both pages at P0 + 0x2000.
                a.mov(rax, (P0 + 0x2000) | 0x103).unwrap();
                a.mov(qword_ptr(PT), rax).unwrap();
                a.mov(rax, (P0 + 0x2000) | 0x3).unwrap();
                a.mov(qword_ptr(PT + 8), rax).unwrap();
                a.mov(rax, cr3).unwrap();
                a.mov(cr3, rax).unwrap();
                a.mov(r10, qword_ptr(WIN)).unwrap();
                a.mov(r11, qword_ptr(WIN + 0x1000)).unwrap();
                a.invlpg(byte_ptr(WIN)).unwrap();
                a.mov(r12, qword_ptr(WIN)).unwrap();
            },
            &|st| st.cr4 |= CR4_PGE,
            &[(0, P0 | 0x103), (1, (P0 + 0x1000) | 0x3)],
        );
        run_to_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(report(&cpu), None, "{tier:?}");
        assert_eq!([st.gpr[8], st.gpr[9]], [0xaaaa, 0xbbbb]);
        assert_eq!(st.gpr[10], 0xaaaa, "global entry kept across the CR3 write");
        assert_eq!(st.gpr[11], 0xcccc, "non-global entry dropped");
        assert_eq!(st.gpr[12], 0xcccc, "INVLPG dropped the global entry");
        states.push((st.clone(), cpu.digest()));
    }
    assert_eq!(states[0], states[1]);
}

#[test]
fn accessed_and_dirty_bits() {
    for tier in TIERS {
        let mut cpu = machine(
            tier,
            &|a| {
                a.mov(rax, qword_ptr(WIN)).unwrap();
                a.mov(qword_ptr(WIN + 0x1000), rax).unwrap();
            },
            &|_| {},
            &[
                (0, P0 | 0x3),
                (1, (P0 + 0x1000) | 0x3),
                (2, (P0 + 0x2000) | 0x3),
            ],
        );
        run_to_halt(&mut cpu);
        let ram = cpu.ram();
        let pte = |k: u64| ram.read_u64(PT + 8 * k).unwrap_or(0);
        assert_eq!(pte(0) & 0x60, 0x20, "read: accessed, not dirty");
        assert_eq!(pte(1) & 0x60, 0x60, "written: accessed and dirty");
        assert_eq!(pte(2) & 0x60, 0, "untouched");
    }
}

#[test]
fn nx_wp_and_smep_faults() {
    for tier in TIERS {
        // NX: calling into a no-execute page.
        let mut cpu = machine(
            tier,
            &|a| {
                a.mov(rax, WIN + 0x3000).unwrap();
                a.call(rax).unwrap();
            },
            &|_| {},
            &[(3, (P0 + 0x3000) | 3 | 1 << 63)],
        );
        run_to_halt(&mut cpu);
        assert_eq!(
            report(&cpu).map(|r| (r.0, r.1, r.2)),
            Some((14, 0x11, WIN + 0x3000))
        );
        assert_eq!(cpu.state().cr2, WIN + 0x3000);

        // The same page executable: the call returns.
        let mut cpu = machine(
            tier,
            &|a| {
                a.mov(rax, WIN + 0x3000).unwrap();
                a.call(rax).unwrap();
            },
            &|_| {},
            &[(3, (P0 + 0x3000) | 3)],
        );
        run_to_halt(&mut cpu);
        assert_eq!(report(&cpu), None);

        // CR0.WP: a supervisor write to a read-only page faults, and not without WP.
        for wp in [true, false] {
            let mut cpu = machine(
                tier,
                &|a| a.mov(qword_ptr(WIN + 0x4000), 5i32).unwrap(),
                &|st| {
                    if !wp {
                        st.cr0 &= !CR0_WP
                    }
                },
                &[(4, (P0 + 0x2000) | 1)],
            );
            run_to_halt(&mut cpu);
            let r = report(&cpu).map(|r| (r.0, r.1));
            if wp {
                assert_eq!(r, Some((14, 3)));
            } else {
                assert_eq!(r, None);
                assert_eq!(cpu.ram().read_u64(P0 + 0x2000), Some(5));
            }
        }

        // SMEP: supervisor fetch from a user page.
        let mut cpu = machine(
            tier,
            &|a| {
                a.mov(rax, USER).unwrap();
                a.call(rax).unwrap();
            },
            &|st| st.cr4 |= CR4_SMEP,
            &[],
        );
        cpu.ram_mut().write_at(USER, &[0xc3]);
        run_to_halt(&mut cpu);
        assert_eq!(
            report(&cpu).map(|r| (r.0, r.1, r.2)),
            Some((14, 0x11, USER))
        );
    }
}

/// 32-bit protected mode, flat, paging off, at `code`.
fn protected_machine(tier: Tier, code: &[u8], setup: &dyn Fn(&mut reprise_jit::GuestRam)) -> Cpu {
    use reprise_jit::state::{seg, Segment, CR0_PE};
    let mut ram = reprise_jit::GuestRam::new(8).unwrap();
    ram.write_at(0x1000, code);
    setup(&mut ram);
    let mut st = CpuState {
        rip: 0x1000,
        cr0: CR0_PE | 0x10,
        ..CpuState::default()
    };
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
        reprise_jit::CpuConfig {
            tier,
            hot_threshold: 2,
            ..Default::default()
        },
    )
    .unwrap();
    *cpu.state_mut() = st;
    cpu
}

#[test]
fn legacy_32_bit_and_pae_paging() {
    for tier in TIERS {
        // 2-level paging: PDE 0 a 4 MiB page (CR4.PSE), PDE 1 a page table mapping
        // 4 MiB to 6 MiB + 0x1000.
        let code = assemble(32, 0x1000, &|a| {
            a.mov(eax, 0x1_0000u32).unwrap();
            a.mov(cr3, eax).unwrap();
            a.mov(eax, 0x10u32).unwrap();
            a.mov(cr4, eax).unwrap();
            a.mov(eax, cr0).unwrap();
            a.or(eax, 0x8000_0000u32 as i32).unwrap();
            a.mov(cr0, eax).unwrap();
            a.mov(ebx, dword_ptr(0x40_0000)).unwrap();
            a.mov(ecx, dword_ptr(0x2000)).unwrap();
            a.hlt().unwrap();
        });
        let mut cpu = protected_machine(tier, &code, &|ram| {
            ram.write_u64(0x1_0000, 0x83 | (0x1_1003u64 << 32));
            ram.write_u64(0x1_1000, 0x60_1003);
            ram.write_u64(0x60_1000, 0xaaaa);
            ram.write_u64(0x2000, 0x1234);
        });
        let r = cpu.run(&mut reprise_jit::EmptyBus, 1000);
        assert!(matches!(r, reprise_jit::RunExit::Halted { .. }), "{r:?}");
        assert_eq!(cpu.state().gpr[3], 0xaaaa, "{tier:?}: 4 KiB page");
        assert_eq!(cpu.state().gpr[1], 0x1234, "{tier:?}: 4 MiB page");

        // PAE: PDPTE 0 -> PD; PDE 0 a 2 MiB page, PDE 2 a page table.
        let code = assemble(32, 0x1000, &|a| {
            a.mov(eax, 0x1_2000u32).unwrap();
            a.mov(cr3, eax).unwrap();
            a.mov(eax, 0x20u32).unwrap();
            a.mov(cr4, eax).unwrap();
            a.mov(eax, cr0).unwrap();
            a.or(eax, 0x8000_0000u32 as i32).unwrap();
            a.mov(cr0, eax).unwrap();
            a.mov(ebx, dword_ptr(0x40_0000)).unwrap();
            a.hlt().unwrap();
        });
        let mut cpu = protected_machine(tier, &code, &|ram| {
            ram.write_u64(0x1_2000, 0x1_3001);
            ram.write_u64(0x1_3000, 0x83);
            ram.write_u64(0x1_3010, 0x1_4003);
            ram.write_u64(0x1_4000, 0x60_2003);
            ram.write_u64(0x60_2000, 0xbbbb);
        });
        let r = cpu.run(&mut reprise_jit::EmptyBus, 1000);
        assert!(matches!(r, reprise_jit::RunExit::Halted { .. }), "{r:?}");
        assert_eq!(cpu.state().gpr[3], 0xbbbb, "{tier:?}: PAE");
        assert_eq!(cpu.state().efer & reprise_jit::state::EFER_LMA, 0);
    }
}
