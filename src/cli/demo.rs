//! `reprise` with no arguments: records the bundled demo guest, replays the log, and
//! shows that the two runs match — serial output, instruction count, state digest.

use super::args::{KernelArgs, MachineArgs, TierArg};
use super::session::{record_kernel, replay_log};
use super::{RecordArgs, ReplayArgs};
use crate::host::SerialBackend;
use crate::machine::{status, Outcome, SharedBuffer};
use std::io::Write;
use std::path::Path;

/// Runs the demo; returns the exit status (0 when record and replay match).
pub fn run() -> i32 {
    let dir = std::env::temp_dir().join(format!("reprise-demo-{}", std::process::id()));
    let r = std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
        .and_then(|()| record_and_replay(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    match r {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reprise demo: {e}");
            status::CONFIG
        }
    }
}

fn record_and_replay(dir: &Path) -> Result<i32, String> {
    let guest = dir.join("demo.elf");
    let log = dir.join("demo.rlog");
    std::fs::write(&guest, crate::DEMO_GUEST)
        .map_err(|e| format!("cannot write {}: {e}", guest.display()))?;

    eprintln!("reprise demo: recording the bundled guest into a log ...");
    let recorded_out = SharedBuffer::default();
    let rec = RecordArgs {
        log: log.clone(),
        snapshot_interval: None,
        digest_interval: crate::machine::DEFAULT_DIGEST_INTERVAL,
        kernel: KernelArgs {
            kernel: guest,
            ..KernelArgs::default()
        },
        machine: MachineArgs {
            // Output is captured through the stdio writer; the demo takes no input, so
            // stdin is not read.
            serial: SerialBackend::Stdio,
            no_stdin: true,
            ..MachineArgs::default()
        },
    };
    let recorded = record_kernel(&rec, Box::new(recorded_out.clone()))?;
    let text = recorded_out.text();
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();

    eprintln!("reprise demo: replaying the log ...");
    let replayed_out = SharedBuffer::default();
    let replayed = replay_log(
        &ReplayArgs {
            log: log.clone(),
            seek: None,
            tier: TierArg::Tiered,
            jit_thread: true,
            progress: Some(false),
            audio_out: None,
            pcap: None,
        },
        Box::new(replayed_out.clone()),
        None,
    )?;

    let log_bytes = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let same_output = recorded_out.contents() == replayed_out.contents();
    let (a, b) = (&recorded.stats, &replayed.stats);
    let row = |what: &str, x: String, y: String| {
        let mark = if x == y { "same" } else { "DIFFERENT" };
        eprintln!("  {what:<20} {x:>20}  {y:>20}  {mark}");
    };
    eprintln!("  {:<20} {:>20}  {:>20}", "", "record", "replay");
    row(
        "serial output",
        format!("{} bytes", recorded_out.contents().len()),
        format!("{} bytes", replayed_out.contents().len()),
    );
    row(
        "instructions",
        a.instructions.to_string(),
        b.instructions.to_string(),
    );
    row(
        "state digest",
        format!("{:016x}", a.digest),
        format!("{:016x}", b.digest),
    );
    eprintln!("  log: {log_bytes} bytes");
    let good_end = matches!(recorded.outcome, Outcome::DebugExit { value: 0, .. })
        && recorded.outcome == replayed.outcome;
    if same_output && a.instructions == b.instructions && a.digest == b.digest && good_end {
        eprintln!("reprise demo: the replay matches the recording");
        Ok(0)
    } else {
        eprintln!(
            "reprise demo: the replay does NOT match the recording (record: {}; replay: {})",
            recorded.outcome.message(),
            replayed.outcome.message()
        );
        Ok(status::REPLAY)
    }
}
