//! A deserializer for `serde_json::Value` whose errors keep their structure. The loader recovers
//! from each error by what it is (an unknown field and the fields expected there, a missing
//! field, an unknown variant and the variants expected), never by reading serde's message.
//!
//! It reads a value exactly as `serde_json`'s own `&Value` deserializer does, method by method,
//! so the same values are accepted and every error reads as serde_json would word it; the tests
//! hold the two side by side.

use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeSeed, Expected, IntoDeserializer, Unexpected, Visitor};
use serde_json::{Map, Number, Value};

/// What a type refused, and serde's own words for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    pub kind: RefusalKind,
    message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RefusalKind {
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    MissingField(&'static str),
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    /// A value of the wrong type, out of range, or of the wrong length: serde's words are
    /// `{head}, expected {expected}`, and `expected` is what the type says it takes.
    Mismatch {
        head: String,
        expected: String,
    },
    /// Any other refusal: a type's own check.
    Other,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    fn mismatch(head: String, exp: &dyn Expected) -> Self {
        let expected = exp.to_string();
        let message = format!("{head}, expected {expected}");
        Refusal {
            kind: RefusalKind::Mismatch { head, expected },
            message,
        }
    }

    /// serde's wording (its default `de::Error` methods), with the structure kept beside it.
    fn worded(kind: RefusalKind, words: de::value::Error) -> Self {
        Refusal {
            kind,
            message: words.to_string(),
        }
    }
}

impl de::Error for Refusal {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Refusal {
            kind: RefusalKind::Other,
            message: msg.to_string(),
        }
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Refusal::mismatch(format!("invalid type: {}", JsonWords(unexp)), exp)
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Refusal::mismatch(format!("invalid value: {}", JsonWords(unexp)), exp)
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Refusal::mismatch(format!("invalid length {len}"), exp)
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let words = de::value::Error::unknown_field(field, expected);
        let field = field.to_string();
        Refusal::worded(RefusalKind::UnknownField { field, expected }, words)
    }

    fn missing_field(field: &'static str) -> Self {
        let words = de::value::Error::missing_field(field);
        Refusal::worded(RefusalKind::MissingField(field), words)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let words = de::value::Error::unknown_variant(variant, expected);
        let variant = variant.to_string();
        Refusal::worded(RefusalKind::UnknownVariant { variant, expected }, words)
    }
}

/// What was found, in serde_json's words: `null` rather than serde's "unit value", and floats
/// as JSON writes them.
struct JsonWords<'a>(Unexpected<'a>);

impl fmt::Display for JsonWords<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Unexpected::Unit => f.write_str("null"),
            Unexpected::Float(v) => match Number::from_f64(v) {
                Some(n) => write!(f, "floating point `{n}`"),
                None => fmt::Display::fmt(&self.0, f),
            },
            other => fmt::Display::fmt(&other, f),
        }
    }
}

/// A borrowed JSON value to deserialize from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'a>(pub &'a Value);

impl Node<'_> {
    fn unexpected(&self) -> Unexpected<'_> {
        match self.0 {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(n) => number_unexpected(n),
            Value::String(s) => Unexpected::Str(s),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        }
    }

    fn invalid_type(&self, exp: &dyn Expected) -> Refusal {
        de::Error::invalid_type(self.unexpected(), exp)
    }
}

fn number_unexpected(n: &Number) -> Unexpected<'static> {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => Unexpected::Unsigned(u),
        (None, Some(i)) => Unexpected::Signed(i),
        _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn visit_number<'de, V: Visitor<'de>>(n: &Number, visitor: V) -> Result<V::Value, Refusal> {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => visitor.visit_u64(u),
        (None, Some(i)) => visitor.visit_i64(i),
        _ => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn visit_array<'de, V: Visitor<'de>>(a: &'de [Value], visitor: V) -> Result<V::Value, Refusal> {
    let mut seq = SeqDeserializer::new(a.iter().map(Node));
    let out = visitor.visit_seq(&mut seq)?;
    seq.end()
        .map_err(|_: Refusal| de::Error::invalid_length(a.len(), &"fewer elements in array"))?;
    Ok(out)
}

fn visit_object<'de, V: Visitor<'de>>(
    m: &'de Map<String, Value>,
    visitor: V,
) -> Result<V::Value, Refusal> {
    let mut map = MapDeserializer::new(m.iter().map(|(k, v)| (k.as_str(), Node(v))));
    let out = visitor.visit_map(&mut map)?;
    map.end()
        .map_err(|_: Refusal| de::Error::invalid_length(m.len(), &"fewer elements in map"))?;
    Ok(out)
}

impl<'de> IntoDeserializer<'de, Refusal> for Node<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// Numbers of any width: a number is visited as what it holds, anything else is refused.
macro_rules! numbers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
            match self.0 {
                Value::Number(n) => visit_number(n, visitor),
                _ => Err(self.invalid_type(&visitor)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Node<'de> {
    type Error = Refusal;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => visit_number(n, visitor),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visit_array(a, visitor),
            Value::Object(m) => visit_object(m, visitor),
        }
    }

    numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::Object(m) => {
                // An enum with content is a mapping with a single key: the variant.
                let mut entries = m.iter();
                match (entries.next(), entries.next()) {
                    (Some((variant, value)), None) => visitor.visit_enum(Variant {
                        name: variant,
                        value: Some(value),
                    }),
                    _ => Err(de::Error::invalid_value(
                        Unexpected::Map,
                        &"map with a single key",
                    )),
                }
            }
            Value::String(variant) => visitor.visit_enum(Variant {
                name: variant,
                value: None,
            }),
            _ => Err(self.invalid_type(&"string or map")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Refusal> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::String(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visit_array(a, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Refusal> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::Array(a) => visit_array(a, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Refusal> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Refusal> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::Object(m) => visit_object(m, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refusal> {
        match self.0 {
            Value::Array(a) => visit_array(a, visitor),
            Value::Object(m) => visit_object(m, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refusal> {
        visitor.visit_unit()
    }
}

/// An enum's variant: its name, and its content when it has any.
struct Variant<'de> {
    name: &'de str,
    value: Option<&'de Value>,
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = Refusal;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Refusal> {
        let name = seed.deserialize(BorrowedStrDeserializer::new(self.name))?;
        Ok((name, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'de> {
    type Error = Refusal;

    fn unit_variant(self) -> Result<(), Refusal> {
        match self.value {
            Some(v) => de::Deserialize::deserialize(Node(v)),
            None => Ok(()),
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Refusal> {
        match self.value {
            Some(v) => seed.deserialize(Node(v)),
            None => Err(unit_variant_for("newtype variant")),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Refusal> {
        match self.value {
            Some(Value::Array(a)) if a.is_empty() => visitor.visit_unit(),
            Some(Value::Array(a)) => visit_array(a, visitor),
            Some(other) => Err(Node(other).invalid_type(&"tuple variant")),
            None => Err(unit_variant_for("tuple variant")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refusal> {
        match self.value {
            Some(Value::Object(m)) => visit_object(m, visitor),
            Some(other) => Err(Node(other).invalid_type(&"struct variant")),
            None => Err(unit_variant_for("struct variant")),
        }
    }
}

fn unit_variant_for(expected: &'static str) -> Refusal {
    de::Error::invalid_type(Unexpected::UnitVariant, &expected)
}

#[cfg(test)]
mod tests;
