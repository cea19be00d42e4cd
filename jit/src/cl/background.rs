//! The background compile thread. Requests carry a copy of the block's instructions;
//! results come back tagged with the block's serial number and the code-cache
//! generation, and the dispatcher installs only those that still match, so a block that
//! was invalidated or a cache that was flushed meanwhile never receives stale code.
//! Which blocks happen to be compiled, and when, is invisible to the guest: both tiers
//! compute the same results and count the same instructions.

use super::compiler::{Compiled, Compiler};
use super::thunks::SlowPaths;
use super::JitError;
use crate::cache::BlockKey;
use cranelift_codegen::isa::OwnedTargetIsa;
use crossbeam_channel::{unbounded, Receiver, Sender};
use iced_x86::Instruction;
use std::time::Duration;

pub struct Request {
    pub id: usize,
    pub serial: u64,
    pub generation: u64,
    /// The region to compile (entry block first).
    pub blocks: Vec<(BlockKey, Vec<Instruction>)>,
}

pub struct Finished {
    pub id: usize,
    pub serial: u64,
    pub generation: u64,
    pub result: Result<Compiled, JitError>,
    /// CPU time of the compile thread spent on it.
    pub time: Duration,
}

enum Msg {
    Compile(Request),
    /// Free all code of earlier generations (the dispatcher dropped every pointer).
    Flush,
}

pub struct Background {
    tx: Option<Sender<Msg>>,
    rx: Receiver<Finished>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub fn start(isa: OwnedTargetIsa, slow: SlowPaths) -> Result<Background, JitError> {
        let (tx, req_rx) = unbounded::<Msg>();
        let (done_tx, rx) = unbounded::<Finished>();
        let thread = std::thread::Builder::new()
            .name("reprise-compile".into())
            .spawn(move || {
                let mut compiler = Compiler::new(isa, slow);
                for msg in req_rx {
                    match msg {
                        Msg::Compile(r) => {
                            let (result, time) =
                                super::cpu_clock::timed(|| compiler.compile(&r.blocks));
                            let done = Finished {
                                id: r.id,
                                serial: r.serial,
                                generation: r.generation,
                                result,
                                time,
                            };
                            if done_tx.send(done).is_err() {
                                return;
                            }
                        }
                        // SAFETY: the dispatcher sends Flush only after dropping every
                        // entry point, link slot and jump-cache entry into this code,
                        // and results of older generations are discarded on arrival.
                        Msg::Flush => unsafe { compiler.free_all() },
                    }
                }
            })
            .map_err(|e| JitError::Setup(format!("cannot start the compile thread: {e}")))?;
        Ok(Background {
            tx: Some(tx),
            rx,
            thread: Some(thread),
        })
    }

    /// Queues a compile; false if the thread is gone.
    pub fn request(&self, r: Request) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send(Msg::Compile(r)).is_ok())
    }

    pub fn flush(&self) {
        if let Some(tx) = self.tx.as_ref() {
            let _ = tx.send(Msg::Flush);
        }
    }

    /// Results that arrived so far.
    pub fn poll(&self) -> impl Iterator<Item = Finished> + '_ {
        self.rx.try_iter()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
