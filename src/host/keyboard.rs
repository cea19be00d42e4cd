//! `--keyboard`: a host source of key strokes for the PS/2 keyboard. Its bytes are
//! text; each character becomes a key press and release (with Shift around upper case
//! letters and shifted symbols), as Linux `KEY_*` codes. The reader runs on its own
//! thread and hands the events to the vCPU thread as [`HostInput::Key`]; the machine
//! applies them at its next checkpoint (record logs them as
//! `AsyncEvent::Input { device: 0, kind: EV_KEY, .. }`, replay takes them from the log
//! and never opens the source).
//!
//! Text: printable ASCII; `\n` and `\r` are Enter, `\t` Tab, 0x08 and 0x7f Backspace,
//! 0x1b Esc. Named keys: `\{NAME}` with NAME one of the names of [`NAMED`] (`\{F1}`,
//! `\{Up}` …); a backslash not followed by `{NAME}` is a backslash. Other bytes are
//! skipped.

use super::iothread::HostInput;
use crossbeam_channel::Sender;
use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;

/// evdev's event type of key events.
pub const EV_KEY: u16 = 1;
/// The device number of the PS/2 keyboard in `AsyncEvent::Input`.
pub const KEYBOARD_DEVICE: u32 = 0;

const KEY_LEFTSHIFT: u16 = 42;

/// Where key strokes come from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyboardSource {
    /// Connect to a listening unix-socket peer and read what it sends.
    Unix(PathBuf),
    /// Connect to a listening TCP peer (HOST:PORT) and read what it sends.
    Tcp(String),
    /// Read a file.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyboardError {
    #[error("unknown keyboard source `{0}`: use unix:PATH, tcp:HOST:PORT or file:PATH")]
    Unknown(String),
    #[error("cannot open keyboard input {what}: {err}{hint}")]
    Open {
        what: String,
        err: std::io::Error,
        hint: &'static str,
    },
}

impl std::str::FromStr for KeyboardSource {
    type Err = KeyboardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("file", p)) if !p.is_empty() => Ok(KeyboardSource::File(p.into())),
            Some(("unix", p)) if !p.is_empty() => Ok(KeyboardSource::Unix(p.into())),
            Some(("tcp", a)) if a.contains(':') => Ok(KeyboardSource::Tcp(a.to_string())),
            _ => Err(KeyboardError::Unknown(s.to_string())),
        }
    }
}

impl std::fmt::Display for KeyboardSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyboardSource::Unix(p) => write!(f, "unix:{}", p.display()),
            KeyboardSource::Tcp(a) => write!(f, "tcp:{a}"),
            KeyboardSource::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl KeyboardSource {
    /// Opens the source (before the guest starts, so a missing file or an absent peer
    /// is reported at once).
    pub fn open(&self) -> Result<Box<dyn Read + Send>, KeyboardError> {
        let peer = " (is a peer listening there?)";
        let err = |err, hint| KeyboardError::Open {
            what: self.to_string(),
            err,
            hint,
        };
        Ok(match self {
            KeyboardSource::File(p) => Box::new(std::fs::File::open(p).map_err(|e| err(e, ""))?),
            KeyboardSource::Unix(p) => {
                Box::new(std::os::unix::net::UnixStream::connect(p).map_err(|e| err(e, peer))?)
            }
            KeyboardSource::Tcp(a) => {
                Box::new(TcpStream::connect(a.as_str()).map_err(|e| err(e, peer))?)
            }
        })
    }
}

/// Named keys for `\{NAME}` and their Linux key codes.
pub const NAMED: &[(&str, u16)] = &[
    ("Esc", 1),
    ("Backspace", 14),
    ("Tab", 15),
    ("Enter", 28),
    ("LeftCtrl", 29),
    ("LeftShift", 42),
    ("RightShift", 54),
    ("LeftAlt", 56),
    ("Space", 57),
    ("CapsLock", 58),
    ("F1", 59),
    ("F2", 60),
    ("F3", 61),
    ("F4", 62),
    ("F5", 63),
    ("F6", 64),
    ("F7", 65),
    ("F8", 66),
    ("F9", 67),
    ("F10", 68),
    ("NumLock", 69),
    ("ScrollLock", 70),
    ("F11", 87),
    ("F12", 88),
    ("RightCtrl", 97),
    ("RightAlt", 100),
    ("Home", 102),
    ("Up", 103),
    ("PgUp", 104),
    ("Left", 105),
    ("Right", 106),
    ("End", 107),
    ("Down", 108),
    ("PgDn", 109),
    ("Insert", 110),
    ("Delete", 111),
];

/// The key code of an ASCII character and whether Shift is held for it (US layout).
pub fn ascii_key(c: u8) -> Option<(u16, bool)> {
    const DIGITS: [u16; 10] = [11, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const LETTERS: [u16; 26] = [
        30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17,
        45, 21, 44,
    ];
    let plain = |k| Some((k, false));
    let shifted = |k| Some((k, true));
    match c {
        b'a'..=b'z' => plain(LETTERS[usize::from(c - b'a')]),
        b'A'..=b'Z' => shifted(LETTERS[usize::from(c - b'A')]),
        b'0'..=b'9' => plain(DIGITS[usize::from(c - b'0')]),
        b'\n' | b'\r' => plain(28),
        b'\t' => plain(15),
        0x08 | 0x7f => plain(14),
        0x1b => plain(1),
        b' ' => plain(57),
        b'-' => plain(12),
        b'=' => plain(13),
        b'[' => plain(26),
        b']' => plain(27),
        b';' => plain(39),
        b'\'' => plain(40),
        b'`' => plain(41),
        b'\\' => plain(43),
        b',' => plain(51),
        b'.' => plain(52),
        b'/' => plain(53),
        b'!' => shifted(2),
        b'@' => shifted(3),
        b'#' => shifted(4),
        b'$' => shifted(5),
        b'%' => shifted(6),
        b'^' => shifted(7),
        b'&' => shifted(8),
        b'*' => shifted(9),
        b'(' => shifted(10),
        b')' => shifted(11),
        b'_' => shifted(12),
        b'+' => shifted(13),
        b'{' => shifted(26),
        b'}' => shifted(27),
        b':' => shifted(39),
        b'"' => shifted(40),
        b'~' => shifted(41),
        b'|' => shifted(43),
        b'<' => shifted(51),
        b'>' => shifted(52),
        b'?' => shifted(53),
        _ => None,
    }
}

/// Turns text into key events `(code, value)` (value 1 press, 0 release). Keeps the
/// bytes of an unfinished `\{NAME}` escape between calls (a reader gets text in pieces).
#[derive(Default, Debug)]
pub struct TextKeys {
    pending: Vec<u8>,
}

/// The longest `\{NAME}` escape.
const MAX_ESCAPE: usize = 16;

impl TextKeys {
    /// The key events for `bytes`, appended to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<(u16, i32)>) {
        for &b in bytes {
            if !self.pending.is_empty() {
                self.pending.push(b);
                self.escape(out);
                continue;
            }
            if b == b'\\' {
                self.pending.push(b);
                continue;
            }
            char_events(b, out);
        }
    }

    /// The input ended: an unfinished escape is typed as the text it is.
    pub fn finish(&mut self, out: &mut Vec<(u16, i32)>) {
        for b in std::mem::take(&mut self.pending) {
            char_events(b, out);
        }
    }

    fn escape(&mut self, out: &mut Vec<(u16, i32)>) {
        let p = &self.pending;
        if p.len() == 2 && p[1] != b'{' {
            // Not an escape: a backslash, then the byte is looked at afresh.
            let b = p[1];
            self.pending.clear();
            char_events(b'\\', out);
            return self.feed(&[b], out);
        }
        if p.last() == Some(&b'}') {
            let name = String::from_utf8_lossy(&p[2..p.len() - 1]).into_owned();
            match NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                Some(&(_, code)) => {
                    out.push((code, 1));
                    out.push((code, 0));
                    self.pending.clear();
                }
                None => self.finish(out),
            }
        } else if p.len() > MAX_ESCAPE {
            self.finish(out);
        }
    }
}

fn char_events(b: u8, out: &mut Vec<(u16, i32)>) {
    let Some((code, shift)) = ascii_key(b) else {
        return;
    };
    if shift {
        out.push((KEY_LEFTSHIFT, 1));
    }
    out.push((code, 1));
    out.push((code, 0));
    if shift {
        out.push((KEY_LEFTSHIFT, 0));
    }
}

/// The reader thread's loop: text in, key events out, [`HostInput::KeyboardClosed`]
/// at the end.
pub(super) fn read_loop(mut r: Box<dyn Read + Send>, tx: Sender<HostInput>) {
    let mut keys = TextKeys::default();
    let mut buf = [0u8; 1024];
    let mut events = Vec::new();
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        if n == 0 {
            keys.finish(&mut events);
        } else {
            keys.feed(&buf[..n], &mut events);
        }
        for (code, value) in events.drain(..) {
            if tx.send(HostInput::Key { code, value }).is_err() {
                return;
            }
        }
        if n == 0 {
            let _ = tx.send(HostInput::KeyboardClosed);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &[u8]) -> Vec<(u16, i32)> {
        let mut t = TextKeys::default();
        let mut v = Vec::new();
        t.feed(text, &mut v);
        t.finish(&mut v);
        v
    }

    #[test]
    fn letters_shift_and_control_characters() {
        assert_eq!(keys(b"a"), [(30, 1), (30, 0)]);
        assert_eq!(keys(b"A"), [(42, 1), (30, 1), (30, 0), (42, 0)]);
        assert_eq!(keys(b"!"), [(42, 1), (2, 1), (2, 0), (42, 0)]);
        assert_eq!(
            keys(b"\n\t\x7f\x1b"),
            [
                (28, 1),
                (28, 0),
                (15, 1),
                (15, 0),
                (14, 1),
                (14, 0),
                (1, 1),
                (1, 0)
            ]
        );
        assert_eq!(keys(&[0x80, 0x01]), [], "bytes without a key are skipped");
    }

    #[test]
    fn named_keys_and_plain_backslashes() {
        assert_eq!(keys(b"\\{F1}"), [(59, 1), (59, 0)]);
        assert_eq!(keys(b"\\{up}"), [(103, 1), (103, 0)]);
        assert_eq!(keys(b"\\n"), [(43, 1), (43, 0), (49, 1), (49, 0)]);
        // An unknown name is typed as text.
        let v = keys(b"\\{Nope}");
        assert_eq!(v.len(), 7 * 2 + 3 * 2, "{v:?}");
        // An escape split across reads still works.
        let mut t = TextKeys::default();
        let mut v = Vec::new();
        t.feed(b"\\{En", &mut v);
        assert!(v.is_empty());
        t.feed(b"ter}", &mut v);
        assert_eq!(v, [(28, 1), (28, 0)]);
    }

    #[test]
    fn sources_parse_and_print_back() {
        for s in ["unix:/tmp/k", "tcp:127.0.0.1:5000", "file:/tmp/keys.txt"] {
            assert_eq!(s.parse::<KeyboardSource>().unwrap().to_string(), s);
        }
        for s in ["", "stdio", "file:", "tcp:host"] {
            let e = s.parse::<KeyboardSource>().unwrap_err().to_string();
            assert!(e.contains("file:PATH"), "{e}");
        }
        let e = "file:/nonexistent/keys"
            .parse::<KeyboardSource>()
            .unwrap()
            .open()
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/nonexistent/keys"), "{e}");
    }
}
