//! Regions shaped like real loops: a quicksort (Hoare partition with inner scanning
//! loops, a swap path, a recursive call out of the loop and an insertion sort for short
//! ranges) run hot in the Cranelift tier must end exactly where the interpreter ends:
//! same registers, flags, memory and instruction count, also when the run is cut at
//! arbitrary instruction counts in the middle of the loops (the budget check on every
//! jump inside a region).

mod tier_pair;

use iced_x86::code_asm::*;
use reprise_jit::{Cpu, EmptyBus, RunExit, Tier};
use tier_pair::{assert_same, cut_at_limits, CODE};

const DATA: u64 = 0x18_0000;
/// 32-bit elements sorted.
const N: u64 = 3000;

/// qsort(rdi = base, rsi = count) on unsigned 32-bit elements, then HLT.
fn program() -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut qsort = a.create_label();
    let mut outer = a.create_label();
    let mut scan_i = a.create_label();
    let mut scan_j = a.create_label();
    let mut no_swap = a.create_label();
    let mut recurse_right = a.create_label();
    let mut small = a.create_label();
    let mut isort_outer = a.create_label();
    let mut isort_inner = a.create_label();
    let mut isort_place = a.create_label();
    let mut done = a.create_label();
    a.mov(rdi, DATA).unwrap();
    a.mov(rsi, N).unwrap();
    a.call(qsort).unwrap();
    a.pushfq().unwrap();
    a.pop(r11).unwrap();
    a.hlt().unwrap();

    // qsort: rbx = base, rbp = count (callee-saved across the recursion).
    a.set_label(&mut qsort).unwrap();
    a.push(rbx).unwrap();
    a.push(rbp).unwrap();
    a.mov(rbx, rdi).unwrap();
    a.mov(rbp, rsi).unwrap();
    a.set_label(&mut outer).unwrap();
    a.cmp(rbp, 12).unwrap();
    a.jle(small).unwrap();
    // pivot p = v[n / 2] in r8d; i = rcx = 0; j = rdx = n - 1
    a.mov(rax, rbp).unwrap();
    a.shr(rax, 1u32).unwrap();
    a.mov(r8d, dword_ptr(rbx + rax * 4)).unwrap();
    a.xor(ecx, ecx).unwrap();
    a.lea(rdx, qword_ptr(rbp - 1)).unwrap();
    a.set_label(&mut scan_i).unwrap();
    a.mov(eax, dword_ptr(rbx + rcx * 4)).unwrap();
    a.cmp(eax, r8d).unwrap();
    a.jae(scan_j).unwrap();
    a.inc(rcx).unwrap();
    a.jmp(scan_i).unwrap();
    a.set_label(&mut scan_j).unwrap();
    a.mov(r9d, dword_ptr(rbx + rdx * 4)).unwrap();
    a.cmp(r9d, r8d).unwrap();
    a.jbe(no_swap).unwrap();
    a.dec(rdx).unwrap();
    a.jmp(scan_j).unwrap();
    a.set_label(&mut no_swap).unwrap();
    a.cmp(rcx, rdx).unwrap();
    a.jg(recurse_right).unwrap();
    a.mov(dword_ptr(rbx + rcx * 4), r9d).unwrap();
    a.mov(dword_ptr(rbx + rdx * 4), eax).unwrap();
    a.inc(rcx).unwrap();
    a.dec(rdx).unwrap();
    a.cmp(rcx, rdx).unwrap();
    a.jle(scan_i).unwrap();
    // Left part [0, j] by recursion, then loop on the right part [i, n).
    a.set_label(&mut recurse_right).unwrap();
    a.push(rcx).unwrap();
    a.mov(rdi, rbx).unwrap();
    a.lea(rsi, qword_ptr(rdx + 1)).unwrap();
    a.call(qsort).unwrap();
    a.pop(rcx).unwrap();
    a.lea(rbx, qword_ptr(rbx + rcx * 4)).unwrap();
    a.sub(rbp, rcx).unwrap();
    a.jmp(outer).unwrap();

    // Insertion sort of [rbx, rbx + 4 * rbp).
    a.set_label(&mut small).unwrap();
    a.mov(ecx, 1u32).unwrap();
    a.set_label(&mut isort_outer).unwrap();
    a.cmp(rcx, rbp).unwrap();
    a.jge(done).unwrap();
    a.mov(eax, dword_ptr(rbx + rcx * 4)).unwrap();
    a.lea(rdx, qword_ptr(rcx - 1)).unwrap();
    a.set_label(&mut isort_inner).unwrap();
    a.test(rdx, rdx).unwrap();
    a.js(isort_place).unwrap();
    a.mov(r9d, dword_ptr(rbx + rdx * 4)).unwrap();
    a.cmp(r9d, eax).unwrap();
    a.jbe(isort_place).unwrap();
    a.mov(dword_ptr(rbx + rdx * 4 + 4), r9d).unwrap();
    a.dec(rdx).unwrap();
    a.jmp(isort_inner).unwrap();
    a.set_label(&mut isort_place).unwrap();
    a.mov(dword_ptr(rbx + rdx * 4 + 4), eax).unwrap();
    a.inc(rcx).unwrap();
    a.jmp(isort_outer).unwrap();
    a.set_label(&mut done).unwrap();
    a.pop(rbp).unwrap();
    a.pop(rbx).unwrap();
    a.ret().unwrap();
    a.assemble(CODE).unwrap()
}

fn machine(tier: Tier) -> Cpu {
    let mut x: u32 = 12345;
    let data: Vec<u8> = (0..N)
        .flat_map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x ^ (x >> 16)).to_le_bytes()
        })
        .collect();
    tier_pair::machine(
        &program(),
        tier,
        |ram, _| assert!(ram.write_at(DATA, &data)),
    )
}

fn sorted(cpu: &Cpu) -> bool {
    let start = DATA as usize;
    let Some(bytes) = cpu.ram().as_slice().get(start..start + 4 * N as usize) else {
        return false;
    };
    let v: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    v.windows(2).all(|w| w[0] <= w[1])
}

#[test]
fn quicksort_agrees_between_tiers() {
    let halted = RunExit::Halted {
        interrupts_enabled: false,
    };
    let mut a = machine(Tier::Interpreter);
    let mut b = machine(Tier::Tiered);
    assert_eq!(a.run(&mut EmptyBus, 10_000_000), halted);
    assert_eq!(b.run(&mut EmptyBus, 10_000_000), halted);
    assert!(sorted(&a), "the interpreter did not sort");
    assert!(
        b.stats().blocks_compiled >= 3,
        "the loops were not compiled"
    );
    assert_same(&a, &b, "whole run");
}

#[test]
fn quicksort_stops_exactly_at_every_limit() {
    // Cut the run at counts spread over the sort (odd steps, so that the stops land
    // on every position in the loops' blocks), then finish it.
    let halted = RunExit::Halted {
        interrupts_enabled: false,
    };
    let mut a = machine(Tier::Interpreter);
    let mut b = machine(Tier::Tiered);
    cut_at_limits(&mut a, &mut b, (0..60).map(|k| 97 + k * 1_013));
    assert!(
        b.stats().blocks_compiled >= 3,
        "the loops were not compiled"
    );
    assert_eq!(a.run(&mut EmptyBus, 10_000_000), halted);
    assert_eq!(b.run(&mut EmptyBus, 10_000_000), halted);
    assert_same(&a, &b, "after the limits");
    assert!(sorted(&b), "the tiered run did not sort");
}
