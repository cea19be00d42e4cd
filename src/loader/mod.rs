//! Boot loaders: turn a kernel image into RAM contents and an entry point.
//!
//! [`detect`] picks the format: a file with a valid Multiboot (v1) header is a
//! Multiboot kernel (as with QEMU's `-kernel`, the header wins even in an ELF64
//! file); otherwise an ELF file goes to the direct ELF64 boot; anything else is
//! refused with a message naming both accepted formats.

pub mod elf;
pub mod multiboot;

pub use elf::{load_elf, parse_elf, ElfError, ElfImage, Segment};
pub use multiboot::{
    load_multiboot, parse_multiboot, BootModule, MultibootBoot, MultibootError, MultibootImage,
    MultibootOptions,
};

/// Which loader a kernel file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFormat {
    /// A valid Multiboot header in the first 8192 bytes.
    Multiboot,
    /// An ELF file without a Multiboot header: the direct 64-bit boot.
    Elf64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Elf(#[from] ElfError),
    #[error(transparent)]
    Multiboot(#[from] MultibootError),
    #[error("kernel is a 32-bit ELF without a Multiboot header: reprise boots ELF64 x86-64 executables directly, and 32-bit kernels only through a Multiboot (v1) header")]
    Elf32WithoutMultiboot,
    #[error("kernel is not an ELF file and has no Multiboot header (magic 0x1badb002) in its first 8192 bytes; reprise boots an ELF64 x86-64 executable or a Multiboot (v1) kernel")]
    UnknownFormat,
}

/// Decides how to boot `file`. A Multiboot magic whose checksum fails is reported as a
/// bad Multiboot header unless the file is an ELF64 (which then boots directly).
pub fn detect(file: &[u8]) -> Result<KernelFormat, KernelError> {
    let elf = file.starts_with(b"\x7fELF");
    match multiboot::search(file) {
        multiboot::Found::Header(_) => Ok(KernelFormat::Multiboot),
        // An ELF32 file boots only through Multiboot: there a bad header is the cause.
        multiboot::Found::BadChecksum { .. } if elf && file.get(4) != Some(&1) => {
            Ok(KernelFormat::Elf64)
        }
        multiboot::Found::None if elf => Ok(KernelFormat::Elf64),
        multiboot::Found::BadChecksum { offset, sum } => {
            Err(MultibootError::BadChecksum { offset, sum }.into())
        }
        multiboot::Found::None => Err(KernelError::UnknownFormat),
    }
}

/// The ELF64 loader with the error for 32-bit files that says what to do instead.
pub fn load_elf64(file: &[u8], ram: &mut reprise_jit::GuestRam) -> Result<ElfImage, KernelError> {
    load_elf(file, ram).map_err(|e| match e {
        ElfError::Elf32 => KernelError::Elf32WithoutMultiboot,
        e => KernelError::Elf(e),
    })
}
