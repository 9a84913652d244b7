//! HTML to clean text with a real HTML parser (html5ever, through `scraper`): the title from
//! `<title>`, the main content's text (`<main>` or `role="main"` when the page marks it, else
//! the body) with paragraphs kept apart, and navigation chrome left out (`nav`, `header`,
//! `footer`, scripts, ARIA navigation, banner, footer, sidebar and search roles, the
//! navigation blocks of DocBook-generated pages such as the PostgreSQL documentation, mdBook's
//! menu bar, sidebar, theme list, search box and help popup, as in the Rust books, and
//! Sphinx's related links, sidebar and footer, as in the Python documentation). A page that
//! does not mark its main content loses unmarked chrome by text density: a block mostly of
//! links before the page's first paragraph of prose is navigation, and one after its last
//! paragraph too when the page marks no chrome at all (as boilerplate detectors since
//! boilerpipe classify blocks by link density and text length). A folder's site name is taken
//! off its pages' titles ([`site_suffix`]).

use std::collections::HashMap;

use ego_tree::NodeId;
use scraper::node::Node;
use scraper::{ElementRef, Html, Selector};

/// Elements whose whole subtree is not text to read.
const NOT_TEXT_ELEMENTS: [&str; 7] = [
    "script", "style", "noscript", "template", "svg", "iframe", "head",
];
/// Elements whose `header` is their own (an article's title and byline), not the page's
/// banner (as ARIA maps it). A `footer` is chrome anywhere: a section's footer holds its
/// "edit this page" and share links.
const SECTIONING_ELEMENTS: [&str; 5] = ["article", "aside", "main", "nav", "section"];
/// ARIA roles of elements whose `header` is their own, as [`SECTIONING_ELEMENTS`] are.
const SECTIONING_ROLES: [&str; 5] = ["main", "article", "region", "complementary", "navigation"];
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

/// Words outside links a paragraph needs to be prose (boilerpipe's content blocks have about
/// ten or more; navigation, bylines and copyright lines fewer).
const MIN_PROSE_WORDS: usize = 10;
/// Links a block needs to be navigation by its density (a "previous, up, next" bar has three).
const MIN_NAVIGATION_LINKS: usize = 3;

/// What separates a page's own title from its site's name (" — Python 3.11 documentation",
/// " | Node.js Documentation"); a parenthesised name at a title's end counts too.
const TITLE_SEPARATORS: [&str; 7] = [" — ", " – ", " - ", " | ", " · ", " :: ", " » "];
/// Titled pages a site name must be shared by before it is taken off them.
pub const MIN_SITE_PAGES: usize = 3;

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
    let title = title_of(&document);
    // The page's main content when it marks it (`<main>`, `role="main"`), else its body.
    let main_selector = Selector::parse("main, [role=main]").expect("a valid selector");
    let body_selector = Selector::parse("body").expect("a valid selector");
    let main = document.select(&main_selector).next();
    let root = main
        .or_else(|| document.select(&body_selector).next())
        .unwrap_or_else(|| document.root_element());
    let layout = Layout::of(root, main.is_some());
    let mut raw = String::new();
    walk(root, &layout, &mut raw);
    Extracted {
        title,
        text: paragraphs(&raw),
        meta: meta_tags(&document),
    }
}

/// The `<title>` of an HTML document, or of its start (up to its `</title>`), whitespace
/// collapsed; `None` when missing or empty.
pub fn title(html: &str) -> Option<String> {
    title_of(&Html::parse_document(html))
}

fn title_of(document: &Html) -> Option<String> {
    let selector = Selector::parse("title").expect("a valid selector");
    document
        .select(&selector)
        .next()
        .map(|title| collapse(&title.text().collect::<String>()))
        .filter(|title| !title.is_empty())
}

/// The site's name that most of `titles` (more than half, and three or more) end with after a
/// separator, separator included (" — Python 3.11.2 documentation"): the longest such ending
/// when several are shared as widely. `None` when the titles share none.
pub fn site_suffix<'a>(titles: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut shared: HashMap<&str, usize> = HashMap::new();
    let mut total = 0;
    for title in titles {
        total += 1;
        let mut endings: Vec<&str> = TITLE_SEPARATORS
            .iter()
            .flat_map(|separator| title.match_indices(separator))
            .chain(title.match_indices(" (").filter(|_| title.ends_with(')')))
            .filter(|(at, _)| *at > 0)
            .map(|(at, _)| &title[at..])
            .collect();
        endings.sort_unstable();
        endings.dedup();
        for ending in endings {
            *shared.entry(ending).or_default() += 1;
        }
    }
    shared
        .into_iter()
        .filter(|&(_, pages)| pages >= MIN_SITE_PAGES && pages * 2 > total)
        .max_by_key(|&(ending, pages)| (pages, ending.len()))
        .map(|(ending, _)| ending.to_owned())
}

/// `title` without the site's name `suffix` (from [`site_suffix`]); as it is when it does not
/// end with it or is nothing else.
pub fn without_site_suffix(title: String, suffix: &str) -> String {
    match title.strip_suffix(suffix) {
        Some(own) if !own.trim().is_empty() => own.trim_end().to_owned(),
        _ => title,
    }
}

/// Where a page sends its reader at once (`<meta http-equiv="refresh" content="0; url=...">`):
/// a redirect stub, with no content of its own. Looked for in the page's head (within its first
/// 64 KiB).
pub fn redirect(html: &str) -> Option<String> {
    let mut end = html.len().min(64 * 1024);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let start = html[..end].to_ascii_lowercase();
    let head = &start[..start.find("</head").unwrap_or(start.len())];
    if !head.contains("refresh") {
        return None;
    }
    let document = Html::parse_document(&html[..head.len()]);
    let selector = Selector::parse("meta[http-equiv][content]").expect("a valid selector");
    document.select(&selector).find_map(|meta| {
        let refresh = meta.attr("http-equiv")?.trim();
        let (delay, target) = meta.attr("content")?.split_once([';', ','])?;
        let target = target.trim_start();
        let url = target
            .get(..4)
            .filter(|key| key.eq_ignore_ascii_case("url="))
            .map(|_| target[4..].trim().trim_matches(['"', '\'']))?;
        (refresh.eq_ignore_ascii_case("refresh")
            && delay.trim().parse::<f64>().is_ok_and(|delay| delay < 1.0)
            && !url.is_empty())
        .then(|| url.to_owned())
    })
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

/// Whether an element is left out for what it is: not text, or chrome by its tag, ARIA role,
/// class or id.
fn is_skipped(element: ElementRef<'_>) -> bool {
    NOT_TEXT_ELEMENTS.contains(&element.value().name()) || is_marked_chrome(element)
}

/// Whether an element is chrome by its tag (`nav`, `footer`, the page's `header`), ARIA role,
/// class or id.
fn is_marked_chrome(element: ElementRef<'_>) -> bool {
    let tag = element.value();
    let chrome_element = match tag.name() {
        "nav" | "footer" => true,
        "header" => !element.ancestors().any(|ancestor| {
            ancestor.value().as_element().is_some_and(|ancestor| {
                SECTIONING_ELEMENTS.contains(&ancestor.name())
                    || ancestor
                        .attr("role")
                        .is_some_and(|role| SECTIONING_ROLES.contains(&role))
            })
        }),
        _ => false,
    };
    chrome_element
        || tag
            .attr("role")
            .is_some_and(|role| SKIPPED_ROLES.contains(&role))
        || tag.classes().any(|class| SKIPPED_CLASSES.contains(&class))
        || tag.id().is_some_and(|id| SKIPPED_IDS.contains(&id))
}

fn walk(element: ElementRef<'_>, layout: &Layout, out: &mut String) {
    for child in element.children() {
        if let Node::Text(text) = child.value() {
            out.push_str(text);
        }
        let Some(child) = ElementRef::wrap(child) else {
            continue;
        };
        if is_skipped(child) || layout.is_navigation(child.id()) {
            continue;
        }
        let block = BLOCK_ELEMENTS.contains(&child.value().name());
        if block {
            out.push_str("\n\n");
        }
        walk(child, layout, out);
        if block {
            out.push_str("\n\n");
        }
    }
}

/// Where a block's text lies among the page's text nodes (numbered in document order), how
/// much of it there is and how much is the text of links.
#[derive(Debug, Clone, Copy)]
struct Span {
    first_text: usize,
    last_text: usize,
    /// Characters other than whitespace.
    chars: usize,
    link_chars: usize,
    links: usize,
}

impl Span {
    const EMPTY: Span = Span {
        first_text: usize::MAX,
        last_text: 0,
        chars: 0,
        link_chars: 0,
        links: 0,
    };

    fn merge(&mut self, other: Span) {
        self.first_text = self.first_text.min(other.first_text);
        self.last_text = self.last_text.max(other.last_text);
        self.chars += other.chars;
        self.link_chars += other.link_chars;
        self.links += other.links;
    }

    fn is_link_dense(&self) -> bool {
        self.links >= MIN_NAVIGATION_LINKS && self.link_chars * 2 >= self.chars
    }
}

/// What the density rule needs of a page: the span of each block element, the text nodes
/// where its prose begins and ends (`None`: no paragraph of prose, or a page that marks its
/// main content: nothing is left out by density), and whether blocks after the prose may go
/// too (not on a page that marks some of its chrome: there, what follows the prose is
/// content, such as a reference page's "See also" links).
struct Layout {
    blocks: HashMap<NodeId, Span>,
    prose: Option<(usize, usize)>,
    trailing: bool,
}

impl Layout {
    /// The layout of the content under `root`; `marked` says whether the page marks its main
    /// content, when nothing is left out by density.
    fn of(root: ElementRef<'_>, marked: bool) -> Layout {
        let unmeasured = Layout {
            blocks: HashMap::new(),
            prose: None,
            trailing: false,
        };
        if marked {
            return unmeasured;
        }
        let mut measuring = Measuring {
            layout: unmeasured,
            next_text: 0,
            paragraph: Span::EMPTY,
            paragraph_words: 0,
            marked_chrome: false,
        };
        measuring.measure(root, false);
        measuring.end_paragraph();
        measuring.layout.trailing = !measuring.marked_chrome;
        measuring.layout
    }

    /// A block mostly of links, wholly before the first paragraph of prose or (on a page that
    /// marks none of its chrome) after the last.
    fn is_navigation(&self, id: NodeId) -> bool {
        let (Some((first, last)), Some(span)) = (self.prose, self.blocks.get(&id)) else {
            return false;
        };
        span.is_link_dense() && (span.last_text < first || self.trailing && span.first_text > last)
    }
}

/// The first walk over a page: numbers its text nodes, measures its blocks and paragraphs.
struct Measuring {
    layout: Layout,
    next_text: usize,
    paragraph: Span,
    /// Words of the paragraph outside links.
    paragraph_words: usize,
    /// Whether the page marks some of its chrome.
    marked_chrome: bool,
}

impl Measuring {
    fn measure(&mut self, element: ElementRef<'_>, in_link: bool) -> Span {
        let mut span = Span::EMPTY;
        for child in element.children() {
            match child.value() {
                Node::Text(text) => {
                    let chars = text.chars().filter(|c| !c.is_whitespace()).count();
                    if chars == 0 {
                        continue;
                    }
                    let ordinal = self.next_text;
                    self.next_text += 1;
                    let own = Span {
                        first_text: ordinal,
                        last_text: ordinal,
                        chars,
                        link_chars: if in_link { chars } else { 0 },
                        links: 0,
                    };
                    if !in_link {
                        self.paragraph_words += text.split_whitespace().count();
                    }
                    self.paragraph.merge(own);
                    span.merge(own);
                }
                Node::Element(tag) => {
                    let Some(child) = ElementRef::wrap(child) else {
                        continue;
                    };
                    if is_skipped(child) {
                        self.marked_chrome |= is_marked_chrome(child);
                        continue;
                    }
                    let block = BLOCK_ELEMENTS.contains(&tag.name());
                    if block {
                        self.end_paragraph();
                    }
                    let link = tag.name() == "a" && tag.attr("href").is_some();
                    let mut inner = self.measure(child, in_link || link);
                    if link {
                        inner.links += 1;
                    }
                    if block {
                        self.end_paragraph();
                        self.layout.blocks.insert(child.id(), inner);
                    }
                    span.merge(inner);
                }
                _ => {}
            }
        }
        span
    }

    /// Closes the paragraph being read: prose when it has enough words outside links and at
    /// most half its text in links.
    fn end_paragraph(&mut self) {
        let paragraph = std::mem::replace(&mut self.paragraph, Span::EMPTY);
        let words = std::mem::take(&mut self.paragraph_words);
        if words >= MIN_PROSE_WORDS && paragraph.link_chars * 2 < paragraph.chars {
            let (first, last) = self.layout.prose.unwrap_or((usize::MAX, 0));
            self.layout.prose = Some((
                first.min(paragraph.first_text),
                last.max(paragraph.last_text),
            ));
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

    /// A prose paragraph (ten words and more outside links).
    const PROSE: &str =
        "The processor applies templates to nodes of the source tree in document order.";

    #[test]
    fn an_unmarked_pages_link_menus_around_its_prose_are_left_out_by_density() {
        // As table-laid pages without semantic tags are (libxslt's, a Texinfo manual's).
        let page = format!(
            r#"<html><body><table><tr><td><h1>The XSLT C library</h1><h2>Module transform</h2></td></tr></table>
            <table><tr><td><b>Main Menu</b><ul><li><a href="index.html">Home</a></li><li><a href="intro.html">Introduction</a></li>
            <li><a href="docs.html">Documentation</a></li></ul></td>
            <td><p>{PROSE}</p><ul><li><a href="a.html">xsltApplyTemplates</a></li><li><a href="b.html">xsltCopyOf</a></li>
            <li><a href="c.html">xsltValueOf</a></li></ul><p>{PROSE}</p></td></tr></table>
            <p><a href="prev.html">Prev</a> | <a href="up.html">Up</a> | <a href="next.html">Next</a></p>
            <p>Daniel Veillard</p></body></html>"#
        );
        assert_eq!(
            extract(&page).text,
            format!(
                "The XSLT C library\n\nModule transform\n\n{PROSE}\n\nxsltApplyTemplates\n\nxsltCopyOf\n\n\
                 xsltValueOf\n\n{PROSE}\n\nDaniel Veillard"
            ),
            "the menu before the prose and the bar after it go, the list between stays"
        );
        // Two links are not a menu; a block half prose is not one either.
        let sparse = format!(
            r#"<body><p><a href="a">Home</a> <a href="b">Up</a></p><div><a href="c">One</a> <a href="d">Two</a>
            <a href="e">Three</a> and a good deal of text beside them</div><p>{PROSE}</p></body>"#
        );
        assert!(
            extract(&sparse)
                .text
                .starts_with("Home Up\n\nOne Two Three and")
        );
    }

    #[test]
    fn density_leaves_what_follows_the_prose_to_pages_that_mark_some_chrome() {
        // As the PostgreSQL documentation's reference pages end, with their "See Also" links.
        let see_also = r#"<div class="refsect1"><h2>See Also</h2><p><a href="a.html">ALTER TABLE</a>,
            <a href="d.html">DROP TABLE</a>, <a href="c.html">CREATE TABLESPACE</a></p></div>"#;
        let marked = format!(
            r#"<body><div class="navheader">Prev Next</div><ul><li><a href="1">One</a></li><li><a href="2">Two</a></li>
            <li><a href="3">Three</a></li></ul><p>{PROSE}</p>{see_also}</body>"#
        );
        assert_eq!(
            extract(&marked).text,
            format!("{PROSE}\n\nSee Also\n\nALTER TABLE, DROP TABLE, CREATE TABLESPACE")
        );
        let unmarked = marked.replace(r#"<div class="navheader">Prev Next</div>"#, "");
        assert_eq!(
            extract(&unmarked).text,
            PROSE,
            "its heading goes with its links"
        );
        // A page that marks its main content is read as it marks it.
        let main = format!("<body><main>{see_also}<p>{PROSE}</p>{see_also}</main></body>");
        assert_eq!(extract(&main).text.matches("ALTER TABLE").count(), 2);
    }

    #[test]
    fn a_page_without_prose_keeps_its_links() {
        // An index page: every entry a link, nothing to tell navigation from content.
        let index = r#"<body><ul><li><a href="h">Home</a></li><li><a href="d">Docs</a></li><li><a href="n">News</a></li></ul>
            <h2>Letter t:</h2><dl><dt>table</dt><dd><a href="x">xsltStylesheet</a><br><a href="y">xsltEvalParam</a></dd></dl></body>"#;
        let text = extract(index).text;
        assert!(
            text.starts_with("Home") && text.ends_with("xsltEvalParam"),
            "{text}"
        );
    }

    #[test]
    fn an_articles_header_is_content_the_pages_header_and_any_footer_are_not() {
        let page = format!(
            r#"<body><header>Site banner</header><section><header><h1>npm-pkg</h1><span>Manages your package.json</span></header>
            <p>{PROSE}</p><footer><a href="edit">Edit this page on GitHub</a></footer></section><footer>Site footer</footer></body>"#
        );
        assert_eq!(
            extract(&page).text,
            format!("npm-pkg\n\nManages your package.json\n\n{PROSE}")
        );
        let role_main = r#"<body><div role="main"><header><h1>Install</h1></header><p>Run it.</p></div></body>"#;
        assert_eq!(extract(role_main).text, "Install\n\nRun it.");
    }

    #[test]
    fn a_site_name_shared_by_a_runs_titles_is_found_and_taken_off() {
        let python = [
            "os — Miscellaneous operating system interfaces — Python 3.11.2 documentation",
            "json — JSON encoder and decoder — Python 3.11.2 documentation",
            "1. Embedding Python in Another Application — Python 3.11.2 documentation",
            "Byte Array Objects — Python 3.11.2 documentation",
            "Glossary — Python 3.11.2 documentation",
            "Index — Python 3.11.2 documentation",
            "What's New — Python 3.11.2 documentation",
            "Tutorial — Python 3.11.2 documentation",
            "Sorting — Python 3.11.2 documentation",
            "Logging — Python 3.11.2 documentation",
        ];
        let suffix = site_suffix(python).unwrap();
        assert_eq!(suffix, " — Python 3.11.2 documentation");
        assert_eq!(
            without_site_suffix(python[0].to_owned(), &suffix),
            "os — Miscellaneous operating system interfaces"
        );
        // Pages without it (a start page, old pages moved elsewhere) do not stop it while
        // most pages have it; half do.
        let mut mostly = python.to_vec();
        mostly[5..9].copy_from_slice(&["3.11.2 Documentation", "Enums", "Closures", "Traits"]);
        assert_eq!(
            site_suffix(mostly.clone()).as_deref(),
            Some(suffix.as_str())
        );
        mostly[9] = "Download";
        assert_eq!(site_suffix(mostly), None);
        // A parenthesised name, as a Texinfo manual's; fewer than three pages share nothing.
        let texinfo = [
            "Top (libffi manual)",
            "Types (libffi manual)",
            "Index (libffi manual)",
        ];
        assert_eq!(site_suffix(texinfo).as_deref(), Some(" (libffi manual)"));
        assert_eq!(site_suffix(["A | Site", "B | Site"]), None);
        assert_eq!(site_suffix(["VACUUM", "ANALYZE", "COPY"]), None);
        // A title that is the name alone stays.
        assert_eq!(
            without_site_suffix(" | Site".to_owned(), " | Site"),
            " | Site"
        );
        assert_eq!(
            title("<html><head><title>Zlib | Node.js</title></head><body><p>cut he"),
            Some("Zlib | Node.js".to_owned())
        );
    }

    #[test]
    fn a_redirect_stub_is_known_by_its_refresh() {
        assert_eq!(
            redirect(
                r#"<html><head><meta http-equiv="refresh" content="0; URL=ch18-00-oop.html"></head><body>Redirecting...</body></html>"#
            ),
            Some("ch18-00-oop.html".to_owned())
        );
        assert_eq!(
            redirect(r#"<meta http-equiv=Refresh content="0;url='new.html'">"#).as_deref(),
            Some("new.html")
        );
        // A page that reloads itself, or moves on after a while, has content of its own.
        assert_eq!(
            redirect(r#"<meta http-equiv="refresh" content="30">"#),
            None
        );
        assert_eq!(
            redirect(r#"<meta http-equiv="refresh" content="5; url=next.html">"#),
            None
        );
        assert_eq!(redirect("<p>refresh your memory</p>"), None);
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
