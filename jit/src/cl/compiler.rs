//! [`Compiler`]: owns a Cranelift JIT module and turns decoded blocks into machine
//! code. It runs either on the vCPU thread or on the background compile thread; it
//! never touches the CPU context.

use super::thunks::SlowPaths;
use super::{block_signature, translate, JitError};
use crate::cache::BlockKey;
use cranelift_codegen::ir::UserFuncName;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use iced_x86::Instruction;

/// Code for one block, ready to run.
pub struct Compiled {
    /// Entry point (an address inside the compiler's module).
    pub code: usize,
    /// Link slots the code reads (see `cl/emitter.rs`); owned by whoever runs it.
    pub slots: Vec<Box<u64>>,
    /// Bytes of machine code.
    pub size: usize,
}

pub struct Compiler {
    isa: OwnedTargetIsa,
    module: Option<JITModule>,
    fctx: FunctionBuilderContext,
    cl_ctx: cranelift_codegen::Context,
    next_id: u64,
    /// The memory slow-path thunks the generated code calls.
    slow: SlowPaths,
    /// `REPRISE_JIT_DISASM=1`: print each compiled block's machine code on stderr.
    disasm: bool,
}

pub fn new_module(isa: &OwnedTargetIsa) -> JITModule {
    JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()))
}

impl Compiler {
    pub fn new(isa: OwnedTargetIsa, slow: SlowPaths) -> Compiler {
        Compiler {
            module: Some(new_module(&isa)),
            isa,
            fctx: FunctionBuilderContext::new(),
            cl_ctx: cranelift_codegen::Context::new(),
            next_id: 0,
            slow,
            disasm: std::env::var_os("REPRISE_JIT_DISASM").is_some(),
        }
    }

    /// Compiles a region: `blocks[0]` is the entry, the others are blocks of the same
    /// page it may jump to (each a key and its instructions).
    pub fn compile(
        &mut self,
        blocks: &[(BlockKey, Vec<Instruction>)],
    ) -> Result<Compiled, JitError> {
        let Some((key, insns)) = blocks.first() else {
            return Err(JitError::Compile {
                rip: 0,
                msg: "empty region".into(),
            });
        };
        let rip = key.rip;
        let cerr = |msg: String| JitError::Compile { rip, msg };
        self.next_id += 1;
        let name = format!("b{}_{:x}", self.next_id, rip);
        let mut slots: Vec<Box<u64>> = Vec::new();
        self.cl_ctx.clear();
        self.cl_ctx.func.signature = block_signature();
        self.cl_ctx.func.name = UserFuncName::user(0, self.next_id as u32);
        self.cl_ctx.set_disasm(self.disasm);
        let region: Vec<translate::RegionBlock> = blocks
            .iter()
            .map(|(key, insns)| translate::RegionBlock { key: *key, insns })
            .collect();
        let translated = translate::translate_region(
            &mut self.cl_ctx.func,
            &mut self.fctx,
            &region,
            &mut slots,
            self.isa.frontend_config(),
            self.slow,
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
        let code = module.get_finalized_function(id) as usize;
        if let Some(text) = self.cl_ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
            eprintln!(
                "reprise: block {name} ({} instructions, region of {} blocks):\n{text}",
                insns.len(),
                blocks.len()
            );
        }
        Ok(Compiled { code, slots, size })
    }

    /// Frees all code this compiler produced.
    ///
    /// # Safety
    /// No code from this compiler may be running or run again: every entry point and
    /// link slot pointing into it must have been dropped.
    pub unsafe fn free_all(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: guaranteed by the caller (see above).
            unsafe { m.free_memory() };
        }
        self.module = Some(new_module(&self.isa));
    }
}
