//! proptest: arbitrary events round-trip through encode/decode and through a log, with
//! arbitrary (increasing) instruction counts and chunk sizes.

use proptest::prelude::*;
use reprise_replay::clock::ClockConfig;
use reprise_replay::event::{decode, encode};
use reprise_replay::log::{LogHeader, LogReader, LogWriter, SharedSink};
use reprise_replay::{AsyncEvent, Checkpoint, CpuEvent, Event, ShutdownCause, SyncKind, Thread};
use std::io::Cursor;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..40)
}

fn async_event() -> impl Strategy<Value = AsyncEvent> {
    prop_oneof![
        (any::<u8>(), bytes()).prop_map(|(port, bytes)| AsyncEvent::SerialInput { port, bytes }),
        (any::<u32>(), any::<u64>(), any::<u8>(), bytes()).prop_map(
            |(device, request, status, data)| {
                AsyncEvent::BlockComplete {
                    device,
                    request,
                    status,
                    data,
                }
            }
        ),
        (any::<u32>(), bytes()).prop_map(|(device, frame)| AsyncEvent::NetFrame { device, frame }),
        (any::<u32>(), bytes()).prop_map(|(device, data)| AsyncEvent::AudioBuffer { device, data }),
        (any::<u32>(), any::<u16>(), any::<u16>(), any::<i32>()).prop_map(
            |(device, kind, code, value)| AsyncEvent::Input {
                device,
                kind,
                code,
                value
            }
        ),
        (any::<u32>(), any::<u64>())
            .prop_map(|(device, token)| AsyncEvent::DeferredWork { device, token }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Instructions),
        any::<u8>().prop_map(|vector| Event::Cpu(CpuEvent::Interrupt { vector })),
        (any::<u8>(), any::<Option<u32>>()).prop_map(|(vector, error_code)| Event::Cpu(
            CpuEvent::Exception { vector, error_code }
        )),
        async_event().prop_map(Event::Async),
        (0..SyncKind::ALL.len(), bytes()).prop_map(|(i, data)| Event::Sync {
            kind: SyncKind::ALL[i],
            data
        }),
        (any::<bool>(), 0..Checkpoint::ALL.len(), any::<u64>()).prop_map(|(io, i, value)| {
            Event::Checkpoint {
                thread: if io { Thread::Io } else { Thread::Vcpu },
                checkpoint: Checkpoint::ALL[i],
                value,
            }
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(regs, ram)| Event::Digest { regs, ram }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(chunk, offset)| Event::SnapshotRef { chunk, offset }),
        (6u8..).prop_map(|n| Event::Shutdown(ShutdownCause::Other(n))),
        Just(Event::Shutdown(ShutdownCause::GuestCrash)),
        any::<u64>().prop_map(|virtual_ns| Event::End { virtual_ns }),
        (1000u64.., bytes()).prop_map(|(kind, payload)| Event::Unknown { kind, payload }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn events_round_trip(ev in event()) {
        let (kind, payload) = encode(&ev);
        prop_assert_eq!(decode(kind, &payload).unwrap(), ev);
    }

    #[test]
    fn logs_round_trip(
        evs in proptest::collection::vec((0u64..1 << 40, event()), 0..60),
        chunk in 1usize..400,
    ) {
        let sink = SharedSink::default();
        let h = LogHeader::new(vec![], ClockConfig::default(), vec![]);
        let mut w = LogWriter::new(sink.clone(), "mem", &h).unwrap();
        w.set_chunk_size(chunk);
        let mut icount = 0u64;
        let mut written = Vec::new();
        for (delta, ev) in evs {
            // The end record ends a log; keep it for the last place.
            if matches!(ev, Event::End { .. }) {
                continue;
            }
            icount += delta;
            w.write(icount, &ev).unwrap();
            written.push((icount, ev));
        }
        w.write(icount, &Event::End { virtual_ns: 1 }).unwrap();
        written.push((icount, Event::End { virtual_ns: 1 }));
        w.finish().unwrap();
        let mut r = LogReader::new(Cursor::new(sink.bytes()), "mem").unwrap();
        let mut back = Vec::new();
        while let Some(x) = r.next_event().unwrap() {
            back.push(x);
        }
        prop_assert_eq!(back, written);
    }
}
