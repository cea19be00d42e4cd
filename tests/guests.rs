//! Every self-checking guest in guests/, run through the library API in the
//! interpreter, in the tiered CPU, and in the tiered CPU compiling nearly every block:
//! each must print PASS and exit with debug-exit value 0, and all runs must produce the
//! same serial output, instruction count and state digest.

mod common;
use common::*;
use reprise::Outcome;

#[test]
fn hello_assembly_guest() {
    let r = check_guest_plain("hello");
    assert_eq!(r.serial, "hello from a reprise guest\n");
}

/// hello has no PASS line: it checks only its exit and the tiers' agreement.
fn check_guest_plain(name: &str) -> Run {
    let runs = run_all_tiers(name);
    let a = &runs[0].1;
    assert_eq!(
        a.outcome,
        Outcome::DebugExit {
            value: 0,
            status: 1
        },
        "{}\n{}",
        a.outcome.message(),
        a.serial
    );
    check_same(name, &runs);
    runs.into_iter().next().expect("runs").1
}

#[test]
fn intmath() {
    check_guest("intmath");
}

#[test]
fn sort() {
    check_guest("sort");
}

#[test]
fn crc32() {
    check_guest("crc32");
}

#[test]
fn sha256() {
    check_guest("sha256");
}

#[test]
fn strings() {
    check_guest("strings");
}

#[test]
fn sse() {
    check_guest("sse");
}

#[test]
fn x87() {
    check_guest("x87");
}

#[test]
fn recursion() {
    check_guest("recursion");
}

#[test]
fn smc() {
    check_guest("smc");
}

#[test]
fn demo_runs_and_is_deterministic() {
    let r = check_guest_plain("demo");
    assert!(
        r.serial
            .contains("reprise - a deterministic x86-64 machine"),
        "{}",
        r.serial
    );
    assert!(r.serial.contains("(168 primes below 1000)"), "{}", r.serial);
    assert!(r.serial.contains("Virtual time"), "{}", r.serial);
    // The bundled copy is the one built here.
    assert_eq!(reprise::DEMO_GUEST, &guest("demo")[..]);
    // Same run again: bit-identical.
    let again = run_guest("demo", TIERS[0]);
    assert_eq!(r, again);
}
