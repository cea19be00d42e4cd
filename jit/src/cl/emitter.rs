//! [`ClEmitter`]: the emitter that lowers instruction semantics to Cranelift IR.
//!
//! Guest registers, the lazy-flag record, RFLAGS' system bits and the XMM halves are
//! cached in Cranelift variables: loaded from the context on first use, written back
//! only where control leaves the block (and around helpers that read or write the
//! architectural state directly). The TLB hit path of every load and store is inline;
//! misses call the MMU's slow path through the register-preserving thunks of
//! `cl/thunks.rs` (see [`ClEmitter::slow_access`]).

use super::thunks::SlowPaths;
use crate::ctx::{exit, Ctx, TlbEntry, TLB_SIZE};
use crate::emit::{Alu, Cmp, Emitter, ExitKind, Sem};
use crate::exception::Fault;
use crate::flags::{CcOp, LazyFlags};
use crate::helpers::Helper;
use crate::state::offsets;
use cranelift_codegen::ir::{
    condcodes::{CondCode, IntCC},
    types::I64,
    AbiParam, InstBuilder, InstructionData, MemFlagsData, Opcode, SigRef, Signature, Value,
    ValueDef,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, Variable};
use std::mem::offset_of;

/// Cached state: GPRs 0..16, then the flag record, RFLAGS system bits, XMM halves.
const V_CC_OP: usize = 16;
const V_CC_RES: usize = 17;
const V_CC_S1: usize = 18;
const V_CC_S2: usize = 19;
const V_RFLAGS_SYS: usize = 20;
const V_XMM: usize = 21;
pub const NVARS: usize = V_XMM + 32;

fn var_offset(v: usize) -> i32 {
    match v {
        0..=15 => offsets::gpr(v),
        V_CC_OP => offsets::CC_OP,
        V_CC_RES => offsets::CC_RES,
        V_CC_S1 => offsets::CC_SRC1,
        V_CC_S2 => offsets::CC_SRC2,
        V_RFLAGS_SYS => offsets::RFLAGS_SYS,
        _ => offsets::xmm((v - V_XMM) / 2, (v - V_XMM) % 2),
    }
}

/// Where the current instruction sits in the block.
#[derive(Clone, Copy, Debug)]
pub struct InsnPos {
    /// Index in the block (instructions retired before it, counted from block entry).
    pub index: u64,
    pub ip: u64,
    pub next_ip: u64,
}

pub struct ClEmitter<'a, 'f> {
    pub b: &'a mut FunctionBuilder<'f>,
    pub ctx: Value,
    vars: [Variable; NVARS],
    loaded: u64,
    dirty: u64,
    flag_op: Option<CcOp>,
    /// In a region: instructions left before the deadline at block entry
    /// (`icount_deadline - icount`), so a jump inside the region checks the budget
    /// without loading the deadline, and exits recover the count from the deadline.
    /// Otherwise `icount` at block entry (exits store it plus what retired). Either is
    /// adjusted when a helper retires extra instructions.
    budget: Variable,
    by_budget: bool,
    /// 1 once a slow path asked to leave after the current instruction (SMC, device
    /// stop): checked at the end of each instruction.
    pending: Variable,
    pub pending_possible: bool,
    pub pos: InsnPos,
    /// True once the block's control flow has been terminated by a jump or exit.
    pub ended: bool,
    /// Page of the block's first instruction: direct jumps inside it are chained.
    pub page: u64,
    tlb_set: usize,
    mode: crate::emit::Mode,
    helper_sig: SigRef,
    block_sig: SigRef,
    /// A store or helper of the current instruction has been emitted: its memory slow
    /// paths must complete the access (see [`ClEmitter::slow_access`]).
    pub side_effects: bool,
    /// The memory slow-path thunks and their (`preserve_all`) signature.
    slow: SlowPaths,
    thunk_sig: SigRef,
    /// Link slots allocated for direct jumps of this block.
    pub slots: &'a mut Vec<Box<u64>>,
    /// The blocks compiled together into this function (a region of one page): for
    /// each, its start RIP, its Cranelift header and its instruction count. Direct
    /// jumps to any of them stay inside the function.
    region: Vec<(u64, cranelift_codegen::ir::Block, u64)>,
    /// Cached values to keep loaded and written back everywhere (regions).
    pinned: u64,
    /// Cached values loaded on entry to a region (live at every region header).
    preloaded: u64,
    /// Every cached value this translation read / wrote (for the self-loop pre-pass).
    pub ever_used: u64,
    pub ever_written: u64,
    /// Calls to helpers that read or write the architectural state directly.
    pub syncing_calls: u32,
    /// The current instruction must return to the dispatcher instead of continuing
    /// into other compiled code (interrupts may have become deliverable).
    pub no_chain: bool,
}

/// The MMU's load slow path for compiled code. Without [`SLOW_COMPLETE`] in `size` it
/// reads plain RAM only (see [`leaves_before`]). With it, it reads whatever is there,
/// and an access that reached a device makes the block return to the dispatcher after
/// the instruction (see [`crate::interp::note_device_access`]); `icount` is exact then:
/// the caller stored it.
pub(super) extern "C" fn read_slow_io(ctx: *mut Ctx, vaddr: u64, size: u64, _: u64, _: u64) -> u64 {
    let complete = size & SLOW_COMPLETE != 0;
    if !complete && leaves_before(ctx, vaddr, size, false) {
        return 0;
    }
    let v = crate::mmu::read_slow(ctx, vaddr, size & 0xff, 0, 0);
    if complete {
        // SAFETY: generated code passes the context pointer it was entered with; the
        // reference made by `read_slow` has ended.
        let c = unsafe { &mut *ctx };
        crate::interp::note_device_access(c, vaddr, false);
    }
    v
}

/// The store slow path, as [`read_slow_io`]; returns `ctx.exit`.
pub(super) extern "C" fn write_slow_io(
    ctx: *mut Ctx,
    vaddr: u64,
    size: u64,
    v: u64,
    _: u64,
) -> u64 {
    let complete = size & SLOW_COMPLETE != 0;
    if complete || !leaves_before(ctx, vaddr, size, true) {
        crate::mmu::write_slow(ctx, vaddr, size & 0xff, v, 0);
    }
    // SAFETY: as in `read_slow_io`.
    let c = unsafe { &mut *ctx };
    if complete {
        crate::interp::note_device_access(c, vaddr, true);
    }
    c.exit
}

/// In a slow path's size argument: complete the access whatever it touches (see
/// [`ClEmitter::slow_access`]).
pub(super) const SLOW_COMPLETE: u64 = 0x100;

/// True (with `ctx.exit` set to `FAULT` or `STEP`) if the access must not be done here
/// because it faults or touches something other than plain RAM. Otherwise `ctx.exit`
/// stays `NONE`: the block goes on, and a block left before an instruction with any
/// other exit would run it again forever.
fn leaves_before(ctx: *mut Ctx, vaddr: u64, size: u64, write: bool) -> bool {
    // SAFETY: generated code passes the context pointer it was entered with, and no
    // other reference to it is live during the call.
    let c = unsafe { &mut *ctx };
    match crate::mmu::plain_ram(c, vaddr, (size & 0xff) as u8, write) {
        Ok(true) => false,
        Ok(false) => {
            c.exit = exit::STEP;
            true
        }
        Err(f) => {
            c.set_fault(f);
            true
        }
    }
}

fn mem() -> MemFlagsData {
    MemFlagsData::trusted()
}

impl<'a, 'f> ClEmitter<'a, 'f> {
    pub fn new(
        b: &'a mut FunctionBuilder<'f>,
        ctx: Value,
        page: u64,
        mode: crate::emit::Mode,
        slots: &'a mut Vec<Box<u64>>,
        slow: SlowPaths,
    ) -> Self {
        let tlb_set = (mode.cpl == 3) as usize;
        let vars = std::array::from_fn(|_| b.declare_var(I64));
        let budget = b.declare_var(I64);
        let pending = b.declare_var(I64);
        let mut hs = Signature::new(CallConv::SystemV);
        for _ in 0..5 {
            hs.params.push(AbiParam::new(I64));
        }
        hs.returns.push(AbiParam::new(I64));
        let helper_sig = b.import_signature(hs);
        let mut bs = Signature::new(CallConv::Tail);
        bs.params.push(AbiParam::new(I64));
        let block_sig = b.import_signature(bs);
        let thunk_sig = b.import_signature(super::thunks::thunk_signature());
        ClEmitter {
            b,
            ctx,
            vars,
            loaded: 0,
            dirty: 0,
            flag_op: None,
            budget,
            by_budget: false,
            pending,
            pending_possible: false,
            pos: InsnPos {
                index: 0,
                ip: 0,
                next_ip: 0,
            },
            ended: false,
            page,
            tlb_set,
            mode,
            helper_sig,
            block_sig,
            side_effects: false,
            slow,
            thunk_sig,
            slots,
            region: Vec::new(),
            pinned: 0,
            preloaded: 0,
            ever_used: 0,
            ever_written: 0,
            syncing_calls: 0,
            no_chain: false,
        }
    }

    /// Loads the cached values in `load` now and treats those in `write` as modified
    /// from here on: what a loop header needs, since its back edge carries whatever
    /// the previous iteration left in them. (A pre-pass over the block finds the sets.)
    pub fn preload(&mut self, load: u64, write: u64) {
        let mut l = load | write;
        while l != 0 {
            let v = l.trailing_zeros() as usize;
            l &= l - 1;
            self.use_state(v);
        }
        self.pinned = write;
        self.preloaded = load | write;
        self.dirty |= write;
    }

    /// Declares the region's blocks (start RIP and length each); returns their headers.
    /// Jumps to any of them from now on stay inside the function.
    pub fn declare_region(&mut self, blocks: &[(u64, u64)]) -> Vec<cranelift_codegen::ir::Block> {
        self.region = blocks
            .iter()
            .map(|&(rip, n)| (rip, self.b.create_block(), n))
            .collect();
        self.region.iter().map(|r| r.1).collect()
    }

    /// Starts translating the region block whose header is `head`: control arrives
    /// there only through jumps, with every pinned value live and nothing known
    /// statically about the flags.
    pub fn begin_region_block(&mut self, head: cranelift_codegen::ir::Block, first: bool) {
        if first {
            self.b.ins().jump(head, &[]);
        }
        self.b.switch_to_block(head);
        self.flag_op = None;
        self.ended = false;
        self.loaded = self.preloaded;
        self.dirty = self.pinned;
        self.reset_pending();
    }

    /// Starts over with nothing cached (a fresh, separately entered piece of code).
    pub fn forget_cached(&mut self) {
        self.loaded = 0;
        self.dirty = 0;
        self.flag_op = None;
        self.ended = false;
        self.reset_pending();
    }

    /// All jumps are emitted: the headers' predecessors are known.
    pub fn seal_region(&mut self) {
        for &(_, head, _) in &self.region {
            self.b.seal_block(head);
        }
    }

    /// A jump to a block of the region: re-check the budget for the target block, then
    /// continue there with the guest state still in SSA values.
    fn loop_back(&mut self, head: cranelift_codegen::ir::Block, rip: u64, n: u64) {
        debug_assert!(self.by_budget, "region jumps count down a budget");
        let retired = self.pos.index + 1;
        // The running block fitted (budget >= its length >= retired): no wrap here.
        let left = self.b.use_var(self.budget);
        let next = self.b.ins().iadd_imm_s(left, -(retired as i64));
        let over = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, next, n as i64);
        self.side_exit(over, |e| e.leave(retired, rip));
        self.b.def_var(self.budget, next);
        self.b.ins().jump(head, &[]);
    }

    /// `v` as `uextend(icmp cc x y)` (what [`Alu::cmp`] emits): the compare's result
    /// and its condition and operands.
    fn as_cmp(&self, v: Value) -> Option<(Value, IntCC, Value, Value)> {
        let dfg = &self.b.func.dfg;
        let ValueDef::Result(ext, 0) = dfg.value_def(v) else {
            return None;
        };
        if dfg.insts[ext].opcode() != Opcode::Uextend {
            return None;
        }
        let c = *dfg.inst_args(ext).first()?;
        let ValueDef::Result(cmp, 0) = dfg.value_def(c) else {
            return None;
        };
        if dfg.insts[cmp].opcode() != Opcode::Icmp {
            return None;
        }
        let cc = dfg.insts[cmp].cond_code()?;
        let args = dfg.inst_args(cmp);
        Some((c, cc, *args.first()?, *args.get(1)?))
    }

    /// `v` as an integer constant.
    fn as_const(&self, v: Value) -> Option<i64> {
        let dfg = &self.b.func.dfg;
        let ValueDef::Result(inst, 0) = dfg.value_def(v) else {
            return None;
        };
        match dfg.insts[inst] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some(imm.bits()),
            _ => None,
        }
    }

    /// A condition value (0 or 1) as the narrowest thing to branch or select on: the
    /// compare itself when it is one, which lets the backend fuse compare and jump.
    fn cond_value(&self, c: Value) -> Value {
        self.as_cmp(c).map(|(x, ..)| x).unwrap_or(c)
    }

    fn ld(&mut self, off: i32) -> Value {
        self.b.ins().load(I64, mem(), self.ctx, off)
    }
    fn st(&mut self, v: Value, off: i32) {
        self.b.ins().store(mem(), v, self.ctx, off);
    }
    fn konst(&mut self, v: u64) -> Value {
        self.b.ins().iconst(I64, v as i64)
    }

    /// Block entry: the instruction count and deadline as loaded from the context;
    /// `region` if jumps inside the function will check the budget.
    pub fn init_budget(&mut self, icount: Value, deadline: Value, region: bool) {
        self.by_budget = region;
        let v = if region {
            self.b.ins().isub(deadline, icount)
        } else {
            icount
        };
        self.b.def_var(self.budget, v);
        self.reset_pending();
    }

    pub fn reset_pending(&mut self) {
        let z = self.konst(0);
        self.b.def_var(self.pending, z);
        self.pending_possible = false;
    }

    fn use_state(&mut self, v: usize) -> Value {
        self.ever_used |= 1 << v;
        if self.loaded & (1 << v) == 0 {
            let x = self.ld(var_offset(v));
            self.b.def_var(self.vars[v], x);
            self.loaded |= 1 << v;
        }
        self.b.use_var(self.vars[v])
    }

    fn def_state(&mut self, v: usize, x: Value) {
        self.ever_written |= 1 << v;
        self.b.def_var(self.vars[v], x);
        self.loaded |= 1 << v;
        self.dirty |= 1 << v;
    }

    /// Writes every modified cached value back to the context.
    pub fn flush_state(&mut self) {
        let mut d = self.dirty;
        while d != 0 {
            let v = d.trailing_zeros() as usize;
            d &= d - 1;
            let x = self.b.use_var(self.vars[v]);
            self.st(x, var_offset(v));
        }
    }

    /// Stores the instruction count as of `retired` instructions into the block.
    fn store_icount(&mut self, retired: u64) {
        let mut base = self.b.use_var(self.budget);
        if self.by_budget {
            let deadline = self.ld(offsets::ICOUNT_DEADLINE);
            base = self.b.ins().isub(deadline, base);
        }
        let v = self.b.ins().iadd_imm_s(base, retired as i64);
        self.st(v, offsets::ICOUNT);
    }

    fn store_rip(&mut self, rip: u64) {
        let v = self.konst(rip);
        self.st(v, offsets::RIP);
    }

    fn set_exit_code(&mut self, code: u64) {
        let v = self.konst(code);
        self.st(v, offset_of!(Ctx, exit) as i32);
    }

    /// Leaves the block with state as of `retired` instructions and RIP = `rip`
    /// (emitted into the current Cranelift block, which it terminates).
    pub fn leave(&mut self, retired: u64, rip: u64) {
        self.flush_state();
        self.store_icount(retired);
        self.store_rip(rip);
        self.b.ins().return_(&[]);
    }

    /// Emits `if cond { <exit path> }` and continues in a fresh block.
    fn side_exit(&mut self, cond: Value, body: impl FnOnce(&mut Self)) {
        let cond = self.cond_value(cond);
        let exit_b = self.b.create_block();
        let cont = self.b.create_block();
        self.b.ins().brif(cond, exit_b, &[], cont, &[]);
        self.b.seal_block(exit_b);
        self.b.seal_block(cont);
        self.b.switch_to_block(exit_b);
        self.b.set_cold_block(exit_b);
        body(self);
        self.b.switch_to_block(cont);
    }

    /// Leaves because of a fault recorded in the context at the current instruction.
    fn fault_exit(&mut self) {
        let (idx, ip) = (self.pos.index, self.pos.ip);
        self.leave(idx, ip);
    }

    /// After a call that may have set `ctx.exit`: a fault leaves at once (the
    /// instruction did not happen); any other reason lets the instruction finish and
    /// leaves after it.
    fn check_exit_after_call(&mut self) {
        let code = self.ld(offset_of!(Ctx, exit) as i32);
        let is_fault = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, code, exit::FAULT as i64);
        self.side_exit(is_fault, |e| e.fault_exit());
        let nz = self.b.ins().icmp_imm_s(IntCC::NotEqual, code, 0);
        let nz = self.b.ins().uextend(I64, nz);
        let p = self.b.use_var(self.pending);
        let p = self.b.ins().bor(p, nz);
        self.b.def_var(self.pending, p);
        self.pending_possible = true;
    }

    /// At the end of an instruction that may have requested an exit: leave after it.
    pub fn check_pending(&mut self) {
        if !self.pending_possible {
            return;
        }
        let p = self.b.use_var(self.pending);
        let (idx, next) = (self.pos.index + 1, self.pos.next_ip);
        self.side_exit(p, |e| e.leave(idx, next));
        self.reset_pending();
    }

    /// TLB lookup: returns (hit flag, entry address).
    fn tlb_probe(&mut self, addr: Value, size: u8, field: usize) -> (Value, Value) {
        // Byte offset of the entry, (page number % TLB_SIZE) * entry size, as one shift
        // and one mask (entries are a power of two in size).
        const ENTRY: usize = std::mem::size_of::<TlbEntry>();
        const _: () = assert!(ENTRY.is_power_of_two() && TLB_SIZE.is_power_of_two());
        let shifted = self
            .b
            .ins()
            .ushr_imm_s(addr, 12 - ENTRY.trailing_zeros() as i64);
        let scaled = self
            .b
            .ins()
            .band_imm_s(shifted, ((TLB_SIZE - 1) * ENTRY) as i64);
        let base = offset_of!(Ctx, tlb) + self.tlb_set * TLB_SIZE * std::mem::size_of::<TlbEntry>();
        let entry = self.b.ins().iadd(self.ctx, scaled);
        let entry = self.b.ins().iadd_imm_s(entry, base as i64);
        let tag = self.b.ins().load(I64, mem(), entry, field as i32);
        // One compare covers the page and the alignment: an access that is not
        // naturally aligned (the only kind that can cross a page) keeps low bits set
        // and takes the slow path, as QEMU's TCG does.
        let keep = !0xfff_i64 | (size as i64 - 1);
        let masked = self.b.ins().band_imm_s(addr, keep);
        let hit = self.b.ins().icmp(IntCC::Equal, tag, masked);
        (hit, entry)
    }

    fn call_helper_ptr(&mut self, f: u64, args: &[Value]) -> Value {
        let callee = self.konst(f);
        let mut all = vec![self.ctx];
        all.extend_from_slice(args);
        while all.len() < 5 {
            let z = self.konst(0);
            all.push(z);
        }
        let call = self.b.ins().call_indirect(self.helper_sig, callee, &all);
        self.b.inst_results(call)[0]
    }

    /// The miss path of a load or store, emitted into the current (cold) block; returns
    /// the loaded value (meaningless for stores).
    ///
    /// While nothing of the current instruction has happened yet, only an access to
    /// plain RAM is done here; a fault, a device or a page holding code leaves the block
    /// before the instruction (`exit::FAULT` / `exit::STEP`, the interpreter then runs
    /// it), so the hit path never carries a "leave after this instruction" value. Once
    /// a store or helper of the instruction has run, the access is completed whatever it
    /// touches (a device gets the exact count) and may ask to leave after it.
    fn slow_access(&mut self, write: bool, addr: Value, size: u8, v: Option<Value>) -> Value {
        let complete = self.side_effects;
        if complete {
            let idx = self.pos.index;
            self.store_icount(idx);
        }
        self.st(addr, offset_of!(Ctx, slow_addr) as i32);
        if let Some(v) = v {
            self.st(v, offset_of!(Ctx, slow_result) as i32);
        }
        let callee = self.konst(self.slow.get(write, complete, size));
        self.b
            .ins()
            .call_indirect(self.thunk_sig, callee, &[self.ctx]);
        let r = self.ld(offset_of!(Ctx, slow_result) as i32);
        if complete {
            self.check_exit_after_call();
        } else {
            let code = self.ld(offset_of!(Ctx, exit) as i32);
            let leave = self.b.ins().icmp_imm_s(IntCC::NotEqual, code, 0);
            self.side_exit(leave, |e| e.fault_exit());
        }
        r
    }

    /// Continues into compiled code at a static target, or returns to the dispatcher.
    fn chain_static(&mut self, target: u64) {
        let retired = self.pos.index + 1;
        self.flush_state();
        self.store_icount(retired);
        if target & !0xfff == self.page {
            let slot = Box::new(0u64);
            let slot_addr = &*slot as *const u64 as u64;
            self.slots.push(slot);
            let sa = self.konst(slot_addr);
            let code = self.b.ins().load(I64, mem(), sa, 0);
            let go = self.b.create_block();
            let back = self.b.create_block();
            self.b.ins().brif(code, go, &[], back, &[]);
            self.b.seal_block(go);
            self.b.seal_block(back);
            self.b.switch_to_block(go);
            self.b
                .ins()
                .return_call_indirect(self.block_sig, code, &[self.ctx]);
            self.b.switch_to_block(back);
            self.store_rip(target);
            self.st(sa, offset_of!(Ctx, link_slot) as i32);
            self.b.ins().return_(&[]);
        } else {
            let t = self.konst(target);
            self.chain_dynamic_flushed(t);
        }
    }

    /// Jump-cache probe for a computed target; state already flushed.
    fn chain_dynamic_flushed(&mut self, target: Value) {
        self.st(target, offsets::RIP);
        // Same as `JmpEntry::index`: slot from the page offset, group from the page.
        use crate::ctx::{JmpEntry, JMP_GROUP_BITS};
        let s6 = self.b.ins().ushr_imm_s(target, JMP_GROUP_BITS as i64);
        let s12 = self.b.ins().ushr_imm_s(target, 12);
        let slot = self.b.ins().bxor(target, s6);
        let slot = self
            .b
            .ins()
            .band_imm_s(slot, ((1u64 << JMP_GROUP_BITS) - 1) as i64);
        let group = self.b.ins().bxor(s6, s12);
        let group = self.b.ins().band_imm_s(group, JmpEntry::GROUP_MASK as i64);
        let h = self.b.ins().bor(slot, group);
        let h = self.b.ins().ishl_imm_s(h, 4);
        let jc = self.ld(offset_of!(Ctx, jmp_cache) as i32);
        let e = self.b.ins().iadd(jc, h);
        // This block's own CPL picks the table (a ring switch leaves the block).
        let table = (self.mode.cpl as usize & 3) * crate::ctx::JMP_TABLE_BYTES;
        let rip = self.b.ins().load(I64, mem(), e, table as i32);
        let code = self.b.ins().load(I64, mem(), e, table as i32 + 8);
        let hit = self.b.ins().icmp(IntCC::Equal, rip, target);
        let go = self.b.create_block();
        let back = self.b.create_block();
        self.b.ins().brif(hit, go, &[], back, &[]);
        self.b.seal_block(go);
        self.b.seal_block(back);
        self.b.switch_to_block(go);
        self.b
            .ins()
            .return_call_indirect(self.block_sig, code, &[self.ctx]);
        self.b.switch_to_block(back);
        self.b.ins().return_(&[]);
    }

    /// Ends the block towards `target` unless a pending exit asks to return first.
    fn end_static(&mut self, target: u64) {
        if self.pending_possible {
            let p = self.b.use_var(self.pending);
            let next = target;
            let idx = self.pos.index + 1;
            self.side_exit(p, |e| e.leave(idx, next));
        }
        if self.no_chain {
            self.leave(self.pos.index + 1, target);
            return;
        }
        match self.region.iter().find(|r| r.0 == target) {
            Some(&(rip, head, n)) => self.loop_back(head, rip, n),
            None => self.chain_static(target),
        }
    }
}

impl Alu for ClEmitter<'_, '_> {
    type V = Value;
    fn imm(&mut self, v: u64) -> Value {
        self.konst(v)
    }
    fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().iadd(a, b)
    }
    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().isub(a, b)
    }
    fn and(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().band(a, b)
    }
    fn or(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }
    fn xor(&mut self, a: Value, b: Value) -> Value {
        // Inverting a condition (`cond ^ 1`, see `flags::not01`): compare the other
        // way instead, so that a branch on it still fuses with the compare.
        let inverted = |c: Value, one: Value| {
            let (_, cc, x, y) = self.as_cmp(c)?;
            (self.as_const(one)? == 1).then_some((cc.complement(), x, y))
        };
        if let Some((cc, x, y)) = inverted(a, b).or_else(|| inverted(b, a)) {
            let r = self.b.ins().icmp(cc, x, y);
            return self.b.ins().uextend(I64, r);
        }
        self.b.ins().bxor(a, b)
    }
    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().imul(a, b)
    }
    fn umulh(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().umulhi(a, b)
    }
    fn smulh(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().smulhi(a, b)
    }
    fn udiv(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().udiv(a, b)
    }
    fn urem(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().urem(a, b)
    }
    fn sdiv(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().sdiv(a, b)
    }
    fn srem(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().srem(a, b)
    }
    fn not(&mut self, a: Value) -> Value {
        self.b.ins().bnot(a)
    }
    fn neg(&mut self, a: Value) -> Value {
        self.b.ins().ineg(a)
    }
    fn shl(&mut self, a: Value, n: Value) -> Value {
        self.b.ins().ishl(a, n)
    }
    fn shr(&mut self, a: Value, n: Value) -> Value {
        self.b.ins().ushr(a, n)
    }
    fn sar(&mut self, a: Value, n: Value) -> Value {
        self.b.ins().sshr(a, n)
    }
    fn rotl(&mut self, a: Value, n: Value) -> Value {
        self.b.ins().rotl(a, n)
    }
    fn rotr(&mut self, a: Value, n: Value) -> Value {
        self.b.ins().rotr(a, n)
    }
    fn clz(&mut self, a: Value) -> Value {
        self.b.ins().clz(a)
    }
    fn ctz(&mut self, a: Value) -> Value {
        self.b.ins().ctz(a)
    }
    fn popcnt(&mut self, a: Value) -> Value {
        self.b.ins().popcnt(a)
    }
    fn bswap(&mut self, a: Value) -> Value {
        self.b.ins().bswap(a)
    }
    fn cmp(&mut self, c: Cmp, a: Value, b: Value) -> Value {
        let cc = match c {
            Cmp::Eq => IntCC::Equal,
            Cmp::Ne => IntCC::NotEqual,
            Cmp::Ult => IntCC::UnsignedLessThan,
            Cmp::Ule => IntCC::UnsignedLessThanOrEqual,
            Cmp::Slt => IntCC::SignedLessThan,
            Cmp::Sle => IntCC::SignedLessThanOrEqual,
        };
        let r = self.b.ins().icmp(cc, a, b);
        self.b.ins().uextend(I64, r)
    }
    fn select(&mut self, c: Value, a: Value, b: Value) -> Value {
        let c = self.cond_value(c);
        self.b.ins().select(c, a, b)
    }
    fn zext(&mut self, v: Value, size: u8) -> Value {
        let t = narrow_type(size);
        let n = self.b.ins().ireduce(t, v);
        self.b.ins().uextend(I64, n)
    }
    fn sext(&mut self, v: Value, size: u8) -> Value {
        let t = narrow_type(size);
        let n = self.b.ins().ireduce(t, v);
        self.b.ins().sextend(I64, n)
    }
}

fn narrow_type(size: u8) -> cranelift_codegen::ir::Type {
    use cranelift_codegen::ir::types::{I16, I32, I8};
    match size {
        1 => I8,
        2 => I16,
        _ => I32,
    }
}

impl Emitter for ClEmitter<'_, '_> {
    fn mode(&self) -> crate::emit::Mode {
        self.mode
    }
    fn gpr(&mut self, r: usize) -> Value {
        self.use_state(r & 15)
    }
    fn set_gpr(&mut self, r: usize, v: Value) {
        self.def_state(r & 15, v)
    }
    fn xmm(&mut self, r: usize, half: usize) -> Value {
        self.use_state(V_XMM + (r & 15) * 2 + (half & 1))
    }
    fn set_xmm(&mut self, r: usize, half: usize, v: Value) {
        self.def_state(V_XMM + (r & 15) * 2 + (half & 1), v)
    }
    fn seg_base(&mut self, s: usize) -> Value {
        self.ld(offsets::seg_base(s % 6))
    }
    fn flags(&mut self) -> LazyFlags<Value> {
        let dyn_op = self.use_state(V_CC_OP);
        let res = self.use_state(V_CC_RES);
        let s1 = self.use_state(V_CC_S1);
        let s2 = self.use_state(V_CC_S2);
        LazyFlags {
            op: self.flag_op,
            dyn_op,
            res,
            s1,
            s2,
        }
    }
    fn set_flags(&mut self, f: LazyFlags<Value>) {
        self.flag_op = f.op;
        let op = match f.op {
            Some(op) => self.konst(op.encode()),
            None => f.dyn_op,
        };
        self.def_state(V_CC_OP, op);
        self.def_state(V_CC_RES, f.res);
        self.def_state(V_CC_S1, f.s1);
        self.def_state(V_CC_S2, f.s2);
    }
    fn rflags_sys(&mut self) -> Value {
        self.use_state(V_RFLAGS_SYS)
    }
    fn set_rflags_sys(&mut self, v: Value) {
        let v = self.b.ins().bor_imm_s(v, crate::state::fl::FIXED1 as i64);
        self.def_state(V_RFLAGS_SYS, v)
    }

    fn load(&mut self, addr: Value, size: u8) -> Sem<Value> {
        let (hit, entry) = self.tlb_probe(addr, size, offset_of!(TlbEntry, read));
        let hit_b = self.b.create_block();
        let miss_b = self.b.create_block();
        let join = self.b.create_block();
        let result = self.b.append_block_param(join, I64);
        self.b.ins().brif(hit, hit_b, &[], miss_b, &[]);
        self.b.seal_block(hit_b);
        self.b.seal_block(miss_b);
        // Hit: host address = vaddr + addend.
        self.b.switch_to_block(hit_b);
        let addend = self
            .b
            .ins()
            .load(I64, mem(), entry, offset_of!(TlbEntry, addend) as i32);
        let host = self.b.ins().iadd(addr, addend);
        let flags = MemFlagsData::new().with_notrap();
        let v = match size {
            1 => self.b.ins().uload8(I64, flags, host, 0),
            2 => self.b.ins().uload16(I64, flags, host, 0),
            4 => self.b.ins().uload32(flags, host, 0),
            _ => self.b.ins().load(I64, flags, host, 0),
        };
        self.b.ins().jump(join, &[v.into()]);
        // Miss: the MMU's slow path.
        self.b.switch_to_block(miss_b);
        self.b.set_cold_block(miss_b);
        let v = self.slow_access(false, addr, size, None);
        self.b.ins().jump(join, &[v.into()]);
        self.b.seal_block(join);
        self.b.switch_to_block(join);
        Ok(result)
    }

    fn store(&mut self, addr: Value, v: Value, size: u8) -> Sem {
        let (hit, entry) = self.tlb_probe(addr, size, offset_of!(TlbEntry, write));
        let hit_b = self.b.create_block();
        let miss_b = self.b.create_block();
        let join = self.b.create_block();
        self.b.ins().brif(hit, hit_b, &[], miss_b, &[]);
        self.b.seal_block(hit_b);
        self.b.seal_block(miss_b);
        self.b.switch_to_block(hit_b);
        let addend = self
            .b
            .ins()
            .load(I64, mem(), entry, offset_of!(TlbEntry, addend) as i32);
        let host = self.b.ins().iadd(addr, addend);
        let flags = MemFlagsData::new().with_notrap();
        match size {
            1 => self.b.ins().istore8(flags, v, host, 0),
            2 => self.b.ins().istore16(flags, v, host, 0),
            4 => self.b.ins().istore32(flags, v, host, 0),
            _ => self.b.ins().store(flags, v, host, 0),
        };
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(miss_b);
        self.b.set_cold_block(miss_b);
        self.slow_access(true, addr, size, Some(v));
        self.b.ins().jump(join, &[]);
        self.b.seal_block(join);
        self.b.switch_to_block(join);
        self.side_effects = true;
        Ok(())
    }

    fn helper(&mut self, h: Helper, args: &[Value]) -> Sem<Value> {
        let idx = self.pos.index;
        if h.syncs_state() {
            self.syncing_calls += 1;
            self.flush_state();
            self.store_icount(idx);
            self.store_rip(self.pos.ip);
        }
        let r = self.call_helper_ptr(h.func() as usize as u64, args);
        self.side_effects = true;
        if h.syncs_state() {
            // The helper may have changed anything: reload on next use (at once in a
            // self-loop, whose back edge must carry current values).
            self.loaded = 0;
            self.dirty = 0;
            self.flag_op = None;
            if !self.region.is_empty() {
                let (load, write) = (self.preloaded, self.pinned);
                self.preload(load, write);
            }
            // It may also have retired extra instructions (REP string iterations).
            let now = self.ld(offsets::ICOUNT);
            let mut base = self.b.ins().iadd_imm_s(now, -(idx as i64));
            if self.by_budget {
                let deadline = self.ld(offsets::ICOUNT_DEADLINE);
                base = self.b.ins().isub(deadline, base);
            }
            self.b.def_var(self.budget, base);
        }
        if h.can_exit() {
            self.check_exit_after_call();
        }
        Ok(r)
    }

    /// Only XMM register `xmm` is written back before the call (if this code changed
    /// it) and forgotten after it (reloaded at once where a region keeps it live).
    /// Everything else stays in SSA values, and the call does not count as syncing (a
    /// loop with it may become a region); a fault leaves through the fault exit, which
    /// writes back the rest.
    fn helper_on_xmm(&mut self, h: Helper, xmm: usize, args: &[Value]) -> Sem<Value> {
        if !h.syncs_only_xmm() {
            return self.helper(h, args);
        }
        let halves = 3u64 << (V_XMM + 2 * (xmm & 15));
        let mut d = self.dirty & halves;
        while d != 0 {
            let v = d.trailing_zeros() as usize;
            d &= d - 1;
            let x = self.b.use_var(self.vars[v]);
            self.st(x, var_offset(v));
        }
        let r = self.call_helper_ptr(h.func() as usize as u64, args);
        self.side_effects = true;
        self.loaded &= !halves;
        self.dirty &= !halves;
        let mut keep = self.preloaded & halves;
        while keep != 0 {
            let v = keep.trailing_zeros() as usize;
            keep &= keep - 1;
            self.use_state(v);
        }
        self.dirty |= self.pinned & halves;
        if h.can_exit() {
            self.check_exit_after_call();
        }
        Ok(r)
    }

    fn raise_if(&mut self, cond: Value, f: Fault) -> Sem {
        self.side_exit(cond, |e| {
            let code = e.konst(f.pack());
            e.st(code, offset_of!(Ctx, fault) as i32);
            let a = e.konst(f.address);
            e.st(a, offset_of!(Ctx, fault_addr) as i32);
            e.set_exit_code(exit::FAULT);
            e.fault_exit();
        });
        Ok(())
    }

    fn jump(&mut self, target: Value) {
        let idx = self.pos.index + 1;
        if self.pending_possible {
            let p = self.b.use_var(self.pending);
            self.side_exit(p, |e| {
                e.flush_state();
                e.store_icount(idx);
                e.st(target, offsets::RIP);
                e.b.ins().return_(&[]);
            });
        }
        self.flush_state();
        self.store_icount(idx);
        if self.no_chain {
            self.st(target, offsets::RIP);
            self.b.ins().return_(&[]);
        } else {
            self.chain_dynamic_flushed(target);
        }
        self.ended = true;
    }

    fn jump_to(&mut self, target: u64) {
        self.end_static(target);
        self.ended = true;
    }

    fn branch(&mut self, cond: Value, taken: u64, not_taken: u64) {
        let cond = self.cond_value(cond);
        let t = self.b.create_block();
        let nt = self.b.create_block();
        self.b.ins().brif(cond, t, &[], nt, &[]);
        self.b.seal_block(t);
        self.b.seal_block(nt);
        self.b.switch_to_block(t);
        self.end_static(taken);
        self.b.switch_to_block(nt);
        if not_taken != self.pos.next_ip {
            // Not a fall-through (never produced by the decoder): end here too.
            self.end_static(not_taken);
            self.ended = true;
        }
    }

    fn exit(&mut self, kind: ExitKind) {
        let code = match kind {
            ExitKind::Halt => exit::HALT,
            ExitKind::Resync => exit::RESYNC,
        };
        // A pending reason (device stop, SMC) takes precedence over RESYNC.
        let cur = self.ld(offset_of!(Ctx, exit) as i32);
        let c = self.konst(code);
        let keep = self.b.ins().icmp_imm_s(IntCC::NotEqual, cur, 0);
        let v = if kind == ExitKind::Halt {
            c
        } else {
            self.b.ins().select(keep, cur, c)
        };
        self.st(v, offset_of!(Ctx, exit) as i32);
        let (idx, next) = (self.pos.index + 1, self.pos.next_ip);
        self.leave(idx, next);
        self.ended = true;
    }
}
