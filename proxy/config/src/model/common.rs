//! Small types that several kinds of object share: [`Ref`] (a name, or the object written in
//! place, with the deserializer that tells the two apart) and [`UnixMode`] (used by Unix domain
//! socket listeners and clusters alike).

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A name, or the object itself written in place.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "NameOr{T}")]
pub enum Ref<T> {
    /// Refers to a top-level object of that name.
    Name(String),
    /// The object, defined here.
    Inline(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ref<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RefVisitor(PhantomData))
    }
}

/// Accepts a string as a name and anything else as the inline object, deserializing the latter
/// through the same deserializer so that error paths stay exact.
struct RefVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for RefVisitor<T> {
    type Value = Ref<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name or an inline object")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Ref<T>, E> {
        Ok(Ref::Name(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ref<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Ref::Inline)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Ref<T>, A::Error> {
        T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Ref::Inline)
    }
}

/// Unix domain socket flavours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnixMode {
    /// SOCK_STREAM: a byte stream; message boundaries are lost.
    #[default]
    Stream,
    /// SOCK_SEQPACKET: connection-oriented and message-preserving.
    Seqpacket,
}
