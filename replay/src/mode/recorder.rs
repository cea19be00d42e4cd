use super::io::IoMsg;
use super::{FinishReport, IoSide, Mode, ReplayError, Stop};
use crate::event::{AsyncEvent, Checkpoint, CpuEvent, Event, ShutdownCause, SyncKind, Thread};
use crate::log::{LogHeader, LogWriter, Sink};
use crate::snapshot::Snapshot;
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::path::Path;

/// Records a run: every input is logged at the instruction count where it entered.
pub struct Recorder<W: Sink = std::fs::File> {
    writer: Option<LogWriter<W>>,
    io_tx: Sender<IoMsg>,
    io_rx: Receiver<IoMsg>,
}

impl Recorder<std::fs::File> {
    /// Creates the log at `path` and writes its header.
    pub fn create(path: &Path, header: &LogHeader) -> Result<Self, ReplayError> {
        Ok(Self::new(LogWriter::create(path, header)?))
    }
}

impl<W: Sink> Recorder<W> {
    pub fn new(writer: LogWriter<W>) -> Self {
        let (io_tx, io_rx) = unbounded();
        Recorder {
            writer: Some(writer),
            io_tx,
            io_rx,
        }
    }

    fn writer(&mut self) -> Result<&mut LogWriter<W>, ReplayError> {
        self.writer.as_mut().ok_or_else(|| ReplayError::LogEnded {
            icount: 0,
            reason: "the recording was already finished".into(),
        })
    }

    /// Logs one event, after the iothread's checkpoints that arrived before it.
    fn log(&mut self, icount: u64, ev: &Event) -> Result<(), ReplayError> {
        self.drain_io(icount)?;
        self.writer()?.write(icount, ev)?;
        Ok(())
    }

    fn drain_io(&mut self, icount: u64) -> Result<(), ReplayError> {
        while let Ok(m) = self.io_rx.try_recv() {
            let ev = Event::Checkpoint {
                thread: Thread::Io,
                checkpoint: m.cp,
                value: m.value,
            };
            self.writer()?.write(icount, &ev)?;
        }
        Ok(())
    }
}

impl<W: Sink> Mode for Recorder<W> {
    fn name(&self) -> &'static str {
        "record"
    }

    fn sync_input(
        &mut self,
        icount: u64,
        kind: SyncKind,
        live: &mut dyn FnMut() -> Vec<u8>,
    ) -> Result<Vec<u8>, ReplayError> {
        let data = live();
        self.log(
            icount,
            &Event::Sync {
                kind,
                data: data.clone(),
            },
        )?;
        Ok(data)
    }

    fn checkpoint(
        &mut self,
        icount: u64,
        cp: Checkpoint,
        pending: &mut dyn FnMut() -> Option<AsyncEvent>,
    ) -> Result<Option<Vec<AsyncEvent>>, ReplayError> {
        self.log(
            icount,
            &Event::Checkpoint {
                thread: Thread::Vcpu,
                checkpoint: cp,
                value: 0,
            },
        )?;
        let mut applied = Vec::new();
        while let Some(ev) = pending() {
            self.writer()?.write(icount, &Event::Async(ev.clone()))?;
            applied.push(ev);
        }
        Ok(Some(applied))
    }

    fn cpu_event(&mut self, icount: u64, ev: CpuEvent) -> Result<(), ReplayError> {
        self.log(icount, &Event::Cpu(ev))
    }

    fn digest(&mut self, icount: u64, regs: u64, ram: u64) -> Result<(), ReplayError> {
        self.log(icount, &Event::Digest { regs, ram })
    }

    fn next_stop(&self) -> Option<Stop> {
        None
    }

    fn snapshot(
        &mut self,
        icount: u64,
        take: &mut dyn FnMut() -> Snapshot,
    ) -> Result<(), ReplayError> {
        self.drain_io(icount)?;
        let mut snap = take();
        snap.icount = icount;
        let blob = snap.encode()?;
        self.writer()?.write_snapshot(icount, &blob)?;
        Ok(())
    }

    fn flush(&mut self, icount: u64) -> Result<(), ReplayError> {
        self.log(icount, &Event::Instructions)?;
        self.writer()?.flush()?;
        Ok(())
    }

    fn finish(
        &mut self,
        icount: u64,
        virtual_ns: u64,
        cause: ShutdownCause,
    ) -> Result<FinishReport, ReplayError> {
        self.log(icount, &Event::Shutdown(cause))?;
        self.log(icount, &Event::End { virtual_ns })?;
        if let Some(w) = self.writer.take() {
            w.finish()?;
        }
        Ok(FinishReport {
            icount,
            cause,
            recorded: Some((icount, cause)),
            matches: true,
            detail: format!("recorded {icount} instructions"),
        })
    }

    fn io_side(&self) -> IoSide {
        IoSide::record(self.io_tx.clone())
    }
}
