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

/// Each page's text as poppler reads it (`pdftotext` ends each page with a form feed).
fn pdftotext_pages(file: &Path) -> Vec<String> {
    let output = Command::new("pdftotext")
        .arg(file)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|page| page.trim().is_empty()) {
        pages.pop();
    }
    pages
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
        let theirs = pdftotext_pages(&file);
        assert_eq!(theirs.len(), starts.len(), "{}: pages", file.display());
        let (mut checked, mut on_page) = (0, 0);
        let mut misses = Vec::new();
        // Every fifth page, from the body (past the title page and contents).
        for page in (5..=starts.len()).step_by(5) {
            let ours = page_text(page);
            for sentence in sentences(&theirs[page - 1]) {
                checked += 1;
                if ours.contains(&sentence) {
                    on_page += 1;
                } else {
                    misses.push(format!("page {page}: {sentence:?}"));
                }
            }
        }
        // Running headers as poppler reads them: a page's first line, numbers aside, that
        // opens at least three pages.
        let mut headers: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (index, page) in theirs.iter().enumerate() {
            if let Some(first) = page.lines().map(normalized).find(|line| !line.is_empty()) {
                let key: String = first.chars().filter(|c| !c.is_ascii_digit()).collect();
                headers.entry(key).or_default().push(index + 1);
            }
        }
        // (A page number alone leaves nothing to compare.)
        let running: Vec<(&String, &Vec<usize>)> = headers
            .iter()
            .filter(|(header, pages)| pages.len() >= 3 && !header.trim().is_empty())
            .collect();
        let header_pages: usize = running.iter().map(|(_, pages)| pages.len()).sum();
        let kept: Vec<usize> = running
            .iter()
            .flat_map(|(header, pages)| {
                pages.iter().copied().filter(|page| {
                    let ours: String = page_text(*page)
                        .chars()
                        .filter(|c| !c.is_ascii_digit())
                        .collect();
                    ours.starts_with(header.trim())
                })
            })
            .collect();
        eprintln!(
            "{}: a running header on {header_pages} pages; kept on {}",
            file.display(),
            kept.len()
        );
        assert!(
            header_pages >= 10,
            "{}: poppler finds running headers",
            file.display()
        );
        assert!(
            kept.is_empty(),
            "{}: running headers kept on pages {kept:?}",
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
