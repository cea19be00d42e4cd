//! Comparing an interpreter-only machine with a tiered one running the same program.

use reprise_jit::{boot, Cpu, CpuConfig, CpuState, EmptyBus, GuestRam, RunExit, Tier};

/// Where [`machine`] loads the program (and starts it, in long mode).
pub const CODE: u64 = 0x10_0000;

/// A 2-MiB machine of `tier` running `program` (assembled at [`CODE`]) in 64-bit mode
/// with RSP at 0x80000, compiling blocks after three runs; `prepare` may fill RAM
/// and adjust the state first.
pub fn machine(
    program: &[u8],
    tier: Tier,
    prepare: impl FnOnce(&mut GuestRam, &mut CpuState),
) -> Cpu {
    let mut ram = GuestRam::new(2).unwrap();
    assert!(ram.write_at(CODE, program));
    let mut st = CpuState::default();
    boot::enter_long_mode(&mut ram, &mut st, CODE);
    st.gpr[4] = 0x8_0000;
    prepare(&mut ram, &mut st);
    let cfg = CpuConfig {
        tier,
        hot_threshold: 3,
        ..Default::default()
    };
    let mut cpu = Cpu::new(ram, cfg).unwrap();
    *cpu.state_mut() = st;
    cpu
}

/// Asserts that the two machines are in the same architectural state.
pub fn assert_same(a: &Cpu, b: &Cpu, what: &str) {
    let (sa, sb) = (a.state(), b.state());
    assert_eq!(sa.gpr, sb.gpr, "{what}: registers differ");
    assert_eq!(sa.xmm, sb.xmm, "{what}: XMM registers differ");
    assert_eq!(sa.mxcsr, sb.mxcsr, "{what}: MXCSR differs");
    assert_eq!(sa.rip, sb.rip, "{what}: RIP differs");
    assert_eq!(sa.rflags(), sb.rflags(), "{what}: RFLAGS differ");
    assert_eq!(sa.icount, sb.icount, "{what}: instruction counts differ");
    assert_eq!(a.digest(), b.digest(), "{what}: state digests differ");
}

/// Runs both machines to the running sums of `steps` as instruction limits (odd steps
/// land the stops on every position in a loop's blocks), checking after each that they
/// stopped alike, the tiered one exactly at the limit, in the same state. Returns at
/// the first stop that is not the limit (the program ended).
pub fn cut_at_limits(a: &mut Cpu, b: &mut Cpu, steps: impl Iterator<Item = u64>) {
    let mut limit = 0;
    for step in steps {
        limit += step;
        let ra = a.run(&mut EmptyBus, limit);
        let rb = b.run(&mut EmptyBus, limit);
        assert_eq!(ra, rb, "exit at limit {limit}");
        if ra != RunExit::IcountLimit {
            break;
        }
        assert_eq!(b.state().icount, limit, "tiered overshot limit {limit}");
        assert_same(a, b, &format!("limit {limit}"));
    }
}
