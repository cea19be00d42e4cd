//! Shared set-up for the interrupt tests: machines in real, 32-bit protected and long
//! mode with their descriptor tables, gates, and a bus whose interrupt lines the tests
//! drive.
#![allow(dead_code)]

use iced_x86::code_asm::CodeAssembler;
use reprise_jit::state::{fl, seg, DescTable, Segment};
use reprise_jit::{Bus, BusAction, Cpu, CpuConfig, GuestRam, Tier};

pub const TIERS: [Tier; 2] = [Tier::Interpreter, Tier::Tiered];

pub const GDT: u64 = 0x1000;
pub const PML4: u64 = 0x2000;
pub const PDPT: u64 = 0x3000;
pub const TSS: u64 = 0x8000;
pub const IDT: u64 = 0x9000;
pub const KSTACK: u64 = 0x7_0000;
pub const IST1: u64 = 0x6_0000;
pub const USTACK: u64 = 0x5_0000;
pub const CODE: u64 = 0x10_0000;
pub const USER_CODE: u64 = 0x18_0000;
pub const HANDLERS: u64 = 0x20_0000;
/// An address past the end of RAM: MMIO.
pub const MMIO: u64 = 0xfee0_0000;

/// Long-mode selectors of [`long_mode`]'s GDT.
pub const KCODE64: u16 = 0x08;
pub const KDATA: u16 = 0x10;
pub const UCODE32: u16 = 0x1b;
pub const UDATA: u16 = 0x23;
pub const UCODE64: u16 = 0x2b;
pub const TSS_SEL: u16 = 0x30;

/// 32-bit protected-mode selectors of [`protected_mode`]'s GDT.
pub const KCODE32: u16 = 0x08;
pub const KDATA32: u16 = 0x10;
pub const UCODE: u16 = 0x1b;
pub const UDATA32: u16 = 0x23;
pub const TSS32_SEL: u16 = 0x28;

pub fn cpu(tier: Tier) -> Cpu {
    let ram = GuestRam::new(16).unwrap();
    let cfg = CpuConfig {
        tier,
        hot_threshold: 2,
        ..Default::default()
    };
    Cpu::new(ram, cfg).unwrap()
}

/// Assembles `f` (for `bits`) at `addr` into the CPU's RAM; returns the code's length.
pub fn place(cpu: &mut Cpu, bits: u32, addr: u64, f: impl FnOnce(&mut CodeAssembler)) -> u64 {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a);
    let bytes = a.assemble(addr).unwrap();
    assert!(cpu.ram_mut().write_at(addr, &bytes));
    bytes.len() as u64
}

/// Addresses of the instructions `f` assembles at `addr` (for naming boundaries).
pub fn insn_addrs(bits: u32, addr: u64, f: impl FnOnce(&mut CodeAssembler)) -> Vec<u64> {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a);
    let bytes = a.assemble(addr).unwrap();
    let mut d = iced_x86::Decoder::with_ip(bits, &bytes, addr, iced_x86::DecoderOptions::NONE);
    let mut out = Vec::new();
    while d.can_decode() {
        out.push(d.decode().ip());
    }
    out
}

fn write_u64s(cpu: &mut Cpu, at: u64, vals: &[u64]) {
    let ram = cpu.ram_mut();
    for (k, v) in vals.iter().enumerate() {
        assert!(ram.write_u64(at + k as u64 * 8, *v));
    }
}

pub fn write_u32(cpu: &mut Cpu, at: u64, v: u32) {
    assert!(cpu.ram_mut().write_at(at, &v.to_le_bytes()));
}

pub fn write_u16(cpu: &mut Cpu, at: u64, v: u16) {
    assert!(cpu.ram_mut().write_at(at, &v.to_le_bytes()));
}

pub fn read_u32(cpu: &Cpu, at: u64) -> u32 {
    let s = cpu.ram().as_slice();
    u32::from_le_bytes(s[at as usize..at as usize + 4].try_into().unwrap())
}

pub fn read_u16(cpu: &Cpu, at: u64) -> u16 {
    let s = cpu.ram().as_slice();
    u16::from_le_bytes(s[at as usize..at as usize + 2].try_into().unwrap())
}

/// Long mode at CPL 0 with user-accessible identity paging (first 4 GiB), a GDT with
/// kernel and user segments, a 64-bit TSS (RSP0 = [`KSTACK`], IST1 = [`IST1`]) and an
/// empty IDT at [`IDT`].
pub fn long_mode(cpu: &mut Cpu, entry: u64) {
    cpu.enter_long_mode(entry);
    write_u64s(cpu, PML4, &[PDPT | 7]);
    let pdpt: Vec<u64> = (0..4u64).map(|g| (g << 30) | 0x87).collect();
    write_u64s(cpu, PDPT, &pdpt);
    write_u64s(
        cpu,
        GDT,
        &[
            0,
            0x00af_9a00_0000_ffff,
            0x00cf_9200_0000_ffff,
            0x00cf_fa00_0000_ffff,
            0x00cf_f200_0000_ffff,
            0x00af_fa00_0000_ffff,
        ],
    );
    write_u64s(cpu, TSS, &[0; 13]);
    // RSP0 at 4, IST1 at 0x24 (unaligned u64 fields).
    assert!(cpu.ram_mut().write_at(TSS + 4, &KSTACK.to_le_bytes()));
    assert!(cpu.ram_mut().write_at(TSS + 0x24, &IST1.to_le_bytes()));
    let st = cpu.state_mut();
    st.gdtr = DescTable {
        base: GDT,
        limit: 6 * 8 - 1,
        _pad: 0,
    };
    st.tr = Segment {
        selector: TSS_SEL as u64,
        base: TSS,
        limit: 0x67,
        attr: 0x8b,
    };
    st.idtr = DescTable {
        base: IDT,
        limit: 256 * 16 - 1,
        _pad: 0,
    };
    st.gpr[4] = KSTACK - 0x1000;
}

/// A 64-bit IDT gate: interrupt gate (or trap gate), present, with `dpl` and `ist`.
pub fn gate64(cpu: &mut Cpu, v: u8, handler: u64, dpl: u8, ist: u8, trap: bool) {
    let typ: u64 = if trap { 0xf } else { 0xe };
    let lo = (handler & 0xffff)
        | (KCODE64 as u64) << 16
        | (ist as u64) << 32
        | (typ | (dpl as u64) << 5 | 0x80) << 40
        | ((handler >> 16) & 0xffff) << 48;
    write_u64s(cpu, IDT + v as u64 * 16, &[lo, handler >> 32]);
}

/// Marks gate `v` not present (64-bit IDT).
pub fn gate64_absent(cpu: &mut Cpu, v: u8) {
    write_u64s(cpu, IDT + v as u64 * 16, &[0x0000_0e00_0000_0000, 0]);
}

/// 32-bit protected mode (no paging) at CPL 0: flat ring-0 and ring-3 segments, a
/// 32-bit TSS (SS0:ESP0 = [`KDATA32`]:[`KSTACK`]) and an empty IDT at [`IDT`].
pub fn protected_mode(cpu: &mut Cpu, entry: u64) {
    write_u64s(
        cpu,
        GDT,
        &[
            0,
            0x00cf_9a00_0000_ffff,
            0x00cf_9200_0000_ffff,
            0x00cf_fa00_0000_ffff,
            0x00cf_f200_0000_ffff,
        ],
    );
    write_u64s(cpu, TSS, &[0; 13]);
    write_u32(cpu, TSS + 4, KSTACK as u32);
    write_u32(cpu, TSS + 8, KDATA32 as u32);
    let st = cpu.state_mut();
    st.cr0 = 0x11;
    st.cr4 = 0;
    st.efer = 0;
    st.gdtr = DescTable {
        base: GDT,
        limit: 5 * 8 - 1,
        _pad: 0,
    };
    st.idtr = DescTable {
        base: IDT,
        limit: 256 * 8 - 1,
        _pad: 0,
    };
    st.tr = Segment {
        selector: TSS32_SEL as u64,
        base: TSS,
        limit: 0x67,
        attr: 0x8b,
    };
    st.segs[seg::CS] = flat(KCODE32, 0xc09b);
    for s in [seg::SS, seg::DS, seg::ES, seg::FS, seg::GS] {
        st.segs[s] = flat(KDATA32, 0xc093);
    }
    st.gpr[4] = KSTACK - 0x1000;
    st.rip = entry;
    st.set_rflags(fl::FIXED1);
}

/// Puts a protected-mode CPU at CPL 3 (flat user segments, stack at [`USTACK`]).
pub fn to_ring3_32(cpu: &mut Cpu, entry: u64) {
    let st = cpu.state_mut();
    st.segs[seg::CS] = flat(UCODE, 0xc0fb);
    for s in [seg::SS, seg::DS, seg::ES, seg::FS, seg::GS] {
        st.segs[s] = flat(UDATA32, 0xc0f3);
    }
    st.gpr[4] = USTACK;
    st.rip = entry;
}

pub fn flat(sel: u16, attr: u32) -> Segment {
    Segment {
        selector: sel as u64,
        base: 0,
        limit: 0xffff_ffff,
        attr,
    }
}

/// A 32-bit protected-mode gate; `typ` 0xE/0xF (32-bit interrupt/trap), 6/7 (16-bit),
/// 5 (task); `present` false clears P.
pub fn gate32(cpu: &mut Cpu, v: u8, sel: u16, handler: u32, typ: u8, dpl: u8, present: bool) {
    let p = if present { 0x80 } else { 0 };
    let raw = (handler as u64 & 0xffff)
        | (sel as u64) << 16
        | ((typ as u64) | (dpl as u64) << 5 | p) << 40
        | ((handler as u64 >> 16) & 0xffff) << 48;
    write_u64s(cpu, IDT + v as u64 * 8, &[raw]);
}

/// Real mode: 16-bit segments with base 0 and 64 KiB limits, the IVT at 0.
pub fn real_mode(cpu: &mut Cpu, entry: u64) {
    let st = cpu.state_mut();
    st.cr0 = 0x6000_0010;
    st.efer = 0;
    st.cr4 = 0;
    for s in 0..6 {
        st.segs[s] = Segment {
            selector: 0,
            base: 0,
            limit: 0xffff,
            attr: if s == seg::CS { 0x9b } else { 0x93 },
        };
    }
    st.idtr = DescTable {
        base: 0,
        limit: 0x3ff,
        _pad: 0,
    };
    st.gpr[4] = 0x7000;
    st.rip = entry;
    st.set_rflags(fl::FIXED1);
}

/// A real-mode interrupt vector: `seg:off`.
pub fn ivt(cpu: &mut Cpu, v: u8, segment: u16, off: u16) {
    write_u32(cpu, v as u64 * 4, (segment as u32) << 16 | off as u32);
}

pub const RAISE_PORT: u16 = 0x80;
pub const NMI_PORT: u16 = 0x81;

/// A bus with an INTR line and an NMI input the test (or guest writes) drive, and a
/// log of device accesses with their instruction counts.
#[derive(Default)]
pub struct TestBus {
    /// INTR asserted.
    pub line: bool,
    /// The vector the next acknowledge returns.
    pub vector: u8,
    /// Instruction counts of acknowledges.
    pub acks: Vec<u64>,
    pub nmi: bool,
    /// NMIs that writes to [`NMI_PORT`] may still raise.
    pub nmi_budget: u32,
    /// Port writes: (port, value, icount).
    pub outs: Vec<(u16, u32, u64)>,
    /// MMIO reads: (address, icount); a read returns the icount.
    pub mmio_reads: Vec<(u64, u64)>,
    /// MMIO writes: (address, value, icount).
    pub mmio_writes: Vec<(u64, u64, u64)>,
    /// An MMIO write of this value raises INTR.
    pub raise_on_mmio_value: Option<u64>,
    /// A write of this value to [`RAISE_PORT`] raises INTR (`None`: any value does).
    pub raise_on_out_value: Option<u32>,
}

impl Bus for TestBus {
    fn port_in(&mut self, _port: u16, _size: u8, _icount: u64) -> u32 {
        0
    }
    fn port_out(&mut self, port: u16, _size: u8, value: u32, icount: u64) -> BusAction {
        self.outs.push((port, value, icount));
        if port == RAISE_PORT && self.raise_on_out_value.is_none_or(|v| v == value) {
            self.line = true;
        }
        if port == NMI_PORT && self.nmi_budget > 0 {
            self.nmi_budget -= 1;
            self.nmi = true;
        }
        BusAction::Continue
    }
    fn mmio_read(&mut self, addr: u64, _size: u8, icount: u64) -> u64 {
        self.mmio_reads.push((addr, icount));
        icount
    }
    fn mmio_write(&mut self, addr: u64, _size: u8, value: u64, icount: u64) -> BusAction {
        self.mmio_writes.push((addr, value, icount));
        if self.raise_on_mmio_value == Some(value) {
            self.line = true;
        }
        BusAction::Continue
    }
    fn intr_pending(&mut self) -> bool {
        self.line
    }
    fn intr_acknowledge(&mut self, icount: u64) -> Option<u8> {
        if !self.line {
            return None;
        }
        self.line = false;
        self.acks.push(icount);
        Some(self.vector)
    }
    fn take_nmi(&mut self) -> bool {
        std::mem::take(&mut self.nmi)
    }
}

/// Where [`recorder64`] handlers write what they saw.
pub const REC: u64 = 0x4_8000;

/// What a recording handler saw on entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub cr2: u64,
    pub rsp: u64,
    /// The six qwords at RSP on entry (error code first when there is one).
    pub frame: [u64; 6],
}

/// A 64-bit handler for `v` (gate with `dpl` and `ist`) that records CR2, RSP and the
/// frame at [`REC`], then halts.
pub fn recorder64(cpu: &mut Cpu, v: u8, dpl: u8, ist: u8) {
    let h = HANDLERS + v as u64 * 0x100;
    place(cpu, 64, h, |a| {
        use iced_x86::code_asm::*;
        a.mov(rdi, REC).unwrap();
        a.mov(rax, cr2).unwrap();
        a.mov(qword_ptr(rdi), rax).unwrap();
        a.mov(qword_ptr(rdi + 8), rsp).unwrap();
        for k in 0..6 {
            a.mov(rax, qword_ptr(rsp + k * 8)).unwrap();
            a.mov(qword_ptr(rdi + 16 + k * 8), rax).unwrap();
        }
        a.hlt().unwrap();
    });
    gate64(cpu, v, h, dpl, ist, false);
}

pub fn seen(cpu: &Cpu) -> Seen {
    let r = |k: u64| cpu.ram().read_u64(REC + k * 8).unwrap();
    Seen {
        cr2: r(0),
        rsp: r(1),
        frame: std::array::from_fn(|k| r(2 + k as u64)),
    }
}

/// The handler address [`recorder64`] uses for `v`.
pub fn handler_addr(v: u8) -> u64 {
    HANDLERS + v as u64 * 0x100
}
