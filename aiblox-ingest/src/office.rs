//! Word (`.docx`) and OpenDocument (`.odt`) files to text: paragraphs and headings in order,
//! each table row as one line of its cells (` | ` between them), the title and author from the
//! document's properties, and page starts where the file records its page breaks (Word's last
//! rendered breaks and explicit ones, OpenDocument's soft ones). EPUB books (`.epub`): their
//! chapters' XHTML in reading order (the package's spine), read as HTML is.

use std::io::Read as _;

use roxmltree::Node;

use crate::metadata::first_line_title;
use crate::pdf::MAX_TEXT_BYTES;

/// Largest office file read: its images are never unpacked, only its XML parts.
pub(crate) const MAX_OFFICE_BYTES: u64 = 256 * 1024 * 1024;

/// Largest XML part read (the text of a 1,000-page report is a few MB of XML).
const MAX_PART_BYTES: u64 = 32 * 1024 * 1024;

/// Most XML nodes parsed of one part (a 1,000-page report has a few hundred thousand).
const MAX_NODES: u32 = 4_000_000;

/// Deepest element walked: content nested deeper (never in a real document; a crafted file
/// could nest a million) is left out rather than overflow the stack.
const MAX_DEPTH: usize = 256;

/// What an office document holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct OfficeText {
    pub(crate) title: Option<String>,
    /// Author, subject and keywords, where the properties set them.
    pub(crate) info: Vec<(&'static str, String)>,
    pub(crate) content: String,
    /// Where each page starts in `content`, when the file records page breaks.
    pub(crate) page_starts: Option<Vec<u32>>,
}

/// The two formats, by where they keep their parts and how they name their elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfficeFormat {
    Docx,
    Odt,
}

impl OfficeFormat {
    fn body_part(self) -> &'static str {
        match self {
            OfficeFormat::Docx => "word/document.xml",
            OfficeFormat::Odt => "content.xml",
        }
    }

    fn properties_part(self) -> &'static str {
        match self {
            OfficeFormat::Docx => "docProps/core.xml",
            OfficeFormat::Odt => "meta.xml",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            OfficeFormat::Docx => "docx",
            OfficeFormat::Odt => "odt",
        }
    }
}

/// The text of an office document's bytes; why not.
pub(crate) fn read(bytes: &[u8], format: OfficeFormat) -> Result<OfficeText, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|err| {
        format!(
            "not a readable .{} file (not a ZIP archive: {err}); a password-protected file \
             must have its password removed to be ingested",
            format.extension()
        )
    })?;
    let body = part(&mut archive, format.body_part())?.ok_or_else(|| {
        format!(
            "not a .{} file: it has no {}",
            format.extension(),
            format.body_part()
        )
    })?;
    let document = parse(&body, format.body_part())?;
    let mut flow = Flow::default();
    walk(document.root(), format, &mut flow, 0);
    let (content, page_starts) = flow.finish()?;
    let (title, info) = match part(&mut archive, format.properties_part())? {
        Some(xml) => properties(&parse(&xml, format.properties_part())?),
        None => (None, Vec::new()),
    };
    let title = title.or_else(|| first_line_title(&content));
    Ok(OfficeText {
        title,
        info,
        content,
        page_starts,
    })
}

/// The text of an EPUB book's bytes: each chapter of the package's spine, in order, as HTML
/// is read (a blank line between chapters); the title and author from the package's
/// metadata. A book has no fixed pages: none are given.
pub(crate) fn read_epub(bytes: &[u8]) -> Result<OfficeText, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|err| format!("not a readable .epub file (not a ZIP archive: {err})"))?;
    let container_name = "META-INF/container.xml";
    let container = part(&mut archive, container_name)?
        .ok_or_else(|| format!("not an .epub file: it has no {container_name}"))?;
    let package_name = parse(&container, container_name)?
        .descendants()
        .find(|node| node.tag_name().name() == "rootfile")
        .and_then(|node| node.attribute("full-path"))
        .map(str::to_owned)
        .ok_or_else(|| format!("its {container_name} names no package (rootfile)"))?;
    let package_xml = part(&mut archive, &package_name)?
        .ok_or_else(|| format!("its package {package_name} is missing"))?;
    let package = parse(&package_xml, &package_name)?;
    let hrefs: std::collections::HashMap<&str, &str> = package
        .descendants()
        .filter(|node| node.tag_name().name() == "item")
        .filter_map(|node| Some((node.attribute("id")?, node.attribute("href")?)))
        .collect();
    let base = package_name.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut content = String::new();
    for idref in package
        .descendants()
        .filter(|node| node.tag_name().name() == "itemref")
        .filter_map(|node| node.attribute("idref"))
    {
        let Some(href) = hrefs.get(idref) else {
            continue;
        };
        let Some(chapter) = part(&mut archive, &joined(base, href))? else {
            continue;
        };
        let text = crate::html::extract(&chapter).text;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if content.len() + text.len() > MAX_TEXT_BYTES {
            return Err(format!(
                "more than {MAX_TEXT_BYTES} bytes of text, the most kept of one document"
            ));
        }
        if !content.is_empty() {
            content.push_str("\n\n");
        }
        content.push_str(text);
    }
    let (title, info) = properties(&package);
    Ok(OfficeText {
        title,
        info,
        content,
        page_starts: None,
    })
}

/// A path of the archive from a package's folder and a relative reference (`../`, `./` and
/// `%20` resolved).
fn joined(base: &str, href: &str) -> String {
    let href = href
        .split('#')
        .next()
        .unwrap_or_default()
        .replace("%20", " ");
    let mut parts: Vec<&str> = base.split('/').filter(|part| !part.is_empty()).collect();
    for piece in href.split('/') {
        match piece {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// One part of the archive as text, at most [`MAX_PART_BYTES`]; `None` when absent.
fn part(
    archive: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
) -> Result<Option<String>, String> {
    let entry = match archive.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(err) => return Err(format!("cannot read its {name}: {err}")),
    };
    let mut text = String::new();
    entry
        .take(MAX_PART_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|err| format!("cannot read its {name}: {err}"))?;
    if text.len() as u64 > MAX_PART_BYTES {
        return Err(format!(
            "its {name} is larger than {MAX_PART_BYTES} bytes unpacked"
        ));
    }
    Ok(Some(text))
}

fn parse<'x>(xml: &'x str, name: &str) -> Result<roxmltree::Document<'x>, String> {
    let options = roxmltree::ParsingOptions {
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(xml, options)
        .map_err(|err| format!("its {name} is not well-formed XML, or too large: {err}"))
}

/// The title, and the author, subject and keywords, of a properties part (Dublin Core in every
/// format).
fn properties(document: &roxmltree::Document<'_>) -> PropertiesFound {
    let found = properties_named(document);
    let mut title = None;
    let mut info = Vec::new();
    for (name, value) in found {
        match name {
            "title" => title = Some(value),
            other => info.push((other, value)),
        }
    }
    (title, info)
}

/// A title, and other properties by name.
type PropertiesFound = (Option<String>, Vec<(&'static str, String)>);

/// Each property a properties part sets, by name, keywords joined.
fn properties_named(document: &roxmltree::Document<'_>) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    let mut keywords = Vec::new();
    for node in document.descendants().filter(Node::is_element) {
        let text = node.text().map(str::trim).unwrap_or_default();
        if text.is_empty() {
            continue;
        }
        let name = match node.tag_name().name() {
            "title" => "title",
            "creator" | "initial-creator" => "author",
            "subject" => "subject",
            "keywords" | "keyword" => {
                keywords.push(text.to_owned());
                continue;
            }
            _ => continue,
        };
        if !found.iter().any(|(known, _)| *known == name) {
            found.push((name, text.to_owned()));
        }
    }
    if !keywords.is_empty() {
        found.push(("keywords", keywords.join(", ")));
    }
    found
}

/// How a file recorded a page break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Break {
    /// Where the page ended when the file was last laid out (Word's last rendered break,
    /// OpenDocument's soft break): every page, when the file has them.
    Rendered,
    /// A break its author put in (Word's page break): the only ones some files have.
    Explicit,
}

/// The text being built: finished paragraphs, the open one, the open table row's cells, and
/// page breaks met.
#[derive(Default)]
struct Flow {
    content: String,
    paragraph: String,
    /// Page breaks within the open paragraph, by offset in it.
    breaks: Vec<(usize, Break)>,
    /// Breaks whose page starts with the next paragraph (met at a paragraph's end, in an
    /// empty one, or in a table).
    pending: Vec<Break>,
    /// Page starts in `content` past the first page's, by how the file recorded them.
    rendered: Vec<u32>,
    explicit: Vec<u32>,
    /// Cells of the open table row (tables may nest: a cell's table joins its cell).
    rows: Vec<Vec<String>>,
    /// Text past [`MAX_TEXT_BYTES`] was met (and not kept).
    too_long: bool,
}

impl Flow {
    fn text(&mut self, text: &str) {
        if self.content.len() + self.paragraph.len() + text.len() > MAX_TEXT_BYTES {
            self.too_long = true;
            return;
        }
        self.paragraph.push_str(text);
    }

    fn page_break(&mut self, kind: Break) {
        self.breaks.push((self.paragraph.len(), kind));
    }

    fn record(&mut self, at: usize, kind: Break) {
        let at = u32::try_from(at).unwrap_or(u32::MAX);
        match kind {
            Break::Rendered => self.rendered.push(at),
            Break::Explicit => self.explicit.push(at),
        }
    }

    /// Ends a paragraph: into the open table cell, or into the content after a blank line.
    fn end_paragraph(&mut self) {
        let paragraph = std::mem::take(&mut self.paragraph);
        let breaks = std::mem::take(&mut self.breaks);
        if let Some(cells) = self.rows.last_mut() {
            if let Some(cell) = cells.last_mut() {
                if !cell.is_empty() && !paragraph.trim().is_empty() {
                    cell.push(' ');
                }
                cell.push_str(paragraph.trim());
            }
            self.pending.extend(breaks.iter().map(|(_, kind)| *kind));
            return;
        }
        let trimmed = paragraph.trim_end();
        let leading = trimmed.len() - trimmed.trim_start().len();
        let text = trimmed.trim_start();
        if text.is_empty() {
            self.pending.extend(breaks.iter().map(|(_, kind)| *kind));
            return;
        }
        if !self.content.is_empty() {
            self.content.push_str("\n\n");
        }
        let start = self.content.len();
        for kind in std::mem::take(&mut self.pending) {
            self.record(start, kind);
        }
        let mut at_end = Vec::new();
        for (offset, kind) in breaks {
            let offset = offset.saturating_sub(leading);
            if offset >= text.len() {
                at_end.push(kind);
            } else {
                // Offsets fall between pieces of text: on character boundaries.
                self.record(start + offset, kind);
            }
        }
        self.pending = at_end;
        self.content.push_str(text);
    }

    fn start_row(&mut self) {
        self.end_paragraph();
        self.rows.push(Vec::new());
    }

    fn start_cell(&mut self) {
        if let Some(cells) = self.rows.last_mut() {
            cells.push(String::new());
        }
    }

    /// Ends a table row: one line of its cells.
    fn end_row(&mut self) {
        self.end_paragraph();
        if let Some(cells) = self.rows.pop() {
            let line = cells
                .iter()
                .map(|cell| cell.trim())
                .collect::<Vec<_>>()
                .join(" | ");
            if line.chars().any(|c| c != '|' && !c.is_whitespace()) {
                self.paragraph = line;
                self.end_paragraph();
            }
        }
    }

    /// The content, and its page starts when the file recorded breaks: its rendered breaks
    /// when it has any (Word records both kinds for an author's break), else its explicit
    /// ones; pages after the last text start at its end. `None` past [`aiblox_kb::MAX_PAGES`].
    fn finish(mut self) -> Result<(String, Option<Vec<u32>>), String> {
        self.end_paragraph();
        if self.too_long {
            return Err(format!(
                "more than {MAX_TEXT_BYTES} bytes of text, the most kept of one document"
            ));
        }
        let end = self.content.len();
        for kind in std::mem::take(&mut self.pending) {
            self.record(end, kind);
        }
        let breaks = if self.rendered.is_empty() {
            self.explicit
        } else {
            self.rendered
        };
        if breaks.is_empty() || breaks.len() >= aiblox_kb::MAX_PAGES {
            return Ok((self.content, None));
        }
        let mut starts = Vec::with_capacity(breaks.len() + 1);
        starts.push(0);
        starts.extend(breaks);
        Ok((self.content, Some(starts)))
    }
}

/// Walks the body in document order, feeding `flow`, down to [`MAX_DEPTH`].
fn walk(node: Node<'_, '_>, format: OfficeFormat, flow: &mut Flow, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match format {
        OfficeFormat::Docx => walk_docx(node, flow, depth),
        OfficeFormat::Odt => walk_odt(node, flow, depth),
    }
}

fn walk_children(node: Node<'_, '_>, format: OfficeFormat, flow: &mut Flow, depth: usize) {
    for child in node.children() {
        walk(child, format, flow, depth + 1);
    }
}

/// WordprocessingML: `w:p` paragraphs of `w:r` runs of `w:t` text, `w:tab`, `w:br`
/// (`w:type="page"` a page break), `w:lastRenderedPageBreak`; `w:tbl` of `w:tr` of `w:tc`.
/// Deleted text and field instructions are not text.
fn walk_docx(node: Node<'_, '_>, flow: &mut Flow, depth: usize) {
    let format = OfficeFormat::Docx;
    if !node.is_element() {
        if node.is_root() {
            walk_children(node, format, flow, depth);
        }
        return;
    }
    match node.tag_name().name() {
        "p" => {
            walk_children(node, format, flow, depth);
            flow.end_paragraph();
        }
        "t" => flow.text(node.text().unwrap_or_default()),
        "tab"
            if node
                .parent()
                .is_some_and(|parent| parent.tag_name().name() == "r") =>
        {
            flow.text("\t");
        }
        "br" | "cr" => {
            flow.text("\n");
            let page = node
                .attributes()
                .any(|attribute| attribute.name() == "type" && attribute.value() == "page");
            if page {
                flow.page_break(Break::Explicit);
            }
        }
        "lastRenderedPageBreak" => flow.page_break(Break::Rendered),
        "tr" => {
            flow.start_row();
            walk_children(node, format, flow, depth);
            flow.end_row();
        }
        "tc" => {
            flow.start_cell();
            walk_children(node, format, flow, depth);
        }
        // Deleted text and field codes are not text; a text box's Fallback repeats its Choice.
        "delText" | "instrText" | "pPr" | "rPr" | "sectPr" | "tblPr" | "trPr" | "tcPr"
        | "Fallback" => {}
        _ => walk_children(node, format, flow, depth),
    }
}

/// OpenDocument text: `text:p` and `text:h` with their spans and links, `text:s` (spaces),
/// `text:tab`, `text:line-break`, `text:soft-page-break`; `table:table-row` of
/// `table:table-cell`. Notes' bodies and styles are not text.
fn walk_odt(node: Node<'_, '_>, flow: &mut Flow, depth: usize) {
    let format = OfficeFormat::Odt;
    if node.is_text() {
        let inside_paragraph = node.ancestors().any(|ancestor| {
            ancestor.is_element() && matches!(ancestor.tag_name().name(), "p" | "h")
        });
        if inside_paragraph {
            flow.text(node.text().unwrap_or_default());
        }
        return;
    }
    if !node.is_element() {
        if node.is_root() {
            walk_children(node, format, flow, depth);
        }
        return;
    }
    match node.tag_name().name() {
        "p" | "h" => {
            walk_children(node, format, flow, depth);
            flow.end_paragraph();
        }
        "s" => {
            let count = node
                .attributes()
                .find(|attribute| attribute.name() == "c")
                .and_then(|attribute| attribute.value().parse::<usize>().ok())
                .unwrap_or(1)
                .min(1_000);
            flow.text(&" ".repeat(count));
        }
        "tab" => flow.text("\t"),
        "line-break" => flow.text("\n"),
        "soft-page-break" => flow.page_break(Break::Rendered),
        "table-row" => {
            flow.start_row();
            walk_children(node, format, flow, depth);
            flow.end_row();
        }
        "table-cell" => {
            flow.start_cell();
            walk_children(node, format, flow, depth);
        }
        "note-body" | "automatic-styles" | "styles" | "font-face-decls" | "scripts"
        | "tracked-changes" => {}
        _ => walk_children(node, format, flow, depth),
    }
}
