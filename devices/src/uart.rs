//! A 16550A UART (COM1 in reprise's layout), built on rust-vmm's `vm-superio` `Serial`.
//!
//! `vm-superio` implements the registers; this wrapper gives it reprise's shape: a
//! device addressed by offset (0..8), an interrupt line that is only latched for now
//! (COM1 is wired to IRQ 4 once there is an interrupt controller), input bytes pushed
//! by the machine, and a state struct that serde can serialize (`vm-superio`'s own
//! `SerialState` has no serde derive, so [`UartState`] mirrors it field by field).
//!
//! Output goes to the writer the machine supplies. A failing writer loses the byte,
//! as a disconnected terminal would; the guest sees no difference (the transmitter is
//! always empty in this model), which keeps guest-visible behaviour independent of the
//! host.

use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::io::Write;
use vm_superio::serial::{NoEvents, SerialState};
use vm_superio::{Serial, Trigger};

/// The UART's interrupt output. Nothing is connected to it yet: it counts how often the
/// device raised it, which tests can read and an interrupt controller will replace.
#[derive(Debug, Default)]
pub struct IrqLine {
    raised: Cell<u64>,
}

impl IrqLine {
    pub fn raised(&self) -> u64 {
        self.raised.get()
    }
}

impl Trigger for IrqLine {
    type E = std::convert::Infallible;
    fn trigger(&self) -> Result<(), Self::E> {
        self.raised.set(self.raised.get().wrapping_add(1));
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UartError {
    #[error("serial output failed, byte lost: {0}")]
    Output(std::io::Error),
    #[error("UART state holds {0} input bytes, more than the 64-byte FIFO")]
    FifoOverflow(usize),
}

/// Serializable UART state (register values and the receive FIFO).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UartState {
    pub baud_divisor_low: u8,
    pub baud_divisor_high: u8,
    pub interrupt_enable: u8,
    pub interrupt_identification: u8,
    pub line_control: u8,
    pub line_status: u8,
    pub modem_control: u8,
    pub modem_status: u8,
    pub scratch: u8,
    pub in_buffer: Vec<u8>,
}

impl From<SerialState> for UartState {
    fn from(s: SerialState) -> Self {
        UartState {
            baud_divisor_low: s.baud_divisor_low,
            baud_divisor_high: s.baud_divisor_high,
            interrupt_enable: s.interrupt_enable,
            interrupt_identification: s.interrupt_identification,
            line_control: s.line_control,
            line_status: s.line_status,
            modem_control: s.modem_control,
            modem_status: s.modem_status,
            scratch: s.scratch,
            in_buffer: s.in_buffer,
        }
    }
}

impl From<&UartState> for SerialState {
    fn from(s: &UartState) -> Self {
        SerialState {
            baud_divisor_low: s.baud_divisor_low,
            baud_divisor_high: s.baud_divisor_high,
            interrupt_enable: s.interrupt_enable,
            interrupt_identification: s.interrupt_identification,
            line_control: s.line_control,
            line_status: s.line_status,
            modem_control: s.modem_control,
            modem_status: s.modem_status,
            scratch: s.scratch,
            in_buffer: s.in_buffer.clone(),
        }
    }
}

impl Default for UartState {
    fn default() -> Self {
        SerialState::default().into()
    }
}

/// Register offsets (DLAB-dependent aliases noted).
pub mod reg {
    /// THR (write) / RBR (read); DLL when LCR.DLAB = 1.
    pub const DATA: u8 = 0;
    /// IER; DLM when LCR.DLAB = 1.
    pub const IER: u8 = 1;
    /// IIR (read) / FCR (write).
    pub const IIR: u8 = 2;
    pub const LCR: u8 = 3;
    pub const MCR: u8 = 4;
    pub const LSR: u8 = 5;
    pub const MSR: u8 = 6;
    pub const SCR: u8 = 7;
    /// LSR bits.
    pub const LSR_DATA_READY: u8 = 0x01;
    pub const LSR_THR_EMPTY: u8 = 0x20;
    pub const LSR_IDLE: u8 = 0x40;
    pub const LCR_DLAB: u8 = 0x80;
    pub const MCR_OUT2: u8 = 0x08;
    pub const MCR_LOOP: u8 = 0x10;
}

/// A 16550A UART writing what the guest transmits to `W`.
pub struct Uart<W: Write> {
    serial: Serial<IrqLine, NoEvents, W>,
}

impl<W: Write> Uart<W> {
    /// Bytes of I/O space the device decodes.
    pub const SIZE: u16 = 8;

    pub fn new(out: W) -> Self {
        Uart {
            serial: Serial::new(IrqLine::default(), out),
        }
    }

    /// Rebuilds a UART from saved state.
    pub fn from_state(state: &UartState, out: W) -> Result<Self, UartError> {
        let serial = Serial::from_state(&state.into(), IrqLine::default(), NoEvents, out)
            .map_err(|_| UartError::FifoOverflow(state.in_buffer.len()))?;
        Ok(Uart { serial })
    }

    pub fn state(&self) -> UartState {
        self.serial.state().into()
    }

    /// Reads the register at `offset` (0..8; others read 0).
    pub fn read(&mut self, offset: u8) -> u8 {
        if offset >= Self::SIZE as u8 {
            return 0;
        }
        self.serial.read(offset)
    }

    /// Writes the register at `offset`. An error only reports that the output writer
    /// failed; the register write itself always takes effect.
    pub fn write(&mut self, offset: u8, value: u8) -> Result<(), UartError> {
        if offset >= Self::SIZE as u8 {
            return Ok(());
        }
        self.serial.write(offset, value).map_err(|e| match e {
            vm_superio::serial::Error::IOError(io) => UartError::Output(io),
            vm_superio::serial::Error::FullFifo => UartError::FifoOverflow(64),
            vm_superio::serial::Error::Trigger(never) => match never {},
        })
    }

    /// Queues bytes for the guest to receive; returns how many fit in the FIFO.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.serial.fifo_capacity());
        self.serial
            .enqueue_raw_bytes(&bytes[..n])
            .unwrap_or_default()
    }

    /// The level of the UART's interrupt output as a PC wires it: an interrupt is
    /// identified (IIR bit 0 clear), or received data waits with its interrupt enabled
    /// (a 16550 keeps that interrupt up while the FIFO holds data; `vm-superio` drops
    /// it at the first read), and the guest enabled the output through MCR OUT2, which
    /// on PCs gates the UART's line to the interrupt controller.
    pub fn irq_level(&self) -> bool {
        let s = self.serial.state();
        let data_waiting =
            s.interrupt_enable & 0x01 != 0 && s.line_status & reg::LSR_DATA_READY != 0;
        (s.interrupt_identification & 1 == 0 || data_waiting)
            && s.modem_control & reg::MCR_OUT2 != 0
    }

    /// How often the device raised its interrupt line.
    pub fn irq_raised(&self) -> u64 {
        self.serial.interrupt_evt().raised()
    }

    pub fn writer(&self) -> &W {
        self.serial.writer()
    }
    pub fn writer_mut(&mut self) -> &mut W {
        self.serial.writer_mut()
    }
    pub fn into_writer(self) -> W {
        self.serial.into_writer()
    }
}

#[cfg(test)]
mod tests {
    use super::reg::*;
    use super::*;

    fn uart() -> Uart<Vec<u8>> {
        Uart::new(Vec::new())
    }

    #[test]
    fn irq_level_follows_received_data_and_out2() {
        let mut u = uart();
        u.write(MCR, 0).unwrap();
        assert!(!u.irq_level());
        u.write(IER, 0x01).unwrap(); // received-data interrupt
        u.enqueue_input(b"ab");
        // Identified, but OUT2 still gates the line off.
        assert!(!u.irq_level());
        u.write(MCR, MCR_OUT2).unwrap();
        assert!(u.irq_level());
        assert_eq!(u.read(DATA), b'a');
        assert!(u.irq_level(), "one byte still waiting");
        assert_eq!(u.read(DATA), b'b');
        assert!(!u.irq_level(), "FIFO drained: the line drops");
    }

    #[test]
    fn reset_values() {
        let mut u = uart();
        // Transmitter empty and idle, nothing received.
        assert_eq!(u.read(LSR), LSR_THR_EMPTY | LSR_IDLE);
        // No interrupt pending; FIFO-enabled bits announce a 16550A.
        assert_eq!(u.read(IIR), 0xc1);
        assert_eq!(u.read(IER), 0);
        assert_eq!(u.read(LCR), 0x03);
        assert_eq!(u.read(MCR), 0x08);
        assert_eq!(u.read(MSR), 0xb0);
        assert_eq!(u.read(SCR), 0);
    }

    #[test]
    fn transmitted_bytes_reach_the_writer() {
        let mut u = uart();
        for b in b"hi\n" {
            assert!(u.read(LSR) & LSR_THR_EMPTY != 0);
            u.write(DATA, *b).unwrap();
        }
        assert_eq!(u.writer(), b"hi\n");
        assert_eq!(u.into_writer(), b"hi\n".to_vec());
    }

    #[test]
    fn divisor_latch_hides_data_and_ier() {
        let mut u = uart();
        u.write(LCR, LCR_DLAB | 0x03).unwrap();
        u.write(DATA, 0x01).unwrap(); // DLL: 115200 baud
        u.write(IER, 0x00).unwrap(); // DLM
        assert_eq!(u.read(DATA), 0x01);
        assert_eq!(u.read(IER), 0x00);
        assert!(u.writer().is_empty(), "DLL write must not transmit");
        u.write(LCR, 0x03).unwrap();
        u.write(DATA, b'x').unwrap();
        assert_eq!(u.writer(), b"x");
        let st = u.state();
        assert_eq!((st.baud_divisor_low, st.baud_divisor_high), (1, 0));
    }

    #[test]
    fn scratch_register_holds_a_byte() {
        let mut u = uart();
        u.write(SCR, 0x5a).unwrap();
        assert_eq!(u.read(SCR), 0x5a);
    }

    #[test]
    fn received_bytes_set_data_ready() {
        let mut u = uart();
        assert_eq!(u.enqueue_input(b"ok"), 2);
        assert!(u.read(LSR) & LSR_DATA_READY != 0);
        assert_eq!(u.read(DATA), b'o');
        assert_eq!(u.read(DATA), b'k');
        assert_eq!(u.read(LSR) & LSR_DATA_READY, 0);
        // FIFO is 64 bytes.
        assert_eq!(u.enqueue_input(&[0u8; 100]), 64);
    }

    #[test]
    fn loopback_returns_transmitted_bytes() {
        let mut u = uart();
        u.write(MCR, MCR_LOOP).unwrap();
        u.write(DATA, 0x42).unwrap();
        assert!(u.writer().is_empty());
        assert_eq!(u.read(DATA), 0x42);
    }

    #[test]
    fn thr_empty_interrupt_is_raised_when_enabled() {
        let mut u = uart();
        assert_eq!(u.irq_raised(), 0);
        u.write(IER, 0x02).unwrap(); // ETBEI
        let after_enable = u.irq_raised();
        assert!(after_enable >= 1);
        assert_eq!(u.read(IIR) & 0x0f, 0x02); // THR empty pending
        u.write(DATA, b'a').unwrap();
        assert!(u.irq_raised() > after_enable);
    }

    #[test]
    fn offsets_outside_the_window_are_ignored() {
        let mut u = uart();
        assert_eq!(u.read(8), 0);
        u.write(200, 1).unwrap();
        assert!(u.writer().is_empty());
    }

    #[test]
    fn failing_writer_loses_the_byte_but_not_the_register_state() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("closed"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut u = Uart::new(Broken);
        assert!(matches!(u.write(DATA, b'a'), Err(UartError::Output(_))));
        assert_eq!(u.read(LSR), LSR_THR_EMPTY | LSR_IDLE);
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut u = uart();
        u.write(LCR, 0x1b).unwrap();
        u.write(SCR, 7).unwrap();
        u.write(IER, 0x01).unwrap();
        u.enqueue_input(b"abc");
        let st = u.state();
        let bytes = bincode::serde::encode_to_vec(&st, bincode::config::standard()).unwrap();
        let (back, _): (UartState, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, st);
        let mut v = Uart::from_state(&back, Vec::new()).unwrap();
        assert_eq!(v.read(LCR), 0x1b);
        assert_eq!(v.read(SCR), 7);
        assert_eq!(v.read(DATA), b'a');
        let mut too_full = st.clone();
        too_full.in_buffer = vec![0; 65];
        assert!(matches!(
            Uart::from_state(&too_full, Vec::new()),
            Err(UartError::FifoOverflow(65))
        ));
    }

    #[test]
    fn default_state_matches_a_new_uart() {
        assert_eq!(uart().state(), UartState::default());
    }
}
