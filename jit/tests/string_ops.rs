//! String instructions (MOVS/STOS/LODS/CMPS/SCAS/INS/OUTS, REP/REPE/REPNE) in both
//! tiers, against reference models written in the test.

use iced_x86::code_asm::*;
use reprise_jit::{Bus, BusAction, Cpu, CpuConfig, EmptyBus, GuestRam, RunExit, Tier};

const CODE: u64 = 0x10_0000;
const SRC: u64 = 0x20_0000;
const DST: u64 = 0x30_0000;
const RAX: usize = 0;
const RCX: usize = 1;
const RDX: usize = 2;
const RSI: usize = 6;
const RDI: usize = 7;
const CF: u64 = 1;
const ZF: u64 = 1 << 6;
const DF: u64 = 1 << 10;

const TIERS: [Tier; 2] = [Tier::Interpreter, Tier::Tiered];

/// A CPU in 64-bit mode with `build`'s code (followed by HLT) at CODE and a pattern at
/// SRC. Returns the CPU and the address of the HLT.
fn machine(tier: Tier, build: impl Fn(&mut CodeAssembler)) -> (Cpu, u64) {
    let mut a = CodeAssembler::new(64).unwrap();
    build(&mut a);
    let body = a.assemble(CODE).unwrap();
    let hlt_at = CODE + body.len() as u64;
    a.hlt().unwrap();
    let bytes = a.assemble(CODE).unwrap();
    let mut ram = GuestRam::new(16).unwrap();
    assert!(ram.write_at(CODE, &bytes));
    let pattern: Vec<u8> = (0..0x3000u32).map(|k| (k * 7 + 3) as u8).collect();
    assert!(ram.write_at(SRC, &pattern));
    let mut cpu = Cpu::new(
        ram,
        CpuConfig {
            tier,
            hot_threshold: 1,
            ..Default::default()
        },
    )
    .unwrap();
    cpu.enter_long_mode(CODE);
    cpu.state_mut().gpr[4] = 0x8_0000;
    (cpu, hlt_at)
}

fn run_to_hlt(cpu: &mut Cpu, bus: &mut dyn Bus) {
    let r = cpu.run(bus, 10_000_000);
    assert_eq!(
        r,
        RunExit::Halted {
            interrupts_enabled: false
        }
    );
}

fn mem(cpu: &Cpu, addr: u64, len: usize) -> Vec<u8> {
    cpu.ram().as_slice()[addr as usize..addr as usize + len].to_vec()
}

fn set_df(cpu: &mut Cpu, on: bool) {
    let f = cpu.state().rflags();
    cpu.state_mut()
        .set_rflags(if on { f | DF } else { f & !DF });
}

/// Element-by-element reference for MOVS on a byte array (addresses relative to it).
fn ref_movs(m: &mut [u8], mut s: i64, mut d: i64, size: i64, n: u64, down: bool) {
    for _ in 0..n {
        let mut e = [0u8; 8];
        e[..size as usize].copy_from_slice(&m[s as usize..(s + size) as usize]);
        m[d as usize..(d + size) as usize].copy_from_slice(&e[..size as usize]);
        let step = if down { -size } else { size };
        s += step;
        d += step;
    }
}

fn rep_movs(a: &mut CodeAssembler, size: u8) {
    match size {
        1 => a.rep().movsb(),
        2 => a.rep().movsw(),
        4 => a.rep().movsd(),
        _ => a.rep().movsq(),
    }
    .unwrap()
}

fn rep_stos(a: &mut CodeAssembler, size: u8) {
    match size {
        1 => a.rep().stosb(),
        2 => a.rep().stosw(),
        4 => a.rep().stosd(),
        _ => a.rep().stosq(),
    }
    .unwrap()
}

#[test]
fn rep_movs_forward_all_sizes_cross_pages() {
    for tier in TIERS {
        for size in [1u8, 2, 4, 8] {
            let n = 0x2100 / size as u64 + 3;
            let (mut cpu, hlt) = machine(tier, |a| rep_movs(a, size));
            let st = cpu.state_mut();
            st.gpr[RSI] = SRC + 5;
            st.gpr[RDI] = DST + 0xffd;
            st.gpr[RCX] = n;
            let before = cpu.state().icount;
            run_to_hlt(&mut cpu, &mut EmptyBus);
            let bytes = n as usize * size as usize;
            assert_eq!(mem(&cpu, DST + 0xffd, bytes), mem(&cpu, SRC + 5, bytes));
            assert_eq!(mem(&cpu, DST + 0xffd + bytes as u64, 1), [0]);
            let st = cpu.state();
            assert_eq!(st.gpr[RCX], 0);
            assert_eq!(st.gpr[RSI], SRC + 5 + bytes as u64);
            assert_eq!(st.gpr[RDI], DST + 0xffd + bytes as u64);
            assert_eq!(st.rip, hlt + 1);
            // One per iteration, plus the HLT.
            assert_eq!(st.icount - before, n + 1, "{tier:?} size {size}");
        }
    }
}

#[test]
fn rep_movs_overlap_matches_element_definition() {
    for tier in TIERS {
        for size in [1u8, 2, 4, 8] {
            for (soff, doff, down) in [
                (0i64, 1i64, false),
                (0, 3, false),
                (8, 0, false),
                (0, 8, false),
                (0x40, 0x41, true),
                (0x40, 0x3d, true),
                (0xff8, 0xffb, false),
            ] {
                let n = 37u64;
                let (soff, doff) = (soff + 0x800, doff + 0x800);
                let (mut cpu, _) = machine(tier, |a| rep_movs(a, size));
                let mut model = mem(&cpu, SRC, 0x2000);
                ref_movs(&mut model, soff, doff, size as i64, n, down);
                set_df(&mut cpu, down);
                let st = cpu.state_mut();
                st.gpr[RSI] = SRC + soff as u64;
                st.gpr[RDI] = SRC + doff as u64;
                st.gpr[RCX] = n;
                run_to_hlt(&mut cpu, &mut EmptyBus);
                assert_eq!(
                    mem(&cpu, SRC, 0x2000),
                    model,
                    "{tier:?} {size} {soff} {doff}"
                );
                let adv = if down { -(n as i64) } else { n as i64 } * size as i64;
                assert_eq!(cpu.state().gpr[RSI], (SRC as i64 + soff + adv) as u64);
                assert_eq!(cpu.state().gpr[RDI], (SRC as i64 + doff + adv) as u64);
            }
        }
    }
}

#[test]
fn rep_stos_both_directions() {
    for tier in TIERS {
        for size in [1u8, 2, 4, 8] {
            for down in [false, true] {
                let n = 0x1234 / size as u64;
                let (mut cpu, _) = machine(tier, |a| rep_stos(a, size));
                set_df(&mut cpu, down);
                let val = 0x1122_3344_5566_7788u64;
                let start = DST + 0x1800;
                let st = cpu.state_mut();
                st.gpr[RAX] = val;
                st.gpr[RDI] = start;
                st.gpr[RCX] = n;
                run_to_hlt(&mut cpu, &mut EmptyBus);
                let bytes = n * size as u64;
                let lo = if down {
                    start + size as u64 - bytes
                } else {
                    start
                };
                let got = mem(&cpu, lo - 8, bytes as usize + 16);
                let el = &val.to_le_bytes()[..size as usize];
                assert_eq!(&got[..8], &[0; 8]);
                assert_eq!(&got[got.len() - 8..], &[0; 8]);
                for c in got[8..8 + bytes as usize].chunks(size as usize) {
                    assert_eq!(c, el, "{tier:?} {size} {down}");
                }
                let end = if down {
                    start.wrapping_sub(bytes)
                } else {
                    start + bytes
                };
                assert_eq!(cpu.state().gpr[RDI], end);
                assert_eq!(cpu.state().gpr[RCX], 0);
            }
        }
    }
}

#[test]
fn zero_count_retires_one_and_changes_nothing() {
    for tier in TIERS {
        let (mut cpu, hlt) = machine(tier, |a| {
            a.cmp(rax, rax).unwrap();
            a.rep().movsb().unwrap();
            a.repne().scasb().unwrap();
            a.repe().cmpsq().unwrap();
        });
        let st = cpu.state_mut();
        st.gpr[RSI] = SRC;
        st.gpr[RDI] = DST;
        st.gpr[RCX] = 0;
        st.gpr[RAX] = 0x77;
        let before = cpu.state().icount;
        run_to_hlt(&mut cpu, &mut EmptyBus);
        let st = cpu.state();
        assert_eq!(st.icount - before, 5);
        assert_eq!((st.gpr[RSI], st.gpr[RDI], st.gpr[RCX]), (SRC, DST, 0));
        assert_eq!(st.rflags() & (ZF | CF), ZF, "flags from CMP survive");
        assert_eq!(st.rip, hlt + 1);
    }
}

#[test]
fn repe_cmps_stops_at_first_difference() {
    for tier in TIERS {
        for size in [1u8, 2, 4, 8] {
            let (mut cpu, _) = machine(tier, |a| {
                match size {
                    1 => a.repe().cmpsb(),
                    2 => a.repe().cmpsw(),
                    4 => a.repe().cmpsd(),
                    _ => a.repe().cmpsq(),
                }
                .unwrap();
                a.setb(bl).unwrap();
                a.sete(bh).unwrap();
            });
            // DST = copy of SRC with one byte changed in element 9 (bigger than SRC's).
            let mut data = mem(&cpu, SRC, 0x200);
            let at = 9 * size as usize + size as usize - 1;
            data[at] ^= 0x80;
            let orig = mem(&cpu, SRC, 0x200)[at];
            let below = orig < data[at];
            cpu.ram_mut().write_at(DST, &data);
            let st = cpu.state_mut();
            st.gpr[RSI] = SRC;
            st.gpr[RDI] = DST;
            st.gpr[RCX] = 40;
            let before = cpu.state().icount;
            run_to_hlt(&mut cpu, &mut EmptyBus);
            let st = cpu.state();
            assert_eq!(st.gpr[RCX], 30, "{tier:?} {size}");
            assert_eq!(st.gpr[RSI], SRC + 10 * size as u64);
            assert_eq!(st.gpr[RDI], DST + 10 * size as u64);
            assert_eq!(st.icount - before, 10 + 3);
            assert_eq!(st.gpr[3] & 0xffff, below as u64, "CF=below, ZF=0");
        }
    }
}

#[test]
fn repne_scas_strlen_and_exhaustion() {
    for tier in TIERS {
        let (mut cpu, _) = machine(tier, |a| {
            a.repne().scasb().unwrap();
            a.sete(bl).unwrap();
        });
        cpu.ram_mut().write_at(DST, b"hello, world\0xyz");
        let st = cpu.state_mut();
        st.gpr[RAX] = 0xff00; // AL = 0
        st.gpr[RDI] = DST;
        st.gpr[RCX] = u64::MAX;
        run_to_hlt(&mut cpu, &mut EmptyBus);
        let st = cpu.state();
        assert_eq!(!st.gpr[RCX] - 1, 12, "strlen idiom");
        assert_eq!(st.gpr[RDI], DST + 13);
        assert_eq!(st.gpr[3] & 0xff, 1);

        // Not found: stops when RCX runs out, ZF clear.
        let (mut cpu, _) = machine(tier, |a| {
            a.repne().scasw().unwrap();
            a.sete(bl).unwrap();
        });
        cpu.ram_mut().write_at(DST, &[1, 0, 2, 0, 3, 0, 4, 0]);
        let st = cpu.state_mut();
        st.gpr[RAX] = 9;
        st.gpr[RDI] = DST;
        st.gpr[RCX] = 4;
        st.gpr[3] = 0x55;
        run_to_hlt(&mut cpu, &mut EmptyBus);
        let st = cpu.state();
        assert_eq!(
            (st.gpr[RCX], st.gpr[RDI], st.gpr[3] & 0xff),
            (0, DST + 8, 0)
        );
    }
}

#[test]
fn single_forms_both_directions() {
    for tier in TIERS {
        for down in [false, true] {
            let (mut cpu, _) = machine(tier, |a| {
                a.movsd().unwrap(); // [rdi] = [rsi] (4 bytes)
                a.lodsw().unwrap(); // ax = [rsi]
                a.stosq().unwrap(); // [rdi] = rax
                a.cmpsb().unwrap();
                a.setb(bl).unwrap();
                a.scasd().unwrap();
                a.sete(bh).unwrap();
            });
            set_df(&mut cpu, down);
            let st = cpu.state_mut();
            st.gpr[RSI] = SRC + 0x100;
            st.gpr[RDI] = DST + 0x100;
            st.gpr[RAX] = 0xaaaa_bbbb_cccc_dddd;
            let src = mem(&cpu, SRC, 0x200);
            run_to_hlt(&mut cpu, &mut EmptyBus);
            let st = cpu.state();
            let d = |k: i64| -> u64 {
                if down {
                    (0x100 - k) as u64
                } else {
                    (0x100 + k) as u64
                }
            };
            let s1 = d(4) as usize;
            let lo16 = u16::from_le_bytes([src[s1], src[s1 + 1]]) as u64;
            let acc = 0xaaaa_bbbb_cccc_0000 | lo16;
            if !down {
                assert_eq!(mem(&cpu, DST + 0x100, 4), src[0x100..0x104]);
            }
            // LODSW keeps the upper bits of RAX.
            assert_eq!(st.gpr[RAX], acc);
            assert_eq!(mem(&cpu, DST + d(4), 8), acc.to_le_bytes());
            // CMPSB compared [SRC + d(6)] with [DST + d(12)].
            let a8 = src[d(6) as usize];
            let b8 = mem(&cpu, DST + d(12), 1)[0];
            assert_eq!(st.gpr[3] & 0xff, (a8 < b8) as u64, "{tier:?} {down}");
            assert_eq!(st.gpr[RDI], DST + d(17));
            assert_eq!(st.gpr[RSI], SRC + d(7));
        }
    }
}

#[test]
fn address_size_32_and_segment_override() {
    for tier in TIERS {
        // addr32 rep movsb: uses ESI/EDI/ECX and zero-extends them.
        let (mut cpu, _) = machine(tier, |a| a.db(&[0x67, 0xf3, 0xa4]).unwrap());
        let st = cpu.state_mut();
        st.gpr[RSI] = 0xdead_0000_0000_0000 | SRC;
        st.gpr[RDI] = 0xbeef_0000_0000_0000 | DST;
        st.gpr[RCX] = 0x1234_5678_0000_0010;
        run_to_hlt(&mut cpu, &mut EmptyBus);
        let st = cpu.state();
        assert_eq!(mem(&cpu, DST, 16), mem(&cpu, SRC, 16));
        assert_eq!(
            (st.gpr[RSI], st.gpr[RDI], st.gpr[RCX]),
            (SRC + 16, DST + 16, 0)
        );

        // fs rep movsb: the source gets FS's base; ES:RDI cannot be overridden.
        let (mut cpu, _) = machine(tier, |a| a.db(&[0x64, 0xf3, 0xa4]).unwrap());
        let st = cpu.state_mut();
        st.segs[4].base = 0x1000;
        st.gpr[RSI] = SRC;
        st.gpr[RDI] = DST;
        st.gpr[RCX] = 32;
        run_to_hlt(&mut cpu, &mut EmptyBus);
        assert_eq!(mem(&cpu, DST, 32), mem(&cpu, SRC + 0x1000, 32));
        assert_eq!(cpu.state().gpr[RSI], SRC + 32);
    }
}

#[test]
fn icount_budget_splits_rep_and_resumes() {
    for tier in TIERS {
        let (mut cpu, hlt) = machine(tier, |a| {
            a.nop().unwrap();
            a.rep().movsb().unwrap();
            a.nop().unwrap();
        });
        let st = cpu.state_mut();
        st.gpr[RSI] = SRC;
        st.gpr[RDI] = DST;
        st.gpr[RCX] = 1000;
        let base = cpu.state().icount;
        // NOP + 300 iterations.
        assert_eq!(cpu.run(&mut EmptyBus, base + 301), RunExit::IcountLimit);
        let st = cpu.state();
        assert_eq!(st.icount, base + 301);
        assert_eq!(st.rip, CODE + 1, "still at the REP instruction");
        assert_eq!(
            (st.gpr[RSI], st.gpr[RDI], st.gpr[RCX]),
            (SRC + 300, DST + 300, 700)
        );
        assert_eq!(mem(&cpu, DST, 300), mem(&cpu, SRC, 300));
        assert_eq!(mem(&cpu, DST + 300, 1), [0]);
        // A budget of one instruction does exactly one iteration.
        assert_eq!(cpu.run(&mut EmptyBus, base + 302), RunExit::IcountLimit);
        assert_eq!(cpu.state().gpr[RCX], 699);
        run_to_hlt(&mut cpu, &mut EmptyBus);
        let st = cpu.state();
        assert_eq!(st.icount, base + 1 + 1000 + 1 + 1);
        assert_eq!(st.rip, hlt + 1);
        assert_eq!(mem(&cpu, DST, 1000), mem(&cpu, SRC, 1000));
    }
}

#[test]
fn page_fault_mid_rep_keeps_progress() {
    for tier in TIERS {
        for (size, fwd) in [(1u8, true), (8, true), (4, false)] {
            let (mut cpu, _) = machine(tier, |a| {
                a.nop().unwrap();
                rep_movs(a, size);
            });
            let end = 1u64 << 32; // the boot page tables map only the first 4 GiB
            set_df(&mut cpu, !fwd);
            let st = cpu.state_mut();
            if fwd {
                st.gpr[RSI] = SRC;
                st.gpr[RDI] = end - 16;
            } else {
                // Backwards from the top of the source, reading below zero... use the
                // unmapped source instead: RSI walks down from above 4 GiB.
                st.gpr[RSI] = end + 8;
                st.gpr[RDI] = DST + 0x800;
            }
            st.gpr[RCX] = 100;
            let base = cpu.state().icount;
            let r = cpu.run(&mut EmptyBus, base + 10_000);
            // No IDT: #PF escalates to a triple fault with the state at the fault.
            let RunExit::TripleFault { rip, .. } = r else {
                panic!("{r:?}");
            };
            assert_eq!(rip, CODE + 1);
            let st = cpu.state();
            let done = if fwd { 16 / size as u64 } else { 0 };
            assert_eq!(st.cr2 & !7, if fwd { end } else { end + 8 } & !7);
            assert_eq!(st.gpr[RCX], 100 - done, "{tier:?} {size}");
            if fwd {
                assert_eq!(st.gpr[RDI], end);
                assert_eq!(st.gpr[RSI], SRC + 16);
                assert_eq!(mem(&cpu, 0, 0).len(), 0);
            }
            assert_eq!(st.icount, base + 1 + done);
        }
    }
}

/// A bus that records OUT bytes and answers IN with a counter.
#[derive(Default)]
struct PortLog {
    out: Vec<(u16, u8, u32, u64)>,
    next_in: u32,
}

impl Bus for PortLog {
    fn port_in(&mut self, port: u16, size: u8, _icount: u64) -> u32 {
        assert_eq!(port, 0x60);
        self.next_in += 1;
        (self.next_in * 0x0101_0101) & (u64::MAX >> (64 - 8 * size as u32)) as u32
    }
    fn port_out(&mut self, port: u16, size: u8, value: u32, icount: u64) -> BusAction {
        self.out.push((port, size, value, icount));
        BusAction::Continue
    }
    fn mmio_read(&mut self, _: u64, size: u8, _: u64) -> u64 {
        u64::MAX >> (64 - 8 * size as u32)
    }
    fn mmio_write(&mut self, _: u64, _: u8, _: u64, _: u64) -> BusAction {
        BusAction::Continue
    }
}

#[test]
fn ins_outs() {
    for tier in TIERS {
        let (mut cpu, _) = machine(tier, |a| {
            a.rep().outsb().unwrap();
            a.outsw().unwrap();
            a.mov(dx, 0x60u32).unwrap();
            a.rep().insd().unwrap();
            a.insb().unwrap();
        });
        let st = cpu.state_mut();
        st.gpr[RSI] = SRC;
        st.gpr[RDI] = DST;
        st.gpr[RCX] = 3;
        st.gpr[RDX] = 0x3f8;
        let base = cpu.state().icount;
        let mut bus = PortLog::default();
        run_to_hlt(&mut cpu, &mut bus);
        let src = mem(&cpu, SRC, 8);
        let w = u16::from_le_bytes([src[3], src[4]]) as u32;
        assert_eq!(
            bus.out,
            vec![
                (0x3f8, 1, src[0] as u32, base),
                (0x3f8, 1, src[1] as u32, base + 1),
                (0x3f8, 1, src[2] as u32, base + 2),
                (0x3f8, 2, w, base + 3),
            ]
        );
        // REP INSD ran with RCX = 0 after REP OUTSB: nothing; INSB stores one byte.
        assert_eq!(mem(&cpu, DST, 2), [1, 0]);
        let st = cpu.state();
        assert_eq!(st.gpr[RSI], SRC + 5);
        assert_eq!(st.gpr[RDI], DST + 1);
    }
}

#[test]
fn rep_stos_over_following_code_is_seen() {
    for tier in TIERS {
        // REP STOSB (2 bytes at CODE) overwrites the INCs after it (3 bytes each, from
        // CODE + 2) with HLT (0xF4): the new bytes must be what runs next.
        let (mut cpu, _) = machine(tier, |a| {
            a.rep().stosb().unwrap();
            for _ in 0..8 {
                a.inc(rbx).unwrap();
            }
        });
        let st = cpu.state_mut();
        st.gpr[RDI] = CODE + 2;
        st.gpr[RCX] = 6; // the first two INCs
        st.gpr[RAX] = 0xf4;
        st.gpr[3] = 0;
        let base = cpu.state().icount;
        let r = cpu.run(&mut EmptyBus, base + 1000);
        assert_eq!(
            r,
            RunExit::Halted {
                interrupts_enabled: false
            }
        );
        let st = cpu.state();
        assert_eq!(st.gpr[3], 0, "no INC ran: the HLT written over it did");
        assert_eq!(st.rip, CODE + 3);
        assert_eq!(st.gpr[RCX], 0);
        assert_eq!(st.icount - base, 6 + 1);
    }
}
