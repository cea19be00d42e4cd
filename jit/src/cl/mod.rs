//! The Cranelift tier (placeholder while it is being written).

use crate::cache::Block;
use crate::ctx::Ctx;

#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error("Cranelift setup failed: {0}")]
    Setup(String),
    #[error("cannot compile block at {rip:#x}: {msg}")]
    Compile { rip: u64, msg: String },
}

pub struct Jit {}

impl Jit {
    pub fn new(_ctx: &mut Ctx) -> Result<Jit, JitError> {
        Ok(Jit {})
    }
    pub fn compile(&mut self, _ctx: &mut Ctx, b: &Block) -> Result<*const u8, JitError> {
        Err(JitError::Compile {
            rip: b.key.rip,
            msg: "not yet".into(),
        })
    }
    pub fn execute(&mut self, _ctx: &mut Ctx, _code: *const u8) {}
    pub fn link(&mut self, _slot: u64, _code: *const u8) {}
    pub fn note_lookup(&mut self, _ctx: &mut Ctx, _rip: u64, _code: *const u8) {}
    pub fn forget_blocks(&mut self, _ctx: &mut Ctx, _ids: &[usize]) {}
    pub fn flush(&mut self, _ctx: &mut Ctx) {}
    pub fn code_bytes(&self) -> usize {
        0
    }
}
