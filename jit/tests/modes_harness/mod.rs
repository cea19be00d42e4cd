//! A small 64-bit "kernel" for the mode and privilege tests: a GDT with ring-0 and
//! ring-3 segments and a TSS, an IDT whose handlers record the vector, error code and
//! faulting RIP and halt, page tables that let ring 3 in, and helpers to run code in
//! both tiers and compare them.
#![allow(dead_code)]

use iced_x86::code_asm::*;
use reprise_jit::{boot, Cpu, CpuConfig, CpuState, EmptyBus, GuestRam, RunExit, Tier};

pub const GDT: u64 = 0x1000;
pub const PML4: u64 = 0x2000;
pub const PDPT: u64 = 0x3000;
pub const PD: u64 = 0xb000;
pub const TSS: u64 = 0x4000;
pub const IDT: u64 = 0x8000;
pub const HANDLERS: u64 = 0x9000;
pub const KSTACK: u64 = 0x7_f000;
pub const KERNEL: u64 = 0x10_0000;
pub const USER: u64 = 0x20_0000;
pub const USTACK: u64 = 0x2f_f000;
pub const DATA: u64 = 0x30_0000;
/// Handlers store (vector, error code, RIP, CS) here as well as in R14, R13, R12, R11.
pub const REPORT: u64 = 0x50_0000;

pub const KCODE: u16 = 0x08;
pub const KDATA: u16 = 0x10;
pub const UCODE32: u16 = 0x18;
pub const UDATA: u16 = 0x20;
pub const UCODE64: u16 = 0x28;
pub const TSS_SEL: u16 = 0x30;
/// Descriptors for the failure tests: not-present data, not-present writable data
/// (for SS), a not-present code segment, a 32-bit code segment, a DPL-3 data segment.
pub const NP_DATA: u16 = 0x40;
pub const NP_STACK: u16 = 0x48;
pub const NP_CODE: u16 = 0x50;
pub const KCODE32: u16 = 0x58;
pub const GDT_LIMIT: u32 = 0x60 - 1;

/// The I/O bitmap lets ring 3 use ports 0x70 and 0x71 only.
pub const IO_BITMAP: u64 = 0x68;
pub const TSS_LIMIT: u32 = (IO_BITMAP + 8192) as u32;

pub fn gdt_entries() -> Vec<u64> {
    let tss_lo = (TSS_LIMIT as u64 & 0xffff)
        | (TSS & 0xff_ffff) << 16
        | 0x89u64 << 40
        | ((TSS_LIMIT as u64 >> 16) & 0xf) << 48
        | (TSS >> 24 & 0xff) << 56;
    vec![
        0,
        0x00af_9a00_0000_ffff, // 0x08 kernel code 64
        0x00cf_9200_0000_ffff, // 0x10 kernel data
        0x00cf_fa00_0000_ffff, // 0x18 user code 32
        0x00cf_f200_0000_ffff, // 0x20 user data
        0x00af_fa00_0000_ffff, // 0x28 user code 64
        tss_lo,                // 0x30 TSS (16 bytes)
        TSS >> 32,
        0x00cf_1200_0000_ffff, // 0x40 data, not present
        0x00cf_1200_0000_ffff, // 0x48 writable data, not present
        0x00af_1a00_0000_ffff, // 0x50 code, not present
        0x00cf_9a00_0000_ffff, // 0x58 kernel code 32
    ]
}

/// Vectors whose handlers find an error code on the stack.
fn has_error_code(v: u64) -> bool {
    matches!(v, 8 | 10..=14 | 17)
}

/// Builds handler stubs at fixed 16-byte slots (jumping to a common tail).
fn handler_image() -> Vec<u8> {
    let tail = HANDLERS + 32 * 16;
    let mut img = vec![0xccu8; 32 * 16];
    for v in 0..32u64 {
        let mut a = CodeAssembler::new(64).unwrap();
        if !has_error_code(v) {
            a.push(0i32).unwrap();
        }
        a.mov(r14d, v as u32).unwrap();
        a.jmp(tail).unwrap();
        let b = a.assemble(HANDLERS + v * 16).unwrap();
        assert!(b.len() <= 16);
        img[(v * 16) as usize..(v * 16) as usize + b.len()].copy_from_slice(&b);
    }
    let mut a = CodeAssembler::new(64).unwrap();
    a.mov(r13, qword_ptr(rsp)).unwrap();
    a.mov(r12, qword_ptr(rsp + 8)).unwrap();
    a.mov(r11, qword_ptr(rsp + 16)).unwrap();
    a.mov(rax, REPORT).unwrap();
    a.mov(qword_ptr(rax), r14).unwrap();
    a.mov(qword_ptr(rax + 8), r13).unwrap();
    a.mov(qword_ptr(rax + 16), r12).unwrap();
    a.mov(qword_ptr(rax + 24), r11).unwrap();
    a.hlt().unwrap();
    img.extend(a.assemble(tail).unwrap());
    img
}

pub fn assemble(bits: u32, at: u64, build: &dyn Fn(&mut CodeAssembler)) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    build(&mut a);
    a.assemble(at).unwrap()
}

/// A machine in 64-bit ring 0 at KERNEL with the test GDT, IDT, TSS (not loaded:
/// TR is set directly unless `ltr` code does it) and user-accessible identity paging.
pub fn kernel_machine(
    tier: Tier,
    kernel: &dyn Fn(&mut CodeAssembler),
    user: &dyn Fn(&mut CodeAssembler),
    tweak: &dyn Fn(&mut CpuState),
) -> Cpu {
    kernel_machine_ex(tier, kernel, user, tweak, true)
}

/// `low_user`: make the first 2 MiB (GDT, IDT, TSS, handlers, kernel) a user page.
/// Exception delivery in jit/src/interrupts.rs reads the IDT, GDT and TSS with the
/// privilege of the interrupted code, so a fault at CPL 3 needs them user-readable
/// until it uses implicit supervisor accesses (`mmu::read_sys`).
pub fn kernel_machine_ex(
    tier: Tier,
    kernel: &dyn Fn(&mut CodeAssembler),
    user: &dyn Fn(&mut CodeAssembler),
    tweak: &dyn Fn(&mut CpuState),
    low_user: bool,
) -> Cpu {
    let mut ram = GuestRam::new(16).unwrap();
    let mut st = CpuState::default();
    boot::enter_long_mode(&mut ram, &mut st, KERNEL);
    // The first GiB in 2 MiB pages: 2..4 MiB (user code, stack, data) is a user page,
    // the rest supervisor-only. Above: supervisor 1 GiB pages.
    ram.write_u64(PML4, PDPT | 7);
    ram.write_u64(PDPT, PD | 7);
    for g in 1..4u64 {
        ram.write_u64(PDPT + g * 8, (g << 30) | 0x83);
    }
    for m in 0..512u64 {
        let user = if m == 1 || (m == 0 && low_user) { 4 } else { 0 };
        ram.write_u64(PD + m * 8, (m << 21) | 0x83 | user);
    }
    for (k, d) in gdt_entries().iter().enumerate() {
        ram.write_u64(GDT + 8 * k as u64, *d);
    }
    st.gdtr.base = GDT;
    st.gdtr.limit = GDT_LIMIT;
    // TSS: RSP0, I/O bitmap base, bitmap denying all but ports 0x70/0x71.
    ram.write_u64(TSS + 4, KSTACK);
    let mut bitmap = vec![0xffu8; 8193];
    // Ports 0x70 and 0x71: bits 0 and 1 of byte 0x70 / 8.
    bitmap[0x70 / 8] &= !3;
    let mut tss_tail = vec![0u8; 2];
    tss_tail.copy_from_slice(&(IO_BITMAP as u16).to_le_bytes());
    assert!(ram.write_at(TSS + 0x66, &tss_tail));
    assert!(ram.write_at(TSS + IO_BITMAP, &bitmap));
    // IDT: 32 interrupt gates to the handler stubs, DPL 0.
    for v in 0..32u64 {
        let h = HANDLERS + v * 16;
        let lo = (h & 0xffff) | (KCODE as u64) << 16 | 0x8e00u64 << 32 | (h >> 16 & 0xffff) << 48;
        ram.write_u64(IDT + v * 16, lo);
        ram.write_u64(IDT + v * 16 + 8, h >> 32);
    }
    st.idtr.base = IDT;
    st.idtr.limit = 32 * 16 - 1;
    assert!(ram.write_at(HANDLERS, &handler_image()));
    let k = assemble(64, KERNEL, &|a| {
        kernel(a);
        a.hlt().unwrap();
    });
    assert!(ram.write_at(KERNEL, &k));
    let u = assemble(64, USER, user);
    assert!(ram.write_at(USER, &u));
    st.gpr[4] = KSTACK;
    st.gpr[14] = u64::MAX;
    tweak(&mut st);
    let cfg = CpuConfig {
        tier,
        hot_threshold: 2,
        ..Default::default()
    };
    let mut cpu = Cpu::new(ram, cfg).unwrap();
    *cpu.state_mut() = st;
    cpu
}

/// Loads TR with the test TSS without LTR.
pub fn set_tr(st: &mut CpuState) {
    st.tr = reprise_jit::state::Segment {
        selector: TSS_SEL as u64,
        base: TSS,
        limit: TSS_LIMIT,
        attr: 0x8b,
    };
}

/// Kernel prologue: STAR/LSTAR/FMASK for SYSCALL, then SYSRETQ to USER at ring 3
/// (RFLAGS = `user_flags`).
pub fn to_user(a: &mut CodeAssembler, syscall_entry: u64, user_flags: u64) {
    wrmsr(
        a,
        0xc000_0081,
        (UCODE32 as u64) << 48 | (KCODE as u64) << 32,
    );
    wrmsr(a, 0xc000_0082, syscall_entry);
    wrmsr(a, 0xc000_0084, 0x200);
    a.mov(rcx, USER).unwrap();
    a.mov(r11, user_flags).unwrap();
    a.sysretq().unwrap();
}

pub fn wrmsr(a: &mut CodeAssembler, msr: u32, v: u64) {
    a.mov(ecx, msr).unwrap();
    a.mov(eax, v as u32).unwrap();
    a.mov(edx, (v >> 32) as u32).unwrap();
    a.wrmsr().unwrap();
}

pub fn run_to_halt(cpu: &mut Cpu) {
    let r = cpu.run(&mut EmptyBus, 1_000_000);
    assert!(matches!(r, RunExit::Halted { .. }), "{r:?}");
}

/// The exception a handler recorded: (vector, error code, RIP, CS), or None.
pub fn report(cpu: &Cpu) -> Option<(u64, u64, u64, u64)> {
    let st = cpu.state();
    (st.gpr[14] != u64::MAX).then_some((st.gpr[14], st.gpr[13], st.gpr[12], st.gpr[11]))
}

pub const TIERS: [Tier; 2] = [Tier::Interpreter, Tier::Tiered];
