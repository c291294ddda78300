//! What the aggregates share for writing SQL text and reading rows: the placeholders of
//! multi-row INSERTs and `IN` lists, and the column types `#[derive(sqlx::FromRow)]` structs
//! use where the stored form is not the Rust one (0/1 integers for flags, ISO dates as text).
use super::Backend;
use chrono::NaiveDate;
use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Decode, Type};

// Why a helper of our own and not `sqlx::QueryBuilder::push_values`: through the `Any` driver
// `QueryBuilder<Any>` writes `?` placeholders (`AnyArguments` keeps the default
// `Arguments::format_placeholder`), which SQLite takes and PostgreSQL refuses ("syntax error at
// or near ','"; checked on PostgreSQL 15). One SQL text must serve both backends, so the
// placeholders are numbered `$n` here, which both accept.

/// `($1, $2, …), ($k, …)` for a multi-row INSERT of `rows` rows of `cols` columns whose only
/// parameters are these values — as anonymous `(?, ?, …)` on SQLite. sqlx's SQLite driver asks
/// SQLite for each numbered parameter's name, a walk of the statement's parameter list, so a
/// 200-parameter audit INSERT spent its time there (2 % of the API server's CPU); anonymous
/// parameters have no name to look up. PostgreSQL only takes `$n`.
pub(super) fn values_sql(backend: Backend, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        match backend {
            Backend::Sqlite => {
                for c in 0..cols {
                    sql.push_str(if c == 0 { "?" } else { ", ?" });
                }
            }
            Backend::Postgres => push_placeholders(&mut sql, r * cols + 1, cols),
        }
        sql.push(')');
    }
    sql
}

/// `rows` cut into multi-row INSERT chunks: whole chunks of `n` (the store's
/// `rows_per_insert`), then the rest in power-of-two sizes (256, 128, … 1), in order. Statements
/// are prepared and cached per connection by their text (100 per connection): a remainder of
/// any size from 1 to 499 made nearly every audit batch prepare a new statement of up to 4,000
/// parameters on PostgreSQL and evict the useful ones; power-of-two tails need at most ten
/// statement texts per writer.
pub(super) fn insert_chunks<T>(rows: &[T], n: usize) -> Vec<&[T]> {
    let n = n.max(1);
    let whole = rows.len() / n * n;
    let mut out: Vec<&[T]> = rows[..whole].chunks(n).collect();
    let mut rest = &rows[whole..];
    while !rest.is_empty() {
        let (head, tail) = rest.split_at(1usize << rest.len().ilog2());
        out.push(head);
        rest = tail;
    }
    out
}

/// Binds an optional `f64` so that NULL and a value reach PostgreSQL as the same type. sqlx
/// 0.9's `Any` driver sends `None::<f64>` as float4 (its NULL kinds for `Double` and `Real`
/// are swapped, `sqlx-core/src/any/arguments.rs`) but a value as float8, and a prepared
/// statement keeps the parameter types of its first execution: a cached deal upsert first run
/// with a NULL `amount_cut_pct` failed ("incorrect binary data format") once the same position
/// held a value. `None::<f32>` goes out as a float8 NULL. The Salesforce sync tests on
/// PostgreSQL fail if this stops being so.
pub(super) fn bind_f64<'q>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    v: Option<f64>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    match v {
        Some(x) => q.bind(x),
        None => q.bind(None::<f32>),
    }
}

/// `$first, $first+1, …` (`n` of them), for an `IN (…)` list.
pub(super) fn placeholders(first: usize, n: usize) -> String {
    let mut sql = String::with_capacity(n * 5);
    push_placeholders(&mut sql, first, n);
    sql
}

fn push_placeholders(sql: &mut String, first: usize, n: usize) {
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('$');
        sql.push_str(&(first + i).to_string());
    }
}

/// A 0/1 INTEGER column read as `bool` (`#[sqlx(try_from = "Flag")]`). The schema keeps
/// flags as integers on both backends (the SQL compares `active = 1`), and the `Any` driver
/// decodes `bool` only from a boolean column.
#[derive(Debug, Clone, Copy)]
pub(super) struct Flag(bool);

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Flag(<i64 as Decode<Any>>::decode(value)? != 0))
    }
}

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

/// An ISO `YYYY-MM-DD` text column read as a date (`#[sqlx(try_from = "IsoDate")]`); a value
/// that is not one fails the row with the text it found.
#[derive(Debug, Clone, Copy)]
pub(super) struct IsoDate(NaiveDate);

impl Type<Any> for IsoDate {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for IsoDate {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<Any>>::decode(value)?;
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(IsoDate)
            .map_err(|e| format!("{text:?} is not a YYYY-MM-DD date: {e}").into())
    }
}

impl From<IsoDate> for NaiveDate {
    fn from(d: IsoDate) -> NaiveDate {
        d.0
    }
}

/// [`IsoDate`] for a nullable column (`#[sqlx(try_from = "OptIsoDate")]` on an
/// `Option<NaiveDate>`): NULL is `None`.
#[derive(Debug, Clone, Copy)]
pub(super) struct OptIsoDate(Option<NaiveDate>);

impl Type<Any> for OptIsoDate {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for OptIsoDate {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        if sqlx::ValueRef::is_null(&value) {
            return Ok(OptIsoDate(None));
        }
        Ok(OptIsoDate(Some(IsoDate::decode(value)?.0)))
    }
}

impl From<OptIsoDate> for Option<NaiveDate> {
    fn from(d: OptIsoDate) -> Option<NaiveDate> {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_chunks_are_whole_chunks_then_powers_of_two_in_order() {
        let rows: Vec<u32> = (0..1_273).collect();
        let chunks = insert_chunks(&rows, 500);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [500, 500, 256, 16, 1]);
        assert_eq!(chunks.concat(), rows, "every row once, in order");
        assert!(insert_chunks::<u32>(&[], 500).is_empty());
        let sizes: Vec<usize> = insert_chunks(&rows[..60], 25)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, [25, 25, 8, 2]);
    }

    #[test]
    fn multi_row_values_are_numbered_across_rows() {
        assert_eq!(
            values_sql(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_sql(Backend::Postgres, 1, 1), "($1)");
        assert_eq!(values_sql(Backend::Sqlite, 2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(values_sql(Backend::Sqlite, 1, 1), "(?)");
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(placeholders(1, 0), "");
    }
}
