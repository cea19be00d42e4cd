//! Decoded blocks: instructions decoded once per (RIP, physical address, mode), kept
//! until their code pages are written or the cache is flushed.

use crate::ctx::Ctx;
use crate::exception::Fault;
use crate::mmu;
use iced_x86::{Decoder, DecoderOptions, Instruction};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Most instructions in one block.
pub const MAX_BLOCK_INSNS: usize = 64;

/// What identifies a translation: virtual RIP, physical address of its first byte, and
/// the mode bits that change decoding or semantics (bitness, CPL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockKey {
    pub rip: u64,
    pub phys: u64,
    pub mode: u32,
}

pub struct Block {
    pub key: BlockKey,
    pub insns: Vec<Instruction>,
    /// Per instruction: what the interpreter resolved about it on its first run
    /// (semantic group, pre-decoded operands).
    pub hints: Vec<crate::interp::Hint>,
    /// Physical pages this block's bytes come from (one or two).
    pub pages: [u64; 2],
    pub exec_count: u32,
    /// The JIT declined this block; it stays interpreted.
    pub uncompilable: bool,
    /// A background compile of this block is under way.
    pub compiling: bool,
    /// Part of another hot block's region: compiled alone when it gets hot itself.
    pub in_region: bool,
    /// Unique among all blocks ever decoded (ids are reused, serials are not).
    pub serial: u64,
    /// Entry point of compiled code, when the block has been compiled.
    pub code: Option<*const u8>,
    pub valid: bool,
}

/// Entries in the direct-mapped cache of recent lookups.
const RECENT_SIZE: usize = 4096;

pub struct BlockCache {
    map: HashMap<BlockKey, usize, BuildHasherDefault<KeyHasher>>,
    /// Direct-mapped by RIP: the id of the block last found for it (validated by key).
    recent: Vec<usize>,
    pub blocks: Vec<Block>,
    by_page: HashMap<u64, Vec<usize>>,
    free: Vec<usize>,
    next_serial: u64,
}

/// Why a block could not be found or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    Fault(Fault),
    /// The code is not in RAM (MMIO or beyond the end of memory).
    NotRam,
}

pub fn mode_key(ctx: &Ctx) -> u32 {
    crate::emit::Mode::of(&ctx.state).key()
}

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache {
            map: HashMap::default(),
            recent: vec![usize::MAX; RECENT_SIZE],
            blocks: Vec::new(),
            by_page: HashMap::new(),
            free: Vec::new(),
            next_serial: 1,
        }
    }
}

/// A fast hasher for block keys (keys are guest-chosen but the map needs no DoS
/// resistance: a slow lookup only slows the guest down).
#[derive(Default)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64)
    }
}

impl BlockCache {
    pub fn len(&self) -> usize {
        self.blocks.len() - self.free.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finds or decodes the block starting at the current RIP.
    pub fn lookup(&mut self, ctx: &mut Ctx) -> Result<usize, LookupError> {
        let rip = ctx.state.rip;
        let lin = code_linear(ctx, rip);
        let phys = match mmu::exec_tlb_hit(ctx, lin) {
            Some(p) => p,
            None => mmu::translate(ctx, lin, mmu::Access::Exec).map_err(LookupError::Fault)?,
        };
        if phys >= ctx.ram_size {
            return Err(LookupError::NotRam);
        }
        let key = BlockKey {
            rip,
            phys,
            mode: mode_key(ctx),
        };
        let slot = (rip ^ (rip >> 12)) as usize & (RECENT_SIZE - 1);
        let id = self.recent[slot];
        if let Some(b) = self.blocks.get(id) {
            if b.valid && b.key == key {
                return Ok(id);
            }
        }
        if let Some(&id) = self.map.get(&key) {
            self.recent[slot] = id;
            return Ok(id);
        }
        let mut block = decode_block(ctx, key, lin)?;
        block.serial = self.next_serial;
        self.next_serial += 1;
        for &p in &block.pages {
            let pi = (p >> 12) as usize;
            if ctx.code_pages[pi] == 0 {
                ctx.code_pages[pi] = 1;
                mmu::protect_code_page(ctx, p);
            }
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.blocks[id] = block;
                id
            }
            None => {
                self.blocks.push(block);
                self.blocks.len() - 1
            }
        };
        let b = &self.blocks[id];
        for &p in b.pages.iter() {
            let list = self.by_page.entry(p).or_default();
            if !list.contains(&id) {
                list.push(id);
            }
        }
        self.map.insert(key, id);
        self.recent[slot] = id;
        Ok(id)
    }

    /// The block already decoded for `rip` in the same page and mode as block `anchor`
    /// (no decoding, no translation: same virtual page means same physical page).
    pub fn find_near(&self, anchor: usize, rip: u64) -> Option<usize> {
        let a = self.blocks.get(anchor)?.key;
        // Needs a page-aligned CS base (RIP and linear pages coincide): always true
        // in 64-bit mode and flat code.
        if rip & !0xfff != a.rip & !0xfff || a.rip & 0xfff != a.phys & 0xfff {
            return None;
        }
        let key = BlockKey {
            rip,
            phys: (a.phys & !0xfff) | (rip & 0xfff),
            mode: a.mode,
        };
        self.map.get(&key).copied()
    }

    /// Drops every block with bytes on physical page `page`; returns the entry points
    /// of the compiled ones among them (and how many blocks were dropped).
    pub fn invalidate_page(&mut self, page: u64) -> (Vec<*const u8>, usize) {
        let ids = self.by_page.remove(&page).unwrap_or_default();
        let mut dropped = Vec::new();
        let mut count = 0;
        for id in ids {
            let b = &mut self.blocks[id];
            if !b.valid {
                continue;
            }
            b.valid = false;
            count += 1;
            if let Some(code) = b.code.take() {
                dropped.push(code);
            }
            self.map.remove(&b.key);
            let other = if b.pages[0] == page {
                b.pages[1]
            } else {
                b.pages[0]
            };
            if other != page {
                if let Some(l) = self.by_page.get_mut(&other) {
                    l.retain(|&x| x != id);
                }
            }
            b.insns = Vec::new();
            b.hints = Vec::new();
            self.free.push(id);
        }
        (dropped, count)
    }

    /// Forgets every block (code-cache flush).
    pub fn clear(&mut self, ctx: &mut Ctx) {
        self.map.clear();
        self.blocks.clear();
        self.by_page.clear();
        self.free.clear();
        self.recent.fill(usize::MAX);
        ctx.code_pages.fill(0);
        ctx.flush_tlb();
    }
}

/// The linear address of code at `rip`: CS.base + RIP outside 64-bit mode (wrapping
/// at 4 GiB), RIP itself in 64-bit mode.
pub fn code_linear(ctx: &Ctx, rip: u64) -> u64 {
    let st = &ctx.state;
    if st.long_mode() {
        rip
    } else {
        st.segs[crate::state::seg::CS].base.wrapping_add(rip) & 0xffff_ffff
    }
}

fn decode_block(ctx: &mut Ctx, key: BlockKey, lin: u64) -> Result<Block, LookupError> {
    let rip = key.rip;
    let in_page = (0x1000 - (lin & 0xfff)) as usize;
    // Fetch the rest of the page plus 15 bytes, for an instruction that straddles it.
    let mut buf = vec![0u8; in_page + 15];
    let n = match mmu::fetch(ctx, lin, &mut buf) {
        Ok(n) => n,
        Err((_, true)) => return Err(LookupError::NotRam),
        Err((f, false)) => return Err(LookupError::Fault(f)),
    };
    buf.truncate(n);
    let bitness = key.mode & 0xff;
    let mut dec = Decoder::with_ip(bitness, &buf, rip, DecoderOptions::NONE);
    let mut insns = Vec::with_capacity(16);
    let mut pages = [key.phys & !0xfff; 2];
    let mut ins = Instruction::default();
    while dec.can_decode() && insns.len() < MAX_BLOCK_INSNS {
        let off = dec.position();
        dec.decode_out(&mut ins);
        let end = off + ins.len();
        if end > in_page {
            if !insns.is_empty() {
                break;
            }
            // The first instruction straddles the page: its block spans two pages.
            if let Ok(p) = mmu::translate(ctx, lin.wrapping_add(in_page as u64), mmu::Access::Exec)
            {
                if p < ctx.ram_size {
                    pages[1] = p & !0xfff;
                }
            }
        }
        if ins.is_invalid() && insns.is_empty() && end > n {
            // Ran out of fetchable bytes in the middle of the first instruction: the
            // next page faults. Report that fault.
            let va = lin.wrapping_add(in_page as u64);
            return Err(match mmu::translate(ctx, va, mmu::Access::Exec) {
                Err(f) => LookupError::Fault(f),
                Ok(_) => LookupError::NotRam,
            });
        }
        // Blocks end at every branch. (Extending them past conditional branches was
        // measured: +7% on the integer loop, -20% on the call-heavy bench, so not now.)
        let stop = ins.is_invalid() || crate::sem::ends_block(&ins);
        insns.push(ins);
        if stop || end >= in_page {
            break;
        }
    }
    Ok(Block {
        key,
        hints: vec![crate::interp::Hint::NEW; insns.len()],
        insns,
        pages,
        exec_count: 0,
        uncompilable: false,
        compiling: false,
        in_region: false,
        serial: 0,
        code: None,
        valid: true,
    })
}
