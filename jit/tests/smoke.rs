//! Small end-to-end checks of the CPU tiers on assembled code.

use iced_x86::code_asm::*;
use reprise_jit::{boot, Cpu, CpuConfig, EmptyBus, GuestRam, RunExit, Tier};

const CODE: u64 = 0x10_0000;

fn run(tier: Tier, build: impl Fn(&mut CodeAssembler)) -> Cpu {
    let mut a = CodeAssembler::new(64).unwrap();
    build(&mut a);
    a.hlt().unwrap();
    let bytes = a.assemble(CODE).unwrap();
    let mut ram = GuestRam::new(16).unwrap();
    assert!(ram.write_at(CODE, &bytes));
    let mut cpu = Cpu::new(
        ram,
        CpuConfig {
            tier,
            hot_threshold: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let (ram_ptr, st) = (cpu.ram_mut() as *mut GuestRam, ());
    let _ = st;
    // SAFETY: test-only: ram and state are distinct parts of `cpu`.
    let ram = unsafe { &mut *ram_ptr };
    boot::enter_long_mode(ram, cpu.state_mut(), CODE);
    cpu.state_mut().gpr[4] = 0x8_0000;
    let r = cpu.run(&mut EmptyBus, 1_000_000);
    assert_eq!(
        r,
        RunExit::Halted {
            interrupts_enabled: false
        }
    );
    cpu
}

#[test]
fn loop_sums_in_both_tiers() {
    for tier in [Tier::Interpreter, Tier::Tiered] {
        let cpu = run(tier, |a| {
            let mut top = a.create_label();
            a.xor(rax, rax).unwrap();
            a.mov(rcx, 100u64).unwrap();
            a.set_label(&mut top).unwrap();
            a.add(rax, rcx).unwrap();
            a.dec(rcx).unwrap();
            a.jnz(top).unwrap();
            a.push(rax).unwrap();
            a.pop(rbx).unwrap();
        });
        assert_eq!(cpu.state().gpr[0], 5050, "{tier:?}");
        assert_eq!(cpu.state().gpr[3], 5050, "{tier:?}");
        assert_eq!(cpu.state().icount, 2 + 300 + 3, "{tier:?}");
    }
}
