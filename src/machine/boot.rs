//! Choosing the loader for a kernel file and putting the CPU in the entry state it
//! expects: the direct ELF64 boot (64-bit long mode) or Multiboot (32-bit protected
//! mode, EAX = 0x2BADB002, EBX = the info structure).

use super::MachineError;
use crate::loader::{self, KernelError, KernelFormat, MultibootOptions};
use reprise_jit::{Cpu, GuestRam};

/// Boot options for the kernel: the Multiboot command line and modules. An ELF64
/// kernel booted directly takes neither.
pub type BootOptions = MultibootOptions;

/// Where and how the CPU starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootEntry {
    /// 64-bit long mode at `entry` (the direct ELF64 boot).
    Long { entry: u64 },
    /// 32-bit flat protected mode at `entry`, EAX = the Multiboot magic, EBX = `info`.
    Multiboot { entry: u32, info: u32 },
}

impl BootEntry {
    pub fn entry(&self) -> u64 {
        match *self {
            BootEntry::Long { entry } => entry,
            BootEntry::Multiboot { entry, .. } => entry as u64,
        }
    }

    pub fn enter(&self, cpu: &mut Cpu) {
        match *self {
            BootEntry::Long { entry } => cpu.enter_long_mode(entry),
            BootEntry::Multiboot { entry, info } => {
                cpu.enter_protected_mode_flat(entry, loader::multiboot::BOOTLOADER_MAGIC, info)
            }
        }
    }
}

/// Loads `kernel` (and, for Multiboot, its modules and info area) into `ram`.
pub fn load_kernel(
    kernel: &[u8],
    opts: &BootOptions,
    ram: &mut GuestRam,
) -> Result<BootEntry, MachineError> {
    match loader::detect(kernel)? {
        KernelFormat::Multiboot => {
            let image = loader::parse_multiboot(kernel, ram.len())
                .map_err(KernelError::from)?
                .ok_or(KernelError::UnknownFormat)?;
            let b = loader::load_multiboot(image, kernel, opts, ram).map_err(KernelError::from)?;
            Ok(BootEntry::Multiboot {
                entry: b.entry,
                info: b.info_addr,
            })
        }
        KernelFormat::Elf64 => {
            if !opts.cmdline.is_empty() || !opts.modules.is_empty() {
                return Err(MachineError::BootOptions(
                    "a command line or modules (--append, --initrd, --module) are given, but \
                     the kernel is an ELF64 executable booted directly, which takes neither; \
                     they are for Multiboot kernels"
                        .into(),
                ));
            }
            let image = loader::load_elf64(kernel, ram)?;
            Ok(BootEntry::Long { entry: image.entry })
        }
    }
}
