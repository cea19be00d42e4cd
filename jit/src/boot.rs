//! The 64-bit entry state that reprise's direct ELF64 boot and the tests use:
//! long mode, CPL 0, paging with the first 4 GiB identity-mapped (1 GiB pages), a flat
//! GDT (0x08 code, 0x10 data), SSE enabled, interrupts disabled.

use crate::ram::GuestRam;
use crate::state::*;

/// Where the boot structures live (all below 0x80000, the loader's reserved area).
pub const GDT_ADDR: u64 = 0x1000;
pub const PML4_ADDR: u64 = 0x2000;
pub const PDPT_ADDR: u64 = 0x3000;
/// First address the loader does not reserve.
pub const RESERVED_END: u64 = 0x80000;

pub const CODE64_SELECTOR: u64 = 0x08;
pub const DATA_SELECTOR: u64 = 0x10;

const GDT: [u64; 3] = [0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff];

/// Writes the GDT and page tables into RAM and puts `st` in 64-bit mode at `entry`.
pub fn enter_long_mode(ram: &mut GuestRam, st: &mut CpuState, entry: u64) {
    for (k, d) in GDT.iter().enumerate() {
        ram.write_u64(GDT_ADDR + k as u64 * 8, *d);
    }
    ram.write_u64(PML4_ADDR, PDPT_ADDR | 0x3);
    for g in 0..4u64 {
        // Present, writable, 1 GiB page (PS).
        ram.write_u64(PDPT_ADDR + g * 8, (g << 30) | 0x83);
    }
    st.gdtr = DescTable {
        base: GDT_ADDR,
        limit: (GDT.len() * 8 - 1) as u32,
        _pad: 0,
    };
    st.idtr = DescTable::default();
    st.cr0 = CR0_PE | CR0_MP | (1 << 4) | CR0_WP | CR0_PG;
    st.cr3 = PML4_ADDR;
    st.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    st.efer = EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE;
    st.segs[seg::CS] = Segment {
        selector: CODE64_SELECTOR,
        base: 0,
        limit: 0xffff_ffff,
        attr: 0xa09b,
    };
    let data = Segment {
        selector: DATA_SELECTOR,
        base: 0,
        limit: 0xffff_ffff,
        attr: 0xc093,
    };
    for s in [seg::DS, seg::ES, seg::SS, seg::FS, seg::GS] {
        st.segs[s] = data;
    }
    st.tr = Segment {
        selector: 0,
        base: 0,
        limit: 0xffff,
        attr: 0x8b,
    };
    st.rip = entry;
    st.set_rflags(fl::FIXED1);
}

/// Selectors of the flat 32-bit GDT written by [`enter_protected_mode_flat`].
pub const CODE32_SELECTOR: u64 = 0x08;

const GDT32: [u64; 3] = [0, 0x00cf_9a00_0000_ffff, 0x00cf_9200_0000_ffff];

/// The Multiboot (v1) machine state: 32-bit protected mode, paging off, CS a flat 4 GiB
/// execute/read segment with D = 1, DS/ES/SS/FS/GS flat 4 GiB read/write, CR0 = PE|ET,
/// EFLAGS = 2 (IF = 0), EFER = 0, EAX = `eax`, EBX = `ebx`, other GPRs zero.
///
/// The Multiboot specification leaves GDTR undefined; a small GDT matching the hidden
/// parts (null, 0x08 code, 0x10 data) is written at [`GDT_ADDR`] so that a guest that
/// reloads a segment register before its own LGDT still gets what it had. IDTR is
/// base 0, limit 0: the guest must load an IDT before enabling interrupts.
pub fn enter_protected_mode_flat(
    ram: &mut GuestRam,
    st: &mut CpuState,
    entry: u32,
    eax: u32,
    ebx: u32,
) {
    for (k, d) in GDT32.iter().enumerate() {
        ram.write_u64(GDT_ADDR + k as u64 * 8, *d);
    }
    st.gdtr = DescTable {
        base: GDT_ADDR,
        limit: (GDT32.len() * 8 - 1) as u32,
        _pad: 0,
    };
    st.idtr = DescTable::default();
    st.cr0 = CR0_PE | (1 << 4);
    st.cr3 = 0;
    st.cr4 = 0;
    st.efer = 0;
    st.segs[seg::CS] = Segment {
        selector: CODE32_SELECTOR,
        base: 0,
        limit: 0xffff_ffff,
        attr: 0xc09b,
    };
    let data = Segment {
        selector: DATA_SELECTOR,
        base: 0,
        limit: 0xffff_ffff,
        attr: 0xc093,
    };
    for s in [seg::DS, seg::ES, seg::SS, seg::FS, seg::GS] {
        st.segs[s] = data;
    }
    st.tr = Segment {
        selector: 0,
        base: 0,
        limit: 0xffff,
        attr: 0x8b,
    };
    st.gpr = [0; 16];
    st.gpr[reg::RAX] = eax as u64;
    st.gpr[reg::RBX] = ebx as u64;
    st.rip = entry as u64;
    st.set_rflags(fl::FIXED1);
}
