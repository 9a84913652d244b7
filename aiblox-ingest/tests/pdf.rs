//! PDFs in, made here with lopdf (through pdf-extract, which re-exports it): each page's text
//! where it belongs, two columns in reading order, hyphenation joined, running headers and
//! page numbers dropped, non-Latin text, empty pages; encrypted files with an empty password
//! read and others failed; scans, truncated files and oversized files failed with a reason
//! while the other files still load, through the binary and into the knowledge base.

use std::path::Path;
use std::process::Command;

use aiblox_ingest::{Loaded, documents};
use aiblox_kb::ItemRepo;
use aiblox_kb_testkit::TestKb;
use pdf_extract::content::{Content, Operation};
use pdf_extract::{Document, Object, Stream, StringFormat, dictionary};

/// Text drawn at `(x, y)` (points from the bottom left) in `font` (`F1` Helvetica, `F2` a
/// composite font whose codes map to Cyrillic) at `size`.
struct Run {
    x: f64,
    y: f64,
    size: f64,
    font: &'static str,
    bytes: Vec<u8>,
}

fn text(x: f64, y: f64, text: &str) -> Run {
    Run {
        x,
        y,
        size: 11.0,
        font: "F1",
        // WinAnsi: Latin-1 for the accented letters these tests use.
        bytes: text
            .chars()
            .map(|c| u8::try_from(c as u32).unwrap())
            .collect(),
    }
}

/// Lines of body text from the top of a letter-size page, 14 points apart.
fn lines(x: f64, first_y: f64, texts: &[&str]) -> Vec<Run> {
    texts
        .iter()
        .enumerate()
        .map(|(n, line)| text(x, first_y - 14.0 * n as f64, line))
        .collect()
}

/// The Cyrillic letters of the composite font, code 1 onwards.
const CYRILLIC: &str = "Привет мир";

fn cyrillic(x: f64, y: f64) -> Run {
    Run {
        x,
        y,
        size: 11.0,
        font: "F2",
        bytes: (1..=CYRILLIC.chars().count() as u16)
            .flat_map(u16::to_be_bytes)
            .collect(),
    }
}

/// A PDF of these pages (each a list of runs; an image-only page is `None`), with an Info
/// title when given.
fn pdf(pages: &[Option<Vec<Run>>], title: Option<&str>) -> Document {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let helvetica = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let cmap: String = CYRILLIC
        .chars()
        .enumerate()
        .map(|(n, c)| format!("<{:04X}> <{:04X}>\n", n + 1, c as u32))
        .collect();
    let to_unicode = doc.add_object(Stream::new(
        dictionary! {},
        format!(
            "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
             /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
             /CMapName /Adobe-Identity-UCS def /CMapType 2 def\n\
             1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
             {} beginbfchar\n{cmap}endbfchar\nendcmap CMapName currentdict /CMap defineresource pop end end",
            CYRILLIC.chars().count()
        )
        .into_bytes(),
    ));
    let descriptor = doc.add_object(dictionary! {
        "Type" => "FontDescriptor", "FontName" => "Cyr", "Flags" => 32,
        "FontBBox" => vec![0.into(), (-200).into(), 1000.into(), 800.into()],
        "ItalicAngle" => 0, "Ascent" => 800, "Descent" => -200, "CapHeight" => 700,
        "StemV" => 80,
    });
    let descendant = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "CIDFontType2", "BaseFont" => "Cyr",
        "CIDSystemInfo" => dictionary! {
            "Registry" => Object::string_literal("Adobe"),
            "Ordering" => Object::string_literal("Identity"),
            "Supplement" => 0,
        },
        "DW" => 600,
        "FontDescriptor" => descriptor,
    });
    let composite = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type0", "BaseFont" => "Cyr",
        "Encoding" => "Identity-H",
        "DescendantFonts" => vec![descendant.into()],
        "ToUnicode" => to_unicode,
    });
    let image = doc.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => 2, "Height" => 2,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
        },
        vec![0, 255, 255, 0],
    ));
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => helvetica, "F2" => composite },
        "XObject" => dictionary! { "Im1" => image },
    });
    let mut kids = Vec::new();
    for page in pages {
        let operations = match page {
            Some(runs) => runs
                .iter()
                .flat_map(|run| {
                    [
                        Operation::new("BT", vec![]),
                        Operation::new("Tf", vec![run.font.into(), run.size.into()]),
                        Operation::new("Td", vec![run.x.into(), run.y.into()]),
                        Operation::new(
                            "Tj",
                            vec![Object::String(run.bytes.clone(), StringFormat::Literal)],
                        ),
                        Operation::new("ET", vec![]),
                    ]
                })
                .collect(),
            None => vec![
                Operation::new("q", vec![]),
                Operation::new(
                    "cm",
                    vec![
                        500.into(),
                        0.into(),
                        0.into(),
                        700.into(),
                        50.into(),
                        50.into(),
                    ],
                ),
                Operation::new("Do", vec!["Im1".into()]),
                Operation::new("Q", vec![]),
            ],
        };
        let content = Content { operations }.encode().unwrap();
        let contents = doc.add_object(Stream::new(dictionary! {}, content));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => contents,
        });
        kids.push(page.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    if let Some(title) = title {
        let info = doc.add_object(dictionary! {
            "Title" => Object::string_literal(title),
            "Author" => Object::string_literal("A. Writer"),
        });
        doc.trailer.set("Info", info);
    }
    doc.trailer.set(
        "ID",
        vec![
            Object::string_literal("0123456789abcdef"),
            Object::string_literal("0123456789abcdef"),
        ],
    );
    doc
}

/// Replaces the XObjects of the pages' shared resources (those [`pdf`] made).
fn set_xobjects(doc: &mut Document, xobjects: pdf_extract::Dictionary) {
    let resources = doc
        .objects
        .values_mut()
        .find_map(|object| {
            let dict = object.as_dict_mut().ok()?;
            dict.has(b"XObject").then_some(dict)
        })
        .unwrap();
    resources.set("XObject", xobjects);
}

fn save(doc: &mut Document, path: &Path) {
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn encrypted(mut doc: Document, user_password: &str) -> Document {
    let state = pdf_extract::EncryptionState::try_from(pdf_extract::EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password,
        key_length: 128,
        permissions: pdf_extract::Permissions::all(),
    })
    .unwrap();
    doc.encrypt(&state).unwrap();
    doc
}

/// Each page's text of a loaded document, by its page starts.
fn page_texts(document: &aiblox_ingest::Document) -> Vec<&str> {
    let starts = document
        .page_starts
        .as_ref()
        .expect("a PDF has page starts");
    let content = &document.content;
    starts
        .iter()
        .enumerate()
        .map(|(n, start)| {
            let end = starts
                .get(n + 1)
                .map_or(content.len(), |next| *next as usize);
            content[*start as usize..end].trim()
        })
        .collect()
}

fn load_one(path: &Path) -> Loaded {
    let mut loaded: Vec<Loaded> = documents(&[path.to_path_buf()]).collect();
    assert_eq!(loaded.len(), 1);
    loaded.remove(0)
}

fn document(path: &Path) -> aiblox_ingest::Document {
    match load_one(path) {
        Loaded::Document(document) => document,
        other => panic!("{} did not load: {other:?}", path.display()),
    }
}

fn failure(path: &Path) -> String {
    match load_one(path) {
        Loaded::Failed(failure) => failure.reason,
        other => panic!("{} should fail: {other:?}", path.display()),
    }
}

/// Six pages, each with a running header (chapter and page number) and a footer page number,
/// body text that hyphenates a word across lines, an empty page, and a page in Cyrillic.
fn manual() -> Vec<Option<Vec<Run>>> {
    let mut pages = Vec::new();
    for n in 1..=6 {
        let mut runs = vec![text(
            72.0,
            750.0,
            &format!("Chapter 2: Storage management {n}"),
        )];
        match n {
            3 => {}
            5 => runs.push(cyrillic(72.0, 680.0)),
            _ => runs.extend(lines(
                72.0,
                680.0,
                &[
                    &format!("Page {n} explains how vacuum reclaims the space of dead"),
                    "rows, and how autovacuum sched-",
                    "ules it. Caf\u{e9} is spelled with an accent.",
                ],
            )),
        }
        runs.push(text(300.0, 40.0, &format!("{n}")));
        pages.push(Some(runs));
    }
    pages
}

#[test]
fn each_page_holds_its_own_text_without_headers_and_with_hyphenation_joined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manual.pdf");
    save(&mut pdf(&manual(), Some("Storage Manual")), &path);
    let document = document(&path);
    assert_eq!(document.title.as_deref(), Some("Storage Manual"));
    assert_eq!(document.metadata["author"], "A. Writer");
    assert_eq!(document.metadata["aiblox"]["format"], "pdf");
    assert_eq!(document.metadata["aiblox"]["pages"], 6);
    let pages = page_texts(&document);
    assert_eq!(pages.len(), 6);
    for (n, page) in pages.iter().enumerate() {
        let number = n + 1;
        assert!(
            !page.contains("Chapter 2"),
            "header kept on page {number}: {page:?}"
        );
        match number {
            3 => assert_eq!(*page, "", "the empty page"),
            5 => assert_eq!(*page, CYRILLIC, "non-Latin text through its ToUnicode map"),
            _ => assert_eq!(
                *page,
                format!(
                    "Page {number} explains how vacuum reclaims the space of dead\n\
                     rows, and how autovacuum schedules it. Caf\u{e9} is spelled with an accent."
                ),
                "page {number}: hyphenation joined, the footer's page number dropped"
            ),
        }
    }
}

#[test]
fn two_columns_are_read_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("columns.pdf");
    // Drawn row by row, left and right alternating, as some writers do.
    let mut runs = vec![text(200.0, 760.0, "A Paper Title Spanning Both Columns")];
    for row in 0..10 {
        let y = 720.0 - 14.0 * row as f64;
        runs.push(text(50.0, y, &format!("left column line {row}")));
        runs.push(text(320.0, y, &format!("right column line {row}")));
    }
    save(&mut pdf(&[Some(runs)], None), &path);
    let document = document(&path);
    let expected: Vec<String> = std::iter::once("A Paper Title Spanning Both Columns".to_owned())
        .chain((0..10).map(|row| format!("left column line {row}")))
        .chain((0..10).map(|row| format!("right column line {row}")))
        .collect();
    let lines: Vec<&str> = document
        .content
        .lines()
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(lines, expected);
    assert_eq!(
        document.title.as_deref(),
        Some("A Paper Title Spanning Both Columns"),
        "without an Info title, the first line"
    );
}

#[test]
fn an_empty_user_password_opens_and_another_fails_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open.pdf");
    save(&mut encrypted(pdf(&manual(), None), ""), &open);
    assert!(page_texts(&document(&open))[0].starts_with("Page 1 explains"));

    let locked = dir.path().join("locked.pdf");
    save(&mut encrypted(pdf(&manual(), None), "secret"), &locked);
    let reason = failure(&locked);
    assert!(reason.contains("encrypted with a password"), "{reason}");
}

#[test]
fn scans_truncated_and_oversized_files_fail_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan.pdf");
    save(&mut pdf(&[None, None], None), &scan);
    let reason = failure(&scan);
    assert!(
        reason.contains("no text layer on any of its 2 pages"),
        "{reason}"
    );

    let whole = dir.path().join("whole.pdf");
    save(&mut pdf(&manual(), None), &whole);
    let bytes = std::fs::read(&whole).unwrap();
    let truncated = dir.path().join("truncated.pdf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let reason = failure(&truncated);
    assert!(reason.contains("PDF"), "{reason}");

    let garbage = dir.path().join("garbage.pdf");
    std::fs::write(&garbage, b"%PDF-1.4\nthis is not a PDF at all").unwrap();
    assert!(failure(&garbage).contains("PDF"));

    // A sparse file over the limit: refused by its size before it is read.
    let huge = dir.path().join("huge.pdf");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(300 * 1024 * 1024).unwrap();
    let reason = failure(&huge);
    assert!(
        reason.contains("larger than the") && reason.contains("qpdf"),
        "{reason}"
    );
}

/// A form XObject that draws itself would send the parser into endless recursion (a stack
/// overflow aborts the process, which no catch can stop): the file fails instead. Control
/// characters a font maps codes to are not text.
#[test]
fn a_drawing_that_draws_itself_fails_and_control_characters_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = pdf(
        &[Some(vec![text(72.0, 680.0, "Nul\u{1}byte\u{0} here")])],
        None,
    );
    let plain = dir.path().join("plain.pdf");
    save(&mut doc.clone(), &plain);
    assert_eq!(document(&plain).content, "Nulbyte here");

    let form_id = doc.new_object_id();
    let form = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Form",
            "BBox" => vec![0.into(), 0.into(), 100.into(), 100.into()],
            "Resources" => dictionary! { "XObject" => dictionary! { "Fm1" => form_id } },
        },
        b"/Fm1 Do".to_vec(),
    );
    doc.objects.insert(form_id, Object::Stream(form));

    set_xobjects(&mut doc, dictionary! { "Fm1" => form_id });
    let page = doc.get_pages()[&1];
    let content = doc.add_object(Stream::new(dictionary! {}, b"/Fm1 Do".to_vec()));
    doc.get_dictionary_mut(page)
        .unwrap()
        .set("Contents", content);
    let looping = dir.path().join("looping.pdf");
    save(&mut doc, &looping);
    let reason = failure(&looping);
    assert!(reason.contains("draws itself"), "{reason}");
}

/// A 100 MB PDF (one page of text and a 100 MB image) is read without holding the image:
/// the ingester's peak memory stays under 500 MB. Through the binary, beside a failing file
/// (exit status 1, the others loaded) and with page starts stored.
#[tokio::test]
async fn the_binary_loads_pdfs_with_their_pages_and_reports_failures_and_memory() {
    let kb = TestKb::new().await;
    let dir = tempfile::tempdir().unwrap();
    save(
        &mut pdf(&manual(), Some("Storage Manual")),
        &dir.path().join("manual.pdf"),
    );
    let mut big = pdf(
        &[Some(lines(
            72.0,
            700.0,
            &["A large file with one page of text."],
        ))],
        None,
    );
    let image = big.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => 10_000, "Height" => 10_000,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
        },
        vec![7; 100_000_000],
    ));
    // Referenced from the resources, as a real image would be.
    set_xobjects(&mut big, dictionary! { "Im2" => image });
    save(&mut big, &dir.path().join("big.pdf"));
    std::fs::write(dir.path().join("broken.pdf"), b"%PDF-1.7\n1 0 obj <<").unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-ingest"))
        .args(["--source", "manuals", "--no-migrate", "--json"])
        .args(["--database-url", kb.server_url(), "--schema", kb.schema()])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (summary["inserted"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(summary["pages"], 7, "six pages and one");
    assert!(stderr.contains("broken.pdf"), "{stderr}");
    let peak = summary["peak_memory_bytes"].as_u64().unwrap();
    eprintln!("peak memory of the ingester with a 100 MB PDF: {peak} bytes");
    assert!(peak < 500_000_000, "peak memory {peak} bytes");

    let items = ItemRepo::new(kb.pool());
    let manual = items
        .get_by_key("manuals", "manual.pdf")
        .await
        .unwrap()
        .unwrap();
    let starts = manual.page_starts.clone().unwrap();
    assert_eq!(starts.len(), 6);
    let fifth = &manual.content[starts[4] as usize..starts[5] as usize];
    assert_eq!(fifth.trim(), CYRILLIC);
    assert_eq!(manual.page_at(starts[5] + 3), Some(6));
    let big = items
        .get_by_key("manuals", "big.pdf")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(big.content, "A large file with one page of text.");
}
