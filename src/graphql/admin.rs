//! Admin-only mutations that belong to no feature in particular.
use async_graphql::{Context, Object, Result};

use crate::auth;

/// Mutations about the caller's admin key.
#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// The name of the admin key this request carries. Changes nothing; use it to check that a
    /// key works. Fails with UNAUTHENTICATED without a live key.
    async fn whoami(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(auth::require_admin(ctx).await?.name)
    }
}
