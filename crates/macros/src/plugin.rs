//! `#[plugin(...)]`: a plugin registered once, on its spec's impl of the plugin trait. It writes
//! the impl's typetag registration (`#[typetag::serde(name = ...)]`, what `kind = "..."` in a
//! config finds) and the plugin's `PluginDescriptor` (what `geobatch list`, `geobatch example` and
//! docs/plugins.md show), so the plugin's name is written in one place. The kind of plugin and its
//! task are the trait's (`geobatch_core::registry::PluginRole`, implemented by each plugin
//! trait's object type: `dyn BatcherSpec`, `dyn NodeBatcherSpec`, ...); the options
//! are the spec's `OPTIONS` (from `#[plugin_options]`) unless `options = ...` says otherwise; the
//! example is given without its `kind` line, which the macro writes.

use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ItemImpl, LitStr};

/// The registration of `item` with the arguments `attr`.
pub fn expand(attr: Tokens, item: ItemImpl) -> syn::Result<Tokens> {
    let (mut name, mut summary, mut example, mut options) =
        (None::<LitStr>, None::<Expr>, None::<LitStr>, None::<Expr>);
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("summary") {
            summary = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("example") {
            example = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("options") {
            options = Some(meta.value()?.parse()?);
        } else {
            return Err(meta.error("unknown key: expected name, summary, example or options"));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    let missing =
        |what: &str| syn::Error::new(item.span(), format!("#[plugin] needs {what} = \"...\""));
    let name = name.ok_or_else(|| missing("name"))?;
    let summary = summary.ok_or_else(|| missing("summary"))?;
    let example = example.ok_or_else(|| missing("example"))?;
    let Some((_, trait_path, _)) = &item.trait_ else {
        return Err(syn::Error::new(
            item.span(),
            "#[plugin] goes on the spec's impl of its plugin trait (BatcherSpec, DatasetSpec, ...)",
        ));
    };
    // the kind and the task are the trait's own (`PluginRole`), read from its type
    let role = quote!(<dyn #trait_path as ::geobatch_core::registry::PluginRole>);
    let self_ty = &item.self_ty;
    let options = options.map_or_else(|| quote!(<#self_ty>::OPTIONS), |o| quote!(#o));
    let full_example = LitStr::new(
        &format!("kind = \"{}\"\n{}", name.value(), example.value()),
        example.span(),
    );
    Ok(quote! {
        #[::typetag::serde(name = #name)]
        #item

        ::inventory::submit! {
            ::geobatch_core::PluginDescriptor {
                kind: #role::KIND,
                task: #role::TASK,
                name: #name,
                summary: #summary,
                options: #options,
                example: #full_example,
                first_error: ::geobatch_core::registry::first_error::<#self_ty>,
            }
        }
    })
}
