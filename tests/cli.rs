//! The built `reprise` binary: exit statuses and the one summary line on stderr.

mod common;
use common::guest_path;
use std::process::Command;

fn reprise(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(args)
        .output()
        .expect("run reprise");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn summary_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(" instructions in "))
        .collect()
}

#[test]
fn run_prints_guest_output_and_one_summary_line() {
    let kernel = guest_path("hello");
    for tier in ["interp", "tiered"] {
        let (code, stdout, stderr) = reprise(&[
            "run",
            "--kernel",
            kernel.to_str().unwrap(),
            "--tier",
            tier,
            "--memory",
            "16",
        ]);
        assert_eq!(code, 1, "debug-exit value 0 gives status 1\n{stderr}");
        assert_eq!(stdout, "hello from a reprise guest\n");
        let lines = summary_lines(&stderr);
        assert_eq!(lines.len(), 1, "{stderr}");
        let l = lines[0];
        for part in [
            "MIPS",
            "interpreted",
            "compiled",
            "compile time",
            "% of wall",
            "digest ",
        ] {
            assert!(l.contains(part), "summary lacks {part:?}: {l}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn icount_limit_and_shift_flags() {
    let kernel = guest_path("hello");
    let (code, _, stderr) = reprise(&[
        "run",
        "--kernel",
        kernel.to_str().unwrap(),
        "--icount-limit",
        "25",
        "--icount-shift",
        "3",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("stopped after 25 instructions"), "{stderr}");
    assert!(stderr.contains("reprise: 25 instructions in "), "{stderr}");
}

#[test]
fn bad_kernels_give_a_message_and_status_2() {
    let dir = std::env::temp_dir().join(format!("reprise-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"definitely not an executable").unwrap();
    let (code, _, stderr) = reprise(&["run", "--kernel", junk.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not an ELF file"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let missing = dir.join("missing.elf");
    let (code, _, stderr) = reprise(&["run", "--kernel", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot read kernel"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn guest_faults_give_messages_and_nonzero_statuses() {
    for (name, want, status) in [
        ("halt_cli", "halted with interrupts disabled", 4),
        ("unmapped", "triple fault at RIP 0x1000000000", 6),
        ("outside_ram", "0xc0000000, which is not RAM", 8),
    ] {
        let k = guest_path(name);
        let (code, _, stderr) =
            reprise(&["run", "--kernel", k.to_str().unwrap(), "--memory", "16"]);
        assert_eq!(code, status, "{name}: {stderr}");
        assert!(stderr.contains(want), "{name}: {stderr}");
        assert_eq!(summary_lines(&stderr).len(), 1, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn unimplemented_instruction_is_named_with_its_address() {
    // AVX is outside reprise's virtual CPU model (CPUID reports none), so this stays
    // unimplemented; if AVX is ever added, pick another instruction here.
    let k = guest_path("avx");
    let (code, _, stderr) = reprise(&["run", "--kernel", k.to_str().unwrap(), "--tier", "interp"]);
    assert_eq!(code, 6, "{stderr}");
    assert!(
        stderr.contains("unimplemented instruction") && stderr.contains("at 0x100000"),
        "{stderr}"
    );
    assert!(stderr.contains("triple fault at RIP 0x100000"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn usage_errors() {
    let (code, _, stderr) = reprise(&["run"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--kernel"), "{stderr}");
    let (code, _, _) = reprise(&["run", "--kernel", "x", "--icount-shift", "11"]);
    assert_eq!(code, 2);
    let (code, _, stderr) = reprise(&["run", "--kernel", "x", "--jit-thread", "maybe"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("`on` or `off`"), "{stderr}");
}

#[test]
fn jit_thread_on_and_off_give_the_same_run() {
    let kernel = guest_path("sort");
    let mut digests = Vec::new();
    for thread in ["on", "off"] {
        let (code, stdout, stderr) = reprise(&[
            "run",
            "--kernel",
            kernel.to_str().unwrap(),
            "--jit-thread",
            thread,
        ]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stdout.contains("PASS"), "{stdout}");
        let line = summary_lines(&stderr)[0].to_string();
        let digest = line.rsplit(' ').next().unwrap_or_default().to_string();
        let icount = line.split(' ').nth(1).unwrap_or_default().to_string();
        digests.push((icount, digest));
    }
    assert_eq!(digests[0], digests[1], "same instructions and state digest");
}

#[test]
fn no_arguments_runs_the_bundled_demo() {
    let (code, stdout, stderr) = reprise(&[]);
    assert_eq!(
        code, 0,
        "the demo ends with debug-exit value 0, reported as success\n{stderr}"
    );
    assert!(
        stdout.contains("reprise - a deterministic x86-64 machine"),
        "{stdout}"
    );
    assert!(stdout.contains("Virtual time"), "{stdout}");
    // The demo records, replays and compares: every row the same.
    for row in ["serial output", "instructions", "state digest"] {
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with(row))
            .unwrap_or_else(|| panic!("no `{row}` row in\n{stderr}"));
        assert!(line.ends_with("same"), "{line}");
    }
    assert!(
        stderr.contains("the replay matches the recording"),
        "{stderr}"
    );
}
