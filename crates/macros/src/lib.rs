//! `#[plugin_options]`: a plugin's options declared once, on the fields of its spec; and
//! `#[plugin(...)]`: a plugin registered once, on its spec's impl (the `plugin` module).
//!
//! Put on a spec struct (above its `#[derive]`), it reads an `#[option(...)]` on every field and
//! writes, from that one place, the field's serde default and the spec's `OPTIONS`: the
//! `OptionDoc` rows that `geobatch list` and docs/plugins.md show, in field order, each named
//! after its field. Keys of `#[option(...)]`:
//! - `doc = "..."`: what the option does; `ty = "..."`: its type as written in TOML (both
//!   required unless `row`; any constant `&str` expression);
//! - `default = EXPR`: the value the spec takes when the key is absent (the macro writes the
//!   field's `#[serde(default = ...)]`);
//! - `toml = "..."`: the default in words, where no value says it: an `Option`'s none (`none`,
//!   `the run's seed`), or what a value means (`0 (one per class)`). A default that is a value
//!   (`default = EXPR`, or serde's own `#[serde(default)]`) is shown from that value: a literal
//!   as written, any other value written as TOML when listed; a `toml` that is itself a TOML
//!   value beside it is refused (it would say the default a second time);
//! - `row = PATH`: an `OptionDoc` constant shared by several plugins (its name must be the
//!   field's: the catalog's options test checks every row against the keys serde reads).
//!
//! A field without `default`, a serde default, `toml` or `row` is required: documented as
//! `required`; an `Option` field without `toml` is refused (it would not be). A field serde
//! skips needs no `#[option]`.

mod plugin;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Field, Fields, ItemStruct, Lit, Type, parse_macro_input};

/// Declares a spec's options once: see the crate documentation.
#[proc_macro_attribute]
pub fn plugin_options(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            Tokens::from(attr).span(),
            "#[plugin_options] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let mut item = parse_macro_input!(item as ItemStruct);
    match expand(&mut item) {
        Ok(extra) => quote!(#item #extra).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Registers a plugin once, on its spec's impl of the plugin trait: see the `plugin` module.
/// `#[plugin(name = "static", summary = "...", example = "batch_size = 32\n")]`.
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::ItemImpl);
    match plugin::expand(attr.into(), item) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// What one `#[option(...)]` says.
#[derive(Default)]
struct OptionAttr {
    doc: Option<Expr>,
    ty: Option<Expr>,
    default: Option<Expr>,
    toml: Option<Expr>,
    row: Option<Expr>,
}

/// Strips the `#[option]` attributes from `item`'s fields, adds the serde defaults they name,
/// and returns the spec's default functions and `OPTIONS`.
fn expand(item: &mut ItemStruct) -> syn::Result<Tokens> {
    let spec = item.ident.clone();
    let Fields::Named(fields) = &mut item.fields else {
        return Err(syn::Error::new(
            item.span(),
            "#[plugin_options] needs a struct with named fields",
        ));
    };
    let (mut rows, mut defaults) = (Vec::new(), Vec::new());
    for field in &mut fields.named {
        let Some(option) = take_option(field)? else {
            if serde_field(&field.attrs)?.skip {
                continue;
            }
            return Err(syn::Error::new(
                field.span(),
                "every field of a spec is an option: give it #[option(doc = ..., ty = ...)]",
            ));
        };
        let name = field
            .ident
            .clone()
            .map(|i| i.to_string())
            .unwrap_or_default();
        if let Some(row) = &option.row {
            rows.push(quote!(#row));
            continue;
        }
        let default_doc = documented_default(&spec, &name, field, &option)?;
        if let Some(value) = &option.default {
            let function = format_ident!("option_default_{}", name);
            let path = format!("{spec}::{function}");
            field
                .attrs
                .push(syn::parse_quote!(#[serde(default = #path)]));
            let ty = &field.ty;
            defaults.push(quote! {
                /// The option's default (from its `#[option(default = ...)]`).
                fn #function() -> #ty {
                    #value
                }
            });
        }
        let (Some(doc), Some(ty)) = (&option.doc, &option.ty) else {
            return Err(syn::Error::new(
                field.span(),
                "#[option] needs doc = \"...\" and ty = \"...\" (or row = A_SHARED_ROW)",
            ));
        };
        rows.push(quote! {
            ::geobatch_core::OptionDoc { name: #name, ty: #ty, default: #default_doc, doc: #doc }
        });
    }
    Ok(quote! {
        impl #spec {
            #(#defaults)*

            /// The spec's options, field by field, as `geobatch list` shows them.
            pub const OPTIONS: &'static [::geobatch_core::OptionDoc] = &[#(#rows),*];
        }
    })
}

/// Removes the field's `#[option(...)]` and reads it (`None` without one).
fn take_option(field: &mut Field) -> syn::Result<Option<OptionAttr>> {
    let Some(at) = field.attrs.iter().position(|a| a.path().is_ident("option")) else {
        return Ok(None);
    };
    let attr = field.attrs.remove(at);
    let mut o = OptionAttr::default();
    attr.parse_nested_meta(|meta| {
        let slot = if meta.path.is_ident("doc") {
            &mut o.doc
        } else if meta.path.is_ident("ty") {
            &mut o.ty
        } else if meta.path.is_ident("default") {
            &mut o.default
        } else if meta.path.is_ident("toml") {
            &mut o.toml
        } else if meta.path.is_ident("row") {
            &mut o.row
        } else {
            return Err(meta.error("unknown key: expected doc, ty, default, toml or row"));
        };
        if slot.is_some() {
            return Err(meta.error("given twice"));
        }
        *slot = Some(meta.value()?.parse()?);
        Ok(())
    })?;
    if field.attrs.iter().any(|a| a.path().is_ident("option")) {
        return Err(syn::Error::new(attr.span(), "one #[option] per field"));
    }
    Ok(Some(o))
}

/// The `OptionDoc::default` of a field: `Text` of its literal `default` or of its `toml` words,
/// `Value` (shown from the value itself) of any other default, or `Required`.
fn documented_default(
    spec: &syn::Ident,
    name: &str,
    field: &Field,
    o: &OptionAttr,
) -> syn::Result<Tokens> {
    let serde_default = serde_field(&field.attrs)?.default;
    if o.default.is_some() && serde_default.is_some() {
        return Err(syn::Error::new(
            field.span(),
            "the default is given twice: by #[option(default = ...)] and by #[serde(default)]",
        ));
    }
    let value = match (&o.default, &serde_default) {
        (Some(value), _) => match literal_toml(value) {
            Some(text) if o.toml.is_none() => {
                return Ok(quote!(::geobatch_core::OptionDefault::Text(#text)));
            }
            _ => {
                let function = format_ident!("option_default_{}", name);
                Some(quote!(#spec::#function()))
            }
        },
        (None, Some(None)) => {
            let ty = &field.ty;
            Some(quote!(<#ty as ::core::default::Default>::default()))
        }
        (None, Some(Some(path))) => {
            let path: syn::ExprPath = path.parse()?;
            Some(quote!(#path()))
        }
        (None, None) => None,
    };
    if let Some(text) = &o.toml {
        if value.is_some() && is_toml_value(text) {
            return Err(syn::Error::new(
                text.span(),
                "this default is shown from its value: leave toml = \"...\" out (it is for a \
                 default in words, e.g. \"the run's seed\")",
            ));
        }
        return Ok(quote!(::geobatch_core::OptionDefault::Text(#text)));
    }
    if is_option(&field.ty) {
        return Err(syn::Error::new(
            field.span(),
            "the field has a default (an Option's none): document it with toml = \"...\"",
        ));
    }
    Ok(match value {
        Some(value) => quote!(::geobatch_core::value_default!(#value)),
        None => quote!(::geobatch_core::OptionDefault::Required),
    })
}

/// Whether `text` is a string literal that reads as a TOML value (`"[10, 5]"`, `"0.25"`), as
/// opposed to words (`"none"`, `"the run's seed"`).
fn is_toml_value(text: &Expr) -> bool {
    match text {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => toml::from_str::<toml::Table>(&format!("v = {}", s.value())).is_ok(),
        _ => false,
    }
}

/// The TOML spelling of a literal default (`64`, `-1.5`, `true`, `"cutoff"`, `[]`), if it is one.
fn literal_toml(value: &Expr) -> Option<String> {
    match value {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Int(i) => Some(i.base10_digits().to_string()),
            Lit::Float(f) => Some(f.base10_digits().to_string()),
            Lit::Bool(b) => Some(b.value.to_string()),
            Lit::Str(s) => Some(format!("{:?}", s.value())),
            _ => None,
        },
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => {
            literal_toml(&u.expr).map(|t| format!("-{t}"))
        }
        Expr::Macro(m) if m.mac.path.is_ident("vec") && m.mac.tokens.is_empty() => {
            Some("[]".to_string())
        }
        // "text".into() / "text".to_string()
        Expr::MethodCall(c) if c.args.is_empty() && matches!(*c.receiver, Expr::Lit(_)) => {
            literal_toml(&c.receiver)
        }
        _ => None,
    }
}

/// What the field's `#[serde(...)]` attributes say that the macro needs.
#[derive(Default)]
struct SerdeField {
    /// `#[serde(skip)]`.
    skip: bool,
    /// `None` without a default, `Some(None)` for `#[serde(default)]` (the type's `Default`),
    /// `Some(Some(path))` for `#[serde(default = "path")]`.
    default: Option<Option<syn::LitStr>>,
}

/// Reads the field's `#[serde(...)]` attributes.
fn serde_field(attrs: &[Attribute]) -> syn::Result<SerdeField> {
    let mut found = SerdeField::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let is_default = meta.path.is_ident("default");
            found.skip |= meta.path.is_ident("skip");
            if meta.input.peek(syn::Token![=]) {
                let value: Expr = meta.value()?.parse()?;
                if is_default {
                    let Expr::Lit(ExprLit {
                        lit: Lit::Str(path),
                        ..
                    }) = value
                    else {
                        return Err(meta.error("expected default = \"path\""));
                    };
                    found.default = Some(Some(path));
                }
            } else if is_default {
                found.default = Some(None);
            }
            Ok(())
        })?;
    }
    Ok(found)
}

/// Whether the type is an `Option<...>` (serde takes it as none when absent).
fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

#[cfg(test)]
mod tests;
