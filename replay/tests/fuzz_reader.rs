//! proptest fuzzing of the reader: arbitrary bytes, arbitrary bytes after a valid header,
//! and random damage to a valid log never panic, and reading always terminates.

use proptest::prelude::*;
use reprise_replay::clock::ClockConfig;
use reprise_replay::inspect;
use reprise_replay::log::{LogHeader, LogReader, LogWriter, SharedSink};
use reprise_replay::snapshot::{RamPages, Snapshot};
use reprise_replay::{AsyncEvent, Event, Mode, Player, SyncKind};
use std::io::Cursor;

fn valid_log() -> Vec<u8> {
    let sink = SharedSink::default();
    let h = LogHeader::new(vec![1, 2, 3], ClockConfig::default(), vec![]);
    let mut w = LogWriter::new(sink.clone(), "mem", &h).unwrap();
    w.set_chunk_size(64);
    let snap = Snapshot {
        icount: 0,
        cpu: vec![5; 10],
        ram: RamPages::capture(&[3u8; 8192]),
        ..Default::default()
    };
    w.write_snapshot(0, &snap.encode().unwrap()).unwrap();
    for i in 0..30u64 {
        w.write(
            i * 10,
            &Event::Sync {
                kind: SyncKind::RdRand,
                data: i.to_le_bytes().to_vec(),
            },
        )
        .unwrap();
        w.write(
            i * 10 + 5,
            &Event::Async(AsyncEvent::SerialInput {
                port: 0,
                bytes: vec![b'a' + i as u8],
            }),
        )
        .unwrap();
    }
    w.write(400, &Event::End { virtual_ns: 3200 }).unwrap();
    w.finish().unwrap();
    sink.bytes()
}

/// Reads everything every way the crate offers; must not panic.
fn exercise(bytes: Vec<u8>) {
    if let Ok(mut r) = LogReader::new(Cursor::new(bytes.clone()), "fuzz") {
        let mut n = 0;
        while let Ok(Some(_)) = r.next_event() {
            n += 1;
            assert!(n < 100_000, "reader does not terminate");
        }
    }
    if let Ok(mut r) = LogReader::new(Cursor::new(bytes.clone()), "fuzz") {
        let _ = inspect::dump(&mut r, true, &mut std::io::sink());
    }
    if let Ok(mut r) = LogReader::new(Cursor::new(bytes.clone()), "fuzz") {
        let _ = inspect::stats(&mut r);
    }
    if let Ok(r) = LogReader::new(Cursor::new(bytes), "fuzz") {
        if let Ok((mut p, _)) = Player::at(r, 200) {
            for _ in 0..100 {
                let Some(stop) = p.next_stop() else { break };
                if p.sync_input(stop.icount, SyncKind::RdRand, &mut Vec::new)
                    .is_err()
                {
                    break;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..512),
        chunk_magic in any::<bool>(),
    ) {
        let mut b = valid_log();
        let h = LogHeader::new(vec![1, 2, 3], ClockConfig::default(), vec![]).to_bytes();
        b.truncate(h.len());
        if chunk_magic {
            b.extend_from_slice(b"RCHK");
        }
        b.extend_from_slice(&tail);
        exercise(b);
    }

    #[test]
    fn damaged_valid_logs_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut b = valid_log();
        for (i, v) in edits {
            let at = i.index(b.len());
            b[at] = v;
        }
        if do_cut {
            let at = cut.index(b.len());
            b.truncate(at);
        }
        exercise(b);
    }
}
