//! Documents from files: a directory's `.html`/`.htm`, `.md`/`.markdown` and `.txt` files
//! (`external_id` = path relative to the given root, with `/`), and `.jsonl` files of items
//! (`{"external_id", "content", "title"?, "metadata"?}` per line).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::html;

/// Largest file read, in bytes.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// One item to ingest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Identity within the source.
    pub external_id: String,
    /// Title, if any.
    #[serde(default)]
    pub title: Option<String>,
    /// Text.
    pub content: String,
    /// A JSON object.
    #[serde(default = "empty_object")]
    pub metadata: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// A file or line that could not be ingested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The file (and line), or the external_id.
    pub location: String,
    /// Why.
    pub reason: String,
}

/// Every document under `paths`, in a stable order: files of a directory sorted by path.
/// Files of other types are ignored.
pub fn documents(paths: &[PathBuf]) -> impl Iterator<Item = Result<Document, Failure>> + '_ {
    paths.iter().flat_map(|path| {
        let (root, files) = if path.is_dir() {
            (path.clone(), files_under(path))
        } else {
            (
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
                vec![Ok(path.clone())],
            )
        };
        files.into_iter().flat_map(move |file| match file {
            Ok(file) => load(&root, &file),
            Err(failure) => vec![Err(failure)],
        })
    })
}

fn files_under(dir: &Path) -> Vec<Result<PathBuf, Failure>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(err) => {
                files.push(Err(Failure {
                    location: current.display().to_string(),
                    reason: format!("cannot list: {err}"),
                }));
                continue;
            }
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if kind(&path).is_some() {
                files.push(Ok(path));
            }
        }
    }
    files.sort_by(|a, b| match (a, b) {
        (Ok(a), Ok(b)) => a.cmp(b),
        _ => std::cmp::Ordering::Equal,
    });
    files
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Markdown,
    Text,
    Jsonl,
}

fn kind(path: &Path) -> Option<Kind> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "html" | "htm" => Some(Kind::Html),
        "md" | "markdown" => Some(Kind::Markdown),
        "txt" => Some(Kind::Text),
        "jsonl" => Some(Kind::Jsonl),
        _ => None,
    }
}

fn load(root: &Path, path: &Path) -> Vec<Result<Document, Failure>> {
    let external_id = path
        .strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let fail = |reason: String| {
        vec![Err(Failure {
            location: path.display().to_string(),
            reason,
        })]
    };
    let Some(kind) = kind(path) else {
        return fail("not a .html, .md, .txt or .jsonl file".to_owned());
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            return fail(format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        Err(err) => return fail(format!("cannot read: {err}")),
        Ok(_) => {}
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => return fail(format!("cannot read: {err}")),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return fail("not UTF-8 text".to_owned());
    };
    let metadata = |format: &str| serde_json::json!({ "path": external_id, "format": format, "bytes": text.len() });
    let document = match kind {
        Kind::Jsonl => return jsonl(path, &text),
        Kind::Html => {
            let extracted = html::extract(&text);
            Document {
                external_id: external_id.clone(),
                title: extracted.title,
                content: extracted.text,
                metadata: metadata("html"),
            }
        }
        Kind::Markdown => Document {
            external_id: external_id.clone(),
            title: text
                .lines()
                .find_map(|line| line.strip_prefix("# "))
                .map(|title| title.trim().to_owned()),
            content: text.clone(),
            metadata: metadata("markdown"),
        },
        Kind::Text => Document {
            external_id: external_id.clone(),
            title: None,
            content: text.clone(),
            metadata: metadata("text"),
        },
    };
    vec![Ok(document)]
}

fn jsonl(path: &Path, text: &str) -> Vec<Result<Document, Failure>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str::<Document>(line).map_err(|err| Failure {
                location: format!("{}:{}", path.display(), index + 1),
                reason: err.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_give_relative_ids_and_files_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.md"), "# Alpha\n\nText.").unwrap();
        std::fs::write(
            dir.path().join("sub/b.html"),
            "<title>Beta</title><p>Body</p>",
        )
        .unwrap();
        std::fs::write(dir.path().join("c.txt"), "plain").unwrap();
        std::fs::write(dir.path().join("ignored.png"), [0u8, 1, 2]).unwrap();
        std::fs::write(dir.path().join("bad.txt"), [0xffu8, 0xfe]).unwrap();
        let loaded: Vec<_> = documents(&[dir.path().to_path_buf()]).collect();
        let ids: Vec<String> = loaded
            .iter()
            .filter_map(|d| d.as_ref().ok())
            .map(|d| d.external_id.clone())
            .collect();
        assert_eq!(ids, ["a.md", "c.txt", "sub/b.html"]);
        let titles: Vec<Option<String>> = loaded
            .iter()
            .filter_map(|d| d.as_ref().ok())
            .map(|d| d.title.clone())
            .collect();
        assert_eq!(
            titles,
            [Some("Alpha".to_owned()), None, Some("Beta".to_owned())]
        );
        let failures: Vec<&Failure> = loaded.iter().filter_map(|d| d.as_ref().err()).collect();
        assert_eq!(failures.len(), 1);
        assert!(
            failures[0].location.ends_with("bad.txt") && failures[0].reason == "not UTF-8 text"
        );
    }

    #[test]
    fn jsonl_lines_are_items_and_bad_lines_failures() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("items.jsonl");
        std::fs::write(&file, "{\"external_id\": \"1\", \"content\": \"one\"}\n\nnot json\n{\"external_id\": \"2\", \"content\": \"two\", \"title\": \"Two\", \"metadata\": {\"k\": 1}}\n").unwrap();
        let loaded: Vec<_> = documents(&[file]).collect();
        assert_eq!(loaded.len(), 3);
        assert_eq!(loaded[0].as_ref().unwrap().external_id, "1");
        assert!(
            loaded[1]
                .as_ref()
                .unwrap_err()
                .location
                .ends_with("items.jsonl:3")
        );
        assert_eq!(
            loaded[2].as_ref().unwrap().metadata,
            serde_json::json!({"k": 1})
        );
    }
}
