//! Test support for Muster: a naive reference model of `shared/SPEC.md` and
//! a proptest generator of event sequences, so that a property test can
//! check the fast, indexed `muster_domain::Timeline` against the model.
//!
//! ```
//! use muster_domain::{Category, Date, Event, UnitId};
//! use muster_tests::model::Model;
//!
//! let day = Date::parse("2015-01-01").unwrap();
//! let mut model = Model::new();
//! let established = Event::UnitEstablished {
//!     unit: UnitId::from("U0"),
//!     name: "public order".to_owned(),
//!     category: Category::Office,
//!     parent: None,
//!     quota: None,
//! };
//! assert_eq!(model.submit(1, day, &established), Ok(()));
//! assert_eq!(model.tree(day, None).len(), 1);
//! ```
#![deny(missing_docs)]

/// The crash test's event stream.
pub mod crash;
pub mod gen;
pub mod model;
pub mod wire;
