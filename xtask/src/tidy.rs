//! Tidiness of the workspace as a second contributor meets it: the code map in
//! docs/ARCHITECTURE.md names every crate, module, binary, example and build script; every
//! module says what it is for in a `//!` line; no `dbg!` is left behind.

use std::path::{Path, PathBuf};

use crate::workspace::Workspace;

/// The workspace's crates (directories relative to the root), as the root manifest lists them.
fn crates(workspace: &Workspace) -> Vec<String> {
    cornucopia::cargo_toml::Manifest::from_path(workspace.manifest())
        .unwrap()
        .workspace
        .expect("a [workspace] table")
        .members
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A file's name without its extension (a directory's name).
fn name_of(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The code map section of docs/ARCHITECTURE.md.
fn code_map(workspace: &Workspace) -> String {
    let text = std::fs::read_to_string(workspace.root().join("docs/ARCHITECTURE.md")).unwrap();
    let start = text.find("## Code map").expect("a code map section");
    let end = text[start + 3..]
        .find("\n## ")
        .map_or(text.len(), |end| start + 3 + end);
    text[start..end].to_owned()
}

#[test]
fn the_code_map_names_every_crate_module_binary_example_and_build_script() {
    let workspace = Workspace::current().unwrap();
    let map = code_map(&workspace);
    let named = |name: &str| {
        map.contains(&format!("`{name}`"))
            || map.contains(&format!("`{name}.rs`"))
            || map.contains(&format!("`{name}/`"))
    };
    let mut missing = Vec::new();
    if !map.contains("`.ci/run`") {
        missing.push("`.ci/run`".to_owned());
    }
    for krate in crates(&workspace) {
        if !map.contains(&format!("`{krate}/`")) {
            missing.push(format!("crate directory `{krate}/`"));
        }
        let dir = workspace.root().join(&krate);
        if dir.join("build.rs").is_file() && !map.contains(&format!("`{krate}/build.rs`")) {
            missing.push(format!("`{krate}/build.rs`"));
        }
        // The generated crate's modules are codegen's business.
        if krate == "aiblox-kb/gen" {
            continue;
        }
        let src = dir.join("src");
        for entry in std::fs::read_dir(&src).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            let stem = name_of(&path);
            if path.is_dir() && stem == "bin" {
                for binary in std::fs::read_dir(&path).unwrap().filter_map(Result::ok) {
                    let name = name_of(&binary.path());
                    if !named(&name) {
                        missing.push(format!("binary `{name}` of {krate}"));
                    }
                }
            } else if !["lib", "main"].contains(&stem.as_str())
                && (path.is_dir() || path.extension().is_some_and(|ext| ext == "rs"))
                && !named(&stem)
            {
                missing.push(format!("module `{stem}` of {krate}"));
            }
        }
        if let Ok(examples) = std::fs::read_dir(dir.join("examples")) {
            for example in examples.filter_map(Result::ok) {
                let name = name_of(&example.path());
                if !named(&name) {
                    missing.push(format!("example `{name}` of {krate}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md's code map does not name: {}",
        missing.join(", ")
    );
}

#[test]
fn every_module_says_what_it_is_for_and_no_dbg_is_left() {
    let workspace = Workspace::current().unwrap();
    let mut unexplained = Vec::new();
    let mut debugging = Vec::new();
    for krate in crates(&workspace) {
        if krate == "aiblox-kb/gen" {
            continue;
        }
        let dir = workspace.root().join(&krate);
        for file in ["src", "tests", "examples", "benches"]
            .iter()
            .flat_map(|sub| rust_files(&dir.join(sub)))
            .chain(Some(dir.join("build.rs")).filter(|path| path.is_file()))
        {
            let text = std::fs::read_to_string(&file).unwrap();
            let shown = workspace.display(&file);
            // A test's `mod x;` files inside a tests/<name>/ directory are modules too.
            if !text.trim_start().starts_with("//!") {
                unexplained.push(shown.clone());
            }
            if text.contains(concat!("dbg", "!(")) {
                debugging.push(shown);
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "files without a `//!` line saying what they are for: {}",
        unexplained.join(", ")
    );
    assert!(
        debugging.is_empty(),
        "dbg! left in: {}",
        debugging.join(", ")
    );
}

/// Longest a function may be, in lines from its `fn` to its closing brace.
const MAX_FUNCTION_LINES: usize = 80;
/// Crates whose code runs in production: none of their functions may be longer.
const RUNTIME_CRATES: [&str; 4] = [
    "aiblox-kb",
    "aiblox-orchestrator",
    "aiblox-embed",
    "aiblox-ingest",
];
/// Functions over the limit allowed in the rest of the workspace (xtask, benchmarks, test tooling).
const MAX_LONG_FUNCTIONS_ELSEWHERE: usize = 5;

/// A function over [`MAX_FUNCTION_LINES`]: where it is, its name and its length.
#[derive(Debug)]
struct LongFunction {
    file: String,
    name: String,
    line: usize,
    lines: usize,
}

/// Collects the functions of a file that are longer than the limit, outside tests.
struct LongFunctions<'a> {
    file: &'a str,
    found: Vec<LongFunction>,
}

/// Whether attributes mark test code (`#[test]`, `#[tokio::test]`, `#[cfg(test)]`).
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        path.segments
            .last()
            .is_some_and(|last| last.ident == "test")
            || (path.is_ident("cfg")
                && attr
                    .meta
                    .require_list()
                    .is_ok_and(|list| list.tokens.to_string() == "test"))
    })
}

impl LongFunctions<'_> {
    fn measure(&mut self, name: String, sig: &syn::Signature, body: &syn::Block) {
        let first = sig.fn_token.span.start().line;
        let last = body.brace_token.span.close().end().line;
        let lines = last + 1 - first;
        if lines > MAX_FUNCTION_LINES {
            self.found.push(LongFunction {
                file: self.file.to_owned(),
                name,
                line: first,
                lines,
            });
        }
    }
}

impl<'ast> syn::visit::Visit<'ast> for LongFunctions<'_> {
    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        if !is_test(&module.attrs) {
            syn::visit::visit_item_mod(self, module);
        }
    }

    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        if !is_test(&function.attrs) {
            self.measure(
                function.sig.ident.to_string(),
                &function.sig,
                &function.block,
            );
        }
    }

    fn visit_item_impl(&mut self, block: &'ast syn::ItemImpl) {
        if is_test(&block.attrs) {
            return;
        }
        let owner = quote::ToTokens::to_token_stream(&block.self_ty)
            .to_string()
            .replace(' ', "");
        for item in &block.items {
            if let syn::ImplItem::Fn(method) = item
                && !is_test(&method.attrs)
            {
                let name = format!("{owner}::{}", method.sig.ident);
                self.measure(name, &method.sig, &method.block);
            }
        }
    }

    fn visit_item_trait(&mut self, block: &'ast syn::ItemTrait) {
        for item in &block.items {
            if let syn::TraitItem::Fn(method) = item
                && let Some(body) = &method.default
            {
                let name = format!("{}::{}", block.ident, method.sig.ident);
                self.measure(name, &method.sig, body);
            }
        }
    }
}

/// The functions over the limit in the non-test code of every crate (its `src/` and build
/// script; not `tests/`, `benches/` or `examples/`), generated code aside.
fn long_functions(workspace: &Workspace) -> Vec<LongFunction> {
    let mut found = Vec::new();
    for krate in crates(workspace) {
        if krate == "aiblox-kb/gen" {
            continue;
        }
        let dir = workspace.root().join(&krate);
        let files = rust_files(&dir.join("src"))
            .into_iter()
            .chain(Some(dir.join("build.rs")).filter(|path| path.is_file()));
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let syntax =
                syn::parse_file(&text).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            let shown = workspace.display(&file);
            let mut visitor = LongFunctions {
                file: &shown,
                found: Vec::new(),
            };
            syn::visit::Visit::visit_file(&mut visitor, &syntax);
            found.extend(visitor.found);
        }
    }
    found
}

/// The rule on function length: no non-test function of a runtime crate ([`RUNTIME_CRATES`])
/// is longer than [`MAX_FUNCTION_LINES`] lines (from `fn` to its closing brace), and the rest
/// of the workspace (xtask, benchmarks, test tooling; outside tests and examples) holds at
/// most [`MAX_LONG_FUNCTIONS_ELSEWHERE`] such functions. A long function is a pipeline that
/// has not been cut into its steps: name the steps as functions of their own.
#[test]
fn functions_are_short() {
    let workspace = Workspace::current().unwrap();
    let found = long_functions(&workspace);
    let shown = |functions: &[&LongFunction]| {
        functions
            .iter()
            .map(|f| format!("\n  {}:{} `{}` ({} lines)", f.file, f.line, f.name, f.lines))
            .collect::<String>()
    };
    let (runtime, elsewhere): (Vec<&LongFunction>, Vec<&LongFunction>) =
        found.iter().partition(|f| {
            RUNTIME_CRATES
                .iter()
                .any(|krate| f.file.starts_with(&format!("{krate}/src/")))
        });
    assert!(
        runtime.is_empty(),
        "functions of the runtime crates over {MAX_FUNCTION_LINES} lines: cut them into named steps{}",
        shown(&runtime)
    );
    assert!(
        elsewhere.len() <= MAX_LONG_FUNCTIONS_ELSEWHERE,
        "{} functions over {MAX_FUNCTION_LINES} lines outside the runtime crates, at most \
         {MAX_LONG_FUNCTIONS_ELSEWHERE} allowed: cut them into named steps{}",
        elsewhere.len(),
        shown(&elsewhere)
    );
}

/// The paths a page names in backticks: tokens with a `/` that start at a top-level entry of
/// the repository (so `aiblox-kb/src/engine/pool.rs` counts, `/v1/query`, `source:id` and
/// `../shared/x` outside the repository do not); placeholders (`schema/V<n>__name.sql`) are not
/// paths.
fn named_paths(text: &str, root: &Path) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|token| {
            token.contains('/')
                && !token.contains(|c: char| c.is_whitespace() || c == '<')
                && token.split('/').next().is_some_and(|first| {
                    !matches!(first, "" | "." | "..") && root.join(first).exists()
                })
        })
        .map(str::to_owned)
        .collect()
}

/// Pages that walk a reader through the code: every path they name must exist, so a renamed
/// file cannot leave them pointing nowhere.
const WALKTHROUGHS: [&str; 3] = [
    "docs/queries.md",
    "docs/migrations.md",
    "docs/ARCHITECTURE.md",
];

#[test]
fn docs_name_only_paths_that_exist() {
    let workspace = Workspace::current().unwrap();
    let root = workspace.root();
    let mut missing = Vec::new();
    for page in WALKTHROUGHS {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        for path in named_paths(&text, root) {
            if !root.join(path.trim_end_matches('/')).exists() {
                missing.push(format!("{page}: `{path}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs name paths that do not exist: {}",
        missing.join(", ")
    );
}

/// The fenced code blocks of `text` that start with a comment naming a file (`// path` or
/// `-- path`): the path, and the block's other lines, each trimmed.
fn quoted_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if !line.starts_with("```") || line.len() == 3 {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|line| *line != "```").collect();
        let Some((first, rest)) = block.split_first() else {
            continue;
        };
        if let Some(path) = first
            .strip_prefix("// ")
            .or_else(|| first.strip_prefix("-- "))
            .filter(|path| path.contains('/') && !path.contains(' '))
        {
            blocks.push((
                path.to_owned(),
                rest.iter().map(|line| (*line).to_owned()).collect(),
            ));
        }
    }
    blocks
}

/// Whether `quote`'s lines appear one after another among `file`'s, each trimmed.
fn quotes(file: &str, quote: &[String]) -> bool {
    let lines: Vec<&str> = file.lines().map(str::trim).collect();
    !quote.is_empty()
        && lines.windows(quote.len()).any(|window| {
            window
                .iter()
                .zip(quote)
                .all(|(line, quoted)| line == quoted)
        })
}

#[test]
fn the_query_walkthrough_quotes_real_code() {
    let root = Workspace::current().unwrap().root().to_path_buf();
    let page = "docs/queries.md";
    let blocks = quoted_blocks(&std::fs::read_to_string(root.join(page)).unwrap());
    let files: Vec<&str> = blocks.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        files,
        [
            "queries/item.sql",
            "aiblox-kb/src/repos/item_repo.rs",
            "aiblox-kb/tests/integration/generated_queries.rs"
        ],
        "{page} quotes the SQL, the repository method and the test of its example"
    );
    for (path, quote) in &blocks {
        let file = std::fs::read_to_string(root.join(path)).unwrap();
        assert!(
            quotes(&file, quote),
            "{page} quotes {path}, but {path} no longer holds these lines: mend the page or the \
             code\n{}",
            quote.join("\n")
        );
    }
}

#[test]
fn a_quote_must_match_line_for_line() {
    let file = "fn f() {\n    let a = 1;\n    let b = 2;\n}\n";
    let quote = |lines: &[&str]| {
        lines
            .iter()
            .map(|line| (*line).to_owned())
            .collect::<Vec<_>>()
    };
    assert!(quotes(file, &quote(&["let a = 1;", "let b = 2;"])));
    assert!(!quotes(file, &quote(&["let a = 1;", "let b = 3;"])));
    assert!(!quotes(file, &quote(&["let b = 2;", "let a = 1;"])));
    let text = "```rust\n// a/b.rs\nx\n```\n```sql\nno path\n```\n";
    assert_eq!(
        quoted_blocks(text),
        [("a/b.rs".to_owned(), vec!["x".to_owned()])]
    );
}

#[test]
fn named_paths_are_the_repository_s_own() {
    let root = Workspace::current().unwrap().root().to_path_buf();
    let text = "see `aiblox-kb/src/engine/pool.rs`, `/v1/query`, `pgdocs:a.html`, `docs/`, \
                `a b/c`, `../shared/bench/x.py` and `schema/V<n>__x.sql`";
    assert_eq!(
        named_paths(text, &root),
        ["aiblox-kb/src/engine/pool.rs", "docs/"]
    );
}
