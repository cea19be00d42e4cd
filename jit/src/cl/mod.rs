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

mod background;
mod compiler;
mod cpu_clock;
mod emitter;
mod thunks;
mod translate;

use crate::cache::Block;
use crate::ctx::Ctx;
use background::{Background, Request};
use compiler::{new_module, Compiler};
use cranelift_codegen::ir::{types::I64, AbiParam, InstBuilder, Signature};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::JITModule;
use cranelift_module::Module;
use std::collections::HashMap;
use std::time::Duration;

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

/// Where blocks get compiled.
enum Backend {
    /// On the vCPU thread, when a block becomes hot.
    Inline(Box<Compiler>),
    /// On a background thread while the interpreter keeps running the block.
    Background(Background),
}

/// A compile that finished: the dispatcher installs `code` if the block `id` still has
/// serial number `serial`.
pub struct Installed {
    pub id: usize,
    pub serial: u64,
    /// `None` when the block cannot be compiled (it stays interpreted).
    pub code: Option<*const u8>,
}

pub struct Jit {
    backend: Backend,
    /// Holds only the trampoline; never freed while the JIT lives.
    _trampoline_module: JITModule,
    trampoline: Trampoline,
    /// Link slots of installed blocks (stable heap cells generated code reads).
    slots: Vec<Box<u64>>,
    /// Slots currently pointing at each entry point, to unlink on invalidation.
    incoming: HashMap<u64, Vec<u64>>,
    code_bytes: usize,
    /// Bumped by every flush; results of older generations are dropped.
    generation: u64,
    compile_time: Duration,
}

fn make_isa() -> Result<OwnedTargetIsa, JitError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v)
            .map_err(|e| JitError::Setup(format!("setting {k}={v}: {e}")))
    };
    // "none" (no e-graph pass) compiles 24-29% faster but generated code is 5-14%
    // slower (callgrind, sort and calls benches); the single-pass register allocator
    // compiles 30% faster and makes code 75-90% slower.
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

/// A System V function `(ctx, code)` that calls the tail-convention block `code`, and
/// the memory slow-path thunks compiled blocks call (see [`thunks`]), in one module
/// that lives as long as the [`Jit`].
fn build_trampoline(
    isa: &OwnedTargetIsa,
) -> Result<(JITModule, Trampoline, thunks::SlowPaths), JitError> {
    let mut module = new_module(isa);
    let mut sig = module.make_signature();
    sig.call_conv = CallConv::SystemV;
    sig.params.push(AbiParam::new(I64));
    sig.params.push(AbiParam::new(I64));
    let err = |e: String| JitError::Setup(format!("trampoline: {e}"));
    let id = thunks::define_fn(&mut module, isa, "reprise_enter", sig, |b, p| {
        let sref = b.import_signature(block_signature());
        b.ins().call_indirect(sref, p[1], &[p[0]]);
        b.ins().return_(&[]);
    })?;
    let defined = thunks::define(&mut module, isa)?;
    module
        .finalize_definitions()
        .map_err(|e| err(e.to_string()))?;
    let slow = thunks::addresses(&module, &defined);
    let ptr = module.get_finalized_function(id);
    // SAFETY: `ptr` is the entry of the function just compiled with exactly this
    // System V signature (two pointer-sized integer arguments, no result), in a
    // module that lives as long as the returned trampoline's owner.
    let t = unsafe { std::mem::transmute::<*const u8, Trampoline>(ptr) };
    Ok((module, t, slow))
}

impl Jit {
    pub fn new(background: bool) -> Result<Jit, JitError> {
        let isa = make_isa()?;
        let (tm, trampoline, slow) = build_trampoline(&isa)?;
        let backend = if background {
            Backend::Background(Background::start(isa, slow)?)
        } else {
            Backend::Inline(Box::new(Compiler::new(isa, slow)))
        };
        Ok(Jit {
            backend,
            _trampoline_module: tm,
            trampoline,
            slots: Vec::new(),
            incoming: HashMap::new(),
            code_bytes: 0,
            generation: 0,
            compile_time: Duration::ZERO,
        })
    }

    /// Asks for block `id` to be compiled. Inline: compiles now and returns the
    /// outcome. Background: queues it and returns `None` (see [`Jit::finished`]).
    pub fn request(
        &mut self,
        id: usize,
        block: &Block,
        region: Vec<(crate::cache::BlockKey, Vec<iced_x86::Instruction>)>,
    ) -> Option<Installed> {
        match &mut self.backend {
            Backend::Inline(c) => {
                let (r, time) = cpu_clock::timed(|| c.compile(&region));
                self.compile_time += time;
                let code = r.ok().map(|c| {
                    self.code_bytes += c.size;
                    self.slots.extend(c.slots);
                    c.code as *const u8
                });
                Some(Installed {
                    id,
                    serial: block.serial,
                    code,
                })
            }
            Backend::Background(bg) => {
                let req = Request {
                    id,
                    serial: block.serial,
                    generation: self.generation,
                    blocks: region,
                };
                if !bg.request(req) {
                    return Some(Installed {
                        id,
                        serial: block.serial,
                        code: None,
                    });
                }
                None
            }
        }
    }

    /// Compiles finished on the background thread since the last call.
    pub fn finished(&mut self) -> Vec<Installed> {
        let Backend::Background(bg) = &self.backend else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for f in bg.poll() {
            self.compile_time += f.time;
            if f.generation != self.generation {
                continue;
            }
            let code = f.result.ok().map(|c| {
                self.code_bytes += c.size;
                self.slots.extend(c.slots);
                c.code as *const u8
            });
            out.push(Installed {
                id: f.id,
                serial: f.serial,
                code,
            });
        }
        out
    }

    /// Total CPU time spent compiling (on whichever thread; see [`cpu_clock`]).
    pub fn compile_time(&self) -> Duration {
        self.compile_time
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

    /// Frees all generated code. The caller must already have dropped every entry
    /// point it holds (the decoded blocks).
    pub fn flush(&mut self, ctx: &mut Ctx) {
        ctx.flush_jmp_cache();
        self.incoming.clear();
        self.slots.clear();
        self.code_bytes = 0;
        self.generation += 1;
        match &mut self.backend {
            // SAFETY: no generated code is running (we are in the dispatcher) and every
            // pointer into it (blocks' entry points, link slots, the jump cache) has
            // been dropped by the caller and above.
            Backend::Inline(c) => unsafe { c.free_all() },
            Backend::Background(bg) => bg.flush(),
        }
    }

    pub fn code_bytes(&self) -> usize {
        self.code_bytes
    }
}
