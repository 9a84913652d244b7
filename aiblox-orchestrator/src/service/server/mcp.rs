//! The knowledge base as a Model Context Protocol server (rmcp, the official Rust SDK): the
//! tools `search`, `get_item` and `list_sources` (and `store` and `delete` for callers that may
//! write), and every item as the resource
//! `aiblox://items/{id}`, served over streamable HTTP at `/mcp` (stateless, JSON answers,
//! behind the API's keys, scopes and rate limits) and over stdio (`aiblox-orchestrator mcp`).
//! The tools answer through the HTTP API's own functions; what goes wrong in a tool (a bad
//! filter, a source out of the key's scope, a spent time budget) is a tool result with
//! `isError` and a message a model can act on, not a protocol failure.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListResourceTemplatesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ResourceContents,
    ResourceTemplate, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::errors::ApiError;
use super::handlers::{ItemKey, answer, list_sources, read_item};
use super::state::AppState;
use super::writes::{delete, put};
use crate::protocol::{Evidence, QueryRequest, Warning};
use crate::service::access::Caller;

/// What an item's URI starts with; its id follows.
const ITEM_URI_PREFIX: &str = "aiblox://items/";

/// The tools' names, as clients call them (and metrics count them).
const SEARCH: &str = "search";
const GET_ITEM: &str = "get_item";
const LIST_SOURCES: &str = "list_sources";
const STORE: &str = "store";
const DELETE: &str = "delete";

/// What the server tells a model about itself when a client connects.
const INSTRUCTIONS: &str = "A knowledge base of documents. Call `search` with a question in \
    natural language to get the passages that answer it, best first, each cited by its source, \
    external id, title, page and byte offsets, with its item's URI; read a whole item with \
    `get_item` or the resource `aiblox://items/{id}`; `list_sources` names the sources to \
    narrow a search to.";

/// Who the server answers.
#[derive(Debug, Clone)]
pub(crate) enum Callers {
    /// The caller of each HTTP request, as the API's key layer found it.
    OfRequest,
    /// One caller for the whole session (stdio): a key's, or the local user's.
    Fixed(Option<Caller>),
}

/// The MCP server: the service's state and who it answers.
#[derive(Clone)]
pub(crate) struct KnowledgeBaseServer {
    state: Arc<AppState>,
    callers: Callers,
}

/// `get_item`'s arguments: exactly one of them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetItemArguments {
    /// The item's id (a passage's `item_id`).
    #[serde(default)]
    id: Option<i64>,
    /// Or its URI, `aiblox://items/{id}` (a passage's `uri`).
    #[serde(default)]
    uri: Option<String>,
    /// Or its source and external id joined by a colon, `source:external_id`.
    #[serde(default)]
    key: Option<String>,
}

/// `delete`'s arguments: the item's key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeleteArguments {
    /// The item's source.
    source: String,
    /// Its id within the source.
    external_id: String,
}

/// `list_sources` takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

/// What `search` gives: the passages, best first, and what the service warns of.
#[derive(Debug, Serialize, JsonSchema)]
struct Citations {
    /// The passages that answer the question, best first.
    passages: Vec<Cited>,
    /// What the service noticed about the question (a source that holds nothing, ...).
    warnings: Vec<Warning>,
}

/// One passage with its citation, and the URI of its whole item.
#[derive(Debug, Serialize, JsonSchema)]
struct Cited {
    #[serde(flatten)]
    evidence: Evidence,
    /// The item's URI, for `get_item` or a resource read.
    uri: String,
}

/// The JSON schema of `T`, as a tool's input or output schema (made once per type).
fn schema_of<T: JsonSchema>() -> Arc<JsonObject> {
    match schemars::schema_for!(T).to_value() {
        Value::Object(object) => Arc::new(object),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The tools, with their schemas and descriptions written for a model.
static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
    let read_only = ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false);
    vec![
        Tool::new(
            SEARCH,
            "Search the knowledge base with a question in natural language (or keywords). \
             Returns the passages that answer it, best first, each with its text, source, \
             external_id, title, page (for PDFs and office documents), byte offsets in its \
             item, a relevance score from 0 to 1 and the item's URI. Cite passages by title and \
             source. Narrow with `sources` (names from list_sources) or `filter` (on metadata, \
             source, dates); `top_k` sets how many passages (default 8).",
            schema_of::<QueryRequest>(),
        )
        .with_raw_output_schema(schema_of::<Citations>())
        .annotate(read_only.clone()),
        Tool::new(
            GET_ITEM,
            "Read one item of the knowledge base whole: its title, text, metadata and, for \
             paged documents, where each page starts. Name it by `id` (a passage's item_id), \
             `uri` (a passage's uri) or `key` (`source:external_id`).",
            schema_of::<GetItemArguments>(),
        )
        .annotate(read_only.clone()),
        Tool::new(
            LIST_SOURCES,
            "List the sources of the knowledge base you may read, with how many items each \
             holds, and how far semantic (dense) search covers the items.",
            schema_of::<NoArguments>(),
        )
        .annotate(read_only),
    ]
});

/// The tools that write, listed to callers that may write (a key with the `write` permission;
/// the anonymous caller of a loopback service or of stdio).
static WRITE_TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
    vec![
        Tool::new(
            STORE,
            "Store a document in the knowledge base, or replace the one with the same source \
             and external_id: its text (`content`), `title` and `metadata` (a JSON object). It \
             is searchable at once. Answers its id and whether it was inserted, updated or \
             unchanged.",
            schema_of::<crate::protocol::BatchItem>(),
        )
        .annotate(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        ),
        Tool::new(
            DELETE,
            "Delete a document of the knowledge base, by its source and external_id: it leaves \
             search at once.",
            schema_of::<DeleteArguments>(),
        )
        .annotate(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .idempotent(true)
                .open_world(false),
        ),
    ]
});

/// A tool that could not do what it was asked: said to the model as a tool result.
struct ToolFailure {
    code: String,
    message: String,
}

impl From<ApiError> for ToolFailure {
    fn from(error: ApiError) -> Self {
        ToolFailure {
            code: serde_json::to_value(error.code())
                .ok()
                .and_then(|code| code.as_str().map(str::to_owned))
                .unwrap_or_default(),
            message: error.message().to_owned(),
        }
    }
}

impl ToolFailure {
    fn invalid(message: impl Into<String>) -> Self {
        ToolFailure {
            code: "invalid_request".to_owned(),
            message: message.into(),
        }
    }

    fn into_result(self) -> CallToolResult {
        let structured = serde_json::json!({"code": self.code, "message": self.message});
        let mut result = CallToolResult::error(vec![ContentBlock::text(self.message)]);
        result.structured_content = Some(structured);
        result
    }
}

impl KnowledgeBaseServer {
    /// The server of `/mcp`: each request's caller is the one its key names.
    pub(crate) fn over_http(state: Arc<AppState>) -> Self {
        KnowledgeBaseServer {
            state,
            callers: Callers::OfRequest,
        }
    }

    /// The server of one stdio session, answering `caller` (`None`: anonymous).
    pub(crate) fn for_caller(state: Arc<AppState>, caller: Option<Caller>) -> Self {
        KnowledgeBaseServer {
            state,
            callers: Callers::Fixed(caller),
        }
    }

    /// Whether the caller of `context` may write (the write tools are listed to it).
    fn writes(&self, context: &RequestContext<RoleServer>) -> bool {
        match self.identify(context) {
            Ok(Some(caller)) => caller.writes(),
            Ok(None) => self.state.loopback_only,
            Err(_) => false,
        }
    }

    /// Who calls, without taking a request from its rate. Over HTTP with keys in force, a
    /// request without a key is refused (the key layer stops such requests first; this holds
    /// even if it did not).
    fn identify(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<Caller>, ToolFailure> {
        match &self.callers {
            Callers::Fixed(caller) => Ok(caller.clone()),
            Callers::OfRequest => {
                let caller = context
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .and_then(|parts| parts.extensions.get::<Caller>().cloned());
                match (caller, &self.state.access) {
                    (None, Some(_)) => Err(ToolFailure {
                        code: "unauthorized".to_owned(),
                        message: "this service needs an API key".to_owned(),
                    }),
                    (caller, _) => Ok(caller),
                }
            }
        }
    }

    /// The caller of this call, one request taken from a stdio key's rate (over HTTP the key
    /// layer took it).
    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Option<Caller>, ToolFailure> {
        match &self.callers {
            Callers::Fixed(caller) => {
                if let (Some(caller), Some(access)) = (caller, &self.state.access) {
                    access
                        .admit(caller, Instant::now())
                        .map_err(|wait| ToolFailure {
                            code: "rate_limited".to_owned(),
                            message: caller.over_rate(wait),
                        })?;
                }
                Ok(caller.clone())
            }
            Callers::OfRequest => self.identify(context),
        }
    }

    async fn call(
        &self,
        tool: &str,
        arguments: Value,
        caller: Option<&Caller>,
    ) -> Result<CallToolResult, ToolFailure> {
        match tool {
            SEARCH => self.search(arguments, caller).await,
            GET_ITEM => self.get_item(arguments, caller).await,
            STORE => {
                let item: crate::protocol::BatchItem = arguments_of(arguments)?;
                let (source, external_id, write) = item.split();
                let written = put(&self.state, caller, source, external_id, write).await?;
                let text = format!(
                    "{} {}:{} (id {}; aiblox://items/{})",
                    match written.status {
                        crate::protocol::WriteStatus::Inserted => "Stored",
                        crate::protocol::WriteStatus::Updated => "Replaced",
                        crate::protocol::WriteStatus::Unchanged => "Already stored as given:",
                    },
                    written.source,
                    written.external_id,
                    written.id,
                    written.id
                );
                Ok(structured(&written, text))
            }
            DELETE => {
                let DeleteArguments {
                    source,
                    external_id,
                } = arguments_of(arguments)?;
                delete(&self.state, caller, &source, &external_id).await?;
                Ok(structured(
                    &serde_json::json!({"deleted": true}),
                    format!("Deleted {source}:{external_id}"),
                ))
            }
            _ => {
                let NoArguments {} = arguments_of(arguments)?;
                let sources = list_sources(&self.state, caller).await?;
                let text = if sources.sources.is_empty() {
                    "No sources: the knowledge base holds nothing you may read.".to_owned()
                } else {
                    sources
                        .sources
                        .iter()
                        .map(|source| format!("{} ({} items)", source.source, source.items))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                Ok(structured(&sources, text))
            }
        }
    }

    async fn search(
        &self,
        arguments: Value,
        caller: Option<&Caller>,
    ) -> Result<CallToolResult, ToolFailure> {
        let request: QueryRequest = arguments_of(arguments)?;
        let response = answer(&self.state, caller, request).await?;
        let citations = Citations {
            passages: response
                .evidence
                .into_iter()
                .map(|evidence| Cited {
                    uri: format!("{ITEM_URI_PREFIX}{}", evidence.item_id),
                    evidence,
                })
                .collect(),
            warnings: response.warnings,
        };
        let text = render(&citations);
        Ok(structured(&citations, text))
    }

    async fn get_item(
        &self,
        arguments: Value,
        caller: Option<&Caller>,
    ) -> Result<CallToolResult, ToolFailure> {
        let key = match arguments_of::<GetItemArguments>(arguments)? {
            GetItemArguments {
                id: Some(id),
                uri: None,
                key: None,
            } => ItemKey::Id(id),
            GetItemArguments {
                id: None,
                uri: Some(uri),
                key: None,
            } => ItemKey::Id(item_id_of_uri(&uri).map_err(ToolFailure::invalid)?),
            GetItemArguments {
                id: None,
                uri: None,
                key: Some(key),
            } => match key.split_once(':') {
                Some((source, external_id)) if !source.is_empty() && !external_id.is_empty() => {
                    ItemKey::SourceAndExternalId(source.to_owned(), external_id.to_owned())
                }
                _ => {
                    return Err(ToolFailure::invalid(format!(
                        "key {key:?} is not `source:external_id`"
                    )));
                }
            },
            _ => {
                return Err(ToolFailure::invalid(
                    "name the item by exactly one of `id`, `uri` and `key`",
                ));
            }
        };
        let item = read_item(&self.state, caller, key).await?;
        let text = match &item.title {
            Some(title) => format!("{title}\n\n{}", item.content),
            None => item.content.clone(),
        };
        Ok(structured(&item, text))
    }
}

/// A tool's `arguments` as `T`; the error says what is wrong with them.
fn arguments_of<T: serde::de::DeserializeOwned>(arguments: Value) -> Result<T, ToolFailure> {
    serde_json::from_value(arguments)
        .map_err(|err| ToolFailure::invalid(format!("invalid arguments: {err}")))
}

/// A tool's result: `value` as structured content, `text` for a model to read.
fn structured(value: &impl Serialize, text: String) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(serde_json::to_value(value).unwrap_or(Value::Null));
    result
}

/// The passages as a model reads them: numbered, each with its citation, then its text.
fn render(citations: &Citations) -> String {
    let mut text = String::new();
    for warning in &citations.warnings {
        text.push_str(&format!("Note: {}\n\n", warning.message));
    }
    if citations.passages.is_empty() {
        text.push_str("No passage matched the question.");
        return text;
    }
    for (rank, cited) in citations.passages.iter().enumerate() {
        let evidence = &cited.evidence;
        let title = evidence.title.as_deref().unwrap_or(&evidence.external_id);
        let page = match (evidence.pages, evidence.page) {
            (Some([first, last]), _) => format!(", pages {first}-{last}"),
            (None, Some(page)) => format!(", page {page}"),
            (None, None) => String::new(),
        };
        text.push_str(&format!(
            "[{}] {title} ({}:{}{page}; score {:.2}; {})\n{}\n\n",
            rank + 1,
            evidence.source,
            evidence.external_id,
            evidence.score,
            cited.uri,
            evidence.text
        ));
    }
    text.truncate(text.trim_end().len());
    text
}

/// The id in an item's URI (`aiblox://items/{id}`); why not.
fn item_id_of_uri(uri: &str) -> Result<i64, String> {
    uri.strip_prefix(ITEM_URI_PREFIX)
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or_else(|| format!("{uri:?} is not an item's URI ({ITEM_URI_PREFIX}{{id}})"))
}

impl ServerHandler for KnowledgeBaseServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(
            "aiblox-orchestrator",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = TOOLS.clone();
        if self.writes(&context) {
            tools.extend(WRITE_TOOLS.iter().cloned());
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tool = request.name.as_ref();
        if !TOOLS
            .iter()
            .chain(WRITE_TOOLS.iter())
            .any(|known| known.name == tool)
        {
            self.state.metrics.count_mcp_call("unknown", "error");
            return Err(ErrorData::invalid_params(
                format!(
                    "no tool {tool:?}; the tools are {SEARCH}, {GET_ITEM}, {LIST_SOURCES}, and \
                     {STORE} and {DELETE} for callers that may write"
                ),
                None,
            ));
        }
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let outcome = match self.caller(&context) {
            Ok(caller) => self.call(tool, arguments, caller.as_ref()).await,
            Err(failure) => Err(failure),
        };
        let result = match outcome {
            Ok(result) => result,
            Err(failure) => failure.into_result(),
        };
        let label = if result.is_error == Some(true) {
            "error"
        } else {
            "ok"
        };
        self.state.metrics.count_mcp_call(tool, label);
        Ok(result.into())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{ITEM_URI_PREFIX}{{id}}"), "item")
                .with_title("An item of the knowledge base")
                .with_description(
                    "One item's whole text, by its id (the `uri` of a search passage)",
                )
                .with_mime_type("text/plain"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let id = item_id_of_uri(&request.uri)
            .map_err(|message| ErrorData::resource_not_found(message, None))?;
        let caller = self
            .caller(&context)
            .map_err(|failure| ErrorData::invalid_request(failure.message, None))?;
        let item = read_item(&self.state, caller.as_ref(), ItemKey::Id(id))
            .await
            .map_err(|error| match error.code() {
                crate::protocol::ErrorCode::NotFound => {
                    ErrorData::resource_not_found(error.message().to_owned(), None)
                }
                _ => ErrorData::internal_error(error.message().to_owned(), None),
            })?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(item.content, request.uri).with_mime_type("text/plain"),
        ])
        .into())
    }
}

/// Serves one MCP session over this process's stdin and stdout, answering `caller` (`None`:
/// the anonymous local user), until the client closes it.
pub(crate) async fn serve_stdio(
    state: Arc<AppState>,
    caller: Option<Caller>,
) -> Result<(), std::io::Error> {
    use rmcp::ServiceExt as _;
    let running = KnowledgeBaseServer::for_caller(state, caller)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}

/// The streamable HTTP service of `/mcp`: stateless (no sessions: any replica answers any
/// request), JSON answers; on a loopback service without keys the `Host` header must name
/// loopback (rmcp's guard against DNS rebinding, as MCP asks of local servers); with keys, or
/// anonymous callers allowed on another address, it is not checked.
pub(crate) fn http_service(
    state: Arc<AppState>,
    max_body_bytes: usize,
) -> StreamableHttpService<KnowledgeBaseServer, NeverSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(max_body_bytes);
    let config = if state.loopback_only {
        config
    } else {
        config.disable_allowed_hosts()
    };
    StreamableHttpService::new(
        move || Ok(KnowledgeBaseServer::over_http(state.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_uris_name_ids_and_nothing_else() {
        assert_eq!(item_id_of_uri("aiblox://items/42"), Ok(42));
        for bad in [
            "aiblox://items/",
            "aiblox://items/x",
            "http://items/42",
            "42",
        ] {
            assert!(item_id_of_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_tools_schemas_are_objects_with_the_protocols_bounds() {
        let search = &TOOLS[0];
        assert_eq!(search.name, SEARCH);
        assert_eq!(search.input_schema["type"], "object");
        assert_eq!(
            search.input_schema["required"],
            serde_json::json!(["query"])
        );
        assert_eq!(
            search.input_schema["properties"]["top_k"]["maximum"],
            serde_json::json!(crate::protocol::MAX_TOP_K)
        );
        let output = search.output_schema.as_ref().unwrap();
        assert!(output["properties"]["passages"].is_object());
        for tool in TOOLS.iter() {
            assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
        }
    }
}
