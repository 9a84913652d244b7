//! Routing: decides how a request finds its candidates. Each route is one implementation of
//! [`Route`]; the router asks them in order and takes the first that answers, so a new route
//! is a new type and a line in [`Router::standard`], not a change to the pipeline.

use std::future::Future;
use std::pin::Pin;

use crate::protocol::ValidQuery;
use crate::retriever::{Retrieved, Retriever};

/// A boxed future, for routes behind a trait object.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One way of finding candidates.
pub(crate) trait Route: Send + Sync {
    /// The name reported in responses and metrics.
    fn name(&self) -> &'static str;

    /// The candidates for `query`, or `None` when this route does not apply to it (the router
    /// then asks the next one).
    fn candidates<'a>(
        &'a self,
        retriever: &'a Retriever,
        query: &'a ValidQuery,
    ) -> BoxFuture<'a, Result<Option<Retrieved>, aiblox_kb::Error>>;
}

/// The routes, in order of preference.
pub(crate) struct Router {
    routes: Vec<Box<dyn Route>>,
}

impl Router {
    /// Direct lookup of `source:external_id`, then full-text search.
    pub(crate) fn standard() -> Self {
        Router {
            routes: vec![Box::new(LookupRoute), Box::new(SearchRoute)],
        }
    }

    /// The first route that applies, with its candidates.
    pub(crate) async fn route(
        &self,
        retriever: &Retriever,
        query: &ValidQuery,
    ) -> Result<(&'static str, Retrieved), aiblox_kb::Error> {
        for route in &self.routes {
            if let Some(candidates) = route.candidates(retriever, query).await? {
                return Ok((route.name(), candidates));
            }
        }
        Ok(("none", Retrieved::default()))
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|route| route.name()))
            .finish()
    }
}

/// `source:external_id` (one token, no spaces) names an item: answer from it alone. If no
/// such item exists, the search route gets the query.
pub(crate) struct LookupRoute;

impl LookupRoute {
    /// The `(source, external_id)` a query names, if it has that shape.
    pub(crate) fn parse(query: &str) -> Option<(&str, &str)> {
        if query.contains(char::is_whitespace) || query.contains("://") {
            return None;
        }
        let (source, external_id) = query.split_once(':')?;
        (!source.is_empty() && !external_id.is_empty()).then_some((source, external_id))
    }
}

impl Route for LookupRoute {
    fn name(&self) -> &'static str {
        "lookup"
    }

    fn candidates<'a>(
        &'a self,
        retriever: &'a Retriever,
        query: &'a ValidQuery,
    ) -> BoxFuture<'a, Result<Option<Retrieved>, aiblox_kb::Error>> {
        Box::pin(async move {
            let Some((source, external_id)) = Self::parse(&query.query) else {
                return Ok(None);
            };
            Ok(retriever
                .lookup(source, external_id, query.sources.as_deref())
                .await?
                .map(|candidate| Retrieved {
                    terms: Vec::new(),
                    candidates: vec![candidate],
                }))
        })
    }
}

/// BM25 search over titles and contents, any term of the question.
pub(crate) struct SearchRoute;

impl Route for SearchRoute {
    fn name(&self) -> &'static str {
        "search"
    }

    fn candidates<'a>(
        &'a self,
        retriever: &'a Retriever,
        query: &'a ValidQuery,
    ) -> BoxFuture<'a, Result<Option<Retrieved>, aiblox_kb::Error>> {
        Box::pin(async move {
            Ok(Some(
                retriever
                    .search(&query.query, query.sources.as_deref())
                    .await?,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_single_source_colon_id_tokens() {
        assert_eq!(
            LookupRoute::parse("docs:sql-vacuum.html"),
            Some(("docs", "sql-vacuum.html"))
        );
        assert_eq!(
            LookupRoute::parse("tickets:1234:comment"),
            Some(("tickets", "1234:comment"))
        );
        for not_lookup in [
            "what is vacuum: a guide",
            "https://example.com",
            ":id",
            "source:",
            "plain",
        ] {
            assert_eq!(LookupRoute::parse(not_lookup), None, "{not_lookup}");
        }
    }
}
