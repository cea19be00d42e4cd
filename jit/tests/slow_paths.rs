//! The memory slow path of compiled code: a TLB miss to RAM is served without leaving
//! the block, an access that reaches a device before the instruction did anything
//! leaves the block for the interpreter, and one that reaches a device after the
//! instruction already stored something (ENTER's frame-pointer copy after its push) is
//! completed in place with the exact count. Both tiers must agree on everything the
//! guest and the devices see.

mod interrupts_util;

use iced_x86::code_asm::*;
use interrupts_util::*;
use reprise_jit::{Cpu, RunExit, Tier};

/// First address past the tests' 16 MiB of RAM: the test bus answers there.
const DEVICE: u64 = 0x100_0000;

/// Runs `main` (64-bit code at [`CODE`], after `setup`) to its HLT in each tier.
fn run_tiers(
    main: impl Fn(&mut CodeAssembler) + Copy,
    setup: impl Fn(&mut Cpu),
) -> Vec<(Tier, Cpu, TestBus)> {
    TIERS
        .iter()
        .map(|&tier| {
            let mut cpu = cpu(tier);
            long_mode(&mut cpu, CODE);
            place(&mut cpu, 64, CODE, main);
            setup(&mut cpu);
            let mut bus = TestBus::default();
            let r = cpu.run(&mut bus, 100_000);
            assert!(matches!(r, RunExit::Halted { .. }), "{tier:?}: {r:?}");
            if tier == Tier::Tiered {
                assert!(cpu.stats().jit_entries > 0, "the loop was compiled");
            }
            (tier, cpu, bus)
        })
        .collect()
}

#[test]
fn tlb_misses_to_ram_stay_in_compiled_code() {
    // Two pages 4 MiB apart share a TLB index: every access evicts the other's entry.
    let main = |a: &mut CodeAssembler| {
        let mut top = a.create_label();
        a.mov(rsi, 0x20_0000u64).unwrap();
        a.mov(rdi, 0x60_0000u64).unwrap();
        a.mov(ecx, 500u32).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(rax, qword_ptr(rsi)).unwrap();
        a.add(rbx, rax).unwrap();
        a.mov(rax, qword_ptr(rdi)).unwrap();
        a.add(rbx, rax).unwrap();
        a.mov(qword_ptr(rsi + 8), rbx).unwrap();
        a.add(qword_ptr(rdi + 8), rcx).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    };
    let runs = run_tiers(main, |cpu| {
        write_u32(cpu, 0x20_0000, 7);
        write_u32(cpu, 0x60_0000, 11);
    });
    let mut results = Vec::new();
    for (tier, cpu, _) in runs {
        if tier == Tier::Tiered {
            // 500 iterations with two misses each: had any miss left compiled code,
            // the interpreter would have run hundreds of blocks.
            let n = cpu.stats().blocks_interpreted;
            assert!(
                n < 20,
                "misses to RAM left compiled code: {n} blocks interpreted"
            );
        }
        results.push((
            cpu.state().gpr,
            cpu.state().icount,
            read_u32(&cpu, 0x20_0008),
            read_u32(&cpu, 0x60_0008),
        ));
    }
    assert_eq!(results[0], results[1], "interpreter vs compiled");
    assert_eq!(results[0].0[3], 500 * 18, "rbx sums 7 + 11 per iteration");
}

#[test]
fn device_reads_before_and_after_a_store_of_the_same_instruction() {
    // `mov eax, [device]` reads before anything happened (the compiled block leaves,
    // the interpreter runs it); ENTER 16, 2 pushes RBP to RAM and then reads the outer
    // frame pointer from [RBP - 8], which is on the device (done in place, exactly
    // counted, leaving after the instruction).
    let main = |a: &mut CodeAssembler| {
        let mut top = a.create_label();
        a.mov(r15, rsp).unwrap();
        a.mov(ecx, 40u32).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(rsi, DEVICE + 0x40).unwrap();
        a.mov(eax, dword_ptr(rsi)).unwrap();
        a.add(r14, rax).unwrap();
        a.mov(rbp, DEVICE + 0x10).unwrap();
        a.enter(16u32, 2u32).unwrap();
        a.mov(rax, qword_ptr(rsp + 16)).unwrap();
        a.add(rbx, rax).unwrap();
        a.mov(rsp, r15).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    };
    let mut logs = Vec::new();
    for (tier, cpu, bus) in run_tiers(main, |_| {}) {
        assert_eq!(
            bus.mmio_reads.len(),
            80,
            "{tier:?}: two device reads per iteration"
        );
        logs.push((bus.mmio_reads, cpu.state().gpr, cpu.state().icount));
    }
    assert_eq!(
        logs[0], logs[1],
        "interpreter vs compiled: reads, counts, registers"
    );
}

#[test]
fn store_straddling_ram_and_a_device() {
    // A 16-byte SSE store (done by the SSE helper in compiled code) whose first half
    // is the last 8 bytes of RAM and whose second half is on the device.
    let main = |a: &mut CodeAssembler| {
        let mut top = a.create_label();
        a.mov(ecx, 30u32).unwrap();
        a.mov(rsi, DEVICE - 8).unwrap();
        a.set_label(&mut top).unwrap();
        a.movq(xmm0, rcx).unwrap();
        a.pshufd(xmm0, xmm0, 0x11).unwrap();
        a.movups(xmmword_ptr(rsi), xmm0).unwrap();
        a.inc(rbx).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    };
    let mut logs = Vec::new();
    for (tier, cpu, bus) in run_tiers(main, |_| {}) {
        assert_eq!(
            bus.mmio_writes.len(),
            30,
            "{tier:?}: one device write per store"
        );
        let ram_half = cpu.ram().read_u64(DEVICE - 8);
        logs.push((
            bus.mmio_writes,
            cpu.state().gpr,
            cpu.state().icount,
            ram_half,
        ));
    }
    assert_eq!(logs[0], logs[1], "interpreter vs compiled");
}
