//! The AC'97 sound card end to end: the ac97_tone guest (guests/mb) plays a 440 Hz tone
//! and captures 0.1 s under `run`, `record` and `replay`, with WAV files as output and
//! input; replay needs neither file (the timing and the input come from the log).

mod common;

use common::rr::{kernel_args, rewrite, try_replay, Run, Scratch};
use reprise::cli::{
    record_kernel, replay_log, run_kernel, MachineArgs, RecordArgs, ReplayArgs, TierArg,
};
use reprise::host::{AudioIn, AudioOut, AudioSpec, SerialBackend};
use reprise::{Outcome, SharedBuffer};
use reprise_replay::{Event, SyncKind};
use std::path::{Path, PathBuf};
use std::process::Command;

const PASS: Outcome = Outcome::DebugExit {
    value: 0x10,
    status: 0x21,
};
const TONE_FRAMES: usize = 9600;
const CAPTURE_SAMPLES: usize = 9600;

fn machine(audio: Option<AudioSpec>) -> MachineArgs {
    MachineArgs {
        memory: 32,
        icount_limit: Some(500_000_000),
        tier: TierArg::Interp,
        serial: SerialBackend::Stdio,
        jit_thread: false,
        audio,
        ..MachineArgs::default()
    }
}

fn spec(out: Option<&Path>, input: Option<&Path>) -> AudioSpec {
    AudioSpec {
        out: out.map_or(AudioOut::Null, |p| AudioOut::Wav(p.to_path_buf())),
        input: input.map_or(AudioIn::Silence, |p| AudioIn::Wav(p.to_path_buf())),
    }
}

fn run(m: MachineArgs) -> Result<Run, String> {
    let out = SharedBuffer::default();
    let r = run_kernel(&kernel_args("ac97_tone", None), &m, Box::new(out.clone()))?;
    Ok(Run::new(r, out.text()))
}

fn record(log: &Path, m: MachineArgs) -> Run {
    let out = SharedBuffer::default();
    let a = RecordArgs {
        log: log.to_path_buf(),
        snapshot_interval: Some(100_000),
        digest_interval: 10_000,
        kernel: kernel_args("ac97_tone", None),
        machine: m,
    };
    let r = record_kernel(&a, Box::new(out.clone())).expect("record");
    Run::new(r, out.text())
}

fn replay_with(log: &Path, tier: TierArg, audio_out: Option<PathBuf>) -> Result<Run, String> {
    let out = SharedBuffer::default();
    let a = ReplayArgs {
        log: log.to_path_buf(),
        seek: None,
        tier,
        jit_thread: false,
        progress: Some(false),
        audio_out,
        pcap: None,
    };
    let r = replay_log(&a, Box::new(out.clone()), None)?;
    Ok(Run::new(r, out.text()))
}

fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(2166136261u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    })
}

/// The hex number after `key` in the guest's output.
fn printed(serial: &str, key: &str) -> u32 {
    let at = serial
        .find(key)
        .unwrap_or_else(|| panic!("no `{key}` in:\n{serial}"));
    let rest = &serial[at + key.len()..];
    let hex: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    u32::from_str_radix(&hex, 16).expect("hex")
}

fn read_wav(p: &Path) -> (hound::WavSpec, Vec<i16>) {
    let r = hound::WavReader::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let spec = r.spec();
    let s = r
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    (spec, s)
}

fn le_bytes(s: &[i16]) -> Vec<u8> {
    s.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A 48 kHz stereo input whose sample k is (k * 37) as i16, 0.15 s long.
fn make_input(p: &Path) -> Vec<i16> {
    let samples: Vec<i16> = (0..14400i32).map(|k| (k * 37) as i16).collect();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(p, spec).expect("create input wav");
    for &s in &samples {
        w.write_sample(s).expect("write input wav");
    }
    w.finalize().expect("finish input wav");
    samples
}

fn check_tone(serial: &str, wav: &Path) {
    let (spec, samples) = read_wav(wav);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 48000, 16)
    );
    assert_eq!(samples.len(), 2 * TONE_FRAMES, "0.2 s of stereo");
    assert_eq!(
        fnv(&le_bytes(&samples)),
        printed(serial, "tone checksum"),
        "the WAV holds exactly the samples the guest generated"
    );
    // It is a 440 Hz tone: 88 periods in 0.2 s, so 176 sign changes (±1).
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let changes = left.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    assert!((174..=178).contains(&changes), "{changes} sign changes");
    assert!(left.iter().map(|s| s.unsigned_abs()).max().unwrap() > 7000);
}

#[test]
fn tone_lands_in_the_output_wav() {
    let s = Scratch::new("audio-tone");
    let wav = s.path("out.wav");
    let r = run(machine(Some(spec(Some(&wav), None)))).expect("run");
    assert_eq!(r.outcome, PASS, "{}", r.serial);
    assert!(
        r.serial.contains("PASS ac97_tone (11 checks, 0 failed)"),
        "{}",
        r.serial
    );
    check_tone(&r.serial, &wav);
    // Silence in: the capture is all zeros.
    assert_eq!(
        printed(&r.serial, "capture checksum"),
        fnv(&[0u8; 2 * CAPTURE_SAMPLES])
    );
}

#[test]
fn capture_returns_the_input_wav() {
    let s = Scratch::new("audio-capture");
    let input = s.path("in.wav");
    let samples = make_input(&input);
    let r = run(machine(Some(spec(None, Some(&input))))).expect("run");
    assert_eq!(r.outcome, PASS, "{}", r.serial);
    assert_eq!(
        printed(&r.serial, "capture checksum"),
        fnv(&le_bytes(&samples[..CAPTURE_SAMPLES])),
        "{}",
        r.serial
    );
    assert!(
        r.serial.contains("capture first 0 37 74 111"),
        "{}",
        r.serial
    );
}

#[test]
fn record_then_replay_without_any_backend() {
    let s = Scratch::new("audio-rr");
    let input = s.path("in.wav");
    let samples = make_input(&input);
    let out = s.path("out.wav");
    let log = s.path("audio.log");
    let rec = record(&log, machine(Some(spec(Some(&out), Some(&input)))));
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    check_tone(&rec.serial, &out);
    assert_eq!(
        printed(&rec.serial, "capture checksum"),
        fnv(&le_bytes(&samples[..CAPTURE_SAMPLES]))
    );
    let recorded_wav = std::fs::read(&out).unwrap();
    // The log holds the output pace and the input.
    let played = common::rr::sync_icounts(&log, SyncKind::AudioPlayed);
    let captured: Vec<Vec<u8>> = common::rr::events(&log)
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Sync {
                kind: SyncKind::AudioCaptured,
                data,
            } => Some(data),
            _ => None,
        })
        .collect();
    assert!(
        played.len() >= 40,
        "one offer per 5 ms step: {}",
        played.len()
    );
    assert_eq!(
        captured.concat(),
        le_bytes(&samples[..CAPTURE_SAMPLES]),
        "the captured samples, in order"
    );
    // Neither file is needed (or touched) by replay.
    std::fs::remove_file(&input).unwrap();
    std::fs::remove_file(&out).unwrap();
    for tier in [TierArg::Interp, TierArg::Tiered] {
        let rep = replay_with(&log, tier, None).expect("replay");
        rec.assert_same(&rep, "replay without backends");
    }
    assert!(!out.exists(), "replay created the output file");
    assert!(!input.exists());
    // Re-rendering gives the recorded file back.
    let again = s.path("again.wav");
    let rep = replay_with(&log, TierArg::Interp, Some(again.clone())).expect("replay");
    rec.assert_same(&rep, "replay with --audio-out");
    assert_eq!(std::fs::read(&again).unwrap(), recorded_wav);
    // Seek into the run: the sound card's state comes back from a snapshot.
    let mid = rec.icount / 2;
    let sought = try_replay(&log, TierArg::Interp, Some(mid)).expect("seek");
    assert_eq!(sought.outcome, Outcome::IcountLimit { icount: mid });
}

#[test]
fn replay_stops_on_a_changed_audio_answer() {
    let s = Scratch::new("audio-diverge");
    let log = s.path("audio.log");
    let rec = record(&log, machine(Some(spec(None, None))));
    assert_eq!(rec.outcome, PASS, "{}", rec.serial);
    // The output accepts a frame count larger than any offer: replay refuses it.
    let bad = s.path("bad.log");
    let mut first = true;
    let n = rewrite(&log, &bad, false, |_, e| match e {
        Event::Sync {
            kind: SyncKind::AudioPlayed,
            ..
        } if std::mem::take(&mut first) => Some(vec![Event::Sync {
            kind: SyncKind::AudioPlayed,
            data: 100_000u32.to_le_bytes().to_vec(),
        }]),
        _ => None,
    });
    assert_eq!(n, 1);
    let r = try_replay(&bad, TierArg::Interp, None).expect("replay starts");
    let Outcome::Replay { message } = &r.outcome else {
        panic!("expected a divergence, got {:?}", r.outcome);
    };
    assert!(message.contains("AudioPlayed"), "{message}");
    // A truncated capture answer (not whole frames) is refused the same way.
    let bad2 = s.path("bad2.log");
    let mut first = true;
    rewrite(&log, &bad2, false, |_, e| match e {
        Event::Sync {
            kind: SyncKind::AudioCaptured,
            ..
        } if std::mem::take(&mut first) => Some(vec![Event::Sync {
            kind: SyncKind::AudioCaptured,
            data: vec![1, 2, 3],
        }]),
        _ => None,
    });
    let r = try_replay(&bad2, TierArg::Interp, None).expect("replay starts");
    assert!(
        matches!(&r.outcome, Outcome::Replay { message } if message.contains("AudioCaptured")),
        "{:?}",
        r.outcome
    );
}

#[test]
fn bad_audio_options_are_refused() {
    let s = Scratch::new("audio-bad");
    // A missing input WAV: refused before the guest starts.
    let missing = s.path("nope.wav");
    let e = run(machine(Some(spec(None, Some(&missing))))).unwrap_err();
    assert!(
        e.contains("cannot read audio input") && e.contains("nope.wav"),
        "{e}"
    );
    // An input in a format the backend does not take.
    let float = s.path("float.wav");
    let mut w = hound::WavWriter::create(
        &float,
        hound::WavSpec {
            channels: 2,
            sample_rate: 48000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        },
    )
    .unwrap();
    w.write_sample(0.0f32).unwrap();
    w.write_sample(0.0f32).unwrap();
    w.finalize().unwrap();
    let e = run(machine(Some(spec(None, Some(&float))))).unwrap_err();
    assert!(e.contains("16-bit"), "{e}");
    // An output that cannot be created.
    let e = run(machine(Some(spec(
        Some(&s.path("no/such/dir/out.wav")),
        None,
    ))))
    .unwrap_err();
    assert!(e.contains("cannot create audio output"), "{e}");
    // Bad specs on the command line.
    let g = common::guest_path("ac97_tone");
    for bad in ["sb16", "ac97,out=mp3:x", "ac97,in=wav:", "ac97,speed=2"] {
        let o = Command::new(env!("CARGO_BIN_EXE_reprise"))
            .args(["run", "--kernel"])
            .arg(&g)
            .args(["--audio", bad])
            .output()
            .expect("run reprise");
        assert!(!o.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("expected ac97"), "{bad}: {err}");
    }
    // --audio-out on a log without a sound card.
    let log = s.path("plain.log");
    let rec = record(&log, machine(None));
    assert!(
        rec.serial
            .contains("FAIL ac97_tone: AC'97 (8086:2415) found"),
        "{}",
        rec.serial
    );
    let e = replay_with(&log, TierArg::Interp, Some(s.path("x.wav"))).unwrap_err();
    assert!(e.contains("had no sound card"), "{e}");
}

#[test]
fn capture_over_translated_code_runs_the_new_code() {
    let s = Scratch::new("audio-code");
    let input = s.path("code.wav");
    // `mov eax, 2; ret` and a pad byte, as four 16-bit samples, then the usual ramp.
    let mut samples: Vec<i16> = vec![0x02b8, 0x0000, -0x3d00, 0x0000];
    samples.extend((0..4800i32).map(|k| (k * 37) as i16));
    let mut w = hound::WavWriter::create(
        &input,
        hound::WavSpec {
            channels: 2,
            sample_rate: 48000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .unwrap();
    for &x in &samples {
        w.write_sample(x).unwrap();
    }
    w.finalize().unwrap();
    for tier in [TierArg::Interp, TierArg::Tiered] {
        let mut m = machine(Some(spec(None, Some(&input))));
        m.tier = tier;
        let out = SharedBuffer::default();
        let r = run_kernel(
            &kernel_args("ac97_tone", Some("code")),
            &m,
            Box::new(out.clone()),
        )
        .expect("run");
        let serial = out.text();
        assert_eq!(r.outcome, PASS, "{serial}");
        assert!(
            serial.contains("PASS ac97_tone: code captured over translated code runs"),
            "{tier:?}: {serial}"
        );
    }
}
