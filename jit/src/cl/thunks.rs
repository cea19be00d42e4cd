//! Memory slow-path thunks: what a compiled block calls when a load or store misses the
//! TLB.
//!
//! A miss goes to the MMU's slow path, which is Rust code with the System V convention:
//! calling it straight from a block clobbers nine general registers and every XMM
//! register and pins its arguments to fixed registers, so the register allocator keeps
//! much of what lives across a memory access (in a loop, nearly every guest register)
//! in stack slots, hit or miss. These thunks use Cranelift's `preserve_all` convention
//! instead, and take only the context pointer (which generated code keeps in the first
//! argument register anyway): the block stores the address (and a store's value) into
//! `Ctx::slow_addr` / `Ctx::slow_result`, the thunk saves whatever the Rust call
//! clobbers, and a load's value comes back in `Ctx::slow_result`. There is one thunk
//! per access kind, size and mode, with those baked in as constants.

use super::JitError;
use crate::ctx::Ctx;
use cranelift_codegen::ir::{types::I64, AbiParam, InstBuilder, MemFlagsData, Signature};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};
use std::mem::offset_of;

/// Access sizes, in the order of the tables' last index.
const SIZES: [u8; 4] = [1, 2, 4, 8];

/// Entry points of the thunks (in the JIT's long-lived trampoline module), indexed by
/// mode (0: plain RAM only, 1: complete whatever is touched; see
/// `ClEmitter::slow_access`) and size (1, 2, 4, 8 bytes).
#[derive(Clone, Copy, Debug)]
pub struct SlowPaths {
    pub read: [[u64; 4]; 2],
    pub write: [[u64; 4]; 2],
}

impl SlowPaths {
    /// The thunk for a load (`write` false) or store of `size` bytes.
    pub fn get(&self, write: bool, complete: bool, size: u8) -> u64 {
        let table = if write { &self.write } else { &self.read };
        let k = SIZES.iter().position(|&s| s == size).unwrap_or(3);
        table[complete as usize][k]
    }
}

/// The thunks' own signature: the context pointer, nothing returned, nothing clobbered.
pub fn thunk_signature() -> Signature {
    let mut sig = Signature::new(CallConv::PreserveAll);
    sig.params.push(AbiParam::new(I64));
    sig
}

/// The System V slow paths' signature: `(ctx, vaddr, size, value, 0) -> u64`.
fn helper_signature() -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    for _ in 0..5 {
        sig.params.push(AbiParam::new(I64));
    }
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// Thunks defined in a module, before it is finalized.
pub struct Defined {
    read: [[FuncId; 4]; 2],
    write: [[FuncId; 4]; 2],
}

/// Defines every thunk in `module`.
pub fn define(module: &mut JITModule, isa: &OwnedTargetIsa) -> Result<Defined, JitError> {
    let read_fn = super::emitter::read_slow_io as *const () as usize;
    let write_fn = super::emitter::write_slow_io as *const () as usize;
    let mut one = |write: bool, complete: usize, k: usize| {
        let name = format!(
            "reprise_slow_{}{}_{}",
            if write { "write" } else { "read" },
            SIZES[k] * 8,
            if complete == 1 { "complete" } else { "ram" }
        );
        let arg = SIZES[k] as u64
            | if complete == 1 {
                super::emitter::SLOW_COMPLETE
            } else {
                0
            };
        let target = if write { write_fn } else { read_fn };
        define_one(module, isa, &name, target, arg)
    };
    let mut d = Defined {
        read: [[FuncId::from_u32(0); 4]; 2],
        write: [[FuncId::from_u32(0); 4]; 2],
    };
    for complete in 0..2 {
        for k in 0..4 {
            d.read[complete][k] = one(false, complete, k)?;
            d.write[complete][k] = one(true, complete, k)?;
        }
    }
    Ok(d)
}

/// The entry points of the thunks, once `module` is finalized.
pub fn addresses(module: &JITModule, d: &Defined) -> SlowPaths {
    let addr = |ids: &[[FuncId; 4]; 2]| {
        ids.map(|row| row.map(|id| module.get_finalized_function(id) as u64))
    };
    SlowPaths {
        read: addr(&d.read),
        write: addr(&d.write),
    }
}

/// Declares and defines in `module` a function `name` with signature `sig` whose one
/// block `body` fills (given the function's parameters; it must end the block).
pub fn define_fn(
    module: &mut JITModule,
    isa: &OwnedTargetIsa,
    name: &str,
    sig: Signature,
    body: impl FnOnce(&mut FunctionBuilder, &[cranelift_codegen::ir::Value]),
) -> Result<FuncId, JitError> {
    let err = |e: String| JitError::Setup(format!("{name}: {e}"));
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
        let params = b.block_params(entry).to_vec();
        body(&mut b, &params);
        b.finalize(isa.frontend_config());
    }
    module
        .define_function(id, &mut ctx)
        .map_err(|e| err(format!("{e:?}")))?;
    Ok(id)
}

fn define_one(
    module: &mut JITModule,
    isa: &OwnedTargetIsa,
    name: &str,
    target: usize,
    size_arg: u64,
) -> Result<FuncId, JitError> {
    define_fn(module, isa, name, thunk_signature(), |b, p| {
        let cx = p[0];
        let flags = MemFlagsData::trusted();
        let addr_off = offset_of!(Ctx, slow_addr) as i32;
        let result_off = offset_of!(Ctx, slow_result) as i32;
        let vaddr = b.ins().load(I64, flags, cx, addr_off);
        let value = b.ins().load(I64, flags, cx, result_off);
        let size = b.ins().iconst(I64, size_arg as i64);
        let zero = b.ins().iconst(I64, 0);
        let sref = b.import_signature(helper_signature());
        let callee = b.ins().iconst(I64, target as i64);
        let call = b
            .ins()
            .call_indirect(sref, callee, &[cx, vaddr, size, value, zero]);
        let r = b.inst_results(call)[0];
        b.ins().store(flags, r, cx, result_off);
        b.ins().return_(&[]);
    })
}
