//! The macro's refusals, on the expansion itself: every spec it must refuse gives its message
//! (the compile error a plugin author sees), and an accepted spec loses its `#[option]`s.

use super::expand;
use quote::ToTokens;
use syn::{ItemStruct, parse_quote};

/// The error `#[plugin_options]` gives for `item` (panics when it accepts it).
fn refusal(mut item: ItemStruct) -> String {
    match expand(&mut item) {
        Ok(tokens) => panic!("accepted: {tokens}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_toml_value_beside_a_default_is_refused_and_words_are_kept() {
    for item in [
        parse_quote! {
            struct Spec {
                #[serde(default)]
                #[option(ty = "boolean", toml = "false", doc = "said twice")]
                quiet: bool,
            }
        },
        parse_quote! {
            struct Spec {
                #[option(ty = "integer", default = 2 * 64, toml = "128", doc = "said twice")]
                step: usize,
            }
        },
    ] {
        let message = refusal(item);
        assert!(message.contains("shown from its value"), "{message}");
    }
    let mut words: ItemStruct = parse_quote! {
        struct Spec {
            #[serde(default)]
            #[option(ty = "integer", toml = "0 (one per class)", doc = "words")]
            classes: usize,
        }
    };
    let extra = expand(&mut words)
        .map(|t| t.to_string())
        .unwrap_or_default();
    assert!(extra.contains("Text (\"0 (one per class)\")"), "{extra}");
}

#[test]
fn an_option_field_documented_as_required_is_refused() {
    let message = refusal(parse_quote! {
        struct Spec {
            #[option(ty = "integer", doc = "absent means none")]
            limit: Option<u64>,
        }
    });
    assert!(message.contains("the field has a default"), "{message}");
}

#[test]
fn a_default_given_twice_is_refused() {
    let message = refusal(parse_quote! {
        struct Spec {
            #[serde(default = "seven")]
            #[option(ty = "integer", default = 7, doc = "twice")]
            size: u32,
        }
    });
    assert!(message.contains("the default is given twice"), "{message}");
}

#[test]
fn a_default_that_is_not_a_literal_is_shown_from_its_value() {
    let mut item: ItemStruct = parse_quote! {
        struct Spec {
            #[option(ty = "integer", default = 2 * 64, doc = "an expression")]
            step: usize,
            #[serde(default)]
            #[option(ty = "boolean", doc = "serde's own default")]
            quiet: bool,
            #[serde(default = "seven")]
            #[option(ty = "integer", doc = "serde's default function")]
            days: u32,
        }
    };
    let extra = expand(&mut item).map(|t| t.to_string()).unwrap_or_default();
    assert!(
        extra.contains("value_default ! (Spec :: option_default_step ())"),
        "{extra}"
    );
    assert!(
        extra.contains("value_default ! (< bool as :: core :: default :: Default > :: default ())"),
        "{extra}"
    );
    assert!(extra.contains("value_default ! (seven ())"), "{extra}");
}

#[test]
fn a_field_without_an_option_is_refused_unless_serde_skips_it() {
    let message = refusal(parse_quote! {
        struct Spec {
            forgotten: usize,
        }
    });
    assert!(
        message.contains("every field of a spec is an option"),
        "{message}"
    );
    let mut skipped: ItemStruct = parse_quote! {
        struct Spec {
            #[serde(skip)]
            cache: Vec<u8>,
        }
    };
    assert!(expand(&mut skipped).is_ok());
}

#[test]
fn unknown_repeated_and_missing_keys_are_refused() {
    let unknown = refusal(parse_quote! {
        struct Spec {
            #[option(ty = "integer", doc = "x", help = "y")]
            size: usize,
        }
    });
    assert!(unknown.contains("unknown key"), "{unknown}");
    let twice = refusal(parse_quote! {
        struct Spec {
            #[option(ty = "integer", ty = "float", doc = "x")]
            size: usize,
        }
    });
    assert!(twice.contains("given twice"), "{twice}");
    let missing = refusal(parse_quote! {
        struct Spec {
            #[option(doc = "no type")]
            size: usize,
        }
    });
    assert!(missing.contains("needs doc"), "{missing}");
    let two = refusal(parse_quote! {
        struct Spec {
            #[option(ty = "integer", doc = "x")]
            #[option(ty = "integer", doc = "y")]
            size: usize,
        }
    });
    assert!(two.contains("one #[option] per field"), "{two}");
}

#[test]
fn a_struct_without_named_fields_is_refused() {
    let message = refusal(parse_quote! {
        struct Spec(usize);
    });
    assert!(message.contains("named fields"), "{message}");
}

#[test]
fn an_accepted_spec_keeps_serde_attributes_and_drops_its_options() {
    let mut item: ItemStruct = parse_quote! {
        struct Spec {
            #[option(ty = "integer", default = 64, doc = "with a default")]
            size: usize,
            #[option(ty = "string", doc = "required")]
            name: String,
        }
    };
    let extra = expand(&mut item).map(|t| t.to_string()).unwrap_or_default();
    let spec = item.to_token_stream().to_string();
    assert!(!spec.contains("option ("), "{spec}");
    assert!(
        spec.contains("serde (default = \"Spec::option_default_size\")"),
        "{spec}"
    );
    assert!(extra.contains("fn option_default_size"), "{extra}");
    assert!(extra.contains("OptionDefault :: Text (\"64\")"), "{extra}");
    assert!(extra.contains("OptionDefault :: Required"), "{extra}");
}

/// `#[plugin]`: the registration it writes for a spec's impl, and what it refuses.
mod plugin {
    use crate::plugin::expand;
    use quote::quote;
    use syn::parse_quote;

    fn expanded(attr: proc_macro2::TokenStream, item: syn::ItemImpl) -> syn::Result<String> {
        expand(attr, item).map(|t| t.to_string())
    }

    #[test]
    fn the_name_is_written_once_and_kind_and_task_come_from_the_trait() {
        let out = expanded(
            quote!(
                name = "round",
                summary = "rounded",
                example = "batch_size = 32\n"
            ),
            parse_quote! { impl BatcherSpec for RoundSpec {} },
        )
        .expect("expanded");
        assert!(
            out.contains("fn plugin_name (& self) -> & 'static str { \"round\" }"),
            "{out}"
        );
        assert!(
            out.contains("let spec : :: std :: boxed :: Box < dyn BatcherSpec > = :: std :: boxed :: Box :: new (spec)"),
            "{out}"
        );
        let role = "< dyn BatcherSpec as :: geobatch_core :: registry :: PluginRole >";
        assert!(out.contains(&format!("kind : {role} :: KIND")), "{out}");
        assert!(out.contains(&format!("task : {role} :: TASK")), "{out}");
        assert!(out.contains("< RoundSpec > :: OPTIONS"), "{out}");
        assert!(
            out.contains(r#"example : "kind = \"round\"\nbatch_size = 32\n""#),
            "{out}"
        );
        let node = expanded(
            quote!(
                name = "gcn",
                summary = "s",
                example = "",
                options = NodeNetSpec::OPTIONS
            ),
            parse_quote! { impl ModelSpec<NodeLevel> for GcnSpec {} },
        )
        .expect("expanded");
        assert!(
            node.contains("< dyn ModelSpec < NodeLevel > as :: geobatch_core :: registry :: PluginRole > :: TASK"),
            "{node}"
        );
        assert!(node.contains("options : NodeNetSpec :: OPTIONS"), "{node}");
    }

    #[test]
    fn a_batchers_size_is_read_and_set_through_the_field_it_names() {
        let out = expanded(
            quote!(
                name = "cluster",
                summary = "s",
                example = "",
                batch_size = num_parts
            ),
            parse_quote! { impl BatcherSpec<NodeLevel> for ClusterSpec {} },
        )
        .expect("expanded");
        // read through `Into` and set through `TryFrom`: a checked size (`BatchSize`, refused
        // out of range where it is set) and a plain `usize` alike
        assert!(
            out.contains(
                "fn batch_size (& self) -> usize { :: std :: convert :: Into :: into (self . num_parts) }"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "self . num_parts = :: std :: convert :: TryFrom :: try_from (batch_size) ? ;"
            ),
            "{out}"
        );
        // without the key, the impl writes its own (a batcher without a size)
        let own = expanded(
            quote!(name = "full", summary = "s", example = ""),
            parse_quote! { impl BatcherSpec<NodeLevel> for FullSpec {} },
        )
        .expect("expanded");
        assert!(!own.contains("fn batch_size"), "{own}");
    }

    #[test]
    fn a_missing_name_an_unknown_key_and_an_inherent_impl_are_refused() {
        let refused = |attr, item| expanded(attr, item).expect_err("refused").to_string();
        let m = refused(
            quote!(summary = "s", example = ""),
            parse_quote! { impl BatcherSpec for S {} },
        );
        assert!(m.contains("needs name"), "{m}");
        let m = refused(
            quote!(name = "x", summary = "s", example = "", colour = "red"),
            parse_quote! { impl BatcherSpec for S {} },
        );
        assert!(m.contains("unknown key"), "{m}");
        let m = refused(
            quote!(name = "x", summary = "s", example = ""),
            parse_quote! { impl S {} },
        );
        assert!(m.contains("goes on the spec's impl"), "{m}");
    }
}
