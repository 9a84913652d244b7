//! HTML to clean text with a real HTML parser (html5ever, through `scraper`): the title from
//! `<title>`, the main content's text (`<main>` or `role="main"` when the page marks it, else
//! the body) with paragraphs kept apart, and navigation chrome left out (`nav`, `header`,
//! `footer`, scripts, ARIA navigation, banner, footer, sidebar and search roles, the
//! navigation blocks of DocBook-generated pages such as the PostgreSQL documentation, mdBook's
//! menu bar, sidebar, theme list, search box and help popup, as in the Rust books, and
//! Sphinx's related links, sidebar and footer, as in the Python documentation).

use scraper::node::Node;
use scraper::{ElementRef, Html, Selector};

/// Elements whose whole subtree is not content.
const SKIPPED_ELEMENTS: [&str; 10] = [
    "script", "style", "noscript", "nav", "header", "footer", "template", "svg", "iframe", "head",
];
/// ARIA roles of chrome: a site's navigation, banner, footer, sidebar and search.
const SKIPPED_ROLES: [&str; 5] = [
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
];
/// Classes of navigation chrome (DocBook's, mdBook's, then Sphinx's).
const SKIPPED_CLASSES: [&str; 16] = [
    "navheader",
    "navfooter",
    "toc",
    "breadcrumb",
    "navigation",
    "menu-bar",
    "sidebar",
    "theme-popup",
    "search-wrapper",
    "nav-wrapper",
    "nav-wide-wrapper",
    "nav-chapters",
    "related",
    "sphinxsidebar",
    "footer",
    "mobile-nav",
];
/// Ids of chrome without a telling class (mdBook's keyboard help).
const SKIPPED_IDS: [&str; 4] = [
    "mdbook-help-container",
    "mdbook-help-popup",
    "mdbook-search-wrapper",
    "mdbook-menu-bar",
];
/// Elements that end a paragraph.
const BLOCK_ELEMENTS: [&str; 28] = [
    "p",
    "div",
    "section",
    "article",
    "main",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "pre",
    "blockquote",
    "table",
    "tr",
    "td",
    "th",
    "br",
    "hr",
    "figure",
    "caption",
    "aside",
];

/// A page's title, text and what its `<meta>` tags say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The `<title>`, whitespace collapsed; `None` when missing or empty.
    pub title: Option<String>,
    /// The content: paragraphs separated by blank lines, spaces collapsed.
    pub text: String,
    /// `<meta name="..." content="...">` of the page, by name (lowercase): a text, or a list
    /// of texts when the name is repeated.
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// Extracts title and text from an HTML document.
pub fn extract(html: &str) -> Extracted {
    let document = Html::parse_document(html);
    let title_selector = Selector::parse("title").expect("a valid selector");
    let title = document
        .select(&title_selector)
        .next()
        .map(|title| collapse(&title.text().collect::<String>()))
        .filter(|title| !title.is_empty());
    // The page's main content when it marks it (`<main>`, `role="main"`), else its body.
    let main_selector = Selector::parse("main, [role=main]").expect("a valid selector");
    let body_selector = Selector::parse("body").expect("a valid selector");
    let root = document
        .select(&main_selector)
        .next()
        .or_else(|| document.select(&body_selector).next())
        .unwrap_or_else(|| document.root_element());
    let mut raw = String::new();
    walk(root, &mut raw);
    Extracted {
        title,
        text: paragraphs(&raw),
        meta: meta_tags(&document),
    }
}

/// The page's named `<meta>` tags: `name` lowercased, `content` whitespace collapsed; a name
/// given twice keeps both, as a list.
fn meta_tags(document: &Html) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let selector = Selector::parse("meta[name][content]").expect("a valid selector");
    let mut meta = serde_json::Map::new();
    for tag in document.select(&selector) {
        let (Some(name), Some(content)) = (tag.attr("name"), tag.attr("content")) else {
            continue;
        };
        let name = name.trim().to_lowercase();
        if name.is_empty() {
            continue;
        }
        let content = Value::String(collapse(content));
        match meta.get_mut(&name) {
            None => {
                meta.insert(name, content);
            }
            Some(Value::Array(values)) => values.push(content),
            Some(first) => *first = Value::Array(vec![first.take(), content]),
        }
    }
    meta
}

fn walk(element: ElementRef<'_>, out: &mut String) {
    for child in element.children() {
        match child.value() {
            Node::Text(text) => out.push_str(text),
            Node::Element(tag) => {
                let name = tag.name();
                let chrome = SKIPPED_ELEMENTS.contains(&name)
                    || tag
                        .attr("role")
                        .is_some_and(|role| SKIPPED_ROLES.contains(&role))
                    || tag.classes().any(|class| SKIPPED_CLASSES.contains(&class))
                    || tag.id().is_some_and(|id| SKIPPED_IDS.contains(&id));
                if chrome {
                    continue;
                }
                let block = BLOCK_ELEMENTS.contains(&name);
                if block {
                    out.push_str("\n\n");
                }
                if let Some(child) = ElementRef::wrap(child) {
                    walk(child, out);
                }
                if block {
                    out.push_str("\n\n");
                }
            }
            _ => {}
        }
    }
}

/// Blank-line separated paragraphs, each with its whitespace collapsed.
fn paragraphs(raw: &str) -> String {
    raw.split("\n\n")
        .map(collapse)
        .filter(|paragraph| !paragraph.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_main_content_is_read_alone_and_aria_chrome_is_left_out() {
        // As a Sphinx page (the Python documentation) is laid out.
        let page = r#"<html><head><title>os — Python 3.11 documentation</title></head><body>
            <div class="related" role="navigation"><h3>Navigation</h3><ul><li>index</li><li>modules</li></ul></div>
            <div class="document"><div class="body" role="main"><section><h1>os</h1>
            <p>This module provides operating system functionality.</p></section></div>
            <div class="sphinxsidebar" role="navigation"><h3>Previous topic</h3></div></div>
            <div class="footer">© Copyright</div></body></html>"#;
        assert_eq!(
            extract(page).text,
            "os\n\nThis module provides operating system functionality."
        );
        let unmarked = r#"<html><body><div role="search">Search</div><div role="banner">Site</div>
            <p>Content.</p><div role="contentinfo">Footer</div></body></html>"#;
        assert_eq!(extract(unmarked).text, "Content.");
    }

    #[test]
    fn keeps_title_and_content_and_drops_chrome() {
        let page = r#"<!DOCTYPE html><html><head><title>VACUUM
            </title><style>p { color: red }</style></head><body>
            <div class="navheader"><table><tr><td><a href="prev.html">Prev</a></td></tr></table></div>
            <nav>Home | Docs</nav>
            <div class="refentry"><h1>VACUUM</h1><p>VACUUM reclaims   storage occupied by <em>dead</em> tuples.</p>
            <p>It can also &amp; <code>ANALYZE</code>.</p><script>alert(1)</script></div>
            <div class="navfooter">Next: ANALYZE</div><footer>© PostgreSQL</footer></body></html>"#;
        let extracted = extract(page);
        assert_eq!(extracted.title.as_deref(), Some("VACUUM"));
        assert_eq!(
            extracted.text,
            "VACUUM\n\nVACUUM reclaims storage occupied by dead tuples.\n\nIt can also & ANALYZE."
        );
    }

    #[test]
    fn mdbook_chrome_is_dropped() {
        let page = r##"<!DOCTYPE html><html><head><title>What Is Ownership? - The Rust Programming Language</title></head><body>
            <div id="mdbook-help-container"><div id="mdbook-help-popup"><h2>Keyboard shortcuts</h2><p>Press ? to show this help</p></div></div>
            <nav id="mdbook-sidebar" class="sidebar"><div class="sidebar-scrollbox"><ol><li>Getting Started</li></ol></div></nav>
            <div id="mdbook-page-wrapper" class="page-wrapper"><div class="page">
            <div id="mdbook-menu-bar" class="menu-bar sticky"><ul id="mdbook-theme-list" class="theme-popup"><li>Light</li><li>Coal</li></ul>
            <h1 class="menu-title">The Rust Programming Language</h1></div>
            <div id="mdbook-search-wrapper" class="hidden"><input type="search" placeholder="Search this book ..."></div>
            <main><h2 id="what-is-ownership"><a class="header" href="#what-is-ownership">What Is Ownership?</a></h2>
            <p>Ownership is a set of rules that govern how a Rust program manages memory.</p></main>
            <nav class="nav-wrapper"><a class="mobile-nav-chapters previous" href="ch03.html">&larr;</a></nav>
            </div></div></body></html>"##;
        let extracted = extract(page);
        assert_eq!(
            extracted.text,
            "What Is Ownership?\n\nOwnership is a set of rules that govern how a Rust program manages memory."
        );
    }

    #[test]
    fn broken_html_still_yields_text() {
        let extracted = extract("<p>unclosed <b>bold <i>and</p> more text");
        assert_eq!(extracted.title, None);
        assert!(
            extracted.text.contains("unclosed bold and") && extracted.text.contains("more text"),
            "{extracted:?}"
        );
        assert_eq!(extract("").text, "");
    }
}
