//! `#[plugin(...)]`: a plugin registered once, on its spec's impl of the plugin trait. It writes
//! the impl's `plugin_name` and `as_serialize` and the plugin's `PluginDescriptor`, with the
//! reader a config's `kind = "..."` finds (`geobatch_core::tagged`) and what `geobatch list`,
//! `geobatch example` and docs/plugins.md show, so the plugin's name is written in one place. The
//! kind of plugin and its task are the trait's (`geobatch_core::registry::PluginRole`,
//! implemented by each plugin trait's object type: `dyn BatcherSpec` for the graph level,
//! `dyn BatcherSpec<NodeLevel>`, ...); the options
//! are the spec's `OPTIONS` (from `#[plugin_options]`) unless `options = ...` says otherwise; the
//! example is given without its `kind` line, which the macro writes. A batcher names the field
//! that holds its batch size (`batch_size = num_parts`), and the macro writes the spec's
//! `batch_size` and `set_batch_size` from it, so the size is read and edited in one place.

use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ItemImpl, LitStr};

/// What `#[plugin(...)]` says.
struct Args {
    name: LitStr,
    summary: Expr,
    example: LitStr,
    options: Option<Expr>,
    batch_size: Option<syn::Ident>,
}

/// Reads the arguments `attr` of `#[plugin]` on `item`: `name`, `summary` and `example` are
/// required, `options` and `batch_size` optional, any other key refused.
fn args(attr: Tokens, item: &ItemImpl) -> syn::Result<Args> {
    let (mut name, mut summary, mut example, mut options) =
        (None::<LitStr>, None::<Expr>, None::<LitStr>, None::<Expr>);
    let mut batch_size = None::<syn::Ident>;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("summary") {
            summary = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("example") {
            example = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("options") {
            options = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("batch_size") {
            batch_size = Some(meta.value()?.parse()?);
        } else {
            return Err(
                meta.error("unknown key: expected name, summary, example, options or batch_size")
            );
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    let missing =
        |what: &str| syn::Error::new(item.span(), format!("#[plugin] needs {what} = \"...\""));
    Ok(Args {
        name: name.ok_or_else(|| missing("name"))?,
        summary: summary.ok_or_else(|| missing("summary"))?,
        example: example.ok_or_else(|| missing("example"))?,
        options,
        batch_size,
    })
}

/// The registration of `item` with the arguments `attr`.
pub fn expand(attr: Tokens, item: ItemImpl) -> syn::Result<Tokens> {
    let Args {
        name,
        summary,
        example,
        options,
        batch_size,
    } = args(attr, &item)?;
    let Some((_, trait_path, _)) = item.trait_.clone() else {
        return Err(syn::Error::new(
            item.span(),
            "#[plugin] goes on the spec's impl of its plugin trait (BatcherSpec, DatasetSpec, ...)",
        ));
    };
    // the kind and the task are the trait's own (`PluginRole`), read from its type
    let role = quote!(<dyn #trait_path as ::geobatch_core::registry::PluginRole>);
    let self_ty = item.self_ty.clone();
    let options = options.map_or_else(|| quote!(<#self_ty>::OPTIONS), |o| quote!(#o));
    let full_example = LitStr::new(
        &format!("kind = \"{}\"\n{}", name.value(), example.value()),
        example.span(),
    );
    let mut item = item;
    item.items.push(syn::parse_quote! {
        fn plugin_name(&self) -> &'static str {
            #name
        }
    });
    item.items.push(syn::parse_quote! {
        fn as_serialize(&self) -> &dyn ::geobatch_core::tagged::ErasedSerialize {
            self
        }
    });
    if let Some(field) = batch_size {
        item.items.push(syn::parse_quote! {
            fn batch_size(&self) -> usize {
                ::std::convert::Into::into(self.#field)
            }
        });
        item.items.push(syn::parse_quote! {
            fn set_batch_size(&mut self, batch_size: usize) -> ::geobatch_core::Result<()> {
                self.#field = ::std::convert::TryFrom::try_from(batch_size)?;
                Ok(())
            }
        });
    }
    Ok(quote! {
        #item

        ::geobatch_core::registry::inventory::submit! {
            ::geobatch_core::PluginDescriptor {
                kind: #role::KIND,
                task: #role::TASK,
                name: #name,
                summary: #summary,
                options: #options,
                example: #full_example,
                first_error: ::geobatch_core::registry::first_error::<#self_ty>,
                deserialize: {
                    fn deserialize(
                        options: ::geobatch_core::tagged::SpecOptions,
                    ) -> ::std::result::Result<
                        ::geobatch_core::tagged::AnySpec,
                        ::geobatch_core::tagged::SpecError,
                    > {
                        let spec: #self_ty = ::serde::Deserialize::deserialize(options)?;
                        let spec: ::std::boxed::Box<dyn #trait_path> = ::std::boxed::Box::new(spec);
                        ::std::result::Result::Ok(::std::boxed::Box::new(spec))
                    }
                    deserialize
                },
            }
        }
    })
}
