//! Where COM1's output goes: the host's stdout ([`Console`]) or a buffer the caller
//! can read back ([`SharedBuffer`]).

use std::io::Write;

/// A writer shared between the machine and whoever wants the serial output back
/// (tests, the demo's summary). Cheap to clone.
#[derive(Clone, Default)]
pub struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    pub fn contents(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.contents()).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut g) => g.extend_from_slice(buf),
            Err(p) => p.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Host stdout, written a line at a time: the UART flushes after every byte, which
/// would cost a system call per character.
pub struct Console {
    buf: Vec<u8>,
    out: std::io::Stdout,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            buf: Vec::with_capacity(4096),
            out: std::io::stdout(),
        }
    }
}

impl Write for Console {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.last() == Some(&b'\n') || self.buf.len() >= 4096 {
            self.flush_now()?;
        }
        Ok(())
    }
}

impl Console {
    pub fn flush_now(&mut self) -> std::io::Result<()> {
        let mut lock = self.out.lock();
        let r = lock.write_all(&self.buf).and_then(|_| lock.flush());
        self.buf.clear();
        r
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.flush_now();
    }
}
