//! The log format: round trips, cuts at every byte, flipped bytes, versions, magic.

use reprise_replay::clock::ClockConfig;
use reprise_replay::log::{
    LogError, LogHeader, LogReader, LogWriter, SharedSink, FORMAT_VERSION, OLDEST_READABLE,
};
use reprise_replay::{AsyncEvent, Checkpoint, CpuEvent, Event, ShutdownCause, SyncKind, Thread};
use std::io::Cursor;

fn header() -> LogHeader {
    LogHeader::new(b"machine config".to_vec(), ClockConfig::default(), vec![])
}

/// A small log with several chunks; returns its bytes and the records written.
fn small_log(chunk_size: usize) -> (Vec<u8>, Vec<(u64, Event)>) {
    let sink = SharedSink::default();
    let mut w = LogWriter::new(sink.clone(), "mem", &header()).unwrap();
    w.set_chunk_size(chunk_size);
    let mut evs = Vec::new();
    for i in 0..40u64 {
        let ev = match i % 5 {
            0 => Event::Sync {
                kind: SyncKind::HostClock,
                data: (i * 1000).to_le_bytes().to_vec(),
            },
            1 => Event::Checkpoint {
                thread: Thread::Vcpu,
                checkpoint: Checkpoint::AsyncPoll,
                value: 0,
            },
            2 => Event::Async(AsyncEvent::SerialInput {
                port: 0,
                bytes: format!("line {i}\n").into_bytes(),
            }),
            3 => Event::Cpu(CpuEvent::Interrupt { vector: 32 }),
            _ => Event::Digest { regs: i, ram: !i },
        };
        let icount = i * i * 17;
        w.write(icount, &ev).unwrap();
        evs.push((icount, ev));
        if i == 20 {
            w.flush().unwrap();
        }
    }
    let end = 40 * 40 * 17;
    for ev in [
        Event::Shutdown(ShutdownCause::GuestShutdown),
        Event::End { virtual_ns: 12345 },
    ] {
        w.write(end, &ev).unwrap();
        evs.push((end, ev));
    }
    w.finish().unwrap();
    (sink.bytes(), evs)
}

fn read_all(bytes: &[u8]) -> (Vec<(u64, Event)>, Option<LogError>) {
    let mut r = match LogReader::new(Cursor::new(bytes.to_vec()), "mem") {
        Ok(r) => r,
        Err(e) => return (vec![], Some(e)),
    };
    let mut out = Vec::new();
    loop {
        match r.next_event() {
            Ok(Some(x)) => out.push(x),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[test]
fn every_event_kind_round_trips_through_the_log() {
    let (bytes, evs) = small_log(100);
    let (back, err) = read_all(&bytes);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(back, evs);
    let r = LogReader::new(Cursor::new(bytes), "mem").unwrap();
    assert_eq!(r.header(), &header());
}

#[test]
fn a_log_cut_at_every_byte_reads_up_to_its_last_whole_chunk() {
    let (bytes, evs) = small_log(120);
    let mut r = LogReader::new(Cursor::new(bytes.clone()), "mem").unwrap();
    let chunks = r.scan_chunks().unwrap();
    assert!(
        chunks.len() >= 4,
        "want several chunks, got {}",
        chunks.len()
    );
    let header_len = chunks[0].offset as usize;
    for cut in 0..bytes.len() {
        let (got, err) = read_all(&bytes[..cut]);
        let err = err.unwrap_or_else(|| panic!("cut at {cut} read cleanly"));
        if cut < header_len {
            assert!(
                matches!(err, LogError::TruncatedHeader { .. }),
                "cut {cut}: {err}"
            );
            continue;
        }
        // Whole chunks before the cut.
        let whole: Vec<_> = chunks
            .iter()
            .filter(|c| (c.offset + 32 + c.frame.compressed_len as u64) as usize <= cut)
            .collect();
        let n: usize = whole.iter().map(|c| c.frame.records as usize).sum();
        assert_eq!(got, evs[..n], "cut {cut}");
        let last = if n == 0 { 0 } else { evs[n - 1].0 };
        match &err {
            LogError::Truncated { icount, chunk, .. } => {
                assert_eq!(*icount, last, "cut {cut}");
                assert_eq!(*chunk, whole.len() as u64, "cut {cut}");
            }
            e => panic!("cut {cut}: {e}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&format!(
                "log ends at instruction {last} (chunk {} incomplete",
                whole.len()
            )),
            "{msg}"
        );
    }
    let (got, err) = read_all(&bytes);
    assert!(err.is_none());
    assert_eq!(got, evs);
}

#[test]
fn a_log_without_an_end_record_says_so() {
    let sink = SharedSink::default();
    let mut w = LogWriter::new(sink.clone(), "mem", &header()).unwrap();
    w.write(5, &Event::Instructions).unwrap();
    w.write(99, &Event::Instructions).unwrap();
    w.flush().unwrap();
    drop(w); // killed: no finish, no end record
    let (got, err) = read_all(&sink.bytes());
    assert_eq!(got.len(), 2);
    let msg = err.expect("an error").to_string();
    assert!(msg.contains("log ends at instruction 99"), "{msg}");
    assert!(msg.contains("no end record"), "{msg}");
}

#[test]
fn flipped_bytes_in_a_chunk_are_checksum_errors() {
    let (bytes, _) = small_log(120);
    let mut r = LogReader::new(Cursor::new(bytes.clone()), "mem").unwrap();
    let chunks = r.scan_chunks().unwrap();
    for c in &chunks {
        // Payload bytes and the stored checksum: always a checksum error.
        let start = c.offset as usize + 28;
        let end = c.offset as usize + 32 + c.frame.compressed_len as usize;
        for at in start..end {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            let (got, err) = read_all(&b);
            match err {
                Some(LogError::ChunkChecksum { chunk, .. }) => assert_eq!(chunk, c.index),
                other => panic!("flip at {at}: {other:?}"),
            }
            let before: u32 = chunks[..c.index as usize]
                .iter()
                .map(|c| c.frame.records)
                .sum();
            assert_eq!(got.len(), before as usize);
        }
        // Frame fields: some error, never a panic and never a clean read.
        for at in c.offset as usize..start {
            let mut b = bytes.clone();
            b[at] ^= 0x01;
            assert!(read_all(&b).1.is_some(), "flip at {at}");
        }
    }
}

#[test]
fn header_damage_wrong_magic_and_other_versions_are_distinct_errors() {
    let (bytes, _) = small_log(1000);
    let mut b = bytes.clone();
    b[0] = b'X';
    let e = read_all(&b).1.unwrap();
    assert!(matches!(e, LogError::NotALog { .. }), "{e}");
    assert!(e.to_string().contains("reprise record"));

    let mut b = bytes.clone();
    b[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let e = read_all(&b).1.unwrap();
    assert!(matches!(e, LogError::Version { found, .. } if found == FORMAT_VERSION + 1));
    let want = format!("format version {}", FORMAT_VERSION + 1);
    assert!(e.to_string().contains(&want), "{e}");

    // The oldest readable version still reads; the one before it does not.
    let mut b = bytes.clone();
    b[8..10].copy_from_slice(&OLDEST_READABLE.to_le_bytes());
    assert!(read_all(&b).1.is_none(), "version {OLDEST_READABLE} reads");
    let mut b = bytes.clone();
    b[8..10].copy_from_slice(&(OLDEST_READABLE - 1).to_le_bytes());
    let e = read_all(&b).1.unwrap();
    assert!(matches!(e, LogError::Version { .. }), "{e}");
    let want = format!("versions {OLDEST_READABLE} to {FORMAT_VERSION}");
    assert!(e.to_string().contains(&want), "{e}");

    let mut b = bytes.clone();
    b[20] ^= 0xff; // inside the header body
    let e = read_all(&b).1.unwrap();
    assert!(matches!(e, LogError::HeaderChecksum { .. }), "{e}");

    let e = read_all(&bytes[..12]).1.unwrap();
    assert!(matches!(e, LogError::TruncatedHeader { .. }), "{e}");
    let e = read_all(&[]).1.unwrap();
    assert!(
        matches!(e, LogError::TruncatedHeader { have: 0, .. }),
        "{e}"
    );
}

#[test]
fn unknown_record_kinds_are_skipped_by_readers() {
    let sink = SharedSink::default();
    let mut w = LogWriter::new(sink.clone(), "mem", &header()).unwrap();
    w.write(1, &Event::Instructions).unwrap();
    w.write(
        2,
        &Event::Unknown {
            kind: 4242,
            payload: vec![1, 2, 3, 4],
        },
    )
    .unwrap();
    w.write(3, &Event::End { virtual_ns: 24 }).unwrap();
    w.finish().unwrap();
    let (got, err) = read_all(&sink.bytes());
    assert!(err.is_none());
    assert_eq!(got[1].1.name(), "unknown.4242");
    assert_eq!(got[2], (3, Event::End { virtual_ns: 24 }));
}

#[test]
fn instruction_counts_may_not_go_backwards() {
    let mut w = LogWriter::new(Vec::new(), "mem", &header()).unwrap();
    w.write(10, &Event::Instructions).unwrap();
    let e = w.write(9, &Event::Instructions).unwrap_err();
    assert!(matches!(
        e,
        LogError::IcountBackwards {
            previous: 10,
            icount: 9
        }
    ));
}

#[test]
fn icounts_are_delta_encoded() {
    // 1000 records one instruction apart at a huge base: with deltas each record's
    // framing is 3 bytes, far less than an absolute 9-byte varint would need.
    let sink = SharedSink::default();
    let mut w = LogWriter::new(sink.clone(), "mem", &header()).unwrap();
    for i in 0..1000u64 {
        w.write((1 << 60) + i, &Event::Instructions).unwrap();
    }
    w.write((1 << 60) + 1000, &Event::End { virtual_ns: 0 })
        .unwrap();
    w.finish().unwrap();
    let mut r = LogReader::new(Cursor::new(sink.bytes()), "mem").unwrap();
    while r.next_record().unwrap().is_some() {}
    assert!(
        r.stats().uncompressed < 1001 * 4,
        "{}",
        r.stats().uncompressed
    );
    assert_eq!(r.icount(), (1 << 60) + 1000);
}

#[test]
fn image_hashes_detect_changed_files() {
    let dir = std::env::temp_dir().join(format!("reprise-replay-img-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("kernel.bin");
    std::fs::write(&p, b"kernel v1").unwrap();
    let rec = reprise_replay::ImageRecord::from_file(&p).unwrap();
    assert_eq!(rec.size, 9);
    assert_eq!(reprise_replay::hash_file(&p).unwrap(), rec.id);
    reprise_replay::image::verify(std::slice::from_ref(&rec)).unwrap();
    std::fs::write(&p, b"kernel v2").unwrap();
    let e = reprise_replay::image::verify(std::slice::from_ref(&rec)).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("kernel.bin") && msg.contains("SHA-256"),
        "{msg}"
    );
    std::fs::write(&p, b"kernel v10").unwrap();
    let msg = reprise_replay::image::verify(std::slice::from_ref(&rec))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("10 bytes"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();
    let msg = reprise_replay::image::verify(std::slice::from_ref(&rec))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cannot be read"), "{msg}");
}

#[test]
fn a_chunk_whose_record_count_disagrees_with_its_frame_is_malformed() {
    use reprise_replay::log::frame::{Frame, KIND_RECORDS};
    let mut bytes = header().to_bytes();
    // One record (kind 1, delta 0, length 0) in a chunk whose frame claims five.
    let records = [1u8, 0, 0];
    let z = zstd::bulk::compress(&records, 1).unwrap();
    let f = Frame {
        kind: KIND_RECORDS,
        compressed_len: z.len() as u32,
        uncompressed_len: 3,
        first_icount: 7,
        records: 5,
        checksum: 0,
    };
    bytes.extend_from_slice(&f.to_bytes(&z));
    bytes.extend_from_slice(&z);
    let (got, err) = read_all(&bytes);
    assert_eq!(got, vec![(7, Event::Instructions)]);
    let msg = err.unwrap().to_string();
    assert!(msg.contains("holds 1 records, its frame says 5"), "{msg}");
}

#[test]
fn last_icount_finds_the_end_without_reading_everything() {
    let (bytes, evs) = small_log(120);
    let mut r = LogReader::new(Cursor::new(bytes.clone()), "mem").unwrap();
    let first = r.next_event().unwrap().unwrap();
    assert_eq!(r.last_icount().unwrap(), evs.last().unwrap().0);
    // The reading position is unchanged.
    assert_eq!(r.next_event().unwrap().unwrap(), evs[1]);
    assert_eq!(first, evs[0]);
    // A cut log: the last whole chunk's last record.
    let mut r = LogReader::new(Cursor::new(bytes[..bytes.len() - 5].to_vec()), "mem").unwrap();
    let chunks = r.scan_chunks().unwrap();
    let n: u32 = chunks.iter().map(|c| c.frame.records).sum();
    assert_eq!(r.last_icount().unwrap(), evs[n as usize - 1].0);
}
