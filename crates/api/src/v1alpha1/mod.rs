//! `dockyard.dev/v1alpha1`: the custom resources users and platform teams write.

mod class;
mod pool;
mod sandbox;

pub use class::*;
pub use pool::*;
pub use sandbox::*;

/// API group of every Dockyard resource.
pub const GROUP: &str = "dockyard.dev";
/// API version of this module's resources.
pub const VERSION: &str = "v1alpha1";
