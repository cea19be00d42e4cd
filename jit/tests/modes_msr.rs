//! MSRs (read-back, TSC offset, PAT/MTRR validity, APIC base and the device MSRs
//! forwarded to the bus), CPUID values, XSAVE/XRSTOR and XGETBV/XSETBV.

mod modes_harness;
use iced_x86::code_asm::*;
use modes_harness::*;
use reprise_jit::state::CR4_OSXSAVE;
use reprise_jit::{cpuid, Bus, BusAction, Cpu, RunExit};

/// Records device MSR traffic; implements x2APIC register 0x808 (TPR) only.
#[derive(Default)]
struct MsrBus {
    writes: Vec<(u32, u64)>,
    tpr: u64,
}

impl Bus for MsrBus {
    fn port_in(&mut self, _: u16, _: u8, _: u64) -> u32 {
        0
    }
    fn port_out(&mut self, _: u16, _: u8, _: u32, _: u64) -> BusAction {
        BusAction::Continue
    }
    fn mmio_read(&mut self, _: u64, _: u8, _: u64) -> u64 {
        0
    }
    fn mmio_write(&mut self, _: u64, _: u8, _: u64, _: u64) -> BusAction {
        BusAction::Continue
    }
    fn msr_read(&mut self, msr: u32, _: u64) -> Option<u64> {
        (msr == 0x808).then_some(self.tpr)
    }
    fn msr_write(&mut self, msr: u32, v: u64, _: u64) -> Option<BusAction> {
        self.writes.push((msr, v));
        if msr == 0x808 {
            self.tpr = v;
            return Some(BusAction::Continue);
        }
        None
    }
}

fn rdmsr_to(a: &mut CodeAssembler, msr: u32, dst: AsmRegister64) {
    a.mov(ecx, msr).unwrap();
    a.rdmsr().unwrap();
    a.shl(rdx, 32).unwrap();
    a.or(rax, rdx).unwrap();
    a.mov(dst, rax).unwrap();
}

fn run_bus(cpu: &mut Cpu, bus: &mut MsrBus) {
    let r = cpu.run(bus, 1_000_000);
    assert!(matches!(r, RunExit::Halted { .. }), "{r:?}");
}

#[test]
fn msrs_read_back() {
    for tier in TIERS {
        let mut bus = MsrBus::default();
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                rdmsr_to(a, 0x277, r8); // PAT reset value
                rdmsr_to(a, 0x1b, r9); // APIC base reset value
                wrmsr(a, 0x277, 0x0001_0406_0007_0406);
                rdmsr_to(a, 0x277, r10);
                wrmsr(a, 0x200, 0x8000_0006);
                wrmsr(a, 0x201, 0xf_ffff_f800);
                rdmsr_to(a, 0x200, r11);
                rdmsr_to(a, 0x201, r12);
                wrmsr(a, 0x2ff, 0xc06);
                rdmsr_to(a, 0x2ff, r13);
                wrmsr(a, 0x26f, 0x0606_0606_0606_0606);
                rdmsr_to(a, 0x26f, r15);
                rdmsr_to(a, 0xfe, rsi);
                wrmsr(a, 0xc000_0103, 0x42);
                a.rdtscp().unwrap();
                a.mov(rdi, rcx).unwrap();
                wrmsr(a, 0xc000_0084, 0x4_0700);
                rdmsr_to(a, 0xc000_0084, rbp);
                wrmsr(a, 0x8b, 0);
                rdmsr_to(a, 0x3a, r14);
                wrmsr(a, 0x1b, 0xfee0_0d00);
                wrmsr(a, 0x808, 0x20);
                rdmsr_to(a, 0x808, rbx);
            },
            &|_| {},
            &|_| {},
        );
        run_bus(&mut cpu, &mut bus);
        let st = cpu.state();
        assert_eq!(
            cpu.ram().read_u64(REPORT),
            Some(0),
            "{tier:?}: an exception"
        );
        assert_eq!(st.gpr[14], 1, "FEATURE_CONTROL locked");
        assert_eq!(st.gpr[8], 0x0007_0406_0007_0406);
        assert_eq!(st.gpr[9], 0xfee0_0900);
        assert_eq!(st.gpr[10], 0x0001_0406_0007_0406);
        assert_eq!(st.gpr[11], 0x8000_0006);
        assert_eq!(st.gpr[12], 0xf_ffff_f800);
        assert_eq!(st.gpr[13], 0xc06);
        assert_eq!(st.gpr[15], 0x0606_0606_0606_0606);
        assert_eq!(st.gpr[6], 0x508, "MTRRcap");
        assert_eq!(st.gpr[7], 0x42, "RDTSCP returns TSC_AUX");
        assert_eq!(st.gpr[5], 0x4_0700);
        assert_eq!(st.gpr[3], 0x20, "x2APIC MSR read through the bus");
        assert_eq!(st.msr.apic_base, 0xfee0_0d00);
        assert_eq!(bus.writes, vec![(0x1b, 0xfee0_0d00), (0x808, 0x20)]);
    }
}

#[test]
fn invalid_msr_writes_and_unknown_msrs_are_gp() {
    let cases: Vec<(u32, u64)> = vec![
        (0x277, 0x0002_0406_0007_0406),  // PAT type 2 is reserved
        (0x2ff, 0x1000),                 // MTRRdefType reserved bit
        (0x200, 0x8000_0003),            // MTRR type 3 reserved
        (0xc000_0082, 0x8000_0000_0000), // LSTAR not canonical
        (0xc000_0100, 0x8000_0000_0000), // FS_BASE not canonical
        (0xc000_0080, 1 << 12),          // EFER reserved bit
        (0x1234, 0),                     // unknown
        (0x809, 0),                      // device MSR nobody implements
        (0x1b, 0xfee0_0400),             // x2APIC without global enable
    ];
    for (msr, v) in cases {
        for tier in TIERS {
            let mut bus = MsrBus::default();
            let mut cpu = kernel_machine(tier, &|a| wrmsr(a, msr, v), &|_| {}, &|_| {});
            run_bus(&mut cpu, &mut bus);
            assert_eq!(
                report(&cpu).map(|r| (r.0, r.1)),
                Some((13, 0)),
                "wrmsr {msr:#x}"
            );
        }
    }
    for tier in TIERS {
        let mut bus = MsrBus::default();
        let mut cpu = kernel_machine(tier, &|a| rdmsr_to(a, 0x6e0, rbx), &|_| {}, &|_| {});
        run_bus(&mut cpu, &mut bus);
        assert_eq!(
            report(&cpu).map(|r| r.0),
            Some(13),
            "TSC deadline without a device"
        );
    }
}

#[test]
fn tsc_write_sets_an_offset() {
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                wrmsr(a, 0x10, 0x10_0000_0000);
                a.rdtsc().unwrap();
                a.shl(rdx, 32).unwrap();
                a.or(rax, rdx).unwrap();
                a.mov(rbx, rax).unwrap();
                rdmsr_to(a, 0x10, r8);
            },
            &|_| {},
            &|_| {},
        );
        run_to_halt(&mut cpu);
        let st = cpu.state();
        // A 1 GHz TSC at 8 ns per instruction: a few instructions later.
        assert!(
            st.gpr[3] > 0x10_0000_0000 && st.gpr[3] < 0x10_0000_0000 + 100,
            "{:#x}",
            st.gpr[3]
        );
        assert!(st.gpr[8] > st.gpr[3] && st.gpr[8] < st.gpr[3] + 100);
        assert_eq!(
            st.gpr[3] - 0x10_0000_0000,
            8,
            "RDTSC retires one instruction after WRMSR"
        );
    }
}

#[test]
fn cpuid_model() {
    let l0 = cpuid::cpuid(0, 0);
    assert!(l0[0] >= 0x16);
    assert_eq!(
        &[l0[1], l0[3], l0[2]].map(u32::to_le_bytes).concat(),
        b"GenuineIntel"
    );
    let l1 = cpuid::cpuid(1, 0);
    assert_eq!(l1[1] >> 24, 0, "APIC ID 0");
    for bit in [21, 24, 26, 31] {
        assert_ne!(l1[2] & 1 << bit, 0, "leaf 1 ECX bit {bit}");
    }
    assert_eq!(l1[2] & 1 << 27, 0, "OSXSAVE follows CR4");
    for bit in [3, 9, 11, 12, 13, 16] {
        assert_ne!(l1[3] & 1 << bit, 0, "leaf 1 EDX bit {bit}");
    }
    let l7 = cpuid::cpuid(7, 0);
    for bit in [0, 3, 7, 20] {
        assert_ne!(l7[1] & 1 << bit, 0, "leaf 7 EBX bit {bit}");
    }
    assert_eq!(cpuid::cpuid(0xd, 0), [3, 576, 576, 0]);
    let l15 = cpuid::cpuid(0x15, 0);
    assert_eq!(l15[2] as u64 * l15[1] as u64 / l15[0] as u64, 1_000_000_000);
    assert_eq!(cpuid::cpuid(0xb, 0)[1], 1);
    assert_eq!(cpuid::cpuid(0xb, 1)[2] >> 8 & 0xff, 2, "core level");
    let e1 = cpuid::cpuid(0x8000_0001, 0);
    for bit in [11, 20, 26, 27, 29] {
        assert_ne!(e1[3] & 1 << bit, 0, "ext leaf 1 EDX bit {bit}");
    }
    assert_eq!(cpuid::cpuid(0x8000_0000, 0)[0], 0x8000_0008);
    assert_eq!(cpuid::cpuid(0x4000_0000, 0)[0], 0x4000_0000);
}

#[test]
fn cpuid_reflects_osxsave_in_the_guest() {
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                a.mov(eax, 1u32).unwrap();
                a.cpuid().unwrap();
                a.mov(r8d, ecx).unwrap();
                a.mov(rax, cr4).unwrap();
                a.bts(eax, 18).unwrap();
                a.mov(cr4, rax).unwrap();
                a.mov(eax, 1u32).unwrap();
                a.cpuid().unwrap();
                a.mov(r9d, ecx).unwrap();
            },
            &|_| {},
            &|_| {},
        );
        run_to_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(st.gpr[8] & 1 << 27, 0);
        assert_ne!(st.gpr[9] & 1 << 27, 0);
    }
}

#[test]
fn xsave_xrstor_round_trip() {
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                a.xor(ecx, ecx).unwrap();
                a.xgetbv().unwrap();
                a.mov(r8, rax).unwrap();
                a.mov(eax, 3u32).unwrap();
                a.xor(edx, edx).unwrap();
                a.xsetbv().unwrap();
                a.mov(rbx, DATA).unwrap();
                a.mov(rax, 0x1234_5678_9abc_def0u64).unwrap();
                a.movq(xmm3, rax).unwrap();
                a.fld1().unwrap();
                a.fldpi().unwrap();
                a.mov(eax, 3u32).unwrap();
                a.xor(edx, edx).unwrap();
                a.xsave(ptr(rbx)).unwrap();
                a.pxor(xmm3, xmm3).unwrap();
                a.fninit().unwrap();
                a.fldz().unwrap();
                a.mov(eax, 3u32).unwrap();
                a.xrstor(ptr(rbx)).unwrap();
                a.movq(r9, xmm3).unwrap();
                a.fstp(qword_ptr(rbx + 0x400)).unwrap();
                a.fstp(qword_ptr(rbx + 0x408)).unwrap();
                a.mov(r10, qword_ptr(rbx + 512)).unwrap();
                // XRSTOR of x87 only with XSTATE_BV[0] = 0: the x87 state is reset.
                a.fld1().unwrap();
                a.mov(qword_ptr(rbx + 512), 0i32).unwrap();
                a.mov(eax, 1u32).unwrap();
                a.xrstor(ptr(rbx)).unwrap();
                a.fnstsw(ax).unwrap();
                a.mov(r11d, eax).unwrap();
                a.fnstcw(word_ptr(rbx + 0x410)).unwrap();
            },
            &|_| {},
            &|st| st.cr4 |= CR4_OSXSAVE,
        );
        run_to_halt(&mut cpu);
        let st = cpu.state();
        assert_eq!(report(&cpu), None, "{tier:?}");
        assert_eq!(st.gpr[8], 1, "XCR0 reset value");
        assert_eq!(st.xcr0, 3);
        assert_eq!(st.gpr[9], 0x1234_5678_9abc_def0, "XMM3 restored");
        let ram = cpu.ram();
        assert_eq!(
            ram.read_u64(DATA + 0x400),
            Some(std::f64::consts::PI.to_bits())
        );
        assert_eq!(ram.read_u64(DATA + 0x408), Some(1f64.to_bits()));
        assert_eq!(st.gpr[10], 3, "XSTATE_BV");
        assert_eq!(st.gpr[11] & 0x3800, 0, "TOP reset by the init restore");
        assert_eq!(ram.read_u64(DATA + 0x410).map(|v| v as u16), Some(0x37f));
        assert_eq!(st.fpu.ftw, 0xffff);
        states.push(st.clone());
    }
    assert_eq!(states[0], states[1]);
}

#[test]
fn xsave_faults() {
    type Case = (&'static str, Box<dyn Fn(&mut CodeAssembler)>, u64);
    let cases: Vec<Case> = vec![
        (
            "xsetbv without x87",
            Box::new(|a| {
                a.xor(ecx, ecx).unwrap();
                a.mov(eax, 2u32).unwrap();
                a.xor(edx, edx).unwrap();
                a.xsetbv().unwrap();
            }),
            13,
        ),
        (
            "xsetbv AVX (not reported)",
            Box::new(|a| {
                a.xor(ecx, ecx).unwrap();
                a.mov(eax, 7u32).unwrap();
                a.xor(edx, edx).unwrap();
                a.xsetbv().unwrap();
            }),
            13,
        ),
        (
            "xsave misaligned",
            Box::new(|a| {
                a.mov(rbx, DATA + 8).unwrap();
                a.xsave(ptr(rbx)).unwrap();
            }),
            13,
        ),
        (
            "xrstor bad header",
            Box::new(|a| {
                a.mov(rbx, DATA).unwrap();
                a.mov(qword_ptr(rbx + 520), 1i32).unwrap();
                a.mov(eax, 3u32).unwrap();
                a.xrstor(ptr(rbx)).unwrap();
            }),
            13,
        ),
    ];
    for (name, code, vector) in cases {
        for tier in TIERS {
            let mut cpu = kernel_machine(tier, &*code, &|_| {}, &|st| st.cr4 |= CR4_OSXSAVE);
            run_to_halt(&mut cpu);
            assert_eq!(report(&cpu).map(|r| r.0), Some(vector), "{name}");
        }
    }
    // Without CR4.OSXSAVE: #UD.
    for tier in TIERS {
        let mut cpu = kernel_machine(tier, &|a| a.xgetbv().unwrap(), &|_| {}, &|_| {});
        run_to_halt(&mut cpu);
        assert_eq!(report(&cpu).map(|r| r.0), Some(6));
    }
}
