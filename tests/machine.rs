//! The machine around the CPU: exact instruction limits, exit statuses, and bad input
//! that must end with a clear message and a non-zero status, never a panic.

mod common;
use common::*;
use reprise::machine::status;
use reprise::{Machine, MachineError, Outcome, SharedBuffer};

fn start_error(image: &[u8], mib: u64) -> String {
    let mut cfg = config(TIERS[0]);
    cfg.memory_mib = mib;
    match Machine::new(&cfg, image, Box::new(SharedBuffer::default())) {
        Ok(_) => panic!("machine started"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn icount_limit_stops_exactly() {
    let full = run_guest("hello", TIERS[0]).icount;
    assert!(full > 100);
    for tier in TIERS {
        for n in [0, 1, 2, 7, 50, full - 1] {
            let r = run_image(&guest("hello"), &config(tier), Some(n));
            assert_eq!(r.outcome, Outcome::IcountLimit { icount: n }, "{tier:?}");
            assert_eq!(r.icount, n);
            assert_eq!(r.outcome.exit_status(), 0);
        }
        // A limit past the end does not matter.
        let r = run_image(&guest("hello"), &config(tier), Some(full + 1000));
        assert_eq!(r.icount, full);
    }
}

#[test]
fn debug_exit_status_is_value_shifted_left_or_one() {
    let r = run_guest("hello", TIERS[0]);
    assert_eq!(r.outcome.exit_status(), 1);
    let o = Outcome::DebugExit {
        value: 0x10,
        status: 0x21,
    };
    assert_eq!(o.exit_status(), 0x21);
}

#[test]
fn not_an_elf_file() {
    let msg = start_error(b"#!/bin/sh\necho this is a shell script\n", 32);
    assert!(msg.contains("not an ELF file"), "{msg}");
    let msg = start_error(b"", 32);
    assert!(msg.contains("not an ELF file"), "{msg}");
}

#[test]
fn elf32_is_rejected() {
    let mut f = guest("hello");
    f[4] = 1; // ELFCLASS32
    let msg = start_error(&f, 32);
    assert!(msg.contains("32-bit"), "{msg}");
}

#[test]
fn truncated_elf_is_rejected() {
    let f = guest("hello");
    for n in [10, 63, 64, 100, 200, f.len() - 1] {
        let msg = start_error(&f[..n], 32);
        assert!(
            msg.contains("truncated") || msg.contains("too short"),
            "{n}: {msg}"
        );
    }
}

#[test]
fn segment_outside_ram_names_the_address() {
    // hello is linked at 1 MiB: fine in 2 MiB of RAM only if it fits; move its first
    // segment to 1 GiB instead, which 32 MiB of RAM does not reach.
    let mut f = guest("hello");
    let phoff = u64::from_le_bytes(f[32..40].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(f[56..58].try_into().unwrap()) as usize;
    let load = (0..phnum)
        .map(|i| phoff + i * 56)
        .find(|&ph| u32::from_le_bytes(f[ph..ph + 4].try_into().unwrap()) == 1)
        .unwrap();
    f[load + 24..load + 32].copy_from_slice(&0x4000_0000u64.to_le_bytes());
    let msg = start_error(&f, 32);
    assert!(
        msg.contains("outside guest RAM") && msg.contains("0x40000000"),
        "{msg}"
    );
    // And below 0x80000, the reserved area.
    f[load + 24..load + 32].copy_from_slice(&0x1000u64.to_le_bytes());
    let msg = start_error(&f, 32);
    assert!(msg.contains("reserved") && msg.contains("0x1000"), "{msg}");
}

#[test]
fn memory_size_is_checked() {
    let msg = start_error(&guest("hello"), 1);
    assert!(msg.contains("MiB"), "{msg}");
    assert!(matches!(
        Machine::new(
            &config(TIERS[0]),
            b"junk",
            Box::new(SharedBuffer::default())
        ),
        Err(MachineError::Kernel(_))
    ));
}

#[test]
fn jump_into_unmapped_memory_is_a_triple_fault() {
    for tier in TIERS {
        let r = run_guest("unmapped", tier);
        assert!(
            matches!(
                r.outcome,
                Outcome::TripleFault {
                    rip: 0x10_0000_0000,
                    cr2: 0x10_0000_0000,
                    ..
                }
            ),
            "{:?}",
            r.outcome
        );
        let msg = r.outcome.message();
        assert!(
            msg.contains("triple fault") && msg.contains("0x1000000000") && msg.contains("#PF"),
            "{msg}"
        );
        assert_eq!(r.outcome.exit_status(), status::TRIPLE_FAULT);
    }
}

#[test]
fn invalid_opcode_without_idt_is_a_triple_fault() {
    let r = run_guest("ud", TIERS[0]);
    assert!(
        matches!(r.outcome, Outcome::TripleFault { rip: 0x10_0001, .. }),
        "{:?}",
        r.outcome
    );
    assert_ne!(r.outcome.exit_status(), 0);
}

#[test]
fn executing_outside_ram_names_the_address() {
    for tier in TIERS {
        let r = run_guest("outside_ram", tier);
        assert_eq!(r.outcome, Outcome::ExecOutsideRam { rip: 0xc000_0000 });
        let msg = r.outcome.message();
        assert!(
            msg.contains("0xc0000000") && msg.contains("not RAM"),
            "{msg}"
        );
        assert_eq!(r.outcome.exit_status(), status::EXEC_OUTSIDE_RAM);
    }
}

#[test]
fn halt_with_interrupts_disabled_stops_with_a_message() {
    for tier in TIERS {
        let r = run_guest("halt_cli", tier);
        assert!(
            matches!(
                r.outcome,
                Outcome::Halted {
                    interrupts_enabled: false,
                    ..
                }
            ),
            "{:?}",
            r.outcome
        );
        let msg = r.outcome.message();
        assert!(
            msg.contains("halted with interrupts disabled at RIP 0x"),
            "{msg}"
        );
        assert_eq!(r.outcome.exit_status(), status::HALTED);
    }
}

#[test]
fn machine_statuses_are_even_and_nonzero() {
    // Debug-exit statuses are always odd; the machine's own never collide with them.
    for s in [
        status::CONFIG,
        status::HALTED,
        status::TRIPLE_FAULT,
        status::EXEC_OUTSIDE_RAM,
        status::REPLAY,
        status::RESET,
    ] {
        assert!(s != 0 && s % 2 == 0, "{s}");
    }
}

#[test]
fn page_tables_outside_ram_end_in_a_clear_triple_fault() {
    for tier in TIERS {
        let r = run_guest("cr3_outside", tier);
        assert!(
            matches!(r.outcome, Outcome::TripleFault { .. }),
            "{:?}",
            r.outcome
        );
        let msg = r.outcome.message();
        assert!(msg.contains("triple fault") && msg.contains("#PF"), "{msg}");
        assert_eq!(r.outcome.exit_status(), status::TRIPLE_FAULT);
    }
}

#[test]
fn a_stack_past_the_end_of_ram_ends_in_a_clear_triple_fault() {
    for tier in TIERS {
        let r = run_guest("stack_off_ram", tier);
        assert!(
            matches!(r.outcome, Outcome::TripleFault { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(r.outcome.exit_status(), status::TRIPLE_FAULT);
    }
}

#[test]
fn an_interrupt_storm_keeps_making_progress_and_exits() {
    for tier in TIERS {
        let r = run_guest("irq_storm", tier);
        assert!(
            matches!(r.outcome, Outcome::DebugExit { value: 0, .. }),
            "{:?}",
            r.outcome
        );
        // 20000 interrupts, each a handler of 3 instructions plus the waiting loop.
        assert!(r.icount > 60_000, "{}", r.icount);
    }
}

#[test]
fn keyboard_controller_reset_stops_the_machine_with_a_message() {
    for tier in TIERS {
        // --no-reboot: the reset request stops the machine (without it the machine
        // reboots, and this guest would reset forever; tests/reset.rs has reboots).
        let mut cfg = common::config(tier);
        cfg.no_reboot = true;
        let r = common::run_image(&common::guest("kbd_reset"), &cfg, Some(common::GUEST_LIMIT));
        assert!(
            matches!(r.outcome, Outcome::ResetRequested { .. }),
            "{tier:?}: {:?}",
            r.outcome
        );
        let msg = r.outcome.message();
        assert!(
            msg.contains("reset") && msg.contains("keyboard controller"),
            "{msg}"
        );
        assert_eq!(r.outcome.exit_status(), status::RESET);
    }
}
