//! reprise's record/replay layer. For now only its public face: the [`Mode`] trait the
//! machine talks to, and the [`PassThrough`] mode (no recording, no replay). The
//! recorder, the player, the log format and snapshots come with a later issue.
//!
//! Every input that enters the machine from outside (a serial byte typed on the host,
//! a host clock read, a disk completion …) crosses exactly one boundary, and that
//! boundary calls [`Mode::input`] with the instruction count at which the input is
//! applied. A recorder will log the value; a player will return the logged value
//! instead (and report a divergence if the kinds do not match); pass-through returns
//! the live value unchanged.

/// What kind of outside input crosses the boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// A byte received by a serial port from the host.
    SerialByte,
    /// A read of a host clock (nanoseconds).
    HostClock,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("replay diverged at instruction {icount}: expected {expected:?}, the machine produced {actual:?}")]
    Divergence {
        icount: u64,
        expected: InputKind,
        actual: InputKind,
    },
}

/// The machine's view of record/replay: none, record or replay.
pub trait Mode {
    /// A short name for messages ("none", "record", "replay").
    fn name(&self) -> &'static str;
    /// An outside input of `kind` with live value `value` is applied at `icount`;
    /// returns the value the machine must use.
    fn input(&mut self, kind: InputKind, icount: u64, value: u64) -> Result<u64, ReplayError>;
}

/// Neither records nor replays: inputs pass unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThrough;

impl Mode for PassThrough {
    fn name(&self) -> &'static str {
        "none"
    }
    fn input(&mut self, _kind: InputKind, _icount: u64, value: u64) -> Result<u64, ReplayError> {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_through_returns_live_values() {
        let mut m: Box<dyn Mode> = Box::new(PassThrough);
        assert_eq!(m.name(), "none");
        assert_eq!(
            m.input(InputKind::SerialByte, 10, b'x' as u64).unwrap(),
            b'x' as u64
        );
        assert_eq!(m.input(InputKind::HostClock, 11, 12345).unwrap(), 12345);
    }

    #[test]
    fn divergence_message_names_the_instruction_count() {
        let e = ReplayError::Divergence {
            icount: 42,
            expected: InputKind::SerialByte,
            actual: InputKind::HostClock,
        };
        let msg = e.to_string();
        assert!(
            msg.contains("instruction 42") && msg.contains("SerialByte"),
            "{msg}"
        );
    }
}
