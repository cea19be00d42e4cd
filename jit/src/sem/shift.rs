//! shift instructions.

use crate::emit::{Emitter, Sem};
use iced_x86::Instruction;

pub fn emit<E: Emitter>(_e: &mut E, _i: &Instruction) -> Sem<Option<()>> {
    Ok(None)
}
