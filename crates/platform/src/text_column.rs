//! Enums stored in `text` columns: the macro lives in `slipway-metadata` (its job kinds use
//! it too); this module keeps the platform's paths to it and to the lookup every such enum shares.

pub(crate) use slipway_metadata::by_name;
pub(crate) use slipway_metadata::text_column;
pub use slipway_metadata::UnknownValue;
