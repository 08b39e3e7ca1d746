//! Parameter types that sqlx does not provide out of the box.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, Postgres};
use sqlx::{Encode, Type};

use crate::params::Param;

/// A NULL sent with type OID 0, so PostgreSQL infers its type from the context: a JSON
/// `null` works for `WHERE id = $1` and `WHERE name = $1` alike.
struct UntypedNull;

impl Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(&self, _buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Ok(IsNull::Yes)
    }
}

/// Already-serialized JSON sent as `jsonb` (binary format: version byte 1, then the text).
struct JsonbText(String);

impl Type<Postgres> for JsonbText {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("jsonb")
    }
}

impl Encode<'_, Postgres> for JsonbText {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(1);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

/// Binds one value: booleans as `bool`, integers as `int8`, other numbers as `float8`,
/// strings as `text` (cast in SQL for other types: `$1::date`), arrays and objects as
/// `jsonb`, null untyped.
pub(super) fn bind<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    param: Param,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    match param {
        Param::Null => query.bind(UntypedNull),
        Param::Bool(b) => query.bind(b),
        Param::Int(i) => query.bind(i),
        Param::Float(f) => query.bind(f),
        Param::Text(s) => query.bind(s),
        Param::Json(s) => query.bind(JsonbText(s)),
    }
}
