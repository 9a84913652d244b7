//! Word and OpenDocument files in, made here as ZIP archives of their XML parts: paragraphs
//! and headings in order, table rows as lines of cells, deleted text and notes left out, the
//! title and author from the properties, pages where the file recorded its breaks; broken
//! files fail with a reason.

use std::io::Write as _;
use std::path::Path;

use aiblox_ingest::{Loaded, documents};

/// A ZIP archive of `(name, text)` parts.
fn archive(path: &Path, parts: &[(&str, &str)]) {
    let mut writer = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in parts {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(text.as_bytes()).unwrap();
    }
    writer.finish().unwrap();
}

fn load(path: &Path) -> Loaded {
    documents(&[path.to_path_buf()]).next().unwrap()
}

fn document(path: &Path) -> aiblox_ingest::Document {
    match load(path) {
        Loaded::Document(document) => document,
        other => panic!("{} did not load: {other:?}", path.display()),
    }
}

fn failure(path: &Path) -> String {
    match load(path) {
        Loaded::Failed(failure) => failure.reason,
        other => panic!("{} should fail: {other:?}", path.display()),
    }
}

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

fn paragraph(runs: &str) -> String {
    format!("<w:p><w:r>{runs}</w:r></w:p>")
}

#[test]
fn a_word_file_gives_its_paragraphs_tables_title_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.docx");
    let body = [
        r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:t>Storage</w:t></w:r></w:p>"#.to_owned(),
        paragraph(r#"<w:t xml:space="preserve">Vacuum reclaims </w:t></w:r><w:r><w:t>space.</w:t><w:tab/><w:t>Tabbed.</w:t>"#),
        paragraph(r#"<w:delText>deleted words</w:delText><w:instrText>PAGE \* MERGEFORMAT</w:instrText><w:t>Kept words.</w:t>"#),
        "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Setting</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Default</w:t></w:r></w:p></w:tc></w:tr>\
         <w:tr><w:tc><w:p><w:r><w:t>work_mem</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>4MB</w:t></w:r></w:p></w:tc></w:tr></w:tbl>".to_owned(),
        paragraph(r#"<w:lastRenderedPageBreak/><w:t>Second page opens here.</w:t>"#),
        // An author's break, and where Word laid out the page after it.
        paragraph(
            r#"<w:t>Before the break.</w:t><w:br w:type="page"/><w:lastRenderedPageBreak/><w:t>Third page.</w:t>"#,
        ),
    ]
    .concat();
    archive(
        &path,
        &[
            (
                "word/document.xml",
                &format!("<w:document {W}><w:body>{body}<w:sectPr/></w:body></w:document>"),
            ),
            (
                "docProps/core.xml",
                r#"<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Storage Report</dc:title><dc:creator>A. Writer</dc:creator><cp:keywords>vacuum, storage</cp:keywords></cp:coreProperties>"#,
            ),
        ],
    );
    let document = document(&path);
    assert_eq!(
        document.content,
        "Storage\n\nVacuum reclaims space.\tTabbed.\n\nKept words.\n\nSetting | Default\n\n\
         work_mem | 4MB\n\nSecond page opens here.\n\nBefore the break.\nThird page."
    );
    assert_eq!(document.title.as_deref(), Some("Storage Report"));
    assert_eq!(document.metadata["author"], "A. Writer");
    assert_eq!(document.metadata["keywords"], "vacuum, storage");
    assert_eq!(document.metadata["aiblox"]["format"], "docx");
    let starts = document.page_starts.clone().unwrap();
    let page = |n: usize| {
        let end = starts
            .get(n)
            .map_or(document.content.len(), |next| *next as usize);
        &document.content[starts[n - 1] as usize..end]
    };
    assert_eq!(
        starts.len(),
        3,
        "rendered breaks only, not the explicit one twice: {starts:?}"
    );
    assert!(
        page(2).starts_with("Second page opens here."),
        "{:?}",
        page(2)
    );
    assert_eq!(page(3), "Third page.");
}

/// A file with an author's breaks only: a cover page of an image (no text), two breaks in a
/// row (a blank page), and a break as a paragraph's last thing: every page counted, empty
/// ones included, each starting where its first text does.
#[test]
fn explicit_breaks_count_empty_pages_and_a_break_at_a_paragraphs_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cover.docx");
    let page_break = r#"<w:br w:type="page"/>"#;
    let body = [
        paragraph(&format!("<w:drawing/>{page_break}")),
        paragraph("<w:t>Page two.</w:t>"),
        paragraph(&format!(
            "{page_break}{page_break}<w:t>Page four.</w:t>{page_break}"
        )),
        paragraph("<w:t>Page five.</w:t>"),
    ]
    .concat();
    archive(
        &path,
        &[(
            "word/document.xml",
            &format!("<w:document {W}><w:body>{body}</w:body></w:document>"),
        )],
    );
    let document = document(&path);
    assert_eq!(document.content, "Page two.\n\nPage four.\n\nPage five.");
    // Page one (the cover) and page three are empty: they start where the next page does.
    assert_eq!(document.page_starts, Some(vec![0, 0, 11, 11, 23]));
    assert_eq!(document.title.as_deref(), Some("Page two."));
}

#[test]
fn an_opendocument_file_gives_its_text_without_notes_and_its_soft_page_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.odt");
    let content = r#"<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0">
<office:automatic-styles><style:style xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0">not text</style:style></office:automatic-styles>
<office:body><office:text>
<text:h text:outline-level="1">Replication</text:h>
<text:p>A standby<text:s text:c="2"/>follows the <text:span>primary</text:span>.<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>A note left out.</text:p></text:note-body></text:note></text:p>
<table:table><table:table-row><table:table-cell><text:p>lag</text:p></table:table-cell><table:table-cell><text:p>1 s</text:p></table:table-cell></table:table-row></table:table>
<text:soft-page-break/>
<text:list><text:list-item><text:p>A listed point on page two.</text:p></text:list-item></text:list>
</office:text></office:body></office:document-content>"#;
    archive(
        &path,
        &[
            ("mimetype", "application/vnd.oasis.opendocument.text"),
            ("content.xml", content),
            (
                "meta.xml",
                r#"<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"><office:meta><meta:initial-creator>B. Author</meta:initial-creator><meta:keyword>wal</meta:keyword><meta:keyword>standby</meta:keyword></office:meta></office:document-meta>"#,
            ),
        ],
    );
    let document = document(&path);
    assert_eq!(
        document.content,
        "Replication\n\nA standby  follows the primary.1\n\nlag | 1 s\n\nA listed point on page two."
    );
    assert_eq!(
        document.title.as_deref(),
        Some("Replication"),
        "no title: the first line"
    );
    assert_eq!(document.metadata["author"], "B. Author");
    assert_eq!(document.metadata["keywords"], "wal, standby");
    let starts = document.page_starts.clone().unwrap();
    assert_eq!(starts.len(), 2);
    assert_eq!(
        &document.content[starts[1] as usize..],
        "A listed point on page two."
    );
}

#[test]
fn broken_office_files_fail_with_their_reason_and_deep_nesting_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let not_zip = dir.path().join("plain.docx");
    std::fs::write(&not_zip, "just text").unwrap();
    assert!(failure(&not_zip).contains("not a ZIP archive"));

    let empty = dir.path().join("empty.docx");
    archive(&empty, &[("other.xml", "<a/>")]);
    assert!(failure(&empty).contains("it has no word/document.xml"));

    let malformed = dir.path().join("malformed.odt");
    archive(
        &malformed,
        &[("content.xml", "<office:document-content><text:p>")],
    );
    assert!(failure(&malformed).contains("content.xml is not well-formed XML"));

    // A million nested elements: read without overflowing the stack, the deep part left out.
    let deep = dir.path().join("deep.docx");
    let nesting = 1_000_000;
    let xml = format!(
        "<w:document {W}><w:body>{}{}<w:p><w:r><w:t>shallow</w:t></w:r></w:p></w:body></w:document>",
        "<w:x>".repeat(nesting),
        "</w:x>".repeat(nesting)
    );
    archive(&deep, &[("word/document.xml", &xml)]);
    assert_eq!(document(&deep).content, "shallow");
}

/// An EPUB book: its chapters in the spine's order (not the manifest's), read as HTML, the
/// title and author from the package; a book without its container fails.
#[test]
fn an_epub_book_gives_its_chapters_in_reading_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("book.epub");
    let chapter = |title: &str, text: &str| {
        format!(
            "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{text}</p></body></html>"
        )
    };
    archive(
        &path,
        &[
            ("mimetype", "application/epub+zip"),
            (
                "META-INF/container.xml",
                r#"<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#,
            ),
            (
                "OEBPS/content.opf",
                r#"<package xmlns="http://www.idpf.org/2007/opf" xmlns:dc="http://purl.org/dc/elements/1.1/"><metadata><dc:title>A Small Book</dc:title><dc:creator>C. Author</dc:creator></metadata>
<manifest><item id="b" href="text/two.xhtml" media-type="application/xhtml+xml"/><item id="a" href="text/one%20a.xhtml" media-type="application/xhtml+xml"/></manifest>
<spine><itemref idref="a"/><itemref idref="b"/></spine></package>"#,
            ),
            (
                "OEBPS/text/one a.xhtml",
                &chapter("One", "The first chapter."),
            ),
            (
                "OEBPS/text/two.xhtml",
                &chapter("Two", "The second chapter."),
            ),
        ],
    );
    let document = document(&path);
    assert_eq!(
        document.content,
        "One\n\nThe first chapter.\n\nTwo\n\nThe second chapter."
    );
    assert_eq!(document.title.as_deref(), Some("A Small Book"));
    assert_eq!(document.metadata["author"], "C. Author");
    assert_eq!(document.metadata["aiblox"]["format"], "epub");
    assert_eq!(document.page_starts, None, "a book has no fixed pages");

    let broken = dir.path().join("broken.epub");
    archive(&broken, &[("mimetype", "application/epub+zip")]);
    assert!(failure(&broken).contains("it has no META-INF/container.xml"));
}
