use super::{FinishReport, IoSide, Mode, ReplayError, Stop};
use crate::event::{AsyncEvent, Checkpoint, CpuEvent, ShutdownCause, SyncKind};
use crate::snapshot::Snapshot;

/// Neither records nor replays: live inputs pass unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThrough;

impl Mode for PassThrough {
    fn name(&self) -> &'static str {
        "none"
    }
    fn sync_input(
        &mut self,
        _icount: u64,
        _kind: SyncKind,
        live: &mut dyn FnMut() -> Vec<u8>,
    ) -> Result<Vec<u8>, ReplayError> {
        Ok(live())
    }
    fn checkpoint(
        &mut self,
        _icount: u64,
        _cp: Checkpoint,
        pending: &mut dyn FnMut() -> Option<AsyncEvent>,
    ) -> Result<Option<Vec<AsyncEvent>>, ReplayError> {
        Ok(Some(std::iter::from_fn(pending).collect()))
    }
    fn cpu_event(&mut self, _icount: u64, _ev: CpuEvent) -> Result<(), ReplayError> {
        Ok(())
    }
    fn digest(&mut self, _icount: u64, _regs: u64, _ram: u64) -> Result<(), ReplayError> {
        Ok(())
    }
    fn next_stop(&self) -> Option<Stop> {
        None
    }
    fn snapshot(
        &mut self,
        _icount: u64,
        _take: &mut dyn FnMut() -> Snapshot,
    ) -> Result<(), ReplayError> {
        Ok(())
    }
    fn flush(&mut self, _icount: u64) -> Result<(), ReplayError> {
        Ok(())
    }
    fn finish(
        &mut self,
        icount: u64,
        _virtual_ns: u64,
        cause: ShutdownCause,
    ) -> Result<FinishReport, ReplayError> {
        Ok(FinishReport {
            icount,
            cause,
            recorded: None,
            matches: true,
            detail: format!("stopped at instruction {icount}"),
        })
    }
    fn io_side(&self) -> IoSide {
        IoSide::pass_through()
    }
}
