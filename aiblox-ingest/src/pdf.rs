//! PDF files to the text of each page: the text layer read glyph by glyph (pdf-extract on
//! lopdf, pure Rust), put into lines and paragraphs by position, two columns read one after
//! the other, hyphenation at line ends joined, and running headers and footers (lines that
//! open or close at least three pages the same way, page numbers aside) dropped. No OCR: a
//! PDF without a text layer fails, as do broken files and files locked with a password.

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use pdf_extract::{Document, MediaBox, OutputDev, OutputError, Transform};

use crate::metadata::first_line_title;

/// Largest PDF read. The parser holds the whole file in memory, and its objects but for
/// images' data (dropped as each is read; an encrypted file keeps them): a 6.5 MB manual of
/// 2,415 pages peaks at about 210 MB, a 100 MB file of one page of text and a 100 MB image at
/// about 210 MB (the file, and the image's data once while it is read).
pub(crate) const MAX_PDF_BYTES: u64 = 256 * 1024 * 1024;

/// Most text kept of one document (R's 2,415-page reference manual has 4.5 MB).
pub(crate) const MAX_TEXT_BYTES: usize = 64 * 1024 * 1024;

/// Deepest nesting of form XObjects (drawings that draw other drawings) read.
const MAX_FORM_DEPTH: usize = 32;

/// Most pages of one PDF: its objects are held at once, about 80 kB a page for the manuals
/// measured (docs/benchmarks.md), so a longer one is refused rather than risk the memory.
pub(crate) const MAX_PDF_PAGES: u32 = 5_000;

/// What a PDF holds: its title, what its Info dictionary says, and each page's text.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct PdfText {
    /// The Info dictionary's title, else the first line of the first page with text.
    pub(crate) title: Option<String>,
    /// Author, subject and keywords from the Info dictionary, where set.
    pub(crate) info: Vec<(&'static str, String)>,
    /// Each page's text, in page order ("" for a page without text).
    pub(crate) pages: Vec<String>,
    /// Pages (1-based) whose content could not be read (left empty).
    pub(crate) unreadable_pages: Vec<u32>,
}

/// The text of a PDF's pages; why not (locked, broken, no text layer).
pub(crate) fn read(bytes: &[u8]) -> Result<PdfText, String> {
    let document = load(bytes)?;
    let page_ids = document.get_pages();
    if page_ids.is_empty() {
        return Err("a PDF without pages".to_owned());
    }
    if page_ids.len() > MAX_PDF_PAGES as usize {
        return Err(too_many_pages(page_ids.len()));
    }
    check_forms(&document)?;
    let (mut pages, unreadable_pages) = read_lines(&document, &page_ids);
    if unreadable_pages.len() == pages.len() {
        return Err(format!(
            "none of its {} pages could be read (a damaged or unusual PDF)",
            pages.len()
        ));
    }
    drop_running_lines(&mut pages);
    let pages: Vec<String> = pages.iter().map(|lines| page_text(lines)).collect();
    let text_bytes: usize = pages.iter().map(String::len).sum();
    if text_bytes > MAX_TEXT_BYTES {
        return Err(format!(
            "{text_bytes} bytes of text, more than the {MAX_TEXT_BYTES} kept of one document \
             (split it, e.g. with `qpdf --split-pages=1000`)"
        ));
    }
    if pages.iter().all(|page| page.trim().is_empty()) {
        return Err(format!(
            "no text layer on any of its {} pages (a scan? text in images is not read: no OCR)",
            pages.len()
        ));
    }
    let info = info(&document);
    let title = info_text(&document, b"Title")
        .or_else(|| pages.iter().find_map(|page| first_line_title(page)));
    Ok(PdfText {
        title,
        info,
        pages,
        unreadable_pages,
    })
}

fn too_many_pages(pages: impl std::fmt::Display) -> String {
    format!(
        "{pages} pages, more than the {MAX_PDF_PAGES} read from one PDF (split it, e.g. with \
         `qpdf --split-pages=1000`)"
    )
}

/// The document of a PDF's bytes, images' data left out; why not (too long, locked, broken).
fn load(bytes: &[u8]) -> Result<Document, String> {
    // The page count from the cross-reference and page tree alone, before the whole load.
    if let Some(Ok(metadata)) = quietly(|| Document::load_metadata_mem(bytes))
        && metadata.page_count > MAX_PDF_PAGES
    {
        return Err(too_many_pages(metadata.page_count));
    }
    let options = pdf_extract::LoadOptions {
        filter: Some(without_image_data),
        ..pdf_extract::LoadOptions::default()
    };
    let locked = || "encrypted with a password: remove it (e.g. `qpdf --decrypt`) to ingest it";
    let document = quietly(|| Document::load_mem_with_options(bytes, options))
        .ok_or_else(|| "not a readable PDF (the parser failed on it)".to_owned())?
        .map_err(|err| match err {
            pdf_extract::Error::Decryption(_) | pdf_extract::Error::InvalidPassword => {
                locked().to_owned()
            }
            other => format!("not a readable PDF: {other}"),
        })?;
    if document.is_encrypted() {
        return Err(locked().to_owned());
    }
    Ok(document)
}

/// Each page's lines, and the pages (from 1) that could not be read (left empty).
fn read_lines(
    document: &Document,
    page_ids: &std::collections::BTreeMap<u32, pdf_extract::ObjectId>,
) -> (Vec<Vec<Line>>, Vec<u32>) {
    let mut pages = Vec::with_capacity(page_ids.len());
    let mut unreadable_pages = Vec::new();
    for &number in page_ids.keys() {
        let mut collector = PageCollector::default();
        let read = quietly(|| pdf_extract::output_doc_page(document, &mut collector, number));
        match read {
            Some(Ok(())) => pages.push(collector.into_lines()),
            Some(Err(_)) | None => {
                unreadable_pages.push(number);
                pages.push(Vec::new());
            }
        }
    }
    (pages, unreadable_pages)
}

/// Refuses a PDF whose form XObjects draw themselves (directly or through others) or nest
/// deeper than [`MAX_FORM_DEPTH`]: pdf-extract follows each `Do` into the form's content with
/// no limit, and endless recursion overflows the stack, which aborts the process (no
/// `catch_unwind` stops it). A form without resources of its own is resolved against every
/// resource dictionary of the file (as it may be drawn from any page).
fn check_forms(document: &Document) -> Result<(), String> {
    use pdf_extract::{Object, ObjectId};
    let xobjects_of = |resources: &Object| xobjects_of(document, resources);
    let mut forms: HashMap<ObjectId, &pdf_extract::Stream> = HashMap::new();
    let mut anywhere: Vec<(Vec<u8>, ObjectId)> = Vec::new();
    for (id, object) in &document.objects {
        let dict = match object {
            Object::Stream(stream) => {
                if stream
                    .dict
                    .get(b"Subtype")
                    .and_then(Object::as_name)
                    .is_ok_and(|n| n == b"Form")
                {
                    forms.insert(*id, stream);
                }
                &stream.dict
            }
            Object::Dictionary(dict) => dict,
            _ => continue,
        };
        if let Ok(resources) = dict.get(b"Resources") {
            anywhere.extend(xobjects_of(resources));
        }
    }
    if forms.is_empty() {
        return Ok(());
    }
    // The forms each form draws.
    let mut draws: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    for (id, form) in &forms {
        let own = form.dict.get(b"Resources").ok().map(&xobjects_of);
        let names = own.as_ref().unwrap_or(&anywhere);
        let content = form
            .decompressed_content()
            .unwrap_or_else(|_| form.content.clone());
        let operations = pdf_extract::content::Content::decode(&content)
            .map(|content| content.operations)
            .unwrap_or_default();
        let drawn: Vec<ObjectId> = operations
            .iter()
            .filter(|operation| operation.operator == "Do")
            .filter_map(|operation| operation.operands.first()?.as_name().ok())
            .flat_map(|name| {
                names
                    .iter()
                    .filter(move |(n, _)| n == name)
                    .map(|(_, id)| *id)
            })
            .filter(|target| forms.contains_key(target))
            .collect();
        draws.insert(*id, drawn);
    }
    no_cycle_or_deep_nesting(&draws)
}

/// Whether following `draws` from any form meets the form again, or goes deeper than
/// [`MAX_FORM_DEPTH`]: depth first, with the path on a stack of its own (no recursion).
fn no_cycle_or_deep_nesting(
    draws: &HashMap<pdf_extract::ObjectId, Vec<pdf_extract::ObjectId>>,
) -> Result<(), String> {
    for start in draws.keys() {
        let mut path: Vec<(pdf_extract::ObjectId, usize)> = vec![(*start, 0)];
        while let Some((form, next)) = path.last().copied() {
            let children = &draws[&form];
            if next >= children.len() {
                path.pop();
                continue;
            }
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            let child = children[next];
            if path.iter().any(|(on_path, _)| *on_path == child) {
                return Err(
                    "a drawing in it draws itself (a form XObject cycle): a malformed \
                            or hostile PDF"
                        .to_owned(),
                );
            }
            if path.len() >= MAX_FORM_DEPTH {
                return Err(format!(
                    "drawings nested more than {MAX_FORM_DEPTH} deep (form XObjects): a \
                     malformed or hostile PDF"
                ));
            }
            path.push((child, 0));
        }
    }
    Ok(())
}

/// An object, or what it refers to.
fn deref<'d>(
    document: &'d Document,
    object: &'d pdf_extract::Object,
) -> Option<&'d pdf_extract::Object> {
    match object {
        pdf_extract::Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

/// Every XObject name a resource dictionary gives, with the object it names.
fn xobjects_of(
    document: &Document,
    resources: &pdf_extract::Object,
) -> Vec<(Vec<u8>, pdf_extract::ObjectId)> {
    deref(document, resources)
        .and_then(|resources| resources.as_dict().ok())
        .and_then(|resources| resources.get(b"XObject").ok())
        .and_then(|xobjects| deref(document, xobjects))
        .and_then(|xobjects| xobjects.as_dict().ok())
        .map(|xobjects| {
            xobjects
                .iter()
                .filter_map(|(name, target)| Some((name.clone(), target.as_reference().ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Keeps an image's dictionary but not its data, which text extraction never reads: a PDF
/// of scanned or photographed pages holds about as little in memory as one of text.
///
/// lopdf keeps a top-level object as this leaves it in place (the answer only says whether to
/// keep it) and keeps the answer for an object inside an object stream (never a stream).
fn without_image_data(
    id: pdf_extract::ObjectId,
    object: &mut pdf_extract::Object,
) -> Option<(pdf_extract::ObjectId, pdf_extract::Object)> {
    match object {
        pdf_extract::Object::Stream(stream) => {
            let image = stream
                .dict
                .get(b"Subtype")
                .and_then(pdf_extract::Object::as_name)
                .is_ok_and(|name| name == b"Image");
            if image {
                // One byte, not none: lopdf reads an empty stream again from the file.
                stream.set_content(vec![0]);
            }
            Some((id, pdf_extract::Object::Null))
        }
        other => Some((id, other.clone())),
    }
}

/// Pages a PDF file has, read from its cross-reference and page tree alone (for a progress
/// bar's length); `None` when that cannot be read.
pub(crate) fn page_count(path: &std::path::Path) -> Option<usize> {
    quietly(|| Document::load_metadata(path))?
        .ok()
        .map(|metadata| metadata.page_count as usize)
}

/// The Info dictionary's author, subject and keywords.
fn info(document: &Document) -> Vec<(&'static str, String)> {
    [
        ("author", &b"Author"[..]),
        ("subject", b"Subject"),
        ("keywords", b"Keywords"),
    ]
    .into_iter()
    .filter_map(|(name, key)| Some((name, info_text(document, key)?)))
    .collect()
}

/// A text entry of the Info dictionary, trimmed, if set and not empty.
fn info_text(document: &Document, key: &[u8]) -> Option<String> {
    let info = document
        .trailer
        .get(b"Info")
        .ok()
        .and_then(|info| match info {
            pdf_extract::Object::Reference(id) => document.get_dictionary(*id).ok(),
            pdf_extract::Object::Dictionary(dictionary) => Some(dictionary),
            _ => None,
        })?;
    let value = info.get(key).ok()?;
    let value = match value {
        pdf_extract::Object::Reference(id) => document.get_object(*id).ok()?,
        other => other,
    };
    let text = pdf_extract::decode_text_string(value).ok()?;
    let text = text.trim().replace('\0', "");
    (!text.is_empty()).then_some(text)
}

thread_local! {
    /// Set while the PDF parser runs on this thread: its panics are caught and reported as
    /// a failed file or page, not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `parse` with its panics caught (`None`) and kept off stderr: the parser panics on
/// some malformed files, which are reported as failed like any other broken file.
fn quietly<T>(parse: impl FnOnce() -> T) -> Option<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let result = catch_unwind(AssertUnwindSafe(parse)).ok();
    QUIET.with(|quiet| quiet.set(false));
    result
}

/// One line of a page as read: its text and where it sits (y grows downwards).
#[derive(Debug, Clone, PartialEq)]
struct Line {
    text: String,
    left: f64,
    right: f64,
    /// Baseline, from the top of the page.
    y: f64,
    size: f64,
    /// In the page's top tenth (`Some(true)`) or bottom tenth (`Some(false)`), where running
    /// headers and footers sit.
    edge: Option<bool>,
}

/// Collects a page's glyphs into lines, in the order the page draws them.
#[derive(Default)]
struct PageCollector {
    /// The middle of the page, left to right.
    middle: f64,
    /// The top of the page (y grows upwards in PDF space).
    top: f64,
    height: f64,
    lines: Vec<Line>,
    /// Where the last glyph ended, on the current line.
    last_end: f64,
}

impl OutputDev for PageCollector {
    fn begin_page(
        &mut self,
        _page_num: u32,
        media_box: &MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.middle = (media_box.llx + media_box.urx) / 2.0;
        self.top = media_box.ury;
        self.height = media_box.ury - media_box.lly;
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        text: &str,
    ) -> Result<(), OutputError> {
        // The glyph's origin and size on the page (the text matrix's translation and scale).
        let (x, y) = (trm.m31, self.top - trm.m32);
        let scale_x = font_size * (trm.m11 + trm.m21);
        let scale_y = font_size * (trm.m12 + trm.m22);
        let size = (scale_x * scale_y).abs().sqrt().max(1e-3);
        let end = x + width * size;
        // The same line: about the same baseline (a superscript's too), just after the last
        // glyph, not past a gap as wide as two letters (a column's gutter, a table's cell).
        let same_line = self.lines.last().is_some_and(|line| {
            let size = size.max(line.size);
            (line.y - y).abs() <= size * 0.5
                && x >= self.last_end - size * 0.5
                && x <= self.last_end + size * 2.0
        });
        if !same_line {
            let edge = if y < self.height * 0.1 {
                Some(true)
            } else if y > self.height * 0.9 {
                Some(false)
            } else {
                None
            };
            self.lines.push(Line {
                text: String::new(),
                left: x,
                right: end,
                y,
                size,
                edge,
            });
        } else if let Some(line) = self.lines.last_mut() {
            let gap = x - self.last_end;
            if gap > size * 0.15 && !line.text.ends_with(' ') && !text.starts_with(' ') {
                line.text.push(' ');
            }
        }
        if let Some(line) = self.lines.last_mut() {
            // Codes a font maps to nothing come out as NUL or other control characters:
            // not text (and PostgreSQL text cannot hold a NUL).
            line.text.extend(
                text.chars()
                    .filter(|c| !c.is_control() || c.is_whitespace())
                    .map(|c| if c.is_whitespace() { ' ' } else { c }),
            );
            line.left = line.left.min(x);
            line.right = line.right.max(end);
            line.size = line.size.max(size);
        }
        self.last_end = end;
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

impl PageCollector {
    /// The page's lines in reading order: those of a left column before those of a right one.
    fn into_lines(self) -> Vec<Line> {
        let mut lines: Vec<Line> = self
            .lines
            .into_iter()
            .filter_map(|mut line| {
                let trimmed = line.text.trim();
                if trimmed.is_empty() {
                    return None;
                }
                line.text = trimmed.to_owned();
                Some(line)
            })
            .collect();
        order_columns(&mut lines, self.middle);
        lines
    }
}

/// Where a line sits among two columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Above,
    Left,
    Right,
    Below,
}

/// Puts a two-column page's lines in reading order: lines spanning both columns above them,
/// the left column, the right column, spanning lines below. A page is two columns when at
/// least a quarter of its lines lie in each half and few cross the middle.
fn order_columns(lines: &mut [Line], middle: f64) {
    if lines.len() < 8 {
        return;
    }
    let left = lines.iter().filter(|line| line.right <= middle).count();
    let right = lines.iter().filter(|line| line.left >= middle).count();
    let crossing = lines.len() - left - right;
    if left * 4 < lines.len() || right * 4 < lines.len() || crossing * 5 > lines.len() {
        return;
    }
    let top = lines
        .iter()
        .filter(|line| line.right <= middle || line.left >= middle)
        .map(|line| line.y)
        .fold(f64::INFINITY, f64::min);
    let place = |line: &Line| {
        if line.right <= middle {
            Place::Left
        } else if line.left >= middle {
            Place::Right
        } else if line.y < top {
            Place::Above
        } else {
            Place::Below
        }
    };
    // Stable: each group keeps the order the page drew it in.
    lines.sort_by_key(place);
}

/// Drops running headers and footers: the lines on a page's first baseline in its top tenth
/// (or its last baseline in its bottom tenth) whose text, numbers aside, sits on the same
/// baseline of at least three pages, and those that are only a page number. Needs four
/// pages or more.
fn drop_running_lines(pages: &mut [Vec<Line>]) {
    if pages.len() < 4 {
        return;
    }
    let mut seen: HashMap<RunningKey, usize> = HashMap::new();
    for lines in pages.iter() {
        let mut keys: Vec<RunningKey> = running_candidates(lines)
            .filter_map(|(_, key)| key)
            .collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            *seen.entry(key).or_default() += 1;
        }
    }
    for lines in pages.iter_mut() {
        let running: Vec<usize> = running_candidates(lines)
            .filter(|(line, key)| {
                is_page_number(line.text) || key.as_ref().is_some_and(|key| seen[key] >= 3)
            })
            .map(|(line, _)| line.index)
            .collect();
        let mut index = 0;
        lines.retain(|_| {
            index += 1;
            !running.contains(&(index - 1))
        });
    }
}

/// A running line's identity across pages: top or bottom, baseline (to 2 points), text
/// with numbers as `#`.
type RunningKey = (bool, i64, String);

/// A line where a running header or footer may sit, by its index in the page.
struct EdgeLine<'l> {
    index: usize,
    text: &'l str,
}

/// The lines on a page's first baseline in its top tenth and on its last in its bottom
/// tenth, with their running key (`None` for a line without a letter or digit).
fn running_candidates(lines: &[Line]) -> impl Iterator<Item = (EdgeLine<'_>, Option<RunningKey>)> {
    let first = lines
        .iter()
        .map(|line| line.y)
        .fold(f64::INFINITY, f64::min);
    let last = lines
        .iter()
        .map(|line| line.y)
        .fold(f64::NEG_INFINITY, f64::max);
    lines.iter().enumerate().filter_map(move |(index, line)| {
        let top = match line.edge? {
            true if (line.y - first).abs() < 1.0 => true,
            false if (line.y - last).abs() < 1.0 => false,
            _ => return None,
        };
        let key = running_key(&line.text).map(|text| (top, (line.y / 2.0).round() as i64, text));
        Some((
            EdgeLine {
                index,
                text: &line.text,
            },
            key,
        ))
    })
}

/// A page number alone: up to five digits, or a lower-case roman numeral (front matter).
fn is_page_number(text: &str) -> bool {
    let text = text.trim();
    (!text.is_empty() && text.len() <= 5 && text.chars().all(|c| c.is_ascii_digit()))
        || (!text.is_empty() && text.len() <= 6 && text.chars().all(|c| "ivxlcdm".contains(c)))
}

/// A line's text as running headers repeat it: lower case, runs of digits as `#`, spaces
/// collapsed; `None` for a line without a letter or digit (a brace of code).
fn running_key(text: &str) -> Option<String> {
    if !text.chars().any(char::is_alphanumeric) {
        return None;
    }
    let words: Vec<String> = text
        .split_whitespace()
        .map(|word| {
            let mut key = String::new();
            for c in word.to_lowercase().chars() {
                if c.is_ascii_digit() {
                    if !key.ends_with('#') {
                        key.push('#');
                    }
                } else {
                    key.push(c);
                }
            }
            key
        })
        .collect();
    Some(words.join(" "))
}

/// A page's text from its lines: a blank line where the gap between two lines is wider than
/// a line and a half (a new paragraph), a word hyphenated at a line's end joined.
fn page_text(lines: &[Line]) -> String {
    let mut text = String::new();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            let previous = &lines[index - 1];
            let gap = line.y - previous.y;
            let paragraph = gap > previous.size.max(line.size) * 1.8 || gap < 0.0;
            let hyphenated = !paragraph
                && text.ends_with('-')
                && !text.ends_with("--")
                && text[..text.len() - 1]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphabetic)
                && line.text.chars().next().is_some_and(char::is_lowercase);
            if hyphenated {
                text.pop();
            } else {
                text.push_str(if paragraph { "\n\n" } else { "\n" });
            }
        }
        text.push_str(&line.text);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, y: f64) -> Line {
        Line {
            text: text.to_owned(),
            left: 72.0,
            right: 500.0,
            y,
            size: 10.0,
            edge: (y < 79.2).then_some(true).or((y > 712.8).then_some(false)),
        }
    }

    #[test]
    fn hyphenation_at_a_line_end_is_joined_and_paragraphs_are_kept() {
        let lines = [
            line("a sentence with an exam-", 100.0),
            line("ple that ends here --", 112.0),
            line("and goes on.", 124.0),
            line("A new paragraph -", 150.0),
            line("Upper stays", 162.0),
        ];
        // A compound broken at its own hyphen ("well-known") loses it too: nothing tells
        // the two apart without a dictionary.
        assert_eq!(
            page_text(&lines),
            "a sentence with an example that ends here --\nand goes on.\n\nA new paragraph -\nUpper stays"
        );
    }

    #[test]
    fn running_headers_and_page_numbers_are_dropped_and_body_lines_kept() {
        let mut pages: Vec<Vec<Line>> = (1..=6)
            .map(|n| {
                vec![
                    line(&format!("Chapter 1: Getting started {}", n + 3), 40.0),
                    line(&format!("Body text of page {n} that differs."), 100.0),
                    line("The same line on every page, in the body.", 400.0),
                    line("}", 700.0),
                    line(&format!("{}", n + 3), 760.0),
                ]
            })
            .collect();
        // Lines at the edges that are not running: a list of numbers, a capital I, a
        // line repeated at another height.
        pages[0][0] = line("1 2 3 4 5", 40.0);
        pages[1][4] = line("I", 760.0);
        pages[2][0] = line("Chapter 1: Getting started 9", 52.0);
        drop_running_lines(&mut pages);
        let texts: Vec<Vec<&str>> = pages
            .iter()
            .map(|lines| lines.iter().map(|line| line.text.as_str()).collect())
            .collect();
        let body = |n: usize| format!("Body text of page {n} that differs.");
        let same = "The same line on every page, in the body.";
        assert_eq!(texts[0], ["1 2 3 4 5", body(1).as_str(), same, "}"]);
        assert_eq!(texts[1], [body(2).as_str(), same, "}", "I"]);
        assert_eq!(
            texts[2],
            ["Chapter 1: Getting started 9", body(3).as_str(), same, "}"]
        );
        for (n, page) in texts.iter().enumerate().skip(3) {
            assert_eq!(*page, [body(n + 1).as_str(), same, "}"]);
        }
    }

    #[test]
    fn two_columns_are_read_left_then_right() {
        let mut lines = Vec::new();
        for row in 0..6 {
            let y = 100.0 + row as f64 * 12.0;
            lines.push(Line {
                text: format!("left {row}"),
                left: 50.0,
                right: 280.0,
                y,
                size: 10.0,
                edge: None,
            });
            lines.push(Line {
                text: format!("right {row}"),
                left: 320.0,
                right: 560.0,
                y,
                size: 10.0,
                edge: None,
            });
        }
        lines.insert(0, line("A title across both", 60.0));
        order_columns(&mut lines, 306.0);
        let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
        let expected: Vec<String> = std::iter::once("A title across both".to_owned())
            .chain((0..6).map(|row| format!("left {row}")))
            .chain((0..6).map(|row| format!("right {row}")))
            .collect();
        assert_eq!(texts, expected);
    }
}
