//! A machine reset, as the guest asks for it (the i8042's reset line or the PIIX3's
//! reset control at port 0xCF9): everything goes back to its power-on state and the kernel boots again,
//! except what survives a real reset — the CMOS RTC's NVRAM and its time — and what
//! is the machine's clock rather than guest state: the instruction count and the
//! virtual time go on (the log is indexed by them).
//!
//! * Guest RAM is cleared (only the pages the host ever backed need clearing), then
//!   the kernel and its modules are loaded again from the bytes read at start (the
//!   files are not read again) and the boot protocol (ELF64 direct or Multiboot) is
//!   run again, as at power-on.
//! * The CPU gets its boot state; translated code is dropped.
//! * The board's devices are built anew, the RTC excepted: it keeps NVRAM and time,
//!   and loses its interrupt enables and flags (register B's PIE, AIE, UIE and SQWE,
//!   register C), as the RESET pin of the MC146818 does.
//! * The PCI bus and its functions go back to power-on and the firmware step runs
//!   again (BARs, PIRQ routes, interrupt lines).
//! * virtio devices are built anew from their configuration; block requests still in
//!   flight complete into nothing (the new device's request numbers go on from the
//!   old one's, so a late completion never matches a new request). Disk overlays and
//!   images are the disk: they survive.
//!
//! Record logs `Checkpoint::Reset` at the instruction count of the request; replay
//! checks it meets the same checkpoint there.

use super::{boot, Machine, MachineError};
use reprise_devices::{DebugExit, Intc, Pit, Uart, I8042};
use reprise_replay::{Checkpoint, ReplayError};
use std::io::Write;

/// Register B bits a reset clears: PIE, AIE, UIE, SQWE.
const RTC_B_RESET_MASK: u8 = 0x40 | 0x20 | 0x10 | 0x08;

impl Machine {
    /// Resets the machine at the current instruction count and boots the kernel again.
    pub(super) fn reset(&mut self) -> Result<(), MachineError> {
        let ic = self.icount();
        let passed = self
            .board
            .mode
            .checkpoint(ic, Checkpoint::Reset, &mut || None)?;
        if passed.is_none() {
            return Err(MachineError::Replay(ReplayError::Divergence {
                window: (ic, ic),
                icount: ic,
                expected: "no reset here".into(),
                actual: "a reset requested by the guest".into(),
            }));
        }
        self.resets += 1;
        self.reset_devices()?;
        self.reset_cpu_and_ram()?;
        let now = self.cpu.virtual_ns();
        self.board
            .set_clock(self.cpu.icount_shift(), self.cpu.state().clock_bias_ns);
        self.board.update_virtio_irqs(now);
        self.sync_code();
        Ok(())
    }

    fn reset_devices(&mut self) -> Result<(), MachineError> {
        let b = &mut self.board;
        let _ = b.com1.writer_mut().flush();
        let out = std::mem::replace(
            &mut b.com1,
            Uart::new(Box::new(std::io::sink()) as Box<dyn Write + Send>),
        )
        .into_writer();
        b.com1 = Uart::new(out);
        b.debug_exit = DebugExit::new();
        b.intc = Intc::new();
        b.pit = Pit::new();
        b.i8042 = I8042::new();
        b.reset_requested = false;
        b.exit = None;
        let mut rtc = b.rtc.state();
        if let Some(r) = rtc.cmos.get_mut(0x0b) {
            *r &= !RTC_B_RESET_MASK;
        }
        if let Some(r) = rtc.cmos.get_mut(0x0c) {
            *r = 0;
        }
        rtc.index = 0;
        b.rtc = reprise_devices::Rtc::from_state(&rtc);
        b.virtio.reset().map_err(MachineError::Devices)?;
        // PCI: every function back to power-on, then the firmware step again (BARs,
        // PIRQ routes, interrupt lines, ELCR), as a BIOS does on every boot.
        b.pci.reset();
        let memory_mib = self.cpu.ram().len() >> 20;
        super::pci::firmware(&mut b.pci, memory_mib).map_err(MachineError::Devices)?;
        b.pci_init();
        Ok(())
    }

    fn reset_cpu_and_ram(&mut self) -> Result<(), MachineError> {
        let st = self.cpu.state();
        let (icount, bias) = (st.icount, st.clock_bias_ns);
        let ram = self.cpu.ram_mut();
        let resident = ram.resident_pages();
        let bytes = ram.as_mut_slice();
        match resident {
            Some(pages) => {
                for (page, touched) in bytes.chunks_mut(4096).zip(pages) {
                    if touched {
                        page.fill(0);
                    }
                }
            }
            None => bytes.fill(0),
        }
        let entry = boot::load_kernel(&self.kernel, &self.boot_opts, self.cpu.ram_mut())?;
        *self.cpu.state_mut() = reprise_jit::CpuState {
            icount,
            clock_bias_ns: bias,
            ..reprise_jit::CpuState::default()
        };
        entry.enter(&mut self.cpu);
        self.cpu.flush_code_cache();
        Ok(())
    }

    /// How many times the guest reset the machine so far.
    pub fn resets(&self) -> u64 {
        self.resets
    }
}
