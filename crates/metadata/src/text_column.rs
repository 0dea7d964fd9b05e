//! Enums stored in `text` columns (a job's kind; in `slipway-platform`, a build's stage, state
//! and result, a branch's stage, a member's role): they are read and bound as the enum itself,
//! so no string of them goes past the store. A name this Slipway does not know (a newer
//! version wrote it) is an error that says so, never a guess.

/// The one of `all` whose name (`as_str`) is `s`: the `parse` of every enum kept in a `text`
/// column.
pub fn by_name<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, s: &str) -> Option<T> {
    all.iter().copied().find(|value| as_str(*value) == s)
}

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
/// `as_str` and `parse` (`fn(&str) -> Option<Self>`); `$what` names it in the
/// [`UnknownValue`] error.
#[macro_export]
macro_rules! text_column {
    ($ty:ty, $what:literal) => {
        impl $crate::__sqlx::Type<$crate::__sqlx::Postgres> for $ty {
            fn type_info() -> $crate::__sqlx::postgres::PgTypeInfo {
                <&str as $crate::__sqlx::Type<$crate::__sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &$crate::__sqlx::postgres::PgTypeInfo) -> bool {
                <&str as $crate::__sqlx::Type<$crate::__sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> $crate::__sqlx::Decode<'r, $crate::__sqlx::Postgres> for $ty {
            fn decode(
                value: $crate::__sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, $crate::__sqlx::error::BoxDynError> {
                let text =
                    <&str as $crate::__sqlx::Decode<$crate::__sqlx::Postgres>>::decode(value)?;
                <$ty>::parse(text).ok_or_else(|| {
                    Box::new($crate::UnknownValue {
                        what: $what,
                        value: text.to_string(),
                    })
                    .into()
                })
            }
        }

        impl $crate::__sqlx::Encode<'_, $crate::__sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut $crate::__sqlx::postgres::PgArgumentBuffer,
            ) -> Result<$crate::__sqlx::encode::IsNull, $crate::__sqlx::error::BoxDynError> {
                <&str as $crate::__sqlx::Encode<$crate::__sqlx::Postgres>>::encode(
                    self.as_str(),
                    buf,
                )
            }
        }
    };
}
