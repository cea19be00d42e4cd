//! Stale translations must never run: compiled code reaches its indirect-jump and
//! return targets through the jump cache (one table per CPL), which INVLPG empties only
//! for the page it names (or the large page covering it). These tests call functions
//! through registers from hot, compiled loops, then change what the called address
//! maps to (or the privilege it runs at) and check that the new code runs. The
//! interpreter run is the reference; both tiers must also give the expected sums.

mod modes_harness;
use iced_x86::code_asm::*;
use modes_harness::*;
use reprise_jit::state::seg;
use reprise_jit::Tier;

/// A page table for 6..8 MiB (PD entry 3), replacing that 2 MiB page.
const PT: u64 = 0xc000;
/// Virtual address of the 4 KiB page whose mapping the 4 KiB test changes.
const V4K: u64 = 0x60_0000;
/// Two physical pages with different functions for `V4K`.
const P1: u64 = 0xd000;
const P2: u64 = 0xe000;
/// A 2 MiB page (PD entry 4) remapped from 8 MiB to 10 MiB by the large-page test.
const V2M: u64 = 0x80_0000;
const P2M_NEW: u64 = 0xa0_0000;
/// Offset of the called function inside the large page, and of a data word.
const FN_OFF: u64 = 0x345;
const DATA_OFF: u64 = 0x10_0008;

/// `add r15, imm; ret` assembled at `at`.
fn adder(at: u64, imm: i32) -> Vec<u8> {
    assemble(64, at, &|a| {
        a.add(r15, imm).unwrap();
        a.ret().unwrap();
    })
}

fn run_both(build: &dyn Fn(Tier) -> reprise_jit::Cpu, check: &dyn Fn(&reprise_jit::Cpu, Tier)) {
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = build(tier);
        run_to_halt(&mut cpu);
        check(&cpu, tier);
        if tier == Tier::Tiered {
            assert!(
                cpu.stats().blocks_compiled >= 3,
                "only {} blocks compiled",
                cpu.stats().blocks_compiled
            );
        }
        states.push((cpu.state().clone(), cpu.digest()));
    }
    assert_eq!(states[0], states[1], "tiers disagree");
}

#[test]
fn invlpg_of_a_4k_code_page_drops_its_jump_cache_entries() {
    remap_4k_code_page(&|a| {
        a.mov(rax, V4K).unwrap();
        a.invlpg(byte_ptr(rax)).unwrap();
    });
}

#[test]
fn cr3_write_drops_non_global_code_translations() {
    remap_4k_code_page(&|a| {
        a.mov(rax, cr3).unwrap();
        a.mov(cr3, rax).unwrap();
    });
}

/// 40 calls through RAX to V4K; after the 21st the PTE moves from P1 to P2 and the
/// kernel runs `flush`. Calls 1..=21 must add 1, calls 22..=40 add 1000.
fn remap_4k_code_page(flush: &dyn Fn(&mut CodeAssembler)) {
    run_both(
        &|tier| {
            let mut cpu = kernel_machine(
                tier,
                &|a| {
                    let mut top = a.create_label();
                    let mut skip = a.create_label();
                    a.mov(rbx, PT).unwrap();
                    a.xor(r15d, r15d).unwrap();
                    a.mov(ebp, 40u32).unwrap();
                    a.set_label(&mut top).unwrap();
                    a.mov(rax, V4K).unwrap();
                    a.call(rax).unwrap();
                    a.cmp(ebp, 20).unwrap();
                    a.jne(skip).unwrap();
                    a.mov(rcx, P2 | 3).unwrap();
                    a.mov(qword_ptr(rbx), rcx).unwrap();
                    flush(a);
                    a.set_label(&mut skip).unwrap();
                    a.dec(ebp).unwrap();
                    a.jnz(top).unwrap();
                },
                &|_| {},
                &|_| {},
            );
            let ram = cpu.ram_mut();
            assert!(ram.write_at(PD + 3 * 8, &(PT | 3).to_le_bytes()));
            assert!(ram.write_at(PT, &(P1 | 3).to_le_bytes()));
            assert!(ram.write_at(P1, &adder(V4K, 1)));
            assert!(ram.write_at(P2, &adder(V4K, 1000)));
            cpu
        },
        &|cpu, tier| {
            assert_eq!(report(cpu), None, "{tier:?}: unexpected exception");
            assert_eq!(cpu.state().gpr[15], 21 + 19 * 1000, "{tier:?}");
        },
    );
}

#[test]
fn invlpg_anywhere_in_a_large_page_drops_its_code_and_data() {
    // Calls to V2M + FN_OFF and reads of V2M + DATA_OFF through a 2 MiB page; after
    // the 21st round its PDE moves to P2M_NEW and the kernel INVLPGs a different 4 KiB
    // page inside it. Each round adds the call's value and the data word.
    run_both(
        &|tier| {
            let mut cpu = kernel_machine(
                tier,
                &|a| {
                    let mut top = a.create_label();
                    let mut skip = a.create_label();
                    a.mov(rbx, PD + 4 * 8).unwrap();
                    a.mov(rsi, V2M + DATA_OFF).unwrap();
                    a.xor(r15d, r15d).unwrap();
                    a.mov(ebp, 40u32).unwrap();
                    a.set_label(&mut top).unwrap();
                    a.mov(rax, V2M + FN_OFF).unwrap();
                    a.call(rax).unwrap();
                    a.add(r15, qword_ptr(rsi)).unwrap();
                    a.cmp(ebp, 20).unwrap();
                    a.jne(skip).unwrap();
                    a.mov(rcx, P2M_NEW | 0x83).unwrap();
                    a.mov(qword_ptr(rbx), rcx).unwrap();
                    a.mov(rax, V2M + 0x1f_0000).unwrap();
                    a.invlpg(byte_ptr(rax)).unwrap();
                    a.set_label(&mut skip).unwrap();
                    a.dec(ebp).unwrap();
                    a.jnz(top).unwrap();
                },
                &|_| {},
                &|_| {},
            );
            let ram = cpu.ram_mut();
            assert!(ram.write_at(V2M + FN_OFF, &adder(V2M + FN_OFF, 1)));
            assert!(ram.write_at(P2M_NEW + FN_OFF, &adder(V2M + FN_OFF, 1000)));
            assert!(ram.write_at(V2M + DATA_OFF, &10u64.to_le_bytes()));
            assert!(ram.write_at(P2M_NEW + DATA_OFF, &100_000u64.to_le_bytes()));
            cpu
        },
        &|cpu, tier| {
            assert_eq!(report(cpu), None, "{tier:?}: unexpected exception");
            assert_eq!(
                cpu.state().gpr[15],
                21 * (1 + 10) + 19 * (1000 + 100_000),
                "{tier:?}"
            );
        },
    );
}

/// Sets IOPL to 3 with POPF (only ring 0 can: above it IOPL keeps its value
/// silently, and the translation of POPF depends on the CPL), adds the IOPL it then
/// reads to R15, sets IOPL back to 0 and returns.
fn iopl_fn(at: u64) -> Vec<u8> {
    assemble(64, at, &|a| {
        a.pushfq().unwrap();
        a.pop(rcx).unwrap();
        a.or(rcx, 0x3000).unwrap();
        a.push(rcx).unwrap();
        a.popfq().unwrap();
        a.pushfq().unwrap();
        a.pop(rcx).unwrap();
        a.shr(rcx, 12).unwrap();
        a.and(ecx, 3).unwrap();
        a.add(r15, rcx).unwrap();
        a.pushfq().unwrap();
        a.pop(rcx).unwrap();
        a.and(rcx, !0x3000).unwrap();
        a.push(rcx).unwrap();
        a.popfq().unwrap();
        a.ret().unwrap();
    })
}

/// A function on the user page that behaves differently at ring 0 and ring 3.
const PRIV_FN: u64 = USER + 0x800;
/// A harmless function on the user page.
const PLAIN_FN: u64 = USER + 0x900;

#[test]
fn code_compiled_at_ring_0_never_runs_at_ring_3() {
    // The kernel calls PRIV_FN through RAX from a hot loop (compiled: its jump-cache
    // entry is filled at CPL 0; each call adds 3), then SYSRETs to ring 3, where a hot
    // loop calls PLAIN_FN 20 times and PRIV_FN the 21st time through the same kind of
    // indirect call. That call must run ring 3's translation (adds 0), not the ring-0
    // code. Ring 3 then executes HLT, which raises #GP.
    run_both(
        &|tier| {
            let mut cpu = kernel_machine(
                tier,
                &|a| {
                    let mut top = a.create_label();
                    a.xor(r15d, r15d).unwrap();
                    a.mov(ebp, 30u32).unwrap();
                    a.set_label(&mut top).unwrap();
                    a.mov(rax, PRIV_FN).unwrap();
                    a.call(rax).unwrap();
                    a.dec(ebp).unwrap();
                    a.jnz(top).unwrap();
                    to_user(a, KERNEL + 0xf00, 0x2);
                },
                &|a| {
                    let mut top = a.create_label();
                    a.mov(rsp, USTACK).unwrap();
                    a.mov(ebp, 21u32).unwrap();
                    a.mov(rdx, PRIV_FN).unwrap();
                    a.set_label(&mut top).unwrap();
                    a.mov(rax, PLAIN_FN).unwrap();
                    a.cmp(ebp, 1).unwrap();
                    a.cmove(rax, rdx).unwrap();
                    a.call(rax).unwrap();
                    a.dec(ebp).unwrap();
                    a.jnz(top).unwrap();
                    a.hlt().unwrap();
                },
                &set_tr,
            );
            let ram = cpu.ram_mut();
            assert!(ram.write_at(PRIV_FN, &iopl_fn(PRIV_FN)));
            assert!(ram.write_at(PLAIN_FN, &adder(PLAIN_FN, 1000)));
            cpu
        },
        &|cpu, tier| {
            let (vector, error, rip, code_seg) = report(cpu).expect("no exception");
            assert_eq!((vector, error), (13, 0), "{tier:?}");
            assert_eq!(rip & !0xfff, USER, "{tier:?}: #GP not from ring 3's HLT");
            assert_eq!(code_seg, UCODE64 as u64 | 3, "{tier:?}");
            assert_eq!(cpu.state().gpr[15], 30 * 3 + 20 * 1000, "{tier:?}");
            assert_eq!(cpu.state().segs[seg::CS].selector, KCODE as u64);
        },
    );
}

#[test]
fn code_compiled_at_ring_3_is_not_taken_for_ring_0_code() {
    // The reverse: ring 3 calls a function through RAX from a hot loop, then makes a
    // system call; the kernel's hot loop calls PLAIN_FN 20 times and then the same
    // function once. Its POPF may change IOPL at ring 0 only (CPL is part of its
    // translation), so ring 3 must add 0 each time and the kernel 3.
    const ENTRY: u64 = KERNEL + 0xf00;
    const IOPL_FN: u64 = USER + 0xa00;
    run_both(
        &|tier| {
            let mut cpu = kernel_machine(
                tier,
                &|a| to_user(a, ENTRY, 0x2),
                &|a| {
                    let mut top = a.create_label();
                    a.mov(rsp, USTACK).unwrap();
                    a.xor(r15d, r15d).unwrap();
                    a.mov(ebp, 30u32).unwrap();
                    a.set_label(&mut top).unwrap();
                    a.mov(rax, IOPL_FN).unwrap();
                    a.call(rax).unwrap();
                    a.dec(ebp).unwrap();
                    a.jnz(top).unwrap();
                    a.syscall().unwrap();
                },
                &set_tr,
            );
            let ram = cpu.ram_mut();
            let f = iopl_fn(IOPL_FN);
            assert!(ram.write_at(IOPL_FN, &f));
            let entry = assemble(64, ENTRY, &|a| {
                let mut top = a.create_label();
                a.mov(rsp, KSTACK).unwrap();
                a.mov(r14, u64::MAX).unwrap();
                a.mov(ebp, 21u32).unwrap();
                a.mov(rdx, IOPL_FN).unwrap();
                a.set_label(&mut top).unwrap();
                a.mov(rax, PLAIN_FN).unwrap();
                a.cmp(ebp, 1).unwrap();
                a.cmove(rax, rdx).unwrap();
                a.call(rax).unwrap();
                a.dec(ebp).unwrap();
                a.jnz(top).unwrap();
                a.hlt().unwrap();
            });
            assert!(ram.write_at(ENTRY, &entry));
            assert!(ram.write_at(PLAIN_FN, &adder(PLAIN_FN, 1000)));
            cpu
        },
        &|cpu, tier| {
            assert_eq!(report(cpu), None, "{tier:?}: unexpected exception");
            let want = 20 * 1000 + 3;
            assert_eq!(cpu.state().gpr[15], want, "{tier:?}");
        },
    );
}
