use super::io::IoMsg;
use super::{FinishReport, IoSide, Mode, ReplayError, Stop, StopKind};
use crate::event::{AsyncEvent, Checkpoint, CpuEvent, Event, ShutdownCause, SyncKind, Thread};
use crate::log::frame::KIND_SNAPSHOT;
use crate::log::{LogHeader, LogReader};
use crate::snapshot::Snapshot;
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::io::{BufReader, Read, Seek};
use std::path::Path;

/// Replays a log: inputs come from the log, live inputs are ignored, and every place
/// where the machine's behaviour is checked against the log can report a divergence.
pub struct Player<R: Read + Seek = BufReader<std::fs::File>> {
    reader: LogReader<R>,
    /// The next vCPU-thread event of the log (read ahead so `next_stop` can see it).
    next: Option<(u64, Event)>,
    /// Set when the log ended without its end record (or was damaged): where and why.
    ended: Option<(u64, String)>,
    /// The last instruction count at which the state was known to match (a digest).
    last_good: u64,
    io_tx: Sender<IoMsg>,
    io_rx: Receiver<IoMsg>,
    skipped_snapshot: Option<String>,
}

impl Player<BufReader<std::fs::File>> {
    /// Opens a log to replay from its start.
    pub fn open(path: &Path) -> Result<Self, ReplayError> {
        Ok(Self::new(LogReader::open(path)?))
    }

    /// Opens a log to replay from the nearest snapshot at or before `icount` (the
    /// snapshot is returned for the machine to restore), or from the start if there is
    /// none (`None`: boot the machine as configured).
    pub fn open_at(path: &Path, icount: u64) -> Result<(Self, Option<Snapshot>), ReplayError> {
        Self::at(LogReader::open(path)?, icount)
    }
}

impl<R: Read + Seek> Player<R> {
    pub fn new(reader: LogReader<R>) -> Self {
        let (io_tx, io_rx) = unbounded();
        let mut p = Player {
            reader,
            next: None,
            ended: None,
            last_good: 0,
            io_tx,
            io_rx,
            skipped_snapshot: None,
        };
        p.fill();
        p
    }

    /// Like [`Player::open_at`] over any reader.
    pub fn at(
        mut reader: LogReader<R>,
        icount: u64,
    ) -> Result<(Self, Option<Snapshot>), ReplayError> {
        let chunks = reader.scan_chunks()?;
        let mut candidates: Vec<_> = chunks
            .iter()
            .filter(|c| c.frame.kind == KIND_SNAPSHOT && c.frame.first_icount <= icount)
            .copied()
            .collect();
        // Nearest first; a damaged snapshot falls back to an earlier one, and with none
        // left the replay starts at the beginning (always possible, only slower).
        candidates.reverse();
        let mut first_err = None;
        for info in candidates {
            let decoded = reader
                .read_snapshot_chunk(&info)
                .map_err(ReplayError::from)
                .and_then(|blob| Snapshot::decode(&blob).map_err(ReplayError::from));
            match decoded {
                Ok(snap) if snap.icount == info.frame.first_icount => {
                    reader.resume_after(&info);
                    let mut p = Self::new(reader);
                    p.last_good = snap.icount;
                    p.skipped_snapshot = first_err.map(|e: ReplayError| e.to_string());
                    return Ok((p, Some(snap)));
                }
                Ok(snap) => {
                    first_err.get_or_insert(ReplayError::Snapshot(
                        crate::snapshot::SnapshotError::IcountMismatch {
                            snapshot: snap.icount,
                            chunk: info.frame.first_icount,
                        },
                    ));
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let mut p = Self::new(reader);
        p.skipped_snapshot = first_err.map(|e| e.to_string());
        Ok((p, None))
    }

    /// Why a nearer snapshot could not be used by [`Player::open_at`], if one was
    /// skipped (the machine may want to warn: the seek takes longer).
    pub fn skipped_snapshot(&self) -> Option<&str> {
        self.skipped_snapshot.as_deref()
    }

    /// The icount the recording reached (the last whole chunk's last record), for a
    /// progress bar.
    pub fn recorded_icount(&mut self) -> Result<u64, ReplayError> {
        Ok(self.reader.last_icount()?)
    }

    pub fn header(&self) -> &LogHeader {
        self.reader.header()
    }

    /// Checks that every image named in the header still has its recorded contents.
    pub fn verify_images(&self) -> Result<(), ReplayError> {
        crate::image::verify(&self.header().images)
    }

    /// Reads ahead to the next vCPU-thread event, handing iothread checkpoints to the
    /// iothread on the way and skipping records that need nothing from the machine.
    fn fill(&mut self) {
        self.next = None;
        if self.ended.is_some() {
            return;
        }
        loop {
            match self.reader.next_event() {
                Ok(Some((
                    _,
                    Event::Instructions | Event::SnapshotRef { .. } | Event::Unknown { .. },
                ))) => {}
                Ok(Some((
                    _,
                    Event::Checkpoint {
                        thread: Thread::Io,
                        checkpoint,
                        value,
                    },
                ))) => {
                    // The receiver lives in self, so this cannot fail.
                    let _ = self.io_tx.send(IoMsg {
                        cp: checkpoint,
                        value,
                    });
                }
                Ok(Some(x)) => {
                    self.next = Some(x);
                    return;
                }
                Ok(None) => return,
                Err(e) => {
                    self.ended = Some((self.reader.icount(), e.to_string()));
                    return;
                }
            }
        }
    }

    fn describe(ev: &Event) -> String {
        match ev {
            Event::Sync { kind, data } => {
                format!("{} ({} bytes)", crate::event::sync_name(*kind), data.len())
            }
            Event::Checkpoint { checkpoint, .. } => {
                format!("checkpoint {}", crate::event::checkpoint_name(*checkpoint))
            }
            Event::Cpu(c) => format!("{c:?}"),
            Event::Digest { regs, ram } => format!("digest regs {regs:016x} ram {ram:016x}"),
            Event::Shutdown(c) => format!("shutdown ({})", crate::event::cause_name(*c)),
            other => other.name(),
        }
    }

    fn diverge(&self, icount: u64, actual: String) -> ReplayError {
        match &self.next {
            Some((at, ev)) => ReplayError::Divergence {
                window: (self.last_good, icount.max(*at)),
                icount: *at,
                expected: Self::describe(ev),
                actual: format!("{actual} at instruction {icount}"),
            },
            None => match &self.ended {
                Some((at, why)) => ReplayError::LogEnded {
                    icount: *at,
                    reason: why.clone(),
                },
                None => ReplayError::Divergence {
                    window: (self.last_good, icount),
                    icount,
                    expected: "the end of the log".into(),
                    actual,
                },
            },
        }
    }

    /// Takes the next event if it is at `icount` and `ok` accepts it; else a divergence.
    fn expect(
        &mut self,
        icount: u64,
        actual: impl FnOnce() -> String,
        ok: impl FnOnce(&Event) -> bool,
    ) -> Result<Event, ReplayError> {
        match &self.next {
            Some((at, ev)) if *at == icount && ok(ev) => {
                let ev = ev.clone();
                self.fill();
                Ok(ev)
            }
            _ => Err(self.diverge(icount, actual())),
        }
    }

    /// Fails if the machine has run past the next logged event.
    fn not_past(&self, icount: u64, what: &str) -> Result<(), ReplayError> {
        match &self.next {
            Some((at, _)) if *at < icount => Err(self.diverge(icount, what.to_string())),
            None if self.ended.is_some() => Err(self.diverge(icount, what.to_string())),
            _ => Ok(()),
        }
    }
}

impl<R: Read + Seek> Mode for Player<R> {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn sync_input(
        &mut self,
        icount: u64,
        kind: SyncKind,
        _live: &mut dyn FnMut() -> Vec<u8>,
    ) -> Result<Vec<u8>, ReplayError> {
        let ev = self.expect(
            icount,
            || format!("a {} read", crate::event::sync_name(kind)),
            |e| matches!(e, Event::Sync { kind: k, .. } if *k == kind),
        )?;
        match ev {
            Event::Sync { data, .. } => Ok(data),
            _ => Ok(Vec::new()),
        }
    }

    fn checkpoint(
        &mut self,
        icount: u64,
        cp: Checkpoint,
        _pending: &mut dyn FnMut() -> Option<AsyncEvent>,
    ) -> Result<Option<Vec<AsyncEvent>>, ReplayError> {
        let what = format!("checkpoint {}", crate::event::checkpoint_name(cp));
        self.not_past(icount, &what)?;
        let here = matches!(
            &self.next,
            Some((at, Event::Checkpoint { thread: Thread::Vcpu, checkpoint, .. }))
                if *at == icount && *checkpoint == cp
        );
        if !here {
            return Ok(None);
        }
        self.fill();
        let mut events = Vec::new();
        while let Some((at, Event::Async(_))) = &self.next {
            if *at != icount {
                break;
            }
            if let Some((_, Event::Async(a))) = self.next.take() {
                events.push(a);
            }
            self.fill();
        }
        Ok(Some(events))
    }

    fn cpu_event(&mut self, icount: u64, ev: CpuEvent) -> Result<(), ReplayError> {
        self.expect(icount, || format!("{ev:?}"), |e| *e == Event::Cpu(ev))?;
        Ok(())
    }

    fn digest(&mut self, icount: u64, regs: u64, ram: u64) -> Result<(), ReplayError> {
        self.expect(
            icount,
            || format!("digest regs {regs:016x} ram {ram:016x}"),
            |e| *e == Event::Digest { regs, ram },
        )?;
        self.last_good = icount;
        Ok(())
    }

    fn next_stop(&self) -> Option<Stop> {
        if let Some((icount, ev)) = &self.next {
            let kind = match ev {
                Event::Checkpoint { checkpoint, .. } => StopKind::Checkpoint(*checkpoint),
                Event::Sync { kind, .. } => StopKind::SyncInput(*kind),
                Event::Cpu(c) => StopKind::Cpu(*c),
                Event::Digest { .. } => StopKind::Digest,
                Event::Shutdown(c) => StopKind::Shutdown(*c),
                Event::End { .. } => StopKind::End,
                // Async events are taken with their checkpoint and never come first.
                _ => StopKind::LogEnds,
            };
            return Some(Stop {
                icount: *icount,
                kind,
            });
        }
        self.ended.as_ref().map(|(icount, _)| Stop {
            icount: *icount,
            kind: StopKind::LogEnds,
        })
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
        let (recorded, detail) = match (&self.next, &self.ended) {
            (Some((at, Event::Shutdown(c))), _) => {
                let r = (*at, *c);
                let detail = if *at == icount && *c == cause {
                    format!("replay ended where the recording did, at instruction {icount}")
                } else {
                    format!(
                        "the recording ended at instruction {at} ({}), the replay at {icount} ({})",
                        crate::event::cause_name(*c),
                        crate::event::cause_name(cause)
                    )
                };
                (Some(r), detail)
            }
            (Some((at, ev)), _) => (
                None,
                format!(
                    "the replay stopped at instruction {icount} with the log still holding {} at instruction {at}",
                    Self::describe(ev)
                ),
            ),
            (None, Some((at, why))) => (None, format!("the log ends at instruction {at}: {why}")),
            (None, None) => (None, "the log has no shutdown record".into()),
        };
        let matches = recorded == Some((icount, cause));
        if matches {
            self.fill();
            if matches!(self.next, Some((_, Event::End { .. }))) {
                self.fill();
            }
        }
        Ok(FinishReport {
            icount,
            cause,
            recorded,
            matches,
            detail,
        })
    }

    fn io_side(&self) -> IoSide {
        IoSide::replay(self.io_rx.clone())
    }
}
