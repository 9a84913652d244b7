//! Who may ask what: API keys (the SHA-256 of each bearer token, never the token) scoped to
//! sources and bound to a filter, allowed to read or also to write, with a per-key rate limit;
//! the keys file re-read on SIGHUP.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aiblox_kb::ItemFilter;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::protocol::Filter;

/// The keys file: `[[key]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

/// One `[[key]]` of the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: String,
    sha256: String,
    sources: Option<Vec<String>>,
    requests_per_second: Option<f64>,
    /// A filter ANDed with every request's (as `/v1/query` takes it, in TOML).
    filter: Option<Filter>,
    /// What it may do: `read` (every key), and `write` (items of its sources).
    permissions: Option<Vec<Permission>>,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Permission {
    /// Ask questions and read items (of its sources, within its filter).
    Read,
    /// Also write and delete items of its sources.
    Write,
}

/// A key as the service checks it.
#[derive(Debug, Clone)]
struct Key {
    name: String,
    digest: [u8; 32],
    sources: Option<Vec<String>>,
    requests_per_second: Option<f64>,
    filter: Option<ItemFilter>,
    write: bool,
}

impl Key {
    /// Who calls with this key.
    fn caller(&self) -> Caller {
        Caller {
            name: self.name.clone(),
            sources: self.sources.clone(),
            requests_per_second: self.requests_per_second,
            filter: self.filter.clone(),
            write: self.write,
        }
    }
}

/// Who a request comes from, once its token matched a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Caller {
    /// The key's name (shown in logs and metrics; the token never is).
    pub(crate) name: String,
    /// The sources it may read (`None`: every source).
    pub(crate) sources: Option<Vec<String>>,
    requests_per_second: Option<f64>,
    /// The items it may read beyond its sources (`None`: every item of them).
    pub(crate) filter: Option<ItemFilter>,
    /// Whether it may write items of its sources.
    write: bool,
}

impl Caller {
    /// The source filter a request of this caller runs with: what it asked for within its
    /// scope, or its whole scope. `Err` when it asked only for sources outside its scope.
    pub(crate) fn scope(&self, asked: Option<Vec<String>>) -> Result<Option<Vec<String>>, String> {
        let Some(allowed) = &self.sources else {
            return Ok(asked);
        };
        match asked {
            None => Ok(Some(allowed.clone())),
            Some(asked) => {
                let kept: Vec<String> = asked
                    .into_iter()
                    .filter(|source| allowed.contains(source))
                    .collect();
                if kept.is_empty() {
                    Err(format!(
                        "key {:?} may read only the sources {}",
                        self.name,
                        allowed.join(", ")
                    ))
                } else {
                    Ok(Some(kept))
                }
            }
        }
    }

    /// The user of a process that speaks for no key (the stdio MCP server of a service without
    /// keys, started by that user): every source, no rate, reads and writes.
    pub(crate) fn local_user() -> Caller {
        Caller {
            name: "local".to_owned(),
            sources: None,
            requests_per_second: None,
            filter: None,
            write: true,
        }
    }

    /// Whether this caller may write at all (within its sources, and its filter: the writes
    /// check that each item is one it keeps, before and after).
    pub(crate) fn writes(&self) -> bool {
        self.write
    }

    /// Why this caller may not write at all (`None`: it may, within its scope).
    pub(crate) fn cannot_write(&self) -> Option<String> {
        (!self.write).then(|| {
            format!(
                "key {:?} may only read: writing needs the permission `write` \
                 (permissions = [\"read\", \"write\"]; `keys new --write` makes such a key)",
                self.name
            )
        })
    }

    /// What a caller over its requests per second is told, `wait` before its next request.
    pub(crate) fn over_rate(&self, wait: Duration) -> String {
        format!(
            "key {:?} is over its requests per second; retry after {} s",
            self.name,
            retry_after_seconds(wait)
        )
    }

    /// Whether this caller may write items of `source`: `Err(WriteRefusal)` says why not.
    pub(crate) fn may_write(&self, source: &str) -> Result<(), WriteRefusal> {
        if let Some(message) = self.cannot_write() {
            return Err(WriteRefusal::Permission(message));
        }
        if !self.may_read(source) {
            return Err(WriteRefusal::OutOfScope);
        }
        Ok(())
    }

    /// The filter a request of this caller runs with: what it asked for ANDed with its key's
    /// (a request can narrow its key's filter, never widen it).
    pub(crate) fn narrow(&self, asked: Option<ItemFilter>) -> Option<ItemFilter> {
        match (&self.filter, asked) {
            (None, asked) => asked,
            (Some(bound), None) => Some(bound.clone()),
            (Some(bound), Some(asked)) => Some(ItemFilter::And(vec![bound.clone(), asked])),
        }
    }

    /// Whether this caller may see an item of `source`.
    pub(crate) fn may_read(&self, source: &str) -> bool {
        self.sources
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|s| s == source))
    }
}

/// Whole seconds to wait for `wait` (at least one): a `Retry-After`.
pub(crate) fn retry_after_seconds(wait: Duration) -> f64 {
    wait.as_secs_f64().ceil().max(1.0)
}

/// Why a caller may not write an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteRefusal {
    /// It lacks the permission (403, naming it).
    Permission(String),
    /// The item's source is outside its scope (answered as a missing item).
    OutOfScope,
}

/// The keys in force, the file they came from, and each key's rate-limit bucket.
#[derive(Debug)]
pub(crate) struct Access {
    path: PathBuf,
    keys: RwLock<Arc<Vec<Key>>>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// A token bucket: `tokens` left as of `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Access {
    /// The keys of `path`; the error says what is wrong with the file.
    pub(crate) fn open(path: &Path) -> Result<Access, String> {
        let keys = load(path)?;
        Ok(Access {
            path: path.to_owned(),
            keys: RwLock::new(Arc::new(keys)),
            buckets: Mutex::default(),
        })
    }

    /// How many keys are in force.
    pub(crate) fn len(&self) -> usize {
        self.current().len()
    }

    /// Reads the file again. On success the new keys are in force (buckets of keys that stay
    /// keep their state); on error the old keys stay and the error says why.
    pub(crate) fn reload(&self) -> Result<usize, String> {
        let keys = load(&self.path)?;
        let count = keys.len();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        Ok(count)
    }

    fn current(&self) -> Arc<Vec<Key>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The caller whose key `token` is, if any. Every key's digest is compared in full, in
    /// the same time whatever matches.
    pub(crate) fn authenticate(&self, token: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let keys = self.current();
        let mut found = None;
        for key in keys.iter() {
            let difference = key
                .digest
                .iter()
                .zip(digest)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if std::hint::black_box(difference) == 0 {
                found = Some(key);
            }
        }
        found.map(Key::caller)
    }

    /// The caller of the key named `name` (a process that speaks for one key, as the stdio MCP
    /// server does), if there is such a key.
    pub(crate) fn caller_named(&self, name: &str) -> Option<Caller> {
        self.current()
            .iter()
            .find(|key| key.name == name)
            .map(Key::caller)
    }

    /// Takes one request from `caller`'s bucket (burst: one second's worth); `Err` with how
    /// long until the next one is allowed.
    pub(crate) fn admit(&self, caller: &Caller, now: Instant) -> Result<(), Duration> {
        let Some(rate) = caller.requests_per_second else {
            return Ok(());
        };
        let capacity = rate.max(1.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(caller.name.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// The keys of the file at `path`, checked.
fn load(path: &Path) -> Result<Vec<Key>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the keys file {}: {err}", path.display()))?;
    parse(&text).map_err(|err| format!("keys file {}: {err}", path.display()))
}

fn parse(text: &str) -> Result<Vec<Key>, String> {
    let file: KeysFile = toml::from_str(text).map_err(|err| err.message().to_owned())?;
    let mut keys: Vec<Key> = Vec::with_capacity(file.key.len());
    for entry in file.key {
        let name = entry.name.trim().to_owned();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(format!(
                "key name {:?}: 1 to 64 printable characters",
                entry.name
            ));
        }
        if keys.iter().any(|key| key.name == name) {
            return Err(format!("key name {name:?} appears twice"));
        }
        let digest = decode_hex(&entry.sha256).ok_or_else(|| {
            format!(
                "key {name:?}: sha256 must be the 64 hex digits of the token's SHA-256 \
                 (`aiblox-orchestrator keys new` prints it)"
            )
        })?;
        if keys.iter().any(|key| key.digest == digest) {
            return Err(format!("key {name:?} has the same token as another key"));
        }
        if let Some(sources) = &entry.sources
            && (sources.is_empty() || sources.iter().any(|s| s.is_empty() || s.len() > 256))
        {
            return Err(format!(
                "key {name:?}: sources must list 1 or more sources of 1 to 256 bytes (leave it \
                 out for every source)"
            ));
        }
        if let Some(rate) = entry.requests_per_second
            && !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0)
        {
            return Err(format!(
                "key {name:?}: requests_per_second must be above 0 and at most 1000000 (leave it \
                 out for no limit)"
            ));
        }
        let filter = entry
            .filter
            .as_ref()
            .map(Filter::to_item_filter)
            .transpose()
            .map_err(|err| format!("key {name:?}: {err}"))?;
        let permissions = entry.permissions.unwrap_or_else(|| vec![Permission::Read]);
        if !permissions.contains(&Permission::Read) {
            return Err(format!(
                "key {name:?}: permissions must include \"read\" (every key reads; \
                 [\"read\", \"write\"] also writes)"
            ));
        }
        keys.push(Key {
            name,
            digest,
            sources: entry.sources,
            requests_per_second: entry.requests_per_second,
            filter,
            write: permissions.contains(&Permission::Write),
        });
    }
    Ok(keys)
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
    Some(bytes)
}

/// A new random token (256 bits from the operating system, `abx_` and 64 hex digits) and the
/// `[[key]]` entry that admits it, for `aiblox-orchestrator keys new`.
pub fn new_key(
    name: &str,
    sources: Option<&[String]>,
    requests_per_second: Option<f64>,
    filter: Option<&Filter>,
    write: bool,
) -> Result<(String, String), String> {
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut random))
        .map_err(|err| format!("cannot read random bytes from /dev/urandom: {err}"))?;
    let token = format!("abx_{}", hex::encode(random));
    let digest = Sha256::digest(token.as_bytes());
    let mut entry = format!(
        "[[key]]\nname = {}\nsha256 = \"{}\"\n",
        toml_string(name),
        hex::encode(digest)
    );
    if let Some(sources) = sources {
        let list: Vec<String> = sources.iter().map(|s| toml_string(s)).collect();
        entry.push_str(&format!("sources = [{}]\n", list.join(", ")));
    }
    if let Some(rate) = requests_per_second {
        entry.push_str(&format!("requests_per_second = {rate}\n"));
    }
    if let Some(filter) = filter {
        let table = toml::Value::try_from(filter)
            .map_err(|err| format!("the filter cannot be written as TOML: {err}"))?;
        entry.push_str(&format!("filter = {table}\n"));
    }
    if write {
        entry.push_str("permissions = [\"read\", \"write\"]\n");
    }
    // The entry must load as written.
    parse(&entry)?;
    Ok((token, entry))
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(text: &str) -> Access {
        Access {
            path: PathBuf::new(),
            keys: RwLock::new(Arc::new(parse(text).unwrap())),
            buckets: Mutex::default(),
        }
    }

    #[test]
    fn keys_read_by_default_and_write_only_when_their_entry_says() {
        let (token, reader) = new_key("reader", None, None, None, false).unwrap();
        let (writer_token, writer) =
            new_key("writer", Some(&["docs".to_owned()]), None, None, true).unwrap();
        assert!(
            writer.contains("permissions = [\"read\", \"write\"]"),
            "{writer}"
        );
        let access = access(&format!("{reader}\n{writer}"));
        let reader = access.authenticate(&token).unwrap();
        assert!(
            matches!(reader.may_write("docs"), Err(WriteRefusal::Permission(message)) if message.contains("`write`"))
        );
        let writer = access.authenticate(&writer_token).unwrap();
        assert_eq!(writer.may_write("docs"), Ok(()));
        assert_eq!(writer.may_write("wiki"), Err(WriteRefusal::OutOfScope));
        let digest = "0".repeat(64);
        let write_only =
            format!("[[key]]\nname = \"w\"\nsha256 = \"{digest}\"\npermissions = [\"write\"]");
        assert!(
            parse(&write_only)
                .unwrap_err()
                .contains("must include \"read\"")
        );
        let unknown = write_only.replace("\"write\"", "\"admin\"");
        assert!(parse(&unknown).is_err());
    }

    #[test]
    fn a_new_key_is_admitted_by_its_entry_and_no_other_token_is() {
        let (token, entry) =
            new_key("team", Some(&["docs".to_owned()]), Some(5.0), None, false).unwrap();
        assert!(token.starts_with("abx_") && token.len() == 68, "{token}");
        assert!(
            !entry.contains(&token),
            "the entry holds the hash, not the token"
        );
        let access = access(&entry);
        let caller = access.authenticate(&token).unwrap();
        assert_eq!(caller.name, "team");
        assert_eq!(caller.sources.as_deref(), Some(&["docs".to_owned()][..]));
        let mut near = token.clone().into_bytes();
        near[40] = if near[40] == b'0' { b'1' } else { b'0' };
        assert!(
            access
                .authenticate(&String::from_utf8(near).unwrap())
                .is_none()
        );
        assert!(access.authenticate("").is_none());
        let (other, _) = new_key("team", None, None, None, false).unwrap();
        assert_ne!(other, token, "tokens are random");
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let hash = "a".repeat(64);
        for (text, expected) in [
            (
                "[[key]]\nname = \"a\"\n".to_owned(),
                "missing field `sha256`",
            ),
            (
                format!("[[key]]\nname = \"a\"\nsha256 = \"{}\"\n", "z".repeat(64)),
                "64 hex digits",
            ),
            (
                format!("[[key]]\nname = \"\"\nsha256 = \"{hash}\"\n"),
                "1 to 64 printable",
            ),
            (
                format!(
                    "[[key]]\nname = \"a\"\nsha256 = \"{hash}\"\n[[key]]\nname = \"a\"\nsha256 = \"{}\"\n",
                    "b".repeat(64)
                ),
                "appears twice",
            ),
            (
                format!(
                    "[[key]]\nname = \"a\"\nsha256 = \"{hash}\"\n[[key]]\nname = \"b\"\nsha256 = \"{hash}\"\n"
                ),
                "same token",
            ),
            (
                format!("[[key]]\nname = \"a\"\nsha256 = \"{hash}\"\nsources = []\n"),
                "sources must list",
            ),
            (
                format!("[[key]]\nname = \"a\"\nsha256 = \"{hash}\"\nrequests_per_second = 0\n"),
                "above 0",
            ),
            (
                format!("[[key]]\nname = \"a\"\nsha256 = \"{hash}\"\ntoken = \"x\"\n"),
                "unknown field",
            ),
        ] {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn a_scope_narrows_what_a_request_asks_for() {
        let caller = Caller {
            name: "k".to_owned(),
            sources: Some(vec!["a".to_owned(), "b".to_owned()]),
            requests_per_second: None,
            filter: None,
            write: false,
        };
        let list = |items: &[&str]| Some(items.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(caller.scope(None).unwrap(), list(&["a", "b"]));
        assert_eq!(caller.scope(list(&["b", "c"])).unwrap(), list(&["b"]));
        assert!(
            caller
                .scope(list(&["c"]))
                .unwrap_err()
                .contains("only the sources a, b")
        );
        assert!(caller.may_read("a") && !caller.may_read("c"));
        let everything = Caller {
            sources: None,
            ..caller
        };
        assert_eq!(everything.scope(list(&["c"])).unwrap(), list(&["c"]));
    }

    #[test]
    fn a_bound_filter_is_anded_with_a_requests_and_a_bad_one_refuses_the_file() {
        let entry = "[[key]]\nname = \"t\"\nsha256 = \"".to_owned()
            + &"ab".repeat(32)
            + "\"\nfilter = { field = \"metadata.tenant\", eq = \"acme\" }\n";
        let keys = parse(&entry).unwrap();
        let bound = keys[0].filter.clone().unwrap();
        let caller = Caller {
            name: "t".to_owned(),
            sources: None,
            requests_per_second: None,
            filter: Some(bound.clone()),
            write: false,
        };
        assert_eq!(caller.narrow(None), Some(bound.clone()));
        let asked = ItemFilter::Or(vec![]);
        assert_eq!(
            caller.narrow(Some(asked.clone())),
            Some(ItemFilter::And(vec![bound, asked]))
        );
        let bad = entry.replace("metadata.tenant", "tenant");
        assert!(
            parse(&bad)
                .unwrap_err()
                .contains("key \"t\": `filter.field` is `tenant`")
        );
    }

    #[test]
    fn a_bucket_allows_a_seconds_worth_then_refills_at_the_rate() {
        let access = access("");
        let caller = Caller {
            name: "k".to_owned(),
            sources: None,
            requests_per_second: Some(4.0),
            filter: None,
            write: false,
        };
        let start = Instant::now();
        for _ in 0..4 {
            access.admit(&caller, start).unwrap();
        }
        let wait = access.admit(&caller, start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.25).abs() < 1e-9, "{wait:?}");
        access
            .admit(&caller, start + Duration::from_millis(250))
            .unwrap();
        assert!(
            access
                .admit(&caller, start + Duration::from_millis(250))
                .is_err()
        );
        // Another key has its own bucket; a key without a rate is never limited.
        let other = Caller {
            name: "other".to_owned(),
            ..caller.clone()
        };
        access.admit(&other, start).unwrap();
        let unlimited = Caller {
            requests_per_second: None,
            ..caller
        };
        for _ in 0..100 {
            access.admit(&unlimited, start).unwrap();
        }
    }
}
