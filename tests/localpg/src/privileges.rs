//! Who the server runs as: ourselves, or user `postgres` when we are root.

use std::path::Path;

use crate::Error;

/// The account the server processes run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerAccount {
    /// We are not root: run the binaries directly.
    CurrentUser,
    /// We are root: run them as `postgres` (uid, gid).
    Postgres { uid: u32, gid: u32 },
}

impl ServerAccount {
    pub(crate) fn detect() -> Result<Self, Error> {
        if effective_uid() != Some(0) {
            return Ok(ServerAccount::CurrentUser);
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        lookup_user(&passwd, "postgres")
            .map(|(uid, gid)| ServerAccount::Postgres { uid, gid })
            .ok_or(Error::NoPostgresUser)
    }

    /// Makes `path` belong to the server account.
    pub(crate) fn give(&self, path: &Path) -> Result<(), Error> {
        match *self {
            ServerAccount::CurrentUser => Ok(()),
            ServerAccount::Postgres { uid, gid } => {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .map_err(Error::io("could not hand over to user postgres", path))
            }
        }
    }

    /// The `setpriv` arguments that run a program as this account, placed before `--`.
    pub(crate) fn setpriv_args(&self) -> Vec<String> {
        match *self {
            ServerAccount::CurrentUser => Vec::new(),
            ServerAccount::Postgres { uid, gid } => {
                vec![
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--init-groups".to_owned(),
                ]
            }
        }
    }
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn lookup_user(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let uid = fields.nth(1)?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_user_in_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104:PostgreSQL:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(lookup_user(passwd, "postgres"), Some((101, 104)));
        assert_eq!(lookup_user(passwd, "nobody"), None);
    }
}
