//! Documents from files: a directory's `.html`/`.htm`, `.md`/`.markdown`, `.txt`, `.pdf`,
//! `.docx`, `.odt` and `.epub` files (`external_id` = path relative to the given root, with `/`), and
//! `.jsonl` files of items (`{"external_id", "content", "title"?, "metadata"?,
//! "page_starts"?}` per line). Files of other types in a
//! directory are skipped; every failure and skip names the file by its path as given.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decode::{decode, decode_prefix};
use crate::html;
use crate::metadata::{RESERVED_KEY, front_matter, merge_found};
use crate::office::{self, OfficeFormat, OfficeText};
use crate::pdf::{self, PdfText};

/// How far into an HTML page its head is read when a run looks for its site's name.
const TITLE_PRESCAN_BYTES: u64 = 64 * 1024;

/// Largest document read, in bytes: a whole file, or one line of a JSONL file (a JSONL file is
/// read line by line, whatever its size).
pub const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;

/// How a run reads files: the types, the files left out, the largest document, and the
/// encoding of text files without a byte order mark or a declared charset.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    /// Types read; files of others are skipped.
    pub types: &'a [FileType],
    /// Files left out.
    pub exclude: &'a [Exclude],
    /// Largest HTML, Markdown or text file, or JSONL line, in bytes (default
    /// [`MAX_DOCUMENT_BYTES`]).
    pub max_document_bytes: u64,
    /// The encoding of HTML, Markdown and text files that neither start with a byte order mark
    /// nor (HTML) declare a charset; `None`: UTF-8.
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

impl<'a> Reading<'a> {
    /// Every file of `types`, none left out, the default size, UTF-8.
    pub fn of(types: &'a [FileType]) -> Reading<'a> {
        Reading {
            types,
            exclude: &[],
            max_document_bytes: MAX_DOCUMENT_BYTES,
            encoding: None,
        }
    }
}

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
    /// For a paged document (a PDF), where each page starts in `content` (byte offsets, the
    /// first 0); a JSONL line may give them too.
    #[serde(default)]
    pub page_starts: Option<Vec<u32>>,
    /// Where it came from: the file's path as given, with `:LINE` for a JSONL line.
    #[serde(skip)]
    pub origin: String,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// A file or line that could not be ingested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The file's path as given (and `:LINE` for a JSONL line).
    pub location: String,
    /// Why.
    pub reason: String,
}

/// A file or document left out on purpose: a type the block does not read, or nothing in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// The file's path as given (and `:LINE` for a JSONL line).
    pub location: String,
    /// Why.
    pub reason: String,
}

/// What reading the inputs gave, one entry per document, failure or skipped file.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// A document to ingest.
    Document(Document),
    /// A file or line that cannot be ingested.
    Failed(Failure),
    /// A file of a type the block does not read, found in a directory.
    Skipped(Skip),
}

/// Every document under `paths` of every type the block reads: see [`documents_of_types`].
pub fn documents(paths: &[PathBuf]) -> impl Iterator<Item = Loaded> + '_ {
    documents_of_types(paths, &FileType::ALL)
}

/// Every document of `types` under `paths`, in a stable order: files of a directory sorted by
/// path. Files of other types are skipped, except a file named explicitly whose type the block
/// cannot read at all, which fails.
pub fn documents_of_types<'a>(
    paths: &'a [PathBuf],
    types: &'a [FileType],
) -> impl Iterator<Item = Loaded> + 'a {
    documents_read(paths, Reading::of(types))
}

/// A file left out of a run by its path (`--exclude`): `*` matches within a path segment,
/// `**` across segments, `?` one character. A pattern without `/` is matched against the
/// file's name, one with `/` against its path relative to the folder given (its
/// `external_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclude(String);

impl Exclude {
    /// The pattern; refused when empty.
    pub fn new(pattern: &str) -> Result<Exclude, String> {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err("an empty --exclude pattern".to_owned());
        }
        Ok(Exclude(pattern.trim_start_matches("./").to_owned()))
    }

    /// Whether the file at `relative` (with `/`) is left out.
    pub fn matches(&self, relative: &str) -> bool {
        let subject = if self.0.contains('/') {
            relative
        } else {
            relative.rsplit('/').next().unwrap_or(relative)
        };
        glob_matches(self.0.as_bytes(), subject.as_bytes())
    }
}

/// Whether `text` matches `pattern` (`*`, `**`, `?`, literal bytes), by dynamic programming
/// over both (no backtracking blow-up).
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    // reachable[j]: the pattern so far matches text[..j].
    let mut reachable = vec![false; text.len() + 1];
    reachable[0] = true;
    let mut p = 0;
    while p < pattern.len() {
        let mut next = vec![false; text.len() + 1];
        match pattern[p] {
            b'*' => {
                let across = pattern.get(p + 1) == Some(&b'*');
                for j in 0..=text.len() {
                    next[j] =
                        reachable[j] || (j > 0 && next[j - 1] && (across || text[j - 1] != b'/'));
                }
                if across {
                    p += 1;
                    // `**/` matches folders, or none at all.
                    if pattern.get(p + 1) == Some(&b'/') {
                        p += 1;
                        let mut after = vec![false; text.len() + 1];
                        for j in 0..=text.len() {
                            after[j] =
                                reachable[j] || (j > 0 && next[j - 1] && text[j - 1] == b'/');
                        }
                        next = after;
                    }
                }
            }
            b'?' => {
                for j in 1..=text.len() {
                    next[j] = reachable[j - 1] && text[j - 1] != b'/';
                }
            }
            literal => {
                for j in 1..=text.len() {
                    next[j] = reachable[j - 1] && text[j - 1] == literal;
                }
            }
        }
        reachable = next;
        p += 1;
    }
    reachable[text.len()]
}

/// [`documents_of_types`], read as `reading` says: without the files it leaves out (each
/// listed as skipped, with the pattern), within its size, in its encoding.
pub fn documents_read<'a>(
    paths: &'a [PathBuf],
    reading: Reading<'a>,
) -> impl Iterator<Item = Loaded> + 'a {
    let Reading { types, exclude, .. } = reading;
    paths.iter().flat_map(move |path| {
        let (root, files, walked) = if path.is_dir() {
            (path.clone(), files_under(path), true)
        } else {
            (
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
                vec![Ok(path.clone())],
                false,
            )
        };
        // A folder's pages lose the site's name their titles share.
        let sites = if walked {
            SiteNames::of(&root, &files, reading)
        } else {
            SiteNames::default()
        };
        files
            .into_iter()
            .flat_map(move |file| -> Box<dyn Iterator<Item = Loaded>> {
                let excluded = file
                    .as_ref()
                    .ok()
                    .and_then(|file| excluded_by(exclude, &root, file));
                if let (Some(pattern), Ok(file)) = (excluded, &file) {
                    return Box::new(std::iter::once(Loaded::Skipped(Skip {
                        location: file.display().to_string(),
                        reason: format!("excluded by --exclude {}", pattern.0),
                    })));
                }
                match file {
                    Ok(file) => match FileType::of(&file) {
                        Some(FileType::Jsonl) if types.contains(&FileType::Jsonl) => {
                            jsonl_documents(&file, reading.max_document_bytes)
                        }
                        Some(file_type) if types.contains(&file_type) => Box::new(std::iter::once(
                            load(&root, &file, file_type, reading, sites.of_page(&file)),
                        )),
                        None if !walked => Box::new(std::iter::once(Loaded::Failed(Failure {
                            location: file.display().to_string(),
                            reason: format!("not a {} file", FileType::names(&FileType::ALL)),
                        }))),
                        _ => Box::new(std::iter::once(Loaded::Skipped(Skip {
                            location: file.display().to_string(),
                            reason: format!("not a {} file", FileType::names(types)),
                        }))),
                    },
                    Err(failure) => Box::new(std::iter::once(Loaded::Failed(failure))),
                }
            })
    })
}

/// The pattern of `exclude` that leaves `file` (under `root`) out.
fn excluded_by<'a>(exclude: &'a [Exclude], root: &Path, file: &Path) -> Option<&'a Exclude> {
    let relative = relative_id(root, file);
    exclude.iter().find(|pattern| pattern.matches(&relative))
}

/// The site's names of the HTML pages among `files` under `root` (a folder given to a run): a
/// folder with three titled pages or more has the name its pages' titles share
/// ([`html::site_suffix`], or none), a smaller folder its nearest such parent's, else the name
/// shared by the pages under `root`. Each title is read from its page's head.
#[derive(Debug, Default)]
struct SiteNames {
    folders: HashMap<PathBuf, Option<String>>,
    /// The name shared by the pages under the folder given.
    given: Option<String>,
}

impl SiteNames {
    fn of(root: &Path, files: &[Result<PathBuf, Failure>], reading: Reading<'_>) -> SiteNames {
        if !reading.types.contains(&FileType::Html) {
            return SiteNames::default();
        }
        let mut titles: HashMap<PathBuf, Vec<String>> = HashMap::new();
        for file in files.iter().filter_map(|file| file.as_ref().ok()) {
            if FileType::of(file) != Some(FileType::Html)
                || excluded_by(reading.exclude, root, file).is_some()
            {
                continue;
            }
            if let (Some(title), Some(folder)) = (page_title(file, reading.encoding), file.parent())
            {
                titles.entry(folder.to_path_buf()).or_default().push(title);
            }
        }
        let given = html::site_suffix(titles.values().flatten().map(String::as_str));
        let folders = titles
            .into_iter()
            .filter(|(_, titles)| titles.len() >= html::MIN_SITE_PAGES)
            .map(|(folder, titles)| (folder, html::site_suffix(titles.iter().map(String::as_str))))
            .collect();
        SiteNames { folders, given }
    }

    /// The site's name of the page at `file`.
    fn of_page(&self, file: &Path) -> Option<&str> {
        file.ancestors()
            .skip(1)
            .find_map(|folder| self.folders.get(folder))
            .unwrap_or(&self.given)
            .as_deref()
    }
}

/// A page's title, read from its head (up to `</head>` or `<body>`, within its first 64 KiB,
/// decoded as the whole page would be); `None` for a redirect stub (it is not read, so its
/// title does not count).
fn page_title(path: &Path, encoding: Option<&'static encoding_rs::Encoding>) -> Option<String> {
    let head = page_head(path)?;
    let text = decode_prefix(&head, true, encoding);
    if html::redirect(&text).is_some() {
        return None;
    }
    html::title(&text)
}

/// The start of a page up to the end of its head, read 4 KiB at a time (at most 64 KiB).
fn page_head(path: &Path) -> Option<Vec<u8>> {
    let ends_head = |bytes: &[u8]| {
        bytes.windows(6).any(|window| {
            window.eq_ignore_ascii_case(b"</head") || window[..5].eq_ignore_ascii_case(b"<body")
        })
    };
    let mut file = File::open(path).ok()?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while (head.len() as u64) < TITLE_PRESCAN_BYTES {
        let read = file.read(&mut chunk).ok()?;
        if read == 0 {
            break;
        }
        let seen = head.len().saturating_sub(5);
        head.extend_from_slice(&chunk[..read]);
        if ends_head(&head[seen..]) {
            break;
        }
    }
    Some(head)
}

/// How much work [`documents_of_types`] has for `paths` with `types`, in the units
/// [`Loaded::units`] counts: a file each (skipped ones included), a PDF's pages (read from its
/// page tree, for a file within the size read), a JSONL file as one (its lines are not counted
/// ahead): a progress bar's length.
pub fn count_units(paths: &[PathBuf], types: &[FileType]) -> usize {
    let units = |file: &Path| match FileType::of(file) {
        Some(FileType::Pdf)
            if types.contains(&FileType::Pdf)
                && std::fs::metadata(file).is_ok_and(|meta| meta.len() <= pdf::MAX_PDF_BYTES) =>
        {
            pdf::page_count(file).unwrap_or(1).max(1)
        }
        _ => 1,
    };
    paths
        .iter()
        .map(|path| {
            if path.is_dir() {
                files_under(path)
                    .iter()
                    .map(|file| file.as_ref().map_or(1, |file| units(file)))
                    .sum()
            } else {
                units(path)
            }
        })
        .sum()
}

impl Loaded {
    /// The work this entry stands for: a paged document's pages, else one.
    pub fn units(&self) -> usize {
        match self {
            Loaded::Document(Document {
                page_starts: Some(starts),
                ..
            }) => starts.len().max(1),
            _ => 1,
        }
    }
}

/// A type of file the block reads, known by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// `.html`, `.htm`: the page's title and text, without navigation.
    Html,
    /// `.md`, `.markdown`: the text as is; the first `# ` line is the title.
    Markdown,
    /// `.txt`: the text as is.
    Text,
    /// `.jsonl`: an item per line.
    Jsonl,
    /// `.pdf`: the text of each page, with where each page starts.
    Pdf,
    /// `.docx` (Word): paragraphs, headings and table rows, pages where Word recorded them.
    Docx,
    /// `.odt` (OpenDocument text): the same.
    Odt,
    /// `.epub`: a book's chapters in reading order.
    Epub,
}

impl FileType {
    /// Every type, in the order messages name them.
    pub const ALL: [FileType; 8] = [
        FileType::Html,
        FileType::Markdown,
        FileType::Text,
        FileType::Jsonl,
        FileType::Pdf,
        FileType::Docx,
        FileType::Odt,
        FileType::Epub,
    ];

    /// The type's name, as `--types` takes it.
    pub fn name(self) -> &'static str {
        match self {
            FileType::Html => "html",
            FileType::Markdown => "md",
            FileType::Text => "txt",
            FileType::Jsonl => "jsonl",
            FileType::Pdf => "pdf",
            FileType::Docx => "docx",
            FileType::Odt => "odt",
            FileType::Epub => "epub",
        }
    }

    /// The type named `name` (as [`FileType::name`] gives it).
    pub fn from_name(name: &str) -> Option<FileType> {
        FileType::ALL.into_iter().find(|t| t.name() == name)
    }

    fn of(path: &Path) -> Option<FileType> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "html" | "htm" => Some(FileType::Html),
            "md" | "markdown" => Some(FileType::Markdown),
            "txt" => Some(FileType::Text),
            "jsonl" => Some(FileType::Jsonl),
            "pdf" => Some(FileType::Pdf),
            "docx" => Some(FileType::Docx),
            "odt" => Some(FileType::Odt),
            "epub" => Some(FileType::Epub),
            _ => None,
        }
    }

    /// `.html, .md or .txt`.
    fn names(types: &[FileType]) -> String {
        let names: Vec<String> = types.iter().map(|t| format!(".{}", t.name())).collect();
        match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => "readable".to_owned(),
        }
    }
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
            } else {
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

/// A file's path relative to the folder given (or its name, for a file given), with `/`: its
/// `external_id`.
fn relative_id(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The document of one file that is not JSONL.
/// `site` is the site's name its title loses (an HTML page of a folder whose pages share it).
fn load(
    root: &Path,
    path: &Path,
    file_type: FileType,
    reading: Reading<'_>,
    site: Option<&str>,
) -> Loaded {
    let external_id = relative_id(root, path);
    let origin = path.display().to_string();
    let fail = |reason: String| {
        Loaded::Failed(Failure {
            location: origin.clone(),
            reason,
        })
    };
    if file_type == FileType::Text && is_sphinx_source_copy(path) {
        return Loaded::Skipped(Skip {
            location: origin,
            reason: "Sphinx's copy of a page's source (_sources): the page is read from its HTML"
                .to_owned(),
        });
    }
    let limit = match file_type {
        FileType::Pdf => pdf::MAX_PDF_BYTES,
        FileType::Docx | FileType::Odt | FileType::Epub => office::MAX_OFFICE_BYTES,
        _ => reading.max_document_bytes,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > limit => {
            return fail(format!(
                "{} bytes, larger than the {limit} bytes read for a .{} file{}",
                meta.len(),
                file_type.name(),
                if file_type == FileType::Pdf {
                    " (split it, e.g. with `qpdf --split-pages=500`)"
                } else {
                    ""
                }
            ));
        }
        Err(err) => return fail(format!("cannot read: {err}")),
        Ok(_) => {}
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => return fail(format!("cannot read: {err}")),
    };
    if let Some(read) = read_binary(file_type, &bytes) {
        return match read {
            Ok(Binary::Pdf(text)) => {
                Loaded::Document(pdf_document(external_id, text, bytes.len(), origin))
            }
            Ok(Binary::Office(text)) => Loaded::Document(office_document(
                external_id,
                text,
                file_type,
                bytes.len(),
                origin,
            )),
            Err(reason) => fail(reason),
        };
    }
    let text = match decode(&bytes, file_type == FileType::Html, reading.encoding) {
        Ok(text) => text,
        Err(reason) => return fail(reason),
    };
    if let Some(reason) = (file_type == FileType::Html)
        .then(|| page_read_elsewhere(path, &text))
        .flatten()
    {
        return Loaded::Skipped(Skip {
            location: origin,
            reason,
        });
    }
    match document(file_type, external_id, &text, origin.clone(), site) {
        Ok(document) => Loaded::Document(document),
        Err(reason) => fail(reason),
    }
}

/// Why an HTML page (at `path`, of `text`) is not read: its content is read from other pages.
fn page_read_elsewhere(path: &Path, text: &str) -> Option<String> {
    if is_whole_book_page(path, text) {
        return Some(
            "an mdBook's whole-book page (print.html, toc.html): its chapters are read one by one"
                .to_owned(),
        );
    }
    html::redirect(text).map(|target| format!("a redirect to {target}: its target is read"))
}

/// What a file that is not text holds.
enum Binary {
    Pdf(PdfText),
    Office(OfficeText),
}

/// The text of a PDF, office or EPUB file's bytes (why not); `None` for a type read as text.
fn read_binary(file_type: FileType, bytes: &[u8]) -> Option<Result<Binary, String>> {
    Some(match file_type {
        FileType::Pdf => pdf::read(bytes).map(Binary::Pdf),
        FileType::Docx => office::read(bytes, OfficeFormat::Docx).map(Binary::Office),
        FileType::Odt => office::read(bytes, OfficeFormat::Odt).map(Binary::Office),
        FileType::Epub => office::read_epub(bytes).map(Binary::Office),
        FileType::Html | FileType::Markdown | FileType::Text | FileType::Jsonl => return None,
    })
}

/// The document of a file's `text`: its title and content, and its metadata (the block's own
/// facts under [`RESERVED_KEY`], and what the document says of itself beside); why not.
/// An HTML page's title loses `site`, the name of the site it is part of.
fn document(
    file_type: FileType,
    external_id: String,
    text: &str,
    origin: String,
    site: Option<&str>,
) -> Result<Document, String> {
    let metadata = |format: &str, found: Option<crate::metadata::Fields>| {
        let mut metadata = serde_json::Map::new();
        metadata.insert(
            RESERVED_KEY.to_owned(),
            serde_json::json!({ "path": external_id, "format": format, "bytes": text.len() }),
        );
        merge_found(&mut metadata, found.unwrap_or_default());
        serde_json::Value::Object(metadata)
    };
    Ok(match file_type {
        FileType::Jsonl => unreachable!("JSONL files are read line by line (JsonlLines)"),
        FileType::Pdf | FileType::Docx | FileType::Odt | FileType::Epub => {
            unreachable!("PDF and office files are read as bytes (pdf_document, office_document)")
        }
        FileType::Html => {
            let extracted = html::extract(text);
            Document {
                external_id: external_id.clone(),
                title: extracted.title.map(|title| match site {
                    Some(site) => html::without_site_suffix(title, site),
                    None => title,
                }),
                content: extracted.text,
                metadata: metadata("html", Some(extracted.meta)),
                page_starts: None,
                origin,
            }
        }
        FileType::Markdown => {
            let (found, body) = front_matter(text)?;
            let titled = found
                .as_ref()
                .and_then(|found| found.get("title"))
                .and_then(serde_json::Value::as_str)
                .map(|title| title.trim().to_owned())
                .filter(|title| !title.is_empty());
            Document {
                external_id: external_id.clone(),
                title: titled.or_else(|| {
                    body.lines()
                        .find_map(|line| line.strip_prefix("# "))
                        .map(|title| title.trim().to_owned())
                }),
                content: body.to_owned(),
                metadata: metadata("markdown", found),
                page_starts: None,
                origin,
            }
        }
        FileType::Text => Document {
            external_id: external_id.clone(),
            title: None,
            content: text.to_owned(),
            metadata: metadata("text", None),
            page_starts: None,
            origin,
        },
    })
}

/// The document of a PDF's pages: their texts joined by a blank line (none around an empty
/// page), where each starts, the title, and the Info dictionary's author, subject and keywords
/// as metadata beside the block's own facts (pages, and those that could not be read).
fn pdf_document(external_id: String, text: PdfText, bytes: usize, origin: String) -> Document {
    let mut content = String::new();
    let mut page_starts = Vec::with_capacity(text.pages.len());
    for page in &text.pages {
        if !page.is_empty() && !content.is_empty() {
            content.push_str("\n\n");
        }
        page_starts.push(u32::try_from(content.len()).unwrap_or(u32::MAX));
        content.push_str(page);
    }
    let mut own = serde_json::json!({
        "path": external_id,
        "format": "pdf",
        "bytes": bytes,
        "pages": text.pages.len(),
    });
    if !text.unreadable_pages.is_empty() {
        own["unreadable_pages"] = serde_json::json!(text.unreadable_pages);
    }
    Document {
        external_id,
        title: text.title,
        content,
        metadata: binary_metadata(own, text.info),
        page_starts: Some(page_starts),
        origin,
    }
}

/// A PDF's or office file's metadata: the block's own facts (`own`) under [`RESERVED_KEY`],
/// and the properties the file gives (author, subject, keywords) beside them.
fn binary_metadata(own: serde_json::Value, info: Vec<(&'static str, String)>) -> serde_json::Value {
    let mut metadata = serde_json::Map::new();
    metadata.insert(RESERVED_KEY.to_owned(), own);
    let found: crate::metadata::Fields = info
        .into_iter()
        .map(|(key, value)| (key.to_owned(), serde_json::Value::String(value)))
        .collect();
    merge_found(&mut metadata, found);
    serde_json::Value::Object(metadata)
}

/// The document of a Word or OpenDocument file: its text, page starts where the file recorded
/// page breaks, title, and author, subject and keywords as metadata beside the block's own.
fn office_document(
    external_id: String,
    text: OfficeText,
    file_type: FileType,
    bytes: usize,
    origin: String,
) -> Document {
    let mut own = serde_json::json!({
        "path": external_id,
        "format": file_type.name(),
        "bytes": bytes,
    });
    if let Some(starts) = &text.page_starts {
        own["pages"] = serde_json::json!(starts.len());
    }
    Document {
        external_id,
        title: text.title,
        content: text.content,
        metadata: binary_metadata(own, text.info),
        page_starts: text.page_starts,
        origin,
    }
}

/// A text file under a Sphinx site's `_sources` folder (beside the site's `objects.inv` or
/// `searchindex.js`): the source of one of the site's pages, which would double it.
fn is_sphinx_source_copy(path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .find(|folder| folder.file_name().is_some_and(|name| name == "_sources"))
        .and_then(Path::parent)
        .is_some_and(|site| {
            site.join("objects.inv").is_file() || site.join("searchindex.js").is_file()
        })
}

/// mdBook's `print.html` (every chapter in one page) and `toc.html` (the table of contents):
/// indexed, they would answer every question with the whole book.
fn is_whole_book_page(path: &Path, text: &str) -> bool {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    // The first 4 KiB, cut on a character boundary.
    let mut head = text.len().min(4096);
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    matches!(name, "print.html" | "toc.html")
        && text[..head].to_ascii_lowercase().contains("mdbook")
}

/// The documents of a JSONL file: a UTF-8 file line by line ([`JsonlLines`], whatever its
/// size); a UTF-16 one (by its byte order mark) decoded whole, within the document limit, as
/// other files are.
fn jsonl_documents(path: &Path, max: u64) -> Box<dyn Iterator<Item = Loaded>> {
    let origin = path.display().to_string();
    let fail = |reason: String| -> Box<dyn Iterator<Item = Loaded>> {
        Box::new(std::iter::once(Loaded::Failed(Failure {
            location: origin.clone(),
            reason,
        })))
    };
    let mut reader = match File::open(path) {
        Ok(file) => BufReader::new(file),
        Err(err) => return fail(format!("cannot read: {err}")),
    };
    let utf16 = match reader.fill_buf() {
        Ok(start) => start.starts_with(&[0xff, 0xfe]) || start.starts_with(&[0xfe, 0xff]),
        Err(err) => return fail(format!("cannot read: {err}")),
    };
    if !utf16 {
        return Box::new(JsonlLines {
            origin,
            reader: Some(reader),
            line: 0,
            max,
        });
    }
    let mut bytes = Vec::new();
    match reader.take(max + 1).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > max => fail(format!(
            "a UTF-16 file larger than {max} bytes: convert it to UTF-8, which \
             is read line by line whatever its size"
        )),
        Ok(_) => match decode(&bytes, false, None) {
            Ok(text) => Box::new(jsonl(&origin, &text).into_iter()),
            Err(reason) => fail(reason),
        },
        Err(err) => fail(format!("cannot read: {err}")),
    }
}

/// Each line of a decoded JSONL text: a document, or a failure.
fn jsonl(origin: &str, text: &str) -> Vec<Loaded> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| document_of_line(format!("{origin}:{}", index + 1), line))
        .collect()
}

/// The document a JSONL line holds, from `location`.
fn document_of_line(location: String, line: &str) -> Loaded {
    match serde_json::from_str::<Document>(line) {
        Ok(document) => Loaded::Document(Document {
            origin: location,
            ..document
        }),
        Err(err) => Loaded::Failed(Failure {
            location,
            reason: err.to_string(),
        }),
    }
}

/// The lines of a UTF-8 JSONL file, read one at a time (memory holds one line, whatever the
/// file's size): a document per line, a failure per line that is not one (not JSON, not
/// UTF-8, over [`MAX_DOCUMENT_BYTES`] without its line end); blank lines are passed over; a
/// read error ends the file with one failure.
struct JsonlLines {
    origin: String,
    /// `None` once the file is read.
    reader: Option<BufReader<File>>,
    /// Lines read so far.
    line: usize,
    /// Longest line read, in bytes.
    max: u64,
}

impl Iterator for JsonlLines {
    type Item = Loaded;

    fn next(&mut self) -> Option<Loaded> {
        loop {
            let reader = self.reader.as_mut()?;
            let mut bytes = Vec::new();
            // Room for the longest line allowed and a CRLF end.
            let read = reader
                .by_ref()
                .take(self.max + 2)
                .read_until(b'\n', &mut bytes);
            let location = format!("{}:{}", self.origin, self.line + 1);
            match read {
                Ok(0) => {
                    self.reader = None;
                    return None;
                }
                Ok(_) => self.line += 1,
                Err(err) => {
                    self.reader = None;
                    return Some(failure(location, format!("cannot read further: {err}")));
                }
            }
            let ended = bytes.ends_with(b"\n");
            let mut line = bytes.as_slice();
            line = line.strip_suffix(b"\n").unwrap_or(line);
            line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() as u64 > self.max {
                // Pass over the rest of the line, unread.
                if !ended && let Err(err) = reader.skip_until(b'\n') {
                    self.reader = None;
                    return Some(failure(location, format!("cannot read further: {err}")));
                }
                return Some(failure(
                    location,
                    format!(
                        "a line over {} bytes: one item per line, each under the limit \
                         (--max-file-bytes)",
                        self.max
                    ),
                ));
            }
            if self.line == 1 {
                line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
            }
            return Some(match std::str::from_utf8(line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => document_of_line(location, text),
                Err(err) => failure(
                    location,
                    format!(
                        "not UTF-8 (invalid byte at offset {}): JSON lines are UTF-8",
                        err.valid_up_to()
                    ),
                ),
            });
        }
    }
}

/// A line or file that failed, at `location`.
fn failure(location: String, reason: String) -> Loaded {
    Loaded::Failed(Failure { location, reason })
}

#[cfg(test)]
mod glob_tests {
    use super::Exclude;

    #[test]
    fn exclude_patterns_match_names_paths_and_folders() {
        let cases = [
            ("*.rst.txt", "_sources/library/os.rst.txt", true),
            ("*.rst.txt", "library/os.html", false),
            ("_sources/**", "_sources/library/os.rst.txt", true),
            ("_sources/**", "library/_sources.html", false),
            ("**/drafts/*", "a/b/drafts/x.md", true),
            ("**/drafts/*", "drafts/x.md", true),
            ("**/drafts/*", "a/drafts/sub/x.md", false),
            ("a/**/b.md", "b.md", false),
            ("a/**/b.md", "a/b.md", true),
            ("a/**/b.md", "a/x/y/b.md", true),
            ("guide/*.html", "guide/vacuum.html", true),
            ("guide/*.html", "guide/sub/vacuum.html", false),
            ("v?.md", "v1.md", true),
            ("v?.md", "v10.md", false),
            ("print.html", "book/print.html", true),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(
                Exclude::new(pattern).unwrap().matches(path),
                expected,
                "{pattern} against {path}"
            );
        }
        assert!(Exclude::new("  ").is_err());
        // Many stars against a long name: no blow-up.
        let stars = "*a".repeat(40);
        assert!(!Exclude::new(&stars).unwrap().matches(&"b".repeat(2000)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents_of(loaded: &[Loaded]) -> Vec<&Document> {
        loaded
            .iter()
            .filter_map(|entry| match entry {
                Loaded::Document(document) => Some(document),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn directories_give_relative_ids_and_files_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.md"), "\u{feff}# Alpha\n\nText.").unwrap();
        std::fs::write(
            dir.path().join("sub/b.html"),
            "<title>Beta</title><p>Body</p>",
        )
        .unwrap();
        std::fs::write(dir.path().join("c.txt"), "plain").unwrap();
        std::fs::write(dir.path().join("ignored.png"), [0u8, 1, 2]).unwrap();
        std::fs::write(dir.path().join("bad.txt"), [0xffu8, 0x00, 0xfe]).unwrap();
        let loaded: Vec<Loaded> = documents(&[dir.path().to_path_buf()]).collect();
        let found: Vec<(&str, Option<&str>, &str)> = documents_of(&loaded)
            .iter()
            .map(|d| {
                (
                    d.external_id.as_str(),
                    d.title.as_deref(),
                    d.origin.as_str(),
                )
            })
            .collect();
        let at = |name: &str| dir.path().join(name).display().to_string();
        assert_eq!(
            found,
            [
                ("a.md", Some("Alpha"), at("a.md").as_str()),
                ("c.txt", None, at("c.txt").as_str()),
                ("sub/b.html", Some("Beta"), at("sub/b.html").as_str())
            ],
            "the byte order mark is dropped before the title is found"
        );
        let others: Vec<(String, String)> = loaded
            .iter()
            .filter_map(|entry| match entry {
                Loaded::Failed(Failure { location, reason }) => {
                    Some((location.clone(), format!("failed: {reason}")))
                }
                Loaded::Skipped(Skip { location, reason }) => {
                    Some((location.clone(), format!("skipped: {reason}")))
                }
                Loaded::Document(_) => None,
            })
            .collect();
        assert_eq!(
            others,
            [
                (
                    at("bad.txt"),
                    "failed: not UTF-8 text (invalid byte at offset 0): convert it to UTF-8 or name \
                     its encoding with --encoding (e.g. --encoding latin1)"
                        .to_owned()
                ),
                (
                    at("ignored.png"),
                    "skipped: not a .html, .md, .txt, .jsonl, .pdf, .docx, .odt or .epub file"
                        .to_owned()
                ),
            ]
        );
        // Named explicitly, a file of another type is a failure, not a skip.
        let named: Vec<Loaded> = documents(&[dir.path().join("ignored.png")]).collect();
        assert!(matches!(&named[..], [Loaded::Failed(_)]), "{named:?}");
    }

    #[test]
    fn an_mdbooks_whole_book_pages_are_skipped_and_its_chapters_read() {
        let dir = tempfile::tempdir().unwrap();
        let book = dir.path().join("book");
        std::fs::create_dir_all(&book).unwrap();
        let page = |title: &str| {
            format!(
                "<html><head><meta name=\"generator\" content=\"mdBook\"><title>{title}</title></head>\
                 <body><main><p>{title} text</p></main></body></html>"
            )
        };
        std::fs::write(book.join("ch01.html"), page("Chapter")).unwrap();
        std::fs::write(book.join("print.html"), page("Everything")).unwrap();
        std::fs::write(book.join("toc.html"), page("Contents")).unwrap();
        // Another site's print.html is a page like any other.
        std::fs::write(
            dir.path().join("print.html"),
            "<title>Printing</title><p>How to print</p>",
        )
        .unwrap();
        let loaded: Vec<Loaded> = documents(&[dir.path().to_path_buf()]).collect();
        let read: Vec<&str> = documents_of(&loaded)
            .iter()
            .map(|d| d.external_id.as_str())
            .collect();
        assert_eq!(read, ["book/ch01.html", "print.html"]);
        let skipped = loaded
            .iter()
            .filter(|entry| matches!(entry, Loaded::Skipped(skip) if skip.reason.starts_with("an mdBook's whole-book page")))
            .count();
        assert_eq!(skipped, 2);
    }

    #[test]
    fn a_sphinx_site_is_read_once_without_its_name_in_titles_or_its_redirects() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("html");
        std::fs::create_dir_all(site.join("_sources/library")).unwrap();
        std::fs::create_dir_all(site.join("library")).unwrap();
        std::fs::create_dir_all(site.join("using")).unwrap();
        let page = |title: &str| {
            format!(
                "<html><head><title>{title} — Python 3.11 documentation</title></head>\
                 <body><div role=\"main\"><p>{title} text</p></div></body></html>"
            )
        };
        for name in ["os", "io", "json"] {
            std::fs::write(site.join(format!("library/{name}.html")), page(name)).unwrap();
            std::fs::write(site.join(format!("_sources/library/{name}.rst.txt")), name).unwrap();
        }
        // A folder of fewer than three pages has its nearest deciding parent's site name
        // (library/), else the one of the pages under the folder given; a folder that decides
        // on none keeps its pages' titles whole.
        std::fs::create_dir_all(site.join("library/email")).unwrap();
        std::fs::write(site.join("library/email/mime.html"), page("mime")).unwrap();
        std::fs::write(site.join("using/unix.html"), page("Unix")).unwrap();
        std::fs::create_dir_all(site.join("howto")).unwrap();
        for (name, title) in [("a", "A | Howto"), ("b", "B — Other"), ("c", "C")] {
            let page = format!("<title>{title}</title><p>{title} text</p>");
            std::fs::write(site.join(format!("howto/{name}.html")), page).unwrap();
        }
        std::fs::write(
            site.join("index.html"),
            "<title>3.11 Documentation</title><p>Start</p>",
        )
        .unwrap();
        std::fs::write(
            site.join("old.html"),
            r#"<meta http-equiv="refresh" content="0; url=library/os.html"><p>Moved</p>"#,
        )
        .unwrap();
        let read = |dir: &Path| -> Vec<Loaded> { documents(&[dir.to_path_buf()]).collect() };
        // Without the site's marker, _sources is a folder like any other.
        let loaded = read(&site);
        assert_eq!(documents_of(&loaded).len(), 12);
        std::fs::write(site.join("objects.inv"), b"# Sphinx inventory").unwrap();
        let loaded = read(&site);
        let titles: Vec<(&str, Option<&str>)> = documents_of(&loaded)
            .iter()
            .map(|d| (d.external_id.as_str(), d.title.as_deref()))
            .collect();
        assert_eq!(
            titles,
            [
                ("howto/a.html", Some("A | Howto")),
                ("howto/b.html", Some("B — Other")),
                ("howto/c.html", Some("C")),
                ("index.html", Some("3.11 Documentation")),
                ("library/email/mime.html", Some("mime")),
                ("library/io.html", Some("io")),
                ("library/json.html", Some("json")),
                ("library/os.html", Some("os")),
                ("using/unix.html", Some("Unix")),
            ]
        );
        let reasons: Vec<&str> = loaded
            .iter()
            .filter_map(|entry| match entry {
                Loaded::Skipped(skip) => Some(skip.reason.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(reasons.contains(&"a redirect to library/os.html: its target is read"));
        // A page given alone keeps its whole title: one page shares a name with no other.
        let alone = read(&site.join("library/os.html"));
        assert_eq!(
            documents_of(&alone)[0].title.as_deref(),
            Some("os — Python 3.11 documentation")
        );
    }

    #[test]
    fn a_pages_title_is_read_from_its_head_as_the_whole_page_is_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.html");
        // The charset declared after the title still decides, over a run's fallback.
        let page =
            b"<head><title>Caf\xc3\xa9 \xe2\x80\x94 Site</title><meta charset=utf-8></head><body>x";
        std::fs::write(&path, page).unwrap();
        let latin1 = Some(encoding_rs::WINDOWS_1252);
        assert_eq!(page_title(&path, latin1).as_deref(), Some("Café — Site"));
        // A head longer than one read, and a redirect stub, which does not count.
        let long = format!("<head>{}<title>Late</title></head>", " ".repeat(10_000));
        std::fs::write(&path, long).unwrap();
        assert_eq!(page_title(&path, None).as_deref(), Some("Late"));
        let stub = r#"<head><title>Redirecting...</title><meta http-equiv="refresh" content="0; url=a.html"></head>"#;
        std::fs::write(&path, stub).unwrap();
        assert_eq!(page_title(&path, None), None);
    }

    #[test]
    fn a_page_whose_first_4_kib_end_inside_a_character_is_looked_at_safely() {
        let text = format!("{}é mdbook", "x".repeat(4095));
        assert!(!is_whole_book_page(Path::new("print.html"), &text));
        let text = format!("<meta content=\"mdBook\">{}é", "x".repeat(4095));
        assert!(is_whole_book_page(Path::new("toc.html"), &text));
    }

    #[test]
    fn jsonl_lines_are_items_and_bad_lines_failures() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("items.jsonl");
        std::fs::write(&file, "{\"external_id\": \"1\", \"content\": \"one\"}\n\nnot json\n{\"external_id\": \"2\", \"content\": \"two\", \"title\": \"Two\", \"metadata\": {\"k\": 1}}\n").unwrap();
        let loaded: Vec<Loaded> = documents(std::slice::from_ref(&file)).collect();
        let origin = |line: usize| format!("{}:{line}", file.display());
        match &loaded[..] {
            [
                Loaded::Document(first),
                Loaded::Failed(bad),
                Loaded::Document(second),
            ] => {
                assert_eq!(
                    (first.external_id.as_str(), first.origin.clone()),
                    ("1", origin(1))
                );
                assert_eq!(bad.location, origin(3));
                assert_eq!(second.origin, origin(4));
                assert_eq!(second.metadata, serde_json::json!({"k": 1}));
            }
            other => panic!("{other:?}"),
        }
    }

    /// A JSONL file is read line by line: a file over the document limit is read whole, a line
    /// over it is one failure (the lines after it still read), and a line that is not UTF-8 is
    /// one failure; a byte order mark and CRLF line ends are accepted.
    #[test]
    fn a_jsonl_file_of_any_size_is_read_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.jsonl");
        let filler = "x".repeat(1000);
        let lines = (MAX_DOCUMENT_BYTES / 1000 + 1000) as usize;
        let mut text = String::from("\u{feff}");
        for n in 0..lines {
            text.push_str(&format!(
                "{{\"external_id\": \"{n}\", \"content\": \"{filler}\"}}\r\n"
            ));
        }
        assert!(text.len() as u64 > MAX_DOCUMENT_BYTES);
        std::fs::write(&file, &text).unwrap();
        let loaded: Vec<Loaded> = documents(std::slice::from_ref(&file)).collect();
        assert_eq!(loaded.len(), lines);
        assert!(
            loaded
                .iter()
                .all(|entry| matches!(entry, Loaded::Document(d) if d.content == filler)),
            "every line is a document"
        );

        let mixed = dir.path().join("mixed.jsonl");
        let line_of = |id: &str, bytes: usize| {
            let empty = format!("{{\"external_id\": \"{id}\", \"content\": \"\"}}");
            format!(
                "{{\"external_id\": \"{id}\", \"content\": \"{}\"}}",
                "y".repeat(bytes - empty.len())
            )
        };
        let mut bytes = Vec::new();
        // Exactly at the limit, with a CRLF end: read; one byte more: refused.
        bytes.extend_from_slice(line_of("full", MAX_DOCUMENT_BYTES as usize).as_bytes());
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(line_of("huge", MAX_DOCUMENT_BYTES as usize + 1).as_bytes());
        bytes.extend_from_slice(b"\n{\"external_id\": \"bad\", \"content\": \"\xff\"}\n");
        bytes.extend_from_slice(b"{\"external_id\": \"after\", \"content\": \"kept\"}");
        std::fs::write(&mixed, bytes).unwrap();
        let loaded: Vec<Loaded> = documents(std::slice::from_ref(&mixed)).collect();
        let origin = |line: usize| format!("{}:{line}", mixed.display());
        match &loaded[..] {
            [
                Loaded::Document(full),
                Loaded::Failed(too_long),
                Loaded::Failed(not_utf8),
                Loaded::Document(after),
            ] => {
                assert_eq!(
                    (full.external_id.as_str(), full.origin.clone()),
                    ("full", origin(1))
                );
                assert_eq!(too_long.location, origin(2));
                assert!(too_long.reason.contains("a line over"), "{too_long:?}");
                assert_eq!(not_utf8.location, origin(3));
                assert!(not_utf8.reason.contains("not UTF-8"), "{not_utf8:?}");
                assert_eq!(
                    (after.external_id.as_str(), after.origin.clone()),
                    ("after", origin(4)),
                    "the last line needs no line end"
                );
            }
            other => panic!(
                "{:?}",
                other
                    .iter()
                    .map(|entry| match entry {
                        Loaded::Document(d) => format!("document {}", d.origin),
                        Loaded::Failed(f) => format!("failed {f:?}"),
                        Loaded::Skipped(s) => format!("skipped {s:?}"),
                    })
                    .collect::<Vec<_>>()
            ),
        }
        // UTF-16 (by its byte order mark), decoded whole as before.
        let utf16 = dir.path().join("utf16.jsonl");
        let text = "{\"external_id\": \"é\", \"content\": \"one\"}\n\n{\"external_id\": \"2\", \"content\": \"two\"}\n";
        let mut encoded = vec![0xff, 0xfe];
        encoded.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        std::fs::write(&utf16, encoded).unwrap();
        let loaded: Vec<Loaded> = documents(std::slice::from_ref(&utf16)).collect();
        let ids: Vec<(&str, String)> = documents_of(&loaded)
            .iter()
            .map(|d| (d.external_id.as_str(), d.origin.clone()))
            .collect();
        let at = |line: usize| format!("{}:{line}", utf16.display());
        assert_eq!(ids, [("é", at(1)), ("2", at(3))], "{loaded:?}");
        let missing: Vec<Loaded> = documents(&[dir.path().join("gone.jsonl")]).collect();
        assert!(
            matches!(&missing[..], [Loaded::Failed(f)] if f.reason.starts_with("cannot read")),
            "{missing:?}"
        );
    }
}
