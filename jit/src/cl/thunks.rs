//! Memory slow-path thunks: what a compiled block calls when a load or store misses the
//! TLB.
//!
//! A miss goes to the MMU's slow path, which is Rust code with the System V convention:
//! calling it straight from a block clobbers nine general registers and every XMM
//! register, so the register allocator keeps everything that lives across a memory
//! access (in a loop, nearly every guest register) in stack slots, hit or miss. These
//! thunks use Cranelift's `preserve_all` convention instead: each saves what the Rust
//! call clobbers and restores it, so at the call site no register is clobbered and the
//! hit path keeps guest values in registers. `preserve_all` has no return values: the
//! load thunk leaves its result in `Ctx::slow_result`.

use super::JitError;
use crate::ctx::Ctx;
use cranelift_codegen::ir::{types::I64, AbiParam, InstBuilder, MemFlagsData, Signature};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};
use std::mem::offset_of;

/// Entry points of the two thunks (in the JIT's long-lived trampoline module).
#[derive(Clone, Copy, Debug)]
pub struct SlowPaths {
    /// `(ctx, vaddr, size, 0)`: loads; the value lands in `Ctx::slow_result`.
    pub read: u64,
    /// `(ctx, vaddr, size, value)`: stores.
    pub write: u64,
}

/// The thunks' own signature: four integer arguments, nothing returned, nothing
/// clobbered.
pub fn thunk_signature() -> Signature {
    let mut sig = Signature::new(CallConv::PreserveAll);
    for _ in 0..4 {
        sig.params.push(AbiParam::new(I64));
    }
    sig
}

/// The System V helpers' signature (as `ClEmitter` calls them): `(ctx, a, b, c, d) -> u64`.
fn helper_signature() -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    for _ in 0..5 {
        sig.params.push(AbiParam::new(I64));
    }
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// Defines both thunks in `module` (finalized by the caller).
pub fn define(
    module: &mut JITModule,
    isa: &OwnedTargetIsa,
) -> Result<[cranelift_module::FuncId; 2], JitError> {
    let read = define_one(
        module,
        isa,
        "reprise_slow_read",
        super::emitter::read_slow_io as *const () as usize,
    )?;
    let write = define_one(
        module,
        isa,
        "reprise_slow_write",
        super::emitter::write_slow_io as *const () as usize,
    )?;
    Ok([read, write])
}

fn define_one(
    module: &mut JITModule,
    isa: &OwnedTargetIsa,
    name: &str,
    target: usize,
) -> Result<cranelift_module::FuncId, JitError> {
    let err = |e: String| JitError::Setup(format!("slow-path thunk {name}: {e}"));
    let sig = thunk_signature();
    let id = module
        .declare_function(name, Linkage::Local, &sig)
        .map_err(|e| err(e.to_string()))?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    let mut fctx = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let p = b.block_params(entry).to_vec();
        let sref = b.import_signature(helper_signature());
        let callee = b.ins().iconst(I64, target as i64);
        let zero = b.ins().iconst(I64, 0);
        let call = b
            .ins()
            .call_indirect(sref, callee, &[p[0], p[1], p[2], p[3], zero]);
        let r = b.inst_results(call)[0];
        let off = offset_of!(Ctx, slow_result) as i32;
        b.ins().store(MemFlagsData::trusted(), r, p[0], off);
        b.ins().return_(&[]);
        b.finalize(isa.frontend_config());
    }
    module
        .define_function(id, &mut ctx)
        .map_err(|e| err(format!("{e:?}")))?;
    Ok(id)
}
