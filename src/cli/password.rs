//! Where passwords come from: `--insecure-no-password`, a password file
//! (`--password-file`/`CELLAR_PASSWORD_FILE`), `CELLAR_PASSWORD`, else a terminal prompt.

use anyhow::{bail, Context};
use std::io::IsTerminal;
use std::path::Path;

pub struct PasswordSource<'a> {
    pub insecure_no_password: bool,
    pub file: Option<&'a Path>,
    /// Environment variable checked after the file.
    pub env: &'static str,
    /// The options that give this password, for messages: (file option, no-password option).
    pub flags: (&'static str, &'static str),
    pub prompt: &'static str,
}

impl PasswordSource<'_> {
    /// `confirm` asks twice on a terminal (for new passwords).
    pub fn get(&self, confirm: bool) -> anyhow::Result<Vec<u8>> {
        if self.insecure_no_password {
            return Ok(vec![]);
        }
        if let Some(f) = self.file {
            let s = std::fs::read(f).with_context(|| format!("reading password file {}", f.display()))?;
            // The first line, as the help says (a trailing comment or a second secret
            // must not become part of the password).
            let line = s.split(|&b| b == b'\n').next().unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            return self.nonempty(line.to_vec());
        }
        if let Some(v) = std::env::var_os(self.env) {
            return self.nonempty(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec());
        }
        if !std::io::stdin().is_terminal() && !std::io::stderr().is_terminal() {
            return Err(super::UsageError(format!(
                "no password given: set {} or use {} (or run on a terminal to be asked)",
                self.env, self.flags.0
            ))
            .into());
        }
        let p = rpassword::prompt_password(self.prompt)?;
        if confirm && rpassword::prompt_password("enter it again: ")? != p {
            bail!("the passwords do not match");
        }
        self.nonempty(p.into_bytes())
    }

    fn nonempty(&self, p: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        if p.is_empty() {
            bail!("empty password; use {} if you really want no password", self.flags.1);
        }
        Ok(p)
    }
}
