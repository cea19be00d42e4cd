//! Lowers a region — one hot block, plus blocks of the same page that it reaches by
//! direct jumps — to a Cranelift function entered at the first block.

use super::emitter::{ClEmitter, InsnPos};
use super::thunks::SlowPaths;
use crate::cache::BlockKey;
use crate::emit::Emitter;
use crate::sem::{self, Outcome};
use crate::state::offsets;
use cranelift_codegen::ir::{condcodes::IntCC, types::I64, Function, InstBuilder, MemFlagsData};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

/// A decoded block to translate.
pub struct RegionBlock<'a> {
    pub key: BlockKey,
    pub insns: &'a [iced_x86::Instruction],
}

/// Fills `func` with the code of `region` (entered at `region[0]`). Fails (and the
/// block stays interpreted) when an instruction has no semantics.
pub fn translate_region(
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    region: &[RegionBlock],
    slots: &mut Vec<Box<u64>>,
    target: cranelift_codegen::isa::TargetFrontendConfig,
    slow: SlowPaths,
) -> Result<(), String> {
    // Jumps between the region's blocks (including a block's jump to its own start)
    // stay inside the function with the guest state in SSA values. Every header then
    // needs each value the region reads defined on entry, and each value it writes
    // stored at every exit: a first pass finds those sets.
    let starts: Vec<u64> = region.iter().map(|b| b.key.rip).collect();
    let internal = region.iter().any(|b| {
        b.insns.iter().any(|i| {
            matches!(
                i.flow_control(),
                iced_x86::FlowControl::ConditionalBranch
                    | iced_x86::FlowControl::UnconditionalBranch
            ) && starts.contains(&i.near_branch_target())
                || starts.contains(&i.next_ip()) && i.next_ip() != region[0].key.rip
        })
    });
    if !internal {
        emit(func, fctx, &region[..1], slots, target, slow, None)?;
        return Ok(());
    }
    let mut scratch = Function::with_name_signature(func.name.clone(), func.signature.clone());
    let mut scratch_ctx = FunctionBuilderContext::new();
    let pass = emit(
        &mut scratch,
        &mut scratch_ctx,
        region,
        &mut Vec::new(),
        target,
        slow,
        None,
    )?;
    if pass.syncing_calls > 0 {
        // Helpers that touch the architectural state directly (SSE, x87, strings…)
        // would force the whole pinned state out and back in around every call:
        // such code runs better as separate blocks.
        emit(func, fctx, &region[..1], slots, target, slow, None)?;
    } else {
        let sets = (pass.used, pass.written);
        emit(func, fctx, region, slots, target, slow, Some(sets))?;
    }
    Ok(())
}

/// What a translation pass saw.
struct PassInfo {
    used: u64,
    written: u64,
    syncing_calls: u32,
}

/// One translation pass; returns the cached values it read and wrote. With
/// `region_sets` (read, written) the blocks become one region with those values
/// preloaded and pinned; without, jumps between blocks leave the function.
fn emit(
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    region: &[RegionBlock],
    slots: &mut Vec<Box<u64>>,
    target: cranelift_codegen::isa::TargetFrontendConfig,
    slow: SlowPaths,
    region_sets: Option<(u64, u64)>,
) -> Result<PassInfo, String> {
    let first = &region[0];
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let ctx_v = b.block_params(entry)[0];
    let page = first.key.rip & !0xfff;
    let mode = crate::emit::Mode::from_key(first.key.mode);

    // Budget check: run only if the whole first block fits before the deadline.
    let flags = MemFlagsData::trusted();
    let icount = b.ins().load(I64, flags, ctx_v, offsets::ICOUNT);
    let deadline = b.ins().load(I64, flags, ctx_v, offsets::ICOUNT_DEADLINE);
    let end = b.ins().iadd_imm_s(icount, first.insns.len() as i64);
    let over = b.ins().icmp(IntCC::UnsignedGreaterThan, end, deadline);
    let out = b.create_block();
    let body = b.create_block();
    b.ins().brif(over, out, &[], body, &[]);
    b.seal_block(out);
    b.seal_block(body);
    b.switch_to_block(out);
    let rip = b.ins().iconst(I64, first.key.rip as i64);
    b.ins().store(flags, rip, ctx_v, offsets::RIP);
    b.ins().return_(&[]);
    b.switch_to_block(body);

    let mut e = ClEmitter::new(&mut b, ctx_v, page, mode, slots, slow);
    e.init_budget(icount, deadline, region_sets.is_some());
    let blocks = match region_sets {
        Some((used, written)) => {
            e.preload(used, written);
            let decl: Vec<(u64, u64)> = region
                .iter()
                .map(|r| (r.key.rip, r.insns.len() as u64))
                .collect();
            let heads = e.declare_region(&decl);
            heads.into_iter().map(Some).collect()
        }
        None => vec![None; region.len()],
    };
    for (k, (rb, head)) in region.iter().zip(blocks).enumerate() {
        if let Some(head) = head {
            e.begin_region_block(head, k == 0);
        } else if k > 0 {
            // First pass: the other blocks are translated after the first for their
            // read/write sets only; give each a fresh (unreachable) start.
            let fresh = e.b.create_block();
            e.b.seal_block(fresh);
            e.b.switch_to_block(fresh);
            e.forget_cached();
        }
        emit_insns(&mut e, rb, k == 0)?;
    }
    e.seal_region();
    let info = PassInfo {
        used: e.ever_used,
        written: e.ever_written,
        syncing_calls: e.syncing_calls,
    };
    b.finalize(target);
    Ok(info)
}

fn emit_insns(e: &mut ClEmitter, rb: &RegionBlock, first: bool) -> Result<(), String> {
    for (k, insn) in rb.insns.iter().enumerate() {
        e.pos = InsnPos {
            index: k as u64,
            ip: insn.ip(),
            next_ip: insn.next_ip(),
        };
        e.side_effects = false;
        if insn.is_invalid() {
            return Err(format!("invalid instruction at {:#x}", insn.ip()));
        }
        if sem::interrupt::interpreter_only(insn) {
            // STI / MOV SS / POP SS run in the interpreter, which records their
            // interrupt shadow: leave just before them.
            if k == 0 && first {
                return Err(format!("`{insn}` runs in the interpreter"));
            }
            e.leave(k as u64, insn.ip());
            e.ended = true;
            break;
        }
        e.no_chain = sem::interrupt::leaves_to_dispatcher(insn);
        match sem::translate(e, insn) {
            Ok(Outcome::Done) => {}
            Ok(Outcome::Unsupported) => {
                return Err(format!("no semantics for `{insn}` at {:#x}", insn.ip()))
            }
            Err(f) => return Err(format!("semantics raised {f} at translation time")),
        }
        if e.ended {
            break;
        }
        e.check_pending();
    }
    if !e.ended {
        // Fell off the end of the block (size or page limit): continue at the next
        // instruction.
        let last = rb.insns.last().map(|i| i.next_ip()).unwrap_or(rb.key.rip);
        e.jump_to(last);
    }
    Ok(())
}
