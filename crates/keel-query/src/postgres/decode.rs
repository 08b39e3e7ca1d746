//! PostgreSQL row values to JSON, with one decoder chosen per column from its type.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use sqlx::postgres::{PgColumn, PgRow, PgTypeInfo, PgTypeKind, PgValueFormat};
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

use super::binary::{self, Reader, exact};
use crate::output::{Column, json_float};

/// Arrays nested deeper than this are shown as unsupported (PostgreSQL allows 6).
const MAX_ARRAY_DIMENSIONS: usize = 6;

/// How to turn one column's binary values into JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decoder {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Text,
    Json,
    Jsonb,
    Bytea,
    Uuid,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Numeric,
    Money,
    Inet,
    Mac,
    /// The `ltree`/`lquery` extension types: a version byte and text.
    VersionedText,
    Array(Box<Decoder>),
    Record,
    Unsupported,
}

impl Decoder {
    fn for_type(type_info: &PgTypeInfo) -> Self {
        if let Some(decoder) = type_info.oid().and_then(|oid| Self::builtin(oid.0)) {
            return decoder;
        }
        match type_info.kind() {
            PgTypeKind::Enum(_) => Self::Text,
            PgTypeKind::Domain(base) => Self::for_type(base),
            PgTypeKind::Array(element) => Self::Array(Box::new(Self::for_type(element))),
            PgTypeKind::Composite(_) => Self::Record,
            _ => match type_info.name().to_ascii_lowercase().as_str() {
                "citext" => Self::Text,
                "ltree" | "lquery" => Self::VersionedText,
                _ => Self::Unsupported,
            },
        }
    }

    /// Built-in scalar types by their fixed OIDs (`pg_type.dat`).
    fn builtin(oid: u32) -> Option<Self> {
        Some(match oid {
            16 => Self::Bool,
            17 => Self::Bytea,
            // "char", name, text, xml, bpchar, varchar, unknown, regclass-free text forms
            18 | 19 | 25 | 142 | 705 | 1042 | 1043 => Self::Text,
            20 => Self::Int8,
            21 => Self::Int2,
            23 => Self::Int4,
            // oid, xid, cid, regproc…: unsigned 32-bit
            24 | 26 | 28 | 29 | 2202..=2206 | 3734 | 3769 | 4089 | 4096 => Self::Oid,
            114 => Self::Json,
            650 | 869 => Self::Inet,
            700 => Self::Float4,
            701 => Self::Float8,
            790 => Self::Money,
            774 | 829 => Self::Mac,
            1082 => Self::Date,
            1083 => Self::Time,
            1114 => Self::Timestamp,
            1184 => Self::TimestampTz,
            1186 => Self::Interval,
            1266 => Self::TimeTz,
            1700 => Self::Numeric,
            2249 => Self::Record,
            2950 => Self::Uuid,
            3802 => Self::Jsonb,
            _ => return None,
        })
    }

    fn decode(&self, bytes: &[u8]) -> Option<Value> {
        Some(match self {
            Self::Bool => Value::Bool(exact(bytes, |r| r.take(1))?[0] != 0),
            Self::Int2 => Value::from(exact(bytes, Reader::i16)?),
            Self::Int4 => Value::from(exact(bytes, Reader::i32)?),
            Self::Int8 => Value::from(exact(bytes, Reader::i64)?),
            Self::Oid => Value::from(exact(bytes, Reader::u32)?),
            Self::Float4 => {
                let f = f32::from_bits(exact(bytes, Reader::u32)?);
                // Through the shortest decimal form, so 0.1f32 stays 0.1 rather than 0.10000000149.
                json_float(f.to_string().parse().unwrap_or(f64::from(f)))
            }
            Self::Float8 => json_float(f64::from_bits(exact(bytes, Reader::i64)?.cast_unsigned())),
            Self::Text => Value::String(String::from_utf8_lossy(bytes).into_owned()),
            Self::VersionedText => {
                Value::String(String::from_utf8_lossy(bytes.get(1..)?).into_owned())
            }
            Self::Json => binary::json(bytes),
            Self::Jsonb => binary::jsonb(bytes)?,
            Self::Bytea => Value::String(BASE64.encode(bytes)),
            Self::Uuid => binary::uuid(bytes)?,
            Self::Date => binary::date(bytes)?,
            Self::Time => binary::time(bytes)?,
            Self::TimeTz => binary::time_tz(bytes)?,
            Self::Timestamp => binary::timestamp(bytes, false)?,
            Self::TimestampTz => binary::timestamp(bytes, true)?,
            Self::Interval => binary::interval(bytes)?,
            Self::Numeric => binary::numeric(bytes)?,
            Self::Money => binary::money(bytes)?,
            Self::Inet => binary::inet(bytes)?,
            Self::Mac => binary::mac(bytes)?,
            Self::Array(element) => array(bytes, element)?,
            Self::Record => record(bytes)?,
            Self::Unsupported => return None,
        })
    }
}

/// `array_send`: dimensions, then each element length-prefixed (-1 for NULL).
fn array(bytes: &[u8], element: &Decoder) -> Option<Value> {
    let mut r = Reader::new(bytes);
    let ndim = usize::try_from(r.i32()?).ok()?;
    let _has_nulls = r.i32()?;
    let _element_oid = r.u32()?;
    if ndim == 0 {
        return Some(Value::Array(Vec::new()));
    }
    if ndim > MAX_ARRAY_DIMENSIONS {
        return None;
    }
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        dims.push(usize::try_from(r.i32()?).ok()?);
        let _lower_bound = r.i32()?;
    }
    let value = nested(&mut r, &dims, element)?;
    r.is_empty().then_some(value)
}

fn nested(r: &mut Reader<'_>, dims: &[usize], element: &Decoder) -> Option<Value> {
    let (&len, inner) = dims.split_first()?;
    // Each element takes at least four bytes, which bounds `len` by the input size.
    let mut items = Vec::with_capacity(len.min(1024));
    for _ in 0..len {
        items.push(if inner.is_empty() {
            match r.i32()? {
                -1 => Value::Null,
                n => element.decode(r.take(usize::try_from(n).ok()?)?)?,
            }
        } else {
            nested(r, inner, element)?
        });
    }
    Some(Value::Array(items))
}

/// `record_send`: field count, then (type OID, length, bytes) per field; shown as a
/// JSON array because the binary form carries no field names.
fn record(bytes: &[u8]) -> Option<Value> {
    let mut r = Reader::new(bytes);
    let fields = usize::try_from(r.i32()?).ok()?;
    let mut values = Vec::with_capacity(fields.min(1024));
    for _ in 0..fields {
        let oid = r.u32()?;
        let value = match r.i32()? {
            -1 => Value::Null,
            n => {
                let field = r.take(usize::try_from(n).ok()?)?;
                Decoder::builtin(oid)
                    .and_then(|d| d.decode(field))
                    .unwrap_or_else(|| Value::String(format!("<unsupported type {oid} value>")))
            }
        };
        values.push(value);
    }
    r.is_empty().then_some(Value::Array(values))
}

/// Decodes the rows of one result; built from the first row's columns.
pub(super) struct RowDecoder {
    columns: Vec<Column>,
    decoders: Vec<Decoder>,
}

impl RowDecoder {
    pub(super) fn new(columns: &[PgColumn]) -> Self {
        Self {
            columns: super::columns(columns),
            decoders: columns
                .iter()
                .map(|c| Decoder::for_type(c.type_info()))
                .collect(),
        }
    }

    pub(super) fn decode(&self, row: &PgRow) -> Result<Vec<Value>, sqlx::Error> {
        let mut values = Vec::with_capacity(self.decoders.len());
        for (i, decoder) in self.decoders.iter().enumerate() {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                values.push(Value::Null);
                continue;
            }
            let value = match raw.format() {
                PgValueFormat::Binary => raw.as_bytes().ok().and_then(|b| decoder.decode(b)),
                PgValueFormat::Text => raw.as_str().ok().map(|s| Value::String(s.to_owned())),
            };
            values.push(value.unwrap_or_else(|| {
                Value::String(format!("<unsupported {} value>", self.columns[i].type_name))
            }));
        }
        Ok(values)
    }

    pub(super) fn into_columns(self) -> Vec<Column> {
        self.columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_decode_nested_and_null() {
        // int4[][] {{1,NULL},{3,4}}
        let mut b = Vec::new();
        for v in [2i32, 1, 23, 2, 1, 2, 1] {
            b.extend(v.to_be_bytes());
        }
        for e in [Some(1i32), None, Some(3), Some(4)] {
            match e {
                Some(v) => {
                    b.extend(4i32.to_be_bytes());
                    b.extend(v.to_be_bytes());
                }
                None => b.extend((-1i32).to_be_bytes()),
            }
        }
        let value = array(&b, &Decoder::Int4);
        assert_eq!(value, Some(serde_json::json!([[1, null], [3, 4]])));
        // A length that runs past the input is malformed, not a panic.
        b.truncate(b.len() - 2);
        assert_eq!(array(&b, &Decoder::Int4), None);
        let empty = [0u8; 12];
        assert_eq!(array(&empty, &Decoder::Int4), Some(serde_json::json!([])));
    }

    #[test]
    fn records_decode_known_fields() {
        let mut b = 2i32.to_be_bytes().to_vec();
        b.extend(23u32.to_be_bytes());
        b.extend(4i32.to_be_bytes());
        b.extend(7i32.to_be_bytes());
        b.extend(25u32.to_be_bytes());
        b.extend(2i32.to_be_bytes());
        b.extend(b"hi");
        assert_eq!(record(&b), Some(serde_json::json!([7, "hi"])));
    }

    #[test]
    fn scalars() {
        assert_eq!(Decoder::Bool.decode(&[1]), Some(Value::Bool(true)));
        assert_eq!(
            Decoder::Int8.decode(&(-5i64).to_be_bytes()),
            Some(Value::from(-5))
        );
        assert_eq!(
            Decoder::Float4.decode(&0.1f32.to_bits().to_be_bytes()),
            Some(serde_json::json!(0.1))
        );
        assert_eq!(
            Decoder::Float8.decode(&f64::INFINITY.to_bits().to_be_bytes()),
            Some(Value::String("Infinity".into()))
        );
        assert_eq!(Decoder::Int4.decode(&[0, 1]), None);
        assert_eq!(Decoder::Unsupported.decode(b"x"), None);
    }
}
