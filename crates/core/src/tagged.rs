//! Plugin specs read and written as tables tagged with their registered name (`kind =
//! "static"`), through the [`crate::registry`]: a spec is found by its trait's kind and task
//! ([`PluginRole`]) and the `kind` key, then read by the function its `#[plugin]` registered.
//! The traits may take a task as a type parameter, which a registration by trait (typetag)
//! could not do (dtolnay/typetag#1).

use crate::registry::{self, PluginDescriptor, PluginRole};
use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

pub use crate::registry::{AnySpec, SpecError, SpecOptions};

/// A spec, type-erased for writing (what `#[plugin]` returns from `as_serialize`).
pub use erased_serde::Serialize as ErasedSerialize;

/// Writes a spec as its options with `kind` first.
pub fn tagged<S: Serializer>(
    kind: &str,
    options: &dyn ErasedSerialize,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Tagged<'a> {
        kind: &'a str,
        #[serde(flatten)]
        options: &'a dyn ErasedSerialize,
    }
    Tagged { kind, options }.serialize(serializer)
}

/// Reads a spec of the role `R` (`dyn BatcherSpec<GraphLevel>`) from a table: the `kind` key
/// names the registered plugin, whose own reader takes the rest. An unknown name is an error
/// of the `kind` key (a config's error names `batcher.kind`); an error in the options is one of
/// the table, as serde's path cannot enter a buffered table (the config loader finds the key).
pub fn spec_from<'de, D, R>(deserializer: D) -> Result<Box<R>, D::Error>
where
    D: Deserializer<'de>,
    R: ?Sized + PluginRole + 'static,
{
    let (found, options) = deserializer.deserialize_map(TableOf::<R>(PhantomData))?;
    let spec = (found.deserialize)(toml::Value::Table(options))
        .map_err(|e| de::Error::custom(e.message()))?;
    spec.downcast::<Box<R>>().map(|spec| *spec).map_err(|_| {
        de::Error::custom(format!(
            "plugin `{}` is registered as a {} {} but reads as another type",
            found.name,
            R::TASK.as_str(),
            R::KIND
        ))
    })
}

/// A plugin's table read as its registration (found by the `kind` key) and its other keys.
struct TableOf<R: ?Sized>(PhantomData<fn() -> Box<R>>);

impl<'de, R: ?Sized + PluginRole> de::Visitor<'de> for TableOf<R> {
    type Value = (&'static PluginDescriptor, toml::Table);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} table with its `kind`", R::KIND)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut found, mut options) = (None, toml::Table::new());
        while let Some(key) = map.next_key::<String>()? {
            if key == "kind" {
                if found.is_some() {
                    return Err(de::Error::duplicate_field("kind"));
                }
                found = Some(map.next_value_seed(NameOf::<R>(PhantomData))?);
            } else if let Some(value) = map.next_value::<Option<toml::Value>>()? {
                // a null (JSON's, from Python) is an option left out, as TOML can only say it
                options.insert(key, value);
            }
        }
        let found = found.ok_or_else(|| de::Error::missing_field("kind"))?;
        Ok((found, options))
    }
}

/// The `kind` value: the name of a plugin registered for the role `R`.
struct NameOf<R: ?Sized>(PhantomData<fn() -> Box<R>>);

impl<'de, R: ?Sized + PluginRole> de::DeserializeSeed<'de> for NameOf<R> {
    type Value = &'static PluginDescriptor;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let name = String::deserialize(deserializer)?;
        registry::descriptors()
            .into_iter()
            .find(|d| d.kind == R::KIND && d.task == R::TASK && d.name == name)
            .ok_or_else(|| de::Error::custom(unknown_name::<R>(&name)))
    }
}

/// serde's message for an unknown variant, listing the names registered for the role.
fn unknown_name<R: ?Sized + PluginRole>(name: &str) -> String {
    let names: Vec<String> = registry::descriptors()
        .into_iter()
        .filter(|d| d.kind == R::KIND && d.task == R::TASK)
        .map(|d| format!("`{}`", d.name))
        .collect();
    let expected = match names.as_slice() {
        [] => "there are no variants".to_string(),
        [one] => format!("expected {one}"),
        [a, b] => format!("expected {a} or {b}"),
        all => format!("expected one of {}", all.join(", ")),
    };
    format!("unknown variant `{name}`, {expected}")
}

/// `Serialize`, `Deserialize` (boxed) and `Clone` (boxed) for a plugin trait's objects, by its
/// registered name: `plugin_serde!(BatcherSpec<T>)` for a trait over the task,
/// `plugin_serde!(SinkSpec)` for one that serves every task.
macro_rules! plugin_serde {
    ($trait:ident<T>) => {
        impl<T: crate::task::TaskType> ::serde::Serialize for dyn $trait<T> {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                crate::tagged::tagged(self.plugin_name(), self.as_serialize(), s)
            }
        }
        impl<'de, T: crate::task::TaskType> ::serde::Deserialize<'de> for Box<dyn $trait<T>> {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                crate::tagged::spec_from::<D, dyn $trait<T>>(d)
            }
        }
        ::dyn_clone::clone_trait_object!(<T> $trait<T> where T: crate::task::TaskType);
    };
    ($trait:ident) => {
        impl ::serde::Serialize for dyn $trait {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                crate::tagged::tagged(self.plugin_name(), self.as_serialize(), s)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for Box<dyn $trait> {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                crate::tagged::spec_from::<D, dyn $trait>(d)
            }
        }
        ::dyn_clone::clone_trait_object!($trait);
    };
}

pub(crate) use plugin_serde;
