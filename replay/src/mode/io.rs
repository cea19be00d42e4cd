//! The iothread's handle: its checkpoints (warp start) reach the log through a channel to
//! the recorder, which logs them tagged `io` among the vCPU's records; in replay the
//! player hands them back through a channel in the recorded order as the vCPU thread
//! passes their place in the log.

use super::ReplayError;
use crate::event::{checkpoint_name, Checkpoint};
use crossbeam_channel::{Receiver, Sender};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoMsg {
    pub cp: Checkpoint,
    pub value: u64,
}

#[derive(Clone, Debug)]
enum Inner {
    Pass,
    Record(Sender<IoMsg>),
    Replay(Receiver<IoMsg>),
}

/// The iothread's side of the replay layer (cheap to clone, `Send`).
#[derive(Clone, Debug)]
pub struct IoSide(Inner);

/// The pass-through side: checkpoints read their live value and log nothing.
impl Default for IoSide {
    fn default() -> Self {
        IoSide::pass_through()
    }
}

impl IoSide {
    pub(crate) fn pass_through() -> Self {
        IoSide(Inner::Pass)
    }
    pub(crate) fn record(tx: Sender<IoMsg>) -> Self {
        IoSide(Inner::Record(tx))
    }
    pub(crate) fn replay(rx: Receiver<IoMsg>) -> Self {
        IoSide(Inner::Replay(rx))
    }

    /// The iothread reaches checkpoint `cp`; `value` reads whatever the checkpoint needs
    /// from the host (the real-time clock at warp start). Returns the value to use, or
    /// `None` in replay when the recording did not pass this checkpoint at this point —
    /// the iothread then skips what the checkpoint guards (and tries again later).
    pub fn checkpoint(
        &self,
        cp: Checkpoint,
        value: &mut dyn FnMut() -> u64,
    ) -> Result<Option<u64>, ReplayError> {
        match &self.0 {
            Inner::Pass => Ok(Some(value())),
            Inner::Record(tx) => {
                let v = value();
                tx.send(IoMsg { cp, value: v })
                    .map_err(|_| ReplayError::RecorderGone(checkpoint_name(cp).to_string()))?;
                Ok(Some(v))
            }
            Inner::Replay(rx) => match rx.try_recv() {
                Ok(m) if m.cp == cp => Ok(Some(m.value)),
                Ok(m) => Err(ReplayError::IoDivergence {
                    expected: checkpoint_name(m.cp).to_string(),
                    actual: checkpoint_name(cp).to_string(),
                }),
                Err(_) => Ok(None),
            },
        }
    }
}
