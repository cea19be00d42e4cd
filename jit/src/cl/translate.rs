//! Lowers one decoded block to a Cranelift function.

use super::emitter::{ClEmitter, InsnPos};
use crate::cache::BlockKey;
use crate::sem::{self, Outcome};
use crate::state::offsets;
use cranelift_codegen::ir::{condcodes::IntCC, types::I64, Function, InstBuilder, MemFlagsData};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

/// Fills `func` with the code of `block`. Fails (and the block stays interpreted) when
/// an instruction has no semantics.
pub fn translate_block(
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    key: BlockKey,
    insns: &[iced_x86::Instruction],
    slots: &mut Vec<Box<u64>>,
    target: cranelift_codegen::isa::TargetFrontendConfig,
) -> Result<(), String> {
    // A block that jumps back to its own start becomes a loop inside the function: the
    // back edge re-checks the budget and jumps to a header with the guest state still
    // in SSA values. The header needs every value the body reads defined on entry and
    // every value it writes stored at each exit; a first pass finds those sets.
    let self_loop = insns.iter().any(|i| {
        matches!(
            i.flow_control(),
            iced_x86::FlowControl::ConditionalBranch | iced_x86::FlowControl::UnconditionalBranch
        ) && i.near_branch_target() == key.rip
    });
    let mut pinned = None;
    if self_loop {
        let mut scratch = Function::with_name_signature(func.name.clone(), func.signature.clone());
        let mut scratch_ctx = FunctionBuilderContext::new();
        let mut scratch_slots = Vec::new();
        let sets = emit_block(
            &mut scratch,
            &mut scratch_ctx,
            key,
            insns,
            &mut scratch_slots,
            target,
            None,
        )?;
        pinned = Some(sets);
    }
    emit_block(
        func,
        fctx,
        key,
        insns,
        slots,
        target,
        pinned.map(|s| (s, true)),
    )
    .map(|_| ())
}

/// One translation pass; returns the cached values it read and wrote. `loop_sets`:
/// emit the block as a loop, preloading / pinning the given (read, written) sets.
fn emit_block(
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    key: BlockKey,
    insns: &[iced_x86::Instruction],
    slots: &mut Vec<Box<u64>>,
    target: cranelift_codegen::isa::TargetFrontendConfig,
    loop_sets: Option<((u64, u64), bool)>,
) -> Result<(u64, u64), String> {
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let ctx_v = b.block_params(entry)[0];
    let n = insns.len() as i64;
    let page = key.rip & !0xfff;
    let mode = crate::emit::Mode::from_key(key.mode);

    // Budget check: run only if the whole block fits before the deadline.
    let flags = MemFlagsData::trusted();
    let icount = b.ins().load(I64, flags, ctx_v, offsets::ICOUNT);
    let deadline = b.ins().load(I64, flags, ctx_v, offsets::ICOUNT_DEADLINE);
    let end = b.ins().iadd_imm_s(icount, n);
    let over = b.ins().icmp(IntCC::UnsignedGreaterThan, end, deadline);
    let out = b.create_block();
    let body = b.create_block();
    b.ins().brif(over, out, &[], body, &[]);
    b.seal_block(out);
    b.seal_block(body);
    b.switch_to_block(out);
    let rip = b.ins().iconst(I64, key.rip as i64);
    b.ins().store(flags, rip, ctx_v, offsets::RIP);
    b.ins().return_(&[]);
    b.switch_to_block(body);

    let mut e = ClEmitter::new(&mut b, ctx_v, page, mode, slots);
    e.init_icount(icount);
    if let Some(((used, written), _)) = loop_sets {
        e.preload(used, written);
        e.open_loop_head(key.rip, n as u64);
    }
    for (k, insn) in insns.iter().enumerate() {
        e.pos = InsnPos {
            index: k as u64,
            ip: insn.ip(),
            next_ip: insn.next_ip(),
        };
        if insn.is_invalid() {
            return Err(format!("invalid instruction at {:#x}", insn.ip()));
        }
        match sem::translate(&mut e, insn) {
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
        let last = insns.last().map(|i| i.next_ip()).unwrap_or(key.rip);
        use crate::emit::Emitter;
        e.jump_to(last);
    }
    e.seal_loop_head();
    let sets = (e.ever_used, e.ever_written);
    b.finalize(target);
    Ok(sets)
}
