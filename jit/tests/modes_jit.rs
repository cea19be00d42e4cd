//! The system instructions inside a hot loop, so the tiered run compiles them: both
//! tiers must end in the same state, and the interpreter's run is the reference.

mod modes_harness;
use iced_x86::code_asm::*;
use modes_harness::*;
use reprise_jit::state::{CR4_FSGSBASE, CR4_OSXSAVE, CR4_PGE};
use reprise_jit::Tier;

#[test]
fn system_instructions_in_a_compiled_loop() {
    let compat_fn = KERNEL + 0x800;
    let mut states = Vec::new();
    for tier in TIERS {
        let mut cpu = kernel_machine(
            tier,
            &|a| {
                let mut top = a.create_label();
                a.mov(ax, TSS_SEL as u32).unwrap();
                a.ltr(ax).unwrap();
                a.mov(rbx, DATA).unwrap();
                a.mov(dword_ptr(rbx + 0x800), compat_fn as u32).unwrap();
                a.mov(word_ptr(rbx + 0x804), KCODE32 as u32).unwrap();
                a.xor(r15d, r15d).unwrap();
                a.mov(ebp, 30u32).unwrap();
                a.set_label(&mut top).unwrap();
                // Segment registers.
                a.mov(ax, KDATA as u32).unwrap();
                a.mov(ds, ax).unwrap();
                a.push(fs).unwrap();
                a.pop(gs).unwrap();
                a.mov(ecx, gs).unwrap();
                a.add(r15, rcx).unwrap();
                // Far call into compatibility mode and back.
                a.call(fword_ptr(rbx + 0x800)).unwrap();
                a.add(r15, rax).unwrap();
                // Descriptor probes.
                a.mov(cx, KCODE as u32).unwrap();
                a.lar(edx, ecx).unwrap();
                a.add(r15, rdx).unwrap();
                a.lsl(edx, ecx).unwrap();
                a.add(r15, rdx).unwrap();
                a.verw(cx).unwrap();
                a.setz(dl).unwrap();
                a.add(r15b, dl).unwrap();
                a.str(dx).unwrap();
                a.add(r15w, dx).unwrap();
                // MSRs, TSC, CPUID.
                a.mov(ecx, 0xc000_0103u32).unwrap();
                a.mov(eax, ebp).unwrap();
                a.xor(edx, edx).unwrap();
                a.wrmsr().unwrap();
                a.rdpid(rdx).unwrap();
                a.add(r15, rdx).unwrap();
                a.rdtscp().unwrap();
                a.add(r15, rax).unwrap();
                a.mov(ecx, 0x277u32).unwrap();
                a.rdmsr().unwrap();
                a.add(r15, rax).unwrap();
                a.mov(eax, 7u32).unwrap();
                a.xor(ecx, ecx).unwrap();
                a.cpuid().unwrap();
                a.add(r15, rbx).unwrap();
                a.mov(rbx, DATA).unwrap();
                // Paging control.
                a.mov(rax, cr3).unwrap();
                a.mov(cr3, rax).unwrap();
                a.invlpg(byte_ptr(rbx)).unwrap();
                // GS base games.
                a.swapgs().unwrap();
                a.swapgs().unwrap();
                a.wrfsbase(rbp).unwrap();
                a.rdfsbase(rdx).unwrap();
                a.add(r15, rdx).unwrap();
                // XSAVE round trip of a changing XMM register.
                a.movq(xmm1, r15).unwrap();
                a.mov(eax, 3u32).unwrap();
                a.xor(edx, edx).unwrap();
                a.xsave(ptr(rbx)).unwrap();
                a.pxor(xmm1, xmm1).unwrap();
                a.xrstor(ptr(rbx)).unwrap();
                a.movq(rdx, xmm1).unwrap();
                a.xor(r15, rdx).unwrap();
                a.add(r15, rdx).unwrap();
                a.sgdt(ptr(rbx + 0x900)).unwrap();
                a.add(r15w, word_ptr(rbx + 0x900)).unwrap();
                a.smsw(edx).unwrap();
                a.add(r15, rdx).unwrap();
                a.dec(ebp).unwrap();
                a.jnz(top).unwrap();
            },
            &|_| {},
            &|st| st.cr4 |= CR4_FSGSBASE | CR4_OSXSAVE | CR4_PGE,
        );
        let f = assemble(32, compat_fn, &|a| {
            a.mov(eax, 0x1000u32).unwrap();
            a.add(eax, esi).unwrap();
            a.retf().unwrap();
        });
        cpu.ram_mut().write_at(compat_fn, &f);
        run_to_halt(&mut cpu);
        assert_eq!(report(&cpu), None, "{tier:?}");
        if tier == Tier::Tiered {
            assert!(
                cpu.stats().blocks_compiled >= 10,
                "only {} blocks compiled",
                cpu.stats().blocks_compiled
            );
        }
        states.push((cpu.state().clone(), cpu.digest()));
    }
    assert_ne!(states[0].0.gpr[15], 0);
    assert_eq!(states[0], states[1], "tiers disagree");
}
