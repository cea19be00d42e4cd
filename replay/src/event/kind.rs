//! Record kind numbers. These are part of the log format: never renumber one; add new
//! kinds with new numbers (old readers skip them).

pub const INSTRUCTIONS: u64 = 1;
pub const INTERRUPT: u64 = 2;
pub const EXCEPTION: u64 = 3;

pub const ASYNC_SERIAL_INPUT: u64 = 10;
pub const ASYNC_BLOCK_COMPLETE: u64 = 11;
pub const ASYNC_NET_FRAME: u64 = 12;
pub const ASYNC_AUDIO_BUFFER: u64 = 13;
pub const ASYNC_INPUT: u64 = 14;
pub const ASYNC_DEFERRED_WORK: u64 = 15;

pub const SYNC_HOST_CLOCK: u64 = 20;
pub const SYNC_REALTIME_CLOCK: u64 = 21;
pub const SYNC_RDRAND: u64 = 22;
pub const SYNC_RDSEED: u64 = 23;
pub const SYNC_DEVICE_RNG: u64 = 24;
pub const SYNC_CHAR_WRITE: u64 = 25;
pub const SYNC_AUDIO_PLAYED: u64 = 26;
pub const SYNC_AUDIO_CAPTURED: u64 = 27;

pub const CHECKPOINT: u64 = 30;

pub const DIGEST: u64 = 40;
pub const SNAPSHOT_REF: u64 = 41;

pub const SHUTDOWN: u64 = 50;
pub const END: u64 = 51;
