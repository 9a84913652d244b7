//! Routing: which legs answer a question. A question shaped `source:external_id` names an item
//! and is answered from it alone (a lookup); any other question, or a lookup whose item does
//! not exist, is a search by the legs its mode asks for: lexical (BM25), dense (the question's
//! embedding) or both (hybrid).

use crate::protocol::Mode;

/// How a question finds its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route<'q> {
    /// The item named `source:external_id`, if it exists; else a search whose lexical leg
    /// runs whatever the mode (the question may be words after all).
    Lookup {
        source: &'q str,
        external_id: &'q str,
    },
    /// A search by the legs of the mode.
    Search(Mode),
}

impl<'q> Route<'q> {
    /// The route of `question` in `mode`.
    pub(crate) fn of(question: &'q str, mode: Mode) -> Route<'q> {
        match parse_lookup(question) {
            Some((source, external_id)) => Route::Lookup {
                source,
                external_id,
            },
            None => Route::Search(mode),
        }
    }

    /// Whether the lexical leg runs on this route when the named item (if any) is missing: a
    /// search in dense mode has no lexical leg; a lookup that finds nothing falls back to the
    /// lexical search whatever the mode.
    pub(crate) fn searches_lexically(self) -> bool {
        match self {
            Route::Lookup { .. } => true,
            Route::Search(mode) => mode != Mode::Dense,
        }
    }
}

/// The `(source, external_id)` a question names: one token (no spaces, not a URL) of the
/// form `source:external_id`, both parts non-empty.
fn parse_lookup(question: &str) -> Option<(&str, &str)> {
    if question.contains(char::is_whitespace) || question.contains("://") {
        return None;
    }
    let (source, external_id) = question.split_once(':')?;
    (!source.is_empty() && !external_id.is_empty()).then_some((source, external_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_single_source_colon_id_tokens() {
        assert_eq!(
            parse_lookup("docs:sql-vacuum.html"),
            Some(("docs", "sql-vacuum.html"))
        );
        assert_eq!(
            parse_lookup("tickets:1234:comment"),
            Some(("tickets", "1234:comment"))
        );
        for not_lookup in [
            "what is vacuum: a guide",
            "https://example.com",
            ":id",
            "source:",
            "plain",
        ] {
            assert_eq!(parse_lookup(not_lookup), None, "{not_lookup}");
        }
    }

    #[test]
    fn a_route_names_its_legs() {
        assert_eq!(
            Route::of("docs:a.md", Mode::Dense),
            Route::Lookup {
                source: "docs",
                external_id: "a.md",
            }
        );
        assert!(Route::of("docs:a.md", Mode::Dense).searches_lexically());
        assert!(!Route::of("reclaim space", Mode::Dense).searches_lexically());
        assert!(Route::of("reclaim space", Mode::Hybrid).searches_lexically());
        assert_eq!(
            Route::of("reclaim space", Mode::Lexical),
            Route::Search(Mode::Lexical)
        );
    }
}
