//! The vCPU loop: run the CPU from one stop to the next, and at each stop do what is
//! due — fire timers, apply host input at a checkpoint, take digests and snapshots,
//! honour the recording's events in replay — and warp the clock while the guest
//! sleeps.

use super::{snapshot, Machine, Outcome};
use crate::host::HostInput;
use reprise_jit::RunExit;
use reprise_replay::clock::{idle_warp, SleepPolicy, AUTO_PERIOD_NS};
use reprise_replay::{
    AsyncEvent, Checkpoint, PassThrough, ReplayError, ShutdownCause, StopKind, SyncKind,
};
use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

/// Most instructions per call to `Cpu::run`.
const SLICE: u64 = 50_000_000;
/// With a live host input source, instructions between two looks for input.
const INPUT_POLL: u64 = 1_000_000;
/// Every this many digest intervals, the digest also covers RAM.
const RAM_DIGEST_EVERY: u64 = 8;
/// The log is flushed at least this often (host time) while recording.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Progress is reported about this often (host time).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Machine {
    /// Runs until the guest stops the machine, replay reaches the end of the recording,
    /// or `icount_limit` instructions have retired in total (exactly that many); then
    /// ends the recording or checks the end against it.
    pub fn run(&mut self, icount_limit: Option<u64>) -> Outcome {
        let t0 = Instant::now();
        let limit = icount_limit.unwrap_or(u64::MAX);
        let (outcome, cause) = match self.run_to(limit) {
            Ok(r) => r,
            Err(e) => (
                Outcome::Replay {
                    message: e.to_string(),
                },
                ShutdownCause::Error,
            ),
        };
        let failed = matches!(outcome, Outcome::Replay { .. });
        // Stopping early on purpose (--icount-limit, --seek) is not a mismatch.
        let early = matches!(
            outcome,
            Outcome::IcountLimit { .. } | Outcome::HostQuit { .. }
        );
        let finished = self
            .board
            .mode
            .finish(self.icount(), self.virtual_ns(), cause);
        if let Ok(r) = &finished {
            self.finish_report = Some(r.clone());
        }
        let outcome = match finished {
            Ok(report) if report.matches || failed || early => outcome,
            Ok(report) => Outcome::Replay {
                message: report.detail,
            },
            Err(_) if failed => outcome,
            Err(e) => Outcome::Replay {
                message: e.to_string(),
            },
        };
        self.wall += t0.elapsed();
        let _ = self.board.com1.writer_mut().flush();
        outcome
    }

    fn run_to(&mut self, limit: u64) -> Result<(Outcome, ShutdownCause), ReplayError> {
        if !self.started {
            self.started = true;
            let ic = self.icount();
            let events = self
                .board
                .mode
                .checkpoint(ic, Checkpoint::Init, &mut || None)?;
            self.apply(events);
        }
        loop {
            let ic = self.icount();
            self.fire_due_timers();
            if let Some(end) = self.replay_stops(ic)? {
                return Ok(end);
            }
            self.poll_host_input(ic)?;
            self.periodic(ic)?;
            // What the log holds after this icount's digest or snapshot (the end of a
            // recording stopped by --icount-limit here, or the end of a cut log) is
            // honoured here too: the CPU must not run past it to the next stop.
            if let Some(end) = self.replay_stops(ic)? {
                return Ok(end);
            }
            if ic >= limit {
                return Ok((
                    Outcome::IcountLimit { icount: ic },
                    ShutdownCause::InstructionLimit,
                ));
            }
            if self
                .quit
                .is_some_and(|q| q.load(std::sync::atomic::Ordering::SeqCst))
            {
                return Ok((Outcome::HostQuit { icount: ic }, ShutdownCause::HostQuit));
            }
            let stop = self.next_stop(ic, limit);
            self.board.planned_deadline = self.board.next_deadline().unwrap_or(u64::MAX);
            let exit = self.cpu.run(&mut self.board, stop);
            self.sync_code();
            // A record/replay failure inside a device access (or an interrupt taken
            // where the recording took none) ends the run here.
            if let Some(e) = self.board.error.take() {
                return Err(e);
            }
            match exit {
                RunExit::IcountLimit => {}
                RunExit::BusStop => {
                    if std::mem::take(&mut self.board.reset_requested) {
                        if self.no_reboot {
                            let rip = self.cpu.state().rip;
                            return Ok((
                                Outcome::ResetRequested { rip },
                                ShutdownCause::GuestReset,
                            ));
                        }
                        match self.reset() {
                            Ok(()) => continue,
                            Err(super::MachineError::Replay(e)) => return Err(e),
                            Err(e) => {
                                return Ok((
                                    Outcome::ResetFailed {
                                        message: e.to_string(),
                                    },
                                    ShutdownCause::Error,
                                ))
                            }
                        }
                    }
                    if let Some(e) = self.board.error.take() {
                        return Err(e);
                    }
                    if let Some((value, status)) = self.board.exit.take() {
                        return Ok((
                            Outcome::DebugExit { value, status },
                            ShutdownCause::GuestShutdown,
                        ));
                    }
                    // Otherwise a device write armed an earlier timer: re-plan.
                }
                RunExit::Halted { interrupts_enabled } => {
                    if !(interrupts_enabled && self.idle()?) {
                        let rip = self.cpu.state().rip;
                        return Ok((
                            Outcome::Halted {
                                rip,
                                interrupts_enabled,
                            },
                            ShutdownCause::GuestShutdown,
                        ));
                    }
                }
                RunExit::TripleFault {
                    original,
                    fault,
                    rip,
                } => {
                    let cr2 = self.cpu.state().cr2;
                    return Ok((
                        Outcome::TripleFault {
                            original,
                            fault,
                            rip,
                            cr2,
                        },
                        ShutdownCause::GuestCrash,
                    ));
                }
                RunExit::ExecNotRam { rip } => {
                    return Ok((Outcome::ExecOutsideRam { rip }, ShutdownCause::GuestCrash))
                }
            }
        }
    }

    /// Brings the board's clock up to date and fires the timers that are due.
    fn fire_due_timers(&mut self) {
        self.board
            .set_clock(self.cpu.icount_shift(), self.cpu.state().clock_bias_ns);
        let now = self.cpu.virtual_ns();
        if self.board.next_deadline().is_some_and(|d| d <= now) {
            self.board.advance(now);
            // Device DMA in a timer step (AC'97 capture) may have written code pages.
            self.sync_code();
        }
    }

    /// The instruction count to run to: the first of the limit, the slice end, the next
    /// timer deadline, digest or snapshot, the recording's next event (replay) and the
    /// next look for host input.
    fn next_stop(&self, ic: u64, limit: u64) -> u64 {
        let mut stop = limit
            .min(ic.saturating_add(SLICE))
            .min(self.next_digest)
            .min(self.next_snapshot);
        if let Some(d) = self.board.next_deadline() {
            stop = stop.min(self.cpu.icount_at_ns(d));
        }
        if self.auto_shift.is_some() {
            stop = stop.min(self.cpu.icount_at_ns(self.next_auto_ns));
        }
        if let Some(s) = self.board.mode.next_stop() {
            if s.icount > ic {
                stop = stop.min(s.icount);
            }
        }
        if self.io.has_live_sources() {
            stop = stop.min(ic.saturating_add(INPUT_POLL));
        }
        // Always make progress (a device reporting a deadline in the past must not
        // stall the loop).
        stop.max(ic + 1)
    }

    /// Replay: honours the recording's events logged at `ic` that the loop handles
    /// here. `Some` when the recording ends here.
    fn replay_stops(&mut self, ic: u64) -> Result<Option<(Outcome, ShutdownCause)>, ReplayError> {
        while let Some(s) = self.board.mode.next_stop() {
            if s.icount > ic {
                break;
            }
            match s.kind {
                StopKind::Checkpoint(Checkpoint::AsyncPoll) => {
                    let events =
                        self.board
                            .mode
                            .checkpoint(ic, Checkpoint::AsyncPoll, &mut || None)?;
                    self.apply(events);
                }
                StopKind::Checkpoint(Checkpoint::ClockWarpAccount)
                    if self.cpu.state().halted != 0 =>
                {
                    if !self.idle()? {
                        break;
                    }
                    // Recording went from this warp to the top of the loop, which fires
                    // the timers the warp made due before the CPU runs again; so must
                    // replay, or the CPU halts again at once and idles a second time.
                    self.fire_due_timers();
                }
                StopKind::Shutdown(
                    cause @ (ShutdownCause::InstructionLimit
                    | ShutdownCause::HostQuit
                    | ShutdownCause::Error
                    | ShutdownCause::Other(_)),
                ) => return Ok(Some((Outcome::RecordingEnd { icount: ic }, cause))),
                StopKind::End => {
                    return Ok(Some((
                        Outcome::RecordingEnd { icount: ic },
                        ShutdownCause::InstructionLimit,
                    )))
                }
                StopKind::LogEnds => {
                    return Err(ReplayError::LogEnded {
                        icount: ic,
                        reason: "the log has no more whole chunks (cut off while recording?)"
                            .into(),
                    })
                }
                // Digests, snapshots, sync inputs and CPU events are met where the
                // machine produces them.
                _ => break,
            }
        }
        Ok(None)
    }

    /// Record and run: applies host input at an async checkpoint when some waits.
    fn poll_host_input(&mut self, ic: u64) -> Result<(), ReplayError> {
        while let Some(m) = self.io.try_recv() {
            self.host_queue.push_back(m);
        }
        if self.host_queue.iter().any(|m| {
            matches!(
                m,
                HostInput::Serial(_)
                    | HostInput::Block { .. }
                    | HostInput::Key { .. }
                    | HostInput::Net { .. }
            )
        }) {
            let q = &mut self.host_queue;
            let events = self
                .board
                .mode
                .checkpoint(ic, Checkpoint::AsyncPoll, &mut || next_event(q))?;
            self.apply(events);
        }
        self.host_queue.clear();
        Ok(())
    }

    /// Applies async events at the current instruction count.
    fn apply(&mut self, events: Option<Vec<AsyncEvent>>) {
        let now = self.cpu.virtual_ns();
        for ev in events.unwrap_or_default() {
            match ev {
                AsyncEvent::SerialInput { bytes, .. } => self.board.serial_input(&bytes, now),
                AsyncEvent::BlockComplete {
                    device,
                    request,
                    status,
                    data,
                } => {
                    let drive = usize::try_from(device).unwrap_or(usize::MAX);
                    self.board
                        .virtio
                        .block_complete(drive, request, status, &data);
                    self.board.update_virtio_irqs(now);
                }
                AsyncEvent::Input {
                    device: crate::host::keyboard::KEYBOARD_DEVICE,
                    kind: crate::host::keyboard::EV_KEY,
                    code,
                    value,
                } => self.board.key_event(code, value != 0, now),
                AsyncEvent::NetFrame {
                    device: super::net::NET_DEVICE,
                    frame,
                } => {
                    self.board.virtio.net_receive(frame, now);
                    self.board.update_virtio_irqs(now);
                }
                // No device of this machine consumes the other kinds yet.
                _ => {}
            }
        }
        self.sync_code();
    }

    /// Drops translated code on the pages the devices wrote (or all of it after a
    /// restore); host-side cost only, a flush never changes what the guest sees.
    pub(super) fn sync_code(&mut self) {
        if std::mem::take(&mut self.board.virtio.code_dirty) {
            self.cpu.flush_code_cache();
        }
        let pages = std::mem::take(&mut self.board.virtio.dirty_pages);
        if !pages.is_empty() {
            self.cpu.invalidate_code_pages(&pages);
        }
    }

    /// Digests, snapshots and log flushes that are due at `ic`.
    fn periodic(&mut self, ic: u64) -> Result<(), ReplayError> {
        if ic >= self.next_digest {
            let regs = self.cpu.state_digest();
            let ram = if (ic / self.digest_interval).is_multiple_of(RAM_DIGEST_EVERY) {
                self.cpu.digest()
            } else {
                0
            };
            self.board.mode.digest(ic, regs, ram)?;
            self.next_digest = next_multiple_after(ic, self.digest_interval);
        }
        if ic >= self.next_snapshot {
            let clock = snapshot::ClockState {
                shift: self.cpu.icount_shift(),
                auto_shift: self.auto_shift,
                next_auto_ns: self.next_auto_ns,
            };
            // The mode lives on the board; lend it out so `take` can read the board.
            // Only a recorder calls `take`: the state is captured when it is needed.
            let mut mode = std::mem::replace(&mut self.board.mode, Box::new(PassThrough));
            let (cpu, board) = (&self.cpu, &self.board);
            let r = mode.snapshot(ic, &mut || {
                let virtio = board.virtio.state();
                let has_virtio =
                    !virtio.blk.is_empty() || virtio.rng.is_some() || virtio.net.is_some();
                snapshot::take(
                    cpu,
                    board.state(),
                    clock.clone(),
                    has_virtio.then_some(&virtio),
                )
            });
            self.board.mode = mode;
            r?;
            self.next_snapshot = match self.snapshot_interval {
                Some(n) => next_multiple_after(ic, n),
                None => u64::MAX,
            };
        }
        self.adapt_shift(ic)?;
        if self.last_progress.elapsed() >= PROGRESS_EVERY {
            if let Some(p) = self.progress.as_mut() {
                p(ic);
            }
            self.last_progress = Instant::now();
        }
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.board.mode.flush(ic)?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }

    /// `shift=auto`: every `AUTO_PERIOD_NS` of virtual time, compares virtual time with
    /// the (recorded) real time since the start and adapts the shift, keeping virtual
    /// time continuous.
    fn adapt_shift(&mut self, ic: u64) -> Result<(), ReplayError> {
        let Some(mut auto) = self.auto_shift else {
            return Ok(());
        };
        let now = self.cpu.virtual_ns();
        if now < self.next_auto_ns {
            return Ok(());
        }
        let t0 = self.t_start;
        let host = self
            .board
            .mode
            .clock(ic, SyncKind::RealTimeClock, &mut || {
                u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
            })?;
        if let Some(adj) = auto.adjust(ic, host) {
            self.cpu.set_icount_shift(adj.new_shift as u32);
            self.cpu.warp_clock(adj.bias_delta as u64);
        }
        self.auto_shift = Some(auto);
        self.next_auto_ns = now.saturating_add(AUTO_PERIOD_NS);
        Ok(())
    }

    /// The guest halted with interrupts enabled: lets time pass to the next timer
    /// deadline (or until host input arrives). The iothread starts the warp; this
    /// thread accounts it before guest code runs again. Returns false when nothing can
    /// ever wake the guest.
    fn idle(&mut self) -> Result<bool, ReplayError> {
        let ic = self.icount();
        let now = self.cpu.virtual_ns();
        let deadline = self.board.next_deadline();
        let replaying = self.board.mode.next_stop().is_some();
        let live = self.io.has_live_sources();
        if deadline.is_none() && !live && !replaying {
            return Ok(false);
        }
        self.io.checkpoint(Checkpoint::ClockWarpStart)?;
        let rt0 = Instant::now();
        if live {
            let wait = match (self.sleep, deadline) {
                (SleepPolicy::On, Some(d)) => Some(Duration::from_nanos(d.saturating_sub(now))),
                (SleepPolicy::Off, Some(_)) => Some(Duration::ZERO),
                (_, None) => None,
            };
            if let Some(m) = self.io.wait(wait) {
                self.host_queue.push_back(m);
            }
            while let Some(m) = self.io.try_recv() {
                self.host_queue.push_back(m);
            }
        } else if self.sleep == SleepPolicy::On && !replaying {
            if let Some(d) = deadline {
                std::thread::sleep(Duration::from_nanos(d.saturating_sub(now)));
            }
        }
        let q = &mut self.host_queue;
        let events = self
            .board
            .mode
            .checkpoint(ic, Checkpoint::ClockWarpAccount, &mut || next_event(q))?;
        self.host_queue.clear();
        let recorded = events.is_some();
        self.apply(events);
        if replaying && !recorded && deadline.is_none() {
            return Ok(false);
        }
        let warp = match self.sleep {
            SleepPolicy::On => {
                let elapsed = self
                    .board
                    .mode
                    .clock(ic, SyncKind::RealTimeClock, &mut || {
                        u64::try_from(rt0.elapsed().as_nanos()).unwrap_or(u64::MAX)
                    })?;
                deadline.map_or(0, |d| idle_warp(SleepPolicy::On, now, d, elapsed))
            }
            SleepPolicy::Off => deadline.map_or(0, |d| d.saturating_sub(now)),
        };
        self.cpu.warp_clock(warp);
        Ok(true)
    }
}

/// The next host input as an async event (serial bytes, block completions; other
/// messages are dropped).
fn next_event(q: &mut VecDeque<HostInput>) -> Option<AsyncEvent> {
    while let Some(m) = q.pop_front() {
        match m {
            HostInput::Serial(bytes) => return Some(AsyncEvent::SerialInput { port: 0, bytes }),
            HostInput::Block {
                device,
                request,
                status,
                data,
            } => {
                return Some(AsyncEvent::BlockComplete {
                    device,
                    request,
                    status,
                    data,
                })
            }
            HostInput::Key { code, value } => {
                return Some(AsyncEvent::Input {
                    device: crate::host::keyboard::KEYBOARD_DEVICE,
                    kind: crate::host::keyboard::EV_KEY,
                    code,
                    value,
                })
            }
            HostInput::Net { device, frame } => {
                return Some(AsyncEvent::NetFrame { device, frame })
            }
            HostInput::SerialClosed | HostInput::KeyboardClosed => {}
        }
    }
    None
}

/// The first multiple of `n` above `ic`.
pub(super) fn next_multiple_after(ic: u64, n: u64) -> u64 {
    (ic / n).saturating_add(1).saturating_mul(n)
}
