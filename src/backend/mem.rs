//! An in-memory store for unit tests: the same contract as a directory (atomic whole-file
//! writes, create-if-absent, sorted listings), no disk and no cleanup.

use parking_lot::Mutex;
use std::collections::BTreeMap;

use super::{check_name, Backend, BackendError, BackendResult};

#[derive(Default)]
pub struct MemBackend {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemBackend {
    /// Every file and its bytes (to compare states or damage one in a test).
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.files.lock().clone()
    }

    /// Replace a file's bytes behind the repository's back (damage, for tests).
    pub fn put_raw(&self, name: &str, data: Vec<u8>) {
        self.files.lock().insert(name.to_string(), data);
    }
}

impl Backend for MemBackend {
    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        check_name(name)?;
        self.files.lock().get(name).cloned().ok_or_else(|| BackendError::NotFound { name: name.to_string() })
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        let all = self.read(name)?;
        let (start, end) = (offset as usize, (offset + len) as usize);
        all.get(start..end)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| BackendError::Short { name: name.to_string(), needed: offset + len })
    }

    fn write(&self, name: &str, data: &[u8]) -> BackendResult<()> {
        check_name(name)?;
        self.files.lock().insert(name.to_string(), data.to_vec());
        Ok(())
    }

    fn create_new(&self, name: &str, data: &[u8]) -> BackendResult<bool> {
        check_name(name)?;
        let mut f = self.files.lock();
        if f.contains_key(name) {
            return Ok(false);
        }
        f.insert(name.to_string(), data.to_vec());
        Ok(true)
    }

    fn list(&self, dir: &str) -> BackendResult<Vec<(String, u64)>> {
        let prefix = format!("{dir}/");
        Ok(self
            .files
            .lock()
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect())
    }

    fn remove(&self, name: &str) -> BackendResult<()> {
        check_name(name)?;
        self.files.lock().remove(name);
        Ok(())
    }

    fn location(&self) -> String {
        "memory".into()
    }
}
