//! User-mode networking through libslirp (the distribution's libslirp0), loaded at run
//! time with `libloading` so that a missing library is a clear message before the
//! guest starts, not a link failure. All of the FFI is in this file.
//!
//! The network is QEMU's default: 10.0.2.0/24, the host (gateway) at 10.0.2.2, DNS at
//! 10.0.2.3, DHCP handing out 10.0.2.15 on. The guest reaches the host's loopback
//! services at 10.0.2.2. libslirp is single-threaded: one thread owns the `Slirp`
//! instance and runs its poll loop, feeds it the guest's frames (from a channel) and
//! its timers, and forwards the frames it produces to the iothread channel.

use super::{HostFwd, NetClient};
use crate::host::HostInput;
use crossbeam_channel::{Receiver, Sender};
use libloading::Library;
use std::ffi::{c_char, c_int, c_void};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The library's file name (the soname of libslirp0).
pub const LIBRARY: &str = "libslirp.so.0";
/// The guest's network, its host side and its first DHCP address.
pub const NETWORK: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 0);
pub const NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
pub const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
pub const GUEST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);

/// Longest wait in poll: frames from the guest are picked up at least this often.
const POLL_MS: u32 = 2;

const SLIRP_POLL_IN: c_int = 1;
const SLIRP_POLL_OUT: c_int = 2;
const SLIRP_POLL_PRI: c_int = 4;
const SLIRP_POLL_ERR: c_int = 8;
const SLIRP_POLL_HUP: c_int = 16;

type TimerCb = unsafe extern "C" fn(opaque: *mut c_void);
type AddPollCb = unsafe extern "C" fn(fd: c_int, events: c_int, opaque: *mut c_void) -> c_int;
type GetREventsCb = unsafe extern "C" fn(idx: c_int, opaque: *mut c_void) -> c_int;

/// `SlirpCb` (libslirp.h; the callbacks every version has).
#[repr(C)]
struct SlirpCb {
    send_packet: unsafe extern "C" fn(buf: *const c_void, len: usize, opaque: *mut c_void) -> isize,
    guest_error: unsafe extern "C" fn(msg: *const c_char, opaque: *mut c_void),
    clock_get_ns: unsafe extern "C" fn(opaque: *mut c_void) -> i64,
    timer_new: unsafe extern "C" fn(
        cb: TimerCb,
        cb_opaque: *mut c_void,
        opaque: *mut c_void,
    ) -> *mut c_void,
    timer_free: unsafe extern "C" fn(timer: *mut c_void, opaque: *mut c_void),
    timer_mod: unsafe extern "C" fn(timer: *mut c_void, expire: i64, opaque: *mut c_void),
    register_poll_fd: unsafe extern "C" fn(fd: c_int, opaque: *mut c_void),
    unregister_poll_fd: unsafe extern "C" fn(fd: c_int, opaque: *mut c_void),
    notify: unsafe extern "C" fn(opaque: *mut c_void),
}

/// `SlirpConfig`, version 1 (the fields every libslirp 4.x reads).
#[repr(C)]
struct SlirpConfig {
    version: u32,
    restricted: c_int,
    in_enabled: bool,
    vnetwork: libc::in_addr,
    vnetmask: libc::in_addr,
    vhost: libc::in_addr,
    in6_enabled: bool,
    vprefix_addr6: libc::in6_addr,
    vprefix_len: u8,
    vhost6: libc::in6_addr,
    vhostname: *const c_char,
    tftp_server_name: *const c_char,
    tftp_path: *const c_char,
    bootfile: *const c_char,
    vdhcp_start: libc::in_addr,
    vnameserver: libc::in_addr,
    vnameserver6: libc::in6_addr,
    vdnssearch: *const *const c_char,
    vdomainname: *const c_char,
    if_mtu: usize,
    if_mru: usize,
    disable_host_loopback: bool,
    enable_emu: bool,
}

type SlirpNew =
    unsafe extern "C" fn(*const SlirpConfig, *const SlirpCb, *mut c_void) -> *mut c_void;
type SlirpCleanup = unsafe extern "C" fn(*mut c_void);
type SlirpFill = unsafe extern "C" fn(*mut c_void, *mut u32, AddPollCb, *mut c_void);
type SlirpPoll = unsafe extern "C" fn(*mut c_void, c_int, GetREventsCb, *mut c_void);
type SlirpInput = unsafe extern "C" fn(*mut c_void, *const u8, c_int);
type SlirpAddHostfwd =
    unsafe extern "C" fn(*mut c_void, c_int, libc::in_addr, c_int, libc::in_addr, c_int) -> c_int;

/// The library and the functions used from it.
struct Api {
    new: SlirpNew,
    cleanup: SlirpCleanup,
    fill: SlirpFill,
    poll: SlirpPoll,
    input: SlirpInput,
    add_hostfwd: SlirpAddHostfwd,
    _lib: Library,
}

fn load() -> Result<Api, String> {
    let missing = |e: libloading::Error| {
        format!(
            "--netdev user needs libslirp ({LIBRARY}): {e}; install it (Debian/Ubuntu: \
             apt-get install libslirp0) or use --netdev udp"
        )
    };
    // SAFETY: loading libslirp runs its initialisers, which only set up the library's
    // own state; nothing else in this process defines its symbols.
    let lib = unsafe { Library::new(LIBRARY) }.map_err(missing)?;
    // SAFETY: each `get` names a libslirp function with its type from libslirp.h; the
    // pointers are used only while `_lib` (moved into the same struct) keeps the
    // library loaded.
    let api = unsafe {
        Api {
            new: *lib.get::<SlirpNew>(b"slirp_new\0").map_err(missing)?,
            cleanup: *lib
                .get::<SlirpCleanup>(b"slirp_cleanup\0")
                .map_err(missing)?,
            fill: *lib
                .get::<SlirpFill>(b"slirp_pollfds_fill\0")
                .map_err(missing)?,
            poll: *lib
                .get::<SlirpPoll>(b"slirp_pollfds_poll\0")
                .map_err(missing)?,
            input: *lib.get::<SlirpInput>(b"slirp_input\0").map_err(missing)?,
            add_hostfwd: *lib
                .get::<SlirpAddHostfwd>(b"slirp_add_hostfwd\0")
                .map_err(missing)?,
            _lib: lib,
        }
    };
    Ok(api)
}

/// Whether libslirp can be loaded here.
pub fn available() -> Result<(), String> {
    load().map(|_| ())
}

struct Timer {
    cb: TimerCb,
    cb_opaque: *mut c_void,
    /// Expiry on [`Ctx::t0`]'s clock (ns), when armed.
    expire: Option<i64>,
}

/// What the callbacks see (the `opaque` pointer), owned by the slirp thread.
struct Ctx {
    device: u32,
    tx: Sender<HostInput>,
    t0: Instant,
    pollfds: Vec<libc::pollfd>,
    timers: Vec<*mut Timer>,
}

impl Ctx {
    fn now_ns(&self) -> i64 {
        i64::try_from(self.t0.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }
}

/// Recovers the context from an `opaque` pointer.
///
/// # Safety
/// `opaque` must be the `Ctx` pointer given to `slirp_new` / the poll calls, alive and
/// not otherwise borrowed for the returned lifetime (libslirp calls back only from
/// inside calls this thread makes, one at a time).
unsafe fn ctx<'a>(opaque: *mut c_void) -> &'a mut Ctx {
    // SAFETY: guaranteed by the caller.
    unsafe { &mut *(opaque as *mut Ctx) }
}

unsafe extern "C" fn send_packet(buf: *const c_void, len: usize, opaque: *mut c_void) -> isize {
    // SAFETY: libslirp passes the opaque given to slirp_new (our Ctx).
    let c = unsafe { ctx(opaque) };
    if buf.is_null() {
        return -1;
    }
    // SAFETY: libslirp hands a frame of `len` readable bytes at `buf` for this call.
    let frame = unsafe { std::slice::from_raw_parts(buf as *const u8, len) }.to_vec();
    let _ = c.tx.send(HostInput::Net {
        device: c.device,
        frame,
    });
    isize::try_from(len).unwrap_or(isize::MAX)
}

unsafe extern "C" fn guest_error(_msg: *const c_char, _opaque: *mut c_void) {}

unsafe extern "C" fn clock_get_ns(opaque: *mut c_void) -> i64 {
    // SAFETY: the opaque is our Ctx (see `ctx`).
    unsafe { ctx(opaque) }.now_ns()
}

unsafe extern "C" fn timer_new(
    cb: TimerCb,
    cb_opaque: *mut c_void,
    opaque: *mut c_void,
) -> *mut c_void {
    // SAFETY: the opaque is our Ctx (see `ctx`).
    let c = unsafe { ctx(opaque) };
    let t = Box::into_raw(Box::new(Timer {
        cb,
        cb_opaque,
        expire: None,
    }));
    c.timers.push(t);
    t as *mut c_void
}

unsafe extern "C" fn timer_free(timer: *mut c_void, opaque: *mut c_void) {
    // SAFETY: the opaque is our Ctx (see `ctx`).
    let c = unsafe { ctx(opaque) };
    let t = timer as *mut Timer;
    if let Some(i) = c.timers.iter().position(|&x| x == t) {
        c.timers.swap_remove(i);
        // SAFETY: `t` came from Box::into_raw in timer_new and was still registered,
        // so it has not been freed yet.
        drop(unsafe { Box::from_raw(t) });
    }
}

unsafe extern "C" fn timer_mod(timer: *mut c_void, expire_ms: i64, opaque: *mut c_void) {
    // SAFETY: the opaque is our Ctx (see `ctx`).
    let c = unsafe { ctx(opaque) };
    let t = timer as *mut Timer;
    if c.timers.contains(&t) {
        // libslirp 4.x passes the expiry in milliseconds of clock_get_ns's clock.
        // SAFETY: registered timers are live boxes owned by this context.
        unsafe { (*t).expire = Some(expire_ms.saturating_mul(1_000_000)) };
    }
}

unsafe extern "C" fn register_poll_fd(_fd: c_int, _opaque: *mut c_void) {}
unsafe extern "C" fn unregister_poll_fd(_fd: c_int, _opaque: *mut c_void) {}
unsafe extern "C" fn notify(_opaque: *mut c_void) {}

unsafe extern "C" fn add_poll(fd: c_int, events: c_int, opaque: *mut c_void) -> c_int {
    // SAFETY: the opaque is our Ctx (see `ctx`).
    let c = unsafe { ctx(opaque) };
    let mut ev = 0;
    if events & SLIRP_POLL_IN != 0 {
        ev |= libc::POLLIN;
    }
    if events & SLIRP_POLL_OUT != 0 {
        ev |= libc::POLLOUT;
    }
    if events & SLIRP_POLL_PRI != 0 {
        ev |= libc::POLLPRI;
    }
    c.pollfds.push(libc::pollfd {
        fd,
        events: ev,
        revents: 0,
    });
    c_int::try_from(c.pollfds.len() - 1).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn get_revents(idx: c_int, opaque: *mut c_void) -> c_int {
    // SAFETY: the opaque is our Ctx (see `ctx`).
    let c = unsafe { ctx(opaque) };
    let Some(p) = usize::try_from(idx).ok().and_then(|i| c.pollfds.get(i)) else {
        return 0;
    };
    let mut r = 0;
    if p.revents & libc::POLLIN != 0 {
        r |= SLIRP_POLL_IN;
    }
    if p.revents & libc::POLLOUT != 0 {
        r |= SLIRP_POLL_OUT;
    }
    if p.revents & libc::POLLPRI != 0 {
        r |= SLIRP_POLL_PRI;
    }
    if p.revents & libc::POLLERR != 0 {
        r |= SLIRP_POLL_ERR;
    }
    if p.revents & libc::POLLHUP != 0 {
        r |= SLIRP_POLL_HUP;
    }
    r
}

static CALLBACKS: SlirpCb = SlirpCb {
    send_packet,
    guest_error,
    clock_get_ns,
    timer_new,
    timer_free,
    timer_mod,
    register_poll_fd,
    unregister_poll_fd,
    notify,
};

fn in_addr(a: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from_ne_bytes(a.octets()),
    }
}

fn zero6() -> libc::in6_addr {
    libc::in6_addr { s6_addr: [0; 16] }
}

/// Loads libslirp and starts its thread; returns once the stack is up and every host
/// forward is bound (or with the reason it is not).
pub fn open(
    hostfwd: &[HostFwd],
    device: u32,
    tx: Sender<HostInput>,
    stop: Arc<AtomicBool>,
) -> Result<(NetClient, Vec<JoinHandle<()>>), String> {
    let api = load()?;
    let (frames_tx, frames_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<(), String>>(1);
    let fwds = hostfwd.to_vec();
    let t = std::thread::Builder::new()
        .name("reprise-net-slirp".into())
        .spawn(move || run(api, &fwds, device, tx, frames_rx, &stop, ready_tx))
        .map_err(|e| format!("--netdev user: cannot start the slirp thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((NetClient::Channel(frames_tx), vec![t])),
        Ok(Err(e)) => {
            let _ = t.join();
            Err(e)
        }
        Err(_) => {
            let _ = t.join();
            Err("--netdev user: the slirp thread stopped while starting".into())
        }
    }
}

fn run(
    api: Api,
    hostfwd: &[HostFwd],
    device: u32,
    tx: Sender<HostInput>,
    frames: Receiver<Vec<u8>>,
    stop: &AtomicBool,
    ready: Sender<Result<(), String>>,
) {
    // The context is reached only through this raw pointer (here and in the
    // callbacks), each time by a reference that ends before the next FFI call.
    let c: *mut Ctx = Box::into_raw(Box::new(Ctx {
        device,
        tx,
        t0: Instant::now(),
        pollfds: Vec::new(),
        timers: Vec::new(),
    }));
    let opaque = c as *mut c_void;
    let cfg = SlirpConfig {
        version: 1,
        restricted: 0,
        in_enabled: true,
        vnetwork: in_addr(NETWORK),
        vnetmask: in_addr(NETMASK),
        vhost: in_addr(HOST),
        in6_enabled: false,
        vprefix_addr6: zero6(),
        vprefix_len: 0,
        vhost6: zero6(),
        vhostname: std::ptr::null(),
        tftp_server_name: std::ptr::null(),
        tftp_path: std::ptr::null(),
        bootfile: std::ptr::null(),
        vdhcp_start: in_addr(GUEST),
        vnameserver: in_addr(DNS),
        vnameserver6: zero6(),
        vdnssearch: std::ptr::null(),
        vdomainname: std::ptr::null(),
        if_mtu: 0,
        if_mru: 0,
        disable_host_loopback: false,
        enable_emu: false,
    };
    // SAFETY: `cfg` and `CALLBACKS` match libslirp.h (config version 1); `opaque` is
    // the boxed context, which outlives the instance (cleaned up below first).
    let s = unsafe { (api.new)(&cfg, &CALLBACKS, opaque) };
    if s.is_null() {
        let _ = ready.send(Err("--netdev user: libslirp refused to start".into()));
        return;
    }
    for f in hostfwd {
        // SAFETY: `s` is a live instance; addresses are passed by value.
        let r = unsafe {
            (api.add_hostfwd)(
                s,
                c_int::from(f.udp),
                in_addr(Ipv4Addr::LOCALHOST),
                c_int::from(f.host_port),
                in_addr(GUEST),
                c_int::from(f.guest_port),
            )
        };
        if r < 0 {
            // SAFETY: `s` is live and not used after this.
            unsafe { (api.cleanup)(s) };
            // SAFETY: `c` is the live context; no reference to it is held.
            unsafe { free_ctx(c) };
            let _ = ready.send(Err(format!(
                "--netdev user: cannot forward host port {} (127.0.0.1, {}): the port is in use or not permitted; choose another HOSTPORT",
                f.host_port,
                if f.udp { "udp" } else { "tcp" }
            )));
            return;
        }
    }
    let _ = ready.send(Ok(()));
    while !stop.load(Ordering::SeqCst) {
        while let Ok(frame) = frames.try_recv() {
            let Ok(len) = c_int::try_from(frame.len()) else {
                continue;
            };
            // SAFETY: `s` is live; the frame's bytes are readable for the call.
            unsafe { (api.input)(s, frame.as_ptr(), len) };
        }
        // SAFETY: `c` is the live context; no reference to it is held.
        unsafe { with(c, |c| c.pollfds.clear()) };
        let mut timeout: u32 = POLL_MS;
        // SAFETY: `s` is live; `add_poll` gets our context as opaque.
        unsafe { (api.fill)(s, &mut timeout, add_poll, opaque) };
        let timeout = timeout.min(POLL_MS);
        // SAFETY: `c` is the live context; no reference to it is held.
        let (fds, n) = unsafe { with(c, |c| (c.pollfds.as_mut_ptr(), c.pollfds.len())) };
        let nfds = libc::nfds_t::try_from(n).unwrap_or(0);
        // SAFETY: `fds` points at `n` pollfds, and the vector is not touched until
        // the call returns.
        let r = unsafe { libc::poll(fds, nfds, timeout as c_int) };
        // SAFETY: `s` is live; `get_revents` indexes the pollfds just filled.
        unsafe { (api.poll)(s, c_int::from(r < 0), get_revents, opaque) };
        // SAFETY: `c` is the live context; no reference to it is held.
        unsafe { run_timers(c) };
        if n == 0 && r <= 0 {
            std::thread::sleep(Duration::from_millis(u64::from(timeout.min(1))));
        }
    }
    // SAFETY: `s` is live and not used after this.
    unsafe { (api.cleanup)(s) };
    // SAFETY: `c` is the live context; no reference to it is held, and libslirp (gone)
    // will not call back.
    unsafe { free_ctx(c) };
}

/// Runs `f` on the context.
///
/// # Safety
/// `c` must be the live context and no other reference to it may exist during `f`
/// (`f` must not call into libslirp).
unsafe fn with<R>(c: *mut Ctx, f: impl FnOnce(&mut Ctx) -> R) -> R {
    // SAFETY: guaranteed by the caller.
    f(unsafe { &mut *c })
}

/// Runs the timers that are due (a callback may re-arm or free timers).
///
/// # Safety
/// `c` must be the live context, with no reference to it held.
unsafe fn run_timers(c: *mut Ctx) {
    // SAFETY: the caller's guarantee for `c`; the reference ends before any timer
    // callback runs, and registered timers are live boxes owned by the context.
    let due: Vec<*mut Timer> = unsafe {
        with(c, |c| {
            let now = c.now_ns();
            c.timers
                .iter()
                .copied()
                // Registered timers are live boxes owned by the context.
                .filter(|&t| (*t).expire.is_some_and(|e| e <= now))
                .collect()
        })
    };
    for t in due {
        // SAFETY: see above; a registered timer is a live box, read and disarmed
        // before its callback runs.
        let armed = unsafe {
            with(c, |c| {
                c.timers.contains(&t).then(|| {
                    (*t).expire = None;
                    ((*t).cb, (*t).cb_opaque)
                })
            })
        };
        if let Some((cb, arg)) = armed {
            // SAFETY: a libslirp timer callback with the argument it registered; no
            // reference to the context is held while it runs.
            unsafe { cb(arg) };
        }
    }
}

/// Frees the timers and the context.
///
/// # Safety
/// `c` must be the live context from `Box::into_raw`, not used afterwards.
unsafe fn free_ctx(c: *mut Ctx) {
    // SAFETY: guaranteed by the caller.
    let ctx = unsafe { Box::from_raw(c) };
    for t in ctx.timers.iter().copied() {
        // SAFETY: every registered timer is a live Box from timer_new.
        drop(unsafe { Box::from_raw(t) });
    }
}
