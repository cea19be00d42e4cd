//! The 8259 pair through the interrupt hub's port interface.

use reprise_devices::{Intc, PicPort};

/// Linux's init_8259A: master vectors 0x30.., slave 0x38.., cascade on IRQ 2.
fn init(intc: &mut Intc, icw4: u8) {
    use PicPort::*;
    intc.pic_write(MasterData, 0xff);
    intc.pic_write(SlaveData, 0xff);
    intc.pic_write(MasterCommand, 0x11);
    intc.pic_write(MasterData, 0x30);
    intc.pic_write(MasterData, 0x04);
    intc.pic_write(MasterData, icw4);
    intc.pic_write(SlaveCommand, 0x11);
    intc.pic_write(SlaveData, 0x38);
    intc.pic_write(SlaveData, 0x02);
    intc.pic_write(SlaveData, icw4);
    intc.pic_write(MasterData, 0x00);
    intc.pic_write(SlaveData, 0x00);
}

fn pulse(intc: &mut Intc, irq: u8) {
    intc.set_irq(irq, true, 0);
    intc.set_irq(irq, false, 0);
}

fn eoi(intc: &mut Intc, slave: bool) {
    if slave {
        intc.pic_write(PicPort::SlaveCommand, 0x20);
    }
    intc.pic_write(PicPort::MasterCommand, 0x20);
}

#[test]
fn reset_state_is_masked() {
    let mut i = Intc::new();
    assert_eq!(i.pic_read(PicPort::MasterData), 0xff);
    assert_eq!(i.pic_read(PicPort::SlaveData), 0xff);
    i.set_irq(0, true, 0);
    i.set_irq(8, true, 0);
    assert!(!i.intr_pending());
    // ICW1 clears the IMR and the edge latched before it.
    init(&mut i, 0x01);
    assert!(!i.intr_pending());
}

#[test]
fn edge_irq_is_delivered_once_until_eoi() {
    let mut i = Intc::new();
    init(&mut i, 0x01);
    assert!(!i.intr_pending());
    i.set_irq(0, true, 0);
    assert!(
        i.intr_pending(),
        "virtual wire: PIC reaches the CPU through LINT0"
    );
    assert_eq!(i.acknowledge(0), Some(0x30));
    assert!(!i.intr_pending());
    // A new edge while IRQ 0 is in service waits for the EOI.
    i.set_irq(0, false, 0);
    i.set_irq(0, true, 0);
    assert!(!i.intr_pending());
    eoi(&mut i, false);
    assert!(i.intr_pending());
    assert_eq!(i.acknowledge(0), Some(0x30));
    eoi(&mut i, false);
    // A line held high gives no further edge.
    assert!(!i.intr_pending());
}

#[test]
fn fixed_priority_and_nesting() {
    let mut i = Intc::new();
    init(&mut i, 0x01);
    pulse(&mut i, 3);
    pulse(&mut i, 1);
    assert_eq!(i.acknowledge(0), Some(0x31));
    assert!(!i.intr_pending(), "IRQ 3 is below IRQ 1 in service");
    pulse(&mut i, 0);
    assert_eq!(i.acknowledge(0), Some(0x30), "IRQ 0 nests above IRQ 1");
    eoi(&mut i, false);
    eoi(&mut i, false);
    assert_eq!(i.acknowledge(0), Some(0x33));
    i.pic_write(PicPort::MasterCommand, 0x0b); // OCW3: read ISR
    assert_eq!(i.pic_read(PicPort::MasterCommand), 0x08);
    i.pic_write(PicPort::MasterCommand, 0x0a); // read IRR
    assert_eq!(i.pic_read(PicPort::MasterCommand), 0x00);
}

#[test]
fn slave_irq_cascades_through_irq2() {
    let mut i = Intc::new();
    init(&mut i, 0x01);
    pulse(&mut i, 8);
    assert!(i.intr_pending());
    assert_eq!(i.acknowledge(0), Some(0x38));
    i.pic_write(PicPort::MasterCommand, 0x0b);
    i.pic_write(PicPort::SlaveCommand, 0x0b);
    assert_eq!(i.pic_read(PicPort::MasterCommand), 0x04);
    assert_eq!(i.pic_read(PicPort::SlaveCommand), 0x01);
    pulse(&mut i, 12);
    assert!(!i.intr_pending(), "the cascade input is in service");
    eoi(&mut i, true);
    assert_eq!(i.acknowledge(0), Some(0x3c));
}

#[test]
fn masked_lines_and_spurious_irq7() {
    let mut i = Intc::new();
    init(&mut i, 0x01);
    i.pic_write(PicPort::MasterData, 0x02);
    pulse(&mut i, 1);
    assert!(!i.intr_pending());
    assert_eq!(i.pic_read(PicPort::MasterData), 0x02);
    // An INTA with nothing to deliver is answered with IRQ 7's vector, ISR untouched.
    let mut pic = i.pic().clone();
    assert_eq!(pic.acknowledge(), 0x37);
    assert_eq!(pic.state().master.isr, 0);
    i.pic_write(PicPort::MasterData, 0x00);
    assert_eq!(i.acknowledge(0), Some(0x31));
}

#[test]
fn level_triggered_via_elcr() {
    let mut i = Intc::new();
    init(&mut i, 0x01);
    i.pic_write(PicPort::ElcrSlave, 0xff);
    assert_eq!(
        i.pic_read(PicPort::ElcrSlave),
        0xde,
        "IRQ 8 and 13 are edge only"
    );
    i.set_irq(9, true, 0);
    assert_eq!(i.acknowledge(0), Some(0x39));
    eoi(&mut i, true);
    assert!(i.intr_pending(), "still asserted: requested again");
    i.set_irq(9, false, 0);
    assert!(!i.intr_pending());
}

#[test]
fn auto_eoi_and_poll() {
    let mut i = Intc::new();
    init(&mut i, 0x03);
    pulse(&mut i, 4);
    assert_eq!(i.acknowledge(0), Some(0x34));
    pulse(&mut i, 4);
    assert_eq!(
        i.acknowledge(0),
        Some(0x34),
        "auto-EOI: nothing stays in service"
    );
    pulse(&mut i, 5);
    i.pic_write(PicPort::MasterCommand, 0x0c); // poll
    assert_eq!(i.pic_read(PicPort::MasterCommand), 0x85);
    i.pic_write(PicPort::MasterCommand, 0x0c);
    assert_eq!(i.pic_read(PicPort::MasterCommand), 0x00);
}

#[test]
fn rotation_by_set_priority() {
    let mut i = Intc::new();
    init(&mut i, 0x01);
    i.pic_write(PicPort::MasterCommand, 0xc4); // lowest priority: IRQ 4
    pulse(&mut i, 1);
    pulse(&mut i, 6);
    assert_eq!(i.acknowledge(0), Some(0x36), "IRQ 5 is now the highest");
    i.pic_write(PicPort::MasterCommand, 0x66); // specific EOI for IRQ 6
    assert_eq!(i.acknowledge(0), Some(0x31));
}
