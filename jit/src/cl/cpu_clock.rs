//! The calling thread's CPU time, for the compile-time statistic.
//!
//! Compile time is measured in CPU time of the compiling thread, not wall time: on a
//! loaded host the compile thread can wait for a core for longer than it compiles, and
//! that wait is not time spent compiling. On an idle host the two agree.

use std::time::Duration;

/// CPU time consumed so far by the calling thread (zero if the host cannot say).
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
    // CLOCK_THREAD_CPUTIME_ID is a clock every Linux kernel provides.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Runs `f` and returns its result with the CPU time it took on this thread.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t0 = thread_cpu_time();
    let r = f();
    (r, thread_cpu_time().saturating_sub(t0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_takes_cpu_time_and_sleeping_does_not() {
        let (x, busy) = timed(|| (0..20_000_000u64).fold(0u64, |a, i| a ^ i.wrapping_mul(31)));
        std::hint::black_box(x);
        assert!(busy > Duration::ZERO, "busy loop measured {busy:?}");
        let ((), idle) = timed(|| std::thread::sleep(Duration::from_millis(50)));
        assert!(
            idle < Duration::from_millis(25),
            "a 50 ms sleep measured {idle:?} of CPU"
        );
    }
}
