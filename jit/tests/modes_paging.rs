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
