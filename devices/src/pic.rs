//! The legacy 8259A PIC pair: master (IRQ 0-7) and slave (IRQ 8-15) cascaded on the
//! master's input 2, and the edge/level control registers (ELCR, ports 0x4d0/0x4d1).
//!
//! Modelled: ICW1-ICW4 initialisation (single/cascade, ICW4, auto-EOI, special fully
//! nested mode), IMR, IRR/ISR reads (OCW3), poll mode, special mask mode, specific and
//! non-specific EOI, priority rotation (rotate on EOI, rotate in auto-EOI, set
//! priority), edge and level triggering (the ELCR; ICW1's LTIM bit makes a whole chip
//! level-triggered as well), spurious IRQ 7 / IRQ 15. Not modelled: buffered mode and
//! the 8080/8085 call-address mode (ICW1 bit 0 clear means no ICW4: x86 mode is
//! assumed anyway). The PIC has no notion of time.

use serde::{Deserialize, Serialize};

/// Serializable state of one 8259A.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PicChipState {
    /// Input levels as last driven.
    pub lines: u8,
    pub irr: u8,
    pub isr: u8,
    pub imr: u8,
    /// Vector base from ICW2 (low three bits clear).
    pub vector_base: u8,
    /// Rotation: the input with the highest priority is `priority_add`.
    pub priority_add: u8,
    /// Which ICW is expected next on the data port (0: none, 2..=4).
    pub init_step: u8,
    pub icw4_needed: bool,
    pub single: bool,
    /// ICW1 LTIM: all inputs level-triggered.
    pub ltim: bool,
    pub auto_eoi: bool,
    pub rotate_on_auto_eoi: bool,
    pub special_fully_nested: bool,
    pub special_mask: bool,
    /// OCW3: the command port reads ISR (true) or IRR (false).
    pub read_isr: bool,
    /// OCW3 poll: the next command-port read is a poll.
    pub poll: bool,
    /// Edge/level control (1 = level).
    pub elcr: u8,
    /// ELCR bits that can be set (IRQ 0, 1, 2, 8 and 13 are always edge).
    pub elcr_mask: u8,
}

impl PicChipState {
    fn new(elcr_mask: u8) -> Self {
        PicChipState {
            elcr_mask,
            ..Default::default()
        }
    }

    fn level_mask(&self) -> u8 {
        if self.ltim {
            0xff
        } else {
            self.elcr
        }
    }

    /// The priority (0 = highest) of the best request in `mask`, or 8 for none.
    fn priority(&self, mask: u8) -> u8 {
        (0..8)
            .find(|p| mask & (1 << ((p + self.priority_add) & 7)) != 0)
            .unwrap_or(8)
    }

    /// The input the chip would interrupt for now.
    fn pending(&self, is_master: bool) -> Option<u8> {
        let p = self.priority(self.irr & !self.imr);
        if p == 8 {
            return None;
        }
        let mut isr = self.isr;
        if self.special_mask {
            isr &= !self.imr;
        }
        if is_master && self.special_fully_nested {
            isr &= !(1 << 2);
        }
        (p < self.priority(isr)).then_some((p + self.priority_add) & 7)
    }

    fn set_line(&mut self, irq: u8, level: bool) {
        let bit = 1u8 << (irq & 7);
        let was = self.lines & bit != 0;
        if level {
            self.lines |= bit;
            if self.level_mask() & bit != 0 || !was {
                self.irr |= bit;
            }
        } else {
            self.lines &= !bit;
            if self.level_mask() & bit != 0 {
                self.irr &= !bit;
            }
        }
    }

    /// The INTA cycle for input `irq`: in service unless auto-EOI.
    fn ack(&mut self, irq: u8) {
        let bit = 1u8 << (irq & 7);
        if self.level_mask() & bit == 0 {
            self.irr &= !bit;
        }
        if self.auto_eoi {
            if self.rotate_on_auto_eoi {
                self.priority_add = (irq + 1) & 7;
            }
        } else {
            self.isr |= bit;
        }
    }

    fn write_command(&mut self, v: u8) {
        if v & 0x10 != 0 {
            // ICW1.
            self.init_step = 2;
            self.icw4_needed = v & 1 != 0;
            self.single = v & 2 != 0;
            self.ltim = v & 8 != 0;
            self.imr = 0;
            self.isr = 0;
            self.irr = self.lines & self.level_mask();
            self.priority_add = 0;
            self.special_mask = false;
            self.read_isr = false;
            self.poll = false;
            self.auto_eoi = false;
            self.rotate_on_auto_eoi = false;
            self.special_fully_nested = false;
        } else if v & 0x08 != 0 {
            // OCW3.
            if v & 0x04 != 0 {
                self.poll = true;
            }
            if v & 0x02 != 0 {
                self.read_isr = v & 0x01 != 0;
            }
            if v & 0x40 != 0 {
                self.special_mask = v & 0x20 != 0;
            }
        } else {
            // OCW2.
            let level = v & 7;
            match v >> 5 {
                0 => self.rotate_on_auto_eoi = false,
                4 => self.rotate_on_auto_eoi = true,
                1 | 5 => {
                    let p = self.priority(self.isr);
                    if p < 8 {
                        let irq = (p + self.priority_add) & 7;
                        self.isr &= !(1 << irq);
                        if v >> 5 == 5 {
                            self.priority_add = (irq + 1) & 7;
                        }
                    }
                }
                3 => self.isr &= !(1 << level),
                7 => {
                    self.isr &= !(1 << level);
                    self.priority_add = (level + 1) & 7;
                }
                6 => self.priority_add = (level + 1) & 7,
                _ => {}
            }
        }
    }

    fn write_data(&mut self, v: u8) {
        match self.init_step {
            2 => {
                self.vector_base = v & 0xf8;
                self.init_step = if !self.single {
                    3
                } else if self.icw4_needed {
                    4
                } else {
                    0
                };
            }
            3 => self.init_step = if self.icw4_needed { 4 } else { 0 },
            4 => {
                self.auto_eoi = v & 2 != 0;
                self.special_fully_nested = v & 0x10 != 0;
                self.init_step = 0;
            }
            _ => self.imr = v,
        }
    }
}

/// Serializable state of the pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PicState {
    pub master: PicChipState,
    pub slave: PicChipState,
}

/// Which PIC register an access targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PicPort {
    /// Port 0x20.
    MasterCommand,
    /// Port 0x21.
    MasterData,
    /// Port 0xa0.
    SlaveCommand,
    /// Port 0xa1.
    SlaveData,
    /// Port 0x4d0.
    ElcrMaster,
    /// Port 0x4d1.
    ElcrSlave,
}

impl PicPort {
    /// The register at an I/O port, for the ports the pair decodes.
    pub fn from_port(port: u16) -> Option<PicPort> {
        Some(match port {
            0x20 => PicPort::MasterCommand,
            0x21 => PicPort::MasterData,
            0xa0 => PicPort::SlaveCommand,
            0xa1 => PicPort::SlaveData,
            0x4d0 => PicPort::ElcrMaster,
            0x4d1 => PicPort::ElcrSlave,
            _ => return None,
        })
    }
}

/// The cascaded 8259A pair.
#[derive(Clone, Debug)]
pub struct Pic {
    s: PicState,
}

impl Default for Pic {
    fn default() -> Self {
        Self::new()
    }
}

impl Pic {
    /// The state firmware leaves behind, with every input masked: vectors 0x08 and
    /// 0x70 (the BIOS convention), cascade mode, all inputs edge-triggered, IMR 0xff
    /// on both chips. Nothing reaches the CPU until the guest programs the pair (ICW1
    /// clears the IMR), so a guest that never touches the PIC never sees a stray
    /// 8259 vector.
    pub fn new() -> Self {
        let mut master = PicChipState::new(0xf8);
        master.vector_base = 0x08;
        master.imr = 0xff;
        let mut slave = PicChipState::new(0xde);
        slave.vector_base = 0x70;
        slave.imr = 0xff;
        Pic {
            s: PicState { master, slave },
        }
    }

    pub fn state(&self) -> PicState {
        self.s.clone()
    }

    pub fn from_state(state: &PicState) -> Self {
        let mut s = state.clone();
        s.master.elcr_mask = 0xf8;
        s.slave.elcr_mask = 0xde;
        s.master.elcr &= 0xf8;
        s.slave.elcr &= 0xde;
        s.master.vector_base &= 0xf8;
        s.slave.vector_base &= 0xf8;
        s.master.priority_add &= 7;
        s.slave.priority_add &= 7;
        Pic { s }
    }

    /// Propagates the slave's INT output to the master's input 2. The cascade input
    /// follows the slave's INT like a level-triggered input, so a slave that still
    /// has requests after an acknowledge keeps asking.
    fn cascade(&mut self) {
        let int = self.s.slave.pending(false).is_some();
        if int {
            self.s.master.lines |= 1 << 2;
            self.s.master.irr |= 1 << 2;
        } else {
            self.s.master.lines &= !(1 << 2);
            self.s.master.irr &= !(1 << 2);
        }
    }

    /// Drives ISA IRQ line `irq` (0..=15; others ignored; 2 is the cascade input).
    pub fn set_irq(&mut self, irq: u8, level: bool) {
        match irq {
            2 => {}
            0..=7 => self.s.master.set_line(irq, level),
            8..=15 => {
                self.s.slave.set_line(irq - 8, level);
                self.cascade();
            }
            _ => {}
        }
    }

    /// The master's INT output.
    pub fn int_output(&self) -> bool {
        self.s.master.pending(true).is_some()
    }

    /// The INTA sequence: the vector the pair puts on the bus. With no request left
    /// the master answers with its IRQ 7 vector (a spurious interrupt, ISR untouched);
    /// a request that went away at the slave gives the slave's IRQ 15 vector, with the
    /// master's cascade input in service, as the hardware does.
    pub fn acknowledge(&mut self) -> u8 {
        let Some(irq) = self.s.master.pending(true) else {
            return self.s.master.vector_base.wrapping_add(7);
        };
        self.s.master.ack(irq);
        if irq != 2 {
            return self.s.master.vector_base.wrapping_add(irq);
        }
        let vector = match self.s.slave.pending(false) {
            Some(sirq) => {
                self.s.slave.ack(sirq);
                self.s.slave.vector_base.wrapping_add(sirq)
            }
            None => self.s.slave.vector_base.wrapping_add(7),
        };
        self.cascade();
        vector
    }

    fn poll(&mut self, slave: bool) -> u8 {
        let chip = if slave {
            &mut self.s.slave
        } else {
            &mut self.s.master
        };
        chip.poll = false;
        let Some(irq) = chip.pending(!slave) else {
            return 0;
        };
        chip.ack(irq);
        if slave {
            self.cascade();
        }
        0x80 | irq
    }

    pub fn read(&mut self, port: PicPort) -> u8 {
        match port {
            PicPort::MasterCommand | PicPort::SlaveCommand => {
                let slave = port == PicPort::SlaveCommand;
                let chip = if slave { &self.s.slave } else { &self.s.master };
                if chip.poll {
                    self.poll(slave)
                } else if chip.read_isr {
                    chip.isr
                } else {
                    chip.irr
                }
            }
            PicPort::MasterData => self.s.master.imr,
            PicPort::SlaveData => self.s.slave.imr,
            PicPort::ElcrMaster => self.s.master.elcr,
            PicPort::ElcrSlave => self.s.slave.elcr,
        }
    }

    pub fn write(&mut self, port: PicPort, value: u8) {
        match port {
            PicPort::MasterCommand => self.s.master.write_command(value),
            PicPort::MasterData => self.s.master.write_data(value),
            PicPort::SlaveCommand => self.s.slave.write_command(value),
            PicPort::SlaveData => self.s.slave.write_data(value),
            PicPort::ElcrMaster | PicPort::ElcrSlave => {
                let chip = if port == PicPort::ElcrMaster {
                    &mut self.s.master
                } else {
                    &mut self.s.slave
                };
                chip.elcr = value & chip.elcr_mask;
                // A newly level-triggered input requests while it is high.
                chip.irr |= chip.lines & chip.level_mask();
            }
        }
        self.cascade();
    }
}
