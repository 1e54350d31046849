//! A backend that injects faults into another one, for unit tests of crash safety: the
//! process "dies" after N changes (every later call fails, nothing more reaches storage),
//! one change fails without killing anything, or one change is silently lost (a rename a
//! power loss undid).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use super::{Backend, BackendError, BackendResult};

/// Which change (write, create or remove), counted from 0, the fault hits.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::enum_variant_names)] // "at" says the change the fault hits
pub enum Fault {
    /// Change N and everything after it fails: the writer crashed there.
    CrashAt(usize),
    /// Change N fails; later calls work (a transient error the caller must handle).
    FailAt(usize),
    /// Change N reports success but never happens.
    LoseAt(usize),
}

pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    fault: Fault,
    changes: AtomicUsize,
    crashed: std::sync::atomic::AtomicBool,
}

impl FaultyBackend {
    pub fn new(inner: Arc<dyn Backend>, fault: Fault) -> FaultyBackend {
        FaultyBackend { inner, fault, changes: AtomicUsize::new(0), crashed: Default::default() }
    }

    /// Changes attempted so far (to learn how many crash points an operation has).
    pub fn changes(&self) -> usize {
        self.changes.load(SeqCst)
    }

    fn alive(&self) -> BackendResult<()> {
        if self.crashed.load(SeqCst) {
            return Err(BackendError::Other("injected crash: the writer is gone".into()));
        }
        Ok(())
    }

    /// Run one change through the fault plan; `ok` is what a lost change reports.
    fn change<T>(&self, ok: T, f: impl FnOnce() -> BackendResult<T>) -> BackendResult<T> {
        self.alive()?;
        let n = self.changes.fetch_add(1, SeqCst);
        match self.fault {
            Fault::CrashAt(k) if n >= k => {
                self.crashed.store(true, SeqCst);
                Err(BackendError::Other(format!("injected crash at change {n}")))
            }
            Fault::FailAt(k) if n == k => {
                Err(BackendError::Transient { what: format!("change {n}"), detail: "injected failure".into() })
            }
            Fault::LoseAt(k) if n == k => Ok(ok),
            _ => f(),
        }
    }
}

impl Backend for FaultyBackend {
    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        self.alive()?;
        self.inner.read(name)
    }
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        self.alive()?;
        self.inner.read_range(name, offset, len)
    }
    fn write(&self, name: &str, data: &[u8]) -> BackendResult<()> {
        self.change((), || self.inner.write(name, data))
    }
    fn write_with(&self, name: &str, data: &[u8], opts: &super::WriteOptions) -> BackendResult<()> {
        self.change((), || self.inner.write_with(name, data, opts))
    }
    fn create_new(&self, name: &str, data: &[u8]) -> BackendResult<bool> {
        self.change(true, || self.inner.create_new(name, data))
    }
    fn list(&self, dir: &str) -> BackendResult<Vec<(String, u64)>> {
        self.alive()?;
        self.inner.list(dir)
    }
    fn remove(&self, name: &str) -> BackendResult<()> {
        self.change((), || self.inner.remove(name))
    }
    fn location(&self) -> String {
        format!("faulty({})", self.inner.location())
    }
}
