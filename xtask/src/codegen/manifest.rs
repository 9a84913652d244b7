//! The contract as a manifest (`aiblox-kb/contract.json`): versions, migrations and every query
//! with its parameters and row columns, typed by the database and with the nullability the
//! queries declare (as cornucopia read it). Any language's generator reads it
//! (docs/contract-manifest.md).
//!
//! Nullability comes from the code cornucopia generated (an `Option` is nullable), types from
//! preparing each query's SQL, as cornucopia rewrote it, against the migrated scratch database.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use syn::ext::IdentExt as _;
use syn::{FnArg, GenericArgument, ImplItem, Item, PathArguments, ReturnType, Type};
use tokio_postgres::types::{Kind, Type as PgType};

use crate::file_tree::FileTree;
use crate::scratch_db::ScratchDatabase;

/// Where the manifest is written, inside the contract crate's directory.
pub(crate) const FILE_NAME: &str = "contract.json";
/// The manifest's own format; a generator refuses a format it does not know.
pub(crate) const FORMAT: u32 = 1;

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ContractManifest {
    /// The JSON Schema describing this file (relative to the file).
    #[serde(rename = "$schema")]
    pub(crate) json_schema: String,
    pub(crate) format: u32,
    pub(crate) contract: Versions,
    pub(crate) runner: Runner,
    pub(crate) migrations: Vec<Migration>,
    pub(crate) queries: Vec<Query>,
}

/// The versions a block of the contract carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Versions {
    /// The contract crate's name.
    pub(crate) name: String,
    /// The contract's version (`aiblox-kb`'s): what a generated package is versioned as.
    pub(crate) version: String,
    /// The schema version: recorded with each migration and compared by the compatibility rule.
    pub(crate) schema_version: String,
    /// The fingerprint of `schema/` and `queries/`, recorded with each migration.
    pub(crate) fingerprint: String,
}

/// What every migration runner shares (`aiblox_sqlfile::runner`): runners of any language
/// started together must take the same lock and keep the same history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Runner {
    /// The history table's name, in the migrated schema.
    pub(crate) history_table: String,
    /// Its columns, as `CREATE TABLE <schema>.<history_table> (<these>)` takes them.
    pub(crate) history_table_columns: String,
    /// The advisory lock's key: the first 8 bytes, big-endian and signed, of the SHA-256 of
    /// this prefix followed by the schema's name.
    pub(crate) lock_key_prefix: String,
}

impl Runner {
    fn shared() -> Runner {
        Runner {
            history_table: aiblox_sqlfile::HISTORY_TABLE.to_owned(),
            history_table_columns: aiblox_sqlfile::HISTORY_TABLE_COLUMNS.to_owned(),
            lock_key_prefix: aiblox_sqlfile::MIGRATION_LOCK_PREFIX.to_owned(),
        }
    }
}

/// One migration, as the runner applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Migration {
    pub(crate) version: u32,
    pub(crate) file_name: String,
    pub(crate) name: String,
    /// SHA-256 (hex) of the SQL with CRLF line endings read as LF.
    pub(crate) checksum: String,
    /// Whether it runs outside a transaction (`-- aiblox:no-transaction`).
    pub(crate) outside_transaction: bool,
    pub(crate) sql: String,
    /// The statements the runner executes one by one, with their byte offsets in `sql`.
    pub(crate) statements: Vec<Statement>,
}

/// One statement of a migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Statement {
    pub(crate) offset: usize,
    pub(crate) sql: String,
}

/// One named query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Query {
    pub(crate) name: String,
    /// The file it is declared in, relative to the workspace (`queries/item.sql`).
    pub(crate) file: String,
    /// The SQL sent to the server, with positional parameters (`$1`, in `parameters` order).
    pub(crate) sql: String,
    pub(crate) parameters: Vec<Value>,
    /// `None` when the query returns no rows (its result is the number of rows affected).
    pub(crate) row: Option<Row>,
}

/// What a query's rows hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    /// The row type's name, shared by queries declaring the same type; `None` for a single
    /// column read as a plain value.
    pub(crate) type_name: Option<String>,
    pub(crate) columns: Vec<Value>,
}

/// A parameter or a column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Value {
    pub(crate) name: String,
    /// PostgreSQL's name of the type (of the element, for an array): `int8`, `text`, `jsonb`.
    #[serde(rename = "type")]
    pub(crate) pg_type: String,
    pub(crate) array: bool,
    pub(crate) nullable: bool,
    /// For an array: whether its elements may be NULL (always false otherwise).
    pub(crate) element_nullable: bool,
}

/// A query as cornucopia generated it: SQL, parameters and row shape, without types yet.
struct GeneratedQuery {
    name: String,
    sql: String,
    parameters: Vec<Named>,
    row: GeneratedRow,
}

enum GeneratedRow {
    None,
    /// A single column read as a value: nullable, element nullable.
    Scalar(bool, bool),
    /// A named struct.
    Struct(String),
}

/// What a bind method's query yields per row: the output type's name and nullability.
type Output = Option<Named>;

/// A generated parameter or field: its name, whether it is nullable, whether its array's
/// elements are.
type Named = (String, bool, bool);

/// Fields of a generated row struct.
type Fields = Vec<Named>;

/// Reads the generated crate's query modules and types every query by preparing it.
pub(crate) fn build(
    database: &ScratchDatabase,
    generated: &FileTree,
    versions: Versions,
    migrations: Vec<Migration>,
) -> anyhow::Result<ContractManifest> {
    let mut queries = Vec::new();
    for (path, contents) in generated {
        let Ok(module) = path.strip_prefix("src/queries") else {
            continue;
        };
        let module = module.with_extension("");
        let text = std::str::from_utf8(contents)
            .with_context(|| format!("{} is not UTF-8", path.display()))?;
        let file = format!("queries/{}.sql", module.display());
        let (found, structs) = read_module(text)
            .with_context(|| format!("could not read cornucopia's output {}", path.display()))?;
        for query in found {
            let name = query.name.clone();
            queries.push(
                typed(database, &file, query, &structs)
                    .with_context(|| format!("query {name} of {file}"))?,
            );
        }
    }
    queries.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
    Ok(ContractManifest {
        json_schema: "../docs/contract-manifest.schema.json".to_owned(),
        format: FORMAT,
        contract: versions,
        runner: Runner::shared(),
        migrations,
        queries,
    })
}

/// A migration file as the manifest describes it.
pub(crate) fn migration(path: &Path, sql: String) -> anyhow::Result<Migration> {
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .context("migration files have UTF-8 names")?
        .to_owned();
    let name = aiblox_sqlfile::MigrationName::parse(&file_name)
        .map_err(|err| anyhow::anyhow!("{file_name}: {err}"))?;
    Ok(Migration {
        version: name.version,
        name: name.description.clone(),
        checksum: aiblox_sqlfile::checksum(&sql),
        outside_transaction: aiblox_sqlfile::runs_outside_transaction(&sql),
        statements: aiblox_sqlfile::split_statements(&sql)
            .into_iter()
            .map(|statement| Statement {
                offset: statement.offset,
                sql: statement.text.to_owned(),
            })
            .collect(),
        file_name,
        sql,
    })
}

fn typed(
    database: &ScratchDatabase,
    file: &str,
    query: GeneratedQuery,
    structs: &BTreeMap<String, Fields>,
) -> anyhow::Result<Query> {
    let statement = database.prepare(&query.sql).map_err(|err| {
        anyhow::anyhow!(
            "{}: {}",
            query.name,
            crate::codegen::describe_db_error(&err)
        )
    })?;
    if statement.params().len() != query.parameters.len() {
        bail!(
            "{}: cornucopia binds {} parameters, the server counts {}",
            query.name,
            query.parameters.len(),
            statement.params().len()
        );
    }
    let parameters = query
        .parameters
        .iter()
        .zip(statement.params())
        .map(|((name, nullable, element_nullable), pg)| {
            value(name, pg, *nullable, *element_nullable)
        })
        .collect();
    let row = row_of(&query, statement.columns(), structs)?;
    Ok(Query {
        name: query.name,
        file: file.to_owned(),
        sql: query.sql,
        parameters,
        row,
    })
}

/// A query's row: its columns typed by the server, nullable as cornucopia generated them.
fn row_of(
    query: &GeneratedQuery,
    columns: &[tokio_postgres::Column],
    structs: &BTreeMap<String, Fields>,
) -> anyhow::Result<Option<Row>> {
    Ok(match &query.row {
        GeneratedRow::None => None,
        GeneratedRow::Scalar(nullable, element_nullable) => {
            let [column] = columns else {
                bail!(
                    "{}: a value was generated for {} columns",
                    query.name,
                    columns.len()
                );
            };
            Some(Row {
                type_name: None,
                columns: vec![value(
                    column.name(),
                    column.type_(),
                    *nullable,
                    *element_nullable,
                )],
            })
        }
        GeneratedRow::Struct(type_name) => {
            let fields = structs
                .get(type_name)
                .with_context(|| format!("{}: row type {type_name} not found", query.name))?;
            let columns = columns
                .iter()
                .map(|column| {
                    let (_, nullable, element_nullable) = fields
                        .iter()
                        .find(|(field, _, _)| *field == rust_field_name(column.name()))
                        .with_context(|| format!("{type_name} has no field {}", column.name()))?;
                    Ok(value(
                        column.name(),
                        column.type_(),
                        *nullable,
                        *element_nullable,
                    ))
                })
                .collect::<anyhow::Result<_>>()?;
            Some(Row {
                type_name: Some(type_name.clone()),
                columns,
            })
        }
    })
}

fn value(name: &str, pg: &PgType, nullable: bool, element_nullable: bool) -> Value {
    let (pg_type, array) = match pg.kind() {
        Kind::Array(element) => (element.name().to_owned(), true),
        _ => (pg.name().to_owned(), false),
    };
    Value {
        name: name.to_owned(),
        pg_type,
        array,
        nullable,
        element_nullable: array && element_nullable,
    }
}

/// The queries and row structs of one generated module.
fn read_module(text: &str) -> anyhow::Result<(Vec<GeneratedQuery>, BTreeMap<String, Fields>)> {
    let file = syn::parse_file(text)?;
    let mut structs = BTreeMap::new();
    let mut statements = BTreeMap::new();
    let mut binds = BTreeMap::new();
    for item in &file.items {
        match item {
            Item::Struct(item) if matches!(item.fields, syn::Fields::Named(_)) => {
                let fields = item
                    .fields
                    .iter()
                    .filter_map(|field| {
                        let (nullable, element_nullable) = nullability(&field.ty);
                        Some((
                            field.ident.as_ref()?.unraw().to_string(),
                            nullable,
                            element_nullable,
                        ))
                    })
                    .collect();
                structs.insert(item.ident.to_string(), fields);
            }
            Item::Fn(item) => {
                if let Some((stmt_type, sql)) = statement_of(item) {
                    statements.insert(stmt_type, (item.sig.ident.to_string(), sql));
                }
            }
            Item::Impl(item) if item.trait_.is_none() => {
                let Type::Path(self_type) = &*item.self_ty else {
                    continue;
                };
                let stmt_type = last_ident(&self_type.path);
                for member in &item.items {
                    if let ImplItem::Fn(method) = member
                        && method.sig.ident == "bind"
                    {
                        let shape = bind_shape(&method.sig)?;
                        let sent = sent_parameters(&method.block);
                        let declared: Vec<&str> =
                            shape.0.iter().map(|(name, _, _)| name.as_str()).collect();
                        if sent != declared {
                            bail!(
                                "{stmt_type}: bind declares parameters {declared:?} but sends {sent:?}: the \
                                 manifest reads their order from the declaration"
                            );
                        }
                        binds.insert(stmt_type.clone(), shape);
                    }
                }
            }
            _ => {}
        }
    }
    let mut queries = Vec::new();
    for (stmt_type, (name, sql)) in statements {
        let (parameters, output) = binds
            .remove(&stmt_type)
            .with_context(|| format!("{name}: no bind method on {stmt_type}"))?;
        let row = match output {
            None => GeneratedRow::None,
            Some((type_name, false, _)) if structs.contains_key(&type_name) => {
                GeneratedRow::Struct(type_name)
            }
            Some((_, nullable, element_nullable)) => {
                GeneratedRow::Scalar(nullable, element_nullable)
            }
        };
        queries.push(GeneratedQuery {
            name,
            sql,
            parameters,
            row,
        });
    }
    Ok((queries, structs))
}

/// `pub fn name() -> NameStmt { NameStmt("SQL", None) }`: the statement type and the SQL.
fn statement_of(item: &syn::ItemFn) -> Option<(String, String)> {
    let [syn::Stmt::Expr(syn::Expr::Call(call), None)] = item.block.stmts.as_slice() else {
        return None;
    };
    let syn::Expr::Path(function) = &*call.func else {
        return None;
    };
    let Some(syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(sql),
        ..
    })) = call.args.first()
    else {
        return None;
    };
    Some((last_ident(&function.path), sql.value()))
}

/// A bind method's parameters (after the statement and the client) and what it returns.
fn bind_shape(sig: &syn::Signature) -> anyhow::Result<(Vec<Named>, Output)> {
    let bounds: BTreeMap<String, String> = sig
        .generics
        .type_params()
        .map(|param| {
            let bounds = param
                .bounds
                .iter()
                .map(|b| quote::quote!(#b).to_string())
                .collect();
            (param.ident.to_string(), bounds)
        })
        .collect();
    let mut parameters = Vec::new();
    for input in sig.inputs.iter().skip(2) {
        let FnArg::Typed(input) = input else {
            bail!("unexpected receiver in bind");
        };
        let syn::Pat::Ident(name) = &*input.pat else {
            bail!("unexpected pattern in bind");
        };
        let Type::Reference(reference) = &*input.ty else {
            bail!("{}: parameters are bound by reference", name.ident);
        };
        let (nullable, _) = nullability(&reference.elem);
        let inner = if nullable {
            first_type_argument(&reference.elem)
        } else {
            Some(&*reference.elem)
        };
        let element_nullable = inner
            .and_then(|ty| match ty {
                Type::Path(path) => bounds.get(&last_ident(&path.path)),
                _ => None,
            })
            .is_some_and(|bound| bound.replace(' ', "").contains("ArraySql<Item=Option<"));
        parameters.push((name.ident.unraw().to_string(), nullable, element_nullable));
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(path) if last_ident(&path.path) == "Result" => None,
            Type::Path(path) => {
                let output =
                    query_output(path).context("bind returns a query without an output type")?;
                let (nullable, element_nullable) = nullability(output);
                let named = if nullable {
                    first_type_argument(output)
                } else {
                    Some(output)
                };
                let name = match named {
                    Some(Type::Path(named)) => last_ident(&named.path),
                    _ => String::new(),
                };
                Some((name, nullable, element_nullable))
            }
            _ => bail!("unexpected return type of bind"),
        },
        ReturnType::Default => bail!("bind returns nothing"),
    };
    Ok((parameters, output))
}

/// The parameters a bind method sends, in order: the array it hands the query (`params:
/// [a, b]`) or passes to `execute(.., &[a, b])`.
fn sent_parameters(block: &syn::Block) -> Vec<String> {
    struct Arrays(Vec<Vec<String>>);
    impl<'ast> syn::visit::Visit<'ast> for Arrays {
        fn visit_expr_array(&mut self, array: &'ast syn::ExprArray) {
            let names: Option<Vec<String>> = array
                .elems
                .iter()
                .map(|element| match element {
                    syn::Expr::Path(path) => {
                        path.path.get_ident().map(|ident| ident.unraw().to_string())
                    }
                    _ => None,
                })
                .collect();
            if let Some(names) = names {
                self.0.push(names);
            }
            syn::visit::visit_expr_array(self, array);
        }
    }
    let mut arrays = Arrays(Vec::new());
    syn::visit::Visit::visit_block(&mut arrays, block);
    arrays.0.into_iter().next().unwrap_or_default()
}

/// The name cornucopia gives a column's field: characters other than ASCII letters, digits
/// and `_` become `_` (a Rust keyword it escapes as `r#`, which `unraw` removes).
fn rust_field_name(column: &str) -> String {
    column.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_")
}

/// The output type of `XQuery<'c, 'a, 's, C, Output, N>`.
fn query_output(path: &syn::TypePath) -> Option<&Type> {
    let PathArguments::AngleBracketed(arguments) = &path.path.segments.last()?.arguments else {
        return None;
    };
    arguments
        .args
        .iter()
        .filter_map(|argument| match argument {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .nth(1)
}

/// Whether a generated type is `Option<..>`, and whether its array's elements are.
fn nullability(ty: &Type) -> (bool, bool) {
    let is =
        |ty: &Type, name: &str| matches!(ty, Type::Path(path) if last_ident(&path.path) == name);
    let nullable = is(ty, "Option");
    let inner = if nullable {
        first_type_argument(ty)
    } else {
        Some(ty)
    };
    let element_nullable = inner
        .filter(|inner| is(inner, "Vec"))
        .and_then(first_type_argument)
        .is_some_and(|element| is(element, "Option"));
    (nullable, element_nullable)
}

fn first_type_argument(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let PathArguments::AngleBracketed(arguments) = &path.path.segments.last()?.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

fn last_ident(path: &syn::Path) -> String {
    path.segments
        .last()
        .map(|segment| segment.ident.to_string())
        .unwrap_or_default()
}
