//! The local APIC (registers, priorities, IPIs, timer, x2APIC) and the I/O APIC,
//! through the interrupt hub.

use reprise_devices::ioapic::rte;
use reprise_devices::lapic::{base, msr};
use reprise_devices::{Intc, PicPort};

const SVR: u64 = 0xf0;
const EOI: u64 = 0xb0;
const TPR: u64 = 0x80;
const ICR_LO: u64 = 0x300;
const ICR_HI: u64 = 0x310;
const LVT_TIMER: u64 = 0x320;
const LVT_LINT0: u64 = 0x350;
const INIT_COUNT: u64 = 0x380;
const CUR_COUNT: u64 = 0x390;
const DIVIDE: u64 = 0x3e0;
const ESR: u64 = 0x280;

fn rd(i: &mut Intc, off: u64, now: u64) -> u64 {
    i.lapic_mmio_read(off, 4, now)
}

fn wr(i: &mut Intc, off: u64, v: u64, now: u64) {
    i.lapic_mmio_write(off, 4, v, now);
}

/// An Intc with the local APIC software-enabled (spurious vector 0xff) and the PIC
/// masked, as an OS that uses the APICs sets things up.
fn apic_mode() -> Intc {
    let mut i = Intc::new();
    wr(&mut i, SVR, 0x1ff, 0);
    i.pic_write(PicPort::MasterData, 0xff);
    i.pic_write(PicPort::SlaveData, 0xff);
    i
}

fn ioapic_write(i: &mut Intc, index: u32, v: u32) {
    i.ioapic_mmio_write(0x00, 4, u64::from(index), 0);
    i.ioapic_mmio_write(0x10, 4, u64::from(v), 0);
}

fn ioapic_read(i: &mut Intc, index: u32) -> u32 {
    i.ioapic_mmio_write(0x00, 4, u64::from(index), 0);
    i.ioapic_mmio_read(0x10, 4, 0) as u32
}

#[test]
fn lapic_reset_values() {
    let mut i = Intc::new();
    assert_eq!(rd(&mut i, 0x20, 0), 0, "APIC ID 0");
    assert_eq!(rd(&mut i, 0x30, 0), 0x0005_0014);
    assert_eq!(rd(&mut i, SVR, 0), 0xff);
    assert_eq!(rd(&mut i, LVT_TIMER, 0), 0x1_0000);
    assert_eq!(rd(&mut i, LVT_LINT0, 0), 0x700, "virtual wire");
    assert_eq!(rd(&mut i, 0x360, 0), 0x400, "LINT1 NMI");
    assert_eq!(rd(&mut i, 0xe0, 0), 0xffff_ffff);
    assert_eq!(i.msr_read(msr::APIC_BASE, 0), Some(0xfee0_0900));
    assert_eq!(i.msr_read(0x802, 0), None, "no x2APIC MSRs in xAPIC mode");
    assert_eq!(i.msr_read(msr::TSC_DEADLINE, 0), Some(0));
    // Byte reads see the register's low byte.
    assert_eq!(i.lapic_mmio_read(0x30, 1, 0), 0x14);
    assert_eq!(i.lapic_mmio_read(0x32, 1, 0), 0x05);
}

#[test]
fn software_disable_masks_the_lvt() {
    let mut i = Intc::new();
    wr(&mut i, LVT_TIMER, 0x40, 0);
    assert_eq!(
        rd(&mut i, LVT_TIMER, 0),
        0x1_0040,
        "mask forced while disabled"
    );
    wr(&mut i, SVR, 0x1ff, 0);
    wr(&mut i, LVT_TIMER, 0x40, 0);
    assert_eq!(rd(&mut i, LVT_TIMER, 0), 0x40);
    wr(&mut i, SVR, 0xff, 0);
    assert_eq!(rd(&mut i, LVT_TIMER, 0), 0x1_0040);
    assert_eq!(rd(&mut i, LVT_LINT0, 0), 0x1_0700);
}

#[test]
fn one_shot_timer() {
    let mut i = apic_mode();
    wr(&mut i, DIVIDE, 0xb, 0); // divide by 1: 1 GHz
    wr(&mut i, LVT_TIMER, 0x40, 0);
    wr(&mut i, INIT_COUNT, 1000, 100);
    assert_eq!(i.next_deadline(), Some(1100));
    assert_eq!(rd(&mut i, CUR_COUNT, 500), 600);
    i.advance(1099);
    assert!(!i.intr_pending());
    i.advance(1100);
    assert!(i.intr_pending());
    assert_eq!(rd(&mut i, CUR_COUNT, 1100), 0);
    assert_eq!(i.next_deadline(), None);
    assert_eq!(i.acknowledge(1100), Some(0x40));
    wr(&mut i, EOI, 0, 1100);
    assert!(!i.lapic().isr_bit(0x40));
}

#[test]
fn periodic_timer_accounts_for_missed_periods() {
    let mut i = apic_mode();
    wr(&mut i, DIVIDE, 0x0, 0); // divide by 2
    wr(&mut i, LVT_TIMER, 0x2_0041, 0); // periodic
    wr(&mut i, INIT_COUNT, 500, 0); // 1000 ns period
    assert_eq!(i.next_deadline(), Some(1000));
    i.advance(10_500);
    assert_eq!(i.lapic().timer_expirations(), 10);
    assert_eq!(i.next_deadline(), Some(11_000));
    assert_eq!(rd(&mut i, CUR_COUNT, 10_500), 250);
    assert_eq!(i.acknowledge(10_500), Some(0x41));
    assert_eq!(
        i.acknowledge(10_500),
        None,
        "one IRR bit for all the periods"
    );
    // Masked: still counts, no interrupt.
    wr(&mut i, LVT_TIMER, 0x3_0041, 10_500);
    wr(&mut i, EOI, 0, 10_500);
    i.advance(20_000);
    assert_eq!(i.lapic().timer_expirations(), 20);
    assert!(!i.intr_pending());
}

#[test]
fn divide_change_keeps_the_count() {
    let mut i = apic_mode();
    wr(&mut i, DIVIDE, 0xb, 0);
    wr(&mut i, LVT_TIMER, 0x40, 0);
    wr(&mut i, INIT_COUNT, 1000, 0);
    wr(&mut i, DIVIDE, 0x3, 400); // divide by 16, count 600 left
    assert_eq!(rd(&mut i, CUR_COUNT, 400), 600);
    assert_eq!(rd(&mut i, CUR_COUNT, 400 + 160), 590);
    assert_eq!(i.next_deadline(), Some(400 + 600 * 16));
}

#[test]
fn tsc_deadline_timer() {
    let mut i = apic_mode();
    // Not in deadline mode: the MSR reads 0 and ignores writes.
    assert_eq!(i.msr_write(msr::TSC_DEADLINE, 5000, 0), Some(()));
    assert_eq!(i.msr_read(msr::TSC_DEADLINE, 0), Some(0));
    wr(&mut i, LVT_TIMER, 0x4_0042, 0);
    i.msr_write(msr::TSC_DEADLINE, 5000, 0);
    assert_eq!(i.msr_read(msr::TSC_DEADLINE, 0), Some(5000));
    assert_eq!(i.next_deadline(), Some(5000));
    wr(&mut i, INIT_COUNT, 10, 0);
    assert_eq!(rd(&mut i, INIT_COUNT, 0), 0, "initial count ignored");
    i.advance(5000);
    assert_eq!(i.acknowledge(5000), Some(0x42));
    assert_eq!(i.msr_read(msr::TSC_DEADLINE, 5000), Some(0));
    assert_eq!(i.next_deadline(), None);
    // A deadline in the past fires at the next advance.
    i.msr_write(msr::TSC_DEADLINE, 1, 6000);
    assert_eq!(i.next_deadline(), Some(1));
    i.advance(6000);
    assert!(i.lapic().irr_bit(0x42));
}

#[test]
fn task_priority_gates_delivery() {
    let mut i = apic_mode();
    wr(&mut i, TPR, 0x60, 0);
    wr(&mut i, ICR_LO, 0x4_0055, 0); // self IPI, vector 0x55
    assert!(!i.intr_pending());
    assert_eq!(rd(&mut i, 0xa0, 0), 0x60, "PPR = TPR");
    i.set_cr8(4);
    assert_eq!(rd(&mut i, TPR, 0), 0x40);
    assert!(i.intr_pending());
    assert_eq!(i.acknowledge(0), Some(0x55));
    assert_eq!(rd(&mut i, 0xa0, 0), 0x50, "PPR from ISR");
    wr(&mut i, ICR_LO, 0x4_0052, 0);
    wr(&mut i, ICR_LO, 0x4_0065, 0);
    assert_eq!(i.acknowledge(0), Some(0x65));
    wr(&mut i, EOI, 0, 0);
    assert!(!i.intr_pending(), "0x52 is in 0x55's class");
    wr(&mut i, EOI, 0, 0);
    assert_eq!(i.acknowledge(0), Some(0x52));
}

#[test]
fn ipis_to_self() {
    let mut i = apic_mode();
    // Physical destination 0, fixed.
    wr(&mut i, ICR_HI, 0, 0);
    wr(&mut i, ICR_LO, 0x0_0061, 0);
    assert!(i.lapic().irr_bit(0x61));
    // Destination 1: not us.
    wr(&mut i, ICR_HI, 1 << 24, 0);
    wr(&mut i, ICR_LO, 0x0_0062, 0);
    assert!(!i.lapic().irr_bit(0x62));
    // All-excluding-self: not us.
    wr(&mut i, ICR_LO, 0xc_0063, 0);
    assert!(!i.lapic().irr_bit(0x63));
    // NMI to self.
    wr(&mut i, ICR_LO, 0x4_0400, 0);
    assert!(i.take_nmi());
    assert!(!i.take_nmi());
    // INIT and SIPI are ignored without harm.
    wr(&mut i, ICR_LO, 0x4_0500, 0);
    wr(&mut i, ICR_LO, 0x4_0608, 0);
    assert_eq!(rd(&mut i, ICR_LO, 0) & (1 << 12), 0, "delivery status idle");
    // An illegal vector shows in the ESR after a write to it.
    wr(&mut i, ICR_LO, 0x4_0005, 0);
    assert_eq!(rd(&mut i, ESR, 0), 0);
    wr(&mut i, ESR, 0, 0);
    assert_eq!(rd(&mut i, ESR, 0), 0x60);
    wr(&mut i, ESR, 0, 0);
    assert_eq!(rd(&mut i, ESR, 0), 0);
}

#[test]
fn x2apic_msrs() {
    let mut i = apic_mode();
    i.apic_base_written(base::DEFAULT | base::X2APIC);
    assert_eq!(i.msr_read(0x802, 0), Some(0));
    assert_eq!(i.msr_read(0x803, 0), Some(0x0005_0014));
    assert_eq!(
        i.msr_read(0x80d, 0),
        Some(1),
        "logical ID: cluster 0, bit 0"
    );
    assert_eq!(i.msr_read(0x80f, 0), Some(0x1ff));
    assert_eq!(
        i.lapic_mmio_read(SVR, 4, 0),
        0xffff_ffff,
        "MMIO off in x2APIC mode"
    );
    // SELF_IPI.
    assert_eq!(i.msr_write(msr::X2APIC_SELF_IPI, 0x66, 0), Some(()));
    assert!(i.lapic().irr_bit(0x66));
    // ICR as one 64-bit register, destination 0 in the high half.
    assert_eq!(i.msr_write(msr::X2APIC_ICR, 0x67, 0), Some(()));
    assert!(i.lapic().irr_bit(0x67));
    assert_eq!(i.msr_read(msr::X2APIC_ICR, 0), Some(0x67));
    assert_eq!(i.acknowledge(0), Some(0x67));
    // EOI takes only 0; write-only registers do not read.
    assert_eq!(i.msr_write(msr::X2APIC_EOI, 1, 0), None);
    assert_eq!(i.msr_write(msr::X2APIC_EOI, 0, 0), Some(()));
    assert!(!i.lapic().isr_bit(0x67));
    assert_eq!(i.msr_read(msr::X2APIC_EOI, 0), None);
    assert_eq!(i.msr_read(msr::X2APIC_SELF_IPI, 0), None);
    assert_eq!(i.msr_write(0x802, 5, 0), None, "ID is read-only");
    assert_eq!(i.msr_write(0x808, 1 << 32, 0), None, "reserved bits");
    assert_eq!(i.msr_read(0x8ff, 0), None);
    // The timer through MSRs.
    i.msr_write(0x83e, 0xb, 0);
    i.msr_write(0x832, 0x45, 0);
    i.msr_write(0x838, 100, 0);
    assert_eq!(i.msr_read(0x839, 40), Some(60));
    assert_eq!(i.next_deadline(), Some(100));
}

#[test]
fn pic_reaches_cpu_only_through_extint_or_a_disabled_apic() {
    let mut i = Intc::new();
    i.pic_write(PicPort::MasterCommand, 0x11);
    i.pic_write(PicPort::MasterData, 0x20);
    i.pic_write(PicPort::MasterData, 0x04);
    i.pic_write(PicPort::MasterData, 0x01);
    i.set_irq(1, true, 0);
    assert!(i.intr_pending());
    wr(&mut i, SVR, 0x1ff, 0);
    wr(&mut i, LVT_LINT0, 0x1_0700, 0);
    assert!(!i.intr_pending(), "LINT0 masked");
    i.apic_base_written(0xfee0_0000);
    assert!(
        i.intr_pending(),
        "APIC globally disabled: INTR goes straight in"
    );
    assert_eq!(i.lapic_mmio_read(0x30, 4, 0), 0xffff_ffff);
    assert_eq!(i.acknowledge(0), Some(0x21));
    // Re-enabled: the APIC comes back software-disabled with its LVT masked.
    i.apic_base_written(base::DEFAULT);
    assert_eq!(rd(&mut i, SVR, 0), 0xff);
    assert_eq!(rd(&mut i, LVT_LINT0, 0) & 0x1_0000, 0x1_0000);
}

#[test]
fn nmi_line_goes_through_lint1() {
    let mut i = Intc::new();
    i.nmi_line_edge();
    assert!(i.take_nmi());
    wr(&mut i, SVR, 0x1ff, 0);
    wr(&mut i, 0x360, 0x1_0400, 0);
    i.nmi_line_edge();
    assert!(!i.take_nmi(), "LINT1 masked");
}

#[test]
fn ioapic_registers() {
    let mut i = Intc::new();
    assert_eq!(ioapic_read(&mut i, 1), 0x0017_0020);
    ioapic_write(&mut i, 0, 0x0f00_0000);
    assert_eq!(ioapic_read(&mut i, 0), 0x0f00_0000);
    assert_eq!(i.ioapic_mmio_read(0, 4, 0), 0);
    for pin in 0..24 {
        assert_eq!(
            ioapic_read(&mut i, 0x10 + 2 * pin),
            0x1_0000,
            "pin {pin} masked"
        );
    }
    ioapic_write(&mut i, 0x10, 0xffff_ffff);
    assert_eq!(
        ioapic_read(&mut i, 0x10),
        0x1_afff,
        "read-only bits stay clear"
    );
    ioapic_write(&mut i, 0x11, 0xffff_ffff);
    assert_eq!(ioapic_read(&mut i, 0x11), 0xff00_0000);
    assert_eq!(ioapic_read(&mut i, 0x40), 0, "beyond the table");
}

#[test]
fn ioapic_edge_pin_with_the_pit_override() {
    let mut i = apic_mode();
    ioapic_write(&mut i, 0x10 + 2 * 2, 0x30); // pin 2: vector 0x30, edge, fixed, dest 0
    ioapic_write(&mut i, 0x10, 0x31); // pin 0 must not see the PIT
    i.set_irq(0, true, 0);
    assert!(i.intr_pending());
    assert_eq!(i.acknowledge(0), Some(0x30));
    wr(&mut i, EOI, 0, 0);
    i.set_irq(0, true, 0);
    assert!(!i.intr_pending(), "no new edge");
    i.set_irq(0, false, 0);
    i.pulse_irq(0, 0);
    assert_eq!(i.acknowledge(0), Some(0x30));
}

#[test]
fn ioapic_level_pin_remote_irr_and_eoi() {
    let mut i = apic_mode();
    ioapic_write(&mut i, 0x10 + 2 * 9, 0x8041); // pin 9: level, vector 0x41
    i.set_irq(9, true, 0);
    assert_eq!(i.acknowledge(0), Some(0x41));
    assert_ne!(i.ioapic().redirection(9) & rte::REMOTE_IRR, 0);
    assert!(!i.lapic().irr_bit(0x41));
    wr(&mut i, EOI, 0, 0);
    // Still asserted: the EOI broadcast clears Remote IRR and the pin fires again.
    assert!(i.lapic().irr_bit(0x41));
    assert_eq!(i.acknowledge(0), Some(0x41));
    i.set_irq(9, false, 0);
    wr(&mut i, EOI, 0, 0);
    assert_eq!(i.ioapic().redirection(9) & rte::REMOTE_IRR, 0);
    assert!(!i.intr_pending());
    // Masked while asserted, then unmasked: delivered at the unmask.
    ioapic_write(&mut i, 0x10 + 2 * 9, 0x1_8041);
    i.set_irq(9, true, 0);
    assert!(!i.intr_pending());
    ioapic_write(&mut i, 0x10 + 2 * 9, 0x8041);
    assert_eq!(i.acknowledge(0), Some(0x41));
    // The I/O APIC's own EOI register (version 0x20).
    i.ioapic_mmio_write(0x40, 4, 0x41, 0);
    assert!(i.lapic().irr_bit(0x41), "still asserted: redelivered");
}

#[test]
fn ioapic_gsi_and_destinations() {
    let mut i = apic_mode();
    // GSI 20, physical destination 1: not this CPU.
    ioapic_write(&mut i, 0x10 + 2 * 20, 0x50);
    ioapic_write(&mut i, 0x11 + 2 * 20, 0x0100_0000);
    i.set_irq(20, true, 0);
    assert!(!i.intr_pending());
    // Logical destination matching the LDR (flat model).
    wr(&mut i, 0xd0, 0x0100_0000, 0);
    ioapic_write(&mut i, 0x10 + 2 * 21, 0x851);
    ioapic_write(&mut i, 0x11 + 2 * 21, 0x0100_0000);
    i.set_irq(21, true, 0);
    assert_eq!(i.acknowledge(0), Some(0x51));
    // NMI delivery mode.
    ioapic_write(&mut i, 0x10 + 2 * 22, 0x400);
    i.set_irq(22, true, 0);
    assert!(i.take_nmi());
    // ExtINT delivery mode forwards the PIC.
    let mut j = Intc::new();
    wr(&mut j, SVR, 0x1ff, 0);
    wr(&mut j, LVT_LINT0, 0x1_0700, 0);
    j.pic_write(PicPort::MasterCommand, 0x11);
    j.pic_write(PicPort::MasterData, 0x20);
    j.pic_write(PicPort::MasterData, 0x04);
    j.pic_write(PicPort::MasterData, 0x01);
    ioapic_write(&mut j, 0x10 + 2 * 3, 0x700);
    j.set_irq(3, true, 0);
    assert_eq!(j.acknowledge(0), Some(0x23));
    // Lines beyond the I/O APIC are ignored.
    j.set_irq(200, true, 0);
}

#[test]
fn masked_timer_needs_no_attention_and_loses_its_interrupts() {
    let mut i = apic_mode();
    wr(&mut i, DIVIDE, 0xb, 0);
    wr(&mut i, LVT_TIMER, 0x3_0043, 0); // periodic, masked
    wr(&mut i, INIT_COUNT, 100, 0);
    assert_eq!(i.next_deadline(), None);
    assert_eq!(rd(&mut i, CUR_COUNT, 1050), 50);
    wr(&mut i, LVT_TIMER, 0x2_0043, 1050); // unmask
    assert!(!i.intr_pending(), "expiries while masked raise nothing");
    assert_eq!(i.lapic().timer_expirations(), 10);
    assert_eq!(i.next_deadline(), Some(1100));
    i.advance(1100);
    assert_eq!(i.acknowledge(1100), Some(0x43));
}

#[test]
fn software_disabled_apic_takes_no_fixed_interrupts() {
    let mut i = Intc::new();
    wr(&mut i, ICR_LO, 0x4_0070, 0);
    assert!(!i.lapic().irr_bit(0x70));
    wr(&mut i, ICR_LO, 0x4_0400, 0);
    assert!(i.take_nmi(), "NMIs still get through");
}
