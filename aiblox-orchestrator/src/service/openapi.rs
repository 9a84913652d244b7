//! The OpenAPI 3.1 description of the HTTP API, served at `/openapi.json`: the routes and
//! their answers are written here; every body's schema is derived from the protocol's types.

use serde_json::{Value, json};

use crate::protocol::schema::{components, reference};
use crate::protocol::{
    BatchWrite, BatchWritten, ErrorBody, ItemResponse, ItemWrite, ItemWritten, MAX_LISTED_ITEMS,
    Mode, QueryRequest, QueryResponse, SourceItems, SourcesResponse,
};

/// The document.
pub(crate) fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "aiblox orchestrator", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Routed retrieval over the aiblox knowledge base, with cited evidence."},
        "paths": paths(),
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
            "description": "An API key's token, when the service has a keys file (AIBLOX_API_KEYS_FILE); /v1/* only. Without keys the service is anonymous (on loopback unless allowed)."}},
        "schemas": components()}
    })
}

/// An error answer: its description and the error body.
fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": reference::<ErrorBody>()}}})
}

/// The routes and their answers.
fn paths() -> Value {
    let mut paths = read_paths();
    if let (Some(all), Value::Object(writes)) = (paths.as_object_mut(), write_paths()) {
        all.extend(writes);
    }
    paths
}

/// The routes that write items, and the listing a sync client reads.
fn write_paths() -> Value {
    json!({
        "/v1/items/{source}/{external_id}": {
            "parameters": [
                {"name": "source", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "external_id", "in": "path", "required": true, "description": "May hold slashes (a path)", "schema": {"type": "string"}}],
            "get": {
                "summary": "One item, by its source and external id",
                "responses": {
                    "200": {"description": "The item", "content": {"application/json": {"schema": reference::<ItemResponse>()}}},
                    "401": error_response("No API key, or an unknown one (with keys in force)"),
                    "404": error_response("No such item, or one outside the key's sources or filter")
                },
                "security": [{"bearer": []}, {}]
            },
            "put": {
                "summary": "Create or replace an item (a key with the write permission, within its sources)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": reference::<ItemWrite>()}}},
                "responses": {
                    "200": {"description": "Written: its id, and whether it was inserted, updated or unchanged", "content": {"application/json": {"schema": reference::<ItemWritten>()}}},
                    "401": error_response("No API key, or an unknown one (with keys in force)"),
                    "403": error_response("The key may only read, or an item would not match its filter; an anonymous caller off loopback or naming another host"),
                    "404": error_response("The source is outside the key's sources"),
                    "413": error_response("Body over limits.max_write_body_bytes"),
                    "422": error_response("A field breaks the contract's rules (metadata not an object, bad page starts, ...)"),
                    "429": error_response("The key is over its requests per second")
                },
                "security": [{"bearer": []}, {}]
            },
            "delete": {
                "summary": "Delete an item, with its index entries, cached chunks and vectors",
                "responses": {
                    "204": {"description": "Deleted"},
                    "401": error_response("No API key, or an unknown one (with keys in force)"),
                    "403": error_response("The key may only read, or an item would not match its filter; an anonymous caller off loopback or naming another host"),
                    "404": error_response("No such item, or one outside the key's sources"),
                    "429": error_response("The key is over its requests per second")
                },
                "security": [{"bearer": []}, {}]
            }
        },
        "/v1/items": {"post": {
            "summary": "Write up to 1,000 items in one transaction: all, or none",
            "requestBody": {"required": true, "content": {"application/json": {"schema": reference::<BatchWrite>()}}},
            "responses": {
                "200": {"description": "Each item written, in the batch's order", "content": {"application/json": {"schema": reference::<BatchWritten>()}}},
                "401": error_response("No API key, or an unknown one (with keys in force)"),
                "403": error_response("An item the key may not write (the message names its index); nothing was written"),
                "404": error_response("An item of a source outside the key's sources; nothing was written"),
                "413": error_response("Body over limits.max_write_body_bytes"),
                "422": error_response("An empty or oversized batch, or an item breaking the contract's rules (named by index); nothing was written"),
                "429": error_response("The key is over its requests per second")
            },
            "security": [{"bearer": []}, {}]
        }},
        "/v1/sources/{source}/items": {"get": {
            "summary": "A source's items page by page (id, external id, content hash, update time), for a sync client",
            "parameters": [
                {"name": "source", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "after", "in": "query", "required": false, "description": "The previous page's `next`", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LISTED_ITEMS, "default": 1000}}],
            "responses": {
                "200": {"description": "A page, in external id order", "content": {"application/json": {"schema": reference::<SourceItems>()}}},
                "401": error_response("No API key, or an unknown one (with keys in force)"),
                "404": error_response("The source is outside the key's sources"),
                "422": error_response("limit out of range")
            },
            "security": [{"bearer": []}, {}]
        }}
    })
}

/// The routes that read, and the service's own.
fn read_paths() -> Value {
    json!({
        "/v1/query": {"post": {
            "summary": "Answer a question with evidence passages, best first",
            "requestBody": {"required": true, "content": {"application/json": {"schema": reference::<QueryRequest>()}}},
            "responses": {
                "200": {"description": "Evidence", "content": {"application/json": {"schema": reference::<QueryResponse>()}}},
                "400": error_response("Body is not valid JSON"),
                "413": error_response("Body over the size limit"),
                "415": error_response("Content-Type is not application/json"),
                "401": error_response("No API key, or an unknown one (with keys in force)"),
                "403": error_response("The key may not read any of the sources asked for"),
                "422": error_response("A field breaks the protocol's rules"),
                "429": error_response("The key is over its requests per second (Retry-After says when to retry)"),
                "503": error_response("Knowledge base unavailable, or the time budget ran out")
            },
            "security": [{"bearer": []}, {}]
        }},
        "/v1/items/{id}": {"get": {
            "summary": "One item of the knowledge base",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}],
            "responses": {
                "200": {"description": "The item", "content": {"application/json": {"schema": reference::<ItemResponse>()}}},
                "400": error_response("The id is not an integer"),
                "401": error_response("No API key, or an unknown one (with keys in force)"),
                "404": error_response("No such item, or one outside the key's sources"),
                "429": error_response("The key is over its requests per second"),
                "503": error_response("Knowledge base unavailable")
            },
            "security": [{"bearer": []}, {}]
        }},
        "/v1/sources": {"get": {
            "summary": "The sources the caller may read, with their item counts",
            "responses": {
                "200": {"description": "The sources, by name", "content": {"application/json": {"schema": reference::<SourcesResponse>()}}},
                "401": error_response("No API key, or an unknown one (with keys in force)"),
                "429": error_response("The key is over its requests per second"),
                "503": error_response("Knowledge base unavailable")
            },
            "security": [{"bearer": []}, {}]
        }},
        "/v1/index": {"get": {
            "summary": "How far the dense leg's vectors cover the knowledge base",
            "responses": {"200": {"description": "model (null without one: lexical only), chunker, mode, items, indexed, vectors_in_memory, vector_bytes_in_memory, embedded_here {items, chunks, seconds}",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "model": {"type": ["string", "null"]}, "chunker": {"type": "string"},
                    "mode": reference::<Mode>(),
                    "items": {"type": "integer"}, "indexed": {"type": "integer"},
                    "vectors_in_memory": {"type": "integer"}, "vector_bytes_in_memory": {"type": "integer"},
                    "embedded_here": {"type": "object"}}}}}}}
        }},
        "/healthz": {"get": {"summary": "The process is alive", "responses": {"200": {"description": "Alive"}}}},
        "/readyz": {"get": {"summary": "The database answers and its contract is compatible",
                            "responses": {"200": {"description": "Ready"}, "503": error_response("Not ready")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "OpenMetrics text"}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        CandidateExplain, ErrorBody, ErrorCode, ErrorDetail, Evidence, EvidenceExplain,
        FacetCounts, FacetValue, Facets, Filter, ItemResponse, LegRank, MatchedTerm, QueryExplain,
        RouteName, Scalar, Stats, TermWeight, Warning, WarningCode,
    };

    /// A request with every field set.
    fn every_request_field() -> QueryRequest {
        QueryRequest {
            query: "vacuum".to_owned(),
            top_k: Some(3),
            sources: Some(vec!["docs".to_owned()]),
            max_chunks_per_item: Some(2),
            min_score: Some(0.5),
            explain: true,
            mode: Some(Mode::Hybrid),
            filter: Some(every_filter_field()),
            facets: Some(vec!["metadata.lang".to_owned()]),
            after: Some("16/B374D848".to_owned()),
        }
    }

    /// A filter with every field set (not a valid one: the walk checks names, not rules).
    fn every_filter_field() -> Filter {
        let leaf = Filter {
            field: Some("metadata.lang".to_owned()),
            eq: Some(Scalar::Text("en".to_owned())),
            any_of: Some(vec![Scalar::Bool(true)]),
            gt: Some(Scalar::Number(1.0)),
            gte: Some(Scalar::Number(1.0)),
            lt: Some(Scalar::Number(2.0)),
            lte: Some(Scalar::Number(2.0)),
            exists: Some(true),
            ..Filter::default()
        };
        Filter {
            and: Some(vec![leaf.clone()]),
            or: Some(vec![leaf.clone()]),
            not: Some(Box::new(leaf.clone())),
            ..leaf
        }
    }

    /// A response with every field set, optional ones included.
    fn every_response_field() -> QueryResponse {
        let leg = LegRank {
            rank: 1,
            score: 2.0,
        };
        QueryResponse {
            route: RouteName::Search,
            evidence: vec![Evidence {
                item_id: 1,
                source: "docs".to_owned(),
                external_id: "a.md".to_owned(),
                title: Some("A".to_owned()),
                chunk_index: 0,
                text: "vacuum".to_owned(),
                start: 0,
                end: 6,
                page: Some(3),
                pages: Some([3, 4]),
                score: 1.0,
                highlights: vec![[0, 6]],
                explain: Some(EvidenceExplain {
                    page_score: 1.0,
                    passage_score: 1.0,
                    passage_bm25: Some(1.0),
                    passage_cosine: Some(0.5),
                    page_weight: 0.7,
                    matched_terms: vec![MatchedTerm {
                        term: "vacuum".to_owned(),
                        idf: 1.0,
                        frequency: 1,
                    }],
                }),
            }],
            stats: Stats {
                mode: Mode::Hybrid,
                candidates: 1,
                chunk_cache_hits: 1,
                chunk_cache_misses: 0,
                elapsed_ms: 1,
            },
            explain: Some(QueryExplain {
                terms: vec![TermWeight {
                    term: "vacuum".to_owned(),
                    idf: 1.0,
                }],
                candidates: vec![CandidateExplain {
                    item_id: 1,
                    source: "docs".to_owned(),
                    external_id: "a.md".to_owned(),
                    score: 1.0,
                    lexical: Some(leg),
                    dense: Some(leg),
                }],
            }),
            warnings: vec![Warning {
                code: WarningCode::LookupNotFound,
                message: "m".to_owned(),
            }],
            facets: Some(Facets {
                candidates: 1,
                fields: vec![FacetCounts {
                    field: "metadata.lang".to_owned(),
                    values: vec![FacetValue {
                        value: Scalar::Text("en".to_owned()),
                        count: 1,
                    }],
                }],
            }),
        }
    }

    /// The schema `schema` stands for: following a `$ref` into the document's components, and
    /// an optional value's `anyOf` (the schema and null) to the schema.
    fn resolved<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/schemas/");
            return &document["components"]["schemas"][name];
        }
        match schema["anyOf"].as_array().map(Vec::as_slice) {
            Some([one, null] | [null, one]) if null["type"] == "null" => resolved(document, one),
            _ => schema,
        }
    }

    /// Every field of `value` (recursively) is a property of `schema`, and every property of
    /// `schema` is a field of `value` (the examples set every field, once: inside a value of a
    /// recursive type, such as a filter's `and`, only the first way is checked); the paths
    /// that are not.
    fn differences(document: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
        walk(document, schema, value, at, &mut Vec::new())
    }

    fn walk<'d>(
        document: &'d Value,
        schema: &'d Value,
        value: &Value,
        at: &str,
        outer: &mut Vec<*const Value>,
    ) -> Vec<String> {
        let schema = resolved(document, schema);
        match value {
            Value::Object(fields) => {
                let Some(properties) = schema["properties"].as_object() else {
                    // A free-form object (`metadata`) holds what it likes.
                    if schema["type"] == "object" {
                        return Vec::new();
                    }
                    return vec![format!("{at}: an object the document gives no properties")];
                };
                let recursive = outer.contains(&(schema as *const Value));
                let mut found: Vec<String> = properties
                    .keys()
                    .filter(|key| !recursive && !fields.contains_key(*key))
                    .map(|key| format!("{at}.{key}: in the document, not in the type"))
                    .collect();
                outer.push(schema);
                for (key, field) in fields {
                    match properties.get(key) {
                        Some(property) => found.extend(walk(
                            document,
                            property,
                            field,
                            &format!("{at}.{key}"),
                            outer,
                        )),
                        None => found.push(format!("{at}.{key}: missing from the document")),
                    }
                }
                outer.pop();
                found
            }
            Value::Array(items) if schema.get("items").is_some() => items
                .iter()
                .flat_map(|item| walk(document, &schema["items"], item, &format!("{at}[]"), outer))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The document cannot miss a field of the protocol's types, nor name one they do not
    /// have: each type, with every field set, is walked against its schema.
    #[test]
    fn the_document_describes_every_field_of_the_protocol() {
        let document = document();
        let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
        let item = ItemResponse {
            id: 1,
            source: "docs".to_owned(),
            external_id: "a.md".to_owned(),
            title: Some("A".to_owned()),
            content: "text".to_owned(),
            content_hash: "00".repeat(32),
            metadata: json!({}),
            page_starts: Some(vec![0, 2]),
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        let error = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::NotFound,
                message: "m".to_owned(),
            },
        };
        let mut found = Vec::new();
        for (name, value) in [
            (
                "QueryRequest",
                serde_json::to_value(every_request_field()).unwrap(),
            ),
            (
                "QueryResponse",
                serde_json::to_value(every_response_field()).unwrap(),
            ),
            ("Item", serde_json::to_value(item).unwrap()),
            ("Error", serde_json::to_value(error).unwrap()),
        ] {
            found.extend(differences(&document, &schema(name), &value, name));
        }
        assert!(
            found.is_empty(),
            "the OpenAPI document and the protocol differ: {found:#?}"
        );
        // The walk itself finds a field the document lacks.
        let mut extra = serde_json::to_value(every_request_field()).unwrap();
        extra["new_field"] = json!(1);
        assert_eq!(
            differences(&document, &schema("QueryRequest"), &extra, "QueryRequest"),
            ["QueryRequest.new_field: missing from the document"]
        );
    }

    /// The HTTP API changes only when meant to: `openapi.json` beside this crate's manifest is
    /// the reviewed document, and this test fails when the served one differs. After a
    /// deliberate change, `AIBLOX_BLESS_OPENAPI=1 cargo test -p aiblox-orchestrator --lib
    /// openapi` rewrites it; commit it with the change (and a CHANGELOG line).
    #[test]
    fn the_served_document_is_the_reviewed_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
        let served = format!("{}\n", serde_json::to_string_pretty(&document()).unwrap());
        if std::env::var_os("AIBLOX_BLESS_OPENAPI").is_some() {
            std::fs::write(&path, &served).unwrap();
        }
        let reviewed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            reviewed == served,
            "the HTTP API changed ({} differs from the served /openapi.json): if meant, run \
             `AIBLOX_BLESS_OPENAPI=1 cargo test -p aiblox-orchestrator --lib openapi` and commit \
             it with a CHANGELOG line",
            path.display()
        );
    }
}
