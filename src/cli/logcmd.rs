//! `reprise log dump FILE [--json]` and `reprise log stats FILE`.

use crate::machine::status;
use reprise_replay::{inspect, LogReader};
use std::path::Path;

fn open(path: &Path) -> Result<LogReader<std::io::BufReader<std::fs::File>>, i32> {
    LogReader::open(path).map_err(|e| {
        eprintln!("reprise: {e}");
        status::REPLAY
    })
}

pub fn dump(path: &Path, json: bool) -> i32 {
    let mut r = match open(path) {
        Ok(r) => r,
        Err(s) => return s,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match inspect::dump(&mut r, json, &mut out) {
        Ok(()) => 0,
        Err(e) => {
            drop(out);
            eprintln!("reprise: {e}");
            status::REPLAY
        }
    }
}

pub fn stats(path: &Path) -> i32 {
    let mut r = match open(path) {
        Ok(r) => r,
        Err(s) => return s,
    };
    print!("{}", inspect::stats(&mut r));
    0
}
