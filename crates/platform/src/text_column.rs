//! Enums stored in `text` columns (a build's stage, state and result, a branch's stage, a
//! member's role): they are read and bound as the enum itself, so no string of them goes
//! past the store. The column's CHECK constraint keeps it to the enum's names; a name this
//! Slipway does not know (a newer version wrote it) is an error that says so, never a guess.

/// A `text` column holding a name the enum does not know.
#[derive(Debug, thiserror::Error)]
#[error("the metadata database holds {value:?} as a {what}, which this version of Slipway does not know (was it written by a newer one?)")]
pub struct UnknownValue {
    /// What the column holds (`build state`).
    pub what: &'static str,
    /// The value found.
    pub value: String,
}

/// Implements sqlx's `Type`, `Decode` and `Encode` for Postgres `text` on `$ty`, through its
/// `as_str` and `parse`; `$what` names it in the [`UnknownValue`] error.
macro_rules! text_column {
    ($ty:ty, $what:literal) => {
        impl sqlx::Type<sqlx::Postgres> for $ty {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $ty {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                <$ty>::parse(text).ok_or_else(|| {
                    Box::new($crate::text_column::UnknownValue {
                        what: $what,
                        value: text.to_string(),
                    })
                    .into()
                })
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
    };
}

pub(crate) use text_column;

/// The one of `all` whose name (`as_str`) is `s`.
pub(crate) fn by_name<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, s: &str) -> Option<T> {
    all.iter().copied().find(|value| as_str(*value) == s)
}
