//! Privilege: #GP(0) for privileged instructions at CPL 3 (delivered through the
//! 64-bit IDT to ring 0), port I/O through IOPL and the TSS I/O bitmap, CLI/STI with
//! IOPL, STAC/CLAC #UD at CPL 3.

mod modes_harness;
use iced_x86::code_asm::*;
use modes_harness::*;
use reprise_jit::state::{CR4_OSXSAVE, CR4_SMAP};

const SYSCALL_ENTRY: u64 = KERNEL + 0x800;

/// Runs `insn` at ring 3 (followed by SYSCALL) and returns what the handler saw, or
/// None if the instruction completed and SYSCALL came back.
fn at_ring3(
    insn: &dyn Fn(&mut CodeAssembler),
    user_flags: u64,
) -> Vec<Option<(u64, u64, u64, u64)>> {
    TIERS
        .iter()
        .map(|&tier| {
            let mut cpu = kernel_machine(
                tier,
                &|a| {
                    to_user(a, SYSCALL_ENTRY, user_flags);
                },
                &|a| {
                    a.mov(rsp, USTACK).unwrap();
                    a.mov(rax, DATA).unwrap();
                    insn(a);
                    a.syscall().unwrap();
                },
                &|st| {
                    set_tr(st);
                    st.cr4 |= CR4_OSXSAVE;
                },
            );
            // The SYSCALL entry halts at ring 0.
            let hlt = [0xf4u8];
            cpu.ram_mut().write_at(SYSCALL_ENTRY, &hlt);
            run_to_halt(&mut cpu);
            report(&cpu)
        })
        .collect()
}

fn expect_gp0(name: &str, insn: &dyn Fn(&mut CodeAssembler)) {
    expect_gp0_at(name, 0, insn)
}

/// `skip`: bytes of setup instructions before the faulting one.
fn expect_gp0_at(name: &str, skip: u64, insn: &dyn Fn(&mut CodeAssembler)) {
    for r in at_ring3(insn, 0x2) {
        let (v, code, rip, pushed_cs) = r.unwrap_or_else(|| panic!("{name}: no fault at CPL 3"));
        assert_eq!(v, 13, "{name}: vector");
        assert_eq!(code, 0, "{name}: error code");
        // mov rsp, imm64 (10 bytes) + mov rax, imm64 (10 bytes).
        assert_eq!(rip, USER + 20 + skip, "{name}: faulting RIP");
        assert_eq!(pushed_cs, (UCODE64 | 3) as u64, "{name}: CS pushed");
    }
}

#[test]
fn privileged_instructions_raise_gp0_at_cpl3() {
    expect_gp0("hlt", &|a| a.hlt().unwrap());
    expect_gp0("cli", &|a| a.cli().unwrap());
    expect_gp0("sti", &|a| a.sti().unwrap());
    expect_gp0("mov cr0", &|a| a.mov(cr0, rax).unwrap());
    expect_gp0("read cr3", &|a| a.mov(rbx, cr3).unwrap());
    expect_gp0("read cr8", &|a| a.mov(rbx, cr8).unwrap());
    expect_gp0("mov dr7", &|a| a.mov(dr7, rax).unwrap());
    expect_gp0("rdmsr", &|a| a.rdmsr().unwrap());
    expect_gp0("wrmsr", &|a| a.wrmsr().unwrap());
    expect_gp0("invlpg", &|a| a.invlpg(byte_ptr(rax)).unwrap());
    expect_gp0("lgdt", &|a| a.lgdt(ptr(rax)).unwrap());
    expect_gp0("lidt", &|a| a.lidt(ptr(rax)).unwrap());
    expect_gp0("lldt", &|a| a.lldt(ax).unwrap());
    expect_gp0("ltr", &|a| a.ltr(ax).unwrap());
    expect_gp0("clts", &|a| a.clts().unwrap());
    expect_gp0("lmsw", &|a| a.lmsw(ax).unwrap());
    expect_gp0("wbinvd", &|a| a.wbinvd().unwrap());
    expect_gp0("invd", &|a| a.invd().unwrap());
    expect_gp0("swapgs", &|a| a.swapgs().unwrap());
    expect_gp0("sysretq", &|a| a.sysretq().unwrap());
    expect_gp0("xsetbv", &|a| a.xsetbv().unwrap());
    expect_gp0("out 0x80", &|a| a.out(0x80i32, al).unwrap());
    expect_gp0_at("in dx=0x71 word", 4, &|a| {
        // Ports 0x71 and 0x72: 0x72 is denied.
        a.mov(dx, 0x71u32).unwrap();
        a.in_(ax, dx).unwrap();
    });
}

#[test]
fn unprivileged_system_instructions_work_at_cpl3() {
    for insn in [
        &(|a: &mut CodeAssembler| a.sgdt(ptr(rax)).unwrap()) as &dyn Fn(&mut CodeAssembler),
        &|a| a.str(bx).unwrap(),
        &|a| a.smsw(bx).unwrap(),
        &|a| a.in_(al, 0x70i32).unwrap(),
        &|a| {
            a.mov(dx, 0x70u32).unwrap();
            a.out(dx, ax).unwrap();
        },
        &|a| a.rdtscp().unwrap(),
        &|a| a.cpuid().unwrap(),
        &|a| {
            a.xor(ecx, ecx).unwrap();
            a.xgetbv().unwrap();
        },
    ]
    .iter()
    .enumerate()
    {
        for r in at_ring3(insn.1, 0x2) {
            assert_eq!(r, None, "instruction {}", insn.0);
        }
    }
}

#[test]
fn iopl3_allows_port_io_and_cli_at_cpl3() {
    for r in at_ring3(
        &|a| {
            a.out(0x80i32, al).unwrap();
            a.cli().unwrap();
            a.sti().unwrap();
        },
        0x3002,
    ) {
        assert_eq!(r, None);
    }
}

#[test]
fn stac_clac_are_ud_at_cpl3() {
    for r in at_ring3(&|a| a.stac().unwrap(), 0x2) {
        assert_eq!(r.map(|r| r.0), Some(6));
    }
}

#[test]
fn smap_blocks_kernel_access_to_user_pages_unless_ac() {
    for tier in TIERS {
        // Kernel reads a user page (all pages are user pages here): #PF with SMAP,
        // fine after STAC.
        let mut cpu = kernel_machine_ex(
            tier,
            &|a| {
                a.mov(rax, DATA).unwrap();
                a.stac().unwrap();
                a.mov(rbx, qword_ptr(rax)).unwrap();
                a.clac().unwrap();
                a.mov(rbx, qword_ptr(rax)).unwrap();
            },
            &|_| {},
            &|st| st.cr4 |= CR4_SMAP,
            false,
        );
        run_to_halt(&mut cpu);
        let (v, code, rip, _) = report(&cpu).expect("no #PF");
        assert_eq!(v, 14);
        assert_eq!(code, 1, "present, read, supervisor");
        // mov rax (10) + stac (3) + mov (3) + clac (3).
        assert_eq!(rip, KERNEL + 19);
        assert_eq!(cpu.state().cr2, DATA);
    }
}
