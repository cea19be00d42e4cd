//! Boot loaders: turn a kernel image into RAM contents and an entry point.

pub mod elf;

pub use elf::{load_elf, parse_elf, ElfError, ElfImage, Segment};
