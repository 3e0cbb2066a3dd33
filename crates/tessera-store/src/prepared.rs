//! Hand-written statements that are prepared once per connection.
//!
//! diesel never caches `sql_query` (nor any `UPDATE`): each use is parsed and planned
//! again, and for a Postgres statement of several common table expressions that is most
//! of what Postgres spends on it. A [`Fixed`] statement has a fixed text, so diesel can
//! keep its prepared statement under the marker type `Id`, one per statement. The text
//! numbers its placeholders `$1`, `$2`, …; diesel writes each backend's own.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text, Untyped};
use diesel::{Connection, QueryResult, RunQueryDsl};

/// One bind value of a [`Fixed`] statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Int(i64),
    Text(&'a str),
    OptionalText(Option<&'a str>),
    OptionalInt(Option<i64>),
}

/// A statement whose text is `sql`, where `$n` stands for `binds[n - 1]` (a bind may be
/// used more than once). `Id` names the statement in diesel's cache: one per text.
pub(crate) struct Fixed<'a, Id> {
    sql: &'static str,
    binds: &'a [Bind<'a>],
    id: PhantomData<Id>,
}

impl<'a, Id> Fixed<'a, Id> {
    pub(crate) fn new(sql: &'static str, binds: &'a [Bind<'a>]) -> Self {
        Fixed { sql, binds, id: PhantomData }
    }
}

impl<Id: 'static> QueryId for Fixed<'_, Id> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Id> Query for Fixed<'_, Id> {
    type SqlType = Untyped;
}

impl<Id, C: Connection> RunQueryDsl<C> for Fixed<'_, Id> {}

impl<Id, DB> QueryFragment<DB> for Fixed<'_, Id>
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text>,
    i64: ToSql<BigInt, DB>,
    str: ToSql<Text, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    for<'v> Option<&'v str>: ToSql<Nullable<Text>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let number: usize = rest[at + 1..at + 1 + digits].parse().map_err(|_| unknown_bind(self.sql))?;
            let bind = number.checked_sub(1).and_then(|i| self.binds.get(i)).ok_or_else(|| unknown_bind(self.sql))?;
            match bind {
                Bind::Int(value) => out.push_bind_param::<BigInt, _>(value)?,
                Bind::Text(value) => out.push_bind_param::<Text, _>(value)?,
                Bind::OptionalText(value) => out.push_bind_param::<Nullable<Text>, _>(value)?,
                Bind::OptionalInt(value) => out.push_bind_param::<Nullable<BigInt>, _>(value)?,
            }
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

fn unknown_bind(sql: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("a placeholder without its bind in: {sql}").into())
}
