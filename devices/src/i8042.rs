//! The i8042 PS/2 controller with a keyboard behind its first port and a mouse behind
//! its second, as far as an OS drives them: the controller's command set (self tests,
//! configuration byte, port enables, output port), the keyboard's and mouse's command
//! replies, the reset line (command 0xFE, or output-port bit 0 cleared) and keyboard
//! bytes from the host.
//!
//! Offsets: 0 is the data port (0x60 on PCs), 4 is the status/command port (0x64). The
//! device reads no clock; replies are queued and read back in order. IRQ 1 (keyboard)
//! and IRQ 12 (mouse) are levels the machine reads with [`I8042::irq1`] and
//! [`I8042::irq12`] after each access. The A20 gate bit of the output port is stored and
//! read back but not enforced (the machine's address space has no A20 masking).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

pub mod scancode;

/// Status register bits.
pub mod status {
    /// Output buffer full: a byte waits at the data port.
    pub const OBF: u8 = 0x01;
    /// Input buffer full (never: writes are taken at once).
    pub const IBF: u8 = 0x02;
    /// System flag: set once the controller passed its self test.
    pub const SYS: u8 = 0x04;
    /// The last write went to the command port.
    pub const CMD: u8 = 0x08;
    /// Keyboard not inhibited.
    pub const UNLOCKED: u8 = 0x10;
    /// The waiting byte comes from the mouse.
    pub const AUX_OBF: u8 = 0x20;
}

/// Configuration ("command") byte bits.
pub mod config {
    pub const KBD_INT: u8 = 0x01;
    pub const AUX_INT: u8 = 0x02;
    pub const SYS: u8 = 0x04;
    pub const KBD_DISABLED: u8 = 0x10;
    pub const AUX_DISABLED: u8 = 0x20;
    pub const XLATE: u8 = 0x40;
}

/// Offsets inside the device's window.
pub const DATA: u16 = 0;
pub const STATUS: u16 = 4;

/// Device acknowledge, self-test passed, resend.
const ACK: u8 = 0xfa;
const BAT_OK: u8 = 0xaa;
const RESEND: u8 = 0xfe;
/// The longest reply queue kept (host input beyond it is dropped, as a full keyboard
/// buffer would).
const MAX_QUEUE: usize = 256;
/// The keyboard's own buffer of scan-code bytes for host keys (a key event that does
/// not fit is dropped, as an overrun keyboard drops keys).
const KBD_BUFFER: usize = 4096;

/// Where a byte in the output queue comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    Controller,
    Keyboard,
    Mouse,
}

/// What the next byte written to the data port means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pending {
    /// A command for the keyboard.
    None,
    /// The controller's configuration byte (after command 0x60).
    Config,
    /// The output port (after 0xD1).
    OutputPort,
    /// A byte to place in the keyboard's output as if typed (after 0xD2).
    KbdEcho,
    /// A byte to place in the mouse's output (after 0xD3).
    AuxEcho,
    /// A command for the mouse (after 0xD4).
    AuxCommand,
    /// The argument of a keyboard command (0xED LEDs, 0xF0 scancode set, 0xF3 rate).
    KbdArg(u8),
}

/// Serializable controller state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct I8042State {
    pub config: u8,
    pub output_port: u8,
    pub last_was_command: bool,
    pub pending: Pending,
    pub queue: Vec<(Source, u8)>,
    pub kbd_scanning: bool,
    pub kbd_scancode_set: u8,
    pub kbd_leds: u8,
    pub aux_reporting: bool,
    /// A mouse command waiting for its argument (which comes, like every byte for
    /// the mouse, after another 0xD4).
    pub aux_arg: Option<u8>,
    pub aux_sample_rate: u8,
    pub aux_resolution: u8,
    pub reset_requested: bool,
    /// Scan-code bytes the keyboard has made for host key events and not yet sent to
    /// the controller (it sends the next byte when the controller's output is empty).
    pub kbd_buffer: Vec<u8>,
}

/// The PS/2 controller.
#[derive(Clone, Debug)]
pub struct I8042 {
    s: I8042State,
    queue: VecDeque<(Source, u8)>,
    kbd_buffer: VecDeque<u8>,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    /// Ports the device decodes in its window (offsets 0..=4).
    pub const SIZE: u16 = 5;

    /// The state after power-on self test, as firmware leaves it: keyboard interrupt
    /// on, translation on, system flag set.
    pub fn new() -> Self {
        I8042 {
            s: I8042State {
                config: config::KBD_INT | config::SYS | config::XLATE,
                // Reset line high (not in reset), A20 enabled.
                output_port: 0x03,
                last_was_command: false,
                pending: Pending::None,
                queue: Vec::new(),
                kbd_scanning: true,
                kbd_scancode_set: 2,
                kbd_leds: 0,
                aux_reporting: false,
                aux_arg: None,
                aux_sample_rate: 100,
                aux_resolution: 2,
                reset_requested: false,
                kbd_buffer: Vec::new(),
            },
            queue: VecDeque::new(),
            kbd_buffer: VecDeque::new(),
        }
    }

    pub fn state(&self) -> I8042State {
        let mut s = self.s.clone();
        s.queue = self.queue.iter().copied().collect();
        s.kbd_buffer = self.kbd_buffer.iter().copied().collect();
        s
    }

    pub fn from_state(state: &I8042State) -> Self {
        let mut s = state.clone();
        let mut queue: VecDeque<_> = std::mem::take(&mut s.queue).into();
        queue.truncate(MAX_QUEUE);
        let mut kbd_buffer: VecDeque<_> = std::mem::take(&mut s.kbd_buffer).into();
        kbd_buffer.truncate(KBD_BUFFER);
        I8042 {
            s,
            queue,
            kbd_buffer,
        }
    }

    /// Reads the data port (offset 0) or the status register (offset 4).
    pub fn read(&mut self, offset: u16) -> u8 {
        match offset {
            DATA => {
                let v = self.queue.pop_front().map_or(0, |(_, b)| b);
                self.feed_keyboard();
                v
            }
            STATUS => self.status(),
            _ => 0xff,
        }
    }

    /// Writes the data port (offset 0) or the command register (offset 4).
    pub fn write(&mut self, offset: u16, value: u8) {
        match offset {
            DATA => {
                self.s.last_was_command = false;
                self.data_write(value);
            }
            STATUS => {
                self.s.last_was_command = true;
                self.command(value);
            }
            _ => {}
        }
    }

    pub fn status(&self) -> u8 {
        let mut v = status::UNLOCKED;
        if self.s.config & config::SYS != 0 {
            v |= status::SYS;
        }
        if self.s.last_was_command {
            v |= status::CMD;
        }
        match self.queue.front() {
            Some((Source::Mouse, _)) => v |= status::OBF | status::AUX_OBF,
            Some(_) => v |= status::OBF,
            None => {}
        }
        v
    }

    /// IRQ 1: a keyboard (or controller) byte waits and keyboard interrupts are on.
    pub fn irq1(&self) -> bool {
        matches!(self.queue.front(), Some((Source::Keyboard, _)))
            && self.s.config & config::KBD_INT != 0
    }

    /// IRQ 12: a mouse byte waits and mouse interrupts are on.
    pub fn irq12(&self) -> bool {
        matches!(self.queue.front(), Some((Source::Mouse, _)))
            && self.s.config & config::AUX_INT != 0
    }

    /// Bytes typed on the host's keyboard (scancodes in the set the guest selected),
    /// delivered while the keyboard is enabled and scanning; returns how many were
    /// taken.
    pub fn key_input(&mut self, bytes: &[u8]) -> usize {
        if !self.s.kbd_scanning || self.s.config & config::KBD_DISABLED != 0 {
            return 0;
        }
        let room = MAX_QUEUE.saturating_sub(self.queue.len());
        let n = bytes.len().min(room);
        for &b in &bytes[..n] {
            self.queue.push_back((Source::Keyboard, b));
        }
        n
    }

    /// A key of the host's keyboard (`code` a Linux `KEY_*` number) went down
    /// (`pressed`) or up. The keyboard makes its scan code in the set the guest
    /// selected (set 2 by default, which the controller translates to set 1 while its
    /// translate bit is on — so the guest reads set 1, as on PCs; set 3 is answered
    /// with set-2 codes) and queues it in its own buffer; the bytes go to the
    /// controller one at a time, each when the previous one was read. Returns false
    /// when the key is dropped: a key without a scan code here, a keyboard that is
    /// not scanning (command 0xF5), or a full keyboard buffer. While the controller
    /// has the keyboard port disabled (0xAD) the bytes wait in the keyboard.
    pub fn key_event(&mut self, code: u16, pressed: bool) -> bool {
        // A keyboard whose port the controller disabled keeps its keys until the
        // port is enabled again; one told to stop scanning drops them.
        if !self.s.kbd_scanning {
            return false;
        }
        let Some(k) = scancode::lookup(code) else {
            return false;
        };
        let xlate = self.s.config & config::XLATE != 0;
        let set1 = self.s.kbd_scancode_set == 1 || xlate;
        let bytes = scancode::bytes(k, pressed, set1);
        if self.kbd_buffer.len() + bytes.len() > KBD_BUFFER {
            return false;
        }
        self.kbd_buffer.extend(bytes);
        self.feed_keyboard();
        true
    }

    /// Moves the keyboard's next byte to the controller's output when it is empty.
    fn feed_keyboard(&mut self) {
        if !self.queue.is_empty() || self.s.config & config::KBD_DISABLED != 0 {
            return;
        }
        if let Some(b) = self.kbd_buffer.pop_front() {
            self.queue.push_back((Source::Keyboard, b));
        }
    }

    /// True once after the guest pulsed the reset line (the machine resets or stops).
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.s.reset_requested)
    }

    /// The A20 gate bit of the output port.
    pub fn a20(&self) -> bool {
        self.s.output_port & 0x02 != 0
    }

    fn push(&mut self, src: Source, b: u8) {
        if self.queue.len() < MAX_QUEUE {
            self.queue.push_back((src, b));
        }
    }

    fn command(&mut self, cmd: u8) {
        match cmd {
            // Read byte 0 (the configuration) or bytes 1..=0x1f of controller RAM
            // (read as zero).
            0x20 => self.push(Source::Controller, self.s.config),
            0x21..=0x3f => self.push(Source::Controller, 0),
            0x60 => self.s.pending = Pending::Config,
            0x61..=0x7f => {}
            0xa7 => self.s.config |= config::AUX_DISABLED,
            0xa8 => self.s.config &= !config::AUX_DISABLED,
            // Port tests pass; the self test answers 0x55 and sets the system flag.
            0xa9 | 0xab => self.push(Source::Controller, 0x00),
            0xaa => {
                self.s.config |= config::SYS;
                self.push(Source::Controller, 0x55);
            }
            0xad => self.s.config |= config::KBD_DISABLED,
            0xae => {
                self.s.config &= !config::KBD_DISABLED;
                self.feed_keyboard();
            }
            // Input port: keyboard not inhibited, colour display.
            0xc0 => self.push(Source::Controller, 0xa0),
            0xd0 => self.push(Source::Controller, self.s.output_port),
            0xd1 => self.s.pending = Pending::OutputPort,
            0xd2 => self.s.pending = Pending::KbdEcho,
            0xd3 => self.s.pending = Pending::AuxEcho,
            0xd4 => self.s.pending = Pending::AuxCommand,
            // Pulse output lines: bit 0 low pulses the reset line.
            0xf0..=0xff if cmd & 1 == 0 => self.s.reset_requested = true,
            _ => {}
        }
    }

    fn data_write(&mut self, v: u8) {
        match std::mem::replace(&mut self.s.pending, Pending::None) {
            Pending::Config => {
                self.s.config = v;
                self.feed_keyboard();
            }
            Pending::OutputPort => {
                self.s.output_port = v;
                if v & 1 == 0 {
                    self.s.reset_requested = true;
                }
            }
            Pending::KbdEcho => self.push(Source::Keyboard, v),
            Pending::AuxEcho => self.push(Source::Mouse, v),
            Pending::AuxCommand => self.aux_command(v),
            Pending::KbdArg(cmd) => self.kbd_argument(cmd, v),
            Pending::None => self.kbd_command(v),
        }
    }

    fn kbd_command(&mut self, cmd: u8) {
        // Writing to the keyboard enables its port again, as on real controllers.
        self.s.config &= !config::KBD_DISABLED;
        let k = Source::Keyboard;
        match cmd {
            0xed | 0xf0 | 0xf3 => {
                self.push(k, ACK);
                self.s.pending = Pending::KbdArg(cmd);
            }
            0xee => self.push(k, 0xee),
            0xf2 => {
                self.push(k, ACK);
                self.push(k, 0xab);
                self.push(k, 0x83);
            }
            0xf4 => {
                self.s.kbd_scanning = true;
                self.push(k, ACK);
            }
            0xf5 => {
                self.s.kbd_scanning = false;
                self.push(k, ACK);
            }
            0xf6 => {
                self.s.kbd_scanning = true;
                self.s.kbd_scancode_set = 2;
                self.push(k, ACK);
            }
            0xf7..=0xfd => self.push(k, ACK),
            0xff => {
                self.s.kbd_scanning = true;
                self.s.kbd_scancode_set = 2;
                self.s.kbd_leds = 0;
                self.kbd_buffer.clear();
                self.push(k, ACK);
                self.push(k, BAT_OK);
            }
            _ => self.push(k, RESEND),
        }
    }

    fn kbd_argument(&mut self, cmd: u8, v: u8) {
        let k = Source::Keyboard;
        match cmd {
            0xed => self.s.kbd_leds = v & 7,
            0xf0 if v == 0 => {
                self.push(k, ACK);
                self.push(k, self.s.kbd_scancode_set);
                return;
            }
            0xf0 if (1..=3).contains(&v) => self.s.kbd_scancode_set = v,
            0xf0 => {
                self.push(k, RESEND);
                return;
            }
            _ => {}
        }
        self.push(k, ACK);
    }

    fn aux_command(&mut self, cmd: u8) {
        self.s.config &= !config::AUX_DISABLED;
        if let Some(c) = self.s.aux_arg.take() {
            return self.aux_argument(c, cmd);
        }
        let m = Source::Mouse;
        match cmd {
            0xe8 | 0xf3 => {
                self.push(m, ACK);
                self.s.aux_arg = Some(cmd);
            }
            0xe6 | 0xe7 | 0xea | 0xf0 | 0xf6 => self.push(m, ACK),
            0xe9 => {
                self.push(m, ACK);
                self.push(m, if self.s.aux_reporting { 0x20 } else { 0 });
                self.push(m, self.s.aux_resolution);
                self.push(m, self.s.aux_sample_rate);
            }
            0xeb => {
                // Read data: no movement.
                self.push(m, ACK);
                for b in [0x08, 0, 0] {
                    self.push(m, b);
                }
            }
            0xf2 => {
                self.push(m, ACK);
                self.push(m, 0x00);
            }
            0xf4 => {
                self.s.aux_reporting = true;
                self.push(m, ACK);
            }
            0xf5 => {
                self.s.aux_reporting = false;
                self.push(m, ACK);
            }
            0xff => {
                self.s.aux_reporting = false;
                self.s.aux_sample_rate = 100;
                self.s.aux_resolution = 2;
                self.push(m, ACK);
                self.push(m, BAT_OK);
                self.push(m, 0x00);
            }
            _ => self.push(m, RESEND),
        }
    }

    fn aux_argument(&mut self, cmd: u8, v: u8) {
        match cmd {
            0xe8 => self.s.aux_resolution = v & 3,
            _ => self.s.aux_sample_rate = v,
        }
        self.push(Source::Mouse, ACK);
    }
}
