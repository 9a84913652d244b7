//! Warnings: what a caller should know about an answer (why it is empty, or how it differs
//! from what was asked), from what the legs found. Each says what happened and what to do.

use aiblox_kb::QueryTerm;

use super::route::Route;
use crate::protocol::RouteName;
use crate::protocol::{Warning, WarningCode};

/// What the lexical leg's outcome says: a lookup that fell back to a search (`route` asked,
/// `taken` went), a search (`searched`) that found none of the question's `terms` indexed.
pub(crate) fn of_the_route(
    route: Route<'_>,
    taken: RouteName,
    searched: bool,
    terms: &[QueryTerm],
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if let Route::Lookup {
        source,
        external_id,
    } = route
        && taken == RouteName::Search
    {
        warnings.push(lookup_not_found(source, external_id));
    }
    if searched && terms.is_empty() {
        warnings.push(no_searchable_terms());
    }
    warnings
}

/// The question named an item it may not have (missing, or outside the sources the request
/// may read: the same words either way, so a caller learns nothing of items it may not read).
pub(crate) fn lookup_not_found(source: &str, external_id: &str) -> Warning {
    Warning {
        code: WarningCode::LookupNotFound,
        message: format!(
            "no item `{source}:{external_id}` this request may read: the question was answered \
             as a search instead (GET /v1/items/{{id}} reads an item by its id)"
        ),
    }
}

/// No word of the question is in the lexical index.
pub(crate) fn no_searchable_terms() -> Warning {
    Warning {
        code: WarningCode::NoSearchableTerms,
        message: "no word of the question is in the lexical index (only stop words, or words \
                  no item holds): the lexical search had nothing to rank; ask with other words"
            .to_owned(),
    }
}

/// The filter keeps no item.
pub(crate) fn filter_without_items() -> Warning {
    Warning {
        code: WarningCode::FilterWithoutItems,
        message: "the filter keeps no item of the knowledge base (with the API key's filter, \
                  when it has one): check its fields and values"
            .to_owned(),
    }
}

/// Sources asked for that hold no item.
pub(crate) fn sources_without_items(sources: &[String]) -> Warning {
    let named: Vec<String> = sources.iter().map(|source| format!("`{source}`")).collect();
    Warning {
        code: WarningCode::SourcesWithoutItems,
        message: format!(
            "no item of source {} is in the knowledge base: check the name, or leave it out",
            named.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_name_what_they_are_about() {
        let lookup = lookup_not_found("docs", "a.md");
        assert_eq!(lookup.code, WarningCode::LookupNotFound);
        assert!(lookup.message.contains("`docs:a.md`"), "{}", lookup.message);
        let sources = sources_without_items(&["nope".to_owned(), "gone".to_owned()]);
        assert!(
            sources.message.contains("`nope`, `gone`"),
            "{}",
            sources.message
        );
        assert_eq!(no_searchable_terms().code, WarningCode::NoSearchableTerms);
    }
}
