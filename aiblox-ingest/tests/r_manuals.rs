//! A real corpus nobody here wrote: R's manuals (Debian's `r-doc-pdf`). Sentences taken from
//! known pages by another tool (poppler's `pdftotext -f N -l N`, in this test only) are found
//! on that page of the ingested document. Runs where both are installed; `.ci/run` installs
//! them and sets `AIBLOX_TEST_REQUIRE_R_MANUALS=1`, which turns their absence into a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use aiblox_ingest::{Loaded, documents};

const MANUALS: &str = "/usr/share/R/doc/manual";

/// Whitespace collapsed, and the typographic forms PDF text layers differ on made plain.
fn normalized(text: &str) -> String {
    let plain: String = text
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            '\u{2013}' | '\u{2014}' => '-',
            other => other,
        })
        .collect::<String>()
        .replace('\u{fb01}', "fi")
        .replace('\u{fb02}', "fl")
        .replace('\u{fb00}', "ff")
        .replace('\u{fb03}', "ffi")
        .replace('\u{fb04}', "ffl");
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The page's text as poppler reads it.
fn pdftotext_page(file: &Path, page: usize) -> String {
    let output = Command::new("pdftotext")
        .args(["-f", &page.to_string(), "-l", &page.to_string()])
        .arg(file)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Sentences of a page as poppler reads it: lines of prose (40 characters or more, mostly
/// letters), a 30-character window from each line's middle.
fn sentences(page_text: &str) -> Vec<String> {
    page_text
        .lines()
        .map(normalized)
        .filter(|line| {
            line.chars().count() >= 40
                && line
                    .chars()
                    .filter(|c| c.is_alphabetic() || *c == ' ')
                    .count()
                    * 10
                    >= line.chars().count() * 9
        })
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            let from = (chars.len() - 30) / 2;
            chars[from..from + 30].iter().collect()
        })
        .collect()
}

fn available() -> Option<Vec<PathBuf>> {
    let files: Vec<PathBuf> = ["R-intro.pdf", "R-lang.pdf"]
        .iter()
        .map(|name| Path::new(MANUALS).join(name))
        .collect();
    let pdftotext = Command::new("pdftotext").arg("-v").output().is_ok();
    if files.iter().all(|file| file.exists()) && pdftotext {
        return Some(files);
    }
    assert!(
        std::env::var_os("AIBLOX_TEST_REQUIRE_R_MANUALS").is_none(),
        "AIBLOX_TEST_REQUIRE_R_MANUALS is set but {MANUALS}/R-intro.pdf, R-lang.pdf or \
         pdftotext is missing: apt-get install r-doc-pdf poppler-utils"
    );
    eprintln!("skipped: R's manuals or pdftotext are not installed (r-doc-pdf, poppler-utils)");
    None
}

#[test]
fn sentences_from_known_pages_are_found_on_their_page() {
    let Some(files) = available() else {
        return;
    };
    for file in files {
        let document = match documents(std::slice::from_ref(&file)).next() {
            Some(Loaded::Document(document)) => document,
            other => panic!("{} did not load: {other:?}", file.display()),
        };
        let starts = document.page_starts.clone().unwrap();
        let content = &document.content;
        let page_text = |page: usize| {
            let end = starts
                .get(page)
                .map_or(content.len(), |next| *next as usize);
            normalized(&content[starts[page - 1] as usize..end])
        };
        let (mut checked, mut on_page) = (0, 0);
        let mut misses = Vec::new();
        // Every fifth page, from the body (past the title page and contents).
        for page in (5..=starts.len()).step_by(5) {
            let ours = page_text(page);
            for sentence in sentences(&pdftotext_page(&file, page)) {
                checked += 1;
                if ours.contains(&sentence) {
                    on_page += 1;
                } else {
                    misses.push(format!("page {page}: {sentence:?}"));
                }
            }
        }
        eprintln!(
            "{}: {on_page} of {checked} sentences on their page",
            file.display()
        );
        assert!(
            checked >= 200,
            "{}: only {checked} sentences",
            file.display()
        );
        assert!(
            on_page * 100 >= checked * 97,
            "{}: {on_page} of {checked} sentences found on their page; missed: {:#?}",
            file.display(),
            &misses[..misses.len().min(20)]
        );
    }
}
