//! Ctrl-C: the first SIGINT asks the machine to stop cleanly at its next stop (a
//! recording then ends with a "host quit" shutdown record, which replay honours); the
//! handler then resets itself, so a second Ctrl-C kills the process as usual.

use std::sync::atomic::{AtomicBool, Ordering};

static QUIT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Async-signal-safe: one atomic store.
    QUIT.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT handler (once is enough; later calls reinstall it) and returns
/// the flag it sets.
pub fn install_ctrl_c() -> &'static AtomicBool {
    // SAFETY: `sa` is fully initialised (zeroed, then the handler, an empty mask and
    // SA_RESETHAND); the handler only performs an atomic store, which is
    // async-signal-safe; a null old-action pointer is allowed.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_RESETHAND;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
    &QUIT
}
