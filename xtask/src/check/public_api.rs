//! Rule: the `pub` items of aiblox-kb match the committed list `aiblox-kb/public-api.txt`, so
//! that any change to the contract's Rust surface is a visible, reviewable diff.
//!
//! Every `pub` item of every module of `aiblox-kb/src` (binaries aside) is listed with its
//! module path and signature: types, their public fields and variants, functions, methods,
//! trait implementations. `cargo xtask check --bless` rewrites the list after a review.

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

fn collect(module: &str, items: &[Item], lines: &mut Vec<String>) {
    for item in items {
        match item {
            Item::Struct(item) if is_pub(&item.vis) && !is_test_only(&item.attrs) => {
                let name = format!("{module}::{}", item.ident);
                lines.push(format!("pub struct {name}{}", tokens(&item.generics)));
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
            Item::Enum(item) if is_pub(&item.vis) && !is_test_only(&item.attrs) => {
                let name = format!("{module}::{}", item.ident);
                lines.push(format!("pub enum {name}{}", tokens(&item.generics)));
                for variant in &item.variants {
                    lines.push(format!(
                        "variant {name}::{}{}",
                        variant.ident,
                        tokens(&variant.fields)
                    ));
                }
            }
            Item::Fn(item) if is_pub(&item.vis) && !is_test_only(&item.attrs) => {
                lines.push(format!("pub {}", signature(module, &item.sig)));
            }
            Item::Trait(item) if is_pub(&item.vis) => {
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
            Item::Impl(item) if !is_test_only(&item.attrs) => {
                let self_ty = tokens(&item.self_ty);
                if let Some((trait_path, _)) = &item.trait_ {
                    lines.push(format!(
                        "impl{} {} for {module}::{self_ty}",
                        tokens(&item.generics),
                        tokens(trait_path)
                    ));
                    continue;
                }
                for impl_item in &item.items {
                    if let ImplItem::Fn(function) = impl_item
                        && is_pub(&function.vis)
                    {
                        lines.push(format!(
                            "pub {}",
                            signature(&format!("{module}::{self_ty}"), &function.sig)
                        ));
                    }
                }
            }
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
