use iced_x86::code_asm::*;
use reprise_jit::{boot, Cpu, CpuConfig, EmptyBus, GuestRam, Tier};
fn main() {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut top = a.create_label();
    let mut inner = a.create_label();
    a.xor(rax, rax).unwrap();
    a.mov(rdi, 0x200000u64).unwrap();
    a.mov(r9, 300u64).unwrap();
    a.set_label(&mut top).unwrap();
    a.mov(rcx, 10000u64).unwrap();
    a.set_label(&mut inner).unwrap();
    a.add(rax, rcx).unwrap();
    a.xor(rax, 0x55i32).unwrap();
    a.mov(rdx, rcx).unwrap();
    a.and(rdx, 0xff8i32).unwrap();
    a.add(qword_ptr(rdi + rdx), rax).unwrap();
    a.cmp(rax, rcx).unwrap();
    a.cmovb(rbx, rdx).unwrap();
    a.dec(rcx).unwrap();
    a.jnz(inner).unwrap();
    a.dec(r9).unwrap();
    a.jnz(top).unwrap();
    a.hlt().unwrap();
    let bytes = a.assemble(0x100000).unwrap();
    for tier in [Tier::Interpreter] {
        let mut ram = GuestRam::new(16).unwrap();
        ram.write_at(0x100000, &bytes);
        let mut st = reprise_jit::CpuState::default();
        boot::enter_long_mode(&mut ram, &mut st, 0x100000);
        let mut cpu = Cpu::new(
            ram,
            CpuConfig {
                tier,
                ..Default::default()
            },
        )
        .unwrap();
        *cpu.state_mut() = st;
        let t = std::time::Instant::now();
        let r = cpu.run(&mut EmptyBus, u64::MAX);
        let el = t.elapsed().as_secs_f64();
        let n = cpu.state().icount;
        println!(
            "{tier:?}: {r:?} {n} insns in {el:.3}s = {:.1} MIPS; stats {:?}",
            n as f64 / el / 1e6,
            cpu.stats()
        );
    }
}
