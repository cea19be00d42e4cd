//! The Cranelift tier.
//!
//! A hot block is lowered to one Cranelift function by running the same semantic
//! functions the interpreter runs, with [`emitter::ClEmitter`] as the emitter. Blocks
//! use Cranelift's `tail` calling convention and take the context pointer as their only
//! argument: a block that ends in a jump continues into the next compiled block with
//! `return_call_indirect`, so hot code never returns to the dispatcher between blocks.
//! Direct jumps within the block's page go through a per-jump *link slot* that the
//! dispatcher fills once the target is compiled; other jumps probe the context's jump
//! cache. Every block first checks the instruction budget (`icount + n <= deadline`),
//! so chained code still stops exactly where the machine needs it to.

mod emitter;
mod translate;

use crate::cache::Block;
use crate::ctx::Ctx;
use cranelift_codegen::ir::{types::I64, AbiParam, InstBuilder, Signature, UserFuncName};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error("Cranelift setup failed: {0}")]
    Setup(String),
    #[error("cannot compile block at {rip:#x}: {msg}")]
    Compile { rip: u64, msg: String },
}

/// Signature of a compiled block.
fn block_signature() -> Signature {
    let mut s = Signature::new(CallConv::Tail);
    s.params.push(AbiParam::new(I64));
    s
}

type Trampoline = extern "C" fn(*mut Ctx, *const u8);

pub struct Jit {
    isa: OwnedTargetIsa,
    module: Option<JITModule>,
    trampoline: Trampoline,
    fctx: FunctionBuilderContext,
    cl_ctx: cranelift_codegen::Context,
    /// Link slots of compiled blocks (stable heap cells generated code reads).
    slots: Vec<Box<u64>>,
    /// Slots currently pointing at each entry point, to unlink on invalidation.
    incoming: HashMap<u64, Vec<u64>>,
    code_bytes: usize,
    next_id: u64,
    broken: bool,
}

fn make_isa() -> Result<OwnedTargetIsa, JitError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v)
            .map_err(|e| JitError::Setup(format!("setting {k}={v}: {e}")))
    };
    set(&mut flags, "opt_level", "speed")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    // Cranelift's x86-64 tail calls rely on frame pointers.
    set(&mut flags, "preserve_frame_pointers", "true")?;
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    let isa_builder = cranelift_native::builder().map_err(|e| JitError::Setup(e.to_string()))?;
    isa_builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| JitError::Setup(e.to_string()))
}

fn new_module(isa: &OwnedTargetIsa) -> JITModule {
    JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()))
}

impl Jit {
    pub fn new(_ctx: &mut Ctx) -> Result<Jit, JitError> {
        let isa = make_isa()?;
        let mut jit = Jit {
            module: Some(new_module(&isa)),
            isa,
            trampoline: dummy_trampoline,
            fctx: FunctionBuilderContext::new(),
            cl_ctx: cranelift_codegen::Context::new(),
            slots: Vec::new(),
            incoming: HashMap::new(),
            code_bytes: 0,
            next_id: 0,
            broken: false,
        };
        jit.trampoline = jit.build_trampoline()?;
        Ok(jit)
    }

    fn module(&mut self) -> &mut JITModule {
        self.module.get_or_insert_with(|| new_module(&self.isa))
    }

    /// A System V function `(ctx, code)` that calls the tail-convention block `code`.
    fn build_trampoline(&mut self) -> Result<Trampoline, JitError> {
        let module = self.module.get_or_insert_with(|| new_module(&self.isa));
        let mut sig = module.make_signature();
        sig.call_conv = CallConv::SystemV;
        sig.params.push(AbiParam::new(I64));
        sig.params.push(AbiParam::new(I64));
        let err = |e: String| JitError::Setup(format!("trampoline: {e}"));
        let id = module
            .declare_function("reprise_enter", Linkage::Local, &sig)
            .map_err(|e| err(e.to_string()))?;
        let mut ctx = module.make_context();
        ctx.func.signature = sig;
        let target = self.isa.frontend_config();
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut self.fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            b.seal_block(entry);
            let p = b.block_params(entry).to_vec();
            let sref = b.import_signature(block_signature());
            b.ins().call_indirect(sref, p[1], &[p[0]]);
            b.ins().return_(&[]);
            b.finalize(target);
        }
        module
            .define_function(id, &mut ctx)
            .map_err(|e| err(format!("{e:?}")))?;
        module
            .finalize_definitions()
            .map_err(|e| err(e.to_string()))?;
        let ptr = module.get_finalized_function(id);
        // SAFETY: `ptr` is the entry of the function just compiled with exactly this
        // System V signature (two pointer-sized integer arguments, no result).
        Ok(unsafe { std::mem::transmute::<*const u8, Trampoline>(ptr) })
    }

    /// Compiles a decoded block; returns its entry point.
    pub fn compile(&mut self, ctx: &mut Ctx, block: &Block) -> Result<*const u8, JitError> {
        let rip = block.key.rip;
        let cerr = |msg: String| JitError::Compile { rip, msg };
        if self.broken {
            return Err(cerr(
                "the code cache could not be rebuilt after a flush".into(),
            ));
        }
        self.next_id += 1;
        let name = format!("b{}_{:x}", self.next_id, rip);
        let mut slots: Vec<Box<u64>> = Vec::new();
        self.cl_ctx.clear();
        self.cl_ctx.func.signature = block_signature();
        self.cl_ctx.func.name = UserFuncName::user(0, self.next_id as u32);
        let translated = translate::translate_block(
            &mut self.cl_ctx.func,
            &mut self.fctx,
            ctx,
            block,
            &mut slots,
            self.isa.frontend_config(),
        );
        if let Err(msg) = translated {
            // The builder context still holds the half-built function: start afresh.
            self.fctx = FunctionBuilderContext::new();
            return Err(cerr(msg));
        }
        let module = self.module.get_or_insert_with(|| new_module(&self.isa));
        let id = module
            .declare_function(&name, Linkage::Local, &block_signature())
            .map_err(|e| cerr(e.to_string()))?;
        module
            .define_function(id, &mut self.cl_ctx)
            .map_err(|e| cerr(format!("{e:?}")))?;
        let size = self
            .cl_ctx
            .compiled_code()
            .map(|c| c.code_buffer().len())
            .unwrap_or(0);
        module
            .finalize_definitions()
            .map_err(|e| cerr(e.to_string()))?;
        let ptr = module.get_finalized_function(id);
        self.code_bytes += size;
        self.slots.extend(slots);
        Ok(ptr)
    }

    /// Runs compiled code from `code` until a block returns to the dispatcher.
    pub fn execute(&mut self, ctx: &mut Ctx, code: *const u8) {
        (self.trampoline)(ctx as *mut Ctx, code);
    }

    /// Makes the direct jump whose link slot is `slot` continue straight into `code`.
    pub fn link(&mut self, slot: u64, code: *const u8) {
        if !self
            .slots
            .iter()
            .any(|s| (&**s as *const u64 as u64) == slot)
        {
            return;
        }
        // SAFETY: `slot` is the address of one of our live boxed link cells (checked
        // above); generated code only reads it while the dispatcher is not running.
        unsafe { *(slot as *mut u64) = code as u64 };
        self.incoming.entry(code as u64).or_default().push(slot);
    }

    /// Unlinks everything that jumps to the given (invalidated) entry points.
    pub fn forget_code(&mut self, ctx: &mut Ctx, codes: &[*const u8]) {
        for &c in codes {
            if let Some(slots) = self.incoming.remove(&(c as u64)) {
                for s in slots {
                    // SAFETY: recorded by `link` from one of our live link cells.
                    unsafe { *(s as *mut u64) = 0 };
                }
            }
        }
        if !codes.is_empty() {
            ctx.flush_jmp_cache();
        }
    }

    /// Frees all generated code. The caller must drop every entry point it holds.
    pub fn flush(&mut self, ctx: &mut Ctx) {
        ctx.flush_jmp_cache();
        self.incoming.clear();
        self.slots.clear();
        self.code_bytes = 0;
        if let Some(m) = self.module.take() {
            // SAFETY: no generated code is running (we are in the dispatcher) and every
            // pointer into it (blocks' entry points, link slots, the jump cache) has
            // been dropped by the caller and above. The trampoline lives in this
            // module too and is rebuilt below.
            unsafe { m.free_memory() };
        }
        self.trampoline = dummy_trampoline;
        let _ = self.module();
        match self.build_trampoline() {
            Ok(t) => self.trampoline = t,
            // Without a trampoline nothing may be compiled again; the CPU keeps
            // running everything in the interpreter.
            Err(_) => self.broken = true,
        }
    }

    pub fn code_bytes(&self) -> usize {
        self.code_bytes
    }
}

extern "C" fn dummy_trampoline(_: *mut Ctx, _: *const u8) {}
