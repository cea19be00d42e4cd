//! Integer instruction groups (shifts and rotates, multiply and divide, bit operations)
//! run in both tiers and compared with reference models written here from the SDM's
//! pseudo-code. Flags the SDM leaves undefined are masked out of the comparisons.

#[path = "int_groups/bcd.rs"]
mod bcd;
#[path = "int_groups/bits.rs"]
mod bits;
#[path = "int_groups/harness.rs"]
mod harness;
#[cfg(target_arch = "x86_64")]
#[path = "int_groups/host.rs"]
mod host;
#[path = "int_groups/muldiv.rs"]
mod muldiv;
#[path = "int_groups/shift.rs"]
mod shift;
