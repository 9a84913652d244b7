//! Rule: the `pub` items of aiblox-kb match the committed list `aiblox-kb/public-api.txt`, so
//! that any change to the contract's Rust surface is a visible, reviewable diff.
//!
//! Every `pub` item a user can name is listed by the path a user names it with (the crate
//! root's re-exports: `aiblox_kb::KbPool`, not the private module it lives in), with its
//! signature: types (and whether they are `#[non_exhaustive]`), their public fields and
//! variants, functions, methods, trait implementations. Items in private modules that the
//! root does not re-export are left out: nobody outside can reach them. `cargo xtask check
//! --bless` rewrites the list after a review.

use std::path::Path;

use anyhow::Context as _;
use quote::ToTokens;
use syn::{ImplItem, Item, Visibility};

use super::{Options, Verdict, or_fail};
use crate::file_tree;
use crate::workspace::Workspace;

/// The committed list, relative to the contract crate.
pub(crate) const FILE: &str = "public-api.txt";

pub(super) fn check(workspace: &Workspace, options: &Options) -> Verdict {
    or_fail(
        evaluate(workspace, options),
        "aiblox-kb's sources must parse",
    )
}

fn evaluate(workspace: &Workspace, options: &Options) -> anyhow::Result<Verdict> {
    let current = list(&workspace.kb_dir().join("src"))?;
    let path = workspace.kb_dir().join(FILE);
    if options.bless_public_api {
        std::fs::write(&path, &current)
            .with_context(|| format!("could not write {}", path.display()))?;
        return Ok(Verdict::Pass(format!(
            "wrote {} ({} items)",
            workspace.display(&path),
            current.lines().count()
        )));
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == current {
        return Ok(Verdict::Pass(format!(
            "{} public items, as listed in aiblox-kb/{FILE}",
            current.lines().count()
        )));
    }
    let old: Vec<&str> = committed.lines().collect();
    let new: Vec<&str> = current.lines().collect();
    let mut changes: Vec<String> = old
        .iter()
        .filter(|line| !new.contains(line))
        .map(|line| format!("- {line}"))
        .collect();
    changes.extend(
        new.iter()
            .filter(|line| !old.contains(line))
            .map(|line| format!("+ {line}")),
    );
    Ok(Verdict::fail(
        format!(
            "the public API of aiblox-kb differs from aiblox-kb/{FILE}:\n{}",
            changes.join("\n")
        ),
        "if the change is intended, run `cargo xtask check --bless` and commit aiblox-kb/public-api.txt with it \
         (removals and signature changes are breaking: bump the major version)",
    ))
}

/// One line per public item, sorted.
pub(crate) fn list(src: &Path) -> anyhow::Result<String> {
    let mut lines = Vec::new();
    for (relative, contents) in file_tree::read_tree(src)? {
        if relative.starts_with("bin") || relative.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = String::from_utf8(contents)?;
        let file = syn::parse_file(&text)
            .with_context(|| format!("could not parse {}", relative.display()))?;
        let module = module_path(&relative);
        collect(&module, &file.items, &mut lines);
    }
    let mut lines = as_users_name_them(lines, &reexported_names(&src.join("lib.rs"))?);
    // Trait implementations count only for public types (a private type's impls are private).
    let public_types: std::collections::HashSet<String> = lines
        .iter()
        .filter_map(|line| {
            ["pub struct ", "pub enum ", "pub trait "]
                .iter()
                .find_map(|kind| line.strip_prefix(kind))
        })
        .map(|path| type_name(path.split(':').next_back().unwrap_or(path)))
        .collect();
    lines.retain(|line| {
        !line.starts_with("impl")
            || line.rsplit_once(" for ").is_some_and(|(_, self_type)| {
                public_types.contains(&type_name(
                    self_type.rsplit("::").next().unwrap_or(self_type),
                ))
            })
    });
    lines.sort();
    lines.dedup();
    Ok(lines.into_iter().map(|line| line + "\n").collect())
}

/// The names the crate root re-exports (`pub use module::{A, B as C}`: `A` and `C`), and the
/// public modules, types, traits and functions it defines itself: what a user can name under
/// `aiblox_kb::`.
fn reexported_names(lib: &Path) -> anyhow::Result<std::collections::HashSet<String>> {
    fn walk(tree: &syn::UseTree, names: &mut std::collections::HashSet<String>) {
        match tree {
            syn::UseTree::Path(path) => walk(&path.tree, names),
            syn::UseTree::Name(name) => {
                names.insert(name.ident.to_string());
            }
            syn::UseTree::Rename(rename) => {
                names.insert(rename.rename.to_string());
            }
            syn::UseTree::Group(group) => group.items.iter().for_each(|tree| walk(tree, names)),
            syn::UseTree::Glob(_) => {}
        }
    }
    let text = std::fs::read_to_string(lib)
        .with_context(|| format!("could not read {}", lib.display()))?;
    let file =
        syn::parse_file(&text).with_context(|| format!("could not parse {}", lib.display()))?;
    let mut names = std::collections::HashSet::new();
    for item in &file.items {
        match item {
            Item::Use(item) if is_pub(&item.vis) => walk(&item.tree, &mut names),
            Item::Mod(item) if is_pub(&item.vis) => {
                names.insert(item.ident.to_string());
            }
            Item::Struct(item) if is_pub(&item.vis) => {
                names.insert(item.ident.to_string());
            }
            Item::Enum(item) if is_pub(&item.vis) => {
                names.insert(item.ident.to_string());
            }
            Item::Trait(item) if is_pub(&item.vis) => {
                names.insert(item.ident.to_string());
            }
            Item::Fn(item) if is_pub(&item.vis) => {
                names.insert(item.sig.ident.to_string());
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Rewrites each `aiblox_kb::module::Name...` path to the root name a user writes
/// (`aiblox_kb::Name...`), and drops what no user can name: items under no re-exported name,
/// implementations of traits that are not reachable, the re-exports themselves. An item at the
/// root, or under a `pub mod` the root declares, keeps its path.
fn as_users_name_them(
    lines: Vec<String>,
    reexported: &std::collections::HashSet<String>,
) -> Vec<String> {
    // `None`: the path names nothing a user can reach.
    let rename = |path: &str| -> Option<String> {
        let rest = path.strip_prefix("aiblox_kb::")?;
        let segments: Vec<&str> = rest.split("::").collect();
        if segments.len() == 1 {
            return Some(path.to_owned());
        }
        // The last re-exported segment: `migrate::Migrator::check` is `Migrator::check` even
        // though the module shares its name with the re-exported function `migrate`.
        let named_from = segments.iter().rposition(|segment| {
            let name = segment.split(['.', '<', '(']).next().unwrap_or(segment);
            reexported.contains(name)
        })?;
        Some(format!("aiblox_kb::{}", segments[named_from..].join("::")))
    };
    let is_path_char = |c: char| c.is_alphanumeric() || c == '_' || c == ':' || c == '.';
    let mut unreachable_traits = Vec::new();
    let mut kept = Vec::new();
    for line in lines {
        if line.starts_with("pub use ") {
            continue;
        }
        let Some(start) = line.find("aiblox_kb::") else {
            kept.push(line);
            continue;
        };
        let end = line[start..]
            .find(|c: char| !is_path_char(c))
            .map_or(line.len(), |offset| start + offset);
        let path = &line[start..end];
        match rename(path) {
            Some(renamed) => kept.push(format!("{}{renamed}{}", &line[..start], &line[end..])),
            None => {
                if let Some(name) = line
                    .strip_prefix("pub trait ")
                    .map(|path| type_name(path.rsplit("::").next().unwrap_or(path)))
                {
                    unreachable_traits.push(name);
                }
            }
        }
    }
    kept.retain(|line| {
        !line.starts_with("impl")
            || !unreachable_traits.iter().any(|name| {
                line.split(" for ")
                    .next()
                    .and_then(|head| head.split_whitespace().last())
                    .is_some_and(|used| {
                        type_name(used.rsplit("::").next().unwrap_or(used)) == *name
                    })
            })
    });
    kept
}

/// A variant's fields as `{ name: Type, ... }` or `(Type, ...)`: their docs and attributes
/// are no part of the API (a reworded doc is no change to list).
fn fields_without_attributes(fields: &syn::Fields) -> String {
    let each = |field: &syn::Field| match &field.ident {
        Some(name) => format!("{name}: {}", tokens(&field.ty)),
        None => tokens(&field.ty),
    };
    match fields {
        syn::Fields::Named(named) => format!(
            "{{ {} }}",
            named.named.iter().map(each).collect::<Vec<_>>().join(", ")
        ),
        syn::Fields::Unnamed(unnamed) => format!(
            "({})",
            unnamed
                .unnamed
                .iter()
                .map(each)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        syn::Fields::Unit => String::new(),
    }
}

/// ` (non_exhaustive)` when the attributes say so: making a type or variant non-exhaustive
/// breaks its users, so the list shows it.
fn non_exhaustive(attrs: &[syn::Attribute]) -> &'static str {
    if attrs
        .iter()
        .any(|attr| attr.path().is_ident("non_exhaustive"))
    {
        " (non_exhaustive)"
    } else {
        ""
    }
}

/// `Name` of `Name<'a, T>` (and of `Name: Bound`).
fn type_name(text: &str) -> String {
    text.split(['<', ':', ' '])
        .next()
        .unwrap_or(text)
        .to_owned()
}

fn module_path(relative: &Path) -> String {
    let mut parts = vec!["aiblox_kb".to_owned()];
    let without_ext = relative.with_extension("");
    for component in without_ext.components() {
        let part = component.as_os_str().to_string_lossy();
        if part != "lib" && part != "mod" {
            parts.push(part.into_owned());
        }
    }
    parts.join("::")
}

fn is_pub(visibility: &Visibility) -> bool {
    matches!(visibility, Visibility::Public(_))
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .meta
                .to_token_stream()
                .to_string()
                .replace(' ', "")
                .contains("test")
    })
}

/// Adds a line for each public item of `items`, declared in `module`, and of the inline
/// modules among them.
fn collect(module: &str, items: &[Item], lines: &mut Vec<String>) {
    for item in items {
        match item {
            Item::Struct(item) if is_pub(&item.vis) && !is_test_only(&item.attrs) => {
                collect_struct(module, item, lines);
            }
            Item::Enum(item) if is_pub(&item.vis) && !is_test_only(&item.attrs) => {
                collect_enum(module, item, lines);
            }
            Item::Fn(item) if is_pub(&item.vis) && !is_test_only(&item.attrs) => {
                lines.push(format!("pub {}", signature(module, &item.sig)));
            }
            Item::Trait(item) if is_pub(&item.vis) => collect_trait(module, item, lines),
            Item::Const(item) if is_pub(&item.vis) => lines.push(format!(
                "pub const {module}::{}: {}",
                item.ident,
                tokens(&item.ty)
            )),
            Item::Static(item) if is_pub(&item.vis) => lines.push(format!(
                "pub static {module}::{}: {}",
                item.ident,
                tokens(&item.ty)
            )),
            Item::Type(item) if is_pub(&item.vis) => lines.push(format!(
                "pub type {module}::{} = {}",
                item.ident,
                tokens(&item.ty)
            )),
            Item::Use(item) if is_pub(&item.vis) => {
                lines.push(format!("pub use {module}: {}", tokens(&item.tree)))
            }
            Item::Mod(item) if !is_test_only(&item.attrs) => {
                if let Some((_, inner)) = &item.content {
                    collect(&format!("{module}::{}", item.ident), inner, lines);
                }
            }
            Item::Impl(item) if !is_test_only(&item.attrs) => collect_impl(module, item, lines),
            _ => {}
        }
    }
}

/// A public struct's line (with its generics, and whether it is non-exhaustive) and one line
/// per public field.
fn collect_struct(module: &str, item: &syn::ItemStruct, lines: &mut Vec<String>) {
    let name = format!("{module}::{}", item.ident);
    lines.push(format!(
        "pub struct {name}{}{}",
        tokens(&item.generics),
        non_exhaustive(&item.attrs)
    ));
    for field in item.fields.iter().filter(|field| is_pub(&field.vis)) {
        let field_name = field
            .ident
            .as_ref()
            .map_or_else(|| "_".to_owned(), ToString::to_string);
        lines.push(format!(
            "pub field {name}.{field_name}: {}",
            tokens(&field.ty)
        ));
    }
}

/// A public enum's line (with its generics, and whether it is non-exhaustive) and one line
/// per variant, with its fields.
fn collect_enum(module: &str, item: &syn::ItemEnum, lines: &mut Vec<String>) {
    let name = format!("{module}::{}", item.ident);
    lines.push(format!(
        "pub enum {name}{}{}",
        tokens(&item.generics),
        non_exhaustive(&item.attrs)
    ));
    for variant in &item.variants {
        lines.push(format!(
            "variant {name}::{}{}{}",
            variant.ident,
            fields_without_attributes(&variant.fields),
            non_exhaustive(&variant.attrs)
        ));
    }
}

/// A public trait's line (with its generics and supertraits) and one line per method.
fn collect_trait(module: &str, item: &syn::ItemTrait, lines: &mut Vec<String>) {
    let name = format!("{module}::{}", item.ident);
    let supertraits = tokens(&item.supertraits);
    let bounds = if supertraits.is_empty() {
        String::new()
    } else {
        format!(": {supertraits}")
    };
    lines.push(format!(
        "pub trait {name}{}{bounds}",
        tokens(&item.generics)
    ));
    for trait_item in &item.items {
        if let syn::TraitItem::Fn(function) = trait_item {
            lines.push(format!("trait {}", signature(&name, &function.sig)));
        }
    }
}

/// A trait implementation's line; or, for an inherent implementation, one line per public
/// method and constant.
fn collect_impl(module: &str, item: &syn::ItemImpl, lines: &mut Vec<String>) {
    let self_ty = tokens(&item.self_ty);
    if let Some((trait_path, _)) = &item.trait_ {
        lines.push(format!(
            "impl{} {} for {module}::{self_ty}",
            tokens(&item.generics),
            tokens(trait_path)
        ));
        return;
    }
    for impl_item in &item.items {
        match impl_item {
            ImplItem::Fn(function) if is_pub(&function.vis) => lines.push(format!(
                "pub {}",
                signature(&format!("{module}::{self_ty}"), &function.sig)
            )),
            ImplItem::Const(constant) if is_pub(&constant.vis) => lines.push(format!(
                "pub const {module}::{self_ty}::{}: {}",
                constant.ident,
                tokens(&constant.ty)
            )),
            _ => {}
        }
    }
}

fn signature(owner: &str, sig: &syn::Signature) -> String {
    let mut sig = sig.clone();
    let name = format!("{owner}::{}", sig.ident);
    sig.ident = syn::Ident::new("__name__", sig.ident.span());
    tokens(&sig).replacen("__name__", &name, 1)
}

/// Tokens as compact text: deterministic, close to how the code is written.
fn tokens(node: &impl ToTokens) -> String {
    let mut text = node.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" ,", ","),
        ("& ", "&"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        ("( ", "("),
        (" )", ")"),
        (" (", "("),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
        (" . ", "."),
        ("' ", "'"),
        (" ?", "?"),
        (" : ", ": "),
        (",)", ")"),
    ] {
        text = text.replace(from, to);
    }
    text.replace("->", " -> ")
        .replace("  ", " ")
        .replace("fn(", "fn (")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{append, scratch_workspace};

    #[test]
    fn a_new_public_item_fails_until_blessed() {
        let (_dir, workspace) = scratch_workspace();
        append(
            &workspace.kb_dir().join("src/lib.rs"),
            "\n/// Leaked.\npub fn leaked_helper(x: u32) -> u32 {\n    x\n}\n",
        );
        let Verdict::Fail { reason, fix } = check(&workspace, &Options::default()) else {
            panic!("passed")
        };
        assert!(
            reason.contains("+ pub fn aiblox_kb::leaked_helper(x: u32) -> u32"),
            "{reason}"
        );
        assert!(fix.contains("cargo xtask check --bless"), "{fix}");

        let bless = Options {
            bless_public_api: true,
            ..Options::default()
        };
        assert!(matches!(check(&workspace, &bless), Verdict::Pass(_)));
        assert!(matches!(
            check(&workspace, &Options::default()),
            Verdict::Pass(_)
        ));
    }

    /// Items are listed by the paths users write: a re-exported type by its root name, its
    /// methods and trait impls with it; what a private module keeps to itself (a sealed trait
    /// and its impls) is not listed at all.
    #[test]
    fn items_are_listed_by_the_paths_users_name_them_with() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pool")).unwrap();
        std::fs::write(
            dir.path().join("lib.rs"),
            "mod pool;\npub use pool::Pool;\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("pool/mod.rs"),
            "mod sealed { pub trait Sealed {} }\n             #[non_exhaustive]\npub struct Pool;\n             impl Pool { pub fn get(&self) {} }\n             impl sealed::Sealed for Pool {}\n             impl Clone for Pool { fn clone(&self) -> Pool { Pool } }\n             pub struct Unreachable;\n",
        )
        .unwrap();
        assert_eq!(
            list(dir.path()).unwrap(),
            "impl Clone for aiblox_kb::Pool\npub fn aiblox_kb::Pool::get(&self)\npub struct aiblox_kb::Pool (non_exhaustive)\n"
        );
    }

    #[test]
    fn private_and_test_items_are_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("lib.rs"),
            "pub struct A { pub x: u8, y: u8 }\npub(crate) struct B;\nimpl A { pub fn get(&self) -> u8 { self.x } fn hidden(&self) {} }\n\
             #[cfg(test)] mod tests { pub fn t() {} }\n\
             impl Clone for A { fn clone(&self) -> A { A { x: self.x, y: self.y } } }\n\
             impl Clone for B { fn clone(&self) -> B { B } }\n",
        )
        .unwrap();
        assert_eq!(
            list(dir.path()).unwrap(),
            "impl Clone for aiblox_kb::A\npub field aiblox_kb::A.x: u8\npub fn aiblox_kb::A::get(&self) -> u8\npub struct aiblox_kb::A\n"
        );
    }
}
