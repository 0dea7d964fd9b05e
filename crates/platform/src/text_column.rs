//! Enums stored in `text` columns: the macro lives in `slipway-metadata` (its job kinds use
//! it too); this module keeps the platform's paths to it and the lookup its enums share.

pub(crate) use slipway_metadata::text_column;
pub use slipway_metadata::UnknownValue;

/// The one of `all` whose name (`as_str`) is `s`.
pub(crate) fn by_name<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, s: &str) -> Option<T> {
    all.iter().copied().find(|value| as_str(*value) == s)
}
